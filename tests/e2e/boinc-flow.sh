#!/bin/sh
# boinc-flow.sh - the stock BOINC client runs Agora work: agora-server on
# 127.0.0.1 (fresh state) with a published, signed agora-boinc; a small
# gpt-tiny job (2 units, quorum 2); one agora-client and one BOINC client
# (`boinc --dir FRESH --attach_project URL KEY`, preferences that compute
# on a busy machine, its own GUI RPC port); the BOINC client downloads
# the app, computes units, uploads them, and the job is done with every
# unit validated by equal hashes between the BOINC host and agora-client.
# Prints TAP; skips without `boinc`, agora-boinc or an OpenCL device.
# Everything stops by itself (bounded loops, kill on exit).
set -u
top=${top_builddir:-.}
server=$top/agora-server
admin=$top/agora-admin
client=$top/agora-client
app=$top/agora-boinc
n=0
fail=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { if eval "$1"; then ok "$2"; else not_ok "$2"; fi; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }

command -v boinc >/dev/null 2>&1 || skip_all "boinc (boinc-client) not installed"
command -v boinccmd >/dev/null 2>&1 || skip_all "boinccmd not installed"
[ -x "$app" ] || skip_all "agora-boinc not built"
"$client" devices 2>/dev/null | grep -q '^    usable$' || skip_all "no usable OpenCL device"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-boinc-e2e-XXXXXX") || exit 1
spid=""
cpids=""
bpid=""
cleanup() {
	[ -n "$bpid" ] && kill "$bpid" 2>/dev/null
	for p in $cpids $spid; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	if [ -n "${AGORA_KEEP_TMP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

if [ -z "${AGORA_PREFS_FILE:-}" ]; then
	printf 'idle-only = no\npause-on-battery = no\nmax-temp-c = 0\n' >"$tmp/prefs.conf"
	AGORA_PREFS_FILE=$tmp/prefs.conf
	export AGORA_PREFS_FILE
fi
mkdir -p "$tmp/keys"
"$admin" keygen --out "$tmp/keys" >/dev/null 2>&1
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
[ -n "$port" ] || { not_ok "agora-server starts"; sed 's/^/# /' "$tmp/server.log"; echo "1..$n"; exit 1; }
ok "agora-server starts (port $port)"
url=http://127.0.0.1:$port
adm() { "$admin" --server "$url" --key "$tmp/keys/admin.key" "$@"; }

check '"$admin" boinc keygen --out "$tmp/keys" >/dev/null &&
	"$admin" boinc publish --state "$tmp/server" --key "$tmp/keys/code_sign.key" \
	--exe "$app" >/dev/null' "agora-admin boinc keygen and publish"
check 'curl -fsS "$url/boinc/" | grep -q "boinc_scheduler"' "the master page names the scheduler"

awk 'BEGIN { for (i = 0; i < 4000; i++)
	printf "line %d of the agora boinc corpus: %d %d\n", i, (i * 7919) % 10007, i * i }' \
	>"$tmp/corpus.txt"
check 'adm dataset add "$tmp/corpus.txt" --owner tests --licence cc0 --source generated \
	--name boinc-data --shard-size 65536 >"$tmp/dataset.out" 2>&1' "dataset add"
cat >"$tmp/spec.json" <<SPEC
{"name": "boinc", "preset": "gpt-tiny", "dataset": "boinc-data", "seed": 7,
 "hyper": {"lr": 0.001, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
           "weight_decay": 0.0, "clip": 1.0, "batch": 1},
 "inner_steps": 2, "units_per_round": 2, "quorum": 2, "rounds": 1,
 "outer": {"lr": 0.7, "momentum": 0.9}, "validation": {"mode": "exact"},
 "eval": {"bytes": 8192, "sequences": 2}}
SPEC
check 'adm job create "$tmp/spec.json" >"$tmp/job.out" 2>&1' "job create"

# the BOINC client: its own data directory, GUI RPC port and preferences
bdir=$tmp/boinc
mkdir -p "$bdir"
: >"$bdir/gui_rpc_auth.cfg"
cat >"$bdir/global_prefs_override.xml" <<'PREFS'
<global_preferences>
  <run_on_batteries>1</run_on_batteries>
  <run_if_user_active>1</run_if_user_active>
  <run_gpu_if_user_active>1</run_gpu_if_user_active>
  <idle_time_to_run>0</idle_time_to_run>
  <suspend_cpu_usage>0</suspend_cpu_usage>
  <cpu_usage_limit>100</cpu_usage_limit>
  <max_ncpus_pct>100</max_ncpus_pct>
  <work_buf_min_days>0.01</work_buf_min_days>
  <work_buf_additional_days>0</work_buf_additional_days>
  <disk_min_free_gb>0.1</disk_min_free_gb>
  <disk_max_used_pct>100</disk_max_used_pct>
</global_preferences>
PREFS
cat >"$bdir/cc_config.xml" <<'CC'
<cc_config><log_flags><sched_op_debug>1</sched_op_debug><file_xfer_debug>1</file_xfer_debug>
<task_debug>1</task_debug></log_flags>
<options><allow_multiple_clients>1</allow_multiple_clients><no_gpus>1</no_gpus>
<ncpus>1</ncpus></options></cc_config>
CC
gport=$((31000 + $$ % 2000))
(cd "$bdir" && exec env -u DISPLAY boinc --dir "$bdir" --allow_multiple_clients --gui_rpc_port "$gport" \
	--attach_project "$url/boinc/" 0123456789abcdef0123456789abcdef) >"$tmp/boinc.log" 2>&1 &
bpid=$!

"$client" attach "$url" --account ann --state "$tmp/ann" >"$tmp/ann.log" 2>&1
check '[ $? -eq 0 ]' "agora-client attaches"
"$client" run --idle-max 1 --state "$tmp/ann" >>"$tmp/ann.log" 2>&1 &
cpids=$!

done_=0
i=0
while [ $i -lt 600 ] && kill -0 "$bpid" 2>/dev/null; do # 300 s at most
	adm job status boinc >"$tmp/status.txt" 2>/dev/null
	if grep -q "^job [0-9]* 'boinc': done" "$tmp/status.txt"; then
		done_=1
		break
	fi
	sleep 0.5
	i=$((i + 1))
done
sed 's/^/# /' "$tmp/status.txt" | head -n 12
check '[ $done_ -eq 1 ]' "the job is done"
nb=$(grep -c "from BOINC host" "$tmp/server.log")
check '[ "$nb" -ge 2 ]' "the BOINC client computed and uploaded at least 2 units ($nb)"
valid=$(sed -n 's/.*results:.* valid \([0-9][0-9]*\).*/\1/p' "$tmp/status.txt" | head -n 1)
check '[ "${valid:-0}" -ge 4 ]' "every replica valid: BOINC and agora-client hashes agree"
check '! grep -q " [1-9][0-9]* failed" "$tmp/status.txt"' "no unit failed"
if [ $fail -ne 0 ]; then
	echo "# --- boinc.log"; tail -n 40 "$tmp/boinc.log" | sed 's/^/# /'
	echo "# --- server.log"; tail -n 20 "$tmp/server.log" | sed 's/^/# /'
	for f in "$bdir"/slots/*/stderr.txt; do [ -f "$f" ] && sed 's/^/# /' "$f"; done
fi
echo "1..$n"
exit $fail
