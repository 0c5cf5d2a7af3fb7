#!/bin/sh
# boinc-flow.sh - the stock BOINC client runs Agora work: agora-server on
# 127.0.0.1 (fresh state) with a published, signed agora-boinc; a small
# gpt-tiny job (2 units, quorum 2); one agora-client and one BOINC client
# (`boinc --dir FRESH --attach_project URL KEY`, preferences that compute
# on a busy machine, its own GUI RPC port); the BOINC client downloads
# the app, computes units, uploads them, and the job is done with every
# unit validated by equal hashes between the BOINC host and agora-client;
# the coordinator keeps no BOINC files of reported tasks, and sweeps
# stale ones.
# Prints TAP; skips without `boinc`, agora-boinc or an OpenCL device.
# Everything stops by itself (bounded loops, kill on exit).
set -u
top=${top_builddir:-.}
src=${srcdir:-.}
. "${srcdir:-.}/tests/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/agora-boinc-e2e-XXXXXX") || exit 1
. "$src/demo/lib.sh"
. "$src/tests/e2e/boinc-lib.sh"
cleanup() {
	demo_stop_all
	if [ -n "${AGORA_KEEP_TMP:-}" ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bl_require

demo_start_server
check '[ -n "$demo_url" ]' "agora-server starts on loopback"
[ -n "$demo_url" ] || { sed 's/^/# /' "$work/server.log"; echo "1..$n"; exit 1; }
check 'bl_publish' "agora-admin boinc keygen and publish"
check 'curl -fsS "$demo_url/boinc/" | grep -q "boinc_scheduler"' "the master page names the scheduler"

awk 'BEGIN { for (i = 0; i < 4000; i++)
	printf "line %d of the agora boinc corpus: %d %d\n", i, (i * 7919) % 10007, i * i }' \
	>"$work/corpus.txt"
check 'demo_adm dataset add "$work/corpus.txt" --owner tests --licence cc0 --source generated \
	--name boinc-data --shard-size 65536 >"$work/dataset.out" 2>&1' "dataset add"
demo_spec boinc boinc-data 1 2 2 1 2 >"$work/spec.json"
check 'demo_adm job create "$work/spec.json" >"$work/job.out" 2>&1' "job create"

# leftovers of a replica that does not exist (a task never reported):
# the first scheduler RPC's sweep removes them
mkdir -p "$work/server/boinc/files" "$work/server/boinc/upload"
echo stale >"$work/server/boinc/files/agora_999_unit"
echo stale >"$work/server/boinc/upload/agora_999_0_blob"
bdir=$work/boinc
gport=$(bl_port 21000)
bl_prepare "$bdir"
bl_start "$bdir" "$gport" "$demo_url/boinc/" 0123456789abcdef0123456789abcdef

"$demo_client" attach "$demo_url" --account ann --state "$work/ann" >"$work/ann.log" 2>&1
check '[ $? -eq 0 ]' "agora-client attaches"
"$demo_client" run --idle-max 1 --state "$work/ann" >>"$work/ann.log" 2>&1 &
demo_pids="$demo_pids $!"

check 'bl_wait 300 "demo_adm job status boinc >\"$work/status.txt\" 2>/dev/null &&
	grep -q \"^job [0-9]* .boinc.: done\" \"$work/status.txt\""' "the job is done"
sed 's/^/# /' "$work/status.txt" | head -n 12
nb=$(grep -c "from BOINC host" "$work/server.log")
check '[ "$nb" -ge 2 ]' "the BOINC client computed and uploaded at least 2 units ($nb)"
valid=$(sed -n 's/.*results:.* valid \([0-9][0-9]*\).*/\1/p' "$work/status.txt" | head -n 1)
check '[ "${valid:-0}" -ge 4 ]' "every replica valid: BOINC and agora-client hashes agree"
check '! grep -q " [1-9][0-9]* failed" "$work/status.txt"' "no unit failed"
check '[ -z "$(ls "$work/server/boinc/upload")" ] &&
	! ls "$work"/server/boinc/files/agora_*_unit >/dev/null 2>&1' \
	"no uploads or unit envelopes of reported tasks (or stale ones) are left under STATE/boinc/"
check 'grep -Eq "^[0-9a-f]{32} [0-9]+ [0-9]+$" "$work"/server/boinc/md5/* 2>/dev/null' \
	"the blobs' MD5s are kept (STATE/boinc/md5), so later tasks do not hash the model again"
if [ $fail -ne 0 ]; then
	bl_dump "$bdir"
	echo "# --- server.log"
	tail -n 20 "$work/server.log" | sed 's/^/# /'
fi
tap_done
