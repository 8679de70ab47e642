#!/usr/bin/env bash
# Installs what the local stack and the tests need: Debian's PostgreSQL 15 and
# Redis (with apt-get, when run as root), and the pinned Go tools in bin/.
# Without root it names the command to run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/bin"
mkdir -p "$BIN"

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v age >/dev/null 2>&1 || missing+=(age) # the raw pipeline of make bench-backup
command -v rsync >/dev/null 2>&1 || missing+=(rsync) # the reference of make bench-filesync
command -v chattr >/dev/null 2>&1 || missing+=(e2fsprogs) # the resumed batch of integration/filesync_test.go
[ -x /usr/bin/chromium ] || missing+=(chromium) # the Web UI browser test (integration/webui_test.go)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus) # promtool: make lint checks the alert rules
[ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer) # PublishPrimary's repoint test (integration/ha_routing_test.go)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "deps: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# go install builds each tool once; the versions are pinned because newer
# Temporal CLIs carry replace directives that go install refuses.
install_tool() { # name module@version
  if [ ! -x "$BIN/$1" ]; then
    echo "deps: go install $2 (into bin/)"
    GOBIN="$BIN" go install "$2"
  fi
}
install_tool temporal github.com/temporalio/cli/cmd/temporal@v1.5.1
install_tool versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
install_tool workflowcheck go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0
install_tool govulncheck golang.org/x/vuln/cmd/govulncheck@v1.9.0 # make lint, offline (see VULNDB_VERSION)

# The browser test's driver (e2e/package.json pins playwright-core; it uses
# Debian's chromium, never a downloaded browser).
if [ ! -d e2e/node_modules ]; then
  echo "deps: npm ci --prefix e2e"
  if [ -f e2e/package-lock.json ]; then npm ci --prefix e2e --no-audit --no-fund; else npm install --prefix e2e --no-audit --no-fund; fi
fi
