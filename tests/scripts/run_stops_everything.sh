#!/usr/bin/env bash
# scripts/run, interrupted as a terminal's Ctrl-C does (SIGINT to its whole process group),
# stops everything it started: the server, redis-server and mariadbd. Runs it in a private
# RUN_DIR on a free port, so a developer's .run/ and :3000 are left alone.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/run-stop-test.XXXXXX)
run_pid=
# Whatever happens, scripts/run goes with the test (a failure before the Ctrl-C left its server,
# redis-server and mariadbd running).
finish() {
    if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
        kill -INT -- "-$run_pid" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$run_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap finish EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

RUN_DIR="$work/run" PORT="$port" setsid "$root/scripts/run" >"$work/out.log" 2>&1 &
run_pid=$!
# Up to 15 minutes: a first run builds the server.
for _ in $(seq 1 9000); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    if ! kill -0 "$run_pid" 2>/dev/null; then
        echo "FAIL: scripts/run exited before serving:"; cat "$work/out.log"; exit 1
    fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { echo "FAIL: not serving"; cat "$work/out.log"; exit 1; }
# Once serving, scripts/run still runs `ticketing token` twice (children named ticketing too) and
# makes the demo product; its banner comes after them. Until then a pgrep may see two pids.
for _ in $(seq 1 600); do
    grep -q 'Ticketing is serving' "$work/out.log" && break
    sleep 0.1
done
grep -q 'Ticketing is serving' "$work/out.log" || { echo "FAIL: no banner"; cat "$work/out.log"; exit 1; }

redis=$(cat "$work/run/redis/redis.pid")
db=$(cat "$work/run/mariadb.pid")
server=$(pgrep -P "$run_pid" -x ticketing || true)
echo "serving on :$port; server $server, redis-server $redis, mariadbd $db"
alive "$redis" && alive "$db" && alive "$server" || { echo "FAIL: not all started"; exit 1; }

kill -INT -- "-$run_pid"  # the terminal's Ctrl-C: the foreground process group
for _ in $(seq 1 300); do
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.1
done
status=0
for p in "server:$server" "redis-server:$redis" "mariadbd:$db"; do
    if alive "${p#*:}"; then
        echo "FAIL: ${p%%:*} (pid ${p#*:}) still running after Ctrl-C"
        kill -KILL "${p#*:}" 2>/dev/null || true
        status=1
    fi
done
if kill -0 "$run_pid" 2>/dev/null; then echo "FAIL: scripts/run did not exit"; status=1; fi
((status == 0)) && echo "ok: Ctrl-C stopped the server, redis-server and mariadbd"
((status == 0)) || { echo "--- scripts/run output:"; cat "$work/out.log"; }
exit "$status"
