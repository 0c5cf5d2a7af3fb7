/*
 * dataset.h - the signed dataset manifest: which shards make a dataset,
 * who owns it, under which licence, from where.
 *
 * `agora-admin dataset add` cuts files into shards, uploads each as a blob
 * (content-addressed, BLAKE2b-256), and seals this manifest with the admin
 * key (envelope type "dataset"); the coordinator checks the signature is an
 * allowed admin's and that every shard is stored, then keeps the envelope
 * as a blob. Compact JSON, this key order, all fields required, unknown
 * ones refused:
 *
 *   {"version":1,"name":"fortunes","owner":"Debian","licence":"public-domain",
 *    "source":"fortunes-min 1:1.99","bytes":123456,
 *    "shards":[{"hash":"<64 hex>","size":65536}, ...],"created":1800000000}
 *
 * The shards, concatenated in order, are the dataset's bytes (jobspec.h
 * says which of them a job trains and evaluates on).
 */
#ifndef AGORA_SERVER_DATASET_H
#define AGORA_SERVER_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define DATASET_VERSION       1
#define DATASET_NAME_MAX      64  /* printable ASCII, no spaces */
#define DATASET_TEXT_MAX      256 /* owner, licence, source: UTF-8, no controls */
#define DATASET_SHARDS_MAX    4096
#define DATASET_SHARD_MAX     (64u << 20) /* bytes per shard */
#define ENVELOPE_TYPE_DATASET "dataset"

struct dataset_shard {
	struct hash hash;
	uint64_t size;
};

struct dataset_manifest {
	char name[DATASET_NAME_MAX + 1];
	char owner[DATASET_TEXT_MAX + 1];
	char licence[DATASET_TEXT_MAX + 1];
	char source[DATASET_TEXT_MAX + 1];
	uint64_t bytes; /* sum of the shard sizes */
	size_t n_shards;
	struct dataset_shard *shards; /* malloc'd */
	int64_t created;
};

void dataset_manifest_release(struct dataset_manifest *m);

/* Compact JSON (*out malloc'd, NUL-terminated). */
int dataset_manifest_to_json(const struct dataset_manifest *m, char **out, size_t *len,
			     struct error *err) __attribute__((warn_unused_result));
/* Strict parse into m (zeroed first; release it even on failure). */
int dataset_manifest_parse(struct dataset_manifest *m, const void *json, size_t len,
			   struct error *err) __attribute__((warn_unused_result));
/* Seals m with sk in a "dataset" envelope; *id receives the hash of the
 * payload. */
int dataset_manifest_seal(const struct dataset_manifest *m, const struct key_secret *sk,
			  unsigned char **env, size_t *env_len, struct error *err)
    __attribute__((warn_unused_result));
/* Opens a "dataset" envelope signed by whoever it names (its signer goes
 * to *signer: the caller checks it is an admin) and parses it. */
int dataset_manifest_open(struct dataset_manifest *m, struct key_public *signer, const void *env,
			  size_t env_len, struct error *err) __attribute__((warn_unused_result));

#endif
