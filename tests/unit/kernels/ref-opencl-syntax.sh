#!/bin/sh
# ref-opencl-syntax.sh - checks that kernels/fmath.h and kernels/ref/elem.h
# (the per-element ops the OpenCL kernels share with the C reference)
# compile as OpenCL C 1.2 with clang, warnings on. Prints TAP; skips
# without a clang that has OpenCL's default header.
top=${srcdir:-.}
clang=${CLANG:-clang}
if ! command -v "$clang" >/dev/null 2>&1; then
	echo "1..0 # SKIP no clang"
	exit 0
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ref-cl.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/probe.cl" <<'CL'
#include "kernels/ref/elem.h"
__kernel void probe_matmul(__global const float *x, __global const float *w,
			   __global const float *b, __global float *y, int K, int N)
{
	int m = get_global_id(1), n = get_global_id(0);
	y[m * N + n] = elem_matmul_fwd(x, w, b, K, m, n);
}
__kernel void probe_math(__global float *y)
{
	int i = get_global_id(0);
	y[i] = elem_gelu_bwd(y[i], 1.0f) + fmath_log(y[i]) + fmath_tanh(y[i]) +
	       fmath_div(y[i], 3.0f) + fmath_sqrt(y[i]);
}
__kernel void probe_attn(__global const float *qkv, __global float *att, int T, int C, int NH)
{
	elem_attn_softmax(qkv, att, T, C, NH, 0.25f, 0, get_global_id(1), get_global_id(0));
}
CL
if "$clang" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -fsyntax-only -Wall -Wextra \
	-Werror -I"$top" "$tmp/probe.cl" >"$tmp/log" 2>&1; then
	echo "ok 1 - fmath.h and ref/elem.h compile as OpenCL C 1.2 (clang -Wall -Wextra -Werror)"
	echo "1..1"
	exit 0
fi
if grep -q "opencl-c.h\|finclude-default-header\|unknown argument" "$tmp/log"; then
	echo "1..0 # SKIP clang has no OpenCL C support"
	exit 0
fi
echo "not ok 1 - fmath.h and ref/elem.h compile as OpenCL C 1.2"
sed 's/^/# /' "$tmp/log"
echo "1..1"
exit 1
