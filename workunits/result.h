/*
 * result.h - the result descriptor: what a host returns for a unit.
 *
 * A result names the unit it answers (by id), the host that computed it
 * (its public key, which also signs the result: envelope type "result"),
 * the pseudo-gradient Δ blob (hash and blob size) and what the host
 * measured. The validator compares replicas by their "output" hash.
 *
 * JSON, version 1, canonical form (result_to_json(): this key order, no
 * spaces), all fields required, unknown fields rejected:
 *
 *   {"version":1,"unit_id":"<hash>","host":"<64 hex public key>",
 *    "output":"<hash of the Δ blob's raw content>","output_size":1234,
 *    "metrics":{"loss_first":4.17,"loss_last":3.92},
 *    "compute":{"device":"pocl cpu","seconds":12.5,"steps":100}}
 *
 * struct result is a plain value: copy it freely, no release needed.
 */
#ifndef AGORA_WORKUNITS_RESULT_H
#define AGORA_WORKUNITS_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define RESULT_VERSION     1
#define RESULT_JSON_MAX    (16u * 1024) /* larger descriptors: ERROR_TOO_BIG */
#define RESULT_DEVICE_MAX  64           /* device name: 1..64 printable ASCII */
#define RESULT_LOSS_MAX    1e6          /* losses: [0, 1e6] */
#define RESULT_SECONDS_MAX 1e9          /* compute seconds: [0, 1e9] */

struct result_metrics {
	double loss_first; /* training loss at the first inner step */
	double loss_last;  /* training loss at the last inner step */
};

struct result_compute {
	char device[RESULT_DEVICE_MAX + 1]; /* e.g. "pocl cpu" */
	double seconds;                     /* wall time of the H steps */
	uint32_t steps;                     /* steps run, 1..UNIT_STEPS_MAX */
};

struct result {
	int version;            /* RESULT_VERSION */
	struct hash unit_id;    /* the unit answered */
	struct key_public host; /* the host's key: also the signer */
	struct hash output;     /* hash of Δ's raw content (its blob address) */
	uint64_t output_size;   /* Δ's raw size in bytes, <= 2^53 - 1 */
	struct result_metrics metrics;
	struct result_compute compute;
};

/* Zeroes r and sets its version. */
void result_init(struct result *r);

/* Checks every field's range (the same checks result_parse() makes). */
int result_check(const struct result *r, struct error *err) __attribute__((warn_unused_result));

/* Canonical JSON; *out malloc'd and NUL-terminated (not counted). */
int result_to_json(const struct result *r, char **out, size_t *len, struct error *err)
    __attribute__((warn_unused_result));

/* Strict parse, with the same error rules as unit_parse(). */
int result_parse(struct result *r, const void *json, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/* Seals r in a "result" envelope signed by sk; sk's public key must be
 * r->host (ERROR_INVALID otherwise). *env is malloc'd. */
int result_seal(const struct result *r, const struct key_secret *sk, unsigned char **env,
		size_t *env_len, struct error *err) __attribute__((warn_unused_result));

/* Opens a "result" envelope signed by host (ERROR_SIGNATURE otherwise),
 * parses it, and checks its "host" field is that same key
 * (ERROR_SIGNATURE). */
int result_open(struct result *r, const void *env, size_t env_len, const struct key_public *host,
		struct error *err) __attribute__((warn_unused_result));

#endif
