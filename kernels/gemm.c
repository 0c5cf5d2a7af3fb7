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
	if (variant == GEMM_VARIANT_AUTO)
		variant = rt->dev.info.type == RUNTIME_DEVICE_GPU ? GEMM_VARIANT_TILED
								   : GEMM_VARIANT_RB;
	g->variant = variant;
	g->rb = runtime_kernel(rt, "gemm", "gemm_rb", err);
	g->tiled = g->rb ? runtime_kernel(rt, "gemm", "gemm_tiled", err) : NULL;
	g->transpose = g->tiled ? runtime_kernel(rt, "gemm", "transpose", err) : NULL;
	if (!g->transpose) {
		gemm_release(g);
		return ERROR_DEVICE;
	}
	return 0;
}

void gemm_release(struct gemm *g)
{
	if (g->rb)
		clReleaseKernel(g->rb);
	if (g->tiled)
		clReleaseKernel(g->tiled);
	if (g->transpose)
		clReleaseKernel(g->transpose);
	g->rb = g->tiled = g->transpose = NULL;
}

static size_t round_up(size_t v, size_t m)
{
	return (v + m - 1) / m * m;
}

int gemm_enqueue(struct gemm *g, const struct gemm_args *a, struct error *err)
{
	cl_kernel k = g->variant == GEMM_VARIANT_TILED ? g->tiled : g->rb;
	size_t global[2], local[2];
	const size_t *lp = NULL;
	cl_int rc = CL_SUCCESS;
	cl_uint i = 0;

	assert(a->M >= 0 && a->N >= 0 && a->K >= 0);
	if (a->M == 0 || a->N == 0)
		return 0;
#define ARG(v) rc |= clSetKernelArg(k, i++, sizeof(v), &(v))
	ARG(a->M); ARG(a->N); ARG(a->K);
	ARG(a->A); ARG(a->a_off); ARG(a->sam); ARG(a->sak);
	ARG(a->B); ARG(a->b_off); ARG(a->ldb);
	ARG(a->C); ARG(a->c_off); ARG(a->ldc);
	ARG(a->bias); ARG(a->mode);
#undef ARG
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clSetKernelArg", CL_INVALID_ARG_VALUE);
	if (g->variant == GEMM_VARIANT_TILED) {
		local[0] = local[1] = 16;
		global[0] = round_up((size_t)a->N, 16);
		global[1] = round_up((size_t)a->M, 16);
		lp = local;
	} else {
		global[0] = ((size_t)a->N + 15) / 16;
		global[1] = ((size_t)a->M + GEMM_RM - 1) / GEMM_RM;
		if (g->rb_local) {
			local[0] = g->rb_local;
			local[1] = 1;
			global[0] = round_up(global[0], local[0]);
			lp = local;
		}
	}
	rc = clEnqueueNDRangeKernel(g->rt->queue, k, 2, NULL, global, lp, 0, NULL, NULL);
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clEnqueueNDRangeKernel", rc);
	return 0;
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
	      int ldb, float *C, int ldc, const float *bias, int mode)
{
	for (int m = 0; m < M; m++) {
		for (int n = 0; n < N; n++) {
			float *c = &C[(size_t)m * ldc + n];
			float acc = (mode & GEMM_INIT_BIAS) ? bias[n]
				    : (mode & GEMM_INIT_C)  ? *c
							    : 0.0f;

			for (int k = 0; k < K; k++)
				acc = fmaf(A[(size_t)m * sam + (size_t)k * sak],
					   B[(size_t)k * ldb + n], acc);
			if (mode & GEMM_ADD_BIAS)
				acc = acc + bias[n];
			else if (mode & GEMM_ADD_C)
				acc = *c + acc;
			*c = acc;
		}
	}
}
