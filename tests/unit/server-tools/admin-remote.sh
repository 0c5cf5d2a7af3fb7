#!/bin/sh
# admin-remote.sh - agora-admin against a real agora-server (127.0.0.1, a
# free port): a key that is not an admin's is refused, dataset add cuts a
# file into shards, job create refuses a bad spec naming the field and
# makes a job from a good one, job status/pause/resume/cancel (with the
# reason job status prints), host list.
# Prints TAP.
srv=${top_builddir:-.}/agora-server
adm=${top_builddir:-.}/agora-admin
n=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

[ -x "$srv" ] && [ -x "$adm" ] || { echo "1..0 # SKIP programs not built"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-adm-XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
mkdir "$tmp/keys" "$tmp/other"
"$adm" keygen --out "$tmp/keys" >/dev/null && "$adm" keygen --out "$tmp/other" >/dev/null
# Starts the server (again) on the same state and waits for its port.
starts=0
start() {
	starts=$((starts + 1))
	log=$tmp/log.$starts # a new file: never the last server's port
	"$srv" --state "$tmp/state" --listen 127.0.0.1:0 --admin-key "$tmp/keys/admin.pub" 2>"$log" &
	pid=$!
	port=
	i=0
	while [ $i -lt 100 ] && [ -z "$port" ]; do
		port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$log" 2>/dev/null)
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
	url=http://127.0.0.1:$port
	A="$adm --server $url --key $tmp/keys/admin.key"
}
start

"$adm" --server "$url" --key "$tmp/other/admin.key" job list >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q unknown_admin "$tmp/err"; ok $? "a key that is not an admin's is refused"

i=0; : >"$tmp/corpus.txt"
while [ $i -lt 400 ]; do echo "line $i of a small corpus for the admin test" >>"$tmp/corpus.txt"; i=$((i + 1)); done
$A dataset add "$tmp/corpus.txt" --owner "Agora tests" --licence CC0-1.0 --source admin-remote.sh \
	--name corpus --shard-size 4096 >"$tmp/out" 2>&1
grep -q "dataset 'corpus': id 1, 5 shards" "$tmp/out"; ok $? "dataset add: 5 shards, signed manifest stored"
$A dataset list | grep -q '"licence": "CC0-1.0"'; ok $? "dataset list shows the licence"

cat >"$tmp/spec.json" <<'SPEC'
{"name":"t1","preset":"gpt-test","dataset":"corpus","seed":1,
 "hyper":{"lr":0.01,"beta1":0.9,"beta2":0.95,"eps":1e-8,"weight_decay":0,"clip":1,"batch":2},
 "inner_steps":2,"units_per_round":3,"quorum":2,"rounds":2,
 "outer":{"lr":0.7,"momentum":0.9},"validation":{"mode":"tolerance","threshold":1e-5},
 "eval":{"bytes":512,"sequences":4}}
SPEC
sed 's/"rounds":2/"rounds":"two"/' "$tmp/spec.json" >"$tmp/bad.json"
$A job create "$tmp/bad.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad_spec: field 'rounds' must be an integer" "$tmp/err"; ok $? "a bad spec is refused naming the field"
$A job create "$tmp/spec.json" | grep -q "job 1 created"; ok $? "job create"
$A job status t1 >"$tmp/out"; grep -q "job 1 't1': running" "$tmp/out" && grep -q "model 0: eval loss" "$tmp/out"
ok $? "job status: running, eval loss of theta_0"
$A job status 1 --json | grep -q '"units_active": 3'; ok $? "job status --json: 3 units of round 0"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
start
$A job status t1 --json >"$tmp/out" 2>&1
grep -q '"state": "running"' "$tmp/out" && grep -q '"units_active": 3' "$tmp/out"
ok $? "after kill -9 and a restart the job, its round and its units are intact"
$A job pause t1 >/dev/null && $A job status t1 >"$tmp/out" && grep -q ": paused," "$tmp/out" &&
	grep -q "^  paused: paused by an admin$" "$tmp/out"
ok $? "job pause, and status says who paused it"
$A job resume t1 >/dev/null && $A job status t1 >"$tmp/out" && grep -q ": running," "$tmp/out" &&
	! grep -q "paused by" "$tmp/out"
ok $? "job resume clears the reason"
$A job cancel t1 >/dev/null && $A job status t1 | grep -q "^  cancelled: cancelled by an admin$"
ok $? "job cancel, with its reason"
$A job resume t1 2>"$tmp/err"; [ $? -eq 1 ] && grep -q bad_state "$tmp/err"; ok $? "resuming a cancelled job is refused"
$A host list | grep -q '^\[\]$'; ok $? "host list (none yet)"
$A host ban 99 2>/dev/null; [ $? -eq 1 ]; ok $? "banning an unknown host fails"
kill "$pid"; wait "$pid"; pid=
echo "1..$n"
