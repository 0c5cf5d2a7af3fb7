/*
 * gemm.h - host side of the deterministic GEMM kernels (kernels/cl/gemm.cl).
 *
 * C[m][n] = epilogue(init + sum_{k=0..K-1} A(m,k) * B(k,n)), the sum taken
 * in k order with one fma() per term (see cl/gemm.cl for the exact contract
 * and the mode bits). Three kernel variants compute the same bits: two
 * register-blocked ones for CPUs (8 x 32 blocks for 16-wide SIMD such as
 * AVX-512, 6 x 16 for 8-wide such as AVX2) and a local-memory tiled one
 * for GPUs; GEMM_VARIANT_AUTO picks by device type and native float
 * vector width. gemm_ref() is the same contract in C, for tests and for
 * the C reference's callers.
 */
#ifndef AGORA_KERNELS_GEMM_H
#define AGORA_KERNELS_GEMM_H

#include "kernels/runtime.h"

#define GEMM_INIT_BIAS 1 /* acc starts at bias[n] */
#define GEMM_INIT_C 2    /* acc starts at C[m][n] */
#define GEMM_ADD_BIAS 4  /* C = acc + bias[n] after the sum */
#define GEMM_ADD_C 8     /* C = C + acc after the sum */
#define GEMM_RM 8        /* rows per work-item of gemm_rb */
#define GEMM_RN 32       /* columns per work-item of gemm_rb */
#define GEMM_NM 6        /* rows per work-item of gemm_rb_narrow */
#define GEMM_NN 16       /* columns per work-item of gemm_rb_narrow */
#define GEMM_KC 256      /* k per launch of gemm_rb (C carries the sums) */

enum gemm_variant {
	GEMM_VARIANT_AUTO = 0,
	GEMM_VARIANT_RB,        /* barrier-free register blocking, 8 x 32 (16-wide SIMD) */
	GEMM_VARIANT_TILED,     /* local-memory tiles, 64x64 per group (GPUs) */
	GEMM_VARIANT_RB_NARROW, /* register blocking, 6 x 16 (8-wide SIMD, e.g. AVX2) */
};

/* One multiply. Offsets and strides count floats. A(m,k) is
 * A[a_off + m*sam + k*sak]; B(k,n) is B[b_off + k*sbk + n*sbn]; C(m,n) is
 * C[c_off + m*ldc + n]; bias[n] is bias[bias_off + n]. bias may be NULL
 * unless a bias bit is set. C must
 * not overlap A or B. */
struct gemm_args {
	int M, N, K;
	cl_mem A;
	int a_off, sam, sak;
	cl_mem B;
	int b_off, sbk, sbn;
	cl_mem C;
	int c_off, ldc;
	cl_mem bias;
	int bias_off;
	int mode;
};

struct gemm {
	struct runtime *rt; /* not owned */
	enum gemm_variant variant;
	cl_kernel rb, rb_narrow, tiled, pack_a, pack_b, transpose;
	int rm, rn;    /* the register-blocked variant's block (GEMM_RM/RN or NM/NN) */
	cl_mem pa, pb; /* packed panels of gemm_rb, grown on demand */
	size_t pa_floats, pb_floats;
	/* Local size of gemm_rb along dim 0 (1 along dim 1); 0 lets the
	 * driver choose. Tests set it to check every work-group size. */
	size_t rb_local;
};

/* Creates the kernels on rt; variant AUTO picks TILED on GPUs, else RB
 * when the device's native float vector width is 16 or more and
 * RB_NARROW below. gemm_release() frees them. Tests may change
 * g->variant afterwards (gemm_set_variant()). */
int gemm_init(struct gemm *g, struct runtime *rt, enum gemm_variant variant,
	      struct error *err);
void gemm_release(struct gemm *g);

/* Switches g to another variant (for tests and benchmarks). */
void gemm_set_variant(struct gemm *g, enum gemm_variant variant);
/* A variant's name with its block ("register-blocked 6x16"); static. */
const char *gemm_variant_name(enum gemm_variant variant);

/* Enqueues one multiply on rt's queue (no wait). The register-blocked
 * variants first pack A and B into g's scratch buffers (K*ceil(M/rm)*rm
 * and K*ceil(N/rn)*rn floats, grown when needed). */
int gemm_enqueue(struct gemm *g, const struct gemm_args *a, struct error *err);

/* Enqueues dst[d_off + c*rows + r] = src[s_off + r*cols + c]. */
int gemm_transpose(struct gemm *g, int rows, int cols, cl_mem src, int s_off, cl_mem dst,
		   int d_off, struct error *err);

/* The contract in C on host arrays (offsets already applied). */
void gemm_ref(int M, int N, int K, const float *A, int sam, int sak, const float *B,
	      int sbk, int sbn, float *C, int ldc, const float *bias, int mode);

#endif
