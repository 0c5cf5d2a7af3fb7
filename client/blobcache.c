/*
 * blobcache.c - downloads blobs, resumably, and keeps only verified
 * content (see blobcache.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/blobcache.h"
#include "client/state.h"
#include "common/log.h"
#include "workunits/blob.h"

int blobcache_init(struct blobcache *bc, const char *dir, uint64_t max_raw, struct error *err)
{
	if (strlen(dir) >= sizeof(bc->dir))
		return error_set(err, ERROR_TOO_BIG, "blob cache path too long");
	memcpy(bc->dir, dir, strlen(dir) + 1);
	bc->max_raw = max_raw;
	return state_mkdirs(dir, 0700, err);
}

void blobcache_path(const struct blobcache *bc, const struct hash *h, const char *suffix, char *out)
{
	char hex[HASH_HEX_LEN + 1];

	hash_to_hex(h, hex);
	snprintf(out, FILEIO_PATH_MAX, "%s/%s%s", bc->dir, hex, suffix ? suffix : "");
}

int blobcache_has(const struct blobcache *bc, const struct hash *h)
{
	char path[FILEIO_PATH_MAX];

	blobcache_path(bc, h, NULL, path);
	return access(path, F_OK) == 0;
}

/* The .part file as a download sink: checks the header once it is in and
 * the size cap on every write. */
struct part {
	int fd;
	uint64_t size, max;
	unsigned char head[BLOB_HEADER_BYTES];
	const struct blobcache *bc;
	const struct hash *want;
	struct error *err;
};

static int part_check_header(struct part *p)
{
	struct blob_header h;

	if (blob_peek_header(&h, p->head, BLOB_HEADER_BYTES, p->err) < 0)
		return ERROR_FORMAT;
	if (!hash_equal(&h.hash, p->want))
		return error_set(p->err, ERROR_HASH, "the server sent another blob's header");
	if (h.raw_size > p->bc->max_raw)
		return error_set(
		    p->err, ERROR_TOO_BIG, "blob of %llu bytes is over the cap of %llu",
		    (unsigned long long)h.raw_size, (unsigned long long)p->bc->max_raw);
	return 0;
}

static int part_write(void *ctx, const void *data, size_t len)
{
	struct part *p = ctx;
	uint64_t before = p->size;
	int ret;

	if (len > p->max - p->size)
		return error_set(p->err, ERROR_TOO_BIG, "blob container over %llu bytes",
				 (unsigned long long)p->max);
	if (fileio_write_full(p->fd, data, len) < 0)
		return error_set(p->err, ERROR_IO, "cannot write a blob: %s", strerror(errno));
	p->size += len;
	if (before < BLOB_HEADER_BYTES) {
		size_t k = BLOB_HEADER_BYTES - (size_t)before;
		if (k > len)
			k = len;
		memcpy(p->head + before, data, k);
		if (p->size >= BLOB_HEADER_BYTES && (ret = part_check_header(p)) < 0)
			return ret;
	}
	return 0;
}

static int part_reset(void *ctx)
{
	struct part *p = ctx;

	if (ftruncate(p->fd, 0) != 0 || lseek(p->fd, 0, SEEK_SET) < 0)
		return error_set(p->err, ERROR_IO, "cannot restart a download: %s",
				 strerror(errno));
	p->size = 0;
	return 0;
}

/* Decodes the complete .part into the cache. */
static int part_finish(struct blobcache *bc, const struct hash *h, const char *part,
		       struct error *err)
{
	struct blob_caps caps = {
	    .max_raw_size = bc->max_raw, .max_ratio = BLOB_DEFAULT_MAX_RATIO, .want = h};
	struct fileio_tmp tmp;
	char path[FILEIO_PATH_MAX];
	int in, ret;

	blobcache_path(bc, h, NULL, path);
	in = open(part, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fileio_error(err, errno, "open", part);
	ret = fileio_tmp_open(&tmp, path, 0600, err);
	if (ret == 0) {
		ret = blob_decode_fd(in, tmp.fd, &caps, NULL, err);
		if (ret == 0)
			ret = fileio_tmp_commit(&tmp, 0, err);
		else
			fileio_tmp_abort(&tmp);
	}
	close(in);
	unlink(part); /* verified and stored, or bad: never resumed */
	return ret;
}

int blobcache_fetch(struct blobcache *bc, struct net *n, const char *base, const struct hash *h,
		    struct error *err)
{
	char part[FILEIO_PATH_MAX], url[STATE_URL_MAX + 128], hex[HASH_HEX_LEN + 1];
	struct part p = {.bc = bc, .want = h, .err = err};
	struct net_sink sink = {part_write, part_reset, &p};
	struct stat st;
	long status = 0;
	int ret;

	if (blobcache_has(bc, h))
		return 0;
	hash_to_hex(h, hex);
	snprintf(url, sizeof(url), "%s/api/v1/blobs/%s", base, hex);
	blobcache_path(bc, h, ".part", part);
	/* zlib's worst case is a few bytes per 16 KiB block over the raw size */
	p.max = bc->max_raw + bc->max_raw / 1000 + 4096 + BLOB_HEADER_BYTES;
	p.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p.fd < 0)
		return fileio_error(err, errno, "open", part);
	if (fstat(p.fd, &st) != 0 || (uint64_t)st.st_size > p.max) {
		ret = error_set(err, ERROR_TOO_BIG, "'%s' is too large", part);
		goto drop;
	}
	p.size = (uint64_t)st.st_size;
	if (p.size > 0) {
		size_t k = p.size < BLOB_HEADER_BYTES ? (size_t)p.size : BLOB_HEADER_BYTES;
		if (pread(p.fd, p.head, k, 0) != (ssize_t)k) {
			ret = fileio_error(err, errno, "read", part);
			goto drop;
		}
		log_info("resuming download of blob %.16s at byte %llu", hex,
			 (unsigned long long)p.size);
	}
	if (lseek(p.fd, (off_t)p.size, SEEK_SET) < 0) {
		ret = fileio_error(err, errno, "seek", part);
		goto drop;
	}
	ret = net_download(n, url, p.size, &sink, &status, err);
	if (ret == ERROR_NET && p.size > 0) {
		close(p.fd);
		return ret; /* keep the .part: resumed next time */
	}
	if (ret < 0)
		goto drop;
	if (status == 416) { /* we already have everything */
		close(p.fd);
		return part_finish(bc, h, part, err);
	}
	if (status != 200 && status != 206) {
		close(p.fd);
		return error_set(err, status == 404 ? ERROR_NOT_FOUND : ERROR_NET,
				 "blob %.16s: server answered %ld", hex, status);
	}
	close(p.fd);
	return part_finish(bc, h, part, err);
drop:
	close(p.fd);
	unlink(part);
	return ret;
}

int blobcache_size(const struct blobcache *bc, const struct hash *h, uint64_t *size,
		   struct error *err)
{
	char path[FILEIO_PATH_MAX];
	struct stat st;

	blobcache_path(bc, h, NULL, path);
	if (stat(path, &st) != 0)
		return fileio_error(err, errno, "stat", path);
	*size = (uint64_t)st.st_size;
	return 0;
}

int blobcache_read(const struct blobcache *bc, const struct hash *h, uint64_t offset, void *buf,
		   size_t len, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	size_t got = 0;
	int fd, ret = 0;

	blobcache_path(bc, h, NULL, path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fileio_error(err, errno, "open", path);
	while (got < len) {
		ssize_t k = pread(fd, (unsigned char *)buf + got, len - got, (off_t)(offset + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			ret = fileio_error(err, errno, "read", path);
			break;
		}
		if (k == 0) {
			ret = error_set(err, ERROR_RANGE, "blob '%s' ends before byte %llu", path,
					(unsigned long long)(offset + len));
			break;
		}
		got += (size_t)k;
	}
	close(fd);
	return ret;
}
