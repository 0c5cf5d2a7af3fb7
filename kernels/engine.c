/*
 * engine.c - the OpenCL training engine (see engine.h).
 *
 * The forward and backward passes below follow kernels/ref/gpt_impl.h and
 * kernels/ref/mlp_impl.h statement by statement; each reference loop
 * becomes one kernel launch (kernels/cl/train.cl) or one GEMM
 * (kernels/cl/gemm.cl); attention's launches are in attention.c, the
 * state both share in engine-priv.h. Where the per-element kernel leaves
 * a CPU scalar, a 16-lane twin runs the same per-element operations
 * (checked at start where it restates fmath.h: gelu_selfcheck,
 * adamw_selfcheck). Launch errors are sticky: the first one is kept in
 * e->rc / e->err and the step reports it after its clFinish, so the
 * enqueueing code stays a straight list of launches.
 */
#include "config.h"

#include "kernels/engine.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "kernels/ref/elem.h"
#include "kernels/ref/gpt.h"
#include "kernels/attention.h"
#include "kernels/engine-priv.h"

static const char *const kernel_names[K_COUNT] = {
	"embed_fwd",	"layernorm_stats",     "layernorm_fwd",	   "attn_softmax",
	"attn_out",	"residual",	       "gelu_fwd",	   "gelu_bwd",
	"ce_row",	"loss_mean",	       "ce_dlogits",	   "matmul_db",
	"layernorm_bwd_stats", "layernorm_bwd_dx", "layernorm_bwd_dwdb", "attn_bwd_row",
	"attn_bwd_dqkv", "wpe_grad",	       "wte_embed_add",	   "sumsq_chunks",
	"clip_scale",	"adamw",	       "delta",		   "attn_t",
	"attn_scores",	"attn_softmax_fin",    "exp_check",	   "attn_out_v",
	"attn_bwd_da",
	"attn_bwd_fin",	"attn_bwd_dqkv_v",     "matmul_db_v",	   "layernorm_bwd_dwdb_v",
	"gelu_fwd_v",	"gelu_bwd_v",	"layernorm_fwd_v", "layernorm_bwd_dx_v", "adamw_v",
};

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* With opts.profile: waits for the queue and charges the time since t0. */
static void profile_end(struct engine *e, int slot, double t0)
{
	if (!e->opts.profile)
		return;
	clFinish(e->rt->queue);
	e->prof_s[slot] += wall() - t0;
	e->prof_n[slot]++;
}

void engine_profile_print(const struct engine *e, FILE *f)
{
	double total = 0.0;

	for (int i = 0; i < K_SLOTS; i++)
		total += e->prof_s[i];
	for (int i = 0; i < K_SLOTS; i++)
		if (e->prof_n[i])
			fprintf(f, "  %-20s %8lu launches %9.3f s %5.1f%%\n",
				i == K_GEMM ? "gemm" : kernel_names[i], e->prof_n[i], e->prof_s[i],
				100.0 * e->prof_s[i] / total);
}

/* ------------------------------------------------------------ launching */

static int fail(struct engine *e, int rc, const char *call, cl_int code)
{
	if (e->rc == 0) {
		runtime_cl_error(&e->err, call, code);
		e->rc = rc;
	}
	return e->rc;
}

/*
 * Sets the arguments of k from fmt ('m' cl_mem, 'i' int, 'f' float passed
 * as double) and enqueues it over n work-items (rounded up to the local
 * size). Errors are sticky in e->rc.
 */
void engine_launch(struct engine *e, int which, size_t n, const char *fmt, ...)
{
	cl_kernel k = e->k[which];
	size_t global, local = e->opts.local;
	va_list ap;
	cl_int rc = CL_SUCCESS;
	cl_uint i;
	double t0;

	if (e->rc || n == 0)
		return;
	va_start(ap, fmt);
	for (i = 0; fmt[i]; i++) {
		if (fmt[i] == 'm') {
			cl_mem m = va_arg(ap, cl_mem);
			rc = clSetKernelArg(k, i, sizeof(m), &m);
		} else if (fmt[i] == 'i') {
			int v = va_arg(ap, int);
			rc = clSetKernelArg(k, i, sizeof(v), &v);
		} else {
			float f = (float)va_arg(ap, double);
			rc = clSetKernelArg(k, i, sizeof(f), &f);
		}
		if (rc != CL_SUCCESS)
			break;
	}
	va_end(ap);
	if (rc != CL_SUCCESS) {
		if (e->rc == 0)
			error_set(&e->err, ERROR_DEVICE,
				  "clSetKernelArg failed: %s (kernel '%s', argument %u)",
				  runtime_cl_error_name(rc), kernel_names[which], i);
		e->rc = ERROR_DEVICE;
		return;
	}
	global = local ? (n + local - 1) / local * local : n;
	t0 = e->opts.profile ? wall() : 0.0;
	rc = clEnqueueNDRangeKernel(e->rt->queue, k, 1, NULL, &global, local ? &local : NULL, 0,
				    NULL, NULL);
	if (rc != CL_SUCCESS && e->rc == 0) {
		error_set(&e->err, ERROR_DEVICE, "clEnqueueNDRangeKernel failed: %s (kernel '%s')",
			  runtime_cl_error_name(rc), kernel_names[which]);
		e->rc = ERROR_DEVICE;
	}
	profile_end(e, which, t0);
}

/* C(M,N) (+)= A(M,K) B(K,N) with the strides of struct gemm_args. */
static void mm(struct engine *e, int M, int N, int K, cl_mem A, size_t ao, int sam, int sak,
	       cl_mem B, size_t bo, int sbk, int sbn, cl_mem C, size_t co, int ldc, cl_mem bias,
	       size_t bias_off, int mode)
{
	struct gemm_args a = {M,	  N,   K,	A,  (int)ao, sam,  sak,
			      B,	  (int)bo, sbk, sbn, C,       (int)co, ldc,
			      bias, (int)bias_off, mode};

	double t0 = e->opts.profile ? wall() : 0.0;

	if (e->rc)
		return;
	if (gemm_enqueue(&e->gemm, &a, &e->err) != 0)
		e->rc = ERROR_DEVICE;
	profile_end(e, K_GEMM, t0);
}

/* y (M,N) = x (M,K) . w(N,K)^T + b: ref matmul_fwd (bias may be NULL). */
static void matmul_fwd(struct engine *e, size_t y, size_t x, size_t w, int has_b, size_t b,
		       int M, int N, int K)
{
	mm(e, M, N, K, e->acts, x, K, 1, e->params, w, 1, K, e->acts, y, N,
	   has_b ? e->params : NULL, b, has_b ? GEMM_INIT_BIAS : 0);
}

/* db (N) = column sums of dy (M,N): the reference's matmul_db. */
static void matmul_db(struct engine *e, size_t db, size_t dy, int M, int N)
{
	if (e->opts.per_element)
		engine_launch(e, K_MATMUL_DB, (size_t)N, "mimiii", e->grads, (int)db, e->acts,
			      (int)dy, M, N);
	else
		engine_launch(e, K_MATMUL_DB_V, ((size_t)N + 15) / 16, "mimiii", e->grads, (int)db,
			      e->acts, (int)dy, M, N);
}

/* GELU forward and backward on n elements of acts. */
static void gelu_fwd(struct engine *e, size_t y, size_t x, int n)
{
	if (!e->vec_gelu)
		engine_launch(e, K_GELU_FWD, (size_t)n, "mimii", e->acts, (int)y, e->acts, (int)x,
			      n);
	else
		engine_launch(e, K_GELU_FWD_V, ((size_t)n + 15) / 16, "mimii", e->acts, (int)y,
			      e->acts, (int)x, n);
}

static void gelu_bwd(struct engine *e, size_t dx, size_t x, size_t dy, int n)
{
	int which = e->vec_gelu ? K_GELU_BWD_V : K_GELU_BWD;
	size_t items = e->vec_gelu ? ((size_t)n + 15) / 16 : (size_t)n;

	engine_launch(e, which, items, "mimimii", e->acts, (int)dx, e->acts, (int)x, e->acts,
		      (int)dy, n);
}

/* ref matmul_bwd: dx (acts, may be skipped with dx == SIZE_MAX), dw and db
 * into the gradient buffer. dy and x are in acts, w in params. */
static void matmul_bwd(struct engine *e, size_t dx, size_t dw, size_t db, size_t dy, size_t x,
		       size_t w, int M, int N, int K)
{
	if (dx != SIZE_MAX) /* dx[m,k] = sum_n dy[m,n] w[n,k] */
		mm(e, M, K, N, e->acts, dy, N, 1, e->params, w, K, 1, e->acts, dx, K, NULL, 0, 0);
	/* dw[n,k] = sum_m dy[m,n] x[m,k] */
	mm(e, N, K, M, e->acts, dy, 1, N, e->acts, x, K, 1, e->grads, dw, K, NULL, 0, 0);
	matmul_db(e, db, dy, M, N);
}

static void layernorm_fwd(struct engine *e, size_t y, size_t mean, size_t rstd, size_t x,
			  size_t w, size_t b, int M, int C)
{
	float inv_c = 1.0f / (float)C;
	int pe = e->opts.per_element, n = pe ? M * C : M * ((C + 15) / 16);

	engine_launch(e, K_LN_STATS, (size_t)M, "mimimiiffi", e->acts, (int)x, e->acts, (int)mean,
		      e->acts, (int)rstd, C, (double)inv_c, (double)REF_LN_EPS, M);
	engine_launch(e, pe ? K_LN_FWD : K_LN_FWD_V, (size_t)n, "mimimimimiiii", e->acts, (int)y,
		      e->acts, (int)x, e->acts, (int)mean, e->acts, (int)rstd, e->params, (int)w,
		      (int)b, C, n);
}

/* ref layernorm_bwd; dw and db are offsets in the gradient buffer. */
static void layernorm_bwd(struct engine *e, size_t dx, size_t dw, size_t db, size_t stats,
			  size_t dy, size_t x, size_t mean, size_t rstd, size_t w, int M, int C,
			  int accumulate)
{
	float inv_c = 1.0f / (float)C;
	int pe = e->opts.per_element, n = pe ? M * C : M * ((C + 15) / 16);

	engine_launch(e, K_LN_BWD_STATS, (size_t)M, "mimimimimimiifi", e->acts, (int)stats, e->acts,
		      (int)dy, e->acts, (int)x, e->acts, (int)mean, e->acts, (int)rstd, e->params,
		      (int)w, C, (double)inv_c, M);
	engine_launch(e, pe ? K_LN_BWD_DX : K_LN_BWD_DX_V, (size_t)n, "mimimimimimimiiii", e->acts,
		      (int)dx, e->acts, (int)dy, e->acts, (int)x, e->acts, (int)mean, e->acts,
		      (int)rstd, e->params, (int)w, e->acts, (int)stats, C, accumulate, n);
	engine_launch(e, e->opts.per_element ? K_LN_BWD_DWDB : K_LN_BWD_DWDB_V,
		      e->opts.per_element ? (size_t)C : ((size_t)C + 15) / 16, "miimimimimiii",
		      e->grads, (int)dw, (int)db, e->acts, (int)dy, e->acts, (int)x, e->acts,
		      (int)mean, e->acts, (int)rstd, M, C);
}

/* ref ce_fwd + ce_bwd's forward half: stats, losses, scalars[0] = loss. */
static void ce_fwd(struct engine *e, size_t stats, size_t losses, size_t logits, int M, int V)
{
	engine_launch(e, K_CE_ROW, (size_t)M, "mimmimiii", e->acts, (int)logits, e->targets,
		      e->acts, (int)stats, e->acts, (int)losses, V, M);
	engine_launch(e, K_LOSS_MEAN, 1, "miifm", e->acts, (int)losses, M,
		      (double)(1.0f / (float)M), e->scalars);
}

static void ce_bwd(struct engine *e, size_t dlogits, size_t logits, size_t stats, int M, int V)
{
	engine_launch(e, K_CE_DLOGITS, (size_t)M * V, "mimimmiifi", e->acts, (int)dlogits, e->acts,
		      (int)logits, e->targets, e->acts, (int)stats, V, (double)(1.0f / (float)M),
		      M * V);
}

/* ------------------------------------------------------------ the GPT */

static void gpt_forward(struct engine *e)
{
	const struct model_config *cfg = e->cfg;
	struct gpt_layout lay;
	struct gpt_acts_layout al;
	int C = cfg->n_embd, T = cfg->n_ctx, V = cfg->vocab, BT = e->BT;
	size_t res;

	model_gpt_layout(cfg, &lay);
	model_gpt_acts_layout(cfg, e->B, &al);
	engine_launch(e, K_EMBED_FWD, (size_t)BT * C, "mimmiiiii", e->acts, (int)al.encoded,
		      e->tokens, e->params, (int)lay.wte, (int)lay.wpe, T, C, BT * C);
	res = al.encoded;
	for (int l = 0; l < cfg->n_layer; l++) {
		size_t p = lay.layer0 + (size_t)l * lay.layer_size;
		size_t a = al.layer0 + (size_t)l * al.layer_size;

		layernorm_fwd(e, a + al.ln1, a + al.ln1_mean, a + al.ln1_rstd, res, p + lay.ln1w,
			      p + lay.ln1b, BT, C);
		matmul_fwd(e, a + al.qkv, a + al.ln1, p + lay.qkvw, 1, p + lay.qkvb, BT, 3 * C, C);
		attention_forward(e, a + al.qkv, a + al.att, a + al.atty);
		matmul_fwd(e, al.tmp, a + al.atty, p + lay.projw, 1, p + lay.projb, BT, C, C);
		engine_launch(e, K_RESIDUAL, (size_t)BT * C, "mimimii", e->acts, (int)(a + al.res2),
			      e->acts, (int)res, e->acts, (int)al.tmp, BT * C);
		layernorm_fwd(e, a + al.ln2, a + al.ln2_mean, a + al.ln2_rstd, a + al.res2,
			      p + lay.ln2w, p + lay.ln2b, BT, C);
		matmul_fwd(e, a + al.fch, a + al.ln2, p + lay.fcw, 1, p + lay.fcb, BT, 4 * C, C);
		gelu_fwd(e, a + al.fchg, a + al.fch, BT * 4 * C);
		matmul_fwd(e, al.tmp, a + al.fchg, p + lay.fcprojw, 1, p + lay.fcprojb, BT, C,
			   4 * C);
		engine_launch(e, K_RESIDUAL, (size_t)BT * C, "mimimii", e->acts, (int)(a + al.res3),
			      e->acts, (int)(a + al.res2), e->acts, (int)al.tmp, BT * C);
		res = a + al.res3;
	}
	layernorm_fwd(e, al.lnf, al.lnf_mean, al.lnf_rstd, res, lay.lnfw, lay.lnfb, BT, C);
	matmul_fwd(e, al.logits, al.lnf, lay.wte, 0, 0, BT, V, C);
	ce_fwd(e, al.ce_stats, al.losses, al.logits, BT, V);
}

static void gpt_block_backward(struct engine *e, const struct gpt_layout *lay,
			       const struct gpt_acts_layout *al, int l)
{
	const struct model_config *cfg = e->cfg;
	int C = cfg->n_embd, BT = e->BT;
	size_t p = lay->layer0 + (size_t)l * lay->layer_size;
	size_t a = al->layer0 + (size_t)l * al->layer_size;
	size_t res_in = l == 0 ? al->encoded : al->layer0 + (size_t)(l - 1) * al->layer_size + al->res3;

	/* MLP half */
	matmul_bwd(e, al->d_fchg, p + lay->fcprojw, p + lay->fcprojb, al->d_res, a + al->fchg,
		   p + lay->fcprojw, BT, C, 4 * C);
	gelu_bwd(e, al->d_fch, a + al->fch, al->d_fchg, BT * 4 * C);
	matmul_bwd(e, al->d_ln, p + lay->fcw, p + lay->fcb, al->d_fch, a + al->ln2, p + lay->fcw,
		   BT, 4 * C, C);
	layernorm_bwd(e, al->d_res, p + lay->ln2w, p + lay->ln2b, al->ln_stats, al->d_ln,
		      a + al->res2, a + al->ln2_mean, a + al->ln2_rstd, p + lay->ln2w, BT, C, 1);
	/* attention half */
	matmul_bwd(e, al->d_atty, p + lay->projw, p + lay->projb, al->d_res, a + al->atty,
		   p + lay->projw, BT, C, C);
	attention_backward(e, a + al->qkv, a + al->att, al->d_atty, al->d_pre, al->d_qkv);
	matmul_bwd(e, al->d_ln, p + lay->qkvw, p + lay->qkvb, al->d_qkv, a + al->ln1, p + lay->qkvw,
		   BT, 3 * C, C);
	layernorm_bwd(e, al->d_res, p + lay->ln1w, p + lay->ln1b, al->ln_stats, al->d_ln, res_in,
		      a + al->ln1_mean, a + al->ln1_rstd, p + lay->ln1w, BT, C, 1);
}

static void gpt_backward(struct engine *e)
{
	const struct model_config *cfg = e->cfg;
	struct gpt_layout lay;
	struct gpt_acts_layout al;
	int C = cfg->n_embd, T = cfg->n_ctx, V = cfg->vocab, L = cfg->n_layer, BT = e->BT;
	size_t res_last;

	model_gpt_layout(cfg, &lay);
	model_gpt_acts_layout(cfg, e->B, &al);
	res_last = al.layer0 + (size_t)(L - 1) * al.layer_size + al.res3;
	ce_bwd(e, al.d_logits, al.logits, al.ce_stats, BT, V);
	/* d_ln = dlogits . wte (the head's dx; its dw is folded into wte) */
	mm(e, BT, C, V, e->acts, al.d_logits, V, 1, e->params, lay.wte, C, 1, e->acts, al.d_ln, C,
	   NULL, 0, 0);
	layernorm_bwd(e, al.d_res, lay.lnfw, lay.lnfb, al.ln_stats, al.d_ln, res_last, al.lnf_mean,
		      al.lnf_rstd, lay.lnfw, BT, C, 0);
	for (int l = L - 1; l >= 0; l--)
		gpt_block_backward(e, &lay, &al, l);
	engine_launch(e, K_WPE_GRAD, (size_t)T * C, "mimiiiii", e->grads, (int)lay.wpe, e->acts,
		      (int)al.d_res, e->B, T, C, T * C);
	/* wte: the head's sum over m (a GEMM, m ascending from 0), then the
	 * embedding's adds in m order */
	mm(e, V, C, BT, e->acts, al.d_logits, 1, V, e->acts, al.lnf, C, 1, e->grads, lay.wte, C,
	   NULL, 0, 0);
	engine_launch(e, K_WTE_EMBED_ADD, (size_t)V * C, "mimimmii", e->grads, (int)lay.wte,
		      e->acts, (int)al.d_res, e->order, e->start, C, V * C);
}

/* ------------------------------------------------------------ the MLP */

static void mlp_forward(struct engine *e)
{
	struct mlp_layout lay;
	struct mlp_acts_layout al;
	int B = e->B, last;
	cl_mem in = e->x;
	size_t in_off = 0;

	model_mlp_layout(e->cfg, &lay);
	model_mlp_acts_layout(e->cfg, B, &al);
	last = lay.n_layers - 1;
	for (int i = 0; i < lay.n_layers; i++) {
		int N = lay.dout[i], K = lay.din[i];

		mm(e, B, N, K, in, in_off, K, 1, e->params, lay.w[i], 1, K, e->acts, al.pre[i], N,
		   e->params, lay.b[i], GEMM_INIT_BIAS);
		if (i < last) {
			gelu_fwd(e, al.out[i], al.pre[i], B * N);
			in = e->acts;
			in_off = al.out[i];
		}
	}
	ce_fwd(e, al.ce_stats, al.losses, al.pre[last], B, lay.dout[last]);
}

static void mlp_backward(struct engine *e)
{
	struct mlp_layout lay;
	struct mlp_acts_layout al;
	int B = e->B, last;

	model_mlp_layout(e->cfg, &lay);
	model_mlp_acts_layout(e->cfg, B, &al);
	last = lay.n_layers - 1;
	ce_bwd(e, al.dpre[last], al.pre[last], al.ce_stats, B, lay.dout[last]);
	for (int i = last; i >= 0; i--) {
		int N = lay.dout[i], K = lay.din[i];
		size_t dy = al.dpre[i];

		if (i > 0) /* din = dy . W */
			mm(e, B, K, N, e->acts, dy, N, 1, e->params, lay.w[i], K, 1, e->acts,
			   al.dout[i - 1], K, NULL, 0, 0);
		if (i == 0)
			mm(e, N, K, B, e->acts, dy, 1, N, e->x, 0, K, 1, e->grads, lay.w[i], K, NULL,
			   0, 0);
		else
			mm(e, N, K, B, e->acts, dy, 1, N, e->acts, al.out[i - 1], K, 1, e->grads,
			   lay.w[i], K, NULL, 0, 0);
		matmul_db(e, lay.b[i], dy, B, N);
		if (i > 0)
			gelu_bwd(e, al.dpre[i - 1], al.pre[i - 1], al.dout[i - 1], B * K);
	}
}

/* ------------------------------------------------------------ optimizer */

static void optimizer(struct engine *e, const struct ref_adamw *opt)
{
	struct ref_adamw_step s;

	ref_adamw_prepare(opt, e->step + 1, &s);
	engine_launch(e, K_SUMSQ_CHUNKS, (size_t)e->nchunks, "mmii", e->chunks, e->grads,
		      (int)e->n_params, e->nchunks);
	engine_launch(e, K_CLIP_SCALE, 1, "mmif", e->scalars, e->chunks, e->nchunks,
		      (double)opt->max_grad_norm);
	for (int r = 0; r < e->n_runs; r++)
		engine_launch(e, e->vec_adamw ? K_ADAMW_V : K_ADAMW,
			      e->vec_adamw ? ((size_t)e->runs[r].n + 15) / 16 : (size_t)e->runs[r].n,
			      "mmmmiifffffffffm", e->params, e->grads, e->m, e->v, e->runs[r].lo,
			      e->runs[r].n, (double)s.lr,
			      (double)s.beta1, (double)s.beta2, (double)s.omb1, (double)s.omb2,
			      (double)s.eps, (double)s.bc1, (double)s.bc2,
			      (double)(e->runs[r].decay ? s.decay : 1.0f), e->scalars);
}

/* Reads the scalars back and waits: the one clFinish of a step. */
static int finish_step(struct engine *e, float *loss, float *norm, struct error *err)
{
	cl_int rc;

	if (!e->rc) {
		rc = clEnqueueReadBuffer(e->rt->queue, e->scalars, CL_FALSE, 0,
					 sizeof(e->h_scalars), e->h_scalars, 0, NULL, NULL);
		if (rc != CL_SUCCESS)
			fail(e, ERROR_DEVICE, "clEnqueueReadBuffer", rc);
	}
	rc = clFinish(e->rt->queue);
	if (rc != CL_SUCCESS)
		fail(e, ERROR_DEVICE, "clFinish", rc);
	if (e->rc) {
		int ret = e->rc;

		if (err)
			*err = e->err;
		e->rc = 0;
		error_clear(&e->err);
		return ret;
	}
	e->step++;
	if (loss)
		*loss = e->h_scalars[0];
	if (norm)
		*norm = e->h_scalars[1];
	return 0;
}

static void write_async(struct engine *e, cl_mem m, const void *src, size_t bytes)
{
	cl_int rc;

	if (e->rc || bytes == 0)
		return;
	rc = clEnqueueWriteBuffer(e->rt->queue, m, CL_FALSE, 0, bytes, src, 0, NULL, NULL);
	if (rc != CL_SUCCESS)
		fail(e, ERROR_DEVICE, "clEnqueueWriteBuffer", rc);
}

int engine_step_gpt(struct engine *e, const unsigned char *seqs, const struct ref_adamw *opt,
		    float *loss, float *norm, struct error *err)
{
	int T = e->cfg->n_ctx, V = e->cfg->vocab, BT = e->BT;

	if (e->cfg->kind != MODEL_GPT)
		return error_set(err, ERROR_INVALID, "engine_step_gpt on a non-gpt model");
	/* ref_gpt_load_batch, plus the token -> positions index of wte_grad */
	for (int b = 0; b < e->B; b++)
		for (int t = 0; t < T; t++) {
			const unsigned char *s = seqs + (size_t)b * (size_t)(T + 1) + (size_t)t;

			e->h_tokens[b * T + t] = s[0];
			e->h_targets[b * T + t] = s[1];
		}
	memset(e->h_start, 0, (size_t)(V + 1) * sizeof(int));
	for (int m = 0; m < BT; m++)
		e->h_start[e->h_tokens[m] + 1]++;
	for (int v = 0; v < V; v++)
		e->h_start[v + 1] += e->h_start[v];
	{
		int *fill = e->h_order + BT; /* V scratch ints after the order */

		memcpy(fill, e->h_start, (size_t)V * sizeof(int));
		for (int m = 0; m < BT; m++)
			e->h_order[fill[e->h_tokens[m]]++] = m;
	}
	write_async(e, e->tokens, e->h_tokens, (size_t)BT * sizeof(int));
	write_async(e, e->targets, e->h_targets, (size_t)BT * sizeof(int));
	write_async(e, e->order, e->h_order, (size_t)BT * sizeof(int));
	write_async(e, e->start, e->h_start, (size_t)(V + 1) * sizeof(int));
	gpt_forward(e);
	gpt_backward(e);
	optimizer(e, opt);
	return finish_step(e, loss, norm, err);
}

int engine_run_gpt(struct engine *e, const unsigned char *buf, size_t len, int H,
		   const struct ref_adamw *opt, float *losses, struct error *err)
{
	int T = e->cfg->n_ctx;
	size_t seq = (size_t)T + 1;
	unsigned char *seqs;
	int ret = 0;

	if (H < 0 || len < seq)
		return error_set(err, ERROR_INVALID, "need at least %zu bytes of data, have %zu",
				 seq, len);
	seqs = malloc((size_t)e->B * seq);
	if (!seqs)
		return error_set(err, ERROR_NOMEM, "out of memory for a batch");
	for (int i = 0; i < H && !ret; i++) {
		uint64_t s = e->step;

		for (int b = 0; b < e->B; b++)
			memcpy(seqs + (size_t)b * seq,
			       buf + ref_gpt_batch_offset(len, T, e->B, s, b), seq);
		ret = engine_step_gpt(e, seqs, opt, losses ? &losses[i] : NULL, NULL, err);
	}
	free(seqs);
	return ret;
}

int engine_step_mlp(struct engine *e, const float *x, const int *labels,
		    const struct ref_adamw *opt, float *loss, struct error *err)
{
	if (e->cfg->kind != MODEL_MLP)
		return error_set(err, ERROR_INVALID, "engine_step_mlp on a non-mlp model");
	write_async(e, e->x, x, (size_t)e->B * (size_t)e->cfg->n_in * sizeof(float));
	write_async(e, e->targets, labels, (size_t)e->B * sizeof(int));
	mlp_forward(e);
	mlp_backward(e);
	optimizer(e, opt);
	return finish_step(e, loss, NULL, err);
}

/* ------------------------------------------------------------ state */

static int rw(struct engine *e, int write, cl_mem m, void *host, size_t bytes, struct error *err)
{
	cl_int rc = write ? clEnqueueWriteBuffer(e->rt->queue, m, CL_TRUE, 0, bytes, host, 0, NULL,
						 NULL)
			  : clEnqueueReadBuffer(e->rt->queue, m, CL_TRUE, 0, bytes, host, 0, NULL,
						NULL);

	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, write ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer",
					rc);
	return 0;
}

static int zero(struct engine *e, cl_mem m, size_t bytes, struct error *err)
{
	float z = 0.0f;
	cl_int rc = clEnqueueFillBuffer(e->rt->queue, m, &z, sizeof(z), 0, bytes, 0, NULL, NULL);

	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clEnqueueFillBuffer", rc);
	rc = clFinish(e->rt->queue);
	return rc == CL_SUCCESS ? 0 : runtime_cl_error(err, "clFinish", rc);
}

int engine_load(struct engine *e, const float *params, const float *m, const float *v,
		uint64_t step, struct error *err)
{
	size_t bytes = e->n_params * sizeof(float);
	int ret = rw(e, 1, e->params, (void *)params, bytes, err);

	if (!ret)
		ret = m ? rw(e, 1, e->m, (void *)m, bytes, err) : zero(e, e->m, bytes, err);
	if (!ret)
		ret = v ? rw(e, 1, e->v, (void *)v, bytes, err) : zero(e, e->v, bytes, err);
	if (!ret)
		e->step = step;
	return ret;
}

int engine_save(struct engine *e, float *params, float *m, float *v, uint64_t *step,
		struct error *err)
{
	size_t bytes = e->n_params * sizeof(float);
	int ret = rw(e, 0, e->params, params, bytes, err);

	if (!ret && m)
		ret = rw(e, 0, e->m, m, bytes, err);
	if (!ret && v)
		ret = rw(e, 0, e->v, v, bytes, err);
	if (!ret && step)
		*step = e->step;
	return ret;
}

int engine_read_grads(struct engine *e, float *grads, struct error *err)
{
	return rw(e, 0, e->grads, grads, e->n_params * sizeof(float), err);
}

int engine_read_acts(struct engine *e, float *acts, struct error *err)
{
	return rw(e, 0, e->acts, acts, e->n_acts * sizeof(float), err);
}

int engine_delta(struct engine *e, const float *start, float *out, struct error *err)
{
	size_t bytes = e->n_params * sizeof(float);
	int ret;

	/* the gradient buffer is free between steps: it holds start, then Δ */
	ret = rw(e, 1, e->grads, (void *)start, bytes, err);
	if (ret)
		return ret;
	engine_launch(e, K_DELTA, e->n_params, "mmmi", e->grads, e->grads, e->params,
		      (int)e->n_params);
	if (e->rc) {
		ret = e->rc;
		if (err)
			*err = e->err;
		e->rc = 0;
		error_clear(&e->err);
		return ret;
	}
	return rw(e, 0, e->grads, out, bytes, err);
}

/* ------------------------------------------------------------ lifecycle */

size_t engine_param_count(const struct engine *e)
{
	return e->n_params;
}

uint64_t engine_step_count(const struct engine *e)
{
	return e->step;
}

size_t engine_state_bytes(const struct engine *e)
{
	return 4 * e->n_params * sizeof(float);
}

size_t engine_act_bytes(const struct engine *e)
{
	return e->n_acts * sizeof(float);
}

/* Groups consecutive tensors with the same decay flag into AdamW runs. */
static int make_runs(struct engine *e, struct error *err)
{
	int nt = model_tensor_count(e->cfg);

	e->runs = calloc((size_t)nt, sizeof(*e->runs));
	if (!e->runs)
		return error_set(err, ERROR_NOMEM, "out of memory");
	for (int ti = 0; ti < nt; ti++) {
		struct model_tensor t;
		int lo, n;

		if (model_tensor_get(e->cfg, ti, &t) != 0)
			return error_set(err, ERROR_RANGE, "bad tensor %d", ti);
		lo = (int)t.offset;
		n = (int)(t.rows * t.cols);
		if (e->n_runs > 0 && e->runs[e->n_runs - 1].decay == t.decay &&
		    e->runs[e->n_runs - 1].lo + e->runs[e->n_runs - 1].n == lo) {
			e->runs[e->n_runs - 1].n += n;
			continue;
		}
		e->runs[e->n_runs].lo = lo;
		e->runs[e->n_runs].n = n;
		e->runs[e->n_runs].decay = t.decay;
		e->n_runs++;
	}
	return 0;
}

static cl_mem dev_alloc(struct engine *e, size_t bytes, struct error *err)
{
	cl_int rc;
	cl_mem m = clCreateBuffer(e->rt->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &rc);

	if (!m)
		runtime_cl_error(err, "clCreateBuffer", rc);
	return m;
}

static int alloc_buffers(struct engine *e, struct error *err)
{
	size_t P = e->n_params * sizeof(float), V = (size_t)MODEL_VOCAB;
	size_t BT = (size_t)e->BT;
	cl_mem *all[] = {&e->params, &e->grads, &e->m,	   &e->v,	&e->acts,   &e->tokens,
			 &e->targets, &e->order, &e->start, &e->x,	&e->chunks, &e->scalars};
	size_t bytes[] = {P,
			  P,
			  P,
			  P,
			  e->n_acts * sizeof(float),
			  BT * sizeof(int),
			  BT * sizeof(int),
			  BT * sizeof(int),
			  (V + 1) * sizeof(int),
			  e->cfg->kind == MODEL_MLP ? (size_t)e->B * (size_t)e->cfg->n_in * 4 : 4,
			  (size_t)e->nchunks * sizeof(float),
			  sizeof(e->h_scalars)};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		*all[i] = dev_alloc(e, bytes[i], err);
		if (!*all[i])
			return ERROR_DEVICE;
	}
	e->h_tokens = calloc(BT, sizeof(int));
	e->h_targets = calloc(BT, sizeof(int));
	e->h_order = calloc(BT + V, sizeof(int));
	e->h_start = calloc(V + 1, sizeof(int));
	if (!e->h_tokens || !e->h_targets || !e->h_order || !e->h_start)
		return error_set(err, ERROR_NOMEM, "out of memory");
	if (e->attn_vec) {
		e->vt = dev_alloc(e, (size_t)e->B * (size_t)e->cfg->n_embd * (size_t)e->Tp *
					     sizeof(float),
				  err);
		if (!e->vt)
			return ERROR_DEVICE;
	}
	if (zero(e, e->params, P, err) || zero(e, e->m, P, err) || zero(e, e->v, P, err) ||
	    zero(e, e->grads, P, err))
		return ERROR_DEVICE;
	return 0;
}

/*
 * exp16 (softmax, GELU) and gelu_fwd_v/gelu_bwd_v restate fmath_exp and
 * fmath_recip_core for 16 lanes. Should the reference's functions change
 * without their vector twins, this check (fmath_exp against exp16 and both
 * GELU kernels on 4096 fixed inputs spanning their domains, edges and
 * special values included) turns the vector paths off, so results stay
 * the reference's. 0, or a device error.
 */
/* Writes (write 1) or reads n floats of m at float offset off, blocking. */
static int rw_at(struct engine *e, int write, cl_mem m, size_t off, float *host, size_t n,
		 struct error *err)
{
	cl_int rc = write ? clEnqueueWriteBuffer(e->rt->queue, m, CL_TRUE, off * sizeof(float),
						 n * sizeof(float), host, 0, NULL, NULL)
			  : clEnqueueReadBuffer(e->rt->queue, m, CL_TRUE, off * sizeof(float),
						n * sizeof(float), host, 0, NULL, NULL);

	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, write ? "clEnqueueWriteBuffer" : "clEnqueueReadBuffer",
					rc);
	return 0;
}

static int gelu_selfcheck(struct engine *e, struct error *err)
{
	enum { N = 4096 };
	static const float special[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e-30f, -3.0f, 3.0f,
					100.0f, -100.0f, 1e30f, -1e30f, 0.5f, -0.5f, 7.5f, -7.5f,
					9.0f};
	float *h = malloc(4 * N * sizeof(float));
	cl_mem m = NULL;
	uint64_t s = 0x2545f4914f6cdd1dull;
	int ret = 0;

	if (!h)
		return error_set(err, ERROR_NOMEM, "out of memory");
	for (int i = 0; i < N; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		h[i] = ((float)(s >> 40) * (1.0f / 16777216.0f) - 0.5f) * (i < N / 2 ? 16.0f : 200.0f);
		h[N + i] = (float)(s >> 48) * (1.0f / 65536.0f) - 0.5f;
	}
	memcpy(h, special, sizeof(special));
	h[100] = fmath_inf();
	h[101] = -fmath_inf();
	h[200] = fmath_nan(); /* that block takes the element path */
	m = dev_alloc(e, 4 * N * sizeof(float), err);
	if (!m || rw(e, 1, m, h, 2 * N * sizeof(float), err) != 0) {
		ret = ERROR_DEVICE;
		goto out;
	}
	/* fmath_exp against exp16 over [-120, 100) and the ranges' edges */
	{
		float *x = h + 2 * N;

		for (int i = 0; i < N; i++)
			x[i] = -120.0f + 220.0f * (float)i / (float)N;
		x[0] = -103.972084f, x[1] = -103.97208f, x[2] = 88.7228394f, x[3] = 88.72284f;
		x[4] = -fmath_inf(), x[5] = fmath_inf(), x[6] = -87.5f, x[7] = 0.0f;
		ret = rw_at(e, 1, m, 2 * N, x, N, err);
		engine_launch(e, K_EXP_CHECK, N / 16, "mmii", m, m, 2 * N, N); /* out: [0, 2N) */
		if (!ret)
			ret = e->rc ? e->rc : rw_at(e, 0, m, 0, h + 2 * N, 2 * N, err);
		e->vec_exp = !ret && memcmp(h + 2 * N, h + 3 * N, N * sizeof(float)) == 0;
		if (!ret && rw(e, 1, m, h, 2 * N * sizeof(float), err) != 0)
			ret = ERROR_DEVICE;
		if (ret)
			goto out;
	}
	e->vec_gelu = 0;
	engine_launch(e, K_GELU_FWD, N, "mimii", m, 2 * N, m, 0, N);
	engine_launch(e, K_GELU_FWD_V, N / 16, "mimii", m, 3 * N, m, 0, N);
	ret = e->rc ? e->rc : rw_at(e, 0, m, 2 * N, h + 2 * N, 2 * N, err);
	if (!ret && memcmp(h + 2 * N, h + 3 * N, N * sizeof(float)) == 0) {
		engine_launch(e, K_GELU_BWD, N, "mimimii", m, 2 * N, m, 0, m, N, N);
		engine_launch(e, K_GELU_BWD_V, N / 16, "mimimii", m, 3 * N, m, 0, m, N, N);
		ret = e->rc ? e->rc : rw_at(e, 0, m, 2 * N, h + 2 * N, 2 * N, err);
		if (!ret && memcmp(h + 2 * N, h + 3 * N, N * sizeof(float)) == 0)
			e->vec_gelu = e->vec_exp;
	}
	if (e->rc) {
		*err = e->err;
		e->rc = 0;
	}
	if (!ret && !e->vec_gelu)
		log_warn("the vectorised exp/gelu differ from the reference's on '%s': using the "
			 "per-element kernels",
			 e->rt->dev.info.name);
out:
	if (m)
		clReleaseMemObject(m);
	free(h);
	return ret;
}

/*
 * adamw_v restates fmath_sqrt/fmath_div's main paths for 16 lanes; this
 * runs adamw and adamw_v on the same 4096 elements (random moments and
 * gradients over many magnitudes, zeros, denormals, infinities and a NaN,
 * which take the element path) and turns adamw_v off, with a warning,
 * unless p, m and v come out the same bits. 0, or a device error.
 */
static int adamw_selfcheck(struct engine *e, struct error *err)
{
	enum { N = 4096 };
	float *h = malloc(8 * N * sizeof(float)), clip[4] = {0, 0, 0.75f, 0};
	cl_mem b[4] = {NULL, NULL, NULL, NULL}, sc = NULL; /* p, grad, m, v */
	uint64_t s = 0x9e3779b97f4a7c15ull;
	int ret = 0;

	if (!h)
		return error_set(err, ERROR_NOMEM, "out of memory");
	/* h: p, grad, m, v of 2N floats each, the second N a copy of the first */
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < N; i++) {
			float *x = h + 2 * N * k + i;

			s = s * 6364136223846793005ull + 1442695040888963407ull;
			*x = ((float)(s >> 40) * (1.0f / 16777216.0f) - 0.5f) *
			     fmath_pow2i((int)(s >> 20 & 63) - 40);
			*x = k == 3 ? *x * *x : *x; /* v >= 0 */
		}
	h[2 * N + 5] = 0.0f, h[6 * N + 5] = 0.0f, h[6 * N + 40] = 1e-41f;
	h[2 * N + 70] = fmath_inf(), h[2 * N + 100] = fmath_nan(), h[6 * N + 130] = 3e38f;
	for (int k = 0; k < 4; k++)
		memcpy(h + 2 * N * k + N, h + 2 * N * k, N * sizeof(float));
	sc = dev_alloc(e, sizeof(clip), err);
	ret = !sc || rw(e, 1, sc, clip, sizeof(clip), err) != 0;
	for (int k = 0; k < 4 && !ret; k++) {
		b[k] = dev_alloc(e, 2 * N * sizeof(float), err);
		ret = !b[k] || rw(e, 1, b[k], h + 2 * N * k, 2 * N * sizeof(float), err) != 0;
	}
	if (ret) {
		ret = ERROR_DEVICE;
		goto out;
	}
	for (int k = 0; k < 2; k++) /* step 3's hyper-parameters, decay on */
		engine_launch(e, k ? K_ADAMW_V : K_ADAMW, k ? N / 16 : N, "mmmmiifffffffffm", b[0],
			      b[1], b[2], b[3], N * k, N, 3e-4, 0.9, 0.95, 0.1, 0.05, 1e-8,
			      3.6900369, 7.0093457, 0.99997, sc);
	ret = e->rc;
	if (e->rc && err)
		*err = e->err;
	e->rc = 0;
	for (int k = 0; k < 4 && !ret; k++)
		ret = rw(e, 0, b[k], h + 2 * N * k, 2 * N * sizeof(float), err);
	e->vec_adamw = !ret;
	for (int k = 0; k < 4 && !ret; k++)
		if (memcmp(h + 2 * N * k, h + 2 * N * k + N, N * sizeof(float)) != 0)
			e->vec_adamw = 0;
	if (!ret && !e->vec_adamw)
		log_warn("the vectorised adamw differs from the reference's on '%s': using the "
			 "per-element kernel",
			 e->rt->dev.info.name);
out:
	for (int k = 0; k < 4; k++)
		if (b[k])
			clReleaseMemObject(b[k]);
	if (sc)
		clReleaseMemObject(sc);
	free(h);
	return ret;
}

struct engine *engine_new(struct runtime *rt, const struct model_config *cfg, int B,
			  const struct engine_opts *opts, struct error *err)
{
	struct engine *e;
	int ret;

	if (model_config_check(cfg, err) != 0 || model_batch_check(cfg, B, err) != 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e) {
		error_set(err, ERROR_NOMEM, "out of memory");
		return NULL;
	}
	e->rt = rt;
	e->cfg = cfg;
	if (opts)
		e->opts = *opts;
	e->B = B;
	e->BT = cfg->kind == MODEL_GPT ? B * cfg->n_ctx : B;
	e->n_params = model_param_count(cfg);
	e->n_acts = model_act_floats(cfg, B);
	e->nchunks = (int)((e->n_params + ELEM_NORM_CHUNK - 1) / ELEM_NORM_CHUNK);
	if (cfg->kind == MODEL_GPT) {
		e->attn_vec = (cfg->n_embd / cfg->n_head) % 16 == 0 && !e->opts.per_element;
		e->Tp = (cfg->n_ctx + 15) / 16 * 16;
	}
	if (e->n_params > INT_MAX || e->n_acts > INT_MAX) {
		error_set(err, ERROR_TOO_BIG, "model too large for int indexing");
		goto fail;
	}
	ret = gemm_init(&e->gemm, rt, e->opts.gemm, err);
	if (ret)
		goto fail;
	e->gemm.rb_local = e->opts.local;
	for (int i = 0; i < K_COUNT; i++) {
		e->k[i] = runtime_kernel(rt, "train", kernel_names[i], err);
		if (!e->k[i])
			goto fail;
	}
	if (make_runs(e, err) != 0 || alloc_buffers(e, err) != 0)
		goto fail;
	if (!e->opts.per_element && (gelu_selfcheck(e, err) != 0 || adamw_selfcheck(e, err) != 0))
		goto fail;
	return e;
fail:
	engine_free(e);
	return NULL;
}

void engine_free(struct engine *e)
{
	cl_mem all[13];
	size_t n = 0;

	if (!e)
		return;
	all[n++] = e->params, all[n++] = e->grads, all[n++] = e->m, all[n++] = e->v;
	all[n++] = e->acts, all[n++] = e->tokens, all[n++] = e->targets, all[n++] = e->order;
	all[n++] = e->start, all[n++] = e->x, all[n++] = e->chunks, all[n++] = e->scalars;
	all[n++] = e->vt;
	for (size_t i = 0; i < n; i++)
		if (all[i])
			clReleaseMemObject(all[i]);
	for (int i = 0; i < K_COUNT; i++)
		if (e->k[i])
			clReleaseKernel(e->k[i]);
	gemm_release(&e->gemm);
	free(e->runs);
	free(e->h_tokens);
	free(e->h_targets);
	free(e->h_order);
	free(e->h_start);
	free(e);
}
