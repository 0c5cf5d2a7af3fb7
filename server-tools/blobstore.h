/*
 * blobstore.h - the coordinator's content-addressed blob store.
 *
 * Every blob (model version, pseudo-gradient, data shard, manifest) is
 * kept as its container (workunits/blob.h) in
 *
 *     STATE/blobs/ab/cdef...   (ab = the first two hex digits of the hash)
 *
 * named by the BLAKE2b-256 of its raw content, the hash in its header.
 * A blob enters the store only whole and verified: the writer streams the
 * container into a temporary file under STATE/blobs/tmp/ while a blob
 * decoder checks it (caps, zlib stream, raw content hash), and only when
 * the decoder says it is complete and correct is the file fsynced,
 * renamed to its address and the directory fsynced. After kill -9 there
 * is either the whole blob or nothing (temporary files are swept at open).
 * Storing a blob that is already there is a no-op.
 *
 * Thread safety: a struct blobstore is read-only after open and may be
 * shared; a writer belongs to one thread at a time.
 */
#ifndef AGORA_SERVER_BLOBSTORE_H
#define AGORA_SERVER_BLOBSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/blob.h"
#include "workunits/hash.h"

/* Path buffers for blob files. */
#define BLOBSTORE_PATH_MAX 4096

struct blobstore;
struct blobstore_writer;

/* Opens the store rooted at dir (e.g. "STATE/blobs"), creating it (mode
 * 0700) when absent and removing leftover temporary files. */
int blobstore_open(struct blobstore **out, const char *dir, struct error *err)
    __attribute__((warn_unused_result));
void blobstore_free(struct blobstore *bs);

/* Writes the file name of hash h into buf (ERROR_TOO_BIG if it does not
 * fit). The file need not exist. */
int blobstore_path(const struct blobstore *bs, const struct hash *h, char *buf, size_t size);

/* 1 when the blob is stored, 0 when not. */
int blobstore_exists(const struct blobstore *bs, const struct hash *h);

/* Opens a stored blob's container for reading: *fd (the caller closes it)
 * and its size in bytes. ERROR_NOT_FOUND when absent. */
int blobstore_get(const struct blobstore *bs, const struct hash *h, int *fd, uint64_t *size,
		  struct error *err) __attribute__((warn_unused_result));

/* Starts storing one container. caps bound the decoded content (and may
 * name the expected hash); max_stored bounds the container's own size.
 * Feed it with blobstore_writer_write(), then blobstore_writer_commit();
 * blobstore_writer_free() without a commit leaves nothing behind. */
int blobstore_writer_new(struct blobstore *bs, struct blobstore_writer **out,
			 const struct blob_caps *caps, uint64_t max_stored, struct error *err)
    __attribute__((warn_unused_result));
/* Appends container bytes. ERROR_TOO_BIG beyond max_stored; the decoder's
 * errors (ERROR_FORMAT, ERROR_TOO_BIG, ERROR_HASH, ...) as soon as it sees
 * them. After an error the writer is dead. */
int blobstore_writer_write(struct blobstore_writer *w, const void *data, size_t len,
			   struct error *err) __attribute__((warn_unused_result));
/* Verifies the end of the container and moves it to its address. Fills
 * *hdr (may be NULL) with the verified header and *stored (may be NULL)
 * with the container's size. Returns 0 also when the blob was already
 * stored (the new copy is dropped). */
int blobstore_writer_commit(struct blobstore_writer *w, struct blob_header *hdr, uint64_t *stored,
			    struct error *err) __attribute__((warn_unused_result));
/* Bytes written so far. */
uint64_t blobstore_writer_size(const struct blobstore_writer *w);
/* Removes an uncommitted temporary file and frees w. NULL is a no-op. */
void blobstore_writer_free(struct blobstore_writer *w);

/* Stores len bytes of raw content (encoded with codec) and returns its
 * address in *h. */
int blobstore_put_mem(struct blobstore *bs, const void *raw, size_t len, enum blob_codec codec,
		      struct hash *h, uint64_t *stored, struct error *err)
    __attribute__((warn_unused_result));

#endif
