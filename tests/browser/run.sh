#!/usr/bin/env bash
# The pages in a real browser (ctest `browser_test`, label `browser`): starts a private Redis and
# MariaDB (scripts/services), the real server with DEMO_LOGIN=1 on a free port, then
# tests/browser/journey.mjs (playwright-core driving Debian's /usr/bin/chromium).
#   tests/browser/run.sh TICKETING_BINARY ARTIFACTS_DIR
# Screenshots of each step go to ARTIFACTS_DIR; with UPDATE_DOCS=1 a few are copied to docs/.
# Skips (exit 77) when chromium or the npm packages are missing (scripts/setup installs both).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:?usage: run.sh TICKETING_BINARY ARTIFACTS_DIR}
artifacts=${2:?usage: run.sh TICKETING_BINARY ARTIFACTS_DIR}
if [[ ! -x /usr/bin/chromium ]]; then echo "SKIP: /usr/bin/chromium is not installed (scripts/setup)"; exit 77; fi
if [[ ! -d $root/tests/browser/node_modules/playwright-core ]]; then
  echo "SKIP: npm ci --prefix tests/browser has not run (scripts/setup)"; exit 77
fi
mkdir -p "$artifacts"
rm -f "$artifacts"/*.png
work=$(mktemp -d /tmp/browser-test.XXXXXX)
server_pid=""
cleanup() {
  set +e
  if [[ -n $server_pid ]]; then kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; fi
  "$root/scripts/services" stop "$work" >/dev/null 2>&1
  cp "$work/server.log" "$artifacts/server.log" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

eval "$("$root/scripts/services" start "$work")"
export DB_HOST DB_PORT DB_USERNAME DB_PASSWORD DB_DATABASE REDIS_HOST REDIS_PORT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PORT=$port BIND_ADDRESS=127.0.0.1 IO_THREADS=2 DB_POOL_SIZE=4 DEMO_LOGIN=1
export AUTH_JWT_SECRET=$(openssl rand -hex 32)
export SSE_INTERVAL_MS=500 LOG_LEVEL=warn
export FRAME_ANCESTORS="'self'"  # the test's embedding page is on this origin
"$bin" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { echo "server failed to start:"; tail -40 "$work/server.log"; exit 1; }
  sleep 0.1
done

BASE_URL="http://127.0.0.1:$port" \
ADMIN_TOKEN=$("$bin" token --user ops --admin --ttl 3600) \
ARTIFACTS="$artifacts" \
DOCS_DIR=$([[ ${UPDATE_DOCS:-0} == 1 ]] && echo "$root/docs" || echo "") \
  node "$root/tests/browser/journey.mjs"
