/*
 * fileio.h - whole-file reads with a size cap, and crash-safe writes.
 *
 * Reads: a file is read into one malloc'd buffer only after its size is
 * checked against a caller's cap, and the read stops at cap + 1 bytes even
 * when the file grows meanwhile, so a hostile or huge file never causes a
 * huge allocation.
 *
 * Writes: data goes to a temporary file next to the target (created with
 * O_CREAT | O_EXCL and the final mode from the start), is fsynced, and is
 * then renamed over the target (or hard-linked to it when the target must
 * not be replaced), and the directory is fsynced. After a crash the target
 * holds either its old contents or the new ones, never a mix; a leftover
 * "*.tmp-*" file is the only possible debris.
 *
 * Errors are one-line messages in the house style, e.g.
 * "cannot open 'unit.json': no such file or directory".
 */
#ifndef AGORA_COMMON_FILEIO_H
#define AGORA_COMMON_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

#define FILEIO_PATH_MAX 4096

/* Flags for fileio_tmp_commit() and fileio_write_atomic(). */
#define FILEIO_NO_REPLACE 1u /* fail with ERROR_STATE if the target exists */

/* Fills err with "cannot WHAT 'PATH': <lowercase strerror(errnum)>" and
 * returns ERROR_NOT_FOUND for ENOENT, ERROR_PERM for EACCES/EPERM,
 * ERROR_NOMEM for ENOMEM, ERROR_STATE for EEXIST, otherwise ERROR_IO. */
int fileio_error(struct error *err, int errnum, const char *what, const char *path);

/* Reads all of path into *out (malloc'd, NUL-terminated for convenience;
 * the caller frees it) and its length into *len. Files larger than cap
 * bytes fail with ERROR_TOO_BIG before anything is allocated for them. */
int fileio_read_all(const char *path, size_t cap, unsigned char **out, size_t *len,
		    struct error *err) __attribute__((warn_unused_result));

/* Like fileio_read_all() for an open descriptor (read from its current
 * offset to EOF); name is only used in messages. Does not close fd. */
int fileio_read_fd(int fd, const char *name, size_t cap, unsigned char **out, size_t *len,
		   struct error *err) __attribute__((warn_unused_result));

/* A file being written under a temporary name. */
struct fileio_tmp {
	int fd;                              /* write here; -1 when not open */
	char path[FILEIO_PATH_MAX];          /* the final name */
	char tmp_path[FILEIO_PATH_MAX + 32]; /* the temporary name */
};

/* Creates a temporary file beside path with O_CREAT | O_EXCL and the given
 * mode (0600 for secrets: the file never exists with a wider mode). On
 * success the caller writes to tmp->fd and must call exactly one of
 * fileio_tmp_commit() or fileio_tmp_abort(). */
int fileio_tmp_open(struct fileio_tmp *tmp, const char *path, mode_t mode, struct error *err)
    __attribute__((warn_unused_result));

/* fsyncs and closes the temporary file, moves it to its final name and
 * fsyncs the directory. With FILEIO_NO_REPLACE an existing target is left
 * alone and the call fails with ERROR_STATE. On any failure the temporary
 * file is removed. */
int fileio_tmp_commit(struct fileio_tmp *tmp, unsigned flags, struct error *err)
    __attribute__((warn_unused_result));

/* Closes and removes the temporary file; safe to call on a closed tmp. */
void fileio_tmp_abort(struct fileio_tmp *tmp);

/* Writes all len bytes to fd, retrying short writes and EINTR. Returns 0
 * or ERROR_IO with errno set. */
int fileio_write_full(int fd, const void *data, size_t len);

/* Writes data to path atomically (temporary file, fsync, rename). */
int fileio_write_atomic(const char *path, const void *data, size_t len, mode_t mode, unsigned flags,
			struct error *err) __attribute__((warn_unused_result));

#endif
