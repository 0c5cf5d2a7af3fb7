/*
 * ref-mlp-test.c - the MLP reference: double backward against finite
 * differences over every parameter, float against double, and training
 * mlp-tiny on a learnable task drives the loss down.
 *
 * Tolerances as in ref-gpt-test.c: 1e-6 (finite differences, h = 1e-5)
 * and 1e-4 (float vs double) of the largest gradient.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/mlp.h"
#include "tests/tap.h"

#define FD_H 1e-5

static void test_gradcheck(void)
{
	const struct model_config *cfg = model_preset_find("mlp-tiny");
	int B = 3, D = cfg->n_in;
	size_t n = model_param_count(cfg), na = model_act_floats(cfg, B);
	float *pf = malloc(n * 4), *gf = malloc(n * 4), *af = malloc(na * 4), xf[3 * 16];
	double *pd = malloc(n * 8), *gd = malloc(n * 8), *ad = malloc(na * 8), xd[3 * 16];
	int labels[3] = {0, 3, 1};
	double gmax = 0, worst = 0, fworst = 0, ld;
	float lf;

	model_init_params(cfg, 3, pf);
	for (size_t i = 0; i < n; i++) /* non-zero biases too */
		pf[i] += 0.1f * (model_rng_uniform(4, i) - 0.5f);
	for (size_t i = 0; i < n; i++)
		pd[i] = pf[i];
	for (int i = 0; i < B * D; i++)
		xd[i] = xf[i] = model_rng_uniform(5, (uint64_t)i) * 2.0f - 1.0f;
	ld = ref_mlpd_forward(cfg, pd, xd, labels, B, ad);
	ref_mlpd_backward(cfg, pd, xd, labels, B, ad, gd);
	for (size_t i = 0; i < n; i++) {
		double keep = pd[i], lp, lm;

		gmax = fmax(gmax, fabs(gd[i]));
		pd[i] = keep + FD_H;
		lp = ref_mlpd_forward(cfg, pd, xd, labels, B, ad);
		pd[i] = keep - FD_H;
		lm = ref_mlpd_forward(cfg, pd, xd, labels, B, ad);
		pd[i] = keep;
		worst = fmax(worst, fabs((lp - lm) / (2 * FD_H) - gd[i]));
	}
	tap_ok(worst / gmax < 1e-6, "mlp double backward vs finite differences, %zu params: %.2g",
	       n, worst / gmax);
	lf = ref_mlp_forward(cfg, pf, xf, labels, B, af);
	ref_mlp_backward(cfg, pf, xf, labels, B, af, gf);
	for (size_t i = 0; i < n; i++)
		fworst = fmax(fworst, fabs(gf[i] - gd[i]));
	tap_ok(fabs(lf - ld) < 1e-5 * ld && fworst / gmax < 1e-4,
	       "mlp float agrees with double: loss %.7f vs %.7f, grads %.2g", lf, ld,
	       fworst / gmax);
	free(pf), free(gf), free(af), free(pd), free(gd), free(ad);
}

/* Example bytes: 16 features, label = the quarter (4 features) with the
 * largest sum. */
static void make_examples(unsigned char *out, int count, uint64_t seed)
{
	for (int e = 0; e < count; e++) {
		unsigned char *p = out + e * 17;
		int best = 0, bs = -1;

		for (int i = 0; i < 16; i++)
			p[i] = (unsigned char)(model_rng_u64(seed, (uint64_t)(e * 16 + i)) & 0xff);
		for (int q = 0; q < 4; q++) {
			int s = p[4 * q] + p[4 * q + 1] + p[4 * q + 2] + p[4 * q + 3];
			if (s > bs)
				bs = s, best = q;
		}
		p[16] = (unsigned char)best;
	}
}

static void test_training(void)
{
	const struct model_config *cfg = model_preset_find("mlp-tiny");
	struct ref_mlp s;
	struct ref_adamw opt = {1e-2f, 0.9f, 0.99f, 1e-8f, 0.0f, 1.0f};
	unsigned char ex[32 * 17];
	double first = 0, last = 0;
	struct error err;

	if (ref_mlp_init(&s, cfg, 32, &err) < 0) {
		tap_ok(0, "mlp init: %s", err.msg);
		return;
	}
	model_init_params(cfg, 11, s.params);
	for (int step = 0; step < 300; step++) {
		float loss;
		make_examples(ex, 32, (uint64_t)step);
		ref_mlp_load_batch(&s, ex);
		loss = ref_mlp_train_step(&s, &opt);
		if (step < 20)
			first += loss / 20;
		if (step >= 280)
			last += loss / 20;
	}
	tap_ok(last < 0.5 * first,
	       "mlp-tiny training: mean loss %.3f (first 20 steps) -> %.3f (last 20)", first, last);
	ref_mlp_release(&s);
}

int main(void)
{
	test_gradcheck();
	test_training();
	return tap_done();
}
