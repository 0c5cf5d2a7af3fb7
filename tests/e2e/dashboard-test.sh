#!/bin/sh
# dashboard-test.sh - the dashboard in a real browser. Starts agora-server
# on 127.0.0.1 (a free port), adds a dataset and a 2-round gpt-test job
# with agora-admin, lets tests/e2e/dashboard-drive compute it with the C
# reference as three hosts (one zero delta rejected; the account name
# <script>alert(1)</script> refused by the API, then written into the
# database directly), then loads /, /jobs/1 and /volunteers in headless
# Chromium: the dumped DOM must show the figures the JSON API reports and
# the script name as text, never as a <script> element. Takes screenshots
# of the job page at 1920x1080 and 375x800 (kept in tests/e2e/ of the build
# directory, named in the log), checks that /metrics parses as Prometheus
# text and that its counters moved. Prints TAP. Without chromium it prints
# a SKIP plan and exits 77, or 0 under `make check` (automake's TAP driver
# calls any other status an error; the plan says SKIP).
set -u
top=${top_builddir:-.}
server=$top/agora-server
admin=$top/agora-admin
drive=$top/tests/e2e/dashboard-drive
promcheck=$top/tests/unit/server-tools/metrics-test
. "${srcdir:-.}/tests/tap.sh"

skip_all() {
	echo "1..0 # SKIP $1"
	[ -n "${top_builddir:-}" ] && exit 0
	exit 77
}

browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || skip_all "chromium is not installed"
command -v curl >/dev/null 2>&1 || skip_all "curl is not installed"
for b in "$server" "$admin" "$drive" "$promcheck"; do
	[ -x "$b" ] || skip_all "$b is not built"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/agora-dash-XXXXXX") || exit 1
spid=""
cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	if [ -n "${AGORA_KEEP_TMP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

# Headless Chromium, bounded in time; its own profile in $tmp.
chrome() {
	timeout 90 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
		--disable-dev-shm-usage --hide-scrollbars --user-data-dir="$tmp/chrome" "$@" \
		2>>"$tmp/chrome.log"
}

mkdir -p "$tmp/keys"
"$admin" keygen --out "$tmp/keys" >/dev/null 2>&1
"$server" --state "$tmp/state" --listen 127.0.0.1:0 --threads 2 --name "dash & <test>" \
	--admin-key "$tmp/keys/admin.pub" >"$tmp/server.log" 2>&1 &
spid=$!
port=""
i=0
while [ $i -lt 200 ] && [ -z "$port" ] && kill -0 "$spid" 2>/dev/null; do
	port=$(sed -n 's/.*(port \([0-9][0-9]*\)).*/\1/p' "$tmp/server.log" | head -n 1)
	[ -n "$port" ] || sleep 0.05
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
metric() { sed -n "s/^$2 //p" "$1" | head -n 1; }

curl -s "$url/metrics" >"$tmp/metrics0.txt"
check '"$promcheck" --check "$tmp/metrics0.txt" >/dev/null' "/metrics parses before any work"

awk 'BEGIN { for (i = 0; i < 600; i++)
	printf "the grid trains a small model with many hosts; line %d checks %d\n", i, i * 7 }' \
	>"$tmp/corpus.txt"
check 'adm dataset add "$tmp/corpus.txt" --owner tests --licence CC0-1.0 --source generated \
	--name words --shard-size 16384 >"$tmp/admin.log" 2>&1' "agora-admin dataset add"
cat >"$tmp/spec.json" <<SPEC
{"name": "tiny", "preset": "gpt-test", "dataset": "words", "seed": 7,
 "hyper": {"lr": 0.01, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
           "weight_decay": 0.0, "clip": 1.0, "batch": 4},
 "inner_steps": 6, "units_per_round": 2, "quorum": 2, "max_replicas": 4, "rounds": 2,
 "outer": {"lr": 0.7, "momentum": 0.5}, "validation": {"mode": "exact"},
 "eval": {"bytes": 2048, "sequences": 32}}
SPEC
check 'adm job create "$tmp/spec.json" >>"$tmp/admin.log" 2>&1' "agora-admin job create"
check '"$drive" run "$url" "$tmp/state/state.db" 2>"$tmp/drive.log"' \
	"three hosts compute the job's two rounds (one zero delta rejected)"
sed 's/^/# /' "$tmp/drive.log"

for page in overview job volunteers; do
	case $page in
	overview) path=/ ;;
	job) path=/jobs/1 ;;
	volunteers) path=/volunteers ;;
	esac
	chrome --dump-dom "$url$path" >"$tmp/dom-$page.html"
	check '[ -s "$tmp/dom-$page.html" ] && grep -q "</html>" "$tmp/dom-$page.html"' \
		"chromium renders $path"
	check '"$drive" compare "$url" $page "$tmp/dom-$page.html" 2>"$tmp/cmp-$page.log"' \
		"$path shows the figures of its JSON (same numbers)"
	sed 's/^/# /' "$tmp/cmp-$page.log"
done
check 'grep -q "&lt;script&gt;alert(1)&lt;/script&gt;" "$tmp/dom-volunteers.html" &&
	! grep -q "<script" "$tmp/dom-volunteers.html"' \
	"the account <script>alert(1)</script> shows as text, no <script> element"
check 'grep -q "dash &amp; &lt;test&gt;" "$tmp/dom-job.html"' "the project name is escaped"
csp=$(curl -sI "$url/jobs/1" | tr -d '\r' | sed -n 's/^Content-Security-Policy: //Ip')
check '[ "$csp" = "default-src '"'"'none'"'"'; style-src '"'"'unsafe-inline'"'"'; img-src data:" ]' \
	"pages carry the strict Content-Security-Policy"

mkdir -p "$top/tests/e2e"
for size in 1920,1080 375,800; do
	png=$top/tests/e2e/dashboard-job-${size%,*}.png
	rm -f "$png"
	chrome --screenshot="$png" --window-size=$size "$url/jobs/1" >/dev/null
	check '[ -s "$png" ] && [ "$(head -c 4 "$png" | tail -c 3)" = PNG ]' \
		"screenshot of the job page at $size: $png"
done

curl -s "$url/metrics" >"$tmp/metrics1.txt"
check '"$promcheck" --check "$tmp/metrics1.txt" >/dev/null' "/metrics parses after the job"
r0=$(metric "$tmp/metrics0.txt" 'agora_http_requests_total{endpoint="results"}')
r1=$(metric "$tmp/metrics1.txt" 'agora_http_requests_total{endpoint="results"}')
check '[ "${r0:-x}" = 0 ] && [ "${r1:-0}" -ge 4 ]' "result uploads counted ($r0 -> $r1)"
u1=$(metric "$tmp/metrics1.txt" 'agora_units{state="validated"}')
m1=$(metric "$tmp/metrics1.txt" 'agora_rounds_merged_total')
v1=$(metric "$tmp/metrics1.txt" 'agora_results{validation="invalid"}')
check '[ "$u1" = 4 ] && [ "$m1" = 2 ] && [ "$v1" = 1 ]' \
	"units validated 4, rounds merged 2, results invalid 1 (got $u1, $m1, $v1)"

kill "$spid" && wait "$spid"
spid=""
tap_done
