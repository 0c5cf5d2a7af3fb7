/*
 * engine.h - the OpenCL training engine: the reference's training step
 * (kernels/ref/gpt.h, kernels/ref/mlp.h) on a device, bit for bit.
 *
 * engine_new() allocates on the device, once, the flat parameter,
 * gradient and AdamW m/v buffers, the activations (the reference's layout,
 * model_act_floats()), the batch buffers and the scratch. A step uploads
 * the batch, enqueues forward, backward, the global gradient norm, the
 * clip scale and AdamW without waiting, and ends with one clFinish, which
 * also brings back the loss. Parameters stay on the device between steps;
 * engine_save() reads them (and m, v, the step) back for a checkpoint and
 * engine_load() restores them, so a unit resumes where it stopped.
 *
 * Every result equals the C reference's for the same inputs (memcmp):
 * every kernel calls the reference's element function, or runs the same
 * per-element sequence of operations in 16 vector lanes (attention, GELU,
 * column sums; engine_opts.per_element turns those off), or, for GEMMs,
 * keeps the per-element k order (kernels/gemm.h).
 *
 * Cost: engine_new builds two programs (cached on disk, see runtime.h) and
 * allocates 4 x params + activations + GEMM panels + B*C*T floats; a step
 * transfers only the batch (B*T tokens and targets) and 16 bytes back.
 */
#ifndef AGORA_KERNELS_ENGINE_H
#define AGORA_KERNELS_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "kernels/gemm.h"
#include "kernels/model.h"
#include "kernels/ref/ops.h"
#include "kernels/runtime.h"

struct engine;

struct engine_opts {
	enum gemm_variant gemm; /* GEMM_VARIANT_AUTO: by device type */
	/* Local size of the 1-D kernels and of gemm_rb; 0 lets the driver
	 * choose. Results never depend on it (tests vary it). */
	size_t local;
	/* Wait after every launch and add its time to a per-kernel table
	 * (engine_profile_print); for benchmarks only, it serialises. */
	int profile;
	/* Use only the per-element kernels (one work-item per output, each
	 * calling the reference's element function), not the 16-lane
	 * vectorised variants; tests run both. */
	int per_element;
};

/* Builds the programs and allocates every device buffer for cfg at batch
 * B (both checked with model_config_check/model_batch_check). rt is not
 * owned and must outlive the engine. opts may be NULL. Parameters, m and v
 * start at zero, step at 0. NULL with err set on failure. */
struct engine *engine_new(struct runtime *rt, const struct model_config *cfg, int B,
			  const struct engine_opts *opts, struct error *err);
void engine_free(struct engine *e);

size_t engine_param_count(const struct engine *e);
uint64_t engine_step_count(const struct engine *e);
/* Device bytes of parameters + gradients + m + v, and of activations. */
size_t engine_state_bytes(const struct engine *e);
size_t engine_act_bytes(const struct engine *e);

/* Uploads params (engine_param_count floats); m and v may be NULL for
 * zeros (a fresh optimizer); step is the number of steps already taken. */
int engine_load(struct engine *e, const float *params, const float *m, const float *v,
		uint64_t step, struct error *err);
/* Reads back the state for a checkpoint; m, v and step may be NULL. */
int engine_save(struct engine *e, float *params, float *m, float *v, uint64_t *step,
		struct error *err);

/* One GPT step on B sequences of T+1 bytes (sequence b at b*(T+1)), as
 * ref_gpt_train_step(): forward, backward, norm, clip, AdamW with
 * t = step + 1, step++. *loss (may be NULL) gets the loss before the
 * update, *norm (may be NULL) the gradient norm. */
int engine_step_gpt(struct engine *e, const unsigned char *seqs, const struct ref_adamw *opt,
		    float *loss, float *norm, struct error *err);

/* H GPT steps over buf (len >= T+1 bytes) as ref_gpt_run() does from a
 * fresh state: step s (counted from the engine's step, so a resumed run
 * continues the same sequence) reads its sequences at
 * ref_gpt_batch_offset(len, T, B, s, b). losses (H floats) may be NULL. */
int engine_run_gpt(struct engine *e, const unsigned char *buf, size_t len, int H,
		   const struct ref_adamw *opt, float *losses, struct error *err);

/* One MLP step on x (B, n_in) and labels (B), as ref_mlp_train_step(). */
int engine_step_mlp(struct engine *e, const float *x, const int *labels,
		    const struct ref_adamw *opt, float *loss, struct error *err);

/* Reads back the gradients (engine_param_count floats) and the
 * activations (engine_act_bytes, the reference's layout) of the last step:
 * for tests and debugging. */
int engine_read_grads(struct engine *e, float *grads, struct error *err);
int engine_read_acts(struct engine *e, float *acts, struct error *err);

/* Prints the per-kernel times collected with opts.profile (to f). */
void engine_profile_print(const struct engine *e, FILE *f);

/* out[i] = start[i] - params[i] (the pseudo-gradient), on the device. */
int engine_delta(struct engine *e, const float *start, float *out, struct error *err);

#endif
