#!/usr/bin/env bash
# Records the history of a finished workflow of the local stack into
# testdata/histories/NAME.json for the replay tests. Paths of this checkout
# inside payloads are replaced by /srv/lifeboat, so no machine's layout is
# committed; replay compares commands, not payload contents.
#   scripts/record-history.sh WORKFLOW_ID NAME
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: $0 WORKFLOW_ID NAME" >&2; exit 2; }
out="testdata/histories/$2.json"
# With the stack's payload codec on, payloads are decoded through its codec
# server: recorded histories hold plain payloads, which replay needs.
endpoint=$(. .dev/env 2>/dev/null; echo "${TEMPORAL_CODEC_ENDPOINT:-}")
bin/temporal --env-file temporal-dev.yaml workflow show -w "$1" -o json ${endpoint:+--codec-endpoint "$endpoint"} |
  ROOT="$PWD" python3 -c '
import base64, json, os, re, sys
root = os.environ["ROOT"]
def scrub(m):
    data = base64.b64decode(m.group(1)).decode()
    data = data.replace(root, "/srv/lifeboat")
    data = re.sub(r"/tmp/lifeboat-[0-9a-f]+", "/srv/lifeboat/.dev/pg", data)
    return "\"data\": \"" + base64.b64encode(data.encode()).decode() + "\""
sys.stdout.write(re.sub(r"\"data\": \"([^\"]*)\"", scrub, sys.stdin.read()))
' > "$out"
echo "recorded $1 into $out"
