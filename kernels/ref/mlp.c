/*
 * mlp.c - instantiates the MLP forward/backward template (mlp_impl.h) for
 * float and double, and the MLP training state.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/mlp.h"

#define EL_T       float
#define REF_(name) ref_##name
#define MLP_(name) ref_mlp_##name
#include "kernels/ref/mlp_impl.h"
#undef EL_T
#undef REF_
#undef MLP_

#define EL_T       double
#define REF_(name) refd_##name
#define MLP_(name) ref_mlpd_##name
#include "kernels/ref/mlp_impl.h"
#undef EL_T
#undef REF_
#undef MLP_

int ref_mlp_init(struct ref_mlp *s, const struct model_config *cfg, int B, struct error *err)
{
	size_t n;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = model_config_check(cfg, err)) < 0)
		return rc;
	if (cfg->kind != MODEL_MLP)
		return error_set(err, ERROR_INVALID, "model '%s' is not an mlp",
				 cfg->name ? cfg->name : "?");
	if ((rc = model_batch_check(cfg, B, err)) < 0)
		return rc;
	n = model_param_count(cfg);
	s->cfg = cfg;
	s->B = B;
	s->n_params = n;
	s->params = calloc(n, sizeof(float));
	s->grads = calloc(n, sizeof(float));
	s->m = calloc(n, sizeof(float));
	s->v = calloc(n, sizeof(float));
	s->acts = calloc(model_act_floats(cfg, B), sizeof(float));
	s->x = calloc((size_t)B * (size_t)cfg->n_in, sizeof(float));
	s->labels = calloc((size_t)B, sizeof(int));
	if (!s->params || !s->grads || !s->m || !s->v || !s->acts || !s->x || !s->labels) {
		ref_mlp_release(s);
		return error_set(err, ERROR_NOMEM, "cannot allocate the mlp reference state");
	}
	return 0;
}

void ref_mlp_release(struct ref_mlp *s)
{
	free(s->params);
	free(s->grads);
	free(s->m);
	free(s->v);
	free(s->acts);
	free(s->x);
	free(s->labels);
	memset(s, 0, sizeof(*s));
}

void ref_mlp_load_batch(struct ref_mlp *s, const unsigned char *bytes)
{
	int D = s->cfg->n_in;

	for (int e = 0; e < s->B; e++) {
		const unsigned char *p = bytes + (size_t)e * (size_t)(D + 1);
		for (int i = 0; i < D; i++)
			s->x[e * D + i] = (float)p[i] * 0.00392156886f;
		s->labels[e] = p[D] % s->cfg->n_classes;
	}
}

float ref_mlp_train_step(struct ref_mlp *s, const struct ref_adamw *opt)
{
	float loss = ref_mlp_forward(s->cfg, s->params, s->x, s->labels, s->B, s->acts);

	ref_mlp_backward(s->cfg, s->params, s->x, s->labels, s->B, s->acts, s->grads);
	ref_optimizer_step(s->cfg, s->params, s->grads, s->m, s->v, s->step + 1, opt);
	s->step++;
	return loss;
}
