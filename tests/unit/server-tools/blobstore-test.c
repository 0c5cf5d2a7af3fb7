/*
 * blobstore-test.c - tests for server-tools/blobstore.c: layout under
 * blobs/ab/cdef..., verified writes (bad stream, wrong hash, size cap,
 * truncation leave nothing), dedupe, reads, and a writer killed with
 * SIGKILL half way leaving nothing behind but a temporary file that the
 * next open sweeps.
 */
#include "config.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server-tools/blobstore.h"
#include "tests/tap.h"

static char root[256], dir[300];

static int count_files(const char *path)
{
	struct dirent *e;
	DIR *d = opendir(path);
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void rm_rf(const char *path)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", path);
}

static unsigned char *make_raw(size_t len)
{
	unsigned char *p = malloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((i * 7) ^ (i >> 5));
	return p;
}

/* Feeds enc to a new writer in pieces and commits; returns the result. */
static int store(struct blobstore *bs, const unsigned char *enc, size_t len,
		 const struct blob_caps *caps, uint64_t max_stored, struct blob_header *hdr,
		 struct error *err)
{
	struct blobstore_writer *w = NULL;
	size_t off;
	int rc = blobstore_writer_new(bs, &w, caps, max_stored, err);

	for (off = 0; rc == 0 && off < len; off += 1000)
		rc = blobstore_writer_write(w, enc + off, len - off < 1000 ? len - off : 1000, err);
	if (rc == 0)
		rc = blobstore_writer_commit(w, hdr, NULL, err);
	blobstore_writer_free(w);
	return rc;
}

/* A second blob through the streaming writer: every refusal leaves
 * nothing behind, then the write with the expected hash succeeds. */
static void test_writer(struct blobstore *bs, unsigned char *raw, const char *tmpdir)
{
	struct blob_caps caps = {.max_raw_size = 1 << 20, .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	unsigned char *enc = NULL, *bad;
	struct blob_header hdr;
	struct error err;
	struct hash other;
	size_t enc_len;
	int rc;

	memset(&other, 0x5a, sizeof(other));
	raw[0] ^= 1;
	if (blob_encode_mem(raw, 50000, BLOB_CODEC_ZLIB, &enc, &enc_len, &hdr, &err) < 0)
		tap_skip_all("cannot encode: %s", err.msg);
	TAP_IS(store(bs, enc, enc_len, &caps, enc_len - 1, NULL, &err), ERROR_TOO_BIG,
	       "container over max_stored refused");
	TAP_OK(!blobstore_exists(bs, &hdr.hash), "nothing stored");
	caps.want = &other;
	TAP_IS(store(bs, enc, enc_len, &caps, enc_len, NULL, &err), ERROR_HASH,
	       "wrong expected hash refused");
	caps.want = NULL;
	caps.max_raw_size = 49999;
	TAP_IS(store(bs, enc, enc_len, &caps, enc_len, NULL, &err), ERROR_TOO_BIG,
	       "raw size over the cap refused");
	caps.max_raw_size = 1 << 20;
	TAP_OK(store(bs, enc, enc_len - 10, &caps, enc_len, NULL, &err) < 0,
	       "truncated container refused");
	bad = malloc(enc_len);
	memcpy(bad, enc, enc_len);
	bad[enc_len / 2] ^= 0x40;
	rc = store(bs, bad, enc_len, &caps, enc_len, NULL, &err);
	TAP_OK(rc < 0, "corrupted stream refused (%s)", err.msg);
	bad[enc_len / 2] ^= 0x40;
	bad[20] ^= 1; /* the header's hash */
	TAP_IS(store(bs, bad, enc_len, &caps, enc_len, NULL, &err), ERROR_HASH,
	       "content not matching its header's hash refused");
	free(bad);
	TAP_OK(!blobstore_exists(bs, &hdr.hash), "still nothing stored");
	TAP_IS(count_files(tmpdir), 0, "refused writes leave no temporary file");
	caps.want = &hdr.hash;
	TAP_IS(store(bs, enc, enc_len, &caps, enc_len, NULL, &err), 0,
	       "streamed write with the expected hash");
	TAP_OK(blobstore_exists(bs, &hdr.hash), "streamed blob stored");
	free(enc);
}

/* kill -9 in the middle of a write; returns the reopened store. */
static struct blobstore *test_kill9(struct blobstore *bs, unsigned char *raw, const struct hash *h,
				    const char *tmpdir)
{
	struct blob_caps caps = {.max_raw_size = 1 << 20, .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	struct error err;
	struct blob_header h3;
	unsigned char *enc3 = NULL;
	size_t len3;
	pid_t pid;
	int status;

	raw[1] ^= 1;
	if (blob_encode_mem(raw, 100000, BLOB_CODEC_STORED, &enc3, &len3, &h3, &err) < 0)
		tap_skip_all("cannot encode: %s", err.msg);
	caps.want = NULL;
	pid = fork();
	if (pid == 0) {
		struct blobstore_writer *w = NULL;
		if (blobstore_writer_new(bs, &w, &caps, len3, &err) == 0 &&
		    blobstore_writer_write(w, enc3, len3 / 2, &err) == 0)
			kill(getpid(), SIGKILL);
		_exit(1);
	}
	TAP_OK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) &&
		   WTERMSIG(status) == SIGKILL,
	       "writer killed with SIGKILL half way");
	TAP_IS(count_files(tmpdir), 1, "a temporary file is the only debris");
	TAP_OK(!blobstore_exists(bs, &h3.hash), "the half blob is not in the store");
	blobstore_free(bs);
	bs = NULL;
	TAP_IS(blobstore_open(&bs, dir, &err), 0, "reopen");
	TAP_IS(count_files(tmpdir), 0, "reopen swept the temporary file");
	TAP_OK(blobstore_exists(bs, h), "earlier blobs survive");
	free(enc3);
	return bs;
}

int main(void)
{
	struct blobstore *bs = NULL;
	struct error err;
	struct hash h, other;
	unsigned char *raw = make_raw(100000);
	char path[BLOBSTORE_PATH_MAX], hex[HASH_HEX_LEN + 1], tmpdir[400];
	struct stat st;
	uint64_t size, stored = 0;
	int fd;

	if (tap_tmpdir(root, sizeof(root)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(dir, sizeof(dir), "%s/blobs", root);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", dir);

	TAP_IS(blobstore_open(&bs, dir, &err), 0, "open creates the store");
	TAP_OK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700,
	       "store directory is 0700");

	TAP_IS(blobstore_put_mem(bs, raw, 100000, BLOB_CODEC_ZLIB, &h, &stored, &err), 0,
	       "put_mem");
	hash_buf(&other, raw, 100000);
	TAP_OK(hash_equal(&h, &other), "address is the hash of the raw content");
	hash_to_hex(&h, hex);
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, hex, hex + 2);
	TAP_OK(stat(path, &st) == 0 && (uint64_t)st.st_size == stored, "file at blobs/ab/cdef...");
	TAP_OK(blobstore_exists(bs, &h), "exists");
	TAP_IS(blobstore_get(bs, &h, &fd, &size, &err), 0, "get");
	TAP_IS(size, stored, "get reports the container size");
	{
		unsigned char head[BLOB_HEADER_BYTES];
		struct blob_header gh;
		TAP_OK(read(fd, head, sizeof(head)) == (ssize_t)sizeof(head) &&
			   blob_peek_header(&gh, head, sizeof(head), &err) == 0 &&
			   gh.raw_size == 100000 && hash_equal(&gh.hash, &h),
		       "stored file is the container");
		close(fd);
	}
	TAP_IS(blobstore_put_mem(bs, raw, 100000, BLOB_CODEC_STORED, &other, NULL, &err), 0,
	       "same content again (other codec) is a no-op");
	TAP_IS(count_files(tmpdir), 0, "no temporary files left");

	memset(&other, 0x5a, sizeof(other));
	TAP_OK(!blobstore_exists(bs, &other), "unknown blob does not exist");
	TAP_IS(blobstore_get(bs, &other, &fd, &size, &err), ERROR_NOT_FOUND, "get unknown blob");

	test_writer(bs, raw, tmpdir);
	bs = test_kill9(bs, raw, &h, tmpdir);
	blobstore_free(bs);
	blobstore_free(NULL);
	free(raw);
	rm_rf(root);
	return tap_done();
}
