/*
 * ref-cl-elem-test.c - the shared headers (kernels/fmath.h,
 * kernels/ref/elem.h) compiled as OpenCL C on a real device must give the
 * same bits as the C reference: every fmath function over 65536 inputs and
 * every per-element op (matmul, LayerNorm, attention, GELU, embedding
 * gradient, cross-entropy, norm chunks, AdamW) on random data, compared
 * with memcmp. One kernel per op calls the elem_* function for its
 * get_global_id, with the device's own work-group size, and a second time
 * with a forced local size where it divides.
 *
 * Uses the plain OpenCL API (not kernels/runtime.h) so that it tests the
 * headers alone. Skips (77) without an OpenCL platform or device. Build
 * options: -cl-std=CL1.2 and the include path only (no fast-math flags).
 */
#include "config.h"

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/elem.h"
#include "kernels/ref/ops.h"
#include "tests/tap.h"

static const char *const kernel_src =
    "#include \"kernels/ref/elem.h\"\n"
    "__kernel void k_math(__global const float *x, __global const float *y,\n"
    "		     __global const float *xe, __global float *out, int n)\n"
    "{\n"
    "	int i = get_global_id(0);\n"
    "	out[i] = fmath_exp(xe[i]);\n"
    "	out[n + i] = fmath_log(x[i]);\n"
    "	out[2 * n + i] = fmath_recip(x[i]);\n"
    "	out[3 * n + i] = fmath_rsqrt(x[i]);\n"
    "	out[4 * n + i] = fmath_sqrt(x[i]);\n"
    "	out[5 * n + i] = fmath_div(x[i], y[i]);\n"
    "	out[6 * n + i] = fmath_sigmoid(xe[i]);\n"
    "	out[7 * n + i] = elem_gelu_fwd(y[i]);\n"
    "	out[8 * n + i] = elem_gelu_bwd(y[i], xe[i]);\n"
    "}\n"
    "__kernel void k_matmul(__global const float *x, __global const float *w,\n"
    "		       __global const float *b, __global float *y, int K, int N)\n"
    "{\n"
    "	int n = get_global_id(0), m = get_global_id(1);\n"
    "	y[m * N + n] = elem_matmul_fwd(x, w, b, K, m, n);\n"
    "}\n"
    "__kernel void k_matmul_dx(__global const float *dy, __global const float *w,\n"
    "			  __global float *dx, int N, int K)\n"
    "{\n"
    "	int k = get_global_id(0), m = get_global_id(1);\n"
    "	dx[m * K + k] = elem_matmul_dx(dy, w, N, K, m, k);\n"
    "}\n"
    "__kernel void k_matmul_dw(__global const float *dy, __global const float *x,\n"
    "			  __global float *dw, int M, int N, int K)\n"
    "{\n"
    "	int k = get_global_id(0), n = get_global_id(1);\n"
    "	dw[n * K + k] = elem_matmul_dw(dy, x, M, N, K, n, k);\n"
    "}\n"
    "__kernel void k_ln(__global const float *x, __global const float *w,\n"
    "		   __global const float *b, __global float *mean, __global float *rstd,\n"
    "		   __global float *y, int C, float inv_c, float eps)\n"
    "{\n"
    "	int row = get_global_id(0);\n"
    "	elem_layernorm_stats(x, mean, rstd, C, inv_c, eps, row);\n"
    "	for (int i = 0; i < C; i++)\n"
    "		y[row * C + i] = elem_layernorm_fwd(x, mean, rstd, w, b, C, row, i);\n"
    "}\n"
    "__kernel void k_ln_bwd(__global const float *dy, __global const float *x,\n"
    "		       __global const float *mean, __global const float *rstd,\n"
    "		       __global const float *w, __global float *stats, __global float *dx,\n"
    "		       int C, float inv_c)\n"
    "{\n"
    "	int row = get_global_id(0);\n"
    "	elem_layernorm_bwd_stats(dy, x, mean, rstd, w, stats, C, inv_c, row);\n"
    "	for (int i = 0; i < C; i++)\n"
    "		dx[row * C + i] = elem_layernorm_bwd_dx(dy, x, mean, rstd, w, stats, C, row, i);\n"
    "}\n"
    "__kernel void k_ln_dw(__global const float *dy, __global const float *x,\n"
    "		      __global const float *mean, __global const float *rstd,\n"
    "		      __global float *dw, int M, int C)\n"
    "{\n"
    "	int i = get_global_id(0);\n"
    "	dw[i] = elem_layernorm_bwd_dw(dy, x, mean, rstd, M, C, i);\n"
    "}\n"
    "__kernel void k_softmax(__global const float *qkv, __global float *att, int T, int C,\n"
    "			int NH, float scale)\n"
    "{\n"
    "	elem_attn_softmax(qkv, att, T, C, NH, scale, get_global_id(2), get_global_id(1),\n"
    "			  get_global_id(0));\n"
    "}\n"
    "__kernel void k_attn_out(__global const float *qkv, __global const float *att,\n"
    "			 __global float *y, int T, int C, int NH)\n"
    "{\n"
    "	int c = get_global_id(0), bt = get_global_id(1);\n"
    "	y[bt * C + c] = elem_attn_out(qkv, att, T, C, NH, bt / T, bt % T, c);\n"
    "}\n"
    "__kernel void k_attn_bwd_row(__global const float *dout, __global const float *qkv,\n"
    "			     __global const float *att, __global float *dpre, int T, int C,\n"
    "			     int NH, float scale)\n"
    "{\n"
    "	elem_attn_bwd_row(dout, qkv, att, dpre, T, C, NH, scale, get_global_id(2),\n"
    "			  get_global_id(1), get_global_id(0));\n"
    "}\n"
    "__kernel void k_attn_dqkv(__global const float *dpre, __global const float *att,\n"
    "			  __global const float *dout, __global const float *qkv,\n"
    "			  __global float *dqkv, int T, int C, int NH)\n"
    "{\n"
    "	int c3 = get_global_id(0), bt = get_global_id(1);\n"
    "	dqkv[bt * 3 * C + c3] = elem_attn_bwd_dqkv(dpre, att, dout, qkv, T, C, NH, bt / T,\n"
    "						   bt % T, c3);\n"
    "}\n"
    "__kernel void k_ce(__global const float *logits, __global const int *targets,\n"
    "		   __global float *stats, __global float *losses, int V)\n"
    "{\n"
    "	elem_ce_row(logits, targets, stats, losses, V, get_global_id(0));\n"
    "}\n"
    "__kernel void k_dlogits(__global const float *logits, __global const int *targets,\n"
    "			__global const float *stats, __global float *dl, int V, float inv_n)\n"
    "{\n"
    "	int v = get_global_id(0), m = get_global_id(1);\n"
    "	dl[m * V + v] = elem_ce_dlogits(logits, targets, stats, V, inv_n, m, v);\n"
    "}\n"
    "__kernel void k_wte_grad(__global const float *dl, __global const float *lnf,\n"
    "			 __global const float *dres, __global const int *tokens,\n"
    "			 __global float *dwte, int BT, int V, int C)\n"
    "{\n"
    "	int c = get_global_id(0), v = get_global_id(1);\n"
    "	dwte[v * C + c] = elem_wte_grad(dl, lnf, dres, tokens, BT, V, C, v, c);\n"
    "}\n"
    "__kernel void k_sumsq(__global const float *g, __global float *out, int n)\n"
    "{\n"
    "	int ci = get_global_id(0);\n"
    "	out[ci] = elem_sumsq_chunk(g, n, ci);\n"
    "}\n"
    "__kernel void k_adamw(__global float *p, __global const float *g, __global float *m,\n"
    "		      __global float *v, float lr, float b1, float b2, float omb1,\n"
    "		      float omb2, float eps, float bc1, float bc2, float decay, float clip)\n"
    "{\n"
    "	elem_adamw(p, g, m, v, get_global_id(0), lr, b1, b2, omb1, omb2, eps, bc1, bc2,\n"
    "		   decay, clip);\n"
    "}\n";

/* Under --enable-sanitizers: the OpenCL driver (PoCL and its LLVM) keeps
 * allocations until exit; suppress leaks whose stack passes through those
 * libraries only. Unused without ASan. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpocl\nleak:libLLVM\nleak:libOpenCL\nleak:libclang\n";
}

static cl_context ctx;
static cl_command_queue queue;
static cl_program prog;
static size_t forced_local; /* 0: let the device choose */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint32_t rnd(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng_state >> 32);
}

static float urand(float scale) /* [-scale, scale) */
{
	return ((float)(rnd() >> 8) * 1.1920929e-7f - 1.0f) * scale;
}

static float *frand(size_t n, float scale)
{
	float *x = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		x[i] = urand(scale);
	return x;
}

static cl_mem buf_in(const void *p, size_t bytes)
{
	cl_int rc;
	return clCreateBuffer(ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes, (void *)p, &rc);
}

/* Runs kernel `name` over gws (dims 1..3) with args given as
 * ('m', cl_mem) / ('i', int) / ('f', double promoted float) pairs, ended
 * by 0. Returns 0 or an OpenCL error code. */
static int run(const char *name, int dims, const size_t *gws, ...)
{
	cl_int rc;
	cl_kernel k = clCreateKernel(prog, name, &rc);
	va_list ap;
	int kind, idx = 0;
	size_t lws[3] = {1, 1, 1};
	int use_local = forced_local != 0 && gws[0] % forced_local == 0;

	if (rc != CL_SUCCESS)
		return rc;
	va_start(ap, gws);
	while ((kind = va_arg(ap, int)) != 0) {
		if (kind == 'm') {
			cl_mem mm = va_arg(ap, cl_mem);
			rc |= clSetKernelArg(k, (cl_uint)idx++, sizeof(mm), &mm);
		} else if (kind == 'i') {
			cl_int v = va_arg(ap, int);
			rc |= clSetKernelArg(k, (cl_uint)idx++, sizeof(v), &v);
		} else {
			cl_float v = (cl_float)va_arg(ap, double);
			rc |= clSetKernelArg(k, (cl_uint)idx++, sizeof(v), &v);
		}
	}
	va_end(ap);
	lws[0] = forced_local;
	if (rc == CL_SUCCESS)
		rc = clEnqueueNDRangeKernel(queue, k, (cl_uint)dims, NULL, gws,
					    use_local ? lws : NULL, 0, NULL, NULL);
	if (rc == CL_SUCCESS)
		rc = clFinish(queue);
	clReleaseKernel(k);
	return rc;
}

static void *rd(cl_mem b, size_t bytes)
{
	void *p = malloc(bytes);
	clEnqueueReadBuffer(queue, b, CL_TRUE, 0, bytes, p, 0, NULL, NULL);
	return p;
}

/* Compares device floats with the reference bit for bit. */
static void same(const char *what, cl_mem dev, const float *want, size_t n)
{
	float *got = rd(dev, n * sizeof(float));
	size_t diff = 0, first = n;

	for (size_t i = 0; i < n; i++)
		if (fmath_as_uint(got[i]) != fmath_as_uint(want[i]) &&
		    !(got[i] != got[i] && want[i] != want[i])) {
			diff++;
			if (first == n)
				first = i;
		}
	if (!tap_ok(diff == 0, "%s%s: %zu values bitwise equal to the C reference", what,
		    forced_local ? " (local 8)" : "", n))
		tap_diag("  %zu differ, first at %zu: device %a, reference %a", diff, first,
			 (double)got[first], (double)want[first]);
	free(got);
}

static void test_math(void)
{
	enum { N = 65536 };
	float *x = malloc(N * 4), *y = malloc(N * 4), *xe = malloc(N * 4),
	      *want = malloc(9 * N * 4);
	cl_mem bx, by, bxe, bo;
	size_t gws = N;
	static const char *names[9] = {"fmath_exp",     "fmath_log",     "fmath_recip",
				       "fmath_rsqrt",   "fmath_sqrt",    "fmath_div",
				       "fmath_sigmoid", "elem_gelu_fwd", "elem_gelu_bwd"};

	for (int i = 0; i < N; i++) {
		do
			x[i] = fmath_as_float(rnd());
		while (x[i] != x[i]);
		y[i] = i % 2 ? urand(8.0f) : fmath_as_float(rnd() & 0xbfffffffu);
		xe[i] = urand(100.0f);
		want[i] = fmath_exp(xe[i]);
		want[N + i] = fmath_log(x[i]);
		want[2 * N + i] = fmath_recip(x[i]);
		want[3 * N + i] = fmath_rsqrt(x[i]);
		want[4 * N + i] = fmath_sqrt(x[i]);
		want[5 * N + i] = fmath_div(x[i], y[i]);
		want[6 * N + i] = fmath_sigmoid(xe[i]);
		want[7 * N + i] = elem_gelu_fwd(y[i]);
		want[8 * N + i] = elem_gelu_bwd(y[i], xe[i]);
	}
	bx = buf_in(x, N * 4), by = buf_in(y, N * 4), bxe = buf_in(xe, N * 4);
	bo = buf_in(want, 9 * N * 4); /* overwritten */
	if (tap_ok(run("k_math", 1, &gws, 'm', bx, 'm', by, 'm', bxe, 'm', bo, 'i', N, 0) == 0,
		   "k_math runs")) {
		float *got = rd(bo, 9 * N * 4);
		for (int f = 0; f < 9; f++) {
			int diff = 0;
			for (int i = 0; i < N; i++)
				diff += fmath_as_uint(got[f * N + i]) !=
					    fmath_as_uint(want[f * N + i]) &&
					!(got[f * N + i] != got[f * N + i]);
			tap_ok(diff == 0,
			       "%s on the device: %d inputs, %d differ from the C reference",
			       names[f], N, diff);
		}
		free(got);
	}
	clReleaseMemObject(bx), clReleaseMemObject(by), clReleaseMemObject(bxe);
	clReleaseMemObject(bo);
	free(x), free(y), free(xe), free(want);
}

enum { B = 2, T = 16, C = 32, NH = 4, V = 256, BT = B * T };

static void test_ops(void)
{
	float inv_c = 1.0f / (float)C;
	float *x = frand(BT * C, 2.0f), *w = frand(3 * C * C, 0.5f), *b = frand(3 * C, 0.5f);
	float *dy = frand(BT * 3 * C, 1.0f), *y = malloc(BT * 3 * C * 4);
	float *dx = malloc(BT * C * 4), *dw = malloc(3 * C * C * 4);
	float *lw = frand(C, 1.0f), *lb = frand(C, 1.0f), *mean = malloc(BT * 4),
	      *rstd = malloc(BT * 4);
	float *st = malloc(2 * BT * 4), *lnw = malloc(C * 4), *lnb = malloc(C * 4);
	size_t g2[3];
	cl_mem bx, bw, bb, bdy, by, bmean, brstd, blw, blb, bst;

	/* matmul: (BT, 3C) = x (BT, C) . w (3C, C)^T + b */
	ref_matmul_fwd(y, x, w, b, BT, 3 * C, C);
	ref_matmul_bwd(dx, dw, NULL, dy, x, w, BT, 3 * C, C);
	bx = buf_in(x, BT * C * 4), bw = buf_in(w, 3 * C * C * 4), bb = buf_in(b, 3 * C * 4);
	bdy = buf_in(dy, BT * 3 * C * 4), by = buf_in(y, BT * 3 * C * 4);
	g2[0] = 3 * C, g2[1] = BT;
	run("k_matmul", 2, g2, 'm', bx, 'm', bw, 'm', bb, 'm', by, 'i', C, 'i', 3 * C, 0);
	same("elem_matmul_fwd", by, y, BT * 3 * C);
	g2[0] = C, g2[1] = BT;
	run("k_matmul_dx", 2, g2, 'm', bdy, 'm', bw, 'm', by, 'i', 3 * C, 'i', C, 0);
	same("elem_matmul_dx", by, dx, BT * C);
	g2[0] = C, g2[1] = 3 * C;
	run("k_matmul_dw", 2, g2, 'm', bdy, 'm', bx, 'm', by, 'i', BT, 'i', 3 * C, 'i', C, 0);
	same("elem_matmul_dw", by, dw, 3 * C * C);

	/* LayerNorm forward and backward on x (BT, C) */
	ref_layernorm_fwd(y, mean, rstd, x, lw, lb, BT, C);
	bmean = buf_in(mean, BT * 4), brstd = buf_in(rstd, BT * 4);
	blw = buf_in(lw, C * 4), blb = buf_in(lb, C * 4), bst = buf_in(st, 2 * BT * 4);
	g2[0] = BT;
	run("k_ln", 1, g2, 'm', bx, 'm', blw, 'm', blb, 'm', bmean, 'm', brstd, 'm', by, 'i', C,
	    'f', (double)inv_c, 'f', (double)REF_LN_EPS, 0);
	same("elem_layernorm_stats (mean)", bmean, mean, BT);
	same("elem_layernorm_stats (rstd)", brstd, rstd, BT);
	same("elem_layernorm_fwd", by, y, BT * C);
	ref_layernorm_bwd(dx, lnw, lnb, st, dy, x, mean, rstd, lw, BT, C, 0);
	run("k_ln_bwd", 1, g2, 'm', bdy, 'm', bx, 'm', bmean, 'm', brstd, 'm', blw, 'm', bst, 'm',
	    by, 'i', C, 'f', (double)inv_c, 0);
	same("elem_layernorm_bwd_stats", bst, st, 2 * BT);
	same("elem_layernorm_bwd_dx", by, dx, BT * C);
	g2[0] = C;
	run("k_ln_dw", 1, g2, 'm', bdy, 'm', bx, 'm', bmean, 'm', brstd, 'm', by, 'i', BT, 'i', C,
	    0);
	same("elem_layernorm_bwd_dw", by, lnw, C);

	clReleaseMemObject(bx), clReleaseMemObject(bw), clReleaseMemObject(bb);
	clReleaseMemObject(bdy), clReleaseMemObject(by), clReleaseMemObject(bmean);
	clReleaseMemObject(brstd), clReleaseMemObject(blw), clReleaseMemObject(blb);
	clReleaseMemObject(bst);
	free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(lw), free(lb);
	free(mean), free(rstd), free(st), free(lnw), free(lnb);
}

static void test_attention(void)
{
	float scale = (float)(1.0 / sqrt((double)(C / NH)));
	size_t na = (size_t)B * NH * T * T;
	float *qkv = frand(BT * 3 * C, 2.0f), *att = malloc(na * 4), *yv = malloc(BT * C * 4);
	float *dout = frand(BT * C, 1.0f), *dpre = malloc(na * 4), *dqkv = malloc(BT * 3 * C * 4);
	size_t g3[3] = {T, NH, B}, g2[2];
	cl_mem bq, ba, by, bd, bp, bdq;

	for (int bb = 0; bb < B; bb++)
		for (int h = 0; h < NH; h++)
			for (int t = 0; t < T; t++) {
				elem_attn_softmax(qkv, att, T, C, NH, scale, bb, h, t);
				elem_attn_bwd_row(dout, qkv, att, dpre, T, C, NH, scale, bb, h, t);
			}
	for (int bt = 0; bt < BT; bt++) {
		for (int c = 0; c < C; c++)
			yv[bt * C + c] = elem_attn_out(qkv, att, T, C, NH, bt / T, bt % T, c);
		for (int c3 = 0; c3 < 3 * C; c3++)
			dqkv[bt * 3 * C + c3] =
			    elem_attn_bwd_dqkv(dpre, att, dout, qkv, T, C, NH, bt / T, bt % T, c3);
	}
	bq = buf_in(qkv, BT * 3 * C * 4), ba = buf_in(att, na * 4), by = buf_in(yv, BT * C * 4);
	bd = buf_in(dout, BT * C * 4), bp = buf_in(dpre, na * 4),
	bdq = buf_in(dqkv, BT * 3 * C * 4);
	run("k_softmax", 3, g3, 'm', bq, 'm', ba, 'i', T, 'i', C, 'i', NH, 'f', (double)scale, 0);
	same("elem_attn_softmax", ba, att, na);
	g2[0] = C, g2[1] = BT;
	run("k_attn_out", 2, g2, 'm', bq, 'm', ba, 'm', by, 'i', T, 'i', C, 'i', NH, 0);
	same("elem_attn_out", by, yv, BT * C);
	run("k_attn_bwd_row", 3, g3, 'm', bd, 'm', bq, 'm', ba, 'm', bp, 'i', T, 'i', C, 'i', NH,
	    'f', (double)scale, 0);
	same("elem_attn_bwd_row", bp, dpre, na);
	g2[0] = 3 * C;
	run("k_attn_dqkv", 2, g2, 'm', bp, 'm', ba, 'm', bd, 'm', bq, 'm', bdq, 'i', T, 'i', C, 'i',
	    NH, 0);
	same("elem_attn_bwd_dqkv", bdq, dqkv, BT * 3 * C);
	clReleaseMemObject(bq), clReleaseMemObject(ba), clReleaseMemObject(by);
	clReleaseMemObject(bd), clReleaseMemObject(bp), clReleaseMemObject(bdq);
	free(qkv), free(att), free(yv), free(dout), free(dpre), free(dqkv);
}

static void test_loss_and_optimizer(void)
{
	enum { NG = 5 * ELEM_NORM_CHUNK + 123 };
	float inv_n = 1.0f / (float)BT;
	float *logits = frand(BT * V, 6.0f), *st = malloc(2 * BT * 4), *losses = malloc(BT * 4);
	float *dl = malloc(BT * V * 4), *lnf = frand(BT * C, 1.0f), *dres = frand(BT * C, 1.0f);
	float *dwte = malloc(V * C * 4), *g = frand(NG, 1.0f), *chunks = malloc(8 * 4);
	float *p = frand(NG, 1.0f), *m = frand(NG, 0.1f), *v = frand(NG, 0.1f);
	int tg[BT], tok[BT];
	size_t g2[2], g1;
	struct ref_adamw opt = {3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
	struct ref_adamw_step s;
	cl_mem bl, bt, bs, bls, bdl, blnf, bdres, btok, bw, bg, bc, bp, bm, bv;

	for (int i = 0; i < BT; i++) {
		tg[i] = (int)(rnd() % V);
		tok[i] = (int)(rnd() % 8) * 3;
	}
	for (int i = 0; i < NG; i++)
		v[i] = fmath_abs(v[i]);
	ref_ce_fwd(st, losses, logits, tg, BT, V);
	ref_ce_bwd(dl, logits, tg, st, BT, V);
	for (int vv = 0; vv < V; vv++)
		for (int c = 0; c < C; c++)
			dwte[vv * C + c] = elem_wte_grad(dl, lnf, dres, tok, BT, V, C, vv, c);
	bl = buf_in(logits, BT * V * 4), bt = buf_in(tg, sizeof(tg)), bs = buf_in(st, 2 * BT * 4);
	bls = buf_in(losses, BT * 4), bdl = buf_in(dl, BT * V * 4), blnf = buf_in(lnf, BT * C * 4);
	bdres = buf_in(dres, BT * C * 4), btok = buf_in(tok, sizeof(tok));
	bw = buf_in(dwte, V * C * 4);
	g1 = BT;
	run("k_ce", 1, &g1, 'm', bl, 'm', bt, 'm', bs, 'm', bls, 'i', V, 0);
	same("elem_ce_row (stats)", bs, st, 2 * BT);
	same("elem_ce_row (losses)", bls, losses, BT);
	g2[0] = V, g2[1] = BT;
	run("k_dlogits", 2, g2, 'm', bl, 'm', bt, 'm', bs, 'm', bdl, 'i', V, 'f', (double)inv_n, 0);
	same("elem_ce_dlogits", bdl, dl, BT * V);
	g2[0] = C, g2[1] = V;
	run("k_wte_grad", 2, g2, 'm', bdl, 'm', blnf, 'm', bdres, 'm', btok, 'm', bw, 'i', BT, 'i',
	    V, 'i', C, 0);
	same("elem_wte_grad", bw, dwte, V * C);

	for (int ci = 0; ci < 6; ci++)
		chunks[ci] = elem_sumsq_chunk(g, NG, ci);
	bg = buf_in(g, NG * 4), bc = buf_in(chunks, 8 * 4);
	g1 = 6;
	run("k_sumsq", 1, &g1, 'm', bg, 'm', bc, 'i', NG, 0);
	same("elem_sumsq_chunk", bc, chunks, 6);

	ref_adamw_prepare(&opt, 7, &s);
	bp = buf_in(p, NG * 4), bm = buf_in(m, NG * 4), bv = buf_in(v, NG * 4);
	for (int i = 0; i < NG; i++)
		elem_adamw(p, g, m, v, i, s.lr, s.beta1, s.beta2, s.omb1, s.omb2, s.eps, s.bc1,
			   s.bc2, s.decay, 0.75f);
	g1 = NG;
	run("k_adamw", 1, &g1, 'm', bp, 'm', bg, 'm', bm, 'm', bv, 'f', (double)s.lr, 'f',
	    (double)s.beta1, 'f', (double)s.beta2, 'f', (double)s.omb1, 'f', (double)s.omb2, 'f',
	    (double)s.eps, 'f', (double)s.bc1, 'f', (double)s.bc2, 'f', (double)s.decay, 'f', 0.75,
	    0);
	same("elem_adamw (params)", bp, p, NG);
	same("elem_adamw (m)", bm, m, NG);
	same("elem_adamw (v)", bv, v, NG);
	clReleaseMemObject(bl), clReleaseMemObject(bt), clReleaseMemObject(bs);
	clReleaseMemObject(bls), clReleaseMemObject(bdl), clReleaseMemObject(blnf);
	clReleaseMemObject(bdres), clReleaseMemObject(btok), clReleaseMemObject(bw);
	clReleaseMemObject(bg), clReleaseMemObject(bc), clReleaseMemObject(bp);
	clReleaseMemObject(bm), clReleaseMemObject(bv);
	free(logits), free(st), free(losses), free(dl), free(lnf), free(dres), free(dwte);
	free(g), free(chunks), free(p), free(m), free(v);
}

/* Opens the first device of the first platform (or $AGORA_TEST_DEVICE's
 * index) and builds the program; skips when there is none. */
static void open_device(void)
{
	cl_platform_id plat;
	cl_device_id dev;
	cl_uint np = 0, nd = 0;
	cl_int rc;
	cl_device_fp_config fp = 0;
	char name[256] = "", opts[PATH_MAX + 64], dir[PATH_MAX];
	const char *srcdir = getenv("srcdir");
	const char *src = kernel_src;

	if (clGetPlatformIDs(1, &plat, &np) != CL_SUCCESS || np == 0)
		tap_skip_all("no OpenCL platform");
	if (clGetDeviceIDs(plat, CL_DEVICE_TYPE_ALL, 1, &dev, &nd) != CL_SUCCESS || nd == 0)
		tap_skip_all("no OpenCL device");
	clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof(name) - 1, name, NULL);
	clGetDeviceInfo(dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof(fp), &fp, NULL);
	if (!(fp & CL_FP_DENORM) || !(fp & CL_FP_FMA))
		tap_skip_all("device '%s' lacks fp32 denormals or a correctly rounded fma", name);
	tap_diag("device: %s", name);
	if (!realpath(srcdir ? srcdir : ".", dir))
		tap_skip_all("cannot resolve srcdir");
	snprintf(opts, sizeof(opts), "-cl-std=CL1.2 -I %s", dir);
	ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &rc);
	queue = clCreateCommandQueue(ctx, dev, 0, &rc);
	prog = clCreateProgramWithSource(ctx, 1, &src, NULL, &rc);
	rc = clBuildProgram(prog, 1, &dev, opts, NULL, NULL);
	if (!tap_ok(rc == CL_SUCCESS, "shared headers build as an OpenCL program (%d)", rc)) {
		char log[4096] = "";
		clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, sizeof(log) - 1, log, NULL);
		tap_diag("%s", log);
		exit(tap_done());
	}
}

int main(void)
{
	open_device();
	test_math();
	test_ops();
	test_attention();
	test_loss_and_optimizer();
	forced_local = 8;
	test_ops();
	test_attention();
	clReleaseProgram(prog);
	clReleaseCommandQueue(queue);
	clReleaseContext(ctx);
	return tap_done();
}
