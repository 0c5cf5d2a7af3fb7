/*
 * auth.c - canonical request text, signing and checking (see auth.h).
 *
 * The canonical text is at most about 1.2 KiB and built in a stack buffer
 * with length checks; nothing here allocates or touches the network.
 */
#include "config.h"

#include "server-tools/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hex.h"

#define AUTH_TEXT_MAX (AUTH_METHOD_MAX + AUTH_PATH_MAX + 24 + 24 + 33 + 65 + 8)

/* Printable ASCII without space: one reading of the canonical text. */
static int auth_token_ok(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return 0;
	for (; *s; s++, n++)
		if (n >= max || *s <= ' ' || *s > '~')
			return 0;
	return 1;
}

static int auth_text_who(char *buf, size_t size, const char *method, const char *path,
			 const char *who, int64_t time, const unsigned char nonce[AUTH_NONCE_BYTES],
			 const struct hash *body_hash, struct error *err)
{
	char nonce_hex[AUTH_NONCE_BYTES * 2 + 1], body_hex[HASH_HEX_LEN + 1];
	int n;

	if (!auth_token_ok(method, AUTH_METHOD_MAX))
		return error_set(err, ERROR_INVALID, "bad request method");
	if (!auth_token_ok(path, AUTH_PATH_MAX))
		return error_set(err, ERROR_INVALID, "bad request path");
	hex_encode(nonce_hex, nonce, AUTH_NONCE_BYTES);
	hash_to_hex(body_hash, body_hex);
	n = snprintf(buf, size, "%s\n%s\n%s\n%lld\n%s\n%s", method, path, who, (long long)time,
		     nonce_hex, body_hex);
	if (n < 0 || (size_t)n >= size)
		return error_set(err, ERROR_TOO_BIG, "request text too long");
	return n;
}

static int auth_text(char *buf, size_t size, const char *method, const char *path, int64_t host,
		     int64_t time, const unsigned char nonce[AUTH_NONCE_BYTES],
		     const struct hash *body_hash, struct error *err)
{
	char who[24];

	snprintf(who, sizeof(who), "%lld", (long long)host);
	return auth_text_who(buf, size, method, path, who, time, nonce, body_hash, err);
}

int auth_sign_request(const struct key_secret *sk, const char *method, const char *path,
		      int64_t host, int64_t now, const struct hash *body_hash,
		      struct auth_headers *out, struct error *err)
{
	unsigned char nonce[AUTH_NONCE_BYTES], sig[KEY_SIG_BYTES];
	char text[AUTH_TEXT_MAX];
	int len, rc;

	memset(out, 0, sizeof(*out));
	if (host < 0 || now < 0)
		return error_set(err, ERROR_INVALID, "negative host id or time");
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return error_set(err, ERROR_IO, "cannot get random bytes: %s", strerror(errno));
	len = auth_text(text, sizeof(text), method, path, host, now, nonce, body_hash, err);
	if (len < 0)
		return len;
	rc = key_sign(sk, AUTH_DOMAIN, text, (size_t)len, sig);
	if (rc < 0)
		return error_set(err, rc, "cannot sign the request");
	snprintf(out->host, sizeof(out->host), "%lld", (long long)host);
	snprintf(out->time, sizeof(out->time), "%lld", (long long)now);
	hex_encode(out->nonce, nonce, sizeof(nonce));
	hex_encode(out->signature, sig, sizeof(sig));
	return 0;
}

/* Strict decimal: digits only, no sign, no leading zero, at most 18
 * digits (so it fits int64_t). */
static int auth_decimal(const char *s, int64_t *out)
{
	size_t n = strlen(s), i;
	int64_t v = 0;

	if (n == 0 || n > 18 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int auth_parse(struct auth_claims *c, const char *host, const char *time, const char *nonce,
	       const char *signature, struct error *err)
{
	memset(c, 0, sizeof(*c));
	if (!time)
		return error_set(err, ERROR_MISSING, "missing header '%s'", AUTH_HEADER_TIME);
	if (!nonce)
		return error_set(err, ERROR_MISSING, "missing header '%s'", AUTH_HEADER_NONCE);
	if (!signature)
		return error_set(err, ERROR_MISSING, "missing header '%s'", AUTH_HEADER_SIGNATURE);
	if (host && (auth_decimal(host, &c->host) < 0 || c->host == 0))
		return error_set(err, ERROR_FORMAT, "bad header '%s': want a host id",
				 AUTH_HEADER_HOST);
	if (auth_decimal(time, &c->time) < 0)
		return error_set(err, ERROR_FORMAT, "bad header '%s': want unix seconds",
				 AUTH_HEADER_TIME);
	if (hex_decode(c->nonce, sizeof(c->nonce), nonce, strlen(nonce)) < 0)
		return error_set(err, ERROR_FORMAT, "bad header '%s': want %d lowercase hex digits",
				 AUTH_HEADER_NONCE, AUTH_NONCE_BYTES * 2);
	if (hex_decode(c->sig, sizeof(c->sig), signature, strlen(signature)) < 0)
		return error_set(err, ERROR_FORMAT, "bad header '%s': want %d lowercase hex digits",
				 AUTH_HEADER_SIGNATURE, KEY_SIG_HEX_LEN);
	return 0;
}

int auth_check_time(const struct auth_claims *c, int64_t now, struct error *err)
{
	if (c->time < now - AUTH_WINDOW_S || c->time > now + AUTH_WINDOW_S)
		return error_set(err, ERROR_RANGE,
				 "request time %lld is %lld s away from the server's clock",
				 (long long)c->time, (long long)(c->time - now));
	return 0;
}

int auth_verify_request(const struct key_public *pk, const char *method, const char *path,
			const struct auth_claims *c, const struct hash *body_hash, int64_t now,
			struct error *err)
{
	char text[AUTH_TEXT_MAX];
	int len, rc = auth_check_time(c, now, err);

	if (rc < 0)
		return rc;
	len =
	    auth_text(text, sizeof(text), method, path, c->host, c->time, c->nonce, body_hash, err);
	if (len < 0)
		return len;
	if (key_verify(pk, AUTH_DOMAIN, text, (size_t)len, c->sig) != 0)
		return error_set(err, ERROR_SIGNATURE, "request signature does not verify");
	return 0;
}

int auth_sign_admin(const struct key_secret *sk, const char *method, const char *path, int64_t now,
		    const struct hash *body_hash, struct auth_admin_headers *out, struct error *err)
{
	unsigned char nonce[AUTH_NONCE_BYTES], sig[KEY_SIG_BYTES];
	char text[AUTH_TEXT_MAX + KEY_PUBLIC_HEX_LEN];
	struct key_public pk;
	int len, rc;

	memset(out, 0, sizeof(*out));
	if (now < 0)
		return error_set(err, ERROR_INVALID, "negative time");
	if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		return error_set(err, ERROR_IO, "cannot get random bytes: %s", strerror(errno));
	key_public_of(&pk, sk);
	key_public_to_hex(&pk, out->admin);
	len =
	    auth_text_who(text, sizeof(text), method, path, out->admin, now, nonce, body_hash, err);
	if (len < 0)
		return len;
	rc = key_sign(sk, AUTH_ADMIN_DOMAIN, text, (size_t)len, sig);
	if (rc < 0)
		return error_set(err, rc, "cannot sign the request");
	snprintf(out->time, sizeof(out->time), "%lld", (long long)now);
	hex_encode(out->nonce, nonce, sizeof(nonce));
	hex_encode(out->signature, sig, sizeof(sig));
	return 0;
}

int auth_verify_admin(const struct key_public *admin, const char *method, const char *path,
		      const struct auth_claims *c, const struct hash *body_hash, int64_t now,
		      struct error *err)
{
	char text[AUTH_TEXT_MAX + KEY_PUBLIC_HEX_LEN], who[KEY_PUBLIC_HEX_LEN + 1];
	int len, rc = auth_check_time(c, now, err);

	if (rc < 0)
		return rc;
	key_public_to_hex(admin, who);
	len =
	    auth_text_who(text, sizeof(text), method, path, who, c->time, c->nonce, body_hash, err);
	if (len < 0)
		return len;
	if (key_verify(admin, AUTH_ADMIN_DOMAIN, text, (size_t)len, c->sig) != 0)
		return error_set(err, ERROR_SIGNATURE, "admin signature does not verify");
	return 0;
}
