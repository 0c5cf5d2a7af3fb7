/*
 * key.h - Ed25519 keys, key files, and domain-separated signatures.
 *
 * The coordinator signs work units with its key, hosts sign results with
 * theirs, the admin signs manifests. Keys are libsodium Ed25519 keys.
 *
 * Key files are two lines of text:
 *
 *     agora-ed25519-public-key v1          agora-ed25519-secret-key v1
 *     <64 lowercase hex digits>            <128 lowercase hex digits>
 *
 * A secret key file holds libsodium's 64-byte secret key (seed followed by
 * public key). It is created with mode 0600 from the start (never wider,
 * not even for a moment) and is refused on load when group or others may
 * read or write it.
 *
 * Every signature is domain-separated: the signed message is
 * domain || 0x00 || msg, where domain names the kind of object (e.g.
 * "agora-workunit-v1", "agora-result-v1"), so a signature made for one
 * kind of object never verifies as another.
 */
#ifndef AGORA_WORKUNITS_KEY_H
#define AGORA_WORKUNITS_KEY_H

#include <stddef.h>

#include "common/error.h"

#define KEY_PUBLIC_BYTES   32
#define KEY_SECRET_BYTES   64
#define KEY_SIG_BYTES      64
#define KEY_PUBLIC_HEX_LEN 64
#define KEY_SIG_HEX_LEN    128
/* 16 bytes as 8 groups of 4 hex digits joined by ':' */
#define KEY_FINGERPRINT_LEN 39
/* Longest domain string key_sign()/key_verify() accept. */
#define KEY_DOMAIN_MAX 64
/* Largest message key_sign()/key_verify() accept (they copy it once). */
#define KEY_MSG_MAX (64u * 1024 * 1024)

#define KEY_PUBLIC_HEADER "agora-ed25519-public-key v1"
#define KEY_SECRET_HEADER "agora-ed25519-secret-key v1"

struct key_public {
	unsigned char bytes[KEY_PUBLIC_BYTES];
};

/* libsodium's secret key: 32-byte seed, then the 32-byte public key. */
struct key_secret {
	unsigned char bytes[KEY_SECRET_BYTES];
};

/* Makes a new key pair from the system's CSPRNG. Returns 0, or ERROR_STATE
 * when libsodium cannot initialise. */
int key_generate(struct key_public *pk, struct key_secret *sk);

/* Derives the key pair of a 32-byte seed (deterministic: for test
 * vectors and fixtures; real keys come from key_generate()). */
#define KEY_SEED_BYTES 32
void key_from_seed(struct key_public *pk, struct key_secret *sk,
		   const unsigned char seed[KEY_SEED_BYTES]);

/* Writes DIR/NAME.pub and DIR/NAME.key (mode 0600), each atomically.
 * Refuses with ERROR_STATE when either file exists (neither is touched).
 * NAME is 1..64 characters of [A-Za-z0-9._-] not starting with '.'
 * (ERROR_INVALID otherwise). */
int key_write_pair(const char *dir, const char *name, const struct key_public *pk,
		   const struct key_secret *sk, struct error *err)
    __attribute__((warn_unused_result));

/* Load a key file. ERROR_TYPE when the file is the other kind of key
 * ("'x.pub' is a public key, not a secret key") or not a key file;
 * ERROR_VERSION for an unknown key file version; ERROR_FORMAT for bad hex
 * or extra content; key_load_secret() also fails with ERROR_PERM when the
 * file is accessible to group or others, and ERROR_FORMAT when the public
 * half does not match the seed. */
int key_load_public(struct key_public *pk, const char *path, struct error *err)
    __attribute__((warn_unused_result));
int key_load_secret(struct key_secret *sk, const char *path, struct error *err)
    __attribute__((warn_unused_result));

/* Extracts the public key from a secret key. */
void key_public_of(struct key_public *pk, const struct key_secret *sk);

/* 64 lowercase hex digits and a NUL; the parser accepts exactly that. */
void key_public_to_hex(const struct key_public *pk, char out[KEY_PUBLIC_HEX_LEN + 1]);
int key_public_from_hex(struct key_public *pk, const char *hex, struct error *err)
    __attribute__((warn_unused_result));

/* A short form for people to compare: the first 16 bytes of the
 * BLAKE2b-256 of the key, as "abcd:ef01:...:89ab" (39 chars and a NUL). */
void key_fingerprint(const struct key_public *pk, char out[KEY_FINGERPRINT_LEN + 1]);

/* 1 when a and b are the same public key. */
int key_public_equal(const struct key_public *a, const struct key_public *b);

/* Signs domain || 0x00 || msg. domain is 1..KEY_DOMAIN_MAX bytes; msg at
 * most KEY_MSG_MAX bytes (it is copied once behind the domain). Returns 0,
 * or ERROR_INVALID / ERROR_NOMEM with sig zeroed (a zero signature never
 * verifies). */
int key_sign(const struct key_secret *sk, const char *domain, const void *msg, size_t len,
	     unsigned char sig[KEY_SIG_BYTES]);

/* Returns 0 when sig is pk's signature of domain || 0x00 || msg, else
 * ERROR_SIGNATURE (or ERROR_INVALID for a bad domain, ERROR_NOMEM). */
int key_verify(const struct key_public *pk, const char *domain, const void *msg, size_t len,
	       const unsigned char sig[KEY_SIG_BYTES]) __attribute__((warn_unused_result));

#endif
