/*
 * blob.c - the blob container: header, streaming zlib encode and capped
 * streaming decode (see blob.h for the format and the caps).
 */
#include "config.h"

#include "workunits/blob.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common/fileio.h"

#define BLOB_CHUNK 65536

/* ------------------------------------------------------------ header */

static void put_u64le(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64le(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void blob_header_encode(const struct blob_header *h, unsigned char out[BLOB_HEADER_BYTES])
{
	memcpy(out, BLOB_MAGIC, 4);
	out[4] = BLOB_VERSION;
	out[5] = (unsigned char)h->codec;
	out[6] = 0;
	out[7] = 0;
	put_u64le(out + 8, h->raw_size);
	memcpy(out + 16, h->hash.bytes, HASH_BYTES);
}

int blob_peek_header(struct blob_header *h, const void *buf, size_t len, struct error *err)
{
	const unsigned char *p = buf;

	if (len < BLOB_HEADER_BYTES)
		return error_set(err, ERROR_FORMAT, "truncated blob header (%zu of %d bytes)", len,
				 BLOB_HEADER_BYTES);
	if (memcmp(p, BLOB_MAGIC, 4) != 0)
		return error_set(err, ERROR_FORMAT, "not a blob (bad magic)");
	if (p[4] != BLOB_VERSION)
		return error_set(err, ERROR_VERSION, "unsupported blob format version %u", p[4]);
	if (p[5] != BLOB_CODEC_STORED && p[5] != BLOB_CODEC_ZLIB)
		return error_set(err, ERROR_FORMAT, "unknown blob codec %u", p[5]);
	if (p[6] != 0 || p[7] != 0)
		return error_set(err, ERROR_FORMAT, "blob header reserved bytes are not zero");
	h->version = p[4];
	h->codec = p[5];
	h->raw_size = get_u64le(p + 8);
	memcpy(h->hash.bytes, p + 16, HASH_BYTES);
	return 0;
}

/* ------------------------------------------------------------ encode */

static int blob_zlib_error(struct error *err, int zrc, const char *what)
{
	if (zrc == Z_MEM_ERROR)
		return error_set(err, ERROR_NOMEM, "cannot %s: out of memory", what);
	return error_set(err, ERROR_STATE, "cannot %s: zlib error %d", what, zrc);
}

/* Deflates what is in zs->next_in (flush: Z_NO_FLUSH or Z_FINISH) into
 * out, handing each full buffer to the sink. */
static int blob_deflate_chunk(z_stream *zs, int flush, unsigned char *out,
			      const struct blob_sink *sink, struct error *err)
{
	int zrc, rc;

	do {
		zs->next_out = out;
		zs->avail_out = BLOB_CHUNK;
		zrc = deflate(zs, flush);
		if (zrc == Z_STREAM_ERROR)
			return blob_zlib_error(err, zrc, "compress blob");
		if (zs->avail_out < BLOB_CHUNK) {
			rc = sink->write(sink->ctx, out, BLOB_CHUNK - zs->avail_out);
			if (rc < 0)
				return error_set(err, rc, "cannot write blob: %s", error_name(rc));
		}
	} while (zs->avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
	return 0;
}

/* Streams the content from src through zs (NULL: stored) to sink and
 * checks it is exactly h's size and hash. in and out hold BLOB_CHUNK. */
static int blob_encode_body(const struct blob_header *h, const struct blob_source *src,
			    const struct blob_sink *sink, z_stream *zs, unsigned char *in,
			    unsigned char *out, struct error *err)
{
	struct hash_state st;
	struct hash got;
	uint64_t total = 0;
	int rc;

	hash_init(&st);
	for (;;) {
		long n = src->read(src->ctx, in, BLOB_CHUNK);

		if (n < 0)
			return error_set(err, (int)n, "cannot read blob content: %s",
					 error_name((int)n));
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > h->raw_size)
			return error_set(err, ERROR_FORMAT,
					 "blob content is longer than %" PRIu64 " bytes",
					 h->raw_size);
		hash_update(&st, in, (size_t)n);
		if (!zs) {
			rc = sink->write(sink->ctx, in, (size_t)n);
			if (rc < 0)
				return error_set(err, rc, "cannot write blob: %s", error_name(rc));
			continue;
		}
		zs->next_in = in;
		zs->avail_in = (uInt)n;
		rc = blob_deflate_chunk(zs, Z_NO_FLUSH, out, sink, err);
		if (rc < 0)
			return rc;
	}
	if (total != h->raw_size)
		return error_set(err, ERROR_FORMAT,
				 "blob content is %" PRIu64 " bytes, header says %" PRIu64, total,
				 h->raw_size);
	hash_final(&st, &got);
	if (!hash_equal(&got, &h->hash))
		return error_set(err, ERROR_HASH,
				 "blob content changed while encoding (hash differs)");
	if (!zs)
		return 0;
	zs->next_in = NULL;
	zs->avail_in = 0;
	return blob_deflate_chunk(zs, Z_FINISH, out, sink, err);
}

int blob_encode(const struct blob_header *h, const struct blob_source *src,
		const struct blob_sink *sink, int level, struct error *err)
{
	unsigned char header[BLOB_HEADER_BYTES];
	unsigned char *in = NULL, *out = NULL;
	z_stream zs;
	int zinit = 0, rc, zrc;

	if (h->codec != BLOB_CODEC_STORED && h->codec != BLOB_CODEC_ZLIB)
		return error_set(err, ERROR_INVALID, "unknown blob codec %u", h->codec);
	in = malloc(BLOB_CHUNK);
	out = malloc(BLOB_CHUNK);
	if (!in || !out) {
		rc = error_set(err, ERROR_NOMEM, "cannot encode blob: out of memory");
		goto out;
	}
	if (h->codec == BLOB_CODEC_ZLIB) {
		memset(&zs, 0, sizeof(zs));
		zrc = deflateInit(&zs, level);
		if (zrc != Z_OK) {
			rc = blob_zlib_error(err, zrc, "start compressing");
			goto out;
		}
		zinit = 1;
	}
	blob_header_encode(h, header);
	rc = sink->write(sink->ctx, header, sizeof(header));
	if (rc < 0) {
		rc = error_set(err, rc, "cannot write blob: %s", error_name(rc));
		goto out;
	}
	rc = blob_encode_body(h, src, sink, zinit ? &zs : NULL, in, out, err);
out:
	if (zinit)
		deflateEnd(&zs);
	free(in);
	free(out);
	return rc;
}

struct blob_fd_ctx {
	int fd;
};

static long blob_fd_read(void *ctx, void *buf, size_t cap)
{
	struct blob_fd_ctx *f = ctx;

	for (;;) {
		ssize_t n = read(f->fd, buf, cap);

		if (n >= 0)
			return (long)n;
		if (errno != EINTR)
			return ERROR_IO;
	}
}

static int blob_fd_write(void *ctx, const void *data, size_t len)
{
	struct blob_fd_ctx *f = ctx;

	return fileio_write_full(f->fd, data, len);
}

int blob_encode_fd(int in_fd, int out_fd, enum blob_codec codec, struct blob_header *out_hdr,
		   struct error *err)
{
	unsigned char buf[BLOB_CHUNK];
	struct blob_fd_ctx in = {in_fd}, out = {out_fd};
	struct blob_source src = {blob_fd_read, &in};
	struct blob_sink sink = {blob_fd_write, &out};
	struct blob_header h = {BLOB_VERSION, codec, 0, {{0}}};
	struct hash_state st;
	off_t start;
	int rc;

	start = lseek(in_fd, 0, SEEK_CUR);
	if (start < 0)
		return error_set(err, ERROR_INVALID, "cannot encode blob: input is not seekable");
	hash_init(&st);
	for (;;) {
		long n = blob_fd_read(&in, buf, sizeof(buf));

		if (n < 0)
			return error_set(err, ERROR_IO, "cannot read blob content: %s",
					 strerror(errno));
		if (n == 0)
			break;
		hash_update(&st, buf, (size_t)n);
		h.raw_size += (uint64_t)n;
	}
	hash_final(&st, &h.hash);
	if (lseek(in_fd, start, SEEK_SET) < 0)
		return error_set(err, ERROR_IO, "cannot rewind blob input: %s", strerror(errno));
	rc = blob_encode(&h, &src, &sink, Z_DEFAULT_COMPRESSION, err);
	if (rc == 0 && out_hdr)
		*out_hdr = h;
	return rc;
}

struct blob_mem_src {
	const unsigned char *p;
	size_t left;
};

static long blob_mem_read(void *ctx, void *buf, size_t cap)
{
	struct blob_mem_src *m = ctx;
	size_t n = m->left < cap ? m->left : cap;

	if (n == 0)
		return 0;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (long)n;
}

/* A growing buffer; cap bounds its size (the decoder's output). */
struct blob_mem_sink {
	unsigned char *buf;
	size_t len, size, cap;
};

static int blob_mem_write(void *ctx, const void *data, size_t len)
{
	struct blob_mem_sink *m = ctx;

	if (len == 0)
		return 0;
	if (len > m->cap - m->len)
		return ERROR_TOO_BIG;
	if (len > m->size - m->len) {
		size_t want = m->size ? m->size : 4096;
		unsigned char *grown;

		while (want - m->len < len)
			want = want < m->cap / 2 ? want * 2 : m->cap;
		grown = realloc(m->buf, want);
		if (!grown)
			return ERROR_NOMEM;
		m->buf = grown;
		m->size = want;
	}
	memcpy(m->buf + m->len, data, len);
	m->len += len;
	return 0;
}

int blob_encode_mem(const void *raw, size_t len, enum blob_codec codec, unsigned char **out,
		    size_t *out_len, struct blob_header *out_hdr, struct error *err)
{
	struct blob_mem_src msrc = {raw, len};
	struct blob_mem_sink msink = {NULL, 0, 0, SIZE_MAX};
	struct blob_source src = {blob_mem_read, &msrc};
	struct blob_sink sink = {blob_mem_write, &msink};
	struct blob_header h = {BLOB_VERSION, codec, len, {{0}}};
	int rc;

	*out = NULL;
	*out_len = 0;
	hash_buf(&h.hash, raw, len);
	rc = blob_encode(&h, &src, &sink, Z_DEFAULT_COMPRESSION, err);
	if (rc < 0) {
		free(msink.buf);
		return rc;
	}
	*out = msink.buf;
	*out_len = msink.len;
	if (out_hdr)
		*out_hdr = h;
	return 0;
}

/* ------------------------------------------------------------ decode */

/* Raw bytes allowed from `in` compressed bytes: ratio * in + slack,
 * saturating instead of wrapping around. */
static uint64_t blob_ratio_limit(uint32_t ratio, uint64_t in)
{
	if (in > (UINT64_MAX - BLOB_RATIO_SLACK) / ratio)
		return UINT64_MAX;
	return (uint64_t)ratio * in + BLOB_RATIO_SLACK;
}

enum blob_state {
	BLOB_STATE_HEADER,
	BLOB_STATE_BODY,
	BLOB_STATE_END,
};

struct blob_decoder {
	struct blob_caps caps;
	struct hash want;
	int have_want;
	struct blob_sink sink;
	enum blob_state state;
	int failed; /* the sticky error code, or 0 */
	char failed_msg[ERROR_MSG_MAX];
	unsigned char hdr_buf[BLOB_HEADER_BYTES];
	size_t hdr_len;
	struct blob_header hdr;
	uint64_t raw_done; /* raw bytes produced */
	uint64_t body_in;  /* body (compressed) bytes consumed */
	struct hash_state st;
	z_stream zs;
	int zinit;
	unsigned char out[BLOB_CHUNK];
};

struct blob_decoder *blob_decoder_new(const struct blob_caps *caps, const struct blob_sink *sink)
{
	struct blob_decoder *d;

	assert(caps && sink && sink->write);
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->caps = *caps;
	if (caps->want) {
		d->want = *caps->want;
		d->have_want = 1;
	}
	d->caps.want = NULL;
	d->sink = *sink;
	d->state = BLOB_STATE_HEADER;
	hash_init(&d->st);
	return d;
}

void blob_decoder_free(struct blob_decoder *d)
{
	if (!d)
		return;
	if (d->zinit)
		inflateEnd(&d->zs);
	free(d);
}

const struct blob_header *blob_decoder_header(const struct blob_decoder *d)
{
	return d->state == BLOB_STATE_HEADER ? NULL : &d->hdr;
}

/* Records a failure: the decoder stays dead and repeats it. */
static int blob_fail(struct blob_decoder *d, struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int blob_fail(struct blob_decoder *d, struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->failed_msg, sizeof(d->failed_msg), fmt, ap);
	va_end(ap);
	d->failed = code;
	return error_set(err, code, "%s", d->failed_msg);
}

/* Checks the parsed header against the caps and prepares the body. */
static int blob_start_body(struct blob_decoder *d, struct error *err)
{
	struct error perr;
	int rc, zrc;

	rc = blob_peek_header(&d->hdr, d->hdr_buf, BLOB_HEADER_BYTES, &perr);
	if (rc < 0)
		return blob_fail(d, err, rc, "%s", perr.msg);
	if (d->hdr.raw_size > d->caps.max_raw_size)
		return blob_fail(d, err, ERROR_TOO_BIG,
				 "blob declares %" PRIu64 " raw bytes, limit %" PRIu64,
				 d->hdr.raw_size, d->caps.max_raw_size);
	if (d->have_want && !hash_equal(&d->want, &d->hdr.hash))
		return blob_fail(d, err, ERROR_HASH,
				 "blob is not the one asked for (header hash differs)");
	if (d->hdr.codec == BLOB_CODEC_ZLIB) {
		zrc = inflateInit(&d->zs);
		if (zrc != Z_OK)
			return blob_fail(d, err, zrc == Z_MEM_ERROR ? ERROR_NOMEM : ERROR_STATE,
					 "cannot start inflating: zlib error %d", zrc);
		d->zinit = 1;
	}
	d->state = BLOB_STATE_BODY;
	return 0;
}

/* Accounts for and delivers n raw bytes. */
static int blob_emit(struct blob_decoder *d, const unsigned char *p, size_t n, struct error *err)
{
	int rc;

	if (n > d->hdr.raw_size - d->raw_done)
		return blob_fail(d, err, ERROR_FORMAT,
				 "blob content exceeds its declared raw size (%" PRIu64 " bytes)",
				 d->hdr.raw_size);
	d->raw_done += n;
	if (d->caps.max_ratio &&
	    d->raw_done > blob_ratio_limit(d->caps.max_ratio, d->body_in))
		return blob_fail(d, err, ERROR_TOO_BIG,
				 "blob expands more than %u:1 (%" PRIu64 " bytes from %" PRIu64 ")",
				 d->caps.max_ratio, d->raw_done, d->body_in);
	hash_update(&d->st, p, n);
	rc = d->sink.write(d->sink.ctx, p, n);
	if (rc < 0)
		return blob_fail(d, err, rc, "cannot write blob content: %s", error_name(rc));
	return 0;
}

static int blob_feed_zlib(struct blob_decoder *d, const unsigned char *p, size_t len,
			  struct error *err)
{
	int rc, zrc;

	d->zs.next_in = (unsigned char *)p;
	d->zs.avail_in = (uInt)len;
	do {
		uInt before = d->zs.avail_in;

		d->zs.next_out = d->out;
		d->zs.avail_out = sizeof(d->out);
		zrc = inflate(&d->zs, Z_NO_FLUSH);
		d->body_in += before - d->zs.avail_in;
		if (zrc == Z_NEED_DICT || zrc == Z_DATA_ERROR)
			return blob_fail(d, err, ERROR_FORMAT, "corrupt zlib stream in blob: %s",
					 d->zs.msg ? d->zs.msg : "bad data");
		if (zrc == Z_MEM_ERROR)
			return blob_fail(d, err, ERROR_NOMEM, "cannot inflate blob: out of memory");
		if (zrc == Z_STREAM_ERROR)
			return blob_fail(d, err, ERROR_STATE,
					 "cannot inflate blob: zlib state error");
		rc = blob_emit(d, d->out, sizeof(d->out) - d->zs.avail_out, err);
		if (rc < 0)
			return rc;
		if (zrc == Z_STREAM_END) {
			d->state = BLOB_STATE_END;
			if (d->zs.avail_in > 0)
				return blob_fail(d, err, ERROR_FORMAT,
						 "trailing bytes after the blob's zlib stream");
			return 0;
		}
		/* Z_BUF_ERROR: no progress possible until more input arrives. */
	} while (zrc != Z_BUF_ERROR && (d->zs.avail_in > 0 || d->zs.avail_out == 0));
	return 0;
}

int blob_decoder_feed(struct blob_decoder *d, const void *data, size_t len, struct error *err)
{
	const unsigned char *p = data;
	int rc;

	if (d->failed)
		return error_set(err, d->failed, "%s", d->failed_msg);
	if (d->state == BLOB_STATE_HEADER) {
		size_t n = BLOB_HEADER_BYTES - d->hdr_len;

		if (n > len)
			n = len;
		if (n > 0)
			memcpy(d->hdr_buf + d->hdr_len, p, n);
		d->hdr_len += n;
		p += n;
		len -= n;
		if (d->hdr_len < BLOB_HEADER_BYTES)
			return 0;
		rc = blob_start_body(d, err);
		if (rc < 0)
			return rc;
	}
	if (len == 0)
		return 0;
	if (d->state == BLOB_STATE_END)
		return blob_fail(d, err, ERROR_FORMAT,
				 "trailing bytes after the blob's zlib stream");
	if (d->hdr.codec == BLOB_CODEC_STORED) {
		if (len > d->hdr.raw_size - d->raw_done)
			return blob_fail(
			    d, err, ERROR_FORMAT,
			    "stored blob is longer than its declared raw size (%" PRIu64 " bytes)",
			    d->hdr.raw_size);
		d->body_in += len;
		return blob_emit(d, p, len, err);
	}
	/* zlib's avail_in is 32 bits: feed huge buffers in pieces. */
	while (len > 0) {
		size_t n = len < (1u << 30) ? len : (1u << 30);

		rc = blob_feed_zlib(d, p, n, err);
		if (rc < 0)
			return rc;
		p += n;
		len -= n;
		if (len > 0 && d->state == BLOB_STATE_END)
			return blob_fail(d, err, ERROR_FORMAT,
					 "trailing bytes after the blob's zlib stream");
	}
	return 0;
}

int blob_decoder_finish(struct blob_decoder *d, struct blob_header *out_hdr, struct error *err)
{
	struct hash got;

	if (d->failed)
		return error_set(err, d->failed, "%s", d->failed_msg);
	if (d->state == BLOB_STATE_HEADER)
		return blob_fail(d, err, ERROR_FORMAT, "truncated blob header (%zu of %d bytes)",
				 d->hdr_len, BLOB_HEADER_BYTES);
	if (d->hdr.codec == BLOB_CODEC_ZLIB && d->state != BLOB_STATE_END)
		return blob_fail(d, err, ERROR_FORMAT,
				 "truncated blob: zlib stream ends early (%" PRIu64 " of %" PRIu64
				 " raw bytes)",
				 d->raw_done, d->hdr.raw_size);
	if (d->raw_done != d->hdr.raw_size)
		return blob_fail(d, err, ERROR_FORMAT,
				 d->hdr.codec == BLOB_CODEC_ZLIB
				     ? "blob content is shorter than declared (%" PRIu64
				       " of %" PRIu64 " raw bytes)"
				     : "truncated blob: %" PRIu64 " of %" PRIu64 " raw bytes",
				 d->raw_done, d->hdr.raw_size);
	hash_final(&d->st, &got);
	if (!hash_equal(&got, &d->hdr.hash))
		return blob_fail(d, err, ERROR_HASH, "blob content does not match its hash");
	d->state = BLOB_STATE_END;
	if (out_hdr)
		*out_hdr = d->hdr;
	/* finish is final: a second call or feed reports a state error. */
	d->failed = ERROR_STATE;
	snprintf(d->failed_msg, sizeof(d->failed_msg), "blob decoder already finished");
	return 0;
}

int blob_decode_fd(int in_fd, int out_fd, const struct blob_caps *caps, struct blob_header *out_hdr,
		   struct error *err)
{
	struct blob_fd_ctx out = {out_fd}, in = {in_fd};
	struct blob_sink sink = {blob_fd_write, &out};
	struct blob_decoder *d;
	unsigned char *buf;
	int rc = 0;

	d = blob_decoder_new(caps, &sink);
	buf = malloc(BLOB_CHUNK);
	if (!d || !buf) {
		rc = error_set(err, ERROR_NOMEM, "cannot decode blob: out of memory");
		goto out;
	}
	for (;;) {
		long n = blob_fd_read(&in, buf, BLOB_CHUNK);

		if (n < 0) {
			rc = error_set(err, ERROR_IO, "cannot read blob: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		rc = blob_decoder_feed(d, buf, (size_t)n, err);
		if (rc < 0)
			goto out;
	}
	rc = blob_decoder_finish(d, out_hdr, err);
out:
	free(buf);
	blob_decoder_free(d);
	return rc;
}

int blob_decode_mem(const void *buf, size_t len, const struct blob_caps *caps, unsigned char **out,
		    size_t *out_len, struct blob_header *out_hdr, struct error *err)
{
	struct blob_mem_sink msink = {NULL, 0, 0, 0};
	struct blob_sink sink = {blob_mem_write, &msink};
	struct blob_decoder *d = NULL;
	struct blob_header h;
	uint64_t body;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = blob_peek_header(&h, buf, len, err);
	if (rc < 0)
		return rc;
	body = len - BLOB_HEADER_BYTES;
	if (h.raw_size > caps->max_raw_size || h.raw_size > SIZE_MAX - 1)
		return error_set(err, ERROR_TOO_BIG,
				 "blob declares %" PRIu64 " raw bytes, limit %" PRIu64, h.raw_size,
				 caps->max_raw_size);
	if (caps->max_ratio && h.raw_size > blob_ratio_limit(caps->max_ratio, body))
		return error_set(err, ERROR_TOO_BIG,
				 "blob declares %" PRIu64 " raw bytes from %" PRIu64
				 " compressed: more than %u:1",
				 h.raw_size, body, caps->max_ratio);
	if (h.codec == BLOB_CODEC_STORED && h.raw_size != body)
		return error_set(err, ERROR_FORMAT,
				 "stored blob holds %" PRIu64 " bytes, header says %" PRIu64, body,
				 h.raw_size);
	/* Allocate the declared size at once (it passed both caps); the
	 * decoder never delivers more than that. */
	msink.size = msink.cap = (size_t)h.raw_size;
	msink.buf = malloc(msink.size ? msink.size : 1);
	d = blob_decoder_new(caps, &sink);
	if (!msink.buf || !d) {
		rc = error_set(err, ERROR_NOMEM, "cannot decode blob: out of memory");
		goto out;
	}
	rc = blob_decoder_feed(d, buf, len, err);
	if (rc == 0)
		rc = blob_decoder_finish(d, out_hdr, err);
	if (rc < 0)
		goto out;
	*out = msink.buf;
	*out_len = msink.len;
	msink.buf = NULL;
out:
	blob_decoder_free(d);
	free(msink.buf);
	return rc;
}
