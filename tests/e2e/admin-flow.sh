#!/bin/sh
# admin-flow.sh - end to end the way a project runs: agora-admin makes an
# admin key, agora-server starts with it, `agora-admin dataset add` cuts a
# generated text into shards and `job create` defines a small gpt-tiny job
# (3 units per round, quorum 2, 2 rounds of 2 inner steps at batch 1); the
# coordinator generates the units, three agora-client processes attach
# (pinning the coordinator key by fingerprint) and compute them on the
# OpenCL device, and `agora-admin job status` must end with the job done:
# every unit validated by its quorum, both rounds merged. Prints TAP; a
# skip plan without a usable OpenCL device or without the admin commands.
set -u
top=${top_builddir:-.}
server=$top/agora-server
admin=$top/agora-admin
client=$top/agora-client
. "${srcdir:-.}/tests/tap.sh"

"$client" devices 2>/dev/null | grep -q '^    usable$' || skip_all "no usable OpenCL device"
"$admin" help 2>&1 | grep -q 'create a job from SPEC.json' ||
	skip_all "agora-admin has no job commands"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-e2e-XXXXXX") || exit 1
spid=""
cpids=""
cleanup() {
	for p in $cpids $spid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${AGORA_KEEP_TMP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

# compute whether or not someone uses the machine (make check sets the
# same through AGORA_PREFS_FILE; this covers a run by hand)
if [ -z "${AGORA_PREFS_FILE:-}" ]; then
	printf 'idle-only = no\npause-on-battery = no\nmax-temp-c = 0\n' >"$tmp/prefs.conf"
	AGORA_PREFS_FILE=$tmp/prefs.conf
	export AGORA_PREFS_FILE
fi
mkdir -p "$tmp/keys"
"$admin" keygen --out "$tmp/keys" >/dev/null 2>&1
check '[ -f "$tmp/keys/admin.key" ]' "agora-admin keygen makes an admin key"
"$server" --state "$tmp/server" --listen 127.0.0.1:0 --threads 2 \
	--admin-key "$tmp/keys/admin.pub" >"$tmp/server.log" 2>&1 &
spid=$!
port=""
i=0
while [ $i -lt 200 ] && [ -z "$port" ] && kill -0 "$spid" 2>/dev/null; do
	port=$(sed -n 's/.*(port \([0-9][0-9]*\)).*/\1/p' "$tmp/server.log" | head -n 1)
	[ -n "$port" ] || sleep 0.1
	i=$((i + 1))
done
if [ -z "$port" ]; then
	not_ok "agora-server starts"
	sed 's/^/# /' "$tmp/server.log"
	echo "1..$n"
	exit 1
fi
ok "agora-server starts (port $port)"
url=http://127.0.0.1:$port
adm() { "$admin" --server "$url" --key "$tmp/keys/admin.key" "$@"; }

# a text corpus: 160 KB of numbered lines
awk 'BEGIN { for (i = 0; i < 4000; i++)
	printf "line %d of the agora test corpus: %d %d\n", i, (i * 7919) % 10007, i * i }' \
	>"$tmp/corpus.txt"
check 'adm dataset add "$tmp/corpus.txt" --owner tests --licence cc0 --source generated \
	--name e2e-data --shard-size 65536 >"$tmp/dataset.out" 2>&1' "dataset add"
cat >"$tmp/spec.json" <<SPEC
{"name": "e2e", "preset": "gpt-tiny", "dataset": "e2e-data", "seed": 42,
 "hyper": {"lr": 0.001, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
           "weight_decay": 0.0, "clip": 1.0, "batch": 1},
 "inner_steps": 2, "units_per_round": 3, "quorum": 2, "rounds": 2,
 "outer": {"lr": 0.7, "momentum": 0.9}, "validation": {"mode": "exact"},
 "eval": {"bytes": 8192, "sequences": 2}}
SPEC
check 'adm job create "$tmp/spec.json" >"$tmp/job.out" 2>&1' "job create"

fp=""
for name in ann bob cat; do
	if [ -z "$fp" ]; then
		"$client" attach "$url" --account $name --state "$tmp/$name" >"$tmp/$name.log" 2>&1
		rc=$?
		fp=$(sed -n 's/^coordinator key fingerprint: //p' "$tmp/$name.log")
	else
		"$client" attach "$url" --account $name --fingerprint "$fp" \
			--state "$tmp/$name" >"$tmp/$name.log" 2>&1
		rc=$?
	fi
	check '[ $rc -eq 0 ]' "client $name attaches"
done
for name in ann bob cat; do
	"$client" run --idle-max 1 --state "$tmp/$name" >>"$tmp/$name.log" 2>&1 &
	cpids="$cpids $!"
done

start=$(date +%s)
done_=0
i=0
while [ $i -lt 2400 ]; do # 240 s at most
	adm job status e2e >"$tmp/status.txt" 2>/dev/null
	if grep -q "^job [0-9]* 'e2e': done" "$tmp/status.txt"; then
		done_=1
		break
	fi
	sleep 0.1
	i=$((i + 1))
done
echo "# job done in $(($(date +%s) - start))s"
sed 's/^/# /' "$tmp/status.txt" | head -n 20
check '[ $done_ -eq 1 ]' "job status: the job is done"
check 'grep -q "2 of 2 rounds done" "$tmp/status.txt"' "both rounds merged"
valid=$(sed -n 's/.*results:.* valid \([0-9][0-9]*\).*/\1/p' "$tmp/status.txt" | head -n 1)
# a replica sent beyond the quorum may add a late (valid) result
check '[ "${valid:-0}" -ge 12 ]' "at least 12 valid results: 2 rounds x 3 units x quorum 2"
check '! grep -q " [1-9][0-9]* failed" "$tmp/status.txt"' "no unit failed"
check 'adm job status e2e --json >"$tmp/status.json" 2>&1' "job status --json answers"

for p in $cpids; do kill -TERM "$p" 2>/dev/null; done
ok_stop=1
for p in $cpids; do wait "$p" || ok_stop=0; done
cpids=""
check '[ $ok_stop -eq 1 ]' "SIGTERM stops every client with status 0"
check '! grep -q "refusing unit" "$tmp/ann.log" "$tmp/bob.log" "$tmp/cat.log"' \
	"no client refused a unit the coordinator generated"
tap_done
