/*
 * boinc-key-test.c - BOINC's code-signing keys: key files in BOINC's hex
 * layout (bit count, 32 bytes a line, "."), written 0600 / refused when
 * readable by others, parsed back to the same bytes; a file's MD5 signed
 * and verified; a changed file, signature or key does not verify; and the
 * signature is plain RSA PKCS#1 v1.5 over the MD5's 32 hex characters
 * (checked by raising it to e mod n with OpenSSL's own BIGNUMs).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>

#include "common/fileio.h"
#include "server-tools/boinc_key.h"
#include "tests/tap.h"

/* sig^e mod n by hand: the PKCS#1 type-1 block around md5_hex? */
static int raw_check(const struct boinc_key_public *pk, const char *sig_text, const char *md5)
{
	unsigned char sig[BOINC_KEY_MOD_LEN], block[BOINC_KEY_MOD_LEN];
	BIGNUM *s, *n, *e, *m;
	BN_CTX *ctx = BN_CTX_new();
	size_t at = 0, i;
	int ok;

	for (const char *p = sig_text; *p && *p != '.' && at < sizeof(sig); p++) {
		unsigned v;

		if (*p == '\n')
			continue;
		if (sscanf(p, "%2x", &v) != 1)
			return 0;
		sig[at++] = (unsigned char)v;
		p++;
	}
	s = BN_bin2bn(sig, (int)at, NULL);
	n = BN_bin2bn(pk->raw, BOINC_KEY_MOD_LEN, NULL);
	e = BN_bin2bn(pk->raw + BOINC_KEY_MOD_LEN, BOINC_KEY_MOD_LEN, NULL);
	m = BN_new();
	BN_mod_exp(m, s, e, n, ctx);
	BN_bn2binpad(m, block, sizeof(block));
	ok = at == sizeof(sig) && block[0] == 0 && block[1] == 1;
	for (i = 2; ok && block[i] == 0xff; i++)
		;
	ok = ok && i >= 10 && block[i] == 0 && sizeof(block) - i - 1 == 32 &&
	     memcmp(block + i + 1, md5, 32) == 0;
	BN_free(s), BN_free(n), BN_free(e), BN_free(m);
	BN_CTX_free(ctx);
	return ok;
}

int main(void)
{
	struct boinc_key_private sk, sk2, sk_loaded;
	struct boinc_key_public pk, pk2, pk_loaded;
	char dir[256], path[512], md5[BOINC_MD5_HEX + 1], sig[BOINC_SIG_TEXT_MAX];
	char text[BOINC_KEY_TEXT_MAX];
	unsigned char *buf = NULL;
	struct error err;
	uint64_t size = 0;
	size_t len;
	struct stat st;

	error_clear(&err);
	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("no scratch directory");
	TAP_IS(boinc_key_generate(&sk, &pk, &err), 0, "a key pair is made");
	TAP_IS(boinc_key_generate(&sk2, &pk2, &err), 0, "and another");
	TAP_IS(boinc_key_write_pair(dir, "code_sign", &sk, &err), 0, "written as a pair");
	TAP_IS(boinc_key_write_pair(dir, "code_sign", &sk, &err), ERROR_STATE,
	       "never over existing files");
	snprintf(path, sizeof(path), "%s/code_sign.key", dir);
	TAP_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the private key is 0600");
	TAP_IS(boinc_key_load_private(&sk_loaded, path, &err), 0, "the private key loads");
	TAP_OK(sk_loaded.bits == 1024 && memcmp(sk_loaded.raw, sk.raw, sizeof(sk.raw)) == 0,
	       "to the same numbers");
	chmod(path, 0640);
	TAP_IS(boinc_key_load_private(&sk_loaded, path, &err), ERROR_PERM,
	       "a group-readable private key is refused");
	chmod(path, 0600);
	snprintf(path, sizeof(path), "%s/code_sign.pub", dir);
	TAP_IS(boinc_key_load_public(&pk_loaded, path, &err), 0, "the public key loads");
	TAP_OK(memcmp(pk_loaded.raw, pk.raw, sizeof(pk.raw)) == 0, "to the same numbers");
	TAP_OK(fileio_read_all(path, 4096, &buf, &len, NULL) == 0 && len > 6 &&
		   memcmp(buf, "1024\n", 5) == 0 && buf[5 + 64] == '\n' &&
		   memcmp(buf + len - 2, ".\n", 2) == 0 && len == 5 + 8 * 65 + 2,
	       "BOINC's layout: bits, 8 lines of 64 hex digits, '.'");
	free(buf);
	TAP_IS(boinc_key_public_text(&pk, text, sizeof(text)), 0, "the public key as text");
	TAP_IS(boinc_key_parse_public(&pk_loaded, "1024\nabcd\n.\n", 12, &err), ERROR_FORMAT,
	       "a short key is refused");
	TAP_IS(boinc_key_parse_public(&pk_loaded, text, strlen(text) - 2, &err), ERROR_FORMAT,
	       "a key without its '.' is refused");

	/* sign a file */
	snprintf(path, sizeof(path), "%s/app", dir);
	if (fileio_write_atomic(path, "#!/bin/sh\necho hi\n", 18, 0755, 0, &err) < 0)
		tap_diag("cannot write '%s'", path);
	TAP_IS(boinc_md5_file(path, md5, &size, &err), 0, "a file's MD5");
	TAP_OK(strcmp(md5, "46bbbe8aa98cc0714426e948474eaaf4") == 0 && size == 18,
	       "md5sum's digits and its size");
	TAP_IS(boinc_key_sign_md5(&sk, md5, sig, sizeof(sig), &err), 0, "signed");
	TAP_OK(strlen(sig) == 4 * 65 + 2, "4 lines of hex and '.'");
	TAP_IS(boinc_key_verify_md5(&pk, md5, sig, &err), 0, "the signature verifies");
	TAP_OK(raw_check(&pk, sig, md5), "it is PKCS#1 v1.5 type 1 over the MD5 text");
	TAP_IS(boinc_key_verify_md5(&pk2, md5, sig, &err), ERROR_SIGNATURE,
	       "not under another key");
	md5[0] = md5[0] == 'a' ? 'b' : 'a';
	TAP_IS(boinc_key_verify_md5(&pk, md5, sig, &err), ERROR_SIGNATURE, "not for another file");
	md5[0] = md5[0] == 'a' ? 'b' : 'a';
	sig[10] = sig[10] == '0' ? '1' : '0';
	TAP_IS(boinc_key_verify_md5(&pk, md5, sig, &err), ERROR_SIGNATURE,
	       "a changed signature does not verify");
	TAP_IS(boinc_key_verify_md5(&pk, md5, "zz", &err), ERROR_FORMAT, "junk is not a signature");
	{
		char cmd[300];
		int rc = tap_done();

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (rc == 0 && system(cmd) != 0)
			tap_diag("cannot remove '%s'", dir);
		return rc;
	}
}
