/*
 * tap.c - the TAP emitter behind tests/tap.h.
 *
 * Not thread safe: tests report from their main thread.
 */
#include "config.h"

#include "tests/tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int tap_count;
static int tap_failed;
static char tap_skip_reason[256];

int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tap_count++;
	if (tap_skip_reason[0]) {
		printf("ok %d # SKIP %s\n", tap_count, tap_skip_reason);
		tap_skip_reason[0] = '\0';
		fflush(stdout);
		return 1;
	}
	if (!cond)
		tap_failed++;
	printf("%s %d - ", cond ? "ok" : "not ok", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	return cond;
}

void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void tap_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tap_skip_reason, sizeof(tap_skip_reason), fmt, ap);
	va_end(ap);
	if (!tap_skip_reason[0])
		snprintf(tap_skip_reason, sizeof(tap_skip_reason), "skipped");
}

void tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	fputs("1..0 # SKIP ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(77);
}

int tap_done(void)
{
	printf("1..%d\n", tap_count);
	fflush(stdout);
	return tap_failed ? 1 : 0;
}

unsigned char *tap_read_srcfile(const char *relpath, size_t *len)
{
	const char *srcdir = getenv("srcdir");
	char path[4096];
	unsigned char *buf = NULL;
	FILE *f;
	long size;

	if (!srcdir)
		srcdir = ".";
	if (snprintf(path, sizeof(path), "%s/%s", srcdir, relpath) >= (int)sizeof(path))
		return NULL;
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)size + 1);
	if (!buf)
		goto out;
	if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[size] = '\0';
	*len = (size_t)size;
out:
	fclose(f);
	return buf;
}

int tap_tmpdir(char *buf, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp)
		tmp = "/tmp";
	if (snprintf(buf, size, "%s/agora-test-XXXXXX", tmp) >= (int)size)
		return -1;
	return mkdtemp(buf) ? 0 : -1;
}
