/*
 * envelope.c - seal and open signed envelopes (see envelope.h).
 */
#include "config.h"

#include "workunits/envelope.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

#define ENVELOPE_DOMAIN_MAX (ENVELOPE_TYPE_MAX + 16)

static int envelope_type_ok(const char *type, size_t len)
{
	size_t i;

	if (len == 0 || len > ENVELOPE_TYPE_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

static void envelope_domain(char out[ENVELOPE_DOMAIN_MAX], const char *type)
{
	snprintf(out, ENVELOPE_DOMAIN_MAX, "agora-%s-v1", type);
}

int envelope_seal(const struct key_secret *sk, const char *type, const void *payload, size_t len,
		  unsigned char **out, size_t *out_len, struct error *err)
{
	char domain[ENVELOPE_DOMAIN_MAX], signer[KEY_PUBLIC_HEX_LEN + 1];
	char sig_hex[KEY_SIG_HEX_LEN + 1], header[ENVELOPE_HEADER_MAX];
	unsigned char sig[KEY_SIG_BYTES];
	struct key_public pk;
	int n, rc;

	*out = NULL;
	*out_len = 0;
	if (!envelope_type_ok(type, strnlen(type, ENVELOPE_TYPE_MAX + 1)))
		return error_set(err, ERROR_INVALID, "bad envelope type '%.40s'", type);
	if (len > ENVELOPE_PAYLOAD_MAX)
		return error_set(err, ERROR_TOO_BIG,
				 "envelope payload of %zu bytes over the %u limit", len,
				 ENVELOPE_PAYLOAD_MAX);
	envelope_domain(domain, type);
	rc = key_sign(sk, domain, payload, len, sig);
	if (rc < 0)
		return error_set(err, rc, "cannot sign envelope: %s", error_name(rc));
	key_public_of(&pk, sk);
	key_public_to_hex(&pk, signer);
	hex_encode(sig_hex, sig, KEY_SIG_BYTES);
	n = snprintf(header, sizeof(header), "%s\ntype %s\nsigner %s\nsignature %s\nlength %zu\n",
		     ENVELOPE_MAGIC, type, signer, sig_hex, len);
	if (n < 0 || (size_t)n >= sizeof(header))
		return error_set(err, ERROR_INVALID, "envelope header too long");
	*out = malloc((size_t)n + len + 1);
	if (!*out)
		return error_set(err, ERROR_NOMEM, "cannot seal envelope: out of memory");
	memcpy(*out, header, (size_t)n);
	if (len > 0)
		memcpy(*out + n, payload, len);
	(*out)[(size_t)n + len] = '\0'; /* not part of the envelope */
	*out_len = (size_t)n + len;
	return 0;
}

/* A cursor over the header lines. */
struct envelope_cursor {
	const char *p;
	size_t left;
};

/* Takes the line "<key> <value>\n" and returns the value's span. */
static int envelope_line(struct envelope_cursor *c, const char *key, const char **value,
			 size_t *value_len, struct error *err)
{
	size_t klen = strlen(key);
	const char *nl;

	if (c->left < klen + 1 || memcmp(c->p, key, klen) != 0 || c->p[klen] != ' ')
		return error_set(err, ERROR_FORMAT, "malformed envelope: expected the '%s' line",
				 key);
	nl = memchr(c->p + klen + 1, '\n', c->left - klen - 1);
	if (!nl)
		return error_set(err, ERROR_FORMAT, "truncated envelope: '%s' line has no end",
				 key);
	*value = c->p + klen + 1;
	*value_len = (size_t)(nl - *value);
	c->left -= (size_t)(nl + 1 - c->p);
	c->p = nl + 1;
	return 0;
}

/* Parses a canonical decimal length: no sign, no leading zeros. */
static int envelope_length(const char *s, size_t len, size_t *out, struct error *err)
{
	size_t i, v = 0;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		goto bad;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto bad;
		v = v * 10 + (size_t)(s[i] - '0');
	}
	if (v > ENVELOPE_PAYLOAD_MAX)
		return error_set(err, ERROR_TOO_BIG,
				 "envelope payload of %zu bytes over the %u limit", v,
				 ENVELOPE_PAYLOAD_MAX);
	*out = v;
	return 0;
bad:
	return error_set(err, ERROR_FORMAT, "malformed envelope: bad length '%.*s'",
			 (int)(len < 16 ? len : 16), s);
}

int envelope_peek(struct envelope_info *info, const void *buf, size_t len, struct error *err)
{
	struct envelope_cursor c = {buf, len};
	size_t mlen = strlen(ENVELOPE_MAGIC), vlen, plen = 0;
	const char *v;
	int rc;

	memset(info, 0, sizeof(*info));
	if (len > ENVELOPE_MAX)
		return error_set(err, ERROR_TOO_BIG, "envelope of %zu bytes over the %u limit", len,
				 (unsigned)ENVELOPE_MAX);
	if (len < mlen + 1 || memcmp(buf, ENVELOPE_MAGIC, mlen) != 0 || c.p[mlen] != '\n') {
		if (len > mlen && memcmp(buf, ENVELOPE_MAGIC, mlen - 1) == 0)
			return error_set(err, ERROR_VERSION, "unsupported envelope version");
		return error_set(err, ERROR_FORMAT, "not an agora envelope (bad first line)");
	}
	c.p += mlen + 1;
	c.left -= mlen + 1;

	rc = envelope_line(&c, "type", &v, &vlen, err);
	if (rc < 0)
		return rc;
	if (!envelope_type_ok(v, vlen))
		return error_set(err, ERROR_FORMAT, "malformed envelope: bad type");
	memcpy(info->type, v, vlen);
	info->type[vlen] = '\0';

	rc = envelope_line(&c, "signer", &v, &vlen, err);
	if (rc < 0)
		return rc;
	if (hex_decode(info->signer.bytes, KEY_PUBLIC_BYTES, v, vlen) < 0)
		return error_set(err, ERROR_FORMAT, "malformed envelope: bad signer key");

	rc = envelope_line(&c, "signature", &v, &vlen, err);
	if (rc < 0)
		return rc;
	if (hex_decode(info->sig, KEY_SIG_BYTES, v, vlen) < 0)
		return error_set(err, ERROR_FORMAT, "malformed envelope: bad signature");

	rc = envelope_line(&c, "length", &v, &vlen, err);
	if (rc < 0)
		return rc;
	rc = envelope_length(v, vlen, &plen, err);
	if (rc < 0)
		return rc;
	if (c.left < plen)
		return error_set(err, ERROR_FORMAT,
				 "truncated envelope: payload has %zu of %zu bytes", c.left, plen);
	if (c.left > plen)
		return error_set(err, ERROR_FORMAT, "%zu trailing bytes after the envelope payload",
				 c.left - plen);
	info->payload = (const unsigned char *)c.p;
	info->payload_len = plen;
	return 0;
}

int envelope_open(const void *buf, size_t len, const char *type, const struct key_public *expected,
		  const unsigned char **payload, size_t *payload_len, struct error *err)
{
	char domain[ENVELOPE_DOMAIN_MAX];
	char got_fp[KEY_FINGERPRINT_LEN + 1], want_fp[KEY_FINGERPRINT_LEN + 1];
	struct envelope_info info;
	int rc;

	assert(type && expected && payload && payload_len);
	*payload = NULL;
	*payload_len = 0;
	rc = envelope_peek(&info, buf, len, err);
	if (rc < 0)
		return rc;
	if (strcmp(info.type, type) != 0)
		return error_set(err, ERROR_TYPE, "envelope holds a '%s', expected a '%.40s'",
				 info.type, type);
	if (!key_public_equal(&info.signer, expected)) {
		key_fingerprint(&info.signer, got_fp);
		key_fingerprint(expected, want_fp);
		return error_set(err, ERROR_SIGNATURE, "envelope signed by key %s, expected key %s",
				 got_fp, want_fp);
	}
	envelope_domain(domain, type);
	rc = key_verify(expected, domain, info.payload, info.payload_len, info.sig);
	if (rc < 0)
		return error_set(err, rc == ERROR_SIGNATURE ? ERROR_SIGNATURE : rc,
				 "envelope signature does not verify");
	*payload = info.payload;
	*payload_len = info.payload_len;
	return 0;
}
