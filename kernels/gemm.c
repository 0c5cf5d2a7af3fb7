/*
 * gemm.c - launching the deterministic GEMM kernels (see gemm.h).
 */
#include "config.h"

#include "kernels/gemm.h"

#include <assert.h>
#include <math.h>
#include <string.h>

int gemm_init(struct gemm *g, struct runtime *rt, enum gemm_variant variant,
	      struct error *err)
{
	memset(g, 0, sizeof(*g));
	g->rt = rt;
	/* GPUs take the tiled kernel when they can run its 16x16 groups; a
	 * CPU the register blocks that fit its vector registers */
	if (variant == GEMM_VARIANT_AUTO)
		variant = rt->dev.info.type == RUNTIME_DEVICE_GPU && rt->dev.info.max_work_group >= 256
				  ? GEMM_VARIANT_TILED
			  : rt->dev.info.native_float >= 16 ? GEMM_VARIANT_RB
							     : GEMM_VARIANT_RB_NARROW;
	gemm_set_variant(g, variant);
	g->rb = runtime_kernel(rt, "gemm", "gemm_rb", err);
	g->rb_narrow = g->rb ? runtime_kernel(rt, "gemm", "gemm_rb_narrow", err) : NULL;
	g->tiled = g->rb_narrow ? runtime_kernel(rt, "gemm", "gemm_tiled", err) : NULL;
	g->pack_a = g->tiled ? runtime_kernel(rt, "gemm", "gemm_pack_a", err) : NULL;
	g->pack_b = g->pack_a ? runtime_kernel(rt, "gemm", "gemm_pack_b", err) : NULL;
	g->transpose = g->pack_b ? runtime_kernel(rt, "gemm", "transpose", err) : NULL;
	if (!g->transpose) {
		gemm_release(g);
		return ERROR_DEVICE;
	}
	return 0;
}

void gemm_set_variant(struct gemm *g, enum gemm_variant variant)
{
	g->variant = variant;
	g->rm = variant == GEMM_VARIANT_RB_NARROW ? GEMM_NM : GEMM_RM;
	g->rn = variant == GEMM_VARIANT_RB_NARROW ? GEMM_NN : GEMM_RN;
}

const char *gemm_variant_name(enum gemm_variant variant)
{
	switch (variant) {
	case GEMM_VARIANT_RB:
		return "register-blocked 8x32";
	case GEMM_VARIANT_RB_NARROW:
		return "register-blocked 6x16";
	case GEMM_VARIANT_TILED:
		return "tiled 64x64";
	default:
		return "auto";
	}
}

void gemm_release(struct gemm *g)
{
	if (g->rb)
		clReleaseKernel(g->rb);
	if (g->rb_narrow)
		clReleaseKernel(g->rb_narrow);
	if (g->tiled)
		clReleaseKernel(g->tiled);
	if (g->pack_a)
		clReleaseKernel(g->pack_a);
	if (g->pack_b)
		clReleaseKernel(g->pack_b);
	if (g->transpose)
		clReleaseKernel(g->transpose);
	if (g->pa)
		clReleaseMemObject(g->pa);
	if (g->pb)
		clReleaseMemObject(g->pb);
	g->rb = g->rb_narrow = g->tiled = g->pack_a = g->pack_b = NULL;
	g->transpose = NULL;
	g->pa = g->pb = NULL;
	g->pa_floats = g->pb_floats = 0;
}

static size_t round_up(size_t v, size_t m)
{
	return (v + m - 1) / m * m;
}

#define ARG(k, i, v) clSetKernelArg((k), (i), sizeof(v), &(v))

static int enqueue(struct gemm *g, cl_kernel k, const size_t *global, const size_t *local,
		   struct error *err)
{
	cl_int rc = clEnqueueNDRangeKernel(g->rt->queue, k, 2, NULL, global, local, 0, NULL,
					   NULL);

	return rc == CL_SUCCESS ? 0 : runtime_cl_error(err, "clEnqueueNDRangeKernel", rc);
}

static int scratch_reserve(struct gemm *g, cl_mem *buf, size_t *have, size_t floats,
			   struct error *err)
{
	cl_int rc;

	if (floats <= *have)
		return 0;
	/* the old buffer stays alive until queued kernels that use it finish */
	if (*buf)
		clReleaseMemObject(*buf);
	*have = 0;
	*buf = clCreateBuffer(g->rt->ctx, CL_MEM_READ_WRITE, floats * sizeof(float), NULL, &rc);
	if (!*buf)
		return runtime_cl_error(err, "clCreateBuffer", rc);
	*have = floats;
	return 0;
}

static int enqueue_tiled(struct gemm *g, const struct gemm_args *a, struct error *err)
{
	cl_kernel k = g->tiled;
	size_t global[2], local[2] = {16, 16};
	cl_int rc = CL_SUCCESS;
	cl_uint i = 0;

	rc |= ARG(k, i++, a->M); rc |= ARG(k, i++, a->N); rc |= ARG(k, i++, a->K);
	rc |= ARG(k, i++, a->A); rc |= ARG(k, i++, a->a_off);
	rc |= ARG(k, i++, a->sam); rc |= ARG(k, i++, a->sak);
	rc |= ARG(k, i++, a->B); rc |= ARG(k, i++, a->b_off);
	rc |= ARG(k, i++, a->sbk); rc |= ARG(k, i++, a->sbn);
	rc |= ARG(k, i++, a->C); rc |= ARG(k, i++, a->c_off); rc |= ARG(k, i++, a->ldc);
	rc |= ARG(k, i++, a->bias); rc |= ARG(k, i++, a->bias_off);
	rc |= ARG(k, i++, a->mode);
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clSetKernelArg", CL_INVALID_ARG_VALUE);
	/* a 16 x 16 group per 64 x 64 block of C */
	global[0] = round_up((size_t)a->N, 64) / 4;
	global[1] = round_up((size_t)a->M, 64) / 4;
	return enqueue(g, k, global, local, err);
}

static int enqueue_rb(struct gemm *g, const struct gemm_args *a, struct error *err)
{
	size_t rm = (size_t)g->rm, rn = (size_t)g->rn;
	size_t mp = round_up((size_t)a->M, rm), np = round_up((size_t)a->N, rn);
	size_t K = a->K ? (size_t)a->K : 1;
	size_t global[2], local[2];
	const size_t *lp = NULL;
	cl_int rc = CL_SUCCESS;
	cl_kernel k;
	int ret;

	ret = scratch_reserve(g, &g->pa, &g->pa_floats, mp * K, err);
	if (!ret)
		ret = scratch_reserve(g, &g->pb, &g->pb_floats, np * K, err);
	if (ret)
		return ret;
	cl_kernel ka = g->pack_a, kb = g->pack_b;

	k = ka;
	rc |= ARG(k, 0, a->M); rc |= ARG(k, 1, a->K); rc |= ARG(k, 2, a->A);
	rc |= ARG(k, 3, a->a_off); rc |= ARG(k, 4, a->sam); rc |= ARG(k, 5, a->sak);
	rc |= ARG(k, 6, g->pa); rc |= ARG(k, 7, g->rm);
	k = kb;
	rc |= ARG(k, 0, a->N); rc |= ARG(k, 1, a->K); rc |= ARG(k, 2, a->B);
	rc |= ARG(k, 3, a->b_off); rc |= ARG(k, 4, a->sbk); rc |= ARG(k, 5, a->sbn);
	rc |= ARG(k, 6, g->pb); rc |= ARG(k, 7, g->rn);
	k = g->variant == GEMM_VARIANT_RB_NARROW ? g->rb_narrow : g->rb;
	rc |= ARG(k, 0, a->M); rc |= ARG(k, 1, a->N); rc |= ARG(k, 2, a->K);
	rc |= ARG(k, 5, g->pa); rc |= ARG(k, 6, g->pb);
	rc |= ARG(k, 7, a->C); rc |= ARG(k, 8, a->c_off); rc |= ARG(k, 9, a->ldc);
	rc |= ARG(k, 10, a->bias); rc |= ARG(k, 11, a->bias_off);
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clSetKernelArg", CL_INVALID_ARG_VALUE);
	if (a->K > 0) { /* one panel's k per work-item, k fastest */
		global[0] = K;
		global[1] = mp / rm;
		ret = enqueue(g, ka, global, NULL, err);
		global[1] = np / rn;
		if (!ret)
			ret = enqueue(g, kb, global, NULL, err);
		if (ret)
			return ret;
	}
	global[0] = np / rn;
	global[1] = mp / rm;
	if (g->rb_local) {
		local[0] = g->rb_local;
		local[1] = 1;
		global[0] = round_up(global[0], local[0]);
		lp = local;
	}
	/* K in blocks of GEMM_KC so a block of the packed panels stays in
	 * cache; C carries the accumulators between blocks (not possible with
	 * GEMM_ADD_C, whose C must survive to the epilogue) */
	int kc = (a->mode & GEMM_ADD_C) || a->K <= GEMM_KC ? a->K : GEMM_KC;
	int k0 = 0;
	do {
		int k1 = kc > 0 && a->K - k0 > kc ? k0 + kc : a->K;
		int first = k0 == 0, last = k1 == a->K;
		int mode = first ? a->mode & (GEMM_INIT_BIAS | GEMM_INIT_C) : GEMM_INIT_C;

		if (last)
			mode |= a->mode & (GEMM_ADD_BIAS | GEMM_ADD_C);
		rc = ARG(k, 3, k0);
		rc |= ARG(k, 4, k1);
		rc |= ARG(k, 12, mode);
		if (rc != CL_SUCCESS)
			return runtime_cl_error(err, "clSetKernelArg", CL_INVALID_ARG_VALUE);
		ret = enqueue(g, k, global, lp, err);
		k0 = k1;
	} while (!ret && k0 < a->K);
	return ret;
}

int gemm_enqueue(struct gemm *g, const struct gemm_args *a, struct error *err)
{
	assert(a->M >= 0 && a->N >= 0 && a->K >= 0);
	if (a->M == 0 || a->N == 0)
		return 0;
	if (g->variant == GEMM_VARIANT_TILED)
		return enqueue_tiled(g, a, err);
	return enqueue_rb(g, a, err);
}

int gemm_transpose(struct gemm *g, int rows, int cols, cl_mem src, int s_off, cl_mem dst,
		   int d_off, struct error *err)
{
	size_t global[2] = {(size_t)cols, (size_t)rows};
	cl_int rc = CL_SUCCESS;

	rc |= clSetKernelArg(g->transpose, 0, sizeof(rows), &rows);
	rc |= clSetKernelArg(g->transpose, 1, sizeof(cols), &cols);
	rc |= clSetKernelArg(g->transpose, 2, sizeof(src), &src);
	rc |= clSetKernelArg(g->transpose, 3, sizeof(s_off), &s_off);
	rc |= clSetKernelArg(g->transpose, 4, sizeof(dst), &dst);
	rc |= clSetKernelArg(g->transpose, 5, sizeof(d_off), &d_off);
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clSetKernelArg", CL_INVALID_ARG_VALUE);
	if (rows == 0 || cols == 0)
		return 0;
	rc = clEnqueueNDRangeKernel(g->rt->queue, g->transpose, 2, NULL, global, NULL, 0, NULL,
				    NULL);
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clEnqueueNDRangeKernel", rc);
	return 0;
}

void gemm_ref(int M, int N, int K, const float *A, int sam, int sak, const float *B,
	      int sbk, int sbn, float *C, int ldc, const float *bias, int mode)
{
	for (int m = 0; m < M; m++) {
		for (int n = 0; n < N; n++) {
			float *c = &C[(size_t)m * ldc + n];
			float acc = (mode & GEMM_INIT_BIAS) ? bias[n]
				    : (mode & GEMM_INIT_C)  ? *c
							    : 0.0f;

			for (int k = 0; k < K; k++)
				acc = fmaf(A[(size_t)m * sam + (size_t)k * sak],
					   B[(size_t)k * sbk + (size_t)n * sbn], acc);
			if (mode & GEMM_ADD_BIAS)
				acc = acc + bias[n];
			else if (mode & GEMM_ADD_C)
				acc = *c + acc;
			*c = acc;
		}
	}
}
