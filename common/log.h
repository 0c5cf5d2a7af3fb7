/*
 * log.h - one-line diagnostics for every Agora program.
 *
 * Messages follow the house style: lowercase, what failed first, the
 * subject quoted ("cannot open 'state.db': permission denied"). Each line
 * goes to stderr prefixed with the program name set by log_init(). When
 * stderr is systemd's journal stream (JOURNAL_STREAM names its device and
 * inode) the prefix is a syslog level instead ("<3>") so the journal
 * records the severity.
 */
#ifndef AGORA_COMMON_LOG_H
#define AGORA_COMMON_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 3,
	LOG_LEVEL_WARN = 4,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Sets the program name (not copied: pass a string that outlives logging)
 * and the most verbose level printed. */
void log_init(const char *progname, enum log_level max_level);
void log_set_level(enum log_level max_level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
