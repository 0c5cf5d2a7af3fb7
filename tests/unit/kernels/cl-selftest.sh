#!/bin/sh
# cl-selftest.sh - runs `agora-client devices` and a one-step
# `agora-client selftest` (every usable OpenCL device against the C
# reference, by BLAKE2b-256 of the final parameters). Prints TAP; skips
# when this machine has no usable OpenCL device.
client=${top_builddir:-.}/agora-client
# Under --enable-sanitizers, leaks inside the OpenCL driver (PoCL, LLVM)
# are not ours: suppress those, keep reporting the rest.
supp=$(mktemp) || exit 1
trap 'rm -f "$supp"' EXIT
printf 'leak:libpocl\nleak:libLLVM\nleak:libOpenCL\nleak:libclang\n' > "$supp"
LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
out=$("$client" devices 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
	echo "not ok 1 - agora-client devices exits 0 (got $rc)"
	echo "$out" | sed 's/^/# /'
	echo "1..1"
	exit 1
fi
if ! echo "$out" | grep -q '^    usable$'; then
	echo "1..0 # SKIP no usable OpenCL device"
	exit 0
fi
echo "ok 1 - agora-client devices lists a usable device"
out=$("$client" selftest --steps 1 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ] && echo "$out" | grep -q 'ok, all hashes equal'; then
	echo "ok 2 - agora-client selftest: every device matches the reference"
else
	echo "not ok 2 - agora-client selftest (exit $rc)"
fi
"$client" frobnicate >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then
	echo "ok 3 - an unknown command exits 2"
else
	echo "not ok 3 - an unknown command exits 2 (got $rc)"
fi
echo "1..3"
