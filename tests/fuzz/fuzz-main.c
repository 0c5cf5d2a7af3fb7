/*
 * fuzz-main.c - replays a fuzzer's corpus without libFuzzer.
 *
 * Built with a harness when configure has no --enable-fuzzing: feeds
 * every file of the corpus directory FUZZ_CORPUS (relative to $srcdir) to
 * LLVMFuzzerTestOneInput() and prints one TAP line per file, so that the
 * corpus runs under ASan/UBSan in every sanitizer build. A crash or an
 * abort() in the harness fails the test. With arguments, replays those
 * files instead (to reproduce a crash by hand).
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "tests/fuzz/fuzz.h"
#include "tests/tap.h"

#define FUZZ_INPUT_MAX (4u << 20)

static int fuzz_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fuzz_replay(const char *path)
{
	unsigned char *buf;
	size_t len;
	struct error err;

	if (fileio_read_all(path, FUZZ_INPUT_MAX, &buf, &len, &err) < 0) {
		tap_ok(0, "%s", err.msg);
		return;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	tap_ok(1, "%s (%zu bytes)", path, len);
}

int main(int argc, char **argv)
{
	const char *srcdir = getenv("srcdir");
	char dir[FILEIO_PATH_MAX], path[FILEIO_PATH_MAX + 256];
	char *names[1024];
	size_t n = 0, i;
	struct dirent *e;
	DIR *d;
	int a;

	if (argc > 1) {
		for (a = 1; a < argc; a++)
			fuzz_replay(argv[a]);
		return tap_done();
	}
	snprintf(dir, sizeof(dir), "%s/%s", srcdir ? srcdir : ".", FUZZ_CORPUS);
	d = opendir(dir);
	if (!d)
		tap_skip_all("no corpus directory '%s'", dir);
	while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0]))
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), fuzz_compare);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fuzz_replay(path);
		free(names[i]);
	}
	if (n == 0)
		tap_ok(0, "corpus '%s' is empty", dir);
	return tap_done();
}
