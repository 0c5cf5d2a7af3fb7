/*
 * auth.h - signed host requests: the signing side (clients) and the
 * checking side (coordinator), as pure functions with no I/O.
 *
 * A host signs every request with its Ed25519 key and sends four headers:
 *
 *     X-Agora-Host: <host id, decimal>       (absent when registering)
 *     X-Agora-Time: <unix seconds, decimal>
 *     X-Agora-Nonce: <32 lowercase hex digits: 16 random bytes>
 *     X-Agora-Signature: <128 lowercase hex digits>
 *
 * The signature is key_sign(sk, AUTH_DOMAIN, msg) over the canonical text
 *
 *     METHOD "\n" PATH "\n" HOST "\n" TIME "\n" NONCE "\n" BODY-HASH
 *
 * where HOST is the decimal id (0 when registering), NONCE the header's
 * hex and BODY-HASH the BLAKE2b-256 of the exact body bytes (of the empty
 * string when there is no body), as 64 lowercase hex digits. METHOD and
 * PATH (without the query string) must be printable ASCII without spaces,
 * so the text has one reading only.
 *
 * The coordinator refuses a time more than AUTH_WINDOW_S away from its
 * clock, a bad signature, and (with its database, not here) an unknown
 * host or a nonce seen before; nonces are kept for twice the window.
 */
#ifndef AGORA_SERVER_AUTH_H
#define AGORA_SERVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define AUTH_DOMAIN      "agora-request-v1"
#define AUTH_WINDOW_S    300
#define AUTH_NONCE_BYTES 16
#define AUTH_METHOD_MAX  16
#define AUTH_PATH_MAX    1024

#define AUTH_HEADER_HOST      "X-Agora-Host"
#define AUTH_HEADER_TIME      "X-Agora-Time"
#define AUTH_HEADER_NONCE     "X-Agora-Nonce"
#define AUTH_HEADER_SIGNATURE "X-Agora-Signature"

/* What a request claims, parsed from its headers. */
struct auth_claims {
	int64_t host; /* 0: registration (no X-Agora-Host) */
	int64_t time;
	unsigned char nonce[AUTH_NONCE_BYTES];
	unsigned char sig[KEY_SIG_BYTES];
};

/* The header values a client sends (NUL-terminated). */
struct auth_headers {
	char host[24];
	char time[24];
	char nonce[AUTH_NONCE_BYTES * 2 + 1];
	char signature[KEY_SIG_HEX_LEN + 1];
};

/* Client side: fills out with the four header values for a request, using
 * a fresh random nonce. host is the id the coordinator gave (0 when
 * registering), now the current unix time. */
int auth_sign_request(const struct key_secret *sk, const char *method, const char *path,
		      int64_t host, int64_t now, const struct hash *body_hash,
		      struct auth_headers *out, struct error *err)
    __attribute__((warn_unused_result));

/* Server side: parses the header values (any may be NULL, meaning absent;
 * host must be absent exactly when registering, which the caller checks).
 * ERROR_MISSING for an absent time, nonce or signature; ERROR_FORMAT for a
 * malformed value. */
int auth_parse(struct auth_claims *c, const char *host, const char *time, const char *nonce,
	       const char *signature, struct error *err) __attribute__((warn_unused_result));

/* Server side: ERROR_RANGE when the claimed time is more than
 * AUTH_WINDOW_S away from now (stale or in the future). */
int auth_check_time(const struct auth_claims *c, int64_t now, struct error *err)
    __attribute__((warn_unused_result));

/* Server side: checks the time window (ERROR_RANGE: stale or future) and
 * the signature by pk (ERROR_SIGNATURE). The nonce must then be recorded
 * by the caller (db_nonce_use()) to refuse replays. */
int auth_verify_request(const struct key_public *pk, const char *method, const char *path,
			const struct auth_claims *c, const struct hash *body_hash, int64_t now,
			struct error *err) __attribute__((warn_unused_result));

/*
 * Admin requests (the admin CLI, docs/PROTOCOL.md "Admin API") are signed
 * the same way with an admin key and their own domain, so that a host
 * signature can never pass for an admin one. X-Agora-Admin carries the
 * admin's public key (64 hex) instead of X-Agora-Host, and the text's HOST
 * line is that hex:
 *
 *     METHOD "\n" PATH "\n" ADMIN-KEY-HEX "\n" TIME "\n" NONCE "\n" BODY-HASH
 *
 * signed with key_sign(sk, AUTH_ADMIN_DOMAIN, text). Nonces share the
 * hosts' replay table.
 */
#define AUTH_ADMIN_DOMAIN "agora-admin-v1"
#define AUTH_HEADER_ADMIN "X-Agora-Admin"

struct auth_admin_headers {
	char admin[KEY_PUBLIC_HEX_LEN + 1];
	char time[24];
	char nonce[AUTH_NONCE_BYTES * 2 + 1];
	char signature[KEY_SIG_HEX_LEN + 1];
};

/* Client side: the four admin header values for a request signed by sk. */
int auth_sign_admin(const struct key_secret *sk, const char *method, const char *path, int64_t now,
		    const struct hash *body_hash, struct auth_admin_headers *out, struct error *err)
    __attribute__((warn_unused_result));

/* Server side: the time window (ERROR_RANGE) and the admin signature by
 * admin (ERROR_SIGNATURE); c comes from auth_parse() with host NULL. */
int auth_verify_admin(const struct key_public *admin, const char *method, const char *path,
		      const struct auth_claims *c, const struct hash *body_hash, int64_t now,
		      struct error *err) __attribute__((warn_unused_result));

#endif
