#!/usr/bin/env bash
# The main job of `make demo`, once the stack is up: check the cluster, start
# its health monitor and show its status, take a database backup, restore it
# into a scratch server, sync the file trees to their copies, run a full
# disaster-recovery drill, and print the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source .dev/env
bin=./bin

echo "== lifeboat check dev"
$bin/lifeboat check dev

# The health monitor runs for ever; a second demo finds it running.
echo
echo "== lifeboat monitor dev; lifeboat status dev"
$bin/lifeboat monitor dev
for _ in $(seq 30); do
  $bin/lifeboat status dev >/dev/null 2>&1 && break
  sleep 1
done
sleep 3
$bin/lifeboat status dev

echo
echo "== lifeboat backup dev --kind database --wait"
$bin/lifeboat backup dev --kind database --wait

# A scratch server from an earlier demo is replaced.
$bin/lifeboat-dev clean-restores >/dev/null
target="$($bin/lifeboat-dev restore-dir)/demo"
echo
echo "== lifeboat restore dev --backup latest --target-dir $target --port 15600"
$bin/lifeboat restore dev --backup latest --target-dir "$target" --port 15600

# File sync: a few files in the uploads tree are copied to its copy in
# region-b, only what changed since the last demo, then the copy is reread.
demo_files=.dev/files/uploads/demo
mkdir -p "$demo_files/photos"
date -u +"demo run at %FT%TZ" >"$demo_files/notes.txt"
[ -f "$demo_files/photos/picture.jpg" ] || head -c 3000000 /dev/urandom >"$demo_files/photos/picture.jpg"
seq 1 200000 >"$demo_files/numbers.txt"
echo
echo "== lifeboat files sync dev --wait"
$bin/lifeboat files sync dev --wait
echo
echo "== lifeboat files verify dev"
$bin/lifeboat files verify dev

# The main job ends with a full drill: the newest backup restored into a
# scratch server of region-b (RTO, RPO from the heartbeat), then the real
# Failover workflow on a scratch primary and replica, all torn down after.
echo
echo "== lifeboat drill dev --kind full"
$bin/lifeboat drill dev --kind full
echo "(lifeboat drills dev lists every drill; lifeboat drill report ID prints one; the timeline picture is the .svg above, in the backup store)"

echo
echo "Temporal Web UI: http://127.0.0.1:18233   (the workflows above are there; stop everything with: make down)"
