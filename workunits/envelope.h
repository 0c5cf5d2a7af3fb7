/*
 * envelope.h - signed envelopes: exact payload bytes plus who signed them.
 *
 * Work-unit descriptors, results and (later) manifests travel inside an
 * envelope. The signature covers the payload's exact bytes, never a
 * re-serialisation, so what is verified is exactly what is parsed and
 * hashed (a unit's id is the BLAKE2b-256 of its payload bytes).
 *
 * The format is a short text header, then the payload:
 *
 *     agora-envelope v1\n
 *     type workunit\n
 *     signer <64 hex digits: Ed25519 public key>\n
 *     signature <128 hex digits>\n
 *     length <payload bytes, decimal, no leading zeros>\n
 *     <exactly length bytes of payload>
 *
 * The signature is key_sign() with domain "agora-<type>-v1" over the
 * payload, so an envelope of one type never verifies as another. Parsing is
 * strict (one spelling of every header: lowercase hex, canonical decimal,
 * nothing after the payload), so any change to any byte of a sealed
 * envelope is rejected: tests check every single-byte change.
 *
 * All functions are reentrant (no shared state); none keeps a pointer to
 * its arguments after returning, except that payload pointers point into
 * the caller's buffer.
 */
#ifndef AGORA_WORKUNITS_ENVELOPE_H
#define AGORA_WORKUNITS_ENVELOPE_H

#include <stddef.h>

#include "common/error.h"
#include "workunits/key.h"

#define ENVELOPE_MAGIC "agora-envelope v1"
/* Type names: 1..ENVELOPE_TYPE_MAX of [a-z0-9-]. */
#define ENVELOPE_TYPE_MAX 32
/* Largest payload; bigger envelopes are ERROR_TOO_BIG before parsing. */
#define ENVELOPE_PAYLOAD_MAX (1u << 20)
/* Longest header (magic, type, signer, signature, length lines). */
#define ENVELOPE_HEADER_MAX 320
#define ENVELOPE_MAX        (ENVELOPE_HEADER_MAX + ENVELOPE_PAYLOAD_MAX)

/* Envelope types used by Agora. */
#define ENVELOPE_TYPE_WORKUNIT "workunit"
#define ENVELOPE_TYPE_RESULT   "result"

/* What an envelope says about itself. Not verified by envelope_peek(). */
struct envelope_info {
	char type[ENVELOPE_TYPE_MAX + 1];
	struct key_public signer;
	unsigned char sig[KEY_SIG_BYTES];
	const unsigned char *payload; /* points into the caller's buffer */
	size_t payload_len;
};

/* Seals len bytes of payload as type, signed with sk. *out is malloc'd
 * (the caller frees it). ERROR_INVALID for a bad type, ERROR_TOO_BIG for a
 * payload over ENVELOPE_PAYLOAD_MAX. */
int envelope_seal(const struct key_secret *sk, const char *type, const void *payload, size_t len,
		  unsigned char **out, size_t *out_len, struct error *err)
    __attribute__((warn_unused_result));

/* Parses an envelope WITHOUT verifying it (to learn its type and signer,
 * e.g. to look the signer up). Never trust info->payload from this alone. */
int envelope_peek(struct envelope_info *info, const void *buf, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/*
 * Opens an envelope: parses it, checks that it has the given type
 * (ERROR_TYPE) and was signed by expected (ERROR_SIGNATURE), verifies the
 * signature (ERROR_SIGNATURE), and only then sets *payload / *payload_len
 * (pointing into buf: valid while buf is). Format errors are ERROR_FORMAT,
 * ERROR_VERSION or ERROR_TOO_BIG. On failure *payload is NULL.
 */
int envelope_open(const void *buf, size_t len, const char *type, const struct key_public *expected,
		  const unsigned char **payload, size_t *payload_len, struct error *err)
    __attribute__((warn_unused_result));

#endif
