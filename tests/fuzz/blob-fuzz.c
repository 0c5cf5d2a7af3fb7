/*
 * blob-fuzz.c - fuzzes the blob decoders under tight caps (1 MiB raw,
 * ratio 64), so a decoded bomb cannot exhaust the fuzzer's memory.
 *
 * The same input goes through blob_decode_mem() and through the push
 * decoder fed in pieces whose sizes come from the input's first byte.
 * Both must agree: they succeed or fail together, and on success give
 * the same content, whose hash is the header's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "workunits/blob.h"

struct fuzz_sink {
	struct hash_state st;
	size_t total;
};

static int fuzz_write(void *ctx, const void *data, size_t len)
{
	struct fuzz_sink *s = ctx;

	hash_update(&s->st, data, len);
	s->total += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct blob_caps caps = {1u << 20, 64, NULL};
	struct fuzz_sink s;
	struct blob_sink sink = {fuzz_write, &s};
	struct blob_header h, h2;
	struct blob_decoder *d;
	struct hash got, streamed;
	unsigned char *out = NULL;
	size_t out_len = 0, off, piece;
	int rc_mem, rc_stream = 0;

	piece = size > 0 ? (size_t)data[0] % 97 + 1 : 1;
	rc_mem = blob_decode_mem(data, size, &caps, &out, &out_len, &h, NULL);

	hash_init(&s.st);
	s.total = 0;
	d = blob_decoder_new(&caps, &sink);
	if (!d)
		abort();
	for (off = 0; off < size && rc_stream == 0; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		rc_stream = blob_decoder_feed(d, data + off, n, NULL);
	}
	if (rc_stream == 0)
		rc_stream = blob_decoder_finish(d, &h2, NULL);
	blob_decoder_free(d);

	if ((rc_mem == 0) != (rc_stream == 0))
		abort();
	if (rc_mem == 0) {
		hash_buf(&got, out, out_len);
		hash_final(&s.st, &streamed);
		if (out_len != h.raw_size || s.total != out_len || !hash_equal(&got, &h.hash) ||
		    !hash_equal(&streamed, &got) || memcmp(&h, &h2, sizeof(h)) != 0)
			abort();
	}
	free(out);
	return 0;
}
