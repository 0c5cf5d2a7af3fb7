/*
 * attention.c - causal self-attention of the GPT on the engine's buffers
 * (see attention.h): the launches of the reference's elem_attn_softmax,
 * elem_attn_out, elem_attn_bwd_row and elem_attn_bwd_dqkv, either one
 * work-item per element (any head size) or the 16-lane kernels of
 * kernels/cl/train.cl (head size a multiple of 16), whose work-items take
 * ATTN_R rows of t each. Both give the reference's bits.
 */
#include "config.h"

#include "kernels/attention.h"

#include <math.h>

#include "kernels/engine-priv.h"

/* Rows of t per work-item in the blocked attention kernels: ATTN_R in
 * kernels/cl/train.cl. */
#define ATTN_R 8

static float attention_scale(const struct model_config *cfg)
{
	/* the reference's expression, evaluated on the host */
	return (float)(1.0 / sqrt((double)(cfg->n_embd / cfg->n_head)));
}

/* Causal self-attention forward of one layer: att (softmax rows) and the
 * output atty from qkv; the reference's elem_attn_softmax/elem_attn_out. */
void attention_forward(struct engine *e, size_t qkv, size_t att, size_t atty)
{
	const struct model_config *cfg = e->cfg;
	int C = cfg->n_embd, T = cfg->n_ctx, NH = cfg->n_head, BT = e->BT;
	int rows = e->B * NH * T, ntb = (T + ATTN_R - 1) / ATTN_R;
	float scale = attention_scale(cfg);

	if (!e->attn_vec) {
		engine_launch(e, K_ATTN_SOFTMAX, (size_t)rows, "mimiiiifi", e->acts, (int)qkv,
			      e->acts, (int)att, T, C, NH, (double)scale, rows);
		engine_launch(e, K_ATTN_OUT, (size_t)BT * C, "mimimiiiii", e->acts, (int)atty,
			      e->acts, (int)qkv, e->acts, (int)att, T, C, NH, BT * C);
		return;
	}
	if (e->vec_exp) {
		int Tp = e->Tp, n = e->B * NH * ntb * (Tp / 16);

		engine_launch(e, K_ATTN_T, (size_t)e->B * Tp * C / 16, "mmiiiiii", e->vt, e->acts,
			      (int)qkv, 1, T, Tp, C, e->B * Tp * C / 16);
		engine_launch(e, K_ATTN_SCORES, (size_t)n, "mimimiiiifi", e->acts, (int)att,
			      e->acts, (int)qkv, e->vt, T, Tp, C, NH, (double)scale, n);
		engine_launch(e, K_ATTN_SOFTMAX_FIN, (size_t)rows, "miii", e->acts, (int)att, T,
			      rows);
	} else {
		engine_launch(e, K_ATTN_SOFTMAX, (size_t)rows, "mimiiiifi", e->acts, (int)qkv,
			      e->acts, (int)att, T, C, NH, (double)scale, rows);
	}
	engine_launch(e, K_ATTN_OUT_V, (size_t)e->B * ntb * C / 16, "mimimiiiii", e->acts,
		      (int)atty, e->acts, (int)qkv, e->acts, (int)att, T, C, NH,
		      e->B * ntb * C / 16);
}

/* Attention backward of one layer: d_pre (scratch) and d_qkv from d_atty;
 * elem_attn_bwd_row and elem_attn_bwd_dqkv. */
void attention_backward(struct engine *e, size_t qkv, size_t att, size_t d_atty, size_t d_pre,
			size_t d_qkv)
{
	const struct model_config *cfg = e->cfg;
	int C = cfg->n_embd, T = cfg->n_ctx, NH = cfg->n_head, BT = e->BT, Tp = e->Tp;
	int rows = e->B * NH * T, ntb = (T + ATTN_R - 1) / ATTN_R, nrb = e->B * ntb;
	float scale = attention_scale(cfg);

	if (!e->attn_vec) {
		engine_launch(e, K_ATTN_BWD_ROW, (size_t)rows, "mimimimiiiifi", e->acts, (int)d_pre,
			      e->acts, (int)d_atty, e->acts, (int)qkv, e->acts, (int)att, T, C, NH,
			      (double)scale, rows);
		engine_launch(e, K_ATTN_BWD_DQKV, (size_t)BT * 3 * C, "mimimimimiiiii", e->acts,
			      (int)d_qkv, e->acts, (int)d_pre, e->acts, (int)att, e->acts,
			      (int)d_atty, e->acts, (int)qkv, T, C, NH, BT * 3 * C);
		return;
	}
	engine_launch(e, K_ATTN_T, (size_t)e->B * Tp * C / 16, "mmiiiiii", e->vt, e->acts,
		      (int)qkv, 2, T, Tp, C, e->B * Tp * C / 16);
	engine_launch(e, K_ATTN_BWD_DA, (size_t)nrb * NH * (Tp / 16), "mimimiiiii", e->acts,
		      (int)d_pre, e->acts, (int)d_atty, e->vt, T, Tp, C, NH, nrb * NH * (Tp / 16));
	engine_launch(e, K_ATTN_BWD_FIN, (size_t)rows, "mimiifi", e->acts, (int)d_pre, e->acts,
		      (int)att, T, (double)scale, rows);
	engine_launch(e, K_ATTN_BWD_DQKV_V, (size_t)nrb * 3 * C / 16, "mimimimimiiiii", e->acts,
		      (int)d_qkv, e->acts, (int)d_pre, e->acts, (int)att, e->acts, (int)d_atty,
		      e->acts, (int)qkv, T, C, NH, nrb * 3 * C / 16);
}
