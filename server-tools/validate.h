/*
 * validate.h - the validator: decides, from the replicas' results of one
 * work unit, which result is canonical and which are invalid.
 *
 * First each result on its own: a Δ that could not be decoded, whose
 * bytes do not hash to the result's output, that is not exactly
 * n_params float32 values, that holds a NaN or an infinity, or that is
 * all zeros (H >= 1 AdamW steps never give an exactly zero Δ: a host that
 * skipped the work) is invalid by itself.
 *
 * Then agreement among the results that are valid on their own:
 *   exact mode (the default): two results agree when their output hashes
 *     are equal; the groups are the distinct hashes.
 *   tolerance mode: a and b agree when ‖a−b‖ / max(‖a‖,‖b‖) < tolerance,
 *     computed in double, element by element, in index order. Agreement is
 *     not transitive, so the group of result i is {j : j agrees with i};
 *     the group kept is the largest one (ties: the one whose centre has the
 *     lowest result id).
 * A group wins when it is a strict majority of the valid results AND has at
 * least min_agree members. Then its lowest result id is canonical (in
 * tolerance mode: its centre), its members are valid, every other valid
 * result is invalid with reason "disagree". With no winner the unit needs
 * another replica, unless max_replicas results are in: then it fails.
 *
 * A scaled Δ or random bytes cannot win against an honest majority (their
 * hashes differ); a copy of another host's Δ has the same hash, which is
 * why the scheduler never gives one host (or account) two replicas of a
 * unit and each result counts once per host (docs/TRAINING.md).
 *
 * Pure functions over caller buffers; reentrant.
 */
#ifndef AGORA_SERVER_VALIDATE_H
#define AGORA_SERVER_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"

enum validate_mode {
	VALIDATE_EXACT = 0,
	VALIDATE_TOLERANCE = 1,
};

enum validate_reason {
	VALIDATE_REASON_NONE = 0, /* valid (or not yet decided) */
	VALIDATE_UNDECODABLE,     /* blob missing, corrupt, or hash mismatch */
	VALIDATE_WRONG_SHAPE,     /* not n_params float32 values */
	VALIDATE_NON_FINITE,      /* a NaN or an infinity */
	VALIDATE_ZERO_DELTA,      /* every element zero */
	VALIDATE_DISAGREE,        /* outside the agreeing majority */
};

enum validate_verdict {
	VALIDATE_CANONICAL = 0, /* a majority agrees: canonical chosen */
	VALIDATE_NEED_MORE = 1, /* no majority yet: send another replica */
	VALIDATE_FAILED = 2,    /* no majority and max_replicas reached */
};

struct validate_params {
	enum validate_mode mode;
	double tolerance;      /* tolerance mode: relative L2 threshold, > 0 */
	size_t n_params;       /* model_param_count(preset) */
	unsigned min_agree;    /* members a winning group needs (>= 1), e.g. 2 */
	unsigned max_replicas; /* results after which no majority means failure */
};

/* One result. The caller fills result_id, output and delta/delta_len
 * (delta NULL: the blob could not be read or decoded; the caller may then
 * preset reason, e.g. VALIDATE_WRONG_SHAPE, else it becomes
 * VALIDATE_UNDECODABLE); the validator fills valid and reason. */
struct validate_replica {
	int64_t result_id;          /* the caller's id; canonical = lowest in group */
	struct hash output;         /* the result's claimed output hash */
	const unsigned char *delta; /* decoded Δ bytes (float32 LE), or NULL */
	size_t delta_len;
	/* out */
	int valid; /* 1 when in the winning group */
	enum validate_reason reason;
};

struct validate_outcome {
	enum validate_verdict verdict;
	size_t canonical;  /* index into the replicas (VALIDATE_CANONICAL) */
	size_t n_valid;    /* results valid on their own */
	size_t group_size; /* members of the largest agreeing group */
};

/* "undecodable", "wrong_shape", ... ("" for VALIDATE_REASON_NONE). */
const char *validate_reason_name(enum validate_reason r);
const char *validate_verdict_name(enum validate_verdict v);

/* Checks one Δ on its own: its hash (output), shape, finiteness, not all
 * zero. Returns the reason, VALIDATE_REASON_NONE when it is fine. */
enum validate_reason validate_delta(const struct validate_params *p, const struct hash *output,
				    const unsigned char *delta, size_t delta_len);

/* ‖a−b‖ / max(‖a‖,‖b‖) over n floats, in double; 0 when both are zero. */
double validate_rel_l2(const float *a, const float *b, size_t n);

/* Decides a unit from its n >= 1 results (see above). Costs one hash pass
 * over each Δ, and in tolerance mode n*(n-1)/2 distance passes. Returns 0
 * (the outcome is in *out and each replica's valid/reason), or
 * ERROR_INVALID for bad parameters. Result ids should be distinct. */
int validate_unit(const struct validate_params *p, struct validate_replica *reps, size_t n,
		  struct validate_outcome *out, struct error *err)
    __attribute__((warn_unused_result));

/* The same with the Δs read from the blob store by each replica's output
 * hash (reps[].delta is set and freed here; a blob that is missing or
 * does not decode is "undecodable", one of the wrong size "wrong_shape").
 * Holds every replica's Δ in memory at once. */
struct blobstore;
int validate_unit_blobs(const struct blobstore *bs, const struct validate_params *p,
			struct validate_replica *reps, size_t n, struct validate_outcome *out,
			struct error *err) __attribute__((warn_unused_result));

#endif
