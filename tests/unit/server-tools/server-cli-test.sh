#!/bin/sh
# server-cli-test.sh - the agora-server program itself: first start creates
# the state directory (0700), database and key pair, logs where it
# listens, answers on 127.0.0.1 (a free port), stops cleanly on SIGTERM
# and SIGINT, starts again on the same state, refuses bad arguments.
# Prints TAP; skips when curl is not installed.
bin=${top_builddir:-.}/agora-server
n=0
fail=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

command -v curl >/dev/null 2>&1 || { echo "1..0 # SKIP curl is not installed"; exit 0; }
[ -x "$bin" ] || { echo "1..0 # SKIP $bin not built"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-cli-XXXXXX") || exit 1
trap 'kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT

# Starts the server in the background and waits for its port in the log.
start() {
	: >"$tmp/log"
	"$bin" --state "$tmp/state" --listen 127.0.0.1:0 --name cli "$@" 2>"$tmp/log" &
	pid=$!
	port=""
	i=0
	while [ $i -lt 100 ] && [ -z "$port" ]; do
		port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$tmp/log")
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
}

start
[ -n "$port" ]; ok $? "server logs its port"
mode=$(stat -c %a "$tmp/state" 2>/dev/null)
[ "$mode" = 700 ]; ok $? "state directory is 0700 (got $mode)"
[ -f "$tmp/state/state.db" ] && [ -f "$tmp/state/keys/coordinator.key" ]; ok $? "database and key created"
out=$(curl -s "http://127.0.0.1:$port/api/v1/project")
case "$out" in *'"name":"cli"'*) r=0 ;; *) r=1 ;; esac; ok $r "project answers"
kill -TERM "$pid"; wait "$pid"; rc=$?
[ "$rc" -eq 0 ]; ok $? "SIGTERM: clean exit"
grep -q "stopped" "$tmp/log"; ok $? "SIGTERM: logs that it stopped"

start
[ -n "$port" ]; ok $? "second start on the same state"
grep -q "created" "$tmp/log"; [ $? -ne 0 ]; ok $? "second start creates nothing"
kill -INT "$pid"; wait "$pid"; rc=$?
[ "$rc" -eq 0 ]; ok $? "SIGINT: clean exit"

start
kill -KILL "$pid"; wait "$pid" 2>/dev/null
start
[ -n "$port" ]; ok $? "starts again after kill -9 (no stale lock)"
out=$(curl -s "http://127.0.0.1:$port/api/v1/project")
case "$out" in *'"name":"cli"'*) r=0 ;; *) r=1 ;; esac; ok $r "state intact after kill -9"
kill -TERM "$pid"; wait "$pid"

"$bin" --state "$tmp/state" --listen nonsense 2>"$tmp/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "listen address" "$tmp/err"; ok $? "bad --listen refused with a message"
"$bin" --state "$tmp/other" --name "$(printf 'bad\tname')" 2>"$tmp/err"; rc=$?
[ "$rc" -ne 0 ] && grep -q "bad project name" "$tmp/err"; ok $? "a project name with a control character is refused"
"$bin" 2>/dev/null; rc=$?
[ "$rc" -eq 2 ]; ok $? "missing --state is a usage error"

echo "1..$n"
exit $fail
