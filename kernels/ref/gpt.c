/*
 * gpt.c - instantiates the GPT forward/backward template (gpt_impl.h) for
 * float and double, and drives training steps over byte buffers.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/elem.h"
#include "kernels/ref/elem_double.h"
#include "kernels/ref/gpt.h"

#define EL_T       float
#define EL_(name)  elem_##name
#define REF_(name) ref_##name
#define GPT_(name) ref_gpt_##name
#include "kernels/ref/gpt_impl.h"
#undef EL_T
#undef EL_
#undef REF_
#undef GPT_

#define EL_T       double
#define EL_(name)  elemd_##name
#define REF_(name) refd_##name
#define GPT_(name) ref_gptd_##name
#include "kernels/ref/gpt_impl.h"
#undef EL_T
#undef EL_
#undef REF_
#undef GPT_

int ref_gpt_init(struct ref_gpt *g, const struct model_config *cfg, int B, struct error *err)
{
	size_t n, bt;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = model_config_check(cfg, err)) < 0)
		return rc;
	if (cfg->kind != MODEL_GPT)
		return error_set(err, ERROR_INVALID, "model '%s' is not a gpt",
				 cfg->name ? cfg->name : "?");
	if ((rc = model_batch_check(cfg, B, err)) < 0)
		return rc;
	n = model_param_count(cfg);
	bt = (size_t)B * (size_t)cfg->n_ctx;
	g->cfg = cfg;
	g->B = B;
	g->n_params = n;
	g->params = calloc(n, sizeof(float));
	g->grads = calloc(n, sizeof(float));
	g->m = calloc(n, sizeof(float));
	g->v = calloc(n, sizeof(float));
	g->acts = calloc(model_act_floats(cfg, B), sizeof(float));
	g->tokens = calloc(bt, sizeof(int));
	g->targets = calloc(bt, sizeof(int));
	if (!g->params || !g->grads || !g->m || !g->v || !g->acts || !g->tokens || !g->targets) {
		ref_gpt_release(g);
		return error_set(err, ERROR_NOMEM, "cannot allocate the gpt reference state");
	}
	return 0;
}

void ref_gpt_release(struct ref_gpt *g)
{
	free(g->params);
	free(g->grads);
	free(g->m);
	free(g->v);
	free(g->acts);
	free(g->tokens);
	free(g->targets);
	memset(g, 0, sizeof(*g));
}

void ref_gpt_load_batch(struct ref_gpt *g, const unsigned char *seqs)
{
	int T = g->cfg->n_ctx;

	for (int b = 0; b < g->B; b++)
		for (int t = 0; t < T; t++) {
			g->tokens[b * T + t] = seqs[(size_t)b * (size_t)(T + 1) + (size_t)t];
			g->targets[b * T + t] = seqs[(size_t)b * (size_t)(T + 1) + (size_t)t + 1];
		}
}

size_t ref_gpt_batch_offset(size_t len, int T, int B, uint64_t s, int b)
{
	uint64_t span = (uint64_t)(len - (size_t)T);

	return (size_t)(((s * (uint64_t)B + (uint64_t)b) * (uint64_t)T) % span);
}

float ref_gpt_train_step(struct ref_gpt *g, const unsigned char *seqs, const struct ref_adamw *opt)
{
	float loss;

	ref_gpt_load_batch(g, seqs);
	loss = ref_gpt_forward(g->cfg, g->params, g->tokens, g->targets, g->B, g->acts);
	ref_gpt_backward(g->cfg, g->params, g->tokens, g->targets, g->B, g->acts, g->grads);
	g->last_norm =
	    ref_optimizer_step(g->cfg, g->params, g->grads, g->m, g->v, g->step + 1, opt);
	g->step++;
	return loss;
}

int ref_gpt_run(struct ref_gpt *g, const unsigned char *buf, size_t len, uint64_t first, int H,
		const struct ref_adamw *opt, float *losses)
{
	int T = g->cfg->n_ctx;
	size_t seq = (size_t)T + 1;
	unsigned char *seqs;

	if (H < 0 || len < seq)
		return ERROR_INVALID;
	seqs = malloc((size_t)g->B * seq);
	if (!seqs)
		return ERROR_NOMEM;
	for (int s = 0; s < H; s++) {
		float loss;

		for (int b = 0; b < g->B; b++)
			memcpy(seqs + (size_t)b * seq,
			       buf + ref_gpt_batch_offset(len, T, g->B, first + (uint64_t)s, b),
			       seq);
		loss = ref_gpt_train_step(g, seqs, opt);
		if (losses)
			losses[s] = loss;
	}
	free(seqs);
	return 0;
}
