/*
 * hash.h - BLAKE2b-256 content hashes, Agora's addresses for every blob,
 * shard, model version and work unit.
 *
 * A hash is 32 bytes (libsodium's crypto_generichash, unkeyed), written as
 * exactly 64 lowercase hex digits; hash_from_hex() accepts nothing else, so
 * each hash has a single textual form. The streaming interface hashes
 * inputs of any size in constant memory.
 */
#ifndef AGORA_WORKUNITS_HASH_H
#define AGORA_WORKUNITS_HASH_H

#include <stddef.h>

#include "common/error.h"

#define HASH_BYTES   32
#define HASH_HEX_LEN 64

struct hash {
	unsigned char bytes[HASH_BYTES];
};

/* Streaming state: libsodium's crypto_generichash_state, kept opaque here
 * so this header needs no libsodium include (hash.c checks the size). */
struct hash_state {
	_Alignas(64) unsigned char opaque[384];
};

/* Hashes len bytes of data into out. */
void hash_buf(struct hash *out, const void *data, size_t len);

/* Streaming: init, any number of updates, one final. */
void hash_init(struct hash_state *st);
void hash_update(struct hash_state *st, const void *data, size_t len);
void hash_final(struct hash_state *st, struct hash *out);

/* Writes 64 lowercase hex digits and a NUL. */
void hash_to_hex(const struct hash *h, char out[HASH_HEX_LEN + 1]);

/* Parses exactly 64 lowercase hex digits (a NUL-terminated string);
 * anything else is ERROR_FORMAT. */
int hash_from_hex(struct hash *h, const char *hex, struct error *err)
    __attribute__((warn_unused_result));

/* Hashes the contents of the file at path in constant memory (reads in
 * 64 KiB chunks). ERROR_IO / ERROR_NOT_FOUND / ERROR_PERM naming the file. */
int hash_file(struct hash *out, const char *path, struct error *err)
    __attribute__((warn_unused_result));

/* 1 when a and b are the same hash, else 0. Not constant time: hashes
 * are public values. */
int hash_equal(const struct hash *a, const struct hash *b);

#endif
