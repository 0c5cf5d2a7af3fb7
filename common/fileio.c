/*
 * fileio.c - capped whole-file reads and crash-safe writes (see fileio.h).
 */
#include "config.h"

#include "common/fileio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILEIO_CHUNK 65536

int fileio_error(struct error *err, int errnum, const char *what, const char *path)
{
	char msg[128];
	int code;

	snprintf(msg, sizeof(msg), "%s", strerror(errnum));
	if (msg[0] >= 'A' && msg[0] <= 'Z' && !(msg[1] >= 'A' && msg[1] <= 'Z'))
		msg[0] = (char)(msg[0] - 'A' + 'a');
	switch (errnum) {
	case ENOENT:
		code = ERROR_NOT_FOUND;
		break;
	case EACCES:
	case EPERM:
		code = ERROR_PERM;
		break;
	case ENOMEM:
		code = ERROR_NOMEM;
		break;
	case EEXIST:
		code = ERROR_STATE;
		break;
	default:
		code = ERROR_IO;
		break;
	}
	return error_set(err, code, "cannot %s '%s': %s", what, path, msg);
}

int fileio_read_fd(int fd, const char *name, size_t cap, unsigned char **out, size_t *len,
		   struct error *err)
{
	unsigned char *buf = NULL, *grown;
	size_t used = 0, size = 0;
	struct stat st;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return fileio_error(err, errno, "stat", name);
	if (S_ISDIR(st.st_mode))
		return error_set(err, ERROR_IO, "cannot read '%s': is a directory", name);
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > cap)
		return error_set(err, ERROR_TOO_BIG,
				 "file '%s' is too large (%jd bytes, limit %zu)", name,
				 (intmax_t)st.st_size, cap);
	assert(cap < SIZE_MAX / 2);
	for (;;) {
		ssize_t n;

		if (used == size) {
			/* Read at most cap + 1 bytes: one more than allowed tells a
			 * file that grew past the cap from one that fits exactly. */
			size_t want = size                  ? size + FILEIO_CHUNK
				      : S_ISREG(st.st_mode) ? (size_t)st.st_size + 1
							    : FILEIO_CHUNK;

			if (want > cap + 1)
				want = cap + 1;
			grown = realloc(buf, want + 1);
			if (!grown) {
				rc = error_set(err, ERROR_NOMEM, "cannot read '%s': out of memory",
					       name);
				goto out;
			}
			buf = grown;
			size = want;
		}
		n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fileio_error(err, errno, "read", name);
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > cap) {
			rc = error_set(err, ERROR_TOO_BIG,
				       "file '%s' is too large (limit %zu bytes)", name, cap);
			goto out;
		}
	}
	if (!buf && !(buf = malloc(1))) {
		rc = error_set(err, ERROR_NOMEM, "cannot read '%s': out of memory", name);
		goto out;
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int fileio_read_all(const char *path, size_t cap, unsigned char **out, size_t *len,
		    struct error *err)
{
	int fd, rc;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fileio_error(err, errno, "open", path);
	rc = fileio_read_fd(fd, path, cap, out, len, err);
	close(fd);
	return rc;
}

int fileio_write_full(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return ERROR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_tmp_open(struct fileio_tmp *tmp, const char *path, mode_t mode, struct error *err)
{
	static atomic_uint counter;
	int attempt;

	tmp->fd = -1;
	if (snprintf(tmp->path, sizeof(tmp->path), "%s", path) >= (int)sizeof(tmp->path))
		return error_set(err, ERROR_INVALID, "path too long: '%.64s...'", path);
	for (attempt = 0; attempt < 100; attempt++) {
		snprintf(tmp->tmp_path, sizeof(tmp->tmp_path), "%s.tmp-%ld-%u", path,
			 (long)getpid(), atomic_fetch_add(&counter, 1u));
		tmp->fd = open(tmp->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
		if (tmp->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	return fileio_error(err, errno, "create", path);
}

void fileio_tmp_abort(struct fileio_tmp *tmp)
{
	if (tmp->fd >= 0) {
		close(tmp->fd);
		tmp->fd = -1;
		unlink(tmp->tmp_path);
	}
}

/* fsyncs the directory holding path so a rename or link survives a crash. */
static int fileio_sync_dir(const char *path, struct error *err)
{
	char dir[FILEIO_PATH_MAX];
	char *slash;
	int fd, rc = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fileio_error(err, errno, "open directory", dir);
	if (fsync(fd) != 0 && errno != EINVAL)
		rc = fileio_error(err, errno, "sync directory", dir);
	close(fd);
	return rc;
}

int fileio_tmp_commit(struct fileio_tmp *tmp, unsigned flags, struct error *err)
{
	int rc, fd = tmp->fd;

	if (fd < 0)
		return error_set(err, ERROR_STATE, "cannot commit '%s': not open", tmp->path);
	tmp->fd = -1;
	if (fsync(fd) != 0) {
		rc = fileio_error(err, errno, "sync", tmp->tmp_path);
		close(fd);
		goto fail;
	}
	if (close(fd) != 0) {
		rc = fileio_error(err, errno, "close", tmp->tmp_path);
		goto fail;
	}
	if (flags & FILEIO_NO_REPLACE) {
		/* link() fails with EEXIST instead of replacing: atomic no-clobber. */
		if (link(tmp->tmp_path, tmp->path) != 0) {
			if (errno == EEXIST)
				rc = error_set(err, ERROR_STATE,
					       "'%s' already exists, not overwriting", tmp->path);
			else
				rc = fileio_error(err, errno, "create", tmp->path);
			goto fail;
		}
		unlink(tmp->tmp_path);
	} else if (rename(tmp->tmp_path, tmp->path) != 0) {
		rc = fileio_error(err, errno, "rename to", tmp->path);
		goto fail;
	}
	return fileio_sync_dir(tmp->path, err);
fail:
	unlink(tmp->tmp_path);
	return rc;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
			struct error *err)
{
	struct fileio_tmp tmp;
	int rc;

	rc = fileio_tmp_open(&tmp, path, mode, err);
	if (rc < 0)
		return rc;
	if (fileio_write_full(tmp.fd, data, len) < 0) {
		rc = fileio_error(err, errno, "write", tmp.tmp_path);
		fileio_tmp_abort(&tmp);
		return rc;
	}
	return fileio_tmp_commit(&tmp, flags, err);
}
