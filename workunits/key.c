/*
 * key.c - Ed25519 keys, key files and domain-separated signatures
 * (see key.h).
 */
#include "config.h"

#include "workunits/key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fileio.h"
#include "common/hex.h"
#include "workunits/hash.h"

/* A key file is a header line and a hex line: 200 bytes is plenty. */
#define KEY_FILE_MAX      4096
#define KEY_NAME_MAX      64
#define KEY_HEADER_PREFIX "agora-ed25519-"

_Static_assert(crypto_sign_PUBLICKEYBYTES == KEY_PUBLIC_BYTES, "public key size");
_Static_assert(crypto_sign_SECRETKEYBYTES == KEY_SECRET_BYTES, "secret key size");
_Static_assert(crypto_sign_BYTES == KEY_SIG_BYTES, "signature size");

/* sodium_init() is idempotent and thread safe. Only key_generate() needs
 * what it may fail to set up (an entropy source); derivation, signing and
 * verifying work without. */
static void key_sodium_init(void)
{
	if (sodium_init() < 0) {
		/* key_generate() reports it */
	}
}

int key_generate(struct key_public *pk, struct key_secret *sk)
{
	if (sodium_init() < 0)
		return ERROR_STATE;
	crypto_sign_keypair(pk->bytes, sk->bytes);
	return 0;
}

void key_from_seed(struct key_public *pk, struct key_secret *sk,
		   const unsigned char seed[KEY_SEED_BYTES])
{
	key_sodium_init();
	crypto_sign_seed_keypair(pk->bytes, sk->bytes, seed);
}

void key_public_of(struct key_public *pk, const struct key_secret *sk)
{
	crypto_sign_ed25519_sk_to_pk(pk->bytes, sk->bytes);
}

int key_public_equal(const struct key_public *a, const struct key_public *b)
{
	return memcmp(a->bytes, b->bytes, KEY_PUBLIC_BYTES) == 0;
}

void key_public_to_hex(const struct key_public *pk, char out[KEY_PUBLIC_HEX_LEN + 1])
{
	hex_encode(out, pk->bytes, KEY_PUBLIC_BYTES);
}

int key_public_from_hex(struct key_public *pk, const char *hex, struct error *err)
{
	size_t len = strnlen(hex, KEY_PUBLIC_HEX_LEN + 1);

	if (len != KEY_PUBLIC_HEX_LEN || hex_decode(pk->bytes, KEY_PUBLIC_BYTES, hex, len) < 0)
		return error_set(err, ERROR_FORMAT,
				 "public key must be exactly %d lowercase hex digits",
				 KEY_PUBLIC_HEX_LEN);
	return 0;
}

void key_fingerprint(const struct key_public *pk, char out[KEY_FINGERPRINT_LEN + 1])
{
	struct hash h;
	char hex[33];
	int i, o = 0;

	hash_buf(&h, pk->bytes, KEY_PUBLIC_BYTES);
	hex_encode(hex, h.bytes, 16);
	for (i = 0; i < 32; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = ':';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

/* Builds domain || 0x00 || msg in a malloc'd buffer. */
static int key_message(const char *domain, const void *msg, size_t len, unsigned char **out,
		       size_t *out_len)
{
	size_t dlen;

	*out = NULL;
	if (!domain || (dlen = strnlen(domain, KEY_DOMAIN_MAX + 1)) == 0 || dlen > KEY_DOMAIN_MAX ||
	    len > KEY_MSG_MAX || (len > 0 && !msg))
		return ERROR_INVALID;
	*out = malloc(dlen + 1 + len);
	if (!*out)
		return ERROR_NOMEM;
	memcpy(*out, domain, dlen);
	(*out)[dlen] = 0x00;
	if (len > 0)
		memcpy(*out + dlen + 1, msg, len);
	*out_len = dlen + 1 + len;
	return 0;
}

int key_sign(const struct key_secret *sk, const char *domain, const void *msg, size_t len,
	     unsigned char sig[KEY_SIG_BYTES])
{
	unsigned char *m;
	size_t mlen = 0;
	int rc;

	memset(sig, 0, KEY_SIG_BYTES);
	rc = key_message(domain, msg, len, &m, &mlen);
	if (rc < 0)
		return rc;
	key_sodium_init();
	crypto_sign_detached(sig, NULL, m, mlen, sk->bytes);
	free(m);
	return 0;
}

int key_verify(const struct key_public *pk, const char *domain, const void *msg, size_t len,
	       const unsigned char sig[KEY_SIG_BYTES])
{
	unsigned char *m;
	size_t mlen = 0;
	int rc;

	rc = key_message(domain, msg, len, &m, &mlen);
	if (rc < 0)
		return rc;
	key_sodium_init();
	if (crypto_sign_verify_detached(sig, m, mlen, pk->bytes) != 0)
		rc = ERROR_SIGNATURE;
	free(m);
	return rc;
}

/*
 * Parses a key file's text: the header line must be want_header, then
 * nbytes as hex on the second line, an optional final newline, nothing
 * else. what/other name the two kinds ("public", "secret").
 */
static int key_parse_file(const char *path, const unsigned char *buf, size_t len,
			  const char *want_header, const char *other_header, const char *what,
			  const char *other, unsigned char *out, size_t nbytes, struct error *err)
{
	const char *text = (const char *)buf;
	const char *nl = memchr(text, '\n', len);
	size_t hlen = nl ? (size_t)(nl - text) : len;
	size_t rest, hexlen;
	const char *hex;

	if (hlen != strlen(want_header) || memcmp(text, want_header, hlen) != 0) {
		if (hlen == strlen(other_header) && memcmp(text, other_header, hlen) == 0)
			return error_set(err, ERROR_TYPE, "'%s' is a %s key, not a %s key", path,
					 other, what);
		if (hlen > strlen(KEY_HEADER_PREFIX) && hlen < 64 &&
		    memcmp(text, KEY_HEADER_PREFIX, strlen(KEY_HEADER_PREFIX)) == 0 &&
		    (memcmp(text, want_header, strlen(want_header) - 1) == 0 ||
		     memcmp(text, other_header, strlen(other_header) - 1) == 0))
			return error_set(err, ERROR_VERSION,
					 "'%s': unsupported key file version '%.*s'", path,
					 (int)hlen, text);
		return error_set(err, ERROR_TYPE, "'%s' is not an agora %s key file (bad header)",
				 path, what);
	}
	if (!nl)
		return error_set(err, ERROR_FORMAT, "'%s': key file truncated after header", path);
	hex = nl + 1;
	rest = len - hlen - 1;
	hexlen = rest;
	if (hexlen > 0 && hex[hexlen - 1] == '\n')
		hexlen--;
	if (hexlen != 2 * nbytes || hex_decode(out, nbytes, hex, hexlen) < 0)
		return error_set(
		    err, ERROR_FORMAT,
		    "'%s': expected one line of %zu lowercase hex digits after the header", path,
		    2 * nbytes);
	return 0;
}

int key_load_public(struct key_public *pk, const char *path, struct error *err)
{
	unsigned char *buf;
	size_t len;
	int rc;

	rc = fileio_read_all(path, KEY_FILE_MAX, &buf, &len, err);
	if (rc < 0)
		return rc;
	rc = key_parse_file(path, buf, len, KEY_PUBLIC_HEADER, KEY_SECRET_HEADER, "public",
			    "secret", pk->bytes, KEY_PUBLIC_BYTES, err);
	/* A secret key given where a public one was wanted: do not keep it. */
	sodium_memzero(buf, len);
	free(buf);
	return rc;
}

int key_load_secret(struct key_secret *sk, const char *path, struct error *err)
{
	unsigned char *buf = NULL;
	unsigned char seed_pk[KEY_PUBLIC_BYTES], seed_sk[KEY_SECRET_BYTES];
	struct stat st;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return fileio_error(err, errno, "open", path);
	/* Check the file we opened, not the name: no race with a chmod. */
	if (fstat(fd, &st) != 0) {
		rc = fileio_error(err, errno, "stat", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = error_set(err, ERROR_TYPE, "'%s' is not a regular file", path);
		goto out;
	}
	rc = fileio_read_fd(fd, path, KEY_FILE_MAX, &buf, &len, err);
	if (rc < 0)
		goto out;
	rc = key_parse_file(path, buf, len, KEY_SECRET_HEADER, KEY_PUBLIC_HEADER, "secret",
			    "public", sk->bytes, KEY_SECRET_BYTES, err);
	/* Not a secret key at all: say so, whatever its mode. */
	if (rc == ERROR_TYPE || rc == ERROR_VERSION)
		goto out;
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		rc = error_set(err, ERROR_PERM,
			       "refusing secret key '%s': %s by group or others (chmod 600 it)",
			       path, st.st_mode & (S_IRGRP | S_IROTH) ? "readable" : "accessible");
		goto out;
	}
	if (rc < 0)
		goto out;
	/* The stored public half must be the one the seed derives. */
	crypto_sign_seed_keypair(seed_pk, seed_sk, sk->bytes);
	if (sodium_memcmp(seed_sk, sk->bytes, KEY_SECRET_BYTES) != 0)
		rc = error_set(err, ERROR_FORMAT,
			       "'%s': corrupt secret key (public half does not match the seed)",
			       path);
out:
	sodium_memzero(seed_sk, sizeof(seed_sk));
	if (buf) {
		sodium_memzero(buf, len);
		free(buf);
	}
	if (rc < 0)
		sodium_memzero(sk->bytes, KEY_SECRET_BYTES);
	close(fd);
	return rc;
}

static int key_check_name(const char *name, struct error *err)
{
	size_t i, len = strnlen(name, KEY_NAME_MAX + 1);

	if (len == 0 || len > KEY_NAME_MAX || name[0] == '.')
		goto bad;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			goto bad;
	}
	return 0;
bad:
	return error_set(err, ERROR_INVALID,
			 "bad key name '%.64s': use 1-%d of [A-Za-z0-9._-], not starting with '.'",
			 name, KEY_NAME_MAX);
}

int key_write_pair(const char *dir, const char *name, const struct key_public *pk,
		   const struct key_secret *sk, struct error *err)
{
	char pub_path[FILEIO_PATH_MAX], key_path[FILEIO_PATH_MAX];
	char text[sizeof(KEY_SECRET_HEADER) + 2 * KEY_SECRET_BYTES + 2];
	struct stat st;
	int n, rc;

	rc = key_check_name(name, err);
	if (rc < 0)
		return rc;
	if (snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir, name) >= (int)sizeof(pub_path) ||
	    snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, name) >= (int)sizeof(key_path))
		return error_set(err, ERROR_INVALID, "key directory path too long");
	if (lstat(pub_path, &st) == 0 || lstat(key_path, &st) == 0)
		return error_set(err, ERROR_STATE, "'%s' already exists, not overwriting",
				 lstat(key_path, &st) == 0 ? key_path : pub_path);

	/* Secret first: a lone .pub without its .key would look complete. */
	n = snprintf(text, sizeof(text), "%s\n", KEY_SECRET_HEADER);
	hex_encode(text + n, sk->bytes, KEY_SECRET_BYTES);
	text[n + 2 * KEY_SECRET_BYTES] = '\n';
	rc = fileio_write_atomic(key_path, text, (size_t)n + 2 * KEY_SECRET_BYTES + 1, 0600,
				 FILEIO_NO_REPLACE, err);
	sodium_memzero(text, sizeof(text));
	if (rc < 0)
		return rc;

	n = snprintf(text, sizeof(text), "%s\n", KEY_PUBLIC_HEADER);
	hex_encode(text + n, pk->bytes, KEY_PUBLIC_BYTES);
	text[n + 2 * KEY_PUBLIC_BYTES] = '\n';
	rc = fileio_write_atomic(pub_path, text, (size_t)n + 2 * KEY_PUBLIC_BYTES + 1, 0644,
				 FILEIO_NO_REPLACE, err);
	if (rc < 0)
		unlink(key_path);
	return rc;
}
