/*
 * log.c - one-line diagnostics to stderr (see log.h).
 *
 * Each message is formatted into a bounded stack buffer and written with a
 * single write(2), so lines from concurrent threads or processes sharing
 * stderr do not interleave. Longer messages are truncated, never split.
 */
#include "config.h"

#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_LINE_MAX 1024

static const char *log_progname = "agora";
static enum log_level log_max = LOG_LEVEL_INFO;
static int log_journal = -1; /* -1: not yet probed */

void log_init(const char *progname, enum log_level max_level)
{
	if (progname) {
		const char *slash = strrchr(progname, '/');
		log_progname = slash ? slash + 1 : progname;
	}
	log_max = max_level;
}

/* 1 when stderr is the journal's stream: systemd sets JOURNAL_STREAM to
 * "DEV:INODE" of the stream it connects, and children inherit it even
 * when their stderr goes elsewhere (BOINC runs agora-boinc with stderr
 * in a file), so the variable alone is not enough. */
static int log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int n = 0;

	return v && sscanf(v, "%llu:%llu%n", &dev, &ino, &n) == 2 && v[n] == '\0' &&
	       fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void log_set_level(enum log_level max_level)
{
	log_max = max_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	size_t len = 0;
	va_list ap;
	int n;

	if (level > log_max)
		return;
	if (log_journal < 0)
		log_journal = log_stderr_is_journal();

	if (log_journal)
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	else
		n = snprintf(line, sizeof(line), "%s: ", log_progname);
	if (n > 0)
		len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;

	va_start(ap, fmt);
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';

	/* One write per line; a short write to stderr is not worth retrying. */
	if (write(STDERR_FILENO, line, len) < 0)
		return;
}
