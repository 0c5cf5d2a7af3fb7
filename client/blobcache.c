/*
 * blobcache.c - downloads blobs, resumably, keeps only verified content,
 * and evicts what is least recently used to stay within the budget (see
 * blobcache.h).
 */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/blobcache.h"
#include "client/state.h"
#include "common/log.h"
#include "workunits/blob.h"

int blobcache_init(struct blobcache *bc, const char *dir, uint64_t budget, struct error *err)
{
	if (strlen(dir) >= sizeof(bc->dir))
		return error_set(err, ERROR_TOO_BIG, "blob cache path too long");
	if (budget == 0)
		return error_set(err, ERROR_RANGE, "blob cache budget of 0 bytes");
	memcpy(bc->dir, dir, strlen(dir) + 1);
	bc->budget = budget;
	bc->pins = NULL;
	bc->n_pins = 0;
	return state_mkdirs(dir, 0700, err);
}

void blobcache_pin(struct blobcache *bc, const struct hash *pins, size_t n)
{
	assert(pins || n == 0);
	bc->pins = pins;
	bc->n_pins = n;
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

/* What a file of the cache directory is, from its name. */
enum kind { KIND_TMP, KIND_PART, KIND_BLOB, KIND_OTHER }; /* eviction order */

#define TAG_MAX         32                  /* what follows ".tmp-" in a temporary file's name */
#define BLOBCACHE_AHEAD (UINT64_C(4) << 20) /* see part_room() */

/* One file as an eviction candidate. */
struct entry {
	struct hash h;
	uint64_t size;
	int64_t mtime_ns; /* last use (blobs) */
	unsigned char kind;
	char tag[TAG_MAX]; /* KIND_TMP only */
};

static enum kind name_kind(const char *name, struct hash *h, char tag[TAG_MAX])
{
	char hex[HASH_HEX_LEN + 1];
	const char *rest = name + HASH_HEX_LEN;

	if (strnlen(name, HASH_HEX_LEN) < HASH_HEX_LEN)
		return KIND_OTHER;
	memcpy(hex, name, HASH_HEX_LEN);
	hex[HASH_HEX_LEN] = '\0';
	if (hash_from_hex(h, hex, NULL) < 0)
		return KIND_OTHER;
	if (!*rest)
		return KIND_BLOB;
	if (strcmp(rest, ".part") == 0)
		return KIND_PART;
	if (strncmp(rest, ".tmp-", 5) == 0 && strlen(rest + 5) < TAG_MAX) {
		memcpy(tag, rest + 5, strlen(rest + 5) + 1);
		return KIND_TMP;
	}
	return KIND_OTHER;
}

/* The entry's path into out (FILEIO_PATH_MAX); -1 when it does not fit
 * (a temporary file's tag in a very long directory: left alone). */
static int entry_path(const char *dir, const struct entry *e, char *out)
{
	static const char *suffix[] = {".tmp-", ".part", ""};
	char hex[HASH_HEX_LEN + 1];
	int k;

	hash_to_hex(&e->h, hex);
	k = snprintf(out, FILEIO_PATH_MAX, "%s/%s%s%s", dir, hex, suffix[e->kind],
		     e->kind == KIND_TMP ? e->tag : "");
	return k > 0 && k < FILEIO_PATH_MAX ? 0 : -1;
}

static void usage_add(struct blobcache_usage *u, enum kind k, uint64_t size)
{
	u->bytes += size;
	if (k == KIND_BLOB)
		u->blobs++, u->blob_bytes += size;
	else if (k == KIND_PART)
		u->parts++, u->part_bytes += size;
	else
		u->tmps++, u->tmp_bytes += size;
}

/* Reads dir: counts every cache file into u and, when out is not NULL,
 * lists the first BLOBCACHE_SCAN_MAX of them into *out (malloc'd, the
 * caller frees it; *n entries). A missing directory holds nothing. */
static int scan_dir(const char *dir, struct blobcache_usage *u, struct entry **out, size_t *n,
		    struct error *err)
{
	struct entry *e = NULL;
	size_t cap = 0, k = 0;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	memset(u, 0, sizeof(*u));
	if (!(d = opendir(dir)))
		return errno == ENOENT ? 0 : fileio_error(err, errno, "open", dir);
	while ((de = readdir(d))) {
		struct entry one;
		struct stat st;

		one.kind = (unsigned char)name_kind(de->d_name, &one.h, one.tag);
		if (one.kind == KIND_OTHER ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue; /* not ours, or gone meanwhile */
		one.size = (uint64_t)st.st_size;
		one.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		usage_add(u, (enum kind)one.kind, one.size);
		if (!out || k >= BLOBCACHE_SCAN_MAX)
			continue;
		if (k == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct entry *ne = realloc(e, ncap * sizeof(*e));

			if (!ne) {
				ret =
				    error_set(err, ERROR_NOMEM, "out of memory listing '%s'", dir);
				goto out;
			}
			e = ne;
			cap = ncap;
		}
		e[k++] = one;
	}
	if (out && k >= BLOBCACHE_SCAN_MAX)
		log_warn("blob cache '%s' holds over %u files: only the first are evicted", dir,
			 BLOBCACHE_SCAN_MAX);
out:
	closedir(d);
	if (ret < 0 || !out) {
		free(e);
		return ret;
	}
	*out = e;
	*n = k;
	return 0;
}

int blobcache_usage(const char *dir, struct blobcache_usage *u, struct error *err)
{
	return scan_dir(dir, u, NULL, NULL, err);
}

static int is_pinned(const struct blobcache *bc, const struct hash *h)
{
	for (size_t i = 0; i < bc->n_pins; i++)
		if (hash_equal(&bc->pins[i], h))
			return 1;
	return 0;
}

/* Temporary files, then .part files, then blobs by last use (oldest
 * first); ties by hash, so the order never depends on readdir's. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->kind == KIND_BLOB && x->mtime_ns != y->mtime_ns)
		return x->mtime_ns < y->mtime_ns ? -1 : 1;
	return memcmp(x->h.bytes, y->h.bytes, HASH_BYTES);
}

/* Evicts until the files other than keep's .part, plus need bytes, fit in
 * limit, or until nothing evictable is left. *others receives the bytes
 * of those other files afterwards (pinned ones included). */
static int cache_evict(const struct blobcache *bc, const struct hash *keep, uint64_t need,
		       uint64_t limit, uint64_t *others, struct error *err)
{
	struct blobcache_usage u;
	struct entry *e = NULL;
	uint64_t used, freed = 0;
	size_t n = 0, m = 0, gone = 0;
	int ret;

	if ((ret = scan_dir(bc->dir, &u, &e, &n, err)) < 0)
		return ret;
	used = u.bytes;
	for (size_t i = 0; i < n; i++) { /* keep the candidates only */
		if (e[i].kind == KIND_PART && keep && hash_equal(&e[i].h, keep))
			used -= e[i].size; /* the caller counts it in need */
		else if (e[i].kind == KIND_TMP || !is_pinned(bc, &e[i].h))
			e[m++] = e[i];
	}
	if (m > 1) /* e is NULL for an empty directory */
		qsort(e, m, sizeof(*e), entry_cmp);
	for (size_t i = 0; i < m && (need > limit || used > limit - need); i++) {
		char path[FILEIO_PATH_MAX];

		if (entry_path(bc->dir, &e[i], path) < 0)
			continue;
		if (unlink(path) != 0 && errno != ENOENT) {
			log_warn("cannot remove '%s' from the blob cache: %s", path,
				 strerror(errno));
			continue;
		}
		log_debug("evicted '%s' (%llu bytes)", path, (unsigned long long)e[i].size);
		used -= e[i].size;
		freed += e[i].size;
		gone++;
	}
	if (gone)
		log_info("blob cache: removed %zu file%s (%.1f MiB) to stay within %.1f MiB", gone,
			 gone == 1 ? "" : "s", (double)freed / 1048576.0,
			 (double)limit / 1048576.0);
	free(e);
	*others = used;
	return 0;
}

int blobcache_trim(struct blobcache *bc, uint64_t target, uint64_t *left, struct error *err)
{
	uint64_t l = 0;
	int ret = cache_evict(bc, NULL, 0, target, &l, err);

	if (left)
		*left = l;
	return ret;
}

/* The .part file as a download sink: checks the header once it is in,
 * then makes room for the blob before every write that would take the
 * cache over its budget, and checks the size cap on every write. */
struct part {
	int fd;
	uint64_t size, max;
	unsigned char head[BLOB_HEADER_BYTES];
	const struct blobcache *bc;
	const struct hash *want;
	struct error *err;
	int known;       /* the header was checked: raw is known */
	int full;        /* nothing more may be evicted */
	uint64_t raw;    /* the blob's raw size, from its header */
	uint64_t others; /* bytes of the cache's other files (last eviction) */
};

/* Evicts so that the other files, the blob's raw size and the .part with
 * len more bytes fit the budget (as far as eviction can go); refuses a
 * blob that cannot fit beside the pinned ones. */
static int part_room(struct part *p, size_t len)
{
	uint64_t budget = p->bc->budget, need = p->raw + p->size + len, ahead;
	int ret;

	if (p->known && (p->full || (need <= budget && p->others <= budget - need)))
		return 0;
	/* room for a little more than this write, so that a download over the
	 * budget scans the directory once per min(4 MiB, budget / 64), not per
	 * write; never beyond the .part's cap */
	ahead = budget / 64 < BLOBCACHE_AHEAD ? budget / 64 : BLOBCACHE_AHEAD;
	if (ahead > p->max - p->size - len)
		ahead = p->max - p->size - len;
	need += ahead;
	if ((ret = cache_evict(p->bc, p->want, need, budget, &p->others, p->err)) < 0)
		return ret;
	p->known = 1;
	p->full = need > budget || p->others > budget - need;
	if (p->others > budget - p->raw) /* raw <= budget: checked first */
		return error_set(p->err, ERROR_TOO_BIG,
				 "blob of %llu bytes does not fit the cache: blobs in use take "
				 "%llu of its %llu bytes (max-disk-mb)",
				 (unsigned long long)p->raw, (unsigned long long)p->others,
				 (unsigned long long)budget);
	return 0;
}

static int part_check_header(struct part *p)
{
	struct blob_header h;

	if (blob_peek_header(&h, p->head, BLOB_HEADER_BYTES, p->err) < 0)
		return ERROR_FORMAT;
	if (!hash_equal(&h.hash, p->want))
		return error_set(p->err, ERROR_HASH, "the server sent another blob's header");
	if (h.raw_size > p->bc->budget)
		return error_set(
		    p->err, ERROR_TOO_BIG,
		    "blob of %llu bytes is over the cache's budget of %llu (max-disk-mb)",
		    (unsigned long long)h.raw_size, (unsigned long long)p->bc->budget);
	p->raw = h.raw_size;
	p->known = 0; /* evict (or refuse) now */
	return part_room(p, 0);
}

static int part_write(void *ctx, const void *data, size_t len)
{
	struct part *p = ctx;
	uint64_t before = p->size;
	int ret;

	if (len > p->max - p->size)
		return error_set(p->err, ERROR_TOO_BIG, "blob container over %llu bytes",
				 (unsigned long long)p->max);
	if (p->known && (ret = part_room(p, len)) < 0)
		return ret;
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

/* Sets the blob's mtime, its last use, to now with the clock's full
 * resolution (the kernel's own "now" may tick only every few ms). */
static void mark_used(const char *path)
{
	struct timespec now[2];

	clock_gettime(CLOCK_REALTIME, &now[0]);
	now[1] = now[0];
	if (utimensat(AT_FDCWD, path, now, 0) != 0)
		log_debug("cannot mark '%s' used: %s", path, strerror(errno));
}

/* Decodes the complete .part into the cache. */
static int part_finish(struct blobcache *bc, const struct hash *h, const char *part,
		       struct error *err)
{
	struct blob_caps caps = {
	    .max_raw_size = bc->budget, .max_ratio = BLOB_DEFAULT_MAX_RATIO, .want = h};
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
		if (ret == 0)
			mark_used(path);
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

	blobcache_path(bc, h, NULL, part);
	if (access(part, F_OK) == 0) { /* cached: now is its last use */
		mark_used(part);
		return 0;
	}
	hash_to_hex(h, hex);
	snprintf(url, sizeof(url), "%s/api/v1/blobs/%s", base, hex);
	blobcache_path(bc, h, ".part", part);
	/* zlib's worst case is a few bytes per 16 KiB block over the raw size */
	p.max = bc->budget + bc->budget / 1000 + 4096 + BLOB_HEADER_BYTES;
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
		if (p.size >= BLOB_HEADER_BYTES && (ret = part_check_header(&p)) < 0)
			goto drop; /* also makes room for the rest */
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
