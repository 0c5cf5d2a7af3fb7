/*
 * boinc_key.c - BOINC's RSA key files and file signatures over OpenSSL's
 * libcrypto (see boinc_key.h for the formats).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "common/fileio.h"
#include "server-tools/boinc_key.h"

#define M BOINC_KEY_MOD_LEN
#define P BOINC_KEY_PRIME_LEN

/* The private key's numbers: OpenSSL parameter name, offset, length. */
static const struct {
	const char *name;
	size_t off, len;
} priv_fields[] = {
    {OSSL_PKEY_PARAM_RSA_N, 0, M},
    {OSSL_PKEY_PARAM_RSA_E, M, M},
    {OSSL_PKEY_PARAM_RSA_D, 2 * M, M},
    {OSSL_PKEY_PARAM_RSA_FACTOR1, 3 * M, P},
    {OSSL_PKEY_PARAM_RSA_FACTOR2, 3 * M + P, P},
    {OSSL_PKEY_PARAM_RSA_EXPONENT1, 3 * M + 2 * P, P},
    {OSSL_PKEY_PARAM_RSA_EXPONENT2, 3 * M + 3 * P, P},
    {OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 3 * M + 4 * P, P},
};
#define N_PRIV (sizeof(priv_fields) / sizeof(priv_fields[0]))

static int ossl_error(struct error *err, const char *what)
{
	return error_set(err, ERROR_STATE, "openssl: %s failed", what);
}

int boinc_key_generate(struct boinc_key_private *sk, struct boinc_key_public *pk, struct error *err)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)BOINC_KEY_BITS);
	int ret = 0;

	memset(sk, 0, sizeof(*sk));
	if (!k)
		return ossl_error(err, "RSA key generation");
	sk->bits = BOINC_KEY_BITS;
	for (size_t i = 0; i < N_PRIV && ret == 0; i++) {
		BIGNUM *bn = NULL;

		if (!EVP_PKEY_get_bn_param(k, priv_fields[i].name, &bn) ||
		    BN_bn2binpad(bn, sk->raw + priv_fields[i].off, (int)priv_fields[i].len) < 0)
			ret = ossl_error(err, "reading the RSA key");
		BN_clear_free(bn);
	}
	EVP_PKEY_free(k);
	if (ret == 0 && pk)
		boinc_key_public_of(pk, sk);
	return ret;
}

void boinc_key_public_of(struct boinc_key_public *pk, const struct boinc_key_private *sk)
{
	pk->bits = sk->bits;
	memcpy(pk->raw, sk->raw, 2 * M); /* modulus, public exponent */
}

/* An OpenSSL key from BOINC's raw numbers (the first two fields for a
 * public key, all eight for a private one). */
static EVP_PKEY *to_pkey(const unsigned char *raw, int private_key)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *k = NULL;
	BIGNUM *bns[N_PRIV] = {NULL};
	size_t n = private_key ? N_PRIV : 2, i;

	if (!bld)
		return NULL;
	for (i = 0; i < n; i++) {
		bns[i] = BN_bin2bn(raw + priv_fields[i].off, (int)priv_fields[i].len, NULL);
		if (!bns[i] || !OSSL_PARAM_BLD_push_BN(bld, priv_fields[i].name, bns[i]))
			goto out;
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &k, private_key ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
			      params) <= 0)
		k = NULL;
out:
	for (i = 0; i < n; i++)
		BN_clear_free(bns[i]);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return k;
}

/* BOINC's hex layout of len bytes (32 a line, then "."). */
static int hex_text(const unsigned char *b, size_t len, char *out, size_t size)
{
	static const char hx[] = "0123456789abcdef";
	size_t at = 0;

	for (size_t i = 0; i < len; i++) {
		if (at + 4 >= size)
			return ERROR_TOO_BIG;
		out[at++] = hx[b[i] >> 4];
		out[at++] = hx[b[i] & 15];
		if (i % 32 == 31 || i + 1 == len)
			out[at++] = '\n';
	}
	if (at + 3 > size)
		return ERROR_TOO_BIG;
	memcpy(out + at, ".\n", 3);
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads hex pairs (newlines skipped) up to the first other character;
 * the count read, or -1 past cap. */
static long hex_scan(const char *s, const char *end, unsigned char *out, size_t cap,
		     const char **stop)
{
	size_t n = 0;

	while (s < end) {
		int hi, lo;

		if (*s == '\n' || *s == '\r') {
			s++;
			continue;
		}
		if (end - s < 2 || (hi = hex_digit(s[0])) < 0 || (lo = hex_digit(s[1])) < 0)
			break;
		if (n == cap)
			return -1;
		out[n++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	*stop = s;
	return (long)n;
}

int boinc_key_public_text(const struct boinc_key_public *pk, char *out, size_t size)
{
	int n = snprintf(out, size, "%u\n", pk->bits);

	if (n < 0 || (size_t)n >= size)
		return ERROR_TOO_BIG;
	return hex_text(pk->raw, sizeof(pk->raw), out + n, size - (size_t)n);
}

static int key_text(unsigned bits, const unsigned char *raw, size_t len, char *out, size_t size)
{
	int n = snprintf(out, size, "%u\n", bits);

	if (n < 0 || (size_t)n >= size)
		return ERROR_TOO_BIG;
	return hex_text(raw, len, out + n, size - (size_t)n);
}

/* Parses "bits\n" + exactly len bytes of hex + "." */
static int key_parse(unsigned *bits, unsigned char *raw, size_t len, const char *text, size_t tlen,
		     struct error *err)
{
	const char *s = text, *end = text + tlen, *stop;
	unsigned long b = 0;
	long n;

	while (s < end && *s >= '0' && *s <= '9' && b < 100000)
		b = b * 10 + (unsigned long)(*s++ - '0');
	if (s == text || s == end || *s != '\n' || b < 512 || b > 8 * M)
		return error_set(err, ERROR_FORMAT, "not a BOINC key: bad bit count");
	n = hex_scan(s + 1, end, raw, len, &stop);
	if (n != (long)len || stop == end || *stop != '.')
		return error_set(err, ERROR_FORMAT, "not a BOINC key: want %zu bytes of hex", len);
	for (stop++; stop < end; stop++)
		if (*stop != '\n' && *stop != '\r' && *stop != ' ')
			return error_set(err, ERROR_FORMAT, "not a BOINC key: data after '.'");
	*bits = (unsigned)b;
	return 0;
}

int boinc_key_parse_public(struct boinc_key_public *pk, const char *text, size_t len,
			   struct error *err)
{
	return key_parse(&pk->bits, pk->raw, sizeof(pk->raw), text, len, err);
}

static int load_text(const char *path, int secret, char **buf, size_t *len, struct error *err)
{
	struct stat st;
	int ret;

	if (secret && stat(path, &st) == 0 && (st.st_mode & 077))
		return error_set(err, ERROR_PERM, "'%s' is readable by group or others", path);
	ret = fileio_read_all(path, BOINC_KEY_TEXT_MAX, (unsigned char **)buf, len, err);
	return ret;
}

int boinc_key_load_public(struct boinc_key_public *pk, const char *path, struct error *err)
{
	char *buf = NULL;
	size_t len;
	int ret;

	if ((ret = load_text(path, 0, &buf, &len, err)) < 0)
		return ret;
	ret = boinc_key_parse_public(pk, buf, len, err);
	free(buf);
	if (ret < 0)
		error_set(err, ret, "'%s': %s", path, "not a BOINC public key");
	return ret;
}

int boinc_key_load_private(struct boinc_key_private *sk, const char *path, struct error *err)
{
	char *buf = NULL;
	size_t len;
	int ret;

	if ((ret = load_text(path, 1, &buf, &len, err)) < 0)
		return ret;
	ret = key_parse(&sk->bits, sk->raw, sizeof(sk->raw), buf, len, err);
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (ret < 0)
		error_set(err, ret, "'%s': %s", path, "not a BOINC private key");
	return ret;
}

static int write_new(const char *path, const char *text, mode_t mode, struct error *err)
{
	size_t len = strlen(text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);

	if (fd < 0)
		return error_set(err, errno == EEXIST ? ERROR_STATE : ERROR_IO,
				 "cannot create '%s': %s", path, strerror(errno));
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		close(fd);
		unlink(path);
		return error_set(err, ERROR_IO, "cannot write '%s'", path);
	}
	close(fd);
	return 0;
}

int boinc_key_write_pair(const char *dir, const char *name, const struct boinc_key_private *sk,
			 struct error *err)
{
	char pub_path[FILEIO_PATH_MAX], key_path[FILEIO_PATH_MAX];
	char text[BOINC_KEY_TEXT_MAX];
	struct boinc_key_public pk;
	int ret;

	snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir, name);
	snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, name);
	if (access(pub_path, F_OK) == 0 || access(key_path, F_OK) == 0)
		return error_set(err, ERROR_STATE, "'%s' or '%s' exists already", pub_path,
				 key_path);
	if (key_text(sk->bits, sk->raw, sizeof(sk->raw), text, sizeof(text)) < 0)
		return error_set(err, ERROR_TOO_BIG, "key text too long");
	ret = write_new(key_path, text, 0600, err);
	OPENSSL_cleanse(text, sizeof(text));
	if (ret < 0)
		return ret;
	boinc_key_public_of(&pk, sk);
	if (boinc_key_public_text(&pk, text, sizeof(text)) < 0)
		return error_set(err, ERROR_TOO_BIG, "key text too long");
	return write_new(pub_path, text, 0644, err);
}

int boinc_md5_file(const char *path, char hex[BOINC_MD5_HEX + 1], uint64_t *size, struct error *err)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned mdlen = 0;
	uint64_t total = 0;
	FILE *f = fopen(path, "rb");
	size_t n;
	int ret = 0;

	if (!f || !c) {
		ret = error_set(err, f ? ERROR_NOMEM : ERROR_IO, "cannot open '%s': %s", path,
				f ? "out of memory" : strerror(errno));
		goto out;
	}
	if (!EVP_DigestInit_ex(c, EVP_md5(), NULL)) {
		ret = ossl_error(err, "MD5");
		goto out;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		EVP_DigestUpdate(c, buf, n);
		total += n;
	}
	if (ferror(f)) {
		ret = error_set(err, ERROR_IO, "cannot read '%s'", path);
		goto out;
	}
	EVP_DigestFinal_ex(c, md, &mdlen);
	for (unsigned i = 0; i < 16; i++) {
		hex[2 * i] = hx[md[i] >> 4];
		hex[2 * i + 1] = hx[md[i] & 15];
	}
	hex[BOINC_MD5_HEX] = '\0';
	if (size)
		*size = total;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(c);
	return ret;
}

int boinc_key_sign_md5(const struct boinc_key_private *sk, const char *md5_hex, char *out,
		       size_t size, struct error *err)
{
	EVP_PKEY *k = to_pkey(sk->raw, 1);
	EVP_PKEY_CTX *ctx = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	unsigned char sig[BOINC_KEY_MOD_LEN];
	size_t siglen = sizeof(sig);
	int ret = 0;

	if (strlen(md5_hex) != BOINC_MD5_HEX)
		ret = error_set(err, ERROR_INVALID, "an MD5 is 32 hex digits");
	else if (!ctx || EVP_PKEY_sign_init(ctx) <= 0 ||
		 EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
		 EVP_PKEY_sign(ctx, sig, &siglen, (const unsigned char *)md5_hex, BOINC_MD5_HEX) <=
		     0)
		ret = ossl_error(err, "RSA signing");
	else if (hex_text(sig, siglen, out, size) < 0)
		ret = error_set(err, ERROR_TOO_BIG, "signature text too long");
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ret;
}

int boinc_key_verify_md5(const struct boinc_key_public *pk, const char *md5_hex,
			 const char *sig_text, struct error *err)
{
	unsigned char sig[BOINC_KEY_MOD_LEN + 1], plain[BOINC_KEY_MOD_LEN];
	size_t plen = sizeof(plain);
	const char *stop;
	long n = hex_scan(sig_text, sig_text + strlen(sig_text), sig, sizeof(sig), &stop);
	EVP_PKEY *k;
	EVP_PKEY_CTX *ctx;
	int ret = 0;

	if (n <= 0 || *stop != '.')
		return error_set(err, ERROR_FORMAT, "not a BOINC signature");
	k = to_pkey(pk->raw, 0);
	ctx = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	if (!ctx || EVP_PKEY_verify_recover_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_verify_recover(ctx, plain, &plen, sig, (size_t)n) <= 0 ||
	    plen != strlen(md5_hex) || memcmp(plain, md5_hex, plen) != 0)
		ret = error_set(err, ERROR_SIGNATURE, "the BOINC signature does not verify");
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ret;
}
