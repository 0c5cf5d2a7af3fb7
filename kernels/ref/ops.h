/*
 * ops.h - the reference operations: loops over the per-element functions
 * of elem.h (float, ref_*) and elem_double.h (double, refd_*), plus the
 * float-only optimizer pieces (global gradient norm, clipping, AdamW,
 * pseudo-gradient).
 *
 * All buffers are caller-owned, row-major, and must not alias unless said.
 * Every result is overwritten, except layernorm_bwd's dx with accumulate=1
 * (dx += the LayerNorm input gradient, one add per element).
 * Host-side constants: 1/C and 1/M are `(T)1 / (T)C` (IEEE division on
 * the host, correctly rounded); REF_LN_EPS is the LayerNorm epsilon.
 */
#ifndef AGORA_KERNELS_REF_OPS_H
#define AGORA_KERNELS_REF_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/model.h"

#define REF_LN_EPS 1e-5f

/* REF_HOT marks the reference's hot loops: on x86-64 Linux with GCC they
 * get a second, FMA-enabled clone picked at load time (ifunc),
 * so fmaf() becomes one instruction instead of a libm call (about 2x
 * faster). fma is correctly rounded either way and nothing else changes
 * (-ffp-contract=off still holds), so both clones give the same bits;
 * ref-gpt-test's pinned checksum checks it on whichever clone runs.
 * GCC only: clang 14 leaves the ifunc resolvers of clones unresolved when
 * they are linked from a static library. Define AGORA_NO_CLONES to turn
 * it off. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(AGORA_NO_CLONES)
#define REF_HOT __attribute__((target_clones("fma", "default")))
#else
#define REF_HOT
#endif

/* y (M,N) = x (M,K) . w(N,K)^T + b (b may be NULL). */
/* matmul_bwd: dx (M,K) = dy.w, dw (N,K) = dy^T.x, db (N) = column sums of
 * dy; each of dx, dw, db may be NULL to skip it. */
/* layernorm_fwd: y (M,C), mean and rstd (M). layernorm_bwd: dx (M,C), dw
 * and db (C), stats scratch (2M). ce_fwd: stats (2M), losses (M) from
 * logits (M,V); returns the mean loss. ce_bwd: dlogits (M,V). */
#define REF_OPS_DECLARE(T, P)                                                                      \
	void P##matmul_fwd(T *y, const T *x, const T *w, const T *b, int M, int N, int K);         \
	void P##matmul_bwd(T *dx, T *dw, T *db, const T *dy, const T *x, const T *w, int M, int N, \
			   int K);                                                                 \
	void P##layernorm_fwd(T *y, T *mean, T *rstd, const T *x, const T *w, const T *b, int M,   \
			      int C);                                                              \
	void P##layernorm_bwd(T *dx, T *dw, T *db, T *stats, const T *dy, const T *x,              \
			      const T *mean, const T *rstd, const T *w, int M, int C,              \
			      int accumulate);                                                     \
	void P##gelu_fwd(T *y, const T *x, int n);                                                 \
	void P##gelu_bwd(T *dx, const T *x, const T *dy, int n);                                   \
	void P##residual(T *y, const T *a, const T *b, int n);                                     \
	T P##ce_fwd(T *stats, T *losses, const T *logits, const int *targets, int M, int V);       \
	void P##ce_bwd(T *dlogits, const T *logits, const int *targets, const T *stats, int M,     \
		       int V);

REF_OPS_DECLARE(float, ref_)
REF_OPS_DECLARE(double, refd_)

/* AdamW hyper-parameters of a job. max_grad_norm <= 0 disables clipping. */
struct ref_adamw {
	float lr, beta1, beta2, eps, weight_decay, max_grad_norm;
};

/* The per-step scalars handed to elem_adamw(), computed on the host:
 * omb1 = 1.0f - beta1, omb2 = 1.0f - beta2 (float), bc1 = (float)(1.0 /
 * (1.0 - beta1^t)) and bc2 likewise, with beta^t by binary exponentiation
 * in double (square-and-multiply, low bit first) and (double)beta exact;
 * decay = 1.0f - lr*weight_decay (float, product rounded first). */
struct ref_adamw_step {
	float lr, beta1, beta2, omb1, omb2, eps, bc1, bc2, decay;
};

/* t is the 1-based step number after this update. */
void ref_adamw_prepare(const struct ref_adamw *opt, uint64_t t, struct ref_adamw_step *s);

/* Global L2 norm of g[0..n): chunk sums elem_sumsq_chunk() for chunks
 * 0, 1, ... in order, added in order from 0, then fmath_sqrt. */
float ref_grad_norm(const float *g, size_t n);

/* One optimizer step over the whole flat buffer: norm, clip scale, then
 * elem_adamw on every element, tensor by tensor (decay per tensor from
 * model_tensor_get). t as in ref_adamw_prepare. Returns the pre-clip norm. */
float ref_optimizer_step(const struct model_config *cfg, float *params, const float *grads,
			 float *m, float *v, uint64_t t, const struct ref_adamw *opt);

/* out[i] = start[i] - end[i] (the pseudo-gradient Delta). */
void ref_delta(float *out, const float *start, const float *end, size_t n);

#endif
