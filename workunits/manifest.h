/*
 * manifest.h - the signed model manifest: one link of a model's lineage.
 *
 * Every model version θ_r a job publishes comes with a manifest signed by
 * the coordinator (envelope type "manifest"). It names its parent (the
 * previous version's manifest id), the model blob, the outer optimizer
 * state blob needed to derive the next version, the canonical results it
 * merged (in unit order, each with the host that produced it), the outer
 * hyper-parameters, and the evaluation that was made of it. With the
 * blobs, anyone can re-derive θ_r from θ_(r-1) and check every hash
 * (server-tools/lineage.h; docs/TRAINING.md).
 *
 * A manifest's id is the BLAKE2b-256 of its signed payload bytes (as a
 * unit's id is). Round 0's manifest describes the initial model: parent
 * is the zero hash (64 '0' digits), results is empty and momentum is the
 * hash of an all-zero buffer.
 *
 * JSON, version 1, canonical form (manifest_to_json(): this key order, no
 * spaces), all fields required, unknown fields rejected:
 *
 *   {"version":1,"job":"tiny","round":3,"preset":"gpt-tiny",
 *    "parent":"<hash>","model":"<hash>","momentum":"<hash>",
 *    "results":[{"unit":0,"unit_id":"<hash>","output":"<hash>",
 *                "host":12,"host_key":"<64 hex>"}],
 *    "outer":{"lr":0.7,"momentum":0.9},
 *    "eval":{"data":"<hash>","sequences":16,"loss":3.98},
 *    "created":1800000000}
 *
 * results[] is in strictly increasing unit order (the merge order). The
 * results array is malloc'd: struct manifest is initialised with
 * manifest_init() and released with manifest_release().
 */
#ifndef AGORA_WORKUNITS_MANIFEST_H
#define AGORA_WORKUNITS_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"
#include "workunits/unit.h"

#define MANIFEST_VERSION       1
#define MANIFEST_JSON_MAX      (1u << 20) /* the envelope's payload cap */
#define MANIFEST_RESULTS_MAX   2048       /* entries per manifest; ~300 bytes each */
#define MANIFEST_EVAL_SEQS_MAX 65536

#define ENVELOPE_TYPE_MANIFEST "manifest"

struct manifest_result {
	uint64_t unit;              /* unit index within the round */
	struct hash unit_id;        /* the signed unit's id */
	struct hash output;         /* the canonical result's Δ hash */
	uint64_t host;              /* the host's id at the coordinator */
	struct key_public host_key; /* the host's public key (signed the result) */
};

struct manifest {
	int version;                      /* MANIFEST_VERSION */
	char job[UNIT_JOB_MAX + 1];       /* job id, [a-z0-9_-] */
	uint64_t round;                   /* this version's number r */
	char preset[UNIT_PRESET_MAX + 1]; /* model preset, e.g. "gpt-tiny" */
	struct hash parent;               /* id of manifest r-1; zero at round 0 */
	struct hash model;                /* θ_r blob (float32 little-endian) */
	struct hash momentum;             /* outer momentum after round r */
	size_t n_results;                 /* 0..MANIFEST_RESULTS_MAX */
	struct manifest_result *results;  /* malloc'd, n_results entries */
	double outer_lr;                  /* outer learning rate η, (0, 10] */
	double outer_momentum;            /* Nesterov μ, [0, 1) */
	struct hash eval_data;            /* held-out byte buffer's hash */
	uint64_t eval_sequences;          /* sequences evaluated, 1..MANIFEST_EVAL_SEQS_MAX */
	double eval_loss;                 /* mean cross-entropy, [0, 1e6] */
	int64_t created;                  /* unix seconds, 0..2^53 - 1 */
};

/* Zeroes m and sets its version. */
void manifest_init(struct manifest *m);
/* Frees the results array; m is then as after manifest_init(). */
void manifest_release(struct manifest *m);

/* Appends one result (copied); 0, ERROR_TOO_BIG past MANIFEST_RESULTS_MAX
 * or ERROR_NOMEM. */
int manifest_add_result(struct manifest *m, const struct manifest_result *r)
    __attribute__((warn_unused_result));

/* Canonical JSON (fails with the parser's error for an invalid manifest);
 * *out malloc'd, NUL-terminated (not counted in *len). */
int manifest_to_json(const struct manifest *m, char **out, size_t *len, struct error *err)
    __attribute__((warn_unused_result));

/* Strict parse: duplicate keys, unknown version, missing or unknown
 * fields, wrong types, out-of-range values and results out of unit order
 * each fail naming the field. m must be manifest_init()ed; on failure it
 * is released. */
int manifest_parse(struct manifest *m, const void *json, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/* The manifest id: BLAKE2b-256 of the signed payload bytes. */
void manifest_id(struct hash *id, const void *payload, size_t len);

/* Seals the canonical JSON in a "manifest" envelope signed by sk; *env is
 * malloc'd; *id (may be NULL) receives the manifest id. */
int manifest_seal(const struct manifest *m, const struct key_secret *sk, unsigned char **env,
		  size_t *env_len, struct hash *id, struct error *err)
    __attribute__((warn_unused_result));

/* Opens a "manifest" envelope signed by pk (signature first), then parses
 * it into m (manifest_init()ed). *id (may be NULL) receives its id. */
int manifest_open(struct manifest *m, struct hash *id, const void *env, size_t env_len,
		  const struct key_public *pk, struct error *err)
    __attribute__((warn_unused_result));

#endif
