/*
 * lineage.h - checks a job's chain of model manifests end to end: every
 * signature, every parent link, every blob hash, and every model version
 * re-derived from its parent with the merger.
 *
 * Round 0's manifest must have the zero parent, no results and an
 * all-zero momentum; its model blob is taken as given (it is θ_0, whose
 * origin, model_init_params(seed), the job spec states). Each later
 * manifest r must name manifest r-1's id as parent, list at least one
 * result, and then:
 *   θ_r, m_r = merge(θ_(r-1), m_(r-1), the listed Δs in order, its outer)
 * must hash to its "model" and "momentum" (and those blobs must be
 * available and whole); each listed Δ must hash to its
 * "output" and be a valid Δ on its own (validate_delta()). Unless
 * LINEAGE_NO_EVAL, the eval loss is recomputed (merge_eval()) on the eval
 * data blob and must be equal, bit for bit.
 *
 * The first broken link ends the walk with a one-line message naming it:
 *   "round 3: model hash mismatch: manifest says <hash>, re-derived <hash>"
 *
 * Blobs come from a callback, so the chain can be checked from an export
 * directory (lineage_verify_dir(), layout in docs/TRAINING.md), the
 * coordinator's blob store, or anywhere else. Memory: three model-sized
 * float buffers plus one Δ and one manifest at a time.
 */
#ifndef AGORA_SERVER_LINEAGE_H
#define AGORA_SERVER_LINEAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"
#include "workunits/manifest.h"

#define LINEAGE_NO_EVAL    1u           /* skip recomputing eval losses */
#define LINEAGE_EVAL_MAX   (256u << 20) /* eval data blobs above: refused */
#define LINEAGE_ROUNDS_MAX 1000000      /* manifests in a chain */

/* Returns the raw content of blob h in *raw (malloc'd; the caller frees
 * it), at most max bytes (ERROR_TOO_BIG beyond), ERROR_NOT_FOUND when
 * there is none. The lineage checks the hash again itself. */
struct lineage_blobs {
	int (*get)(void *ctx, const struct hash *h, size_t max, unsigned char **raw, size_t *len,
		   struct error *err);
	void *ctx;
};

struct lineage_opts {
	unsigned flags; /* LINEAGE_NO_EVAL */
	/* Called after each manifest checks out (may be NULL). */
	void (*on_round)(void *ctx, const struct manifest *m, const struct hash *id);
	void *ctx;
};

struct lineage_report {
	size_t rounds;    /* manifests checked */
	size_t results;   /* Δs re-checked and merged */
	struct hash tip;  /* id of the last good manifest */
	double last_loss; /* its eval loss */
};

/* Walks n >= 1 envelopes, round 0 first, each signed by coord. Returns 0
 * when the whole chain checks out; otherwise the first problem's code and
 * a message naming the round (rep says how far it got). opts may be NULL. */
int lineage_verify(const unsigned char *const *envs, const size_t *env_lens, size_t n,
		   const struct key_public *coord, const struct lineage_blobs *blobs,
		   const struct lineage_opts *opts, struct lineage_report *rep, struct error *err)
    __attribute__((warn_unused_result));

/* The same for an export directory: DIR/manifests/round-0.env,
 * round-1.env, ... (until the first missing number) and DIR/blobs/<hex>
 * blob containers. */
int lineage_verify_dir(const char *dir, const struct key_public *coord,
		       const struct lineage_opts *opts, struct lineage_report *rep,
		       struct error *err) __attribute__((warn_unused_result));

/* The blob callback of an export directory: ctx is the directory's path
 * (a NUL-terminated string); reads ctx/blobs/<hex>, decodes it with the
 * hash as the expected address. */
int lineage_dir_blob(void *ctx, const struct hash *h, size_t max, unsigned char **raw, size_t *len,
		     struct error *err);

/* The blob callback of the coordinator's blob store: ctx is a struct
 * blobstore *. */
int lineage_store_blob(void *ctx, const struct hash *h, size_t max, unsigned char **raw,
		       size_t *len, struct error *err);

#endif
