#!/usr/bin/env bash
# The main job of `make demo`, once the stack is up: check the cluster, take a
# database backup, restore it into a scratch server, and print the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
source .dev/env
bin=./bin

echo "== lifeboat check dev"
$bin/lifeboat check dev

echo
echo "== lifeboat backup dev --kind database --wait"
$bin/lifeboat backup dev --kind database --wait

# A scratch server from an earlier demo is replaced.
$bin/lifeboat-dev clean-restores >/dev/null
target="$($bin/lifeboat-dev restore-dir)/demo"
echo
echo "== lifeboat restore dev --backup latest --target-dir $target --port 15600"
$bin/lifeboat restore dev --backup latest --target-dir "$target" --port 15600

echo
echo "Temporal Web UI: http://127.0.0.1:18233   (the workflows above are there; stop everything with: make down)"
