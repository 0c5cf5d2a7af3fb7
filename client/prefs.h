/*
 * prefs.h - the volunteer's preferences: when and how much agora-client may
 * compute (docs/DESKTOP.md lists every key).
 *
 * One file, STATE/prefs.conf: `key = value` lines, `#` starts a comment,
 * blank lines ignored; every key is also a flag of `agora-client run`
 * (`--idle-minutes 5` is `idle-minutes = 5`). Precedence: a flag beats the
 * file, the file beats the default. Parsing is strict: an unknown key, a
 * key given twice in the file, or a value out of range is an error naming
 * file:line (or the flag). Each value remembers where it came from, which
 * `agora-client prefs` prints.
 */
#ifndef AGORA_CLIENT_PREFS_H
#define AGORA_CLIENT_PREFS_H

#include <stdio.h>

#include "common/error.h"

#define PREFS_FILE     "prefs.conf"
#define PREFS_LINE_MAX 1024 /* longest line of the file */
#define PREFS_FILE_MAX (64u * 1024)

enum prefs_key {
	PREFS_IDLE_MINUTES,
	PREFS_IDLE_ONLY,
	PREFS_USE_GPU,
	PREFS_USE_CPU,
	PREFS_CPU_PERCENT,
	PREFS_PAUSE_ON_BATTERY,
	PREFS_MAX_TEMP_C,
	PREFS_HOURS,
	PREFS_MAX_DISK_MB,
	PREFS_MAX_MEMORY_MB,
	PREFS_N_KEYS
};

enum prefs_source { PREFS_SRC_DEFAULT, PREFS_SRC_FILE, PREFS_SRC_FLAG };

struct prefs {
	double idle_s;         /* idle-minutes, in seconds: input-free time before computing */
	int idle_only;         /* compute only while the user is idle */
	int use_gpu, use_cpu;  /* which devices may compute */
	int cpu_percent;       /* duty cycle, 1..100 */
	int pause_on_battery;  /* no computing while on battery */
	int max_temp_c;        /* pause above this CPU temperature (0: never) */
	int hours_from, hours_to; /* allowed minutes of the day [from, to); wraps past
				   * midnight when from > to; from == to: all day */
	long max_disk_mb;      /* budget of the whole blob cache, and so the largest
				* blob (MiB; client/blobcache.h) */
	long max_memory_mb;    /* largest unit memory (MiB, parameters + optimizer +
				* activations); 0: no limit */
	/* where each value came from */
	enum prefs_source src[PREFS_N_KEYS];
	int line[PREFS_N_KEYS]; /* file line for PREFS_SRC_FILE */
	char file[256];         /* the file read (for messages) */
};

/* The defaults (see docs/DESKTOP.md). */
void prefs_defaults(struct prefs *p);

/* The key's name ("idle-minutes"), NULL past the end. */
const char *prefs_key_name(enum prefs_key k);

/* Sets key name (without "--") from text; src and line are recorded. A
 * value set by a flag is not replaced by the file. ERROR_NOT_FOUND for
 * an unknown key, ERROR_RANGE/ERROR_FORMAT for a bad value (message
 * without location: callers add it). */
int prefs_set(struct prefs *p, const char *name, const char *value, enum prefs_source src,
	      int line, struct error *err) __attribute__((warn_unused_result));

/* Parses a whole file's text (path only names it in messages). Keys set
 * by flags are checked but kept. Errors read "PATH:LINE: ...". */
int prefs_parse(struct prefs *p, const char *path, const char *text, size_t len,
		struct error *err) __attribute__((warn_unused_result));

/* Reads STATE/prefs.conf into p (absent: nothing changes, 0); the file
 * named by $AGORA_PREFS_FILE instead when that is set (it must exist; the
 * test suite uses it, and a system install may point it at /etc). */
int prefs_load(struct prefs *p, const char *state, struct error *err)
    __attribute__((warn_unused_result));

/* Takes argv[*i] if it is a preference flag (`--KEY VALUE`): 1 and *i
 * advanced past the value, 0 when it is not one, -1 on a bad value (the
 * error logged). */
int prefs_take_flag(struct prefs *p, int argc, char **argv, int *i);

/* The value of key k as text ("yes", "08:00-18:00", ...) into buf. */
void prefs_format(const struct prefs *p, enum prefs_key k, char *buf, size_t cap);

/* Prints every key, its value and its origin (default / file:line / flag). */
void prefs_show(const struct prefs *p, FILE *f);

/* The `agora-client prefs [--state DIR] [flags]` command. */
int prefs_cli(int argc, char **argv);

#endif
