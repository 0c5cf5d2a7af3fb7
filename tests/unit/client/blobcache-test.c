/*
 * blobcache-test.c - the client's blob cache against a small crafted
 * libmicrohttpd server on 127.0.0.1: a download cut off mid-body is
 * resumed with Range and verified; a blob with another hash, a corrupted
 * body or a raw size over the cap is rejected and nothing is cached; a
 * server that ignores Range (200) restarts the file cleanly. The budget:
 * many fetches stay within it, least recently used blobs go first, pinned
 * blobs never go (a blob that cannot fit beside them is refused), stale
 * temporary and .part files go before any blob, trimming, usage counts,
 * and an evicted blob is fetched again.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "client/blobcache.h"
#include "client/net.h"
#include "tests/tap.h"
#include "workunits/blob.h"

enum mode { MODE_CUT, MODE_WHOLE, MODE_NO_RANGE, MODE_TABLE };

static unsigned char *serve; /* the container served */
static size_t serve_len;
static enum mode mode;
static int requests;
static long long range_from = -1; /* start of the last Range seen */

/* MODE_TABLE: blobs served by the hash in the URL (404 for others). */
#define TABLE_MAX 40
static struct served {
	char hex[HASH_HEX_LEN + 1];
	unsigned char *buf;
	size_t len;
} table[TABLE_MAX];
static int n_table;

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	size_t half = serve_len / 2;

	(void)cls;
	if (pos >= half)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* the server "dies" mid-body */
	if (max > half - pos)
		max = half - (size_t)pos;
	memcpy(buf, serve + pos, max);
	return (ssize_t)max;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *data,
			       size_t *data_size, void **ptr)
{
	const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
	struct MHD_Response *r;
	unsigned status = 200;
	size_t from = 0;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version, (void)data, (void)data_size, (void)ptr;
	requests++;
	if (mode == MODE_TABLE) {
		size_t ul = strlen(url);

		for (int i = 0; i < n_table; i++)
			if (ul >= HASH_HEX_LEN &&
			    strcmp(url + ul - HASH_HEX_LEN, table[i].hex) == 0) {
				r = MHD_create_response_from_buffer(table[i].len, table[i].buf,
								    MHD_RESPMEM_PERSISTENT);
				ret = MHD_queue_response(conn, 200, r);
				MHD_destroy_response(r);
				return ret;
			}
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, 404, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (range && strncmp(range, "bytes=", 6) == 0) {
		range_from = strtoll(range + 6, NULL, 10);
		if (mode != MODE_NO_RANGE && (size_t)range_from < serve_len) {
			from = (size_t)range_from;
			status = 206;
		}
	}
	if (mode == MODE_CUT && requests == 1)
		r = MHD_create_response_from_callback(serve_len, 4096, cut_reader, NULL, NULL);
	else
		r = MHD_create_response_from_buffer(
		    serve_len - from, serve + from,
		    MHD_RESPMEM_MUST_COPY); /* the client may hang up early */
	if (status == 206) {
		char cr[96];
		snprintf(cr, sizeof(cr), "bytes %zu-%zu/%zu", from, serve_len - 1, serve_len);
		MHD_add_response_header(r, "Content-Range", cr);
	}
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((i * 31 + seed * 17 + (i >> 7)) & 0xff);
}

static int part_exists(struct blobcache *bc, const struct hash *h)
{
	char path[FILEIO_PATH_MAX];

	blobcache_path(bc, h, ".part", path);
	return access(path, F_OK) == 0;
}

/* Adds a stored blob of len raw bytes to the table; its hash into h. */
static void table_add(unsigned seed, size_t len, struct hash *h)
{
	static unsigned char raw[80000];
	struct blob_header hdr;
	struct error err;

	if (n_table >= TABLE_MAX || len > sizeof(raw))
		tap_skip_all("test table full");
	fill(raw, len, seed);
	if (blob_encode_mem(raw, len, BLOB_CODEC_STORED, &table[n_table].buf, &table[n_table].len,
			    &hdr, &err) < 0)
		tap_skip_all("encode: %s", err.msg);
	hash_to_hex(&hdr.hash, table[n_table].hex);
	*h = hdr.hash;
	n_table++;
}

static void set_mtime(struct blobcache *bc, const struct hash *h, time_t t)
{
	char path[FILEIO_PATH_MAX];
	struct timespec ts[2] = {{t, 0}, {t, 0}};

	blobcache_path(bc, h, NULL, path);
	if (utimensat(AT_FDCWD, path, ts, 0) != 0)
		tap_diag("cannot set the time of '%s'", path);
}

static time_t mtime_of(struct blobcache *bc, const struct hash *h)
{
	char path[FILEIO_PATH_MAX];
	struct stat st;

	blobcache_path(bc, h, NULL, path);
	return stat(path, &st) == 0 ? st.st_mtime : 0;
}

static uint64_t used(struct blobcache *bc)
{
	struct blobcache_usage u;

	return blobcache_usage(bc->dir, &u, NULL) == 0 ? u.bytes : UINT64_MAX;
}

/* Writes a file of len bytes at dir/name (debris planted by a test). */
static int plant(const char *dir, const char *name, size_t len)
{
	char path[FILEIO_PATH_MAX], zero[4096] = {0};
	int fd, ok = 1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	for (size_t at = 0; at < len; at += sizeof(zero)) {
		size_t k = len - at < sizeof(zero) ? len - at : sizeof(zero);
		ok = ok && write(fd, zero, k) == (ssize_t)k;
	}
	close(fd);
	return ok;
}

static int exists(const char *dir, const char *name)
{
	char path[FILEIO_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* A fresh cache directory dir/name with the given budget. */
static void cache_open(struct blobcache *bc, const char *dir, const char *name, uint64_t budget)
{
	char path[300];
	struct error err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (blobcache_init(bc, path, budget, &err) < 0)
		tap_skip_all("cache: %s", err.msg);
}

#define BLOB_RAW 20000 /* stored: a .part of 20048 bytes */
#define BUDGET   110000

/* Twenty blobs of 20000 bytes through a 110000-byte budget: every fetch
 * succeeds, the cache never ends above the budget, every file left is
 * the content its name says. */
static void test_many(struct net *n, const char *base, const char *dir)
{
	struct blobcache bc;
	struct hash h[20];
	struct error err;
	int ok = 1, max_blobs = 0;
	uint64_t worst = 0;

	cache_open(&bc, dir, "many", BUDGET);
	for (int i = 0; i < 20; i++) {
		struct blobcache_usage u;

		table_add(100 + (unsigned)i, BLOB_RAW, &h[i]);
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0 &&
		     blobcache_has(&bc, &h[i]) && blobcache_usage(bc.dir, &u, NULL) == 0;
		if (!ok)
			break;
		set_mtime(&bc, &h[i], 1000000 + i); /* any file system's resolution */
		worst = u.bytes > worst ? u.bytes : worst;
		max_blobs = (int)u.blobs > max_blobs ? (int)u.blobs : max_blobs;
	}
	TAP_OK(ok, "twenty fetches through a budget of five blobs all succeed");
	TAP_OK(worst <= BUDGET, "the cache never ends a fetch above its budget (%llu bytes)",
	       (unsigned long long)worst);
	TAP_IS(max_blobs, 4, "it holds four blobs: room for a fifth and its .part");
	for (int i = 0; i < 20; i++) {
		char path[FILEIO_PATH_MAX];
		struct hash got;

		blobcache_path(&bc, &h[i], NULL, path);
		if (blobcache_has(&bc, &h[i]))
			ok = ok && hash_file(&got, path, NULL) == 0 && hash_equal(&got, &h[i]);
	}
	TAP_OK(ok, "every blob left holds the content its name says");
	TAP_OK(blobcache_has(&bc, &h[19]) && blobcache_has(&bc, &h[16]) &&
		   !blobcache_has(&bc, &h[15]),
	       "the four most recent are the ones kept");
	requests = 0;
	TAP_IS(blobcache_fetch(&bc, n, base, &h[0], &err), 0, "an evicted blob is fetched again");
	TAP_IS(requests, 1, "with one request");
}

/* Least recently used first; a fetch of a cached blob counts as a use. */
static void test_lru(struct net *n, const char *base, const char *dir)
{
	struct blobcache bc;
	struct hash h[5];
	struct error err;
	int ok = 1;

	cache_open(&bc, dir, "lru", BUDGET);
	for (int i = 0; i < 5; i++)
		table_add(200 + (unsigned)i, BLOB_RAW, &h[i]);
	for (int i = 0; i < 4; i++) {
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0;
		set_mtime(&bc, &h[i], 1000000 + 1000 * i); /* h0 oldest .. h3 newest */
	}
	TAP_OK(ok, "four blobs cached, last used in the order 0, 1, 2, 3");
	requests = 0;
	TAP_OK(blobcache_fetch(&bc, n, base, &h[0], &err) == 0 && requests == 0 &&
		   mtime_of(&bc, &h[0]) > 1000000 + 3000,
	       "fetching a cached blob makes it the most recently used");
	TAP_IS(blobcache_fetch(&bc, n, base, &h[4], &err), 0, "a fifth blob is fetched");
	TAP_OK(!blobcache_has(&bc, &h[1]), "the least recently used blob (1) is evicted");
	TAP_OK(blobcache_has(&bc, &h[0]) && blobcache_has(&bc, &h[2]) &&
		   blobcache_has(&bc, &h[3]) && blobcache_has(&bc, &h[4]),
	       "only it: 0 (used again), 2, 3 and the new one stay");
	TAP_OK(used(&bc) <= BUDGET, "within the budget");

	/* trimming to a target, oldest first */
	set_mtime(&bc, &h[3], 1000000);
	TAP_IS(blobcache_trim(&bc, 50000, NULL, &err), 0, "trim to 50000 bytes");
	TAP_OK(!blobcache_has(&bc, &h[3]) && !blobcache_has(&bc, &h[2]) &&
		   blobcache_has(&bc, &h[0]) && blobcache_has(&bc, &h[4]),
	       "the two least recently used went (3, then 2)");
	TAP_OK(used(&bc) <= 50000, "the cache is at most the target");
}

/* Pinned blobs never go; a blob that cannot fit beside them is refused. */
static void test_pins(struct net *n, const char *base, const char *dir)
{
	struct blobcache bc;
	struct hash h[7];
	struct error err;
	int ok = 1;

	cache_open(&bc, dir, "pins", BUDGET);
	for (int i = 0; i < 7; i++)
		table_add(300 + (unsigned)i, BLOB_RAW, &h[i]);
	for (int i = 0; i < 4; i++) {
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0;
		set_mtime(&bc, &h[i], 1000000 + 1000 * i);
	}
	TAP_OK(ok, "four blobs cached");
	blobcache_pin(&bc, h, 2); /* the two oldest */
	TAP_IS(blobcache_fetch(&bc, n, base, &h[4], &err), 0, "a fifth blob is fetched");
	TAP_OK(blobcache_has(&bc, &h[0]) && blobcache_has(&bc, &h[1]) && !blobcache_has(&bc, &h[2]),
	       "the pinned oldest stay, the oldest unpinned one goes");
	TAP_IS(blobcache_trim(&bc, 0, NULL, &err), 0, "trim to nothing");
	TAP_OK(blobcache_has(&bc, &h[0]) && blobcache_has(&bc, &h[1]) &&
		   !blobcache_has(&bc, &h[3]) && !blobcache_has(&bc, &h[4]),
	       "leaves exactly the pinned blobs");
	ok = 1;
	blobcache_pin(&bc, h, 5);
	for (int i = 2; i < 5; i++)
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0;
	TAP_OK(ok && used(&bc) == 5 * BLOB_RAW, "five pinned blobs fill the cache");
	TAP_IS(blobcache_fetch(&bc, n, base, &h[5], &err), ERROR_TOO_BIG,
	       "a blob that cannot fit beside the pinned ones is refused");
	tap_diag("  %s", err.msg);
	TAP_OK(!blobcache_has(&bc, &h[5]) && !part_exists(&bc, &h[5]) && used(&bc) == 5 * BLOB_RAW,
	       "nothing kept, nothing pinned removed");
	blobcache_pin(&bc, h, 4);
	TAP_IS(blobcache_fetch(&bc, n, base, &h[5], &err), 0, "unpinning one makes room again");
	TAP_OK(!blobcache_has(&bc, &h[4]) && used(&bc) <= BUDGET, "it went, within the budget");
	blobcache_pin(&bc, NULL, 0);
}

/* Temporary files and other blobs' .part files go before any blob; a
 * pinned blob's .part stays. */
static void test_debris(struct net *n, const char *base, const char *dir)
{
	struct blobcache bc;
	struct blobcache_usage u;
	struct hash h[3], x, y;
	char tmp_name[100], xpart[100], ypart[100], hex[HASH_HEX_LEN + 1];
	struct error err;
	int ok = 1;

	cache_open(&bc, dir, "debris", BUDGET);
	for (int i = 0; i < 3; i++)
		table_add(400 + (unsigned)i, BLOB_RAW, &h[i]);
	hash_buf(&x, "x", 1);
	hash_buf(&y, "y", 1);
	for (int i = 0; i < 2; i++) {
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0;
		set_mtime(&bc, &h[i], 1000000 + 1000 * i);
	}
	hash_to_hex(&x, hex);
	snprintf(tmp_name, sizeof(tmp_name), "%s.tmp-4242-1", hex);
	snprintf(xpart, sizeof(xpart), "%s.part", hex);
	hash_to_hex(&y, hex);
	snprintf(ypart, sizeof(ypart), "%s.part", hex);
	ok = ok && plant(bc.dir, tmp_name, 5000) && plant(bc.dir, xpart, 20000) &&
	     plant(bc.dir, ypart, 15000) && plant(bc.dir, "notes.txt", 50000);
	TAP_OK(ok && blobcache_usage(bc.dir, &u, NULL) == 0 && u.bytes == 80000 && u.blobs == 2 &&
		   u.parts == 2 && u.tmps == 1 && u.tmp_bytes == 5000,
	       "usage counts blobs, .part and temporary files, not other names");
	blobcache_pin(&bc, &y, 1);
	/* 80000 + 20000 + its .part 20048 is 10048 over: the temporary file
	 * (5000) and x's .part (20000) go, y's pinned .part and every blob stay */
	TAP_IS(blobcache_fetch(&bc, n, base, &h[2], &err), 0, "a third blob is fetched");
	TAP_OK(!exists(bc.dir, tmp_name) && !exists(bc.dir, xpart),
	       "the temporary file and the stale .part went first");
	TAP_OK(exists(bc.dir, ypart) && exists(bc.dir, "notes.txt"),
	       "a pinned blob's .part and a file not of the cache stay");
	TAP_OK(blobcache_has(&bc, &h[0]) && blobcache_has(&bc, &h[1]) && blobcache_has(&bc, &h[2]),
	       "no blob was evicted");
	blobcache_pin(&bc, NULL, 0);
}

/* A blob alone over the budget is refused from its header, evicting
 * nothing. */
static void test_oversized(struct net *n, const char *base, const char *dir)
{
	struct blobcache bc;
	struct hash h[2], big;
	struct error err;
	int ok = 1;

	cache_open(&bc, dir, "big", 70000);
	for (int i = 0; i < 2; i++) {
		table_add(500 + (unsigned)i, BLOB_RAW, &h[i]);
		ok = ok && blobcache_fetch(&bc, n, base, &h[i], &err) == 0;
	}
	table_add(502, 70001, &big);
	TAP_OK(ok, "two blobs cached");
	TAP_IS(blobcache_fetch(&bc, n, base, &big, &err), ERROR_TOO_BIG,
	       "a blob one byte over the whole budget is refused");
	tap_diag("  %s", err.msg);
	TAP_OK(!blobcache_has(&bc, &big) && !part_exists(&bc, &big) && blobcache_has(&bc, &h[0]) &&
		   blobcache_has(&bc, &h[1]),
	       "nothing kept and nothing evicted for it");
}

int main(void)
{
	struct MHD_Daemon *d;
	struct blobcache bc;
	struct net n;
	struct error err;
	struct blob_header hdr, other;
	unsigned char raw[200000], back[64], *wrong = NULL;
	size_t wrong_len;
	char dir[256], cache[300], base[64], cmd[300];
	const union MHD_DaemonInfo *info;
	int ret;

	if (tap_tmpdir(dir, sizeof(dir)) < 0 || net_global_init() < 0)
		tap_skip_all("no scratch directory");
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
			     MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	if (!d)
		tap_skip_all("cannot start a test server");
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)info->port);
	snprintf(cache, sizeof(cache), "%s/blobs", dir);
	error_clear(&err);
	if (blobcache_init(&bc, cache, 100000, &err) < 0 || net_init(&n, NULL, &err) < 0)
		tap_skip_all("setup: %s", err.msg);

	/* resumed download: the server stops after half the body */
	fill(raw, 90000, 1);
	if (blob_encode_mem(raw, 90000, BLOB_CODEC_STORED, &serve, &serve_len, &hdr, &err) < 0)
		tap_skip_all("encode: %s", err.msg);
	mode = MODE_CUT;
	ret = blobcache_fetch(&bc, &n, base, &hdr.hash, &err);
	TAP_IS(ret, ERROR_NET, "a server stopping mid-body fails the fetch");
	TAP_OK(part_exists(&bc, &hdr.hash) && !blobcache_has(&bc, &hdr.hash),
	       "the partial download is kept, nothing is cached");
	ret = blobcache_fetch(&bc, &n, base, &hdr.hash, &err);
	TAP_IS(ret, 0, "the next fetch completes");
	TAP_IS(range_from, (long long)serve_len / 2, "it asked for the rest with Range");
	TAP_OK(blobcache_has(&bc, &hdr.hash) && !part_exists(&bc, &hdr.hash),
	       "the verified blob is cached, the .part gone");
	TAP_OK(blobcache_read(&bc, &hdr.hash, 1000, back, sizeof(back), &err) == 0 &&
		   memcmp(back, raw + 1000, sizeof(back)) == 0,
	       "its raw content reads back");
	requests = 0;
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), 0,
	       "a cached blob is not fetched again");
	TAP_IS(requests, 0, "no request made");
	free(serve);

	/* another blob's container under the asked-for name */
	fill(raw, 5000, 2);
	if (blob_encode_mem(raw, 5000, BLOB_CODEC_ZLIB, &wrong, &wrong_len, &other, &err) < 0)
		tap_skip_all("cannot encode a blob");
	fill(raw, 5000, 3);
	if (blob_encode_mem(raw, 5000, BLOB_CODEC_ZLIB, &serve, &serve_len, &hdr, &err) < 0)
		tap_skip_all("encode");
	free(serve);
	serve = wrong;
	serve_len = wrong_len;
	mode = MODE_WHOLE;
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), ERROR_HASH,
	       "a blob whose hash does not match is rejected");
	tap_diag("  %s", err.msg);
	TAP_OK(!blobcache_has(&bc, &hdr.hash) && !part_exists(&bc, &hdr.hash), "nothing kept");

	/* the right header, corrupted content */
	free(serve);
	fill(raw, 5000, 4);
	if (blob_encode_mem(raw, 5000, BLOB_CODEC_STORED, &serve, &serve_len, &hdr, &err) < 0)
		tap_skip_all("cannot encode a blob");
	serve[BLOB_HEADER_BYTES + 100] ^= 1;
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), ERROR_HASH,
	       "corrupted content is rejected at the end");
	TAP_OK(!blobcache_has(&bc, &hdr.hash) && !part_exists(&bc, &hdr.hash), "nothing kept");

	/* over the size cap */
	free(serve);
	fill(raw, 150000, 5);
	if (blob_encode_mem(raw, 150000, BLOB_CODEC_ZLIB, &serve, &serve_len, &hdr, &err) < 0)
		tap_skip_all("cannot encode a blob");
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), ERROR_TOO_BIG,
	       "an oversized blob is rejected from its header");
	TAP_OK(!blobcache_has(&bc, &hdr.hash) && !part_exists(&bc, &hdr.hash), "nothing kept");

	/* a server that ignores Range: the .part restarts from byte 0 */
	free(serve);
	fill(raw, 60000, 6);
	if (blob_encode_mem(raw, 60000, BLOB_CODEC_STORED, &serve, &serve_len, &hdr, &err) < 0)
		tap_skip_all("cannot encode a blob");
	mode = MODE_CUT;
	requests = 0;
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), ERROR_NET, "cut off again");
	mode = MODE_NO_RANGE;
	TAP_IS(blobcache_fetch(&bc, &n, base, &hdr.hash, &err), 0,
	       "a 200 answer to a Range request restarts the file and verifies");
	TAP_OK(blobcache_read(&bc, &hdr.hash, 59000, back, sizeof(back), &err) == 0 &&
		   memcmp(back, raw + 59000, sizeof(back)) == 0,
	       "content intact");
	free(serve);
	serve = NULL;

	mode = MODE_TABLE;
	test_many(&n, base, dir);
	test_lru(&n, base, dir);
	test_pins(&n, base, dir);
	test_debris(&n, base, dir);
	test_oversized(&n, base, dir);
	for (int i = 0; i < n_table; i++)
		free(table[i].buf);

	net_release(&n);
	net_global_cleanup();
	MHD_stop_daemon(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
