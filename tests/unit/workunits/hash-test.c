/*
 * hash-test.c - BLAKE2b-256 known answers, hex round trips and strictness,
 * streaming equals one-shot, hash_file.
 *
 * The expected values were computed independently with Python's
 * hashlib.blake2b(data, digest_size=32).hexdigest().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "workunits/hash.h"

static void check_hex(const char *data, size_t len, const char *want)
{
	struct hash h;
	char hex[HASH_HEX_LEN + 1];

	hash_buf(&h, data, len);
	hash_to_hex(&h, hex);
	if (!tap_ok(strcmp(hex, want) == 0, "blake2b-256 of %zu bytes matches python", len))
		tap_diag("got %s, want %s", hex, want);
}

static void test_known_answers(void)
{
	check_hex("", 0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
	check_hex("abc", 3, "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

static void test_hex(void)
{
	const char *good = "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319";
	struct hash h, h2;
	struct error err;
	char hex[HASH_HEX_LEN + 1];
	char bad[HASH_HEX_LEN + 2];

	TAP_IS(hash_from_hex(&h, good, &err), 0, "hash_from_hex accepts 64 lowercase digits");
	hash_to_hex(&h, hex);
	tap_ok(strcmp(hex, good) == 0, "hex round trip");
	hash_buf(&h2, "abc", 3);
	tap_ok(hash_equal(&h, &h2), "parsed hash equals computed hash");
	h2.bytes[31] ^= 1;
	tap_ok(!hash_equal(&h, &h2), "hash_equal sees a one-bit difference");

	snprintf(bad, sizeof(bad), "%s", good);
	bad[10] = 'D';
	error_clear(&err);
	TAP_IS(hash_from_hex(&h, bad, &err), ERROR_FORMAT, "uppercase digit rejected");
	tap_ok(err.msg[0] != '\0', "with a message: %s", err.msg);
	TAP_IS(hash_from_hex(&h, good + 1, NULL), ERROR_FORMAT, "63 digits rejected");
	snprintf(bad, sizeof(bad), "%s0", good);
	TAP_IS(hash_from_hex(&h, bad, NULL), ERROR_FORMAT, "65 digits rejected");
	TAP_IS(hash_from_hex(&h, "", NULL), ERROR_FORMAT, "empty string rejected");
	snprintf(bad, sizeof(bad), "%s", good);
	bad[0] = ' ';
	TAP_IS(hash_from_hex(&h, bad, NULL), ERROR_FORMAT, "space rejected");
}

static void test_streaming_and_file(void)
{
	static unsigned char data[200000];
	struct hash one, streamed, filed;
	struct hash_state st;
	struct error err;
	char dir[256], path[300];
	size_t i, off;
	FILE *f;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	hash_buf(&one, data, sizeof(data));
	hash_init(&st);
	for (off = 0, i = 1; off < sizeof(data); i = i * 3 + 1) {
		size_t n = i < sizeof(data) - off ? i : sizeof(data) - off;

		hash_update(&st, data + off, n);
		off += n;
	}
	hash_final(&st, &streamed);
	tap_ok(hash_equal(&one, &streamed), "streaming in uneven pieces equals one shot");

	if (tap_tmpdir(dir, sizeof(dir)) != 0) {
		tap_ok(0, "cannot make a scratch directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/data", dir);
	f = fopen(path, "wb");
	tap_ok(f && fwrite(data, 1, sizeof(data), f) == sizeof(data) && fclose(f) == 0,
	       "wrote a scratch file");
	TAP_IS(hash_file(&filed, path, &err), 0, "hash_file succeeds");
	tap_ok(hash_equal(&one, &filed), "hash_file equals hash_buf");
	unlink(path);
	error_clear(&err);
	TAP_IS(hash_file(&filed, path, &err), ERROR_NOT_FOUND, "hash_file of a missing file");
	tap_ok(strstr(err.msg, "cannot open '") != NULL, "message names the file: %s", err.msg);
	rmdir(dir);
}

int main(void)
{
	test_known_answers();
	test_hex();
	test_streaming_and_file();
	return tap_done();
}
