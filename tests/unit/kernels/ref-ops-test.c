/*
 * ref-ops-test.c - every reference op's backward checked against central
 * finite differences of its forward, in the double path (elemd_*), and
 * the float path (elem_*, what the kernels match) checked against the
 * double path on the same inputs. Also the optimizer pieces.
 *
 * Tolerances: finite differences (h = 1e-5, double) agree with the
 * analytic gradient to 1e-7 of the gradient's scale; float agrees with
 * double to 2e-5 of the output's scale.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/elem.h"
#include "kernels/ref/elem_double.h"
#include "kernels/ref/ops.h"
#include "tests/tap.h"

#define FD_H    1e-5
#define FD_TOL  1e-7
#define F32_TOL 2e-5

static uint64_t rng = 88172645463325252ull;

static double urand(void) /* in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * 0x1.0p-52 - 1.0;
}

static void fill(double *x, int n, double scale)
{
	for (int i = 0; i < n; i++)
		x[i] = urand() * scale;
}

/* Round a double array to float and back, so both paths see equal inputs. */
static void roundf_all(double *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] = (double)(float)x[i];
}

static float *to_f(const double *x, int n)
{
	float *f = malloc((size_t)n * sizeof(float));
	for (int i = 0; i < n; i++)
		f[i] = (float)x[i];
	return f;
}

/* max |a-b| / max(max |b|, floor) */
static double rel_diff_fd(const float *a, const double *b, int n, double floor)
{
	double md = 0, mb = floor;

	for (int i = 0; i < n; i++) {
		md = fmax(md, fabs((double)a[i] - b[i]));
		mb = fmax(mb, fabs(b[i]));
	}
	return md / mb;
}

static double rel_diff_dd(const double *a, const double *b, int n)
{
	double md = 0, mb = 1e-12;

	for (int i = 0; i < n; i++) {
		md = fmax(md, fabs(a[i] - b[i]));
		mb = fmax(mb, fabs(b[i]));
	}
	return md / mb;
}

/* A scalar loss over one op: L = sum_i r_i * y_i(theta). */
typedef double (*loss_fn)(void *ctx);

/* Numerical gradient of f with respect to x[0..n) by central differences. */
static void numgrad(loss_fn f, void *ctx, double *x, int n, double *out)
{
	for (int i = 0; i < n; i++) {
		double keep = x[i], lp, lm;

		x[i] = keep + FD_H;
		lp = f(ctx);
		x[i] = keep - FD_H;
		lm = f(ctx);
		x[i] = keep;
		out[i] = (lp - lm) / (2 * FD_H);
	}
}

static void check_grad(const char *what, loss_fn f, void *ctx, double *x, int n,
		       const double *analytic)
{
	double *num = malloc((size_t)n * sizeof(double));
	double d;

	numgrad(f, ctx, x, n, num);
	d = rel_diff_dd(analytic, num, n);
	tap_ok(d < FD_TOL, "%s: analytic vs finite differences, rel. diff %.2g", what, d);
	free(num);
}

static double dot(const double *a, const double *b, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* ---- matmul ---- */
enum { MM_M = 5, MM_N = 4, MM_K = 7 };
struct mm {
	double x[MM_M * MM_K], w[MM_N * MM_K], b[MM_N], y[MM_M * MM_N], r[MM_M * MM_N];
};

static double mm_loss(void *p)
{
	struct mm *c = p;
	refd_matmul_fwd(c->y, c->x, c->w, c->b, MM_M, MM_N, MM_K);
	return dot(c->y, c->r, MM_M * MM_N);
}

static void test_matmul(void)
{
	struct mm c;
	double dx[MM_M * MM_K], dw[MM_N * MM_K], db[MM_N];
	float *fx, *fw, *fb, *fr, fy[MM_M * MM_N], fdx[MM_M * MM_K], fdw[MM_N * MM_K], fdb[MM_N];

	fill(c.x, MM_M * MM_K, 1), fill(c.w, MM_N * MM_K, 1), fill(c.b, MM_N, 1);
	fill(c.r, MM_M * MM_N, 1);
	roundf_all(c.x, MM_M * MM_K), roundf_all(c.w, MM_N * MM_K), roundf_all(c.b, MM_N);
	roundf_all(c.r, MM_M * MM_N);
	refd_matmul_bwd(dx, dw, db, c.r, c.x, c.w, MM_M, MM_N, MM_K);
	check_grad("matmul dx", mm_loss, &c, c.x, MM_M * MM_K, dx);
	check_grad("matmul dw", mm_loss, &c, c.w, MM_N * MM_K, dw);
	check_grad("matmul db", mm_loss, &c, c.b, MM_N, db);

	mm_loss(&c);
	fx = to_f(c.x, MM_M * MM_K), fw = to_f(c.w, MM_N * MM_K), fb = to_f(c.b, MM_N);
	fr = to_f(c.r, MM_M * MM_N);
	ref_matmul_fwd(fy, fx, fw, fb, MM_M, MM_N, MM_K);
	ref_matmul_bwd(fdx, fdw, fdb, fr, fx, fw, MM_M, MM_N, MM_K);
	tap_ok(rel_diff_fd(fy, c.y, MM_M * MM_N, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdx, dx, MM_M * MM_K, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdw, dw, MM_N * MM_K, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdb, db, MM_N, 1e-3) < F32_TOL,
	       "matmul float path agrees with double");
	/* the documented order: bias first, then k ascending, one fma each */
	{
		float acc = fb[1];
		for (int k = 0; k < MM_K; k++)
			acc = fmaf(fx[2 * MM_K + k], fw[1 * MM_K + k], acc);
		tap_ok(fmath_as_uint(acc) == fmath_as_uint(fy[2 * MM_N + 1]),
		       "matmul element = bias, then fma over k in order (bitwise)");
	}
	free(fx), free(fw), free(fb), free(fr);
}

/* ---- LayerNorm ---- */
enum { LN_M = 4, LN_C = 9 };
struct ln {
	double x[LN_M * LN_C], w[LN_C], b[LN_C], y[LN_M * LN_C], r[LN_M * LN_C];
	double mean[LN_M], rstd[LN_M];
};

static double ln_loss(void *p)
{
	struct ln *c = p;
	refd_layernorm_fwd(c->y, c->mean, c->rstd, c->x, c->w, c->b, LN_M, LN_C);
	return dot(c->y, c->r, LN_M * LN_C);
}

static void test_layernorm(void)
{
	struct ln c;
	double dx[LN_M * LN_C], dw[LN_C], db[LN_C], st[2 * LN_M];
	float *fx, *fw, *fb, *fr, fy[LN_M * LN_C], fm[LN_M], fs[LN_M], fdx[LN_M * LN_C];
	float fdw[LN_C], fdb[LN_C], fst[2 * LN_M];

	fill(c.x, LN_M * LN_C, 2), fill(c.w, LN_C, 1), fill(c.b, LN_C, 1),
	    fill(c.r, LN_M * LN_C, 1);
	roundf_all(c.x, LN_M * LN_C), roundf_all(c.w, LN_C), roundf_all(c.b, LN_C);
	roundf_all(c.r, LN_M * LN_C);
	ln_loss(&c);
	refd_layernorm_bwd(dx, dw, db, st, c.r, c.x, c.mean, c.rstd, c.w, LN_M, LN_C, 0);
	check_grad("layernorm dx", ln_loss, &c, c.x, LN_M * LN_C, dx);
	check_grad("layernorm dw", ln_loss, &c, c.w, LN_C, dw);
	check_grad("layernorm db", ln_loss, &c, c.b, LN_C, db);

	ln_loss(&c);
	fx = to_f(c.x, LN_M * LN_C), fw = to_f(c.w, LN_C), fb = to_f(c.b, LN_C);
	fr = to_f(c.r, LN_M * LN_C);
	ref_layernorm_fwd(fy, fm, fs, fx, fw, fb, LN_M, LN_C);
	for (int i = 0; i < LN_M * LN_C; i++)
		fdx[i] = 1.0f; /* accumulate onto ones */
	ref_layernorm_bwd(fdx, fdw, fdb, fst, fr, fx, fm, fs, fw, LN_M, LN_C, 1);
	for (int i = 0; i < LN_M * LN_C; i++)
		dx[i] += 1.0;
	tap_ok(rel_diff_fd(fy, c.y, LN_M * LN_C, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdx, dx, LN_M * LN_C, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdw, dw, LN_C, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdb, db, LN_C, 1e-3) < F32_TOL,
	       "layernorm float path (with accumulate) agrees with double");
	free(fx), free(fw), free(fb), free(fr);
}

/* ---- attention ---- */
enum { AT_B = 2, AT_T = 5, AT_C = 6, AT_NH = 2 };
struct at {
	double qkv[AT_B * AT_T * 3 * AT_C], att[AT_B * AT_NH * AT_T * AT_T];
	double y[AT_B * AT_T * AT_C], r[AT_B * AT_T * AT_C];
};

static void attn_fwd_d(struct at *c, double scale)
{
	for (int b = 0; b < AT_B; b++)
		for (int h = 0; h < AT_NH; h++)
			for (int t = 0; t < AT_T; t++)
				elemd_attn_softmax(c->qkv, c->att, AT_T, AT_C, AT_NH, scale, b, h,
						   t);
	for (int bt = 0; bt < AT_B * AT_T; bt++)
		for (int k = 0; k < AT_C; k++)
			c->y[bt * AT_C + k] = elemd_attn_out(c->qkv, c->att, AT_T, AT_C, AT_NH,
							     bt / AT_T, bt % AT_T, k);
}

static double at_loss(void *p)
{
	struct at *c = p;
	attn_fwd_d(c, 1.0 / sqrt(3.0));
	return dot(c->y, c->r, AT_B * AT_T * AT_C);
}

static void test_attention(void)
{
	enum {
		NQ = AT_B * AT_T * 3 * AT_C,
		NA = AT_B * AT_NH * AT_T * AT_T,
		NY = AT_B * AT_T * AT_C
	};
	static struct at c;
	static double dpre[NA], dqkv[NQ];
	float *fq, *fr, fatt[NA], fy[NY], fdpre[NA], fdq[NQ];
	float fscale = (float)(1.0 / sqrt(3.0));
	int causal = 1;

	fill(c.qkv, NQ, 1.5), fill(c.r, NY, 1);
	roundf_all(c.qkv, NQ), roundf_all(c.r, NY);
	at_loss(&c);
	for (int b = 0; b < AT_B; b++)
		for (int h = 0; h < AT_NH; h++)
			for (int t = 0; t < AT_T; t++)
				elemd_attn_bwd_row(c.r, c.qkv, c.att, dpre, AT_T, AT_C, AT_NH,
						   1.0 / sqrt(3.0), b, h, t);
	for (int bt = 0; bt < AT_B * AT_T; bt++)
		for (int k = 0; k < 3 * AT_C; k++)
			dqkv[bt * 3 * AT_C + k] = elemd_attn_bwd_dqkv(
			    dpre, c.att, c.r, c.qkv, AT_T, AT_C, AT_NH, bt / AT_T, bt % AT_T, k);
	check_grad("attention dqkv", at_loss, &c, c.qkv, NQ, dqkv);
	for (int i = 0; i < NA; i++) {
		int t = (i / AT_T) % AT_T, j = i % AT_T;
		if (j > t && (c.att[i] != 0.0 || dpre[i] != 0.0))
			causal = 0;
	}
	tap_ok(causal, "attention: future positions have probability and gradient 0");

	at_loss(&c);
	fq = to_f(c.qkv, NQ), fr = to_f(c.r, NY);
	for (int b = 0; b < AT_B; b++)
		for (int h = 0; h < AT_NH; h++)
			for (int t = 0; t < AT_T; t++) {
				elem_attn_softmax(fq, fatt, AT_T, AT_C, AT_NH, fscale, b, h, t);
			}
	for (int bt = 0; bt < AT_B * AT_T; bt++)
		for (int k = 0; k < AT_C; k++)
			fy[bt * AT_C + k] =
			    elem_attn_out(fq, fatt, AT_T, AT_C, AT_NH, bt / AT_T, bt % AT_T, k);
	for (int b = 0; b < AT_B; b++)
		for (int h = 0; h < AT_NH; h++)
			for (int t = 0; t < AT_T; t++)
				elem_attn_bwd_row(fr, fq, fatt, fdpre, AT_T, AT_C, AT_NH, fscale, b,
						  h, t);
	for (int bt = 0; bt < AT_B * AT_T; bt++)
		for (int k = 0; k < 3 * AT_C; k++)
			fdq[bt * 3 * AT_C + k] = elem_attn_bwd_dqkv(fdpre, fatt, fr, fq, AT_T, AT_C,
								    AT_NH, bt / AT_T, bt % AT_T, k);
	tap_ok(rel_diff_fd(fy, c.y, NY, 1e-3) < F32_TOL &&
		   rel_diff_fd(fatt, c.att, NA, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdq, dqkv, NQ, 1e-3) < F32_TOL,
	       "attention float path agrees with double");
	free(fq), free(fr);
}

/* ---- GELU ---- */
enum { GE_N = 64 };
struct ge {
	double x[GE_N], y[GE_N], r[GE_N];
};

static double ge_loss(void *p)
{
	struct ge *c = p;
	refd_gelu_fwd(c->y, c->x, GE_N);
	return dot(c->y, c->r, GE_N);
}

static void test_gelu(void)
{
	struct ge c;
	double dx[GE_N], maxerr = 0;
	float fdx[GE_N], fy[GE_N], *fx, *fr;

	fill(c.x, GE_N, 6), fill(c.r, GE_N, 1);
	roundf_all(c.x, GE_N), roundf_all(c.r, GE_N);
	refd_gelu_bwd(dx, c.x, c.r, GE_N);
	check_grad("gelu dx", ge_loss, &c, c.x, GE_N, dx);
	ge_loss(&c);
	fx = to_f(c.x, GE_N), fr = to_f(c.r, GE_N);
	ref_gelu_fwd(fy, fx, GE_N);
	ref_gelu_bwd(fdx, fx, fr, GE_N);
	tap_ok(rel_diff_fd(fy, c.y, GE_N, 1e-3) < F32_TOL &&
		   rel_diff_fd(fdx, dx, GE_N, 1e-3) < F32_TOL,
	       "gelu float path agrees with double");
	for (int i = 0; i < GE_N; i++) { /* the tanh form, as PyTorch writes it */
		double x = c.x[i];
		double t = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
		maxerr = fmax(maxerr, fabs(c.y[i] - t));
	}
	tap_ok(maxerr < 1e-7, "gelu is 0.5x(1+tanh(...)) (max abs diff %.2g)", maxerr);
	free(fx), free(fr);
}

/* ---- softmax cross-entropy ---- */
enum { CE_M = 3, CE_V = 11 };
struct ce {
	double l[CE_M * CE_V], st[2 * CE_M], losses[CE_M];
	int tg[CE_M];
};

static double ce_loss(void *p)
{
	struct ce *c = p;
	return refd_ce_fwd(c->st, c->losses, c->l, c->tg, CE_M, CE_V);
}

static void test_ce(void)
{
	struct ce c;
	double dl[CE_M * CE_V], loss, want = 0;
	float *fl, fst[2 * CE_M], flosses[CE_M], fdl[CE_M * CE_V], floss;

	fill(c.l, CE_M * CE_V, 4);
	roundf_all(c.l, CE_M * CE_V);
	for (int m = 0; m < CE_M; m++)
		c.tg[m] = (m * 5 + 2) % CE_V;
	loss = ce_loss(&c);
	refd_ce_bwd(dl, c.l, c.tg, c.st, CE_M, CE_V);
	check_grad("cross-entropy dlogits", ce_loss, &c, c.l, CE_M * CE_V, dl);
	for (int m = 0; m < CE_M; m++) {
		double s = 0;
		for (int v = 0; v < CE_V; v++)
			s += exp(c.l[m * CE_V + v]);
		want += -log(exp(c.l[m * CE_V + c.tg[m]]) / s) / CE_M;
	}
	tap_ok(fabs(loss - want) < 1e-12, "cross-entropy value is the mean -log p(target)");
	fl = to_f(c.l, CE_M * CE_V);
	floss = ref_ce_fwd(fst, flosses, fl, c.tg, CE_M, CE_V);
	ref_ce_bwd(fdl, fl, c.tg, fst, CE_M, CE_V);
	tap_ok(fabs(floss - loss) < 1e-5 * loss &&
		   rel_diff_fd(fdl, dl, CE_M * CE_V, 1e-3) < F32_TOL,
	       "cross-entropy float path agrees with double");
	free(fl);
}

/* ---- optimizer pieces ---- */
static void test_optimizer(void)
{
	enum { N = 3 * ELEM_NORM_CHUNK + 17 };
	float *g = malloc(N * sizeof(float));
	double want = 0;
	float norm, chunks = 0.0f;
	struct ref_adamw opt = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
	struct ref_adamw_step s;
	float p[1] = {0.5f}, gr[1] = {0.25f}, m[1] = {0.0f}, v[1] = {0.0f};
	double dm, dv, dp;

	for (int i = 0; i < N; i++) {
		g[i] = (float)urand();
		want += (double)g[i] * g[i];
	}
	norm = ref_grad_norm(g, N);
	tap_ok(fabs(norm - sqrt(want)) < 1e-5 * sqrt(want), "grad norm %.6f vs %.6f", norm,
	       sqrt(want));
	for (int ci = 0; ci < 4; ci++)
		chunks = chunks + elem_sumsq_chunk(g, N, ci);
	tap_ok(fmath_as_uint(norm) == fmath_as_uint(fmath_sqrt(chunks)),
	       "grad norm = sqrt of in-order chunk sums (bitwise)");
	tap_ok(elem_clip_scale(2.0f, 1.0f) == 0.5f && elem_clip_scale(0.5f, 1.0f) == 1.0f &&
		   elem_clip_scale(5.0f, 0.0f) == 1.0f,
	       "clip scale: clips above max, not below, off when max <= 0");

	ref_adamw_prepare(&opt, 1, &s);
	tap_ok(s.bc1 == (float)(1.0 / (1.0 - 0.9f)) && s.decay == 1.0f - 1e-2f * 0.1f,
	       "adamw host scalars");
	elem_adamw(p, gr, m, v, 0, s.lr, s.beta1, s.beta2, s.omb1, s.omb2, s.eps, s.bc1, s.bc2,
		   s.decay, 1.0f);
	dm = 0.1 * 0.25;
	dv = 0.05 * 0.25 * 0.25;
	dp = 0.5 * (1 - 1e-3) - 1e-2 * (dm / (1 - 0.9)) / (sqrt(dv / (1 - 0.95)) + 1e-8);
	tap_ok(fabs(m[0] - dm) < 1e-7 && fabs(v[0] - dv) < 1e-8 && fabs(p[0] - dp) < 1e-6,
	       "adamw step matches the formula (p %.7f vs %.7f)", p[0], dp);
	{
		float a[3] = {1.0f, 2.0f, 3.0f}, b[3] = {0.5f, 2.0f, 4.0f}, d[3];
		ref_delta(d, a, b, 3);
		tap_ok(d[0] == 0.5f && d[1] == 0.0f && d[2] == -1.0f, "delta = start - end");
	}
	free(g);
}

int main(void)
{
	test_matmul();
	test_layernorm();
	test_attention();
	test_gelu();
	test_ce();
	test_optimizer();
	return tap_done();
}
