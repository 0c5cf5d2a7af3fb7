/*
 * prefs.c - the preferences file, the matching flags, and `agora-client
 * prefs` (see prefs.h). One table lists every key with its kind, range,
 * default and help; parsing, defaults and display all go through it.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "client/prefs.h"
#include "client/state.h"
#include "common/fileio.h"
#include "common/log.h"

enum kind { K_BOOL, K_INT, K_MINUTES, K_HOURS };

struct keydef {
	const char *name;
	enum kind kind;
	long lo, hi;
	const char *def; /* default, parsed like the file's text */
	const char *help;
};

static const struct keydef keys[PREFS_N_KEYS] = {
    [PREFS_IDLE_MINUTES] = {"idle-minutes", K_MINUTES, 0, 1440, "3",
			    "minutes without keyboard or mouse input before computing (decimals allowed)"},
    [PREFS_IDLE_ONLY] = {"idle-only", K_BOOL, 0, 1, "yes",
			 "compute only while the user is idle"},
    [PREFS_USE_GPU] = {"use-gpu", K_BOOL, 0, 1, "yes", "compute on OpenCL devices"},
    [PREFS_USE_CPU] = {"use-cpu", K_BOOL, 0, 1, "yes", "compute on the CPU (C reference)"},
    [PREFS_CPU_PERCENT] = {"cpu-percent", K_INT, 1, 100, "100",
			   "duty cycle: share of wall time spent computing"},
    [PREFS_PAUSE_ON_BATTERY] = {"pause-on-battery", K_BOOL, 0, 1, "yes",
				"no computing while on battery"},
    [PREFS_MAX_TEMP_C] = {"max-temp-c", K_INT, 0, 150, "85",
			  "pause above this CPU temperature, degrees C (0: never)"},
    [PREFS_HOURS] = {"hours", K_HOURS, 0, 0, "any",
		     "allowed hours, HH[:MM]-HH[:MM] (wraps past midnight) or any"},
    [PREFS_MAX_DISK_MB] = {"max-disk-mb", K_INT, 16, 1048576, "1024",
			   "disk budget of the blob cache, MiB (least recently used blobs go)"},
    [PREFS_MAX_MEMORY_MB] = {"max-memory-mb", K_INT, 0, 1048576, "0",
			     "largest unit memory, MiB (0: no limit)"},
};

const char *prefs_key_name(enum prefs_key k)
{
	return (unsigned)k < PREFS_N_KEYS ? keys[k].name : NULL;
}

static int find_key(const char *name)
{
	for (int k = 0; k < PREFS_N_KEYS; k++)
		if (strcmp(keys[k].name, name) == 0)
			return k;
	return -1;
}

static int parse_bool(const char *s, int *out)
{
	static const char *yes[] = {"yes", "true", "on", "1"}, *no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0)
			return *out = 1, 0;
		if (strcmp(s, no[i]) == 0)
			return *out = 0, 0;
	}
	return -1;
}

/* "HH" or "HH:MM" (00:00..24:00) into minutes of the day; end of s in *end. */
static int parse_clock(const char *s, const char **end, int *min)
{
	char *e;
	long h, m = 0;

	if (*s < '0' || *s > '9')
		return -1;
	h = strtol(s, &e, 10);
	if (e - s > 2 || h > 24)
		return -1;
	if (*e == ':') {
		s = e + 1;
		if (*s < '0' || *s > '9')
			return -1;
		m = strtol(s, &e, 10);
		if (e - s != 2 || m > 59 || (h == 24 && m))
			return -1;
	}
	*end = e;
	*min = (int)(h * 60 + m);
	return 0;
}

static int parse_hours(const char *s, int *from, int *to)
{
	const char *e;

	if (strcmp(s, "any") == 0) {
		*from = *to = 0;
		return 0;
	}
	if (parse_clock(s, &e, from) < 0 || *e != '-' || parse_clock(e + 1, &e, to) < 0 || *e)
		return -1;
	if (*from == 24 * 60)
		*from = 0;
	if (*to == 24 * 60)
		*to = 0;
	return 0;
}

static int set_value(struct prefs *p, int k, const char *v, struct error *err)
{
	const struct keydef *d = &keys[k];
	char *end;
	long n;
	double x;
	int b = 0, from, to;

	switch (d->kind) {
	case K_BOOL:
		if (parse_bool(v, &b) < 0)
			return error_set(err, ERROR_FORMAT, "%s: want yes or no, not '%s'", d->name,
					 v);
		break;
	case K_INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < d->lo || n > d->hi)
			return error_set(err, ERROR_RANGE, "%s: want an integer in %ld..%ld, not '%s'",
					 d->name, d->lo, d->hi, v);
		b = (int)n;
		break;
	case K_MINUTES:
		errno = 0;
		x = strtod(v, &end);
		if (errno || end == v || *end || !isfinite(x) || x < (double)d->lo ||
		    x > (double)d->hi)
			return error_set(err, ERROR_RANGE, "%s: want minutes in %ld..%ld, not '%s'",
					 d->name, d->lo, d->hi, v);
		p->idle_s = x * 60.0;
		return 0;
	case K_HOURS:
		if (parse_hours(v, &from, &to) < 0)
			return error_set(err, ERROR_FORMAT,
					 "%s: want HH[:MM]-HH[:MM] (e.g. 22-07) or any, not '%s'",
					 d->name, v);
		p->hours_from = from;
		p->hours_to = to;
		return 0;
	}
	switch (k) {
	case PREFS_IDLE_ONLY: p->idle_only = b; break;
	case PREFS_USE_GPU: p->use_gpu = b; break;
	case PREFS_USE_CPU: p->use_cpu = b; break;
	case PREFS_CPU_PERCENT: p->cpu_percent = b; break;
	case PREFS_PAUSE_ON_BATTERY: p->pause_on_battery = b; break;
	case PREFS_MAX_TEMP_C: p->max_temp_c = b; break;
	case PREFS_MAX_DISK_MB: p->max_disk_mb = b; break;
	case PREFS_MAX_MEMORY_MB: p->max_memory_mb = b; break;
	default: break;
	}
	return 0;
}

void prefs_defaults(struct prefs *p)
{
	memset(p, 0, sizeof(*p));
	for (int k = 0; k < PREFS_N_KEYS; k++)
		if (set_value(p, k, keys[k].def, NULL) < 0)
			abort(); /* the table's default does not parse: a bug */
}

int prefs_set(struct prefs *p, const char *name, const char *value, enum prefs_source src,
	      int line, struct error *err)
{
	int k = find_key(name), ret;
	struct prefs tmp;

	if (k < 0)
		return error_set(err, ERROR_NOT_FOUND, "unknown key '%s'", name);
	if (src == PREFS_SRC_FILE && p->src[k] == PREFS_SRC_FLAG) { /* check, keep the flag */
		tmp = *p;
		return set_value(&tmp, k, value, err);
	}
	if (src == PREFS_SRC_FILE && p->src[k] == PREFS_SRC_FILE)
		return error_set(err, ERROR_DUPLICATE, "%s given twice (first on line %d)", name,
				 p->line[k]);
	if ((ret = set_value(p, k, value, err)) < 0)
		return ret;
	p->src[k] = src;
	p->line[k] = line;
	return 0;
}

static char *trim(char *s)
{
	char *e = s + strlen(s);

	while (*s == ' ' || *s == '\t')
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* One line (NUL-terminated, no newline); 0 or an error without location. */
static int parse_line(struct prefs *p, char *s, int line, struct error *err)
{
	char *eq, *hash = strchr(s, '#'), *k, *v;

	if (hash)
		*hash = '\0';
	s = trim(s);
	if (!*s)
		return 0;
	if (!(eq = strchr(s, '=')))
		return error_set(err, ERROR_FORMAT, "expected 'key = value', got '%s'", s);
	*eq = '\0';
	k = trim(s);
	v = trim(eq + 1);
	if (!*k || !*v)
		return error_set(err, ERROR_FORMAT, "%s", *k ? "missing value" : "missing key");
	return prefs_set(p, k, v, PREFS_SRC_FILE, line, err);
}

int prefs_parse(struct prefs *p, const char *path, const char *text, size_t len,
		struct error *err)
{
	char buf[PREFS_LINE_MAX + 1];
	struct error e;
	size_t at = 0;
	int line = 0, ret;

	snprintf(p->file, sizeof(p->file), "%s", path);
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

		line++;
		if (n > PREFS_LINE_MAX)
			return error_set(err, ERROR_TOO_BIG, "%s:%d: line longer than %d bytes", path,
					 line, PREFS_LINE_MAX);
		memcpy(buf, text + at, n);
		buf[n] = '\0';
		if (memchr(buf, '\0', n))
			return error_set(err, ERROR_FORMAT, "%s:%d: NUL byte", path, line);
		at += n + 1;
		error_clear(&e);
		if ((ret = parse_line(p, buf, line, &e)) < 0)
			return error_set(err, ret, "%s:%d: %s", path, line, e.msg);
	}
	return 0;
}

int prefs_load(struct prefs *p, const char *state, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	unsigned char *buf = NULL;
	size_t len;
	int ret;

	const char *env = getenv("AGORA_PREFS_FILE");

	if (env && *env) { /* an explicit file must exist */
		if (snprintf(path, sizeof(path), "%s", env) >= (int)sizeof(path))
			return error_set(err, ERROR_TOO_BIG, "AGORA_PREFS_FILE too long");
	} else if (snprintf(path, sizeof(path), "%s/%s", state, PREFS_FILE) >= (int)sizeof(path)) {
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	}
	ret = fileio_read_all(path, PREFS_FILE_MAX, &buf, &len, err);
	if (ret == ERROR_NOT_FOUND && !(env && *env)) {
		if (err)
			error_clear(err);
		return 0;
	}
	if (ret < 0)
		return ret;
	ret = prefs_parse(p, path, (const char *)buf, len, err);
	free(buf);
	return ret;
}

int prefs_take_flag(struct prefs *p, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	struct error err;
	int k;

	if (strncmp(a, "--", 2) != 0 || (k = find_key(a + 2)) < 0)
		return 0;
	if (*i + 1 >= argc) {
		log_error("%s needs a value", a);
		return -1;
	}
	error_clear(&err);
	if (prefs_set(p, keys[k].name, argv[*i + 1], PREFS_SRC_FLAG, 0, &err) < 0) {
		log_error("bad flag --%s", err.msg);
		return -1;
	}
	*i += 1;
	return 1;
}

void prefs_format(const struct prefs *p, enum prefs_key k, char *buf, size_t cap)
{
	switch (k) {
	case PREFS_IDLE_MINUTES: snprintf(buf, cap, "%g", p->idle_s / 60.0); break;
	case PREFS_IDLE_ONLY: snprintf(buf, cap, "%s", p->idle_only ? "yes" : "no"); break;
	case PREFS_USE_GPU: snprintf(buf, cap, "%s", p->use_gpu ? "yes" : "no"); break;
	case PREFS_USE_CPU: snprintf(buf, cap, "%s", p->use_cpu ? "yes" : "no"); break;
	case PREFS_CPU_PERCENT: snprintf(buf, cap, "%d", p->cpu_percent); break;
	case PREFS_PAUSE_ON_BATTERY:
		snprintf(buf, cap, "%s", p->pause_on_battery ? "yes" : "no");
		break;
	case PREFS_MAX_TEMP_C: snprintf(buf, cap, "%d", p->max_temp_c); break;
	case PREFS_HOURS:
		if (p->hours_from == p->hours_to)
			snprintf(buf, cap, "any");
		else
			snprintf(buf, cap, "%02d:%02d-%02d:%02d", p->hours_from / 60,
				 p->hours_from % 60, p->hours_to / 60, p->hours_to % 60);
		break;
	case PREFS_MAX_DISK_MB: snprintf(buf, cap, "%ld", p->max_disk_mb); break;
	case PREFS_MAX_MEMORY_MB: snprintf(buf, cap, "%ld", p->max_memory_mb); break;
	default: snprintf(buf, cap, "?"); break;
	}
}

void prefs_show(const struct prefs *p, FILE *f)
{
	for (int k = 0; k < PREFS_N_KEYS; k++) {
		char val[64], from[300];

		prefs_format(p, k, val, sizeof(val));
		if (p->src[k] == PREFS_SRC_FLAG)
			snprintf(from, sizeof(from), "flag");
		else if (p->src[k] == PREFS_SRC_FILE)
			snprintf(from, sizeof(from), "file %s:%d", p->file, p->line[k]);
		else
			snprintf(from, sizeof(from), "default");
		fprintf(f, "%-17s %-12s %-30s # %s\n", keys[k].name, val, from, keys[k].help);
	}
}

int prefs_cli(int argc, char **argv)
{
	char state[FILEIO_PATH_MAX];
	const char *sdir = NULL;
	struct prefs p;
	struct error err;
	int t;

	prefs_defaults(&p);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
			sdir = argv[++i];
			continue;
		}
		if ((t = prefs_take_flag(&p, argc, argv, &i)) < 0)
			return 2;
		if (t == 0) {
			fprintf(stderr, "usage: agora-client prefs [--state DIR] [--KEY VALUE]...\n");
			return 2;
		}
	}
	error_clear(&err);
	if (state_dir_resolve(sdir, state, &err) < 0 || prefs_load(&p, state, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	prefs_show(&p, stdout);
	return 0;
}
