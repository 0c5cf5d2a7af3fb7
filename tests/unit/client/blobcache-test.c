/*
 * blobcache-test.c - the client's blob cache against a small crafted
 * libmicrohttpd server on 127.0.0.1: a download cut off mid-body is
 * resumed with Range and verified; a blob with another hash, a corrupted
 * body or a raw size over the cap is rejected and nothing is cached; a
 * server that ignores Range (200) restarts the file cleanly.
 */
#include "config.h"

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

enum mode { MODE_CUT, MODE_WHOLE, MODE_NO_RANGE };

static unsigned char *serve; /* the container served */
static size_t serve_len;
static enum mode mode;
static int requests;
static long long range_from = -1; /* start of the last Range seen */

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

	net_release(&n);
	net_global_cleanup();
	MHD_stop_daemon(d);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
