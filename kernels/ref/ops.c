/*
 * ops.c - instantiates the reference loops of ops_impl.h for float and
 * double, and implements the float optimizer pieces declared in ops.h.
 */
#include "config.h"

#include <assert.h>

#include "kernels/ref/elem.h"
#include "kernels/ref/elem_double.h"
#include "kernels/ref/ops.h"

#define EL_T       float
#define EL_(name)  elem_##name
#define REF_(name) ref_##name
#include "kernels/ref/ops_impl.h"
#undef EL_T
#undef EL_
#undef REF_

#define EL_T       double
#define EL_(name)  elemd_##name
#define REF_(name) refd_##name
#include "kernels/ref/ops_impl.h"
#undef EL_T
#undef EL_
#undef REF_

/* b^t by square-and-multiply, low bit first, in double. */
static double pow_u64(double b, uint64_t t)
{
	double r = 1.0;

	while (t) {
		if (t & 1)
			r = r * b;
		b = b * b;
		t >>= 1;
	}
	return r;
}

void ref_adamw_prepare(const struct ref_adamw *opt, uint64_t t, struct ref_adamw_step *s)
{
	assert(t >= 1);
	s->lr = opt->lr;
	s->beta1 = opt->beta1;
	s->beta2 = opt->beta2;
	s->omb1 = 1.0f - opt->beta1;
	s->omb2 = 1.0f - opt->beta2;
	s->eps = opt->eps;
	s->bc1 = (float)(1.0 / (1.0 - pow_u64((double)opt->beta1, t)));
	s->bc2 = (float)(1.0 / (1.0 - pow_u64((double)opt->beta2, t)));
	s->decay = 1.0f - opt->lr * opt->weight_decay;
}

REF_HOT float ref_grad_norm(const float *g, size_t n)
{
	float total = 0.0f;
	int nchunks = (int)((n + ELEM_NORM_CHUNK - 1) / ELEM_NORM_CHUNK);

	assert(n <= MODEL_MAX_PARAMS);
	for (int ci = 0; ci < nchunks; ci++)
		total = total + elem_sumsq_chunk(g, (int)n, ci);
	return fmath_sqrt(total);
}

REF_HOT float ref_optimizer_step(const struct model_config *cfg, float *params, const float *grads,
				 float *m, float *v, uint64_t t, const struct ref_adamw *opt)
{
	struct ref_adamw_step s;
	float norm = ref_grad_norm(grads, model_param_count(cfg));
	float clip = elem_clip_scale(norm, opt->max_grad_norm);
	int nt = model_tensor_count(cfg);

	ref_adamw_prepare(opt, t, &s);
	for (int ti = 0; ti < nt; ti++) {
		struct model_tensor tn;
		int rc = model_tensor_get(cfg, ti, &tn);
		int lo = (int)tn.offset, hi = (int)(tn.offset + tn.rows * tn.cols);
		float decay = tn.decay ? s.decay : 1.0f;

		assert(rc == 0);
		(void)rc;
		for (int i = lo; i < hi; i++)
			elem_adamw(params, grads, m, v, i, s.lr, s.beta1, s.beta2, s.omb1, s.omb2,
				   s.eps, s.bc1, s.bc2, decay, clip);
	}
	return norm;
}

void ref_delta(float *out, const float *start, const float *end, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = elem_delta(start[i], end[i]);
}
