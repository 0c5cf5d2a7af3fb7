#!/bin/sh
# boinc-tamper.sh - the stock BOINC client with tampered Agora work. One
# agora-server on loopback with a published agora-boinc and a gpt-tiny
# job; two fresh BOINC clients, one after the other:
#
#  1. The app's code signature is altered on the coordinator (one hex
#     digit of STATE/boinc/app/*.sig): the client downloads agora-boinc,
#     refuses it ("Signature verification error"), never starts it, and
#     the tasks it reports as errors are given up by the coordinator with
#     nothing recorded.
#  2. The signature restored, a second client downloads two tasks while
#     its run mode is "never"; one unit envelope is then altered in the
#     client's project directory ("steps" 2 -> 3 in the signed payload;
#     BOINC checks an input's MD5 at download only, so this is what an
#     attacker who can change a file and its MD5 in transit achieves).
#     Computing resumes: agora-boinc refuses that unit and fails the task
#     with "work unit refused" in its stderr.txt, which the client sends
#     and the coordinator logs; the untouched task computes and uploads.
#
# Prints TAP; skips without boinc, agora-boinc or an OpenCL device.
# Every wait is bounded; everything started is stopped on exit.
set -u
top=${top_builddir:-.}
src=${srcdir:-.}
. "${srcdir:-.}/tests/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/agora-boinc-tamper-XXXXXX") || exit 1
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
awk 'BEGIN { for (i = 0; i < 4000; i++) printf "tamper line %d: %d\n", i, (i * 7919) % 10007 }' \
	>"$work/corpus.txt"
demo_spec tamper tamper-data 1 2 2 1 2 >"$work/spec.json"
check 'bl_publish && demo_adm dataset add "$work/corpus.txt" --name tamper-data --owner tests \
	--licence cc0 --source generated --shard-size 65536 >/dev/null 2>&1 &&
	demo_adm job create "$work/spec.json" >/dev/null 2>&1' \
	"agora-boinc published, a gpt-tiny job of 2 units (quorum 2) created"
slog=$work/server.log
gport=$(bl_port 23000)

# ---- 1. a tampered code signature: the client refuses the app
sig=$(ls "$work"/server/boinc/app/*.sig)
cp "$sig" "$work/good.sig"
# the first digit of the signature's hex (line 1), changed
sed '1{s/^0/1/;t;s/^./0/}' "$work/good.sig" >"$sig"
check '! cmp -s "$sig" "$work/good.sig"' "one digit of the app's signature changed"
b1=$work/boinc1
bl_prepare "$b1"
bl_start "$b1" "$gport" "$demo_url/boinc/" 00112233445566778899aabbccddeeff
check 'bl_wait 120 "grep -q \"Signature verification error for agora-boinc_\" \"$b1.log\""' \
	"the BOINC client refuses the app: signature verification error"
bl_nudge='bl_update "$b1" "$gport"'
check 'bl_wait 120 "grep -q \"BOINC task .agora_[0-9]*_0. failed\" \"$slog\""' \
	"its tasks come back as errors and the coordinator gives them up"
check '! grep -q "Starting task" "$b1.log" && [ -z "$(ls "$b1/slots" 2>/dev/null)" ]' \
	"agora-boinc never ran"
check '! grep -q "from BOINC host" "$slog"' "nothing from that client was recorded"
bl_cmd "$b1" "$gport" --quit >/dev/null 2>&1
cp "$work/good.sig" "$sig"

# ---- 2. a tampered unit: agora-boinc refuses it, the task fails
b2=$work/boinc2
bl_prepare "$b2"
gport2=$(bl_port 25000)
bl_nudge='bl_update "$b2" "$gport2"'
bl_start "$b2" "$gport2"
check 'bl_wait 30 "bl_cmd \"$b2\" \"$gport2\" --set_run_mode never >/dev/null 2>&1"' \
	"a second BOINC client starts with its run mode \"never\""
bl_cmd "$b2" "$gport2" --project_attach "$demo_url/boinc/" ffeeddccbbaa99887766554433221100 \
	>/dev/null 2>&1
ntasks() { bl_cmd "$b2" "$gport2" --get_tasks 2>/dev/null | grep -c 'state: downloaded'; }
check 'bl_wait 120 "[ \$(ntasks) -ge 2 ]"' "it downloads two tasks and the verified app"
unit=$(ls "$b2"/projects/*/agora_*_unit 2>/dev/null | head -n 1)
victim=$(basename "${unit:-none}" _unit)
sed 's/\("steps": *\)2/\13/' "$unit" >"$work/unit.tmp" && cat "$work/unit.tmp" >"$unit"
check 'grep -q "\"steps\": *3" "$unit"' "the signed payload of $victim's unit changed (steps 2 -> 3)"
bl_cmd "$b2" "$gport2" --set_run_mode always >/dev/null 2>&1
check "bl_wait 180 \"grep -q \\\"BOINC task '${victim}_0' failed (exit [1-9][0-9]*): agora-boinc: work unit refused\\\" \\\"\$slog\\\"\"" \
	"agora-boinc fails ${victim}_0; the coordinator logs its stderr line \"work unit refused\""
sed -n "s/.*BOINC task '${victim}_0' failed/# &/p" "$slog" | head -n 1
check 'bl_wait 180 "grep -q \"from BOINC host\" \"$slog\""' \
	"the untouched task computes, uploads and is recorded"
check '[ $(grep -c "from BOINC host" "$slog") -eq 1 ]' "only the untouched one"
check 'bl_wait 30 "! ls \"$work\"/server/boinc/files/${victim}_unit >/dev/null 2>&1"' \
	"the coordinator removed the refused replica's files"
if [ $fail -ne 0 ]; then
	bl_dump "$b1"
	bl_dump "$b2"
	echo "# --- server.log"
	tail -n 30 "$slog" | sed 's/^/# /'
fi
tap_done
