# tap.sh - TAP for the shell tests, sourced after `set -u`:
#
#   ok DESC / not_ok DESC   one test point, passed or failed
#   check 'COMMAND' DESC    COMMAND is eval'd: ok when it exits 0
#   skip_all REASON         the whole test skips (plan 1..0), exit 0
#   tap_done                prints the plan and exits 1 if any failed
#
# Shell tests run under $(SHELL), not tests/tap-exec.sh, so a skip is a
# plan of 1..0 with exit 0 rather than exit 77.
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { if eval "$1"; then ok "$2"; else not_ok "$2"; fi; }
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
tap_done() { echo "1..$n"; exit $fail; }
