/*
 * blobstore.c - content-addressed blob files with crash-safe writes (see
 * blobstore.h).
 *
 * Write path: mkostemp() in STATE/blobs/tmp/ (0600, same file system as
 * the final place, so rename() is atomic), bytes appended as they arrive
 * and fed to a blob decoder whose sink drops the raw bytes (only the
 * verdict matters), then fsync(file), rename(tmp, ab/cdef...), fsync(ab/).
 * A directory ab/ created on the way is fsynced into blobs/ first, so the
 * rename can never survive a crash without its directory.
 */
#include "config.h"

#include "server-tools/blobstore.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

struct blobstore {
	char dir[BLOBSTORE_PATH_MAX];
	char tmpdir[BLOBSTORE_PATH_MAX];
};

struct blobstore_writer {
	struct blobstore *bs;
	int fd;
	char tmp[BLOBSTORE_PATH_MAX];
	struct blob_decoder *dec;
	uint64_t size;
	uint64_t max_stored;
	int dead;
};

static int blobstore_errno(struct error *err, int e, const char *what, const char *path)
{
	int code = e == ENOENT                   ? ERROR_NOT_FOUND
		   : (e == EACCES || e == EPERM) ? ERROR_PERM
		   : e == ENOSPC                 ? ERROR_TOO_BIG
						 : ERROR_IO;
	return error_set(err, code, "cannot %s '%s': %s", what, path, strerror(e));
}

static int blobstore_fsync_dir(const char *path, struct error *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return blobstore_errno(err, errno, "open directory", path);
	if (fsync(fd) < 0)
		rc = blobstore_errno(err, errno, "sync directory", path);
	close(fd);
	return rc;
}

/* mkdir that accepts an existing directory; *created tells which. */
static int blobstore_mkdir(const char *path, int *created, struct error *err)
{
	struct stat st;

	if (created)
		*created = 0;
	if (mkdir(path, 0700) == 0) {
		if (created)
			*created = 1;
		return 0;
	}
	if (errno != EEXIST)
		return blobstore_errno(err, errno, "create directory", path);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return error_set(err, ERROR_TYPE, "'%s' is not a directory", path);
	return 0;
}

/* Removes temporary files a crash left behind. */
static void blobstore_sweep(const struct blobstore *bs)
{
	char path[BLOBSTORE_PATH_MAX + 256];
	struct dirent *e;
	DIR *d = opendir(bs->tmpdir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", bs->tmpdir, e->d_name) <
			(int)sizeof(path) &&
		    unlink(path) == 0)
			log_info("removed unfinished blob '%s'", path);
	}
	closedir(d);
}

int blobstore_open(struct blobstore **out, const char *dir, struct error *err)
{
	struct blobstore *bs;
	int rc, created;

	*out = NULL;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return error_set(err, ERROR_NOMEM, "out of memory");
	if (snprintf(bs->dir, sizeof(bs->dir), "%s", dir) >= (int)sizeof(bs->dir) ||
	    snprintf(bs->tmpdir, sizeof(bs->tmpdir), "%s/tmp", dir) >= (int)sizeof(bs->tmpdir)) {
		rc = error_set(err, ERROR_TOO_BIG, "blob store path '%s' too long", dir);
		goto out;
	}
	rc = blobstore_mkdir(bs->dir, &created, err);
	if (rc < 0)
		goto out;
	rc = blobstore_mkdir(bs->tmpdir, NULL, err);
	if (rc < 0)
		goto out;
	if (created)
		rc = blobstore_fsync_dir(bs->dir, err);
	blobstore_sweep(bs);
out:
	if (rc < 0) {
		free(bs);
		return rc;
	}
	*out = bs;
	return 0;
}

void blobstore_free(struct blobstore *bs)
{
	free(bs);
}

int blobstore_path(const struct blobstore *bs, const struct hash *h, char *buf, size_t size)
{
	char hex[HASH_HEX_LEN + 1];

	hash_to_hex(h, hex);
	if (snprintf(buf, size, "%s/%.2s/%s", bs->dir, hex, hex + 2) >= (int)size)
		return ERROR_TOO_BIG;
	return 0;
}

int blobstore_exists(const struct blobstore *bs, const struct hash *h)
{
	char path[BLOBSTORE_PATH_MAX];
	struct stat st;

	if (blobstore_path(bs, h, path, sizeof(path)) < 0)
		return 0;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int blobstore_get(const struct blobstore *bs, const struct hash *h, int *fd, uint64_t *size,
		  struct error *err)
{
	char path[BLOBSTORE_PATH_MAX];
	struct stat st;
	int f;

	*fd = -1;
	if (blobstore_path(bs, h, path, sizeof(path)) < 0)
		return error_set(err, ERROR_TOO_BIG, "blob path too long");
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return blobstore_errno(err, errno, "open blob", path);
	if (fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(f);
		return error_set(err, ERROR_TYPE, "'%s' is not a regular file", path);
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int blobstore_drop(void *ctx, const void *data, size_t len)
{
	(void)ctx;
	(void)data;
	(void)len;
	return 0;
}

int blobstore_writer_new(struct blobstore *bs, struct blobstore_writer **out,
			 const struct blob_caps *caps, uint64_t max_stored, struct error *err)
{
	struct blob_sink sink = {blobstore_drop, NULL};
	struct blobstore_writer *w;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return error_set(err, ERROR_NOMEM, "out of memory");
	w->bs = bs;
	w->fd = -1;
	w->max_stored = max_stored;
	w->dec = blob_decoder_new(caps, &sink);
	if (!w->dec) {
		free(w);
		return error_set(err, ERROR_NOMEM, "out of memory");
	}
	if (snprintf(w->tmp, sizeof(w->tmp), "%s/blob-XXXXXX", bs->tmpdir) >= (int)sizeof(w->tmp)) {
		blobstore_writer_free(w);
		return error_set(err, ERROR_TOO_BIG, "blob store path too long");
	}
	w->fd = mkostemp(w->tmp, O_CLOEXEC);
	if (w->fd < 0) {
		int rc = blobstore_errno(err, errno, "create", w->tmp);
		w->tmp[0] = '\0';
		blobstore_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int blobstore_write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int blobstore_writer_write(struct blobstore_writer *w, const void *data, size_t len,
			   struct error *err)
{
	int rc;

	if (w->dead)
		return error_set(err, ERROR_STATE, "blob writer failed earlier");
	if (len > w->max_stored || w->size > w->max_stored - len) {
		w->dead = 1;
		return error_set(err, ERROR_TOO_BIG, "blob larger than %llu bytes",
				 (unsigned long long)w->max_stored);
	}
	rc = blob_decoder_feed(w->dec, data, len, err);
	if (rc < 0) {
		w->dead = 1;
		return rc;
	}
	if (blobstore_write_all(w->fd, data, len) < 0) {
		w->dead = 1;
		return blobstore_errno(err, errno, "write", w->tmp);
	}
	w->size += len;
	return 0;
}

uint64_t blobstore_writer_size(const struct blobstore_writer *w)
{
	return w->size;
}

/* Moves the verified temporary file to path, making ab/ when needed. */
static int blobstore_place(struct blobstore_writer *w, const char *path, struct error *err)
{
	char dir[BLOBSTORE_PATH_MAX];
	const char *slash = strrchr(path, '/');
	int created, rc;

	assert(slash);
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	rc = blobstore_mkdir(dir, &created, err);
	if (rc < 0)
		return rc;
	if (created && (rc = blobstore_fsync_dir(w->bs->dir, err)) < 0)
		return rc;
	if (fsync(w->fd) < 0)
		return blobstore_errno(err, errno, "sync", w->tmp);
	if (rename(w->tmp, path) < 0)
		return blobstore_errno(err, errno, "rename to", path);
	w->tmp[0] = '\0';
	return blobstore_fsync_dir(dir, err);
}

int blobstore_writer_commit(struct blobstore_writer *w, struct blob_header *hdr, uint64_t *stored,
			    struct error *err)
{
	char path[BLOBSTORE_PATH_MAX];
	struct blob_header h;
	int rc;

	if (w->dead)
		return error_set(err, ERROR_STATE, "blob writer failed earlier");
	w->dead = 1; /* one commit only */
	rc = blob_decoder_finish(w->dec, &h, err);
	if (rc < 0)
		return rc;
	if (blobstore_path(w->bs, &h.hash, path, sizeof(path)) < 0)
		return error_set(err, ERROR_TOO_BIG, "blob path too long");
	if (!blobstore_exists(w->bs, &h.hash)) {
		rc = blobstore_place(w, path, err);
		if (rc < 0)
			return rc;
	}
	if (hdr)
		*hdr = h;
	if (stored)
		*stored = w->size;
	return 0;
}

void blobstore_writer_free(struct blobstore_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp[0] && w->fd >= 0)
		unlink(w->tmp);
	blob_decoder_free(w->dec);
	free(w);
}

int blobstore_put_mem(struct blobstore *bs, const void *raw, size_t len, enum blob_codec codec,
		      struct hash *h, uint64_t *stored, struct error *err)
{
	struct blob_caps caps = {.max_raw_size = len, .max_ratio = 0, .want = NULL};
	struct blobstore_writer *w = NULL;
	struct blob_header hdr;
	unsigned char *enc = NULL;
	size_t enc_len;
	int rc;

	rc = blob_encode_mem(raw, len, codec, &enc, &enc_len, &hdr, err);
	if (rc < 0)
		return rc;
	rc = blobstore_writer_new(bs, &w, &caps, enc_len, err);
	if (rc < 0)
		goto out;
	rc = blobstore_writer_write(w, enc, enc_len, err);
	if (rc < 0)
		goto out;
	rc = blobstore_writer_commit(w, &hdr, stored, err);
	if (rc == 0 && h)
		*h = hdr.hash;
out:
	blobstore_writer_free(w);
	free(enc);
	return rc;
}
