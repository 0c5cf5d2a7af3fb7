/*
 * blob.h - the blob container: how model versions, pseudo-gradients and
 * data shards are stored and shipped.
 *
 * A blob is a 48-byte header followed by the content, stored or as one
 * zlib stream:
 *
 *     offset  size  field
 *          0     4  magic "AGBL"
 *          4     1  format version (1)
 *          5     1  codec: 0 stored, 1 zlib
 *          6     2  reserved, zero
 *          8     8  raw (uncompressed) size, u64 little-endian
 *         16    32  BLAKE2b-256 of the raw content
 *         48     -  the content: raw bytes (stored) or a zlib stream
 *
 * A blob's address is the hash of its raw content, so the same content
 * compressed differently has the same address.
 *
 * Decoding is untrusted-input parsing. Every decoder takes caps: a maximum
 * raw size, checked against the header before anything is allocated or
 * inflated, and a maximum expansion ratio (raw bytes produced per
 * compressed byte consumed, plus BLOB_RATIO_SLACK), checked while
 * inflating, so a zip bomb is stopped after a bounded amount of work. The
 * decoder also rejects output beyond the declared size, a stream that
 * ends early, bytes after the stream, and content whose hash differs from
 * the header's (ERROR_HASH), each with its own message.
 *
 * Streaming decoders hand out bytes before the final hash check: a sink
 * must treat what it receives as unverified until blob_decoder_finish()
 * (or blob_decode_fd()) returns 0, e.g. write to a temporary file and
 * rename it only then.
 *
 * Thread safety: all functions are reentrant; a blob_decoder belongs to
 * one thread at a time.
 */
#ifndef AGORA_WORKUNITS_BLOB_H
#define AGORA_WORKUNITS_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"

#define BLOB_MAGIC        "AGBL"
#define BLOB_VERSION      1
#define BLOB_HEADER_BYTES 48
/* Raw bytes a blob may produce beyond max_ratio * compressed bytes. */
#define BLOB_RATIO_SLACK (64u * 1024)
/* Defaults for callers without better knowledge: 4 GiB, and a ratio just
 * above zlib's best (about 1032:1), so that only the size cap bites. */
#define BLOB_DEFAULT_MAX_RAW   (UINT64_C(4) << 30)
#define BLOB_DEFAULT_MAX_RATIO 1100u

enum blob_codec {
	BLOB_CODEC_STORED = 0,
	BLOB_CODEC_ZLIB = 1,
};

struct blob_header {
	unsigned version;  /* BLOB_VERSION */
	unsigned codec;    /* enum blob_codec */
	uint64_t raw_size; /* bytes of raw content */
	struct hash hash;  /* BLAKE2b-256 of the raw content: the address */
};

/* Decoder caps. */
struct blob_caps {
	uint64_t max_raw_size;   /* larger declared sizes: ERROR_TOO_BIG */
	uint32_t max_ratio;      /* raw / compressed bytes; 0 means no ratio cap */
	const struct hash *want; /* when not NULL, the header's hash must be this
				    (ERROR_HASH, before any inflating) */
};

/* Where encoded or decoded bytes go. write returns 0 or a negative
 * ERROR_*, which aborts the operation and is returned to its caller. */
struct blob_sink {
	int (*write)(void *ctx, const void *data, size_t len);
	void *ctx;
};

/* Where raw bytes come from. read returns the number of bytes placed in
 * buf (at most cap), 0 at the end, or a negative ERROR_*. */
struct blob_source {
	long (*read)(void *ctx, void *buf, size_t cap);
	void *ctx;
};

/* Serialises a header into its 48 bytes. */
void blob_header_encode(const struct blob_header *h, unsigned char out[BLOB_HEADER_BYTES]);

/* Parses the header at the start of buf (which may hold more). Errors:
 * ERROR_FORMAT (short, bad magic, unknown codec, reserved bytes set),
 * ERROR_VERSION. Applies no caps. */
int blob_peek_header(struct blob_header *h, const void *buf, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/*
 * Encodes raw content whose size and hash the caller already knows
 * (h->raw_size, h->hash, h->codec; h->version is ignored) from src to
 * sink, in constant memory (about 300 KiB with zlib). Fails with
 * ERROR_FORMAT / ERROR_HASH when src does not deliver exactly that content;
 * the bytes already written to the sink must then be discarded. level is
 * the zlib level (-1 for zlib's default).
 */
int blob_encode(const struct blob_header *h, const struct blob_source *src,
		const struct blob_sink *sink, int level, struct error *err)
    __attribute__((warn_unused_result));

/* Encodes the rest of in_fd (a regular file: it is read twice, once to
 * hash it and once to compress it) to out_fd, which may be a pipe or a
 * socket. Fills *out_hdr (may be NULL) with the header written. */
int blob_encode_fd(int in_fd, int out_fd, enum blob_codec codec, struct blob_header *out_hdr,
		   struct error *err) __attribute__((warn_unused_result));

/* Encodes len bytes into a malloc'd blob (*out, *out_len; the caller
 * frees it). Fills *out_hdr when not NULL. */
int blob_encode_mem(const void *raw, size_t len, enum blob_codec codec, unsigned char **out,
		    size_t *out_len, struct blob_header *out_hdr, struct error *err)
    __attribute__((warn_unused_result));

/* A push decoder, for bytes arriving in pieces (e.g. from libcurl). */
struct blob_decoder;

/* Makes a decoder writing raw content to sink (both copied). Uses about
 * 110 KiB whatever the blob's size. NULL when out of memory. */
struct blob_decoder *blob_decoder_new(const struct blob_caps *caps, const struct blob_sink *sink);

/* Feeds the next len bytes of the blob. After an error the decoder is
 * dead and every later call returns the same code. */
int blob_decoder_feed(struct blob_decoder *d, const void *data, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/* Says the blob has ended: checks completeness and the hash. Returns 0
 * only when the content is complete and verified; fills *out_hdr (may be
 * NULL). */
int blob_decoder_finish(struct blob_decoder *d, struct blob_header *out_hdr, struct error *err)
    __attribute__((warn_unused_result));

/* The parsed header once the first 48 bytes have been fed, else NULL. */
const struct blob_header *blob_decoder_header(const struct blob_decoder *d);

/* Frees d; blob_decoder_free(NULL) is a no-op. */
void blob_decoder_free(struct blob_decoder *d);

/* Decodes a whole blob from in_fd (read to EOF) into out_fd. */
int blob_decode_fd(int in_fd, int out_fd, const struct blob_caps *caps, struct blob_header *out_hdr,
		   struct error *err) __attribute__((warn_unused_result));

/*
 * Decodes a blob held in memory into a malloc'd buffer of its raw size
 * (*out, *out_len; the caller frees it; never NULL on success, even for
 * empty content). The declared size is checked against both caps before
 * the buffer is allocated: a header declaring more than
 * max_ratio * (len - 48) + BLOB_RATIO_SLACK bytes is ERROR_TOO_BIG at once.
 */
int blob_decode_mem(const void *buf, size_t len, const struct blob_caps *caps, unsigned char **out,
		    size_t *out_len, struct blob_header *out_hdr, struct error *err)
    __attribute__((warn_unused_result));

#endif
