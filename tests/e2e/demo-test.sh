#!/bin/sh
# demo-test.sh - the core of `make demo` in make check: agora-server on
# loopback, a generated corpus, a two-round gpt-tiny job, three honest
# agora-client processes and tests/e2e/bad-client (scaled, zero and random
# Δs, a copied envelope, a result for a replica it was not given). Checks:
# the job finishes; the eval loss after the last round is below the first
# one; every result bad-client got accepted for validation is rejected,
# its refused uploads are refused, and no result of its hosts is in any
# model manifest or the ledger; `agora-admin audit` and `ledger verify`
# pass; one byte altered in any exported manifest, or in the first, a
# middle or the last ledger entry, makes them fail; demo/sample writes
# text from the exported model. Computes on the first usable OpenCL
# device, else on the C reference (smaller steps). Prints TAP.
set -u
top=${top_builddir:-.}
src=${srcdir:-.}
. "${srcdir:-.}/tests/tap.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/agora-demo-test-XXXXXX") || exit 1
. "$src/demo/lib.sh"
for p in "$demo_server" "$demo_admin" "$demo_client" "$demo_bad" "$demo_sample"; do
	[ -x "$p" ] || { rm -rf "$work"; skip_all "'$p' is not built"; }
done
"$demo_admin" help 2>&1 | grep -q 'create a job from SPEC.json' ||
	{ rm -rf "$work"; skip_all "agora-admin has no job commands"; }
demo_cleanup() {
	demo_stop_all
	if [ -n "${AGORA_KEEP_TMP:-}" ]; then echo "# kept $work"; else rm -rf "$work"; fi
}
trap demo_cleanup EXIT
trap 'exit 1' INT TERM

demo_pick_device
if [ -n "$demo_device_flag" ]; then
	steps=2 batch=1 # the C reference: slow
else
	steps=4 batch=2
fi
echo "# device: $demo_device_name"

demo_start_server
check '[ -n "$demo_url" ]' "agora-server starts on loopback"
[ -n "$demo_url" ] || { sed 's/^/# /' "$work/server.log"; echo "1..$n"; exit 1; }
awk 'BEGIN { for (i = 0; i < 3000; i++)
	printf "fortune %d: the quick brown fox %d jumps over the lazy dog %d\n", i, i % 17, i % 5 }' \
	>"$work/corpus.txt"
check 'demo_adm dataset add "$work/corpus.txt" --name text --owner tests --licence cc0 \
	--source generated --shard-size 65536 >"$work/dataset.out" 2>&1' "dataset add"
demo_spec demo text 2 3 $steps $batch 8 >"$work/spec.json"
check 'demo_adm job create "$work/spec.json" >"$work/job.out" 2>&1' \
	"job create (gpt-tiny, 2 rounds x 3 units x $steps steps, quorum 2)"
check 'demo_start_clients' "three honest clients and bad-client start"

start=$(date +%s)
state=""
while [ $(($(date +%s) - start)) -lt 300 ]; do
	demo_adm job status demo >"$work/status.txt" 2>/dev/null
	state=$(sed -n "s/^job [0-9]* 'demo': \([a-z]*\),.*/\1/p" "$work/status.txt")
	[ "$state" = done ] && break
	grep -q '^  FAILED unit' "$work/status.txt" && break
	sleep 1
done
echo "# job $state in $(($(date +%s) - start))s"
sed 's/^/# /' "$work/status.txt"
check '[ "$state" = done ]' "the job is done"
check '! grep -q "^  FAILED unit" "$work/status.txt"' "no unit failed"
demo_stop_clients
sed -n 's/^bad-client: /# /p' "$work/mallory.log"

# eval losses of model 0 (before training) and of the last version
loss() { sed -n "s/^  model $1: eval loss \([0-9.]*\),.*/\1/p" "$work/status.txt"; }
first=$(loss 0)
last=$(loss 2)
check '[ -n "$first" ] && [ -n "$last" ] && awk -v a="$last" -v b="$first" "BEGIN { exit !(a < b) }"' \
	"eval loss after the last round ($last) is below the first ($first)"

bad=$(demo_bad_host)
friend=$(sed -n 's/^bad-client: host .*(the other host: \([0-9]*\) .*/\1/p' "$work/mallory.log")
check '[ -n "$bad" ] && [ -n "$friend" ]' "bad-client registered (host $bad, its friend host $friend)"
accepted=$(grep -c '^bad-client: sent .*: 201 accepted' "$work/mallory.log")
check '[ "$accepted" -ge 1 ]' "bad-client had $accepted wrong results accepted for validation"
# every one of them is rejected (the worker may still be judging the last)
i=0
while :; do
	rejected=$(grep -c "^  rejected: replica [0-9]* from host $bad " "$work/status.txt")
	[ "$rejected" -ge "$accepted" ] || [ $i -ge 20 ] && break
	sleep 0.5
	demo_adm job status demo >"$work/status.txt" 2>/dev/null
	i=$((i + 1))
done
check '[ "$rejected" -eq "$accepted" ]' "each of them is rejected ($rejected)"
check '! grep "^  rejected: replica" "$work/status.txt" | grep -qv " from host $bad "' \
	"no honest result is rejected"
for a in scaled zero random; do
	check 'grep -q "^bad-client: sent $a" "$work/mallory.log"' "bad-client sent a $a delta"
done
check 'grep "^bad-client: sent copy" "$work/mallory.log" | grep -qv "201 accepted"' \
	"a copied envelope of another host is refused at upload"
check 'grep "^bad-client: sent foreign" "$work/mallory.log" | grep -q "403 not_your_replica"' \
	"a result for a replica it was not given is refused (403 not_your_replica)"
check 'grep -q "^bad-client: blocked" "$work/mallory.log"' \
	"bad-client is blocked after repeated invalid results"

check 'demo_adm model export demo --out "$work/export" >"$work/export.out" 2>&1' "model export"
check '[ -f "$work/export/manifests/round-2.env" ] && [ ! -f "$work/export/manifests/round-3.env" ]' \
	"the export holds the manifests of model versions 0..2"
check '! grep -q "\"host\":\($bad\|$friend\)," "$work"/export/manifests/round-*.env' \
	"no result of bad-client's hosts is in any model manifest"
merged_bad=0
for h in $(sed -n 's/^bad-client: sent .* output \([0-9a-f]*\): 201 accepted.*/\1/p' "$work/mallory.log"); do
	grep -q "\"output\":\"$h" "$work"/export/manifests/round-*.env && merged_bad=1
done
check '[ $merged_bad -eq 0 ]' "no output bad-client sent is merged"
check '"$demo_admin" audit --dir "$work/export" --pub "$work/export/coordinator.pub" \
	>"$work/audit.out" 2>&1' "agora-admin audit passes on the export"
sed 's/^/# /' "$work/audit.out"
for r in 0 1 2; do
	rm -rf "$work/bad-export"
	cp -R "$work/export" "$work/bad-export"
	demo_flip_byte "$work/bad-export/manifests/round-$r.env"
	check '! "$demo_admin" audit --dir "$work/bad-export" --pub "$work/export/coordinator.pub" \
		--no-eval >"$work/bad-audit.out" 2>&1 && grep -q "round $r" "$work/bad-audit.out"' \
		"one byte altered in manifest $r: the audit fails at round $r"
	sed -n '$s/^/# /p' "$work/bad-audit.out"
done

ledger=$work/server/ledger.log
pub=$work/server/keys/coordinator.pub
check '"$demo_admin" ledger verify --file "$ledger" --pub "$pub" --totals host \
	>"$work/ledger.out" 2>&1' "agora-admin ledger verify passes"
sed 's/^/# /' "$work/ledger.out"
check '! grep -q "^host \($bad\|$friend\) " "$work/ledger.out"' "bad-client's hosts earned no credit"
size=$(wc -c <"$ledger")
for at in 20 $((size / 2)) $((size - 20)); do
	cp "$ledger" "$work/bad-ledger.log"
	demo_flip_byte "$work/bad-ledger.log" $at
	check '! "$demo_admin" ledger verify --file "$work/bad-ledger.log" --pub "$pub" \
		>"$work/bad-ledger.out" 2>&1' "one byte altered at offset $at of $size: ledger verify fails"
	sed 's/^/# /' "$work/bad-ledger.out"
done

check '"$demo_sample" --model "$work/export/model.bin" --bytes 16 >"$work/sample.out" 2>&1 &&
	[ $(wc -c <"$work/sample.out") -ge 20 ]' "demo/sample writes text from the exported model"
sed 's/^/# /' "$work/sample.out"
tap_done
