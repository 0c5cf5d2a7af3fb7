/*
 * merge.h - the merger: the DiLoCo outer step that turns a round's
 * canonical pseudo-gradients into the next model version, its evaluation
 * on held-out bytes, and a text sample for people to read.
 *
 * The outer step is bit-reproducible on every machine: float32 only, one
 * fixed order of operations, every multiply-add an explicit fma
 * (kernels/fmath.h), nothing left for a compiler to contract. For each
 * parameter i, with the units u = 0..n-1 of the round in unit order:
 *
 *     s    = 0.0f;  s = s + Δ_u[i]            (u = 0, 1, ..., n-1)
 *     inv  = 1.0f / (float)n                  (host IEEE division, once)
 *     d    = s * inv                          (mean Δ, one rounding)
 *     m[i] = fma(μ, m[i], d)                  (momentum)
 *     g    = fma(μ, m[i], d)                  (Nesterov: d + μ·m_new)
 *     θ[i] = fma(-η, g, θ[i])
 *
 * μ = (float)outer_momentum and η = (float)outer_lr (the manifest's
 * doubles, converted by the C cast, round to nearest). Model, Δ and
 * momentum buffers are float32 little-endian, model_param_count floats:
 * the bytes of a blob are the buffer.
 *
 * Evaluation: ref_gpt_forward over `n_seq` sequences of T+1 bytes of the
 * held-out buffer, sequence k taken at offset (k*T) mod (len - T), in
 * batches of MERGE_EVAL_BATCH; the loss is the mean of the per-batch mean
 * losses (batch losses summed in double, in order, divided by the batch
 * count; the last batch may be shorter). Same params, same bytes: same
 * loss, bit for bit, on every machine. The batches are shared out over
 * one thread per online CPU (at most MERGE_EVAL_THREADS_MAX); each batch
 * is computed whole by one thread and the sum is taken in batch order,
 * so the thread count never changes the result.
 *
 * All functions are reentrant; buffers are the caller's.
 */
#ifndef AGORA_SERVER_MERGE_H
#define AGORA_SERVER_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kernels/model.h"
#include "workunits/hash.h"

#define MERGE_EVAL_BATCH       8
#define MERGE_EVAL_THREADS_MAX 8
#define MERGE_SAMPLE_MAX       4096 /* bytes merge_sample() generates at most */

struct merge_hyper {
	double lr;       /* outer learning rate η, (0, 10] */
	double momentum; /* Nesterov μ, [0, 1) */
};

/* The running sum of a round's Δs: sum (n floats) starts zeroed and each
 * Δ is added in unit order: sum[i] = sum[i] + delta[i]. */
void merge_sum_add(float *sum, const float *delta, size_t n);

/* The outer step on theta and momentum (n floats each, updated in place)
 * from the sum of n_units Δs (see the formula above). n_units >= 1. */
void merge_apply(float *theta, float *momentum, const float *sum, size_t n_units, size_t n,
		 const struct merge_hyper *h);

/* Both at once: deltas[0..n_units) in unit order. Uses n floats of
 * scratch (ERROR_NOMEM). */
int merge_outer_step(float *theta, float *momentum, const float *const *deltas, size_t n_units,
		     size_t n, const struct merge_hyper *h) __attribute__((warn_unused_result));

/* 1 when every value of buf (n floats) is finite, else 0. */
int merge_all_finite(const float *buf, size_t n);

/* The deterministic eval loss of a GPT (see above). len must be at least
 * T+1 bytes, n_seq >= 1. Costs n_seq forward passes; allocates the
 * activations of one batch per thread. ERROR_INVALID for a non-GPT config or short
 * data, ERROR_NOMEM. */
int merge_eval(const struct model_config *cfg, const float *params, const unsigned char *data,
	       size_t len, int n_seq, double *loss, struct error *err)
    __attribute__((warn_unused_result));

/*
 * Generates up to n_new bytes after prompt (prompt_len >= 1 bytes; the
 * last T are used) into out (NUL-terminated; cap >= n_new + 1). Only
 * printable ASCII (0x20..0x7e) and '\n' are ever chosen. temperature <= 0:
 * greedy (highest logit, lowest byte on ties); else sampled from
 * softmax(logits / temperature) over those bytes with the counter-based
 * generator model_rng_uniform(seed, i). Costs one forward per byte over
 * the current context only (the model is cut to the context's length
 * until it reaches T: causal attention makes that exact), so short
 * prompts are cheap. Returns the number of bytes written, or ERROR_*.
 */
int merge_sample(const struct model_config *cfg, const float *params, const unsigned char *prompt,
		 size_t prompt_len, int n_new, double temperature, uint64_t seed, char *out,
		 size_t cap, struct error *err) __attribute__((warn_unused_result));

/* ---- the coordinator's side: blobs in the blob store ---------------- */

struct blobstore;

/* Reads the stored blob h and decodes it into *raw (malloc'd, the caller
 * frees it) of *len bytes; the content must be exactly want_len bytes
 * (ERROR_RANGE otherwise; the header's size is checked before anything is
 * inflated) and hash to h (ERROR_HASH). ERROR_NOT_FOUND when absent. */
int merge_blob_read(const struct blobstore *bs, const struct hash *h, size_t want_len,
		    unsigned char **raw, size_t *len, struct error *err)
    __attribute__((warn_unused_result));

/* What merge_round() needs: θ_r and its momentum (the previous manifest's
 * model and momentum; for round 0 the momentum is the zero buffer and
 * momentum may be NULL), the canonical Δ hashes of every unit of the
 * round in unit order, the outer hyper-parameters and the held-out bytes. */
struct merge_round_in {
	const struct model_config *cfg;
	struct hash theta;
	const struct hash *momentum; /* NULL: zeros */
	const struct hash *deltas;   /* n_units, in unit order */
	size_t n_units;
	struct merge_hyper hyper;
	const unsigned char *eval_data;
	size_t eval_len;
	int eval_seqs;
};

struct merge_round_out {
	struct hash theta;    /* θ_(r+1), stored */
	struct hash momentum; /* the new momentum, stored */
	double eval_loss;
};

/* Round 0: θ_0 = model_init_params(cfg, seed) and an all-zero momentum,
 * both stored in bs (zlib), and θ_0's eval loss: what round 0's manifest
 * names. */
int merge_genesis(struct blobstore *bs, const struct model_config *cfg, uint64_t seed,
		  const unsigned char *eval_data, size_t eval_len, int eval_seqs,
		  struct merge_round_out *out, struct error *err)
    __attribute__((warn_unused_result));

/* Loads every blob (each Δ checked: size, finite), applies the outer
 * step, evaluates, and stores θ_(r+1) and the momentum (zlib) in bs. Holds
 * three model-sized buffers at once (θ, momentum, the running sum) plus
 * one Δ. Fails without storing anything usable when a blob is missing or
 * bad (the message names it). */
int merge_round(struct blobstore *bs, const struct merge_round_in *in, struct merge_round_out *out,
		struct error *err) __attribute__((warn_unused_result));

#endif
