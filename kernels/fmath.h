/*
 * fmath.h - deterministic scalar float math shared verbatim by the C
 * reference and the OpenCL kernels.
 *
 * Every function here is built from IEEE-754 binary32 +, -, *, fma and bit
 * casts only, with a fixed algorithm and fixed constants, so any conforming
 * implementation (a C11 compiler with -ffp-contract=off and no fast-math, an
 * OpenCL C 1.2 device with round-to-nearest, correctly rounded fma and fp32
 * denormals) computes bitwise-identical results. No libm transcendental, no
 * float division, no sqrt is used: those differ between vendors.
 *
 * The text is in the common subset of C11 and OpenCL C 1.2:
 *   FMATH_FN          static inline in both languages
 *   FMATH_FMA(a,b,c)  a*b+c rounded once: fmaf in C, fma in OpenCL
 *   AGORA_GLOBAL      empty in C, __global in OpenCL (pointer arguments)
 *   fmath_as_uint/fmath_as_float  bit casts (memcpy in C, as_uint/as_float)
 * Float literals always carry the f suffix (an unsuffixed literal is a
 * double in OpenCL, which a device may not have).
 *
 * Denormal rule: IEEE denormals everywhere, never flushed. The OpenCL
 * engine only accepts devices that report CL_FP_DENORM for single precision.
 *
 * Accuracy (measured by tests/unit/kernels/ref-fmath-test.c against glibc,
 * in ulps of the float result): exp 1, log 2, recip 1, div 1 (1/b must
 * be finite), rsqrt 1, sqrt 1 (2 on denormal inputs), sigmoid 2. Accuracy matters less
 * than determinism; the test also pins the exact bits with a checksum.
 */
#ifndef AGORA_KERNELS_FMATH_H
#define AGORA_KERNELS_FMATH_H

/* AGORA_OPENCL: set when compiled as OpenCL C (__OPENCL_C_VERSION__ is
 * the 1.2+ name; some compilers only define __OPENCL_VERSION__). */
#if defined(__OPENCL_C_VERSION__) || defined(__OPENCL_VERSION__)
#define AGORA_OPENCL 1
#endif

#ifdef AGORA_OPENCL

#pragma OPENCL FP_CONTRACT OFF
#define FMATH_FN           static inline
#define FMATH_FMA(a, b, c) fma((a), (b), (c))
#define AGORA_GLOBAL       __global

FMATH_FN unsigned int fmath_as_uint(float x)
{
	return as_uint(x);
}

FMATH_FN float fmath_as_float(unsigned int u)
{
	return as_float(u);
}

#else /* C11 */

#include <math.h>
#include <string.h>

#if defined(__FLT_EVAL_METHOD__) && __FLT_EVAL_METHOD__ != 0
#error "fmath.h needs FLT_EVAL_METHOD 0 (SSE, not x87): build with -msse2 -mfpmath=sse"
#endif
_Static_assert(sizeof(unsigned int) == 4 && sizeof(float) == 4,
	       "fmath.h needs 32-bit unsigned int and float");

#define FMATH_FN           static inline
#define FMATH_FMA(a, b, c) fmaf((a), (b), (c))
#define AGORA_GLOBAL

FMATH_FN unsigned int fmath_as_uint(float x)
{
	unsigned int u;
	memcpy(&u, &x, sizeof(u));
	return u;
}

FMATH_FN float fmath_as_float(unsigned int u)
{
	float x;
	memcpy(&x, &u, sizeof(x));
	return x;
}

#endif

#define FMATH_INF_BITS 0x7f800000u
#define FMATH_NAN_BITS 0x7fc00000u

FMATH_FN float fmath_inf(void)
{
	return fmath_as_float(FMATH_INF_BITS);
}

FMATH_FN float fmath_nan(void)
{
	return fmath_as_float(FMATH_NAN_BITS);
}

FMATH_FN float fmath_abs(float x)
{
	return fmath_as_float(fmath_as_uint(x) & 0x7fffffffu);
}

/* 2^e as a float for -126 <= e <= 127 (exact, built from bits). */
FMATH_FN float fmath_pow2i(int e)
{
	return fmath_as_float((unsigned int)(e + 127) << 23);
}

/* Larger of a and b by comparison; a when they compare equal (so
 * max(+0,-0) is +0 only by order) and a when b is NaN. */
FMATH_FN float fmath_max(float a, float b)
{
	return b > a ? b : a;
}

/* 1/x for positive finite normal x whose reciprocal is normal: a bit-trick
 * guess (rel. error < 5.1e-2) refined by 4 Newton steps r += r*(1 - x*r),
 * each residual computed exactly with fma. */
FMATH_FN float fmath_recip_core(float x)
{
	float r = fmath_as_float(0x7ef311c3u - fmath_as_uint(x));
	float e;

	e = FMATH_FMA(-x, r, 1.0f);
	r = FMATH_FMA(r, e, r);
	e = FMATH_FMA(-x, r, 1.0f);
	r = FMATH_FMA(r, e, r);
	e = FMATH_FMA(-x, r, 1.0f);
	r = FMATH_FMA(r, e, r);
	e = FMATH_FMA(-x, r, 1.0f);
	r = FMATH_FMA(r, e, r);
	return r;
}

/* 1/x for every float: +-0 -> +-inf, +-inf -> +-0, NaN -> NaN; inputs too
 * small or too large for the core are scaled by 2^+-24 exactly first.
 * Faithful (<= 1 ulp) wherever the result is normal. */
FMATH_FN float fmath_recip(float x)
{
	unsigned int sign = fmath_as_uint(x) & 0x80000000u;
	unsigned int ab = fmath_as_uint(x) & 0x7fffffffu;
	float ax = fmath_as_float(ab);
	float r;

	if (ab > FMATH_INF_BITS)
		return x;
	if (ab == FMATH_INF_BITS)
		return fmath_as_float(sign);
	if (ab == 0u)
		return fmath_as_float(sign | FMATH_INF_BITS);
	if (ab < 0x00800000u) /* denormal: 1/x = 2^24 * 1/(x*2^24) */
		r = fmath_recip_core(ax * 16777216.0f) * 16777216.0f;
	else if (ab >= 0x7e800000u) /* x >= 2^126: reciprocal is denormal */
		r = fmath_recip_core(ax * 5.9604644775390625e-8f) * 5.9604644775390625e-8f;
	else
		r = fmath_recip_core(ax);
	return fmath_as_float(fmath_as_uint(r) | sign);
}

/* a/b: q = a*(1/b), then one fma-residual correction. <= 1 ulp where the
 * quotient and 1/b are normal. Used instead of the '/' operator. */
FMATH_FN float fmath_div(float a, float b)
{
	float r = fmath_recip(b);
	float q = a * r;
	float res = FMATH_FMA(-b, q, a);

	return FMATH_FMA(res, r, q);
}

/* 1/sqrt(x): +0 -> +inf, x < 0 -> NaN, +inf -> +0. A bit-trick guess
 * (rel. error < 1.8e-3) and 3 Newton steps r += r/2 * (1 - x*r*r);
 * denormal x is scaled by 2^24 first (result scaled by 2^12). */
FMATH_FN float fmath_rsqrt(float x)
{
	unsigned int u = fmath_as_uint(x);
	float post = 1.0f;
	float r, e;
	int i;

	if (u > FMATH_INF_BITS) /* negative (incl. -0 handled below) or NaN */
		return (u == 0x80000000u) ? -fmath_inf() : fmath_nan();
	if (u == FMATH_INF_BITS)
		return 0.0f;
	if (u == 0u)
		return fmath_inf();
	if (u < 0x00800000u) {
		x = x * 16777216.0f;
		post = 4096.0f;
		u = fmath_as_uint(x);
	}
	r = fmath_as_float(0x5f375a86u - (u >> 1));
	for (i = 0; i < 3; i++) {
		float xr = x * r;
		e = FMATH_FMA(-xr, r, 1.0f);
		r = FMATH_FMA(r * 0.5f, e, r);
	}
	return r * post;
}

/* sqrt(x) = x * rsqrt(x) with one fma-residual correction; +-0 -> +-0,
 * +inf -> +inf, x < 0 -> NaN. */
FMATH_FN float fmath_sqrt(float x)
{
	float r, s, e;

	if (x == 0.0f || x == fmath_inf())
		return x;
	r = fmath_rsqrt(x);
	s = x * r;
	e = FMATH_FMA(-s, s, x);
	return FMATH_FMA(e, r * 0.5f, s);
}

/* e^x. n = round(x*log2(e)) by the 1.5*2^23 trick, r = x - n*ln2 in two
 * fma steps (Cody-Waite), e^r by a degree-7 Taylor polynomial in Horner
 * form with fma, then scaled by 2^(n/2) (exact) and 2^(n-n/2) (rounds
 * once, so denormal results round once). x > 88.7228394 ->
 * +inf, x < -103.972084 -> 0, NaN -> NaN. */
FMATH_FN float fmath_exp(float x)
{
	float t, big, n, r, p;
	int ni, n1;

	if (x != x)
		return x;
	if (x > 88.7228394f)
		return fmath_inf();
	if (x < -103.972084f)
		return 0.0f;
	t = x * 1.44269502f;
	big = t + 12582912.0f;
	n = big - 12582912.0f;
	r = FMATH_FMA(-n, 0.693145752f, x);
	r = FMATH_FMA(-n, 1.42860677e-6f, r);
	p = 1.98412698e-4f;
	p = FMATH_FMA(p, r, 1.38888889e-3f);
	p = FMATH_FMA(p, r, 8.33333333e-3f);
	p = FMATH_FMA(p, r, 4.16666667e-2f);
	p = FMATH_FMA(p, r, 1.66666667e-1f);
	p = FMATH_FMA(p, r, 0.5f);
	p = FMATH_FMA(p, r, 1.0f);
	p = FMATH_FMA(p, r, 1.0f);
	ni = (int)n;
	n1 = ni / 2;
	/* the last scaling is an fma with +0, the same value as the product
	 * (the result is positive), so that a caller's `sum + exp(x)` holds no
	 * product a compiler could fuse (it would round differently when the
	 * result is denormal) */
	return FMATH_FMA(p * fmath_pow2i(n1), fmath_pow2i(ni - n1), 0.0f);
}

/* Natural logarithm: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * s = (m-1)/(m+1), log m = 2s + 2s*(z/3 + z^2/5 + z^3/7 + z^4/9) with z=s*s,
 * result = e*ln2_hi + (e*ln2_lo + log m). +0 -> -inf, x < 0 -> NaN,
 * +inf -> +inf. Only the loss value uses it (never a gradient). */
FMATH_FN float fmath_log(float x)
{
	unsigned int u = fmath_as_uint(x);
	int e = 0;
	float m, f, s, z, p, s2, lm, ef;

	if (u > FMATH_INF_BITS || x != x)
		return (u == 0x80000000u) ? -fmath_inf() : fmath_nan();
	if (u == FMATH_INF_BITS)
		return x;
	if (u == 0u)
		return -fmath_inf();
	if (u < 0x00800000u) {
		x = x * 8388608.0f;
		u = fmath_as_uint(x);
		e = -23;
	}
	e += (int)(u >> 23) - 127;
	m = fmath_as_float((u & 0x007fffffu) | 0x3f800000u);
	if (m > 1.41421354f) {
		m = m * 0.5f;
		e += 1;
	}
	f = m - 1.0f;
	s = fmath_div(f, f + 2.0f);
	z = s * s;
	p = 0.111111111f;
	p = FMATH_FMA(p, z, 0.142857143f);
	p = FMATH_FMA(p, z, 0.2f);
	p = FMATH_FMA(p, z, 0.333333333f);
	p = p * z;
	s2 = s + s;
	lm = FMATH_FMA(s2, p, s2);
	ef = (float)e;
	return FMATH_FMA(ef, 0.693145752f, FMATH_FMA(ef, 1.42860677e-6f, lm));
}

/* Logistic sigmoid 1/(1+e^-x), argument clamped to [-80, 80] so that the
 * denominator stays finite and the result normal. */
FMATH_FN float fmath_sigmoid(float x)
{
	float z = -x;

	z = z > 80.0f ? 80.0f : z;
	z = z < -80.0f ? -80.0f : z;
	return fmath_recip(1.0f + fmath_exp(z));
}

/* tanh(x) = 2*sigmoid(2x) - 1. Absolute error <= 2e-7 (relative accuracy
 * is poor near 0, where the subtraction cancels); provided for tools, the
 * kernels use the sigmoid form of GELU directly. */
FMATH_FN float fmath_tanh(float x)
{
	return FMATH_FMA(2.0f, fmath_sigmoid(x + x), -1.0f);
}

#endif
