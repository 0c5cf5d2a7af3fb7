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
 * one asked for and the raw size at most the cache's budget (else the
 * .part is deleted and ERROR_HASH / ERROR_TOO_BIG returned before more is
 * read). The .part is also capped (budget + zlib's worst-case overhead).
 * When the transfer completes, the container is decoded with the caps and
 * the hash check of workunits/blob.h into a temporary file that is fsynced
 * and renamed to <hash>: a file named by a hash always holds that content.
 * A container that fails to decode is deleted (the next fetch starts
 * over); a transfer that breaks off keeps its .part for the next try.
 *
 * The budget. bc->budget bytes (max-disk-mb) bound the whole directory:
 * verified blobs, .part files and leftover "<hash>.tmp-*" files, counted
 * by their sizes (st_size; other names are neither counted nor touched).
 * Once a fetch knows the raw size from the header, it evicts until the
 * other files plus the raw size plus the .part fit the budget, in this
 * order: temporary files, .part files of other blobs, then verified blobs
 * least recently used first. Pinned blobs (blobcache_pin(): the unit in
 * progress and every unit kept on disk with its checkpoint) are never
 * evicted, nor are their .part files. When the raw size alone is over the
 * budget, or the pinned blobs leave too little room for it, the fetch
 * fails with ERROR_TOO_BIG. While a blob is being downloaded and decoded,
 * its own .part is on disk beside the growing blob, so a blob larger than
 * what eviction can free may take the cache over the budget by its
 * container until the .part is removed at the end of the fetch; after
 * every fetch the cache is within the budget.
 *
 * Last use is the file's mtime: a fetch that finds the blob cached sets it
 * to now (utimensat), and a fresh blob has the time of its download. No
 * separate record exists, so nothing can disagree with the directory after
 * a crash: a lost mtime update only makes a blob look older.
 *
 * Crash safety: eviction only unlinks whole files (a verified blob, a
 * .part, a temporary file); each unlink is atomic, so a crash in the
 * middle of an eviction leaves every remaining file valid. A blob that
 * was evicted is simply fetched again by the next unit that needs it.
 *
 * Not thread-safe; one process per directory (the run loop holds
 * STATE/lock). Scans cost one readdir + stat per file, and only the first
 * BLOBCACHE_SCAN_MAX files are considered for eviction.
 */
#ifndef AGORA_CLIENT_BLOBCACHE_H
#define AGORA_CLIENT_BLOBCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "client/net.h"
#include "common/error.h"
#include "common/fileio.h"
#include "workunits/hash.h"

/* Default budget of the whole cache (and so the largest blob): 1 GiB. */
#define BLOBCACHE_DEFAULT_MAX (UINT64_C(1) << 30)
/* After a unit, the run loop trims the cache to this share of the budget,
 * so that the next fetch usually finds room without evicting. */
#define BLOBCACHE_TRIM_PERCENT 90
/* Files one eviction scan looks at (the rest are left for later scans). */
#define BLOBCACHE_SCAN_MAX (1u << 18)

struct blobcache {
	char dir[FILEIO_PATH_MAX - 80];
	uint64_t budget;         /* bytes the directory may hold; also the largest raw size */
	const struct hash *pins; /* borrowed (blobcache_pin()); never evicted */
	size_t n_pins;
};

/* What the directory holds (blobcache_usage()). */
struct blobcache_usage {
	uint64_t bytes;             /* all counted files together */
	uint64_t blobs, blob_bytes; /* verified blobs */
	uint64_t parts, part_bytes; /* downloads in progress or broken off */
	uint64_t tmps, tmp_bytes;   /* temporary files (crash debris) */
};

/* Uses (creating, 0700) dir; budget in bytes (> 0). No pins. */
int blobcache_init(struct blobcache *bc, const char *dir, uint64_t budget, struct error *err)
    __attribute__((warn_unused_result));

/* Pins n blobs (the array is borrowed: the caller keeps it unchanged until
 * the next blobcache_pin(); NULL, 0 unpins all). Pinned blobs and their
 * .part files are never evicted. */
void blobcache_pin(struct blobcache *bc, const struct hash *pins, size_t n);

/* The path of a verified blob (or with suffix ".part"); out holds
 * FILEIO_PATH_MAX bytes. */
void blobcache_path(const struct blobcache *bc, const struct hash *h, const char *suffix,
		    char *out);

/* 1 when the verified blob is cached. */
int blobcache_has(const struct blobcache *bc, const struct hash *h);

/* Makes sure blob h is cached (see above), evicting to stay within the
 * budget; marks it used now. base is the project URL. */
int blobcache_fetch(struct blobcache *bc, struct net *n, const char *base, const struct hash *h,
		    struct error *err) __attribute__((warn_unused_result));

/* Evicts, in the order above and skipping pinned blobs, until the
 * directory holds at most target bytes or nothing more may go. *left
 * (may be NULL) receives the bytes counted afterwards. */
int blobcache_trim(struct blobcache *bc, uint64_t target, uint64_t *left, struct error *err)
    __attribute__((warn_unused_result));

/* Counts what directory dir holds (a missing directory holds nothing).
 * Reads the whole directory (no cap on the count: it only adds up). */
int blobcache_usage(const char *dir, struct blobcache_usage *u, struct error *err)
    __attribute__((warn_unused_result));

/* Reads bytes [offset, offset + len) of cached blob h into buf.
 * ERROR_RANGE when the blob is shorter. */
int blobcache_read(const struct blobcache *bc, const struct hash *h, uint64_t offset, void *buf,
		   size_t len, struct error *err) __attribute__((warn_unused_result));

/* The raw size of cached blob h (ERROR_NOT_FOUND when absent). */
int blobcache_size(const struct blobcache *bc, const struct hash *h, uint64_t *size,
		   struct error *err) __attribute__((warn_unused_result));

#endif
