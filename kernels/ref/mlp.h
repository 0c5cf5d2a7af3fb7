/*
 * mlp.h - the deterministic C reference of the small MLP classifier used
 * for quick tests: forward, backward, one training step.
 *
 * Buffers as in gpt.h, with x (B, n_in) float inputs and labels (B) ints in
 * [0, n_classes); acts in the layout of model_mlp_acts_layout().
 * ref_mlpd_* are the double twins for gradient checks.
 */
#ifndef AGORA_KERNELS_REF_MLP_H
#define AGORA_KERNELS_REF_MLP_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/model.h"
#include "kernels/ref/ops.h"

#define REF_MLP_DECLARE(T, P)                                                                      \
	T P##forward(const struct model_config *cfg, const T *params, const T *x,                  \
		     const int *labels, int B, T *acts);                                           \
	void P##backward(const struct model_config *cfg, const T *params, const T *x,              \
			 const int *labels, int B, T *acts, T *grads);

REF_MLP_DECLARE(float, ref_mlp_)
REF_MLP_DECLARE(double, ref_mlpd_)

/* A training state; owns every buffer (ref_mlp_release frees them). */
struct ref_mlp {
	const struct model_config *cfg; /* not owned */
	int B;
	size_t n_params;
	float *params, *grads, *m, *v, *acts;
	float *x;    /* (B, n_in) */
	int *labels; /* (B) */
	uint64_t step;
};

int ref_mlp_init(struct ref_mlp *s, const struct model_config *cfg, int B, struct error *err)
    __attribute__((warn_unused_result));
void ref_mlp_release(struct ref_mlp *s);

/* Examples from bytes: example e is bytes [e*(n_in+1), (e+1)*(n_in+1)),
 * x_i = byte_i * (1/255 rounded to float), label = last byte mod
 * n_classes. Fills s->x and s->labels from B examples. */
void ref_mlp_load_batch(struct ref_mlp *s, const unsigned char *bytes);

/* Forward, backward, optimizer step (t = step + 1), step++ on the batch in
 * s->x / s->labels. Returns the loss before the update. */
float ref_mlp_train_step(struct ref_mlp *s, const struct ref_adamw *opt);

#endif
