/*
 * ref-fmath-test.c - kernels/fmath.h against glibc: accuracy in ulps over
 * random and swept inputs, special values, and a checksum that pins the
 * exact output bits (the OpenCL side must reproduce the same checksums).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernels/fmath.h"
#include "tests/tap.h"

#define N_RANDOM 1000000

/* Distance in ulps between a float result and the double reference
 * rounded to float; equal infinities are 0 apart. */
static int64_t ulps(float got, double want)
{
	float w = (float)want;
	int32_t a, b;

	if (got == w || (isnan(got) && isnan(w)))
		return 0;
	if (isinf(got) || isinf(w) || isnan(got) || isnan(w))
		return INT64_MAX;
	memcpy(&a, &got, 4);
	memcpy(&b, &w, 4);
	a = a < 0 ? (int32_t)(0x80000000u - (uint32_t)a) : a;
	b = b < 0 ? (int32_t)(0x80000000u - (uint32_t)b) : b;
	return a > b ? (int64_t)a - b : (int64_t)b - a;
}

static uint64_t lcg_state = 0x243f6a8885a308d3ull;

static uint32_t lcg_next(void)
{
	lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(lcg_state >> 32);
}

/* A random finite float with uniformly distributed bits. */
static float random_float(void)
{
	for (;;) {
		float x = fmath_as_float(lcg_next());
		if (isfinite(x))
			return x;
	}
}

static uint64_t fnv(uint64_t h, float x)
{
	uint32_t u = fmath_as_uint(x);

	for (int i = 0; i < 4; i++) {
		h ^= (u >> (8 * i)) & 0xffu;
		h *= 0x100000001b3ull;
	}
	return h;
}

struct acc {
	const char *name;
	int64_t worst;
	float worst_x;
	long n;
};

static void acc_add(struct acc *a, float x, float got, double want)
{
	int64_t u = ulps(got, want);

	a->n++;
	if (u > a->worst) {
		a->worst = u;
		a->worst_x = x;
	}
}

static void acc_report(const struct acc *a, int64_t bound)
{
	if (!tap_ok(a->worst <= bound, "%s: max %lld ulp over %ld inputs (bound %lld)", a->name,
		    (long long)a->worst, a->n, (long long)bound))
		tap_diag("  worst input %a", (double)a->worst_x);
}

static void test_accuracy(void)
{
	struct acc e = {"exp", 0, 0, 0}, l = {"log", 0, 0, 0}, r = {"recip", 0, 0, 0};
	struct acc d = {"div", 0, 0, 0}, q = {"rsqrt", 0, 0, 0}, s = {"sqrt", 0, 0, 0};
	struct acc sg = {"sigmoid", 0, 0, 0};
	double tanh_err = 0.0;

	for (long i = 0; i < N_RANDOM; i++) {
		float x = random_float(), ax = fabsf(x), y = random_float();
		/* exp over its whole finite range, uniformly in value */
		float xe = -103.0f + 191.7f * (float)(lcg_next() >> 8) * 5.96046448e-8f;
		float xt = -20.0f + 40.0f * (float)(lcg_next() >> 8) * 5.96046448e-8f;
		double qd = (double)x / (double)y;

		acc_add(&e, xe, fmath_exp(xe), exp((double)xe));
		acc_add(&e, x, fmath_exp(x), exp((double)x));
		if (ax > 0.0f) {
			acc_add(&l, ax, fmath_log(ax), log((double)ax));
			acc_add(&q, ax, fmath_rsqrt(ax), 1.0 / sqrt((double)ax));
			acc_add(&s, ax, fmath_sqrt(ax), sqrt((double)ax));
		}
		if (ax >= 1.17549435e-38f && ax <= 8.50705917e37f)
			acc_add(&r, x, fmath_recip(x), 1.0 / (double)x);
		if (fabsf(y) >= 1.17549435e-38f && fabs(qd) >= 1.17549435e-38 && fabs(qd) < 3.4e38)
			acc_add(&d, x, fmath_div(x, y), qd);
		acc_add(&sg, xt, fmath_sigmoid(xt), 1.0 / (1.0 + exp(-(double)xt)));
		tanh_err = fmax(tanh_err, fabs((double)fmath_tanh(xt) - tanh((double)xt)));
	}
	acc_report(&e, 2);
	acc_report(&l, 2);
	acc_report(&r, 1);
	acc_report(&d, 1);
	acc_report(&q, 2);
	acc_report(&s, 2);
	acc_report(&sg, 4);
	tap_ok(tanh_err <= 3e-7, "tanh: max abs error %.3g on [-20,20] (bound 3e-7)", tanh_err);
}

static int same_bits(float a, float b)
{
	return fmath_as_uint(a) == fmath_as_uint(b);
}

static void test_specials(void)
{
	float inf = fmath_inf(), dmin = 1.40129846e-45f;

	tap_ok(fmath_exp(0.0f) == 1.0f && fmath_exp(-inf) == 0.0f && fmath_exp(inf) == inf &&
		   isnan(fmath_exp(fmath_nan())) && fmath_exp(89.0f) == inf &&
		   fmath_exp(-104.0f) == 0.0f,
	       "exp: 0, +-inf, NaN, overflow, underflow");
	tap_ok(fmath_exp(-100.0f) > 0.0f && fmath_exp(-100.0f) < 1.17549435e-38f,
	       "exp: denormal results");
	tap_ok(fmath_log(1.0f) == 0.0f && fmath_log(0.0f) == -inf && isnan(fmath_log(-1.0f)) &&
		   fmath_log(inf) == inf && isnan(fmath_log(fmath_nan())),
	       "log: 1, 0, negative, inf, NaN");
	tap_ok(ulps(fmath_log(dmin), log((double)dmin)) <= 2, "log: smallest denormal");
	tap_ok(fmath_recip(2.0f) == 0.5f && same_bits(fmath_recip(0.0f), inf) &&
		   same_bits(fmath_recip(-0.0f), -inf) && same_bits(fmath_recip(-inf), -0.0f) &&
		   isnan(fmath_recip(fmath_nan())),
	       "recip: exact powers of two, +-0, +-inf, NaN");
	tap_ok(fmath_recip(1e-39f) == inf && fmath_recip(-1e-39f) == -inf,
	       "recip: denormal whose reciprocal overflows gives inf");
	tap_ok(ulps(fmath_recip(3e-39f), 1.0 / (double)3e-39f) <= 1 &&
		   ulps(fmath_recip(3e38f), 1.0 / (double)3e38f) <= 1,
	       "recip: denormal input and denormal result");
	tap_ok(fmath_div(6.0f, 3.0f) == 2.0f && fmath_div(1.0f, 10.0f) == 0.1f,
	       "div: 6/3 and 1/10 exact");
	tap_ok(fmath_rsqrt(4.0f) == 0.5f && fmath_rsqrt(0.0f) == inf && fmath_rsqrt(inf) == 0.0f &&
		   isnan(fmath_rsqrt(-1.0f)) &&
		   ulps(fmath_rsqrt(dmin), 1.0 / sqrt((double)dmin)) <= 2,
	       "rsqrt: 4, 0, inf, negative, denormal");
	tap_ok(fmath_sqrt(4.0f) == 2.0f && fmath_sqrt(0.0f) == 0.0f && fmath_sqrt(inf) == inf &&
		   isnan(fmath_sqrt(-1.0f)) && fmath_sqrt(2.0f) == 1.41421354f,
	       "sqrt: 4, 0, inf, negative, 2 correctly rounded");
	tap_ok(fmath_sigmoid(0.0f) == 0.5f && fmath_sigmoid(200.0f) == 1.0f &&
		   fmath_sigmoid(-200.0f) > 0.0f,
	       "sigmoid: 0, clamped tails");
}

/* Checksums of the exact bits over a fixed input set: these constants are
 * part of the determinism contract. If one changes, the algorithm changed,
 * and every kernel must change with it. */
static void test_pinned_bits(void)
{
	uint64_t h[6];
	static const uint64_t want[6] = {
	    0xb7c63d56ef06cd23ull, 0xd809b4f3e04c2de0ull, 0x8f68db9732d93924ull,
	    0xbf942b13fba9566cull, 0x73ffb894153b5cf0ull, 0xccea9e4525f883f6ull,
	};
	static const char *names[6] = {"exp", "log", "recip", "rsqrt", "sqrt", "div"};

	for (int k = 0; k < 6; k++)
		h[k] = 0xcbf29ce484222325ull;
	lcg_state = 42;
	for (int i = 0; i < 100000; i++) {
		float x = random_float(), y = random_float();
		float xe = fmodf(x, 110.0f);

		h[0] = fnv(h[0], fmath_exp(xe));
		h[1] = fnv(h[1], fmath_log(x));
		h[2] = fnv(h[2], fmath_recip(x));
		h[3] = fnv(h[3], fmath_rsqrt(x));
		h[4] = fnv(h[4], fmath_sqrt(x));
		h[5] = fnv(h[5], fmath_div(x, y));
	}
	for (int k = 0; k < 6; k++)
		if (!tap_ok(h[k] == want[k], "%s: output bits match the pinned checksum", names[k]))
			tap_diag("  got 0x%016llxull", (unsigned long long)h[k]);
}

int main(void)
{
	test_accuracy();
	test_specials();
	test_pinned_bits();
	return tap_done();
}
