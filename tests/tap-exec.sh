#!/bin/sh
# tap-exec.sh - runs one test program for automake's TAP driver.
#
# A test that cannot run here prints "1..0 # SKIP reason" and exits 77
# (the house convention). The TAP driver would call any non-zero exit an
# ERROR, so this wrapper turns 77 into 0: the plan already says SKIP.
"$@"
rc=$?
[ "$rc" -eq 77 ] && exit 0
exit "$rc"
