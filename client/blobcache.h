/*
 * blobcache.h - the client's content-addressed cache of verified blobs.
 *
 *     STATE/blobs/<64 hex>        the raw content, verified: its BLAKE2b-256
 *                                 is its name
 *     STATE/blobs/<64 hex>.part   the container bytes downloaded so far
 *
 * blobcache_fetch() downloads a blob's container from
 * BASE/api/v1/blobs/<hash>, appending to the .part file and resuming it
 * with "Range: bytes=<size>-" after an interruption. The container's
 * header is checked as soon as its 48 bytes are in: the hash must be the
 * one asked for and the raw size at most the cache's cap (else the .part
 * is deleted and ERROR_HASH / ERROR_TOO_BIG returned before more is read).
 * The .part is also capped (cap + zlib's worst-case overhead). When the
 * transfer completes, the container is decoded with the caps and the hash
 * check of workunits/blob.h into a temporary file that is fsynced and
 * renamed to <hash>: a file named by a hash always holds that content. A
 * container that fails to decode is deleted (the next fetch starts over);
 * a transfer that breaks off keeps its .part for the next try.
 */
#ifndef AGORA_CLIENT_BLOBCACHE_H
#define AGORA_CLIENT_BLOBCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "client/net.h"
#include "common/error.h"
#include "common/fileio.h"
#include "workunits/hash.h"

/* Default cap on one blob's raw size: 1 GiB. */
#define BLOBCACHE_DEFAULT_MAX (UINT64_C(1) << 30)

struct blobcache {
	char dir[FILEIO_PATH_MAX - 80];
	uint64_t max_raw; /* largest raw size accepted */
};

/* Uses (creating, 0700) dir. */
int blobcache_init(struct blobcache *bc, const char *dir, uint64_t max_raw, struct error *err)
    __attribute__((warn_unused_result));

/* The path of a verified blob (or with suffix ".part"); out holds
 * FILEIO_PATH_MAX bytes. */
void blobcache_path(const struct blobcache *bc, const struct hash *h, const char *suffix,
		    char *out);

/* 1 when the verified blob is cached. */
int blobcache_has(const struct blobcache *bc, const struct hash *h);

/* Makes sure blob h is cached (see above). base is the project URL. */
int blobcache_fetch(struct blobcache *bc, struct net *n, const char *base, const struct hash *h,
		    struct error *err) __attribute__((warn_unused_result));

/* Reads bytes [offset, offset + len) of cached blob h into buf.
 * ERROR_RANGE when the blob is shorter. */
int blobcache_read(const struct blobcache *bc, const struct hash *h, uint64_t offset, void *buf,
		   size_t len, struct error *err) __attribute__((warn_unused_result));

/* The raw size of cached blob h (ERROR_NOT_FOUND when absent). */
int blobcache_size(const struct blobcache *bc, const struct hash *h, uint64_t *size,
		   struct error *err) __attribute__((warn_unused_result));

#endif
