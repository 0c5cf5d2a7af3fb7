/*
 * key-test.c - key generation, key files (round trip, type confusion,
 * permissions, no overwrite, corruption) and domain-separated signatures.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/tap.h"
#include "workunits/key.h"

static char dir[256];

static void write_text(const char *name, const char *text, mode_t mode)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, mode);
}

static void test_bad_files(const struct key_secret *sk_in);

static void test_files(void)
{
	struct key_public pk, pk2;
	struct key_secret sk, sk2;
	struct error err;
	char pub[512], sec[512], buf[512];
	struct stat st;
	FILE *f;
	size_t n;

	TAP_IS(key_generate(&pk, &sk), 0, "key_generate");
	key_public_of(&pk2, &sk);
	tap_ok(key_public_equal(&pk, &pk2), "key_public_of gives the generated public key");

	TAP_IS(key_write_pair(dir, "admin", &pk, &sk, &err), 0, "key_write_pair");
	snprintf(pub, sizeof(pub), "%s/admin.pub", dir);
	snprintf(sec, sizeof(sec), "%s/admin.key", dir);
	tap_ok(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600, "secret key file is 0600");
	TAP_IS(key_load_public(&pk2, pub, &err), 0, "load public key");
	tap_ok(key_public_equal(&pk, &pk2), "public key round trip");
	TAP_IS(key_load_secret(&sk2, sec, &err), 0, "load secret key");
	tap_ok(memcmp(sk.bytes, sk2.bytes, sizeof(sk.bytes)) == 0, "secret key round trip");

	f = fopen(pub, "r");
	n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	tap_ok(strncmp(buf, KEY_PUBLIC_HEADER "\n", strlen(KEY_PUBLIC_HEADER) + 1) == 0 &&
		   n == strlen(KEY_PUBLIC_HEADER) + 1 + 64 + 1,
	       "public key file is the header line and one hex line");

	error_clear(&err);
	TAP_IS(key_write_pair(dir, "admin", &pk, &sk, &err), ERROR_STATE, "no overwrite");
	tap_ok(strstr(err.msg, "already exists") != NULL, "message: %s", err.msg);
	TAP_IS(key_write_pair(dir, "../evil", &pk, &sk, &err), ERROR_INVALID, "name with a slash");

	error_clear(&err);
	TAP_IS(key_load_secret(&sk2, pub, &err), ERROR_TYPE, "public file loaded as secret");
	tap_ok(strstr(err.msg, "is a public key, not a secret key") != NULL, "message: %s",
	       err.msg);
	error_clear(&err);
	TAP_IS(key_load_public(&pk2, sec, &err), ERROR_TYPE, "secret file loaded as public");
	tap_ok(strstr(err.msg, "is a secret key, not a public key") != NULL, "message: %s",
	       err.msg);

	chmod(sec, 0640);
	error_clear(&err);
	TAP_IS(key_load_secret(&sk2, sec, &err), ERROR_PERM, "secret key with mode 0640 refused");
	tap_ok(strstr(err.msg, "chmod 600") != NULL, "message: %s", err.msg);
	chmod(sec, 0602);
	TAP_IS(key_load_secret(&sk2, sec, NULL), ERROR_PERM, "world-writable secret key refused");
	chmod(sec, 0600);
	test_bad_files(&sk);
	unlink(pub);
	unlink(sec);
}

/* Files that are not (good) key files. */
static void test_bad_files(const struct key_secret *sk_in)
{
	struct key_public pk2;
	struct key_secret sk2, sk = *sk_in;
	struct error err;
	char buf[512];

	write_text("junk.pub", "hello\n", 0644);
	snprintf(buf, sizeof(buf), "%s/junk.pub", dir);
	error_clear(&err);
	TAP_IS(key_load_public(&pk2, buf, &err), ERROR_TYPE, "not a key file");
	tap_ok(err.msg[0] != '\0', "message: %s", err.msg);
	write_text("v2.pub", "agora-ed25519-public-key v2\n00\n", 0644);
	snprintf(buf, sizeof(buf), "%s/v2.pub", dir);
	TAP_IS(key_load_public(&pk2, buf, &err), ERROR_VERSION, "unknown key file version");
	write_text("short.pub", KEY_PUBLIC_HEADER "\nabcd\n", 0644);
	snprintf(buf, sizeof(buf), "%s/short.pub", dir);
	TAP_IS(key_load_public(&pk2, buf, &err), ERROR_FORMAT, "truncated hex");
	write_text("hdr.pub", KEY_PUBLIC_HEADER, 0644);
	snprintf(buf, sizeof(buf), "%s/hdr.pub", dir);
	TAP_IS(key_load_public(&pk2, buf, &err), ERROR_FORMAT, "header only");
	snprintf(buf, sizeof(buf), "%s/missing.pub", dir);
	TAP_IS(key_load_public(&pk2, buf, &err), ERROR_NOT_FOUND, "missing file");

	/* A secret whose public half was swapped for another key's. */
	{
		struct key_public opk;
		struct key_secret osk, mixed;
		char text[300];
		int i, o;

		key_generate(&opk, &osk);
		mixed = sk;
		memcpy(mixed.bytes + 32, opk.bytes, 32);
		o = snprintf(text, sizeof(text), "%s\n", KEY_SECRET_HEADER);
		for (i = 0; i < 64; i++)
			o += snprintf(text + o, sizeof(text) - (size_t)o, "%02x", mixed.bytes[i]);
		snprintf(text + o, sizeof(text) - (size_t)o, "\n");
		write_text("mixed.key", text, 0600);
		snprintf(buf, sizeof(buf), "%s/mixed.key", dir);
		TAP_IS(key_load_secret(&sk2, buf, &err), ERROR_FORMAT,
		       "secret key with a mismatched public half");
		unlink(buf);
	}

	snprintf(buf, sizeof(buf), "%s/junk.pub", dir);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/v2.pub", dir);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/short.pub", dir);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s/hdr.pub", dir);
	unlink(buf);
}

static void test_signatures(void)
{
	static const char msg[] = "{\"version\":1}";
	struct key_public pk, pk2;
	struct key_secret sk, sk2;
	unsigned char sig[KEY_SIG_BYTES];
	char hex[KEY_PUBLIC_HEX_LEN + 1], fp[KEY_FINGERPRINT_LEN + 1];

	key_generate(&pk, &sk);
	key_generate(&pk2, &sk2);
	TAP_IS(key_sign(&sk, "agora-workunit-v1", msg, sizeof(msg) - 1, sig), 0, "key_sign");
	TAP_IS(key_verify(&pk, "agora-workunit-v1", msg, sizeof(msg) - 1, sig), 0, "verifies");
	TAP_IS(key_verify(&pk, "agora-result-v1", msg, sizeof(msg) - 1, sig), ERROR_SIGNATURE,
	       "does not verify under another domain");
	TAP_IS(key_verify(&pk2, "agora-workunit-v1", msg, sizeof(msg) - 1, sig), ERROR_SIGNATURE,
	       "does not verify under another key");
	TAP_IS(key_verify(&pk, "agora-workunit-v1", msg, sizeof(msg) - 2, sig), ERROR_SIGNATURE,
	       "does not verify for a shorter message");
	sig[5] ^= 0x10;
	TAP_IS(key_verify(&pk, "agora-workunit-v1", msg, sizeof(msg) - 1, sig), ERROR_SIGNATURE,
	       "flipped signature bit rejected");
	TAP_IS(key_sign(&sk, "", msg, 3, sig), ERROR_INVALID, "empty domain refused");

	/* Domain and message boundary: ("ab", "c") must differ from ("a", "bc"). */
	key_sign(&sk, "ab", "c", 1, sig);
	TAP_IS(key_verify(&pk, "a", "bc", 2, sig), ERROR_SIGNATURE, "domain boundary is bound");

	key_public_to_hex(&pk, hex);
	TAP_IS(key_public_from_hex(&pk2, hex, NULL), 0, "public key hex round trip parses");
	tap_ok(key_public_equal(&pk, &pk2), "public key hex round trip");
	hex[0] = 'G';
	TAP_IS(key_public_from_hex(&pk2, hex, NULL), ERROR_FORMAT, "bad hex rejected");
	key_fingerprint(&pk, fp);
	tap_ok(strlen(fp) == KEY_FINGERPRINT_LEN && fp[4] == ':' && fp[34] == ':',
	       "fingerprint looks like xxxx:xxxx:...: %s", fp);
}

int main(void)
{
	if (tap_tmpdir(dir, sizeof(dir)) != 0)
		tap_skip_all("cannot create a scratch directory");
	test_files();
	test_signatures();
	rmdir(dir);
	return tap_done();
}
