/*
 * engine-priv.h - the engine's state and launcher, shared by the files
 * that enqueue its kernels (engine.c: the model passes, the optimizer and
 * the state; attention.c: causal self-attention). Not part of the
 * library's interface: include kernels/engine.h instead.
 */
#ifndef AGORA_KERNELS_ENGINE_PRIV_H
#define AGORA_KERNELS_ENGINE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kernels/engine.h"
#include "kernels/gemm.h"
#include "kernels/runtime.h"

/* Kernels of kernels/cl/train.cl, in the order of kernel_names (engine.c). */
enum {
	K_EMBED_FWD,
	K_LN_STATS,
	K_LN_FWD,
	K_ATTN_SOFTMAX,
	K_ATTN_OUT,
	K_RESIDUAL,
	K_GELU_FWD,
	K_GELU_BWD,
	K_CE_ROW,
	K_LOSS_MEAN,
	K_CE_DLOGITS,
	K_MATMUL_DB,
	K_LN_BWD_STATS,
	K_LN_BWD_DX,
	K_LN_BWD_DWDB,
	K_ATTN_BWD_ROW,
	K_ATTN_BWD_DQKV,
	K_WPE_GRAD,
	K_WTE_EMBED_ADD,
	K_SUMSQ_CHUNKS,
	K_CLIP_SCALE,
	K_ADAMW,
	K_DELTA,
	K_ATTN_T,
	K_ATTN_SCORES,
	K_ATTN_SOFTMAX_FIN,
	K_EXP_CHECK,
	K_ATTN_OUT_V,
	K_ATTN_BWD_DA,
	K_ATTN_BWD_FIN,
	K_ATTN_BWD_DQKV_V,
	K_MATMUL_DB_V,
	K_LN_BWD_DWDB_V,
	K_GELU_FWD_V,
	K_GELU_BWD_V,
	K_LN_FWD_V,
	K_LN_BWD_DX_V,
	K_ADAMW_V,
	K_COUNT,
	K_GEMM = K_COUNT, /* profile slot of the GEMMs */
	K_SLOTS
};

/* A run of tensors with the same weight-decay flag: one AdamW launch. */
struct adamw_run {
	int lo, n, decay;
};

struct engine {
	struct runtime *rt;
	const struct model_config *cfg;
	struct engine_opts opts;
	struct gemm gemm;
	cl_kernel k[K_COUNT];
	int B, BT;
	size_t n_params, n_acts;
	int nchunks;
	cl_mem params, grads, m, v, acts;
	cl_mem tokens, targets, order, start, x;
	cl_mem chunks, scalars;
	/* Vectorised attention (head size a multiple of 16): V copied as
	 * [b][h][d][j], j padded to Tp. vt is NULL otherwise. */
	int attn_vec, Tp;
	cl_mem vt;
	/* Vectorised GELU and softmax exps: on unless their self-check
	 * (engine_new) fails; the GPU-or-CPU result is the same either way. */
	int vec_gelu, vec_exp;
	int vec_adamw; /* adamw_v: on unless its self-check fails */
	int *h_tokens, *h_targets, *h_order, *h_start; /* host copies of a batch */
	float h_scalars[4];
	struct adamw_run *runs;
	int n_runs;
	uint64_t step;
	int rc;
	struct error err;
	double prof_s[K_SLOTS];
	unsigned long prof_n[K_SLOTS];
};

/*
 * Sets the arguments of kernel `which` from fmt ('m' cl_mem, 'i' int, 'f'
 * float passed as double) and enqueues it over n work-items (rounded up
 * to the local size). Errors are sticky in e->rc / e->err.
 */
void engine_launch(struct engine *e, int which, size_t n, const char *fmt, ...);

#endif
