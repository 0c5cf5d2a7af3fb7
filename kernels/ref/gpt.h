/*
 * gpt.h - the deterministic C reference of the byte-level GPT: forward,
 * backward, one training step and a run of H steps over a byte buffer.
 *
 * ref_gpt_forward/backward (float) are what the OpenCL engine must match
 * bit for bit; ref_gptd_* are the same code in double for gradient checks.
 * Buffers: params and grads hold model_param_count(cfg) values in the
 * layout of model_gpt_layout(); acts holds model_act_floats(cfg, B) values
 * in the layout of model_gpt_acts_layout(); tokens and targets hold B*T
 * ints in [0, V). The config and B must have passed model_config_check()
 * and model_batch_check().
 */
#ifndef AGORA_KERNELS_REF_GPT_H
#define AGORA_KERNELS_REF_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/model.h"
#include "kernels/ref/ops.h"

/* forward: runs the model on tokens; with targets (may be NULL) returns the
 * mean cross-entropy over B*T positions, else 0. Logits are left in acts.
 * backward: after forward with the same arguments, writes every gradient
 * (grads is overwritten, not accumulated). */
#define REF_GPT_DECLARE(T, P)                                                                      \
	T P##forward(const struct model_config *cfg, const T *params, const int *tokens,           \
		     const int *targets, int B, T *acts);                                          \
	void P##backward(const struct model_config *cfg, const T *params, const int *tokens,       \
			 const int *targets, int B, T *acts, T *grads);

REF_GPT_DECLARE(float, ref_gpt_)
REF_GPT_DECLARE(double, ref_gptd_)

/* A training state: owns every buffer below (ref_gpt_release frees them). */
struct ref_gpt {
	const struct model_config *cfg; /* not owned */
	int B;
	size_t n_params;
	float *params, *grads, *m, *v; /* n_params each; m, v start at 0 */
	float *acts;                   /* model_act_floats(cfg, B) */
	int *tokens, *targets;         /* B*T each */
	uint64_t step;                 /* optimizer steps taken */
	float last_norm;               /* gradient norm of the last step */
};

/* Allocates a state with zero parameters (load or model_init_params them).
 * 0, ERROR_RANGE/ERROR_TOO_BIG for a bad config or batch, ERROR_NOMEM. */
int ref_gpt_init(struct ref_gpt *g, const struct model_config *cfg, int B, struct error *err)
    __attribute__((warn_unused_result));
void ref_gpt_release(struct ref_gpt *g);

/* Splits B sequences of T+1 bytes (seqs, B*(T+1) bytes, sequence b at
 * b*(T+1)) into tokens (bytes 0..T-1) and targets (bytes 1..T). */
void ref_gpt_load_batch(struct ref_gpt *g, const unsigned char *seqs);

/* The start offset in a buffer of len >= T+1 bytes of sequence b of step
 * s: ((s*B + b) * T) mod (len - T). Sequences are read as T+1 bytes. */
size_t ref_gpt_batch_offset(size_t len, int T, int B, uint64_t s, int b);

/* One step: load_batch, forward, backward, optimizer (norm, clip, AdamW
 * with t = step + 1), step++. Returns the loss before the update. */
float ref_gpt_train_step(struct ref_gpt *g, const unsigned char *seqs, const struct ref_adamw *opt);

/* H steps over buf (len >= T+1 bytes): steps s = first .. first+H-1 of a
 * work unit (first > 0 resumes one), step s taking its sequences at
 * ref_gpt_batch_offset(len, T, B, s, b). losses (H floats, may be NULL)
 * receives each step's loss. 0 or ERROR_INVALID / ERROR_NOMEM. */
int ref_gpt_run(struct ref_gpt *g, const unsigned char *buf, size_t len, uint64_t first, int H,
		const struct ref_adamw *opt, float *losses);

#endif
