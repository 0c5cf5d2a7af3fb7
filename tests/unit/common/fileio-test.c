/*
 * fileio-test.c - common/fileio and common/hex: capped reads (files and
 * pipes, exact cap, one over), atomic writes (mode from creation, no
 * replace, no debris on failure), errno messages, strict hex.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/hex.h"
#include "tests/tap.h"

static char dir[256];

static int count_entries(void)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void test_read(void)
{
	char path[300];
	unsigned char *buf;
	size_t len;
	struct error err;
	int fds[2];

	snprintf(path, sizeof(path), "%s/ten", dir);
	TAP_IS(fileio_write_atomic(path, "0123456789", 10, 0644, 0, &err), 0, "write 10 bytes");
	TAP_IS(fileio_read_all(path, 10, &buf, &len, &err), 0, "read with cap 10");
	tap_ok(len == 10 && memcmp(buf, "0123456789", 10) == 0 && buf[10] == '\0',
	       "contents, NUL-terminated");
	free(buf);
	error_clear(&err);
	TAP_IS(fileio_read_all(path, 9, &buf, &len, &err), ERROR_TOO_BIG, "cap 9 refuses it");
	tap_ok(buf == NULL && strstr(err.msg, "too large") != NULL, "message: %s", err.msg);

	/* A pipe has no size to check up front: the read stops at cap + 1. */
	if (pipe(fds) == 0) {
		if (write(fds[1], "abcdefghijkl", 12) != 12)
			tap_diag("short write to pipe");
		close(fds[1]);
		TAP_IS(fileio_read_fd(fds[0], "pipe", 11, &buf, &len, &err), ERROR_TOO_BIG,
		       "pipe over the cap refused");
		close(fds[0]);
	}
	snprintf(path, sizeof(path), "%s/empty", dir);
	TAP_IS(fileio_write_atomic(path, "", 0, 0644, 0, &err), 0, "write an empty file");
	TAP_IS(fileio_read_all(path, 0, &buf, &len, &err), 0, "read it with cap 0");
	tap_ok(buf != NULL && len == 0, "empty buffer, not NULL");
	free(buf);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ten", dir);
	unlink(path);

	snprintf(path, sizeof(path), "%s/missing", dir);
	error_clear(&err);
	TAP_IS(fileio_read_all(path, 10, &buf, &len, &err), ERROR_NOT_FOUND, "missing file");
	tap_ok(strstr(err.msg, "cannot open '") && strstr(err.msg, "no such file or directory"),
	       "lowercase errno message: %s", err.msg);
}

static void test_write(void)
{
	char path[300], bad[300];
	unsigned char *buf;
	size_t len;
	struct error err;
	struct stat st;

	snprintf(path, sizeof(path), "%s/secret", dir);
	TAP_IS(fileio_write_atomic(path, "s3", 2, 0600, FILEIO_NO_REPLACE, &err), 0, "write 0600");
	tap_ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "mode is 0600");
	error_clear(&err);
	TAP_IS(fileio_write_atomic(path, "xx", 2, 0600, FILEIO_NO_REPLACE, &err), ERROR_STATE,
	       "no-replace refuses an existing file");
	tap_ok(strstr(err.msg, "already exists") != NULL, "message: %s", err.msg);
	TAP_IS(fileio_read_all(path, 10, &buf, &len, &err), 0, "read back");
	tap_ok(len == 2 && memcmp(buf, "s3", 2) == 0, "old contents kept");
	free(buf);
	TAP_IS(fileio_write_atomic(path, "new", 3, 0600, 0, &err), 0, "replace");
	TAP_IS(fileio_read_all(path, 10, &buf, &len, &err), 0, "read back");
	tap_ok(len == 3 && memcmp(buf, "new", 3) == 0, "new contents");
	free(buf);
	TAP_IS(count_entries(), 1, "no temporary files left behind");
	unlink(path);

	snprintf(bad, sizeof(bad), "%s/no/such/dir/file", dir);
	error_clear(&err);
	tap_ok(fileio_write_atomic(bad, "x", 1, 0644, 0, &err) < 0 && err.msg[0],
	       "write into a missing directory fails: %s", err.msg);
}

static void test_hex(void)
{
	unsigned char out[3];
	char text[7];

	hex_encode(text, "\x00\xab\xff", 3);
	tap_ok(strcmp(text, "00abff") == 0, "hex_encode");
	TAP_IS(hex_decode(out, 3, "00abff", 6), 0, "hex_decode");
	tap_ok(memcmp(out, "\x00\xab\xff", 3) == 0, "round trip");
	TAP_IS(hex_decode(out, 3, "00ABff", 6), ERROR_FORMAT, "uppercase refused");
	TAP_IS(hex_decode(out, 3, "00abf", 5), ERROR_FORMAT, "odd length refused");
	TAP_IS(hex_decode(out, 3, "00abffee", 8), ERROR_FORMAT, "wrong length refused");
	TAP_IS(hex_decode(out, 3, "00ab f", 6), ERROR_FORMAT, "space refused");
}

int main(void)
{
	if (tap_tmpdir(dir, sizeof(dir)) != 0)
		tap_skip_all("cannot create a scratch directory");
	test_read();
	test_write();
	test_hex();
	rmdir(dir);
	return tap_done();
}
