/*
 * blob-test.c - the blob container: round trips (memory, streaming, file
 * descriptors), fixtures written by an independent implementation
 * (python's zlib and hashlib), and every kind of bad blob: bad header,
 * truncation, trailing bytes, content beyond the declared size, hash
 * mismatch, size and ratio caps (a zip bomb stopped early).
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "tests/tap.h"
#include "workunits/blob.h"

#define FIXTURE_HASH "5fc62270dfde2944cf6dd24f2062520d4cfce31e25a29dcde72d269c8aa9bbfb"

static const struct blob_caps caps_default = {BLOB_DEFAULT_MAX_RAW, BLOB_DEFAULT_MAX_RATIO, NULL};

static unsigned char *make_data(size_t len, int compressible)
{
	unsigned char *p = malloc(len ? len : 1);
	uint32_t x = 12345;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] =
		    compressible ? (unsigned char)"agora blob "[i % 11] : (unsigned char)(x >> 16);
	}
	return p;
}

/* Counts what a streaming decoder delivers, keeps the first bytes. */
struct counter {
	size_t total;
	unsigned char keep[1 << 20];
};

static int counter_write(void *ctx, const void *data, size_t len)
{
	struct counter *c = ctx;

	if (c->total < sizeof(c->keep))
		memcpy(c->keep + c->total, data,
		       len < sizeof(c->keep) - c->total ? len : sizeof(c->keep) - c->total);
	c->total += len;
	return 0;
}

static struct counter counted;

static void test_round_trips(void)
{
	static const size_t sizes[] = {0, 1, 1000, 300000};
	unsigned i, codec;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (codec = 0; codec <= 1; codec++) {
			unsigned char *raw = make_data(sizes[i], i % 2), *blob, *back;
			size_t blob_len, back_len;
			struct blob_header h, h2;
			struct hash want;
			struct error err;
			int ok;

			ok = blob_encode_mem(raw, sizes[i], codec, &blob, &blob_len, &h, &err) == 0;
			hash_buf(&want, raw, sizes[i]);
			ok = ok && blob_len >= BLOB_HEADER_BYTES && memcmp(blob, "AGBL", 4) == 0 &&
			     blob[4] == 1 && blob[5] == codec && hash_equal(&h.hash, &want) &&
			     h.raw_size == sizes[i];
			ok = ok && blob_decode_mem(blob, blob_len, &caps_default, &back, &back_len,
						   &h2, &err) == 0;
			ok = ok && back_len == sizes[i] && memcmp(back, raw, sizes[i]) == 0 &&
			     hash_equal(&h2.hash, &want);
			tap_ok(ok, "round trip, %zu bytes, codec %u", sizes[i], codec);
			if (!ok)
				tap_diag("%s", err.msg);

			/* The push decoder fed one byte at a time gives the same. */
			if (sizes[i] <= 1000) {
				struct blob_sink sink = {counter_write, &counted};
				struct blob_decoder *d = blob_decoder_new(&caps_default, &sink);
				size_t k;
				int rc = 0;

				counted.total = 0;
				for (k = 0; k < blob_len && rc == 0; k++)
					rc = blob_decoder_feed(d, blob + k, 1, &err);
				if (rc == 0)
					rc = blob_decoder_finish(d, NULL, &err);
				tap_ok(rc == 0 && counted.total == sizes[i] &&
					   memcmp(counted.keep, raw, sizes[i]) == 0,
				       "byte-at-a-time decode, %zu bytes, codec %u", sizes[i],
				       codec);
				blob_decoder_free(d);
			}
			free(raw);
			free(blob);
			free(back);
		}
	}
}

static void test_fixtures(void)
{
	static const char *names[] = {"tests/fixtures/workunits/hello-zlib.blob",
				      "tests/fixtures/workunits/hello-stored.blob"};
	unsigned i;

	for (i = 0; i < 2; i++) {
		unsigned char *blob, *raw = NULL;
		size_t len = 0, raw_len = 0, k;
		struct blob_header h;
		struct error err;
		char hex[HASH_HEX_LEN + 1];
		int ok;

		blob = tap_read_srcfile(names[i], &len);
		if (!tap_ok(blob != NULL, "read fixture %s", names[i]))
			continue;
		ok = blob_decode_mem(blob, len, &caps_default, &raw, &raw_len, &h, &err) == 0;
		if (ok)
			hash_to_hex(&h.hash, hex);
		ok = ok && raw_len == 260 && strcmp(hex, FIXTURE_HASH) == 0;
		for (k = 0; ok && k < raw_len; k++)
			ok = raw[k] == (unsigned char)"hello, agora\n"[k % 13];
		if (!tap_ok(ok, "python-made blob decodes to the right content and hash"))
			tap_diag("%s", err.msg);
		free(raw);
		free(blob);
	}
}

/* Decodes buf and checks the error code and that there is a message. */
static void expect_error(const unsigned char *buf, size_t len, const struct blob_caps *caps,
			 int want, const char *what)
{
	unsigned char *raw = NULL;
	size_t raw_len;
	struct error err;
	int rc;

	error_clear(&err);
	rc = blob_decode_mem(buf, len, caps, &raw, &raw_len, NULL, &err);
	if (!tap_ok(rc == want && err.msg[0] != '\0' && raw == NULL, "%s: %s", what, err.msg))
		tap_diag("got %d (%s), want %d", rc, error_name(rc), want);
	free(raw);
}

static void put_size(unsigned char *blob, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		blob[8 + i] = (unsigned char)(v >> (8 * i));
}

static void test_bad_blobs(void)
{
	unsigned char *raw = make_data(5000, 0), *blob, *copy;
	size_t len;
	struct blob_header h;
	struct blob_caps caps = caps_default;
	struct hash other;
	struct error err;

	if (blob_encode_mem(raw, 5000, BLOB_CODEC_ZLIB, &blob, &len, &h, &err) != 0) {
		tap_ok(0, "encode: %s", err.msg);
		return;
	}
	copy = malloc(len + 16);

#define RESET() memcpy(copy, blob, len)
	RESET();
	copy[0] = 'X';
	expect_error(copy, len, &caps, ERROR_FORMAT, "bad magic");
	RESET();
	copy[4] = 2;
	expect_error(copy, len, &caps, ERROR_VERSION, "unknown version");
	RESET();
	copy[5] = 7;
	expect_error(copy, len, &caps, ERROR_FORMAT, "unknown codec");
	RESET();
	copy[7] = 1;
	expect_error(copy, len, &caps, ERROR_FORMAT, "reserved byte set");
	expect_error(blob, 20, &caps, ERROR_FORMAT, "truncated header");
	expect_error(blob, len - 3, &caps, ERROR_FORMAT, "truncated zlib stream");
	RESET();
	memcpy(copy + len, "junk", 4);
	expect_error(copy, len + 4, &caps, ERROR_FORMAT, "trailing garbage");
	RESET();
	put_size(copy, 4999);
	expect_error(copy, len, &caps, ERROR_FORMAT, "content beyond the declared raw size");
	RESET();
	put_size(copy, 5001);
	expect_error(copy, len, &caps, ERROR_FORMAT, "content shorter than declared");
	RESET();
	copy[20] ^= 1;
	expect_error(copy, len, &caps, ERROR_HASH, "hash mismatch");
	RESET();
	copy[BLOB_HEADER_BYTES + 10] ^= 0x55;
	{
		unsigned char *r = NULL;
		size_t rl;
		int rc = blob_decode_mem(copy, len, &caps, &r, &rl, NULL, &err);

		tap_ok(rc == ERROR_FORMAT || rc == ERROR_HASH, "corrupt stream byte rejected: %s",
		       err.msg);
		free(r);
	}
	caps.max_raw_size = 4999;
	expect_error(blob, len, &caps, ERROR_TOO_BIG, "raw size over the cap");
	caps = caps_default;
	hash_buf(&other, "x", 1);
	caps.want = &other;
	expect_error(blob, len, &caps, ERROR_HASH, "not the blob asked for");
	caps.want = &h.hash;
	{
		unsigned char *r = NULL;
		size_t rl;

		TAP_IS(blob_decode_mem(blob, len, &caps, &r, &rl, NULL, NULL), 0,
		       "the blob asked for decodes");
		free(r);
	}

	/* Stored blobs: length must match exactly. */
	free(blob);
	if (blob_encode_mem(raw, 5000, BLOB_CODEC_STORED, &blob, &len, &h, &err) == 0) {
		caps = caps_default;
		expect_error(blob, len - 1, &caps, ERROR_FORMAT, "truncated stored blob");
		memcpy(copy, blob, len);
		copy[len] = 0;
		expect_error(copy, len + 1, &caps, ERROR_FORMAT, "stored blob with an extra byte");
	}
#undef RESET
	free(copy);
	free(blob);
	free(raw);
}

/* A zip bomb: a small zlib stream of zeros that declares 1 GiB. */
static void test_bombs(void)
{
	unsigned char header[BLOB_HEADER_BYTES], *zbuf, *zeros;
	struct blob_header h = {BLOB_VERSION, BLOB_CODEC_ZLIB, UINT64_C(1) << 30, {{0}}};
	struct blob_caps caps = {UINT64_C(2) << 30, 100, NULL};
	struct blob_sink sink = {counter_write, &counted};
	struct blob_decoder *d;
	uLongf zlen;
	size_t zeros_len = 16u << 20;
	struct error err;
	int rc;

	zeros = calloc(1, zeros_len);
	zlen = compressBound(zeros_len);
	zbuf = malloc(zlen);
	if (!zeros || !zbuf || compress2(zbuf, &zlen, zeros, zeros_len, 9) != Z_OK) {
		tap_ok(0, "cannot build the bomb");
		return;
	}
	free(zeros);
	tap_diag("bomb: %lu compressed bytes of 16 MiB of zeros, declaring 1 GiB",
		 (unsigned long)zlen);
	blob_header_encode(&h, header);

	/* Streaming: the ratio cap stops it after a few hundred KiB. */
	counted.total = 0;
	d = blob_decoder_new(&caps, &sink);
	rc = blob_decoder_feed(d, header, sizeof(header), &err);
	if (rc == 0)
		rc = blob_decoder_feed(d, zbuf, zlen, &err);
	TAP_IS(rc, ERROR_TOO_BIG, "streaming decoder stops the bomb with the ratio cap");
	tap_ok(counted.total < (1u << 20), "after delivering only %zu bytes", counted.total);
	tap_ok(err.msg[0] != '\0', "message: %s", err.msg);
	blob_decoder_free(d);

	/* In memory: rejected from the header alone, nothing allocated. */
	{
		unsigned char *whole = malloc(sizeof(header) + zlen);

		memcpy(whole, header, sizeof(header));
		memcpy(whole + sizeof(header), zbuf, zlen);
		expect_error(whole, sizeof(header) + zlen, &caps, ERROR_TOO_BIG,
			     "in-memory decoder refuses 1 GiB from a small stream");
		caps.max_ratio = 0;
		caps.max_raw_size = 64u << 20;
		expect_error(whole, sizeof(header) + zlen, &caps, ERROR_TOO_BIG,
			     "size cap refuses 1 GiB declared");
		/* A huge declared size (2^63) against default caps. */
		h.raw_size = UINT64_C(1) << 63;
		blob_header_encode(&h, whole);
		expect_error(whole, sizeof(header) + zlen, &caps_default, ERROR_TOO_BIG,
			     "2^63 declared bytes refused");
		free(whole);
	}
	free(zbuf);
}

static void test_fds(void)
{
	char dir[256], in_path[300], blob_path[300], out_path[300];
	unsigned char *raw = make_data(200000, 1), *back = NULL;
	struct blob_header h, h2;
	struct error err;
	int in, out, ok;
	size_t back_len = 0;
	FILE *f;

	if (tap_tmpdir(dir, sizeof(dir)) != 0) {
		tap_ok(0, "scratch directory");
		return;
	}
	snprintf(in_path, sizeof(in_path), "%s/in", dir);
	snprintf(blob_path, sizeof(blob_path), "%s/blob", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	f = fopen(in_path, "wb");
	fwrite(raw, 1, 200000, f);
	fclose(f);
	in = open(in_path, O_RDONLY);
	out = open(blob_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	TAP_IS(blob_encode_fd(in, out, BLOB_CODEC_ZLIB, &h, &err), 0, "blob_encode_fd");
	close(in);
	close(out);
	in = open(blob_path, O_RDONLY);
	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	TAP_IS(blob_decode_fd(in, out, &caps_default, &h2, &err), 0, "blob_decode_fd");
	close(in);
	close(out);
	f = fopen(out_path, "rb");
	back = malloc(200001);
	back_len = fread(back, 1, 200001, f);
	fclose(f);
	ok = back_len == 200000 && memcmp(back, raw, 200000) == 0 && hash_equal(&h.hash, &h2.hash);
	tap_ok(ok, "file round trip");
	unlink(in_path);
	unlink(blob_path);
	unlink(out_path);
	rmdir(dir);
	free(raw);
	free(back);
}

/* A source that yields different bytes than the header promises. */
static long liar_read(void *ctx, void *buf, size_t cap)
{
	int *calls = ctx;

	if ((*calls)++ > 0 || cap < 4)
		return 0;
	memcpy(buf, "evil", 4);
	return 4;
}

static int discard_write(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return 0;
}

static void test_streaming_api(void)
{
	struct blob_header h = {BLOB_VERSION, BLOB_CODEC_ZLIB, 4, {{0}}}, got;
	struct blob_sink sink = {discard_write, NULL};
	struct blob_caps caps = caps_default;
	struct blob_decoder *d;
	unsigned char *blob;
	size_t len;
	struct error err;
	int calls = 0;
	struct blob_source src = {liar_read, &calls};

	hash_buf(&h.hash, "good", 4);
	TAP_IS(blob_encode(&h, &src, &sink, -1, &err), ERROR_HASH,
	       "encoder refuses content that does not match the header's hash");
	h.raw_size = 5;
	calls = 0;
	TAP_IS(blob_encode(&h, &src, &sink, -1, &err), ERROR_FORMAT,
	       "encoder refuses content shorter than the header says");

	if (blob_encode_mem("good", 4, BLOB_CODEC_ZLIB, &blob, &len, &h, &err) != 0) {
		tap_ok(0, "encode: %s", err.msg);
		return;
	}
	caps.want = &h.hash;
	d = blob_decoder_new(&caps, &sink);
	tap_ok(blob_decoder_header(d) == NULL, "no header before 48 bytes");
	TAP_IS(blob_decoder_feed(d, blob, BLOB_HEADER_BYTES, &err), 0, "feed the header");
	tap_ok(blob_decoder_header(d) && blob_decoder_header(d)->raw_size == 4,
	       "header available after 48 bytes");
	TAP_IS(blob_decoder_feed(d, blob + BLOB_HEADER_BYTES, len - BLOB_HEADER_BYTES, &err), 0,
	       "feed the body");
	TAP_IS(blob_decoder_finish(d, &got, &err), 0, "finish verifies");
	tap_ok(hash_equal(&got.hash, &h.hash), "finish returns the header");
	TAP_IS(blob_decoder_feed(d, "x", 1, &err), ERROR_STATE, "feeding after finish is an error");
	blob_decoder_free(d);
	blob_decoder_free(NULL);
	free(blob);
}

int main(void)
{
	test_round_trips();
	test_fixtures();
	test_bad_blobs();
	test_bombs();
	test_fds();
	test_streaming_api();
	return tap_done();
}
