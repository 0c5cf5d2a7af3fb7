/*
 * unit.h - the work-unit descriptor: what one volunteer computes.
 *
 * A unit names the model version to start from (θ_r, by hash), the data
 * ranges to train on, the hyper-parameters, the number of inner steps H,
 * the seed and the kernel ABI it expects. It is the same for every replica
 * and is signed once by the coordinator (unit_seal(), envelope type
 * "workunit"). Its id is the BLAKE2b-256 of the signed payload bytes.
 *
 * JSON, version 1, canonical form (unit_to_json(): this key order, no
 * spaces), all fields required, unknown fields rejected:
 *
 *   {"version":1,"job":"tiny-shakespeare","round":3,"unit":17,
 *    "model":"<hash>","preset":"gpt-tiny",
 *    "data":[{"shard":"<hash>","offset":0,"length":65536}],
 *    "hyper":{"lr":0.001,"beta1":0.9,"beta2":0.95,"eps":1e-08,
 *             "weight_decay":0.1,"clip":1.0,"batch":8,"context":256},
 *    "steps":100,"seed":"18446744073709551615","kernel_abi":1,
 *    "deadline":1800000000,"flops":123456789.0}
 *
 * "seed" is a decimal string because JSON numbers above 2^53 are not
 * portable; the other integers are capped below 2^53. Ranges: see
 * UNIT_* below and unit.c (each violation names its field).
 *
 * struct unit is a plain value with fixed-size fields (the data array is
 * capped at UNIT_DATA_MAX entries): copy it freely, no release needed.
 * All functions are reentrant.
 */
#ifndef AGORA_WORKUNITS_UNIT_H
#define AGORA_WORKUNITS_UNIT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define UNIT_VERSION        1
#define UNIT_JSON_MAX       (64u * 1024) /* larger descriptors: ERROR_TOO_BIG */
#define UNIT_JOB_MAX        64           /* job id: 1..64 of [a-z0-9_-] */
#define UNIT_PRESET_MAX     32           /* preset name: 1..32 of [a-z0-9_-] */
#define UNIT_DATA_MAX       64           /* data ranges per unit: 1..64 */
#define UNIT_STEPS_MAX      1000000      /* H: 1..1e6 */
#define UNIT_ROUND_MAX      1000000000   /* round: 0..1e9 */
#define UNIT_INDEX_MAX      1000000000   /* unit index: 0..1e9 */
#define UNIT_BATCH_MAX      65536        /* batch: 1..65536 */
#define UNIT_CONTEXT_MAX    1048576      /* context: 1..2^20 tokens */
#define UNIT_KERNEL_ABI_MAX 65535        /* kernel_abi: 1..65535 */

struct unit_data {
	struct hash shard; /* the shard blob's hash */
	uint64_t offset;   /* first byte of the range, <= 2^53 - 1 */
	uint64_t length;   /* bytes, 1..2^53 - 1 */
};

struct unit_hyper {
	double lr;           /* (0, 10] */
	double beta1;        /* [0, 1) */
	double beta2;        /* [0, 1) */
	double eps;          /* (0, 1] */
	double weight_decay; /* [0, 10] */
	double clip;         /* [0, 1e6], 0: no clipping */
	uint32_t batch;      /* sequences per step */
	uint32_t context;    /* tokens per sequence */
};

struct unit {
	int version;                      /* UNIT_VERSION */
	char job[UNIT_JOB_MAX + 1];       /* job id */
	uint64_t round;                   /* round r */
	uint64_t index;                   /* JSON "unit": index within the round */
	struct hash model;                /* hash of θ_r's blob */
	char preset[UNIT_PRESET_MAX + 1]; /* model preset, e.g. "gpt-tiny" */
	size_t n_data;                    /* 1..UNIT_DATA_MAX */
	struct unit_data data[UNIT_DATA_MAX];
	struct unit_hyper hyper;
	uint32_t steps;      /* H inner steps */
	uint64_t seed;       /* JSON decimal string */
	uint32_t kernel_abi; /* kernel ABI version the unit needs */
	int64_t deadline;    /* unix seconds, 1..2^53 - 1 */
	double flops;        /* estimated cost, [0, 1e30] */
};

/* Zeroes u and sets its version. */
void unit_init(struct unit *u);

/* Checks every field's range (the same checks unit_parse() makes). */
int unit_check(const struct unit *u, struct error *err) __attribute__((warn_unused_result));

/* Encodes u canonically (fixed key order, compact: equal units give equal
 * bytes). Fails with unit_check()'s error for an invalid unit. *out is
 * malloc'd, NUL-terminated (the NUL is not counted in *len). */
int unit_to_json(const struct unit *u, char **out, size_t *len, struct error *err)
    __attribute__((warn_unused_result));

/* Parses a descriptor strictly: at most UNIT_JSON_MAX bytes, duplicate
 * keys, unknown version, missing or unknown fields, wrong types and
 * out-of-range values each fail with their own code and a message naming
 * the field. u is unspecified on failure. */
int unit_parse(struct unit *u, const void *json, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/* The unit id: BLAKE2b-256 of the signed payload bytes. */
void unit_id(struct hash *id, const void *payload, size_t len);

/* Canonical JSON, sealed in a "workunit" envelope signed by sk. *env is
 * malloc'd; *id (may be NULL) receives the unit id. */
int unit_seal(const struct unit *u, const struct key_secret *sk, unsigned char **env,
	      size_t *env_len, struct hash *id, struct error *err)
    __attribute__((warn_unused_result));

/* Opens a "workunit" envelope signed by pk (signature checked first),
 * then parses its payload. *id (may be NULL) receives the unit id. */
int unit_open(struct unit *u, struct hash *id, const void *env, size_t env_len,
	      const struct key_public *pk, struct error *err) __attribute__((warn_unused_result));

#endif
