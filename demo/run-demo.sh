#!/bin/sh
# run-demo.sh - `make demo`: a whole Agora project on this machine, in a few
# minutes. agora-server on 127.0.0.1 with a fresh state directory, an admin
# key, a text corpus ingested as a signed dataset (Debian's fortunes, or
# the files in $CORPUS), a gpt-tiny training job, three honest agora-client
# volunteers and one misbehaving one (tests/e2e/bad-client); per round the
# eval loss, the units validated and the results rejected and why; at the
# end a text sample from the final model, the audit of the exported model
# and the check of the credit ledger. docs/DEMO.md says what to look at.
#
#   QUICK=1   a shorter job (2 rounds; under 2 minutes on 2 cores)
#   CORPUS="a.txt b.txt"   train on these files instead of the fortunes
#   KEEP=1    leave the server running at the end (dashboard) and keep
#             the demo's directory
#
# Run by `make demo` in the build directory ($top_builddir). Exit status 0
# when the job finished, the audit and the ledger check passed.
set -u
top=$(cd "${top_builddir:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
QUICK=${QUICK:-}
CORPUS=${CORPUS:-}
KEEP=${KEEP:-}
. "$here/lib.sh"

if [ -n "$QUICK" ] && [ "$QUICK" != 0 ]; then
	rounds=2 units=3 steps=6 batch=2 eval_seqs=8 limit=240 sample_bytes=80
	what="quick demo"
else
	rounds=7 units=4 steps=24 batch=4 eval_seqs=16 limit=900 sample_bytes=120
	what="demo"
fi
job=demo

for p in "$demo_server" "$demo_admin" "$demo_client" "$demo_bad" "$demo_sample"; do
	if [ ! -x "$p" ]; then
		echo "run-demo.sh: '$p' is not built (run it with 'make demo')" >&2
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/agora-demo-XXXXXX") || exit 1
finished=0
demo_cleanup() {
	if [ -n "$KEEP" ] && [ "$KEEP" != 0 ] && [ $finished -eq 1 ]; then
		demo_stop_clients
		echo
		echo "KEEP=1: the server is still running (pid $demo_spid):"
		echo "  dashboard      $demo_url/"
		echo "  admin          $demo_admin --server $demo_url --key $work/keys/admin.key job status $job"
		echo "  stop it with   kill $demo_spid"
		echo "  files          $work"
		return
	fi
	demo_stop_all
	if [ -n "$KEEP" ] && [ "$KEEP" != 0 ]; then
		echo "KEEP=1: the demo's files are in $work"
	else
		rm -rf "$work"
	fi
}
trap 'demo_cleanup' EXIT
trap 'echo; echo "interrupted"; exit 130' INT TERM

t0=$(date +%s)
elapsed() { echo $(($(date +%s) - t0)); }
say() { printf '[%3ss] %s\n' "$(elapsed)" "$*"; }
die() {
	say "FAILED: $*"
	for f in server ann bob cat mallory; do
		[ -f "$work/$f.log" ] && { echo "--- last lines of $f.log"; tail -n 5 "$work/$f.log"; }
	done
	exit 1
}

echo "Agora $what: a coordinator, three honest volunteers and a cheating one,"
echo "training gpt-tiny ($rounds rounds x $units units x $steps steps, batch $batch, quorum 2)."
echo

# ---- the corpus
if [ -n "$CORPUS" ]; then
	files=$CORPUS
	dsname=corpus
	source="files named by CORPUS"
	owner=${USER:-you}
	licence="as the files' owners grant"
else
	files=""
	for f in /usr/share/games/fortunes/*; do
		case $f in *.dat | *.u8) continue ;; esac
		[ -f "$f" ] && [ ! -L "$f" ] && files="$files $f"
	done
	if [ -z "$files" ]; then
		echo "run-demo.sh: no corpus: install Debian's 'fortunes' package" \
			"(apt-get install fortunes) or name text files: make demo CORPUS=\"a.txt b.txt\"" >&2
		exit 1
	fi
	dsname=fortunes
	source="Debian package fortunes, /usr/share/games/fortunes"
	owner="the fortune-mod authors (Debian)"
	licence="BSD-4-Clause and public domain (see /usr/share/doc/fortunes/copyright)"
fi
# shellcheck disable=SC2086
cat $files >"$work/corpus.txt" || die "cannot read the corpus: $files"
nfiles=$(echo $files | wc -w)
corpus_bytes=$(wc -c <"$work/corpus.txt")
[ "$corpus_bytes" -ge 65536 ] || die "the corpus has $corpus_bytes bytes; it needs at least 64 KiB"

# ---- the coordinator
demo_start_server || die "agora-server does not start"
say "agora-server is up at $demo_url (state in $work/server)"
say "dashboard: $demo_url/  (open it while the demo runs)"

demo_adm dataset add "$work/corpus.txt" --name "$dsname" --owner "$owner" \
	--licence "$licence" --source "$source" >"$work/dataset.out" 2>&1 ||
	die "dataset add: $(cat "$work/dataset.out")"
say "dataset '$dsname': $nfiles files, $corpus_bytes bytes, signed by the admin key:" \
	"$(sed -n 's/^dataset [^:]*: //p' "$work/dataset.out")"

demo_spec "$job" "$dsname" $rounds $units $steps $batch $eval_seqs >"$work/spec.json"
demo_adm job create "$work/spec.json" >"$work/job.out" 2>&1 || die "job create: $(cat "$work/job.out")"
demo_adm job status $job >"$work/status.txt" 2>&1 || die "job status: $(cat "$work/status.txt")"
loss0=$(sed -n 's/^  model 0: eval loss \([0-9.]*\),.*/\1/p' "$work/status.txt")
say "job '$job' created: model 0 (random weights) has eval loss $loss0"

# ---- the volunteers
demo_pick_device
say "compute device: $demo_device_name"
demo_start_clients || die "the clients do not start"
i=0
while [ -z "$(demo_bad_host)" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
bad=$(demo_bad_host)
say "volunteers: ann, bob, cat (agora-client) and mallory (bad-client, host ${bad:-?})"
echo

# ---- the rounds
# One line per model version N: "N LOSS STATE VALIDATED ACTIVE FAILED".
models() {
	sed -n 's/^  model \([0-9]*\): eval loss \([0-9.]*\), \([a-z]*\); units \([0-9]*\) validated, \([0-9]*\) active, \([0-9]*\) failed$/\1 \2 \3 \4 \5 \6/p' \
		"$work/status.txt"
}
# The rejected results of round R: "replica X (host H, unit U): REASON; ..."
rejected_in() {
	sed -n "s/^  rejected: replica \([0-9]*\) from host \([0-9]*\) (round $1, unit \([0-9]*\)): \(.*\)/replica \1 (host \2, unit \3): \4/p" \
		"$work/status.txt" | paste -sd ';' - | sed 's/;/; /g'
}
shown=0 bad_shown=0 last_progress=$(date +%s) state=running
while :; do
	demo_adm job status $job >"$work/status.txt" 2>/dev/null
	# what the cheater sent, as it happens
	grep '^bad-client: \(sent\|blocked\)' "$work/mallory.log" >"$work/attacks.txt" 2>/dev/null
	n=$(wc -l <"$work/attacks.txt")
	if [ "$n" -gt $bad_shown ]; then
		tail -n +$((bad_shown + 1)) "$work/attacks.txt" |
			while IFS= read -r l; do say "  mallory ${l#bad-client: }"; done
		bad_shown=$n
	fi
	# a new model version: the round before it is merged
	models >"$work/models.txt"
	while read -r v loss st val act fail; do
		[ "$v" -gt "$shown" ] || continue
		prev=$(awk -v r=$((v - 1)) '$1 == r' "$work/models.txt")
		set -- $prev
		rej=$(rejected_in $((v - 1)))
		say "round $((v - 1)) merged -> model $v: eval loss $2 -> $loss;" \
			"$4 units validated; rejected: ${rej:-none}"
		shown=$v
	done <"$work/models.txt"
	state=$(sed -n "s/^job [0-9]* '$job': \([a-z]*\),.*/\1/p" "$work/status.txt")
	[ "$state" = done ] && break
	[ "$(elapsed)" -lt $limit ] || die "the job did not finish in ${limit}s"
	grep -q '^  FAILED unit' "$work/status.txt" && die "a unit failed: $(grep FAILED "$work/status.txt")"
	if [ $(($(date +%s) - last_progress)) -ge 15 ]; then
		cur=$(awk -v r=$shown '$1 == r { print $4 " of '$units' units validated, " $5 " active" }' \
			"$work/models.txt")
		say "  ... round $shown: ${cur:-starting}"
		last_progress=$(date +%s)
	fi
	sleep 1
done
echo
# The status without its text samples (multi-line; the last is shown below).
samples_cut() {
	awk '/^  sample of model [0-9]*: "/ { cut = 1 }
	     /^  (model [0-9]*:|results:)/ { cut = 0 }
	     !cut' "$1"
}
# The coordinator's sample of model $2, if its status has one.
sample_of() {
	awk -v head="  sample of model $2: \"" '
	     index($0, head) == 1 { on = 1; $0 = substr($0, length(head) + 1) }
	     on && /^  (model [0-9]*:|results:)/ { exit }
	     on' "$1" | sed '$ s/"$//'
}
say "job done. The coordinator's view (agora-admin job status $job):"
samples_cut "$work/status.txt" | sed 's/^/        /'
demo_stop_clients
echo

# ---- what a third party checks
demo_adm model export $job --out "$work/export" >"$work/export.out" 2>&1 ||
	die "model export: $(cat "$work/export.out")"
say "$(cat "$work/export.out")"
say "agora-admin audit --dir export --pub export/coordinator.pub (re-derives every version):"
"$demo_admin" audit --dir "$work/export" --pub "$work/export/coordinator.pub" >"$work/audit.out" 2>&1
audit_rc=$?
sed 's/^/        /' "$work/audit.out"
[ $audit_rc -eq 0 ] || die "the audit failed"
say "agora-admin ledger verify (the signed, hash-chained credit ledger):"
"$demo_admin" ledger verify --file "$work/server/ledger.log" --pub "$work/server/keys/coordinator.pub" \
	--totals account >"$work/ledger.out" 2>&1
ledger_rc=$?
sed 's/^/        /' "$work/ledger.out"
[ $ledger_rc -eq 0 ] || die "the ledger check failed"
if [ -n "$bad" ] && grep -q "\"host\":$bad," "$work"/export/manifests/round-*.env; then
	die "a result of the bad host was merged"
fi
say "no result of mallory (host $bad) is in any model manifest"
echo

# ---- the model writes
sample_of "$work/status.txt" $rounds >"$work/sample.out"
if [ -s "$work/sample.out" ]; then
	say "a sample from the final model (written by the coordinator with model $rounds):"
else
	# a coordinator that stores no samples: make one from the export
	prompt="Q: "
	[ -n "$CORPUS" ] && prompt=$(head -c 12 "$work/corpus.txt" | tr -c '[:print:]' ' ')
	say "a sample from the final model (demo/sample: C reference, temperature 0.8):"
	"$demo_sample" --model "$work/export/model.bin" --prompt "$prompt" --bytes $sample_bytes \
		>"$work/sample.out" 2>&1 || die "sample: $(cat "$work/sample.out")"
fi
echo "--------"
cat "$work/sample.out"
echo "--------"
say "the $what finished in $(elapsed)s"
finished=1
