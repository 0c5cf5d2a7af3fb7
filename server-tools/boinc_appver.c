/*
 * boinc_appver.c - the published app versions, STATE/boinc/app/current
 * (see boinc_appver.h). Lines are split by hand and every field is
 * checked, so a hand-edited or truncated file is refused whole rather
 * than half-read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "server-tools/boinc_appver.h"

#define APPVER_FIELDS   6
#define APPVER_LINE_MAX 512

static const char appver_name_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

static int chars_ok(const char *s, const char *set)
{
	return strspn(s, set) == strlen(s);
}

int boinc_appver_check(const struct boinc_appver *v, struct error *err)
{
	if (!v->name[0] || v->name[0] == '.' || !chars_ok(v->name, appver_name_chars))
		return error_set(err, ERROR_INVALID, "bad app file name '%.40s'", v->name);
	if (v->version_num < 1 || v->version_num > 1000000)
		return error_set(err, ERROR_INVALID, "version %d out of range", v->version_num);
	if (!v->platform[0] || !chars_ok(v->platform, "abcdefghijklmnopqrstuvwxyz0123456789_-"))
		return error_set(err, ERROR_INVALID, "bad platform '%.40s'", v->platform);
	if (strlen(v->md5) != 32 || !chars_ok(v->md5, "0123456789abcdef"))
		return error_set(err, ERROR_INVALID, "bad md5 '%.40s'", v->md5);
	if (v->nbytes > BOINC_APPVER_NBYTES_MAX)
		return error_set(err, ERROR_INVALID, "size %llu out of range",
				 (unsigned long long)v->nbytes);
	if (!boinc_sched_plan_class_known(v->plan_class))
		return error_set(err, ERROR_INVALID,
				 "unknown plan class '%.40s' (known: opencl_nvidia, opencl_amd, "
				 "opencl_intel_gpu)",
				 v->plan_class);
	return 0;
}

/* Copies field f into out (size bytes); 0, or -1 when it does not fit. */
static int field_copy(char *out, size_t size, const char *f)
{
	size_t n = strlen(f);

	if (n >= size)
		return -1;
	memcpy(out, f, n + 1);
	return 0;
}

/* One line (NUL-terminated, no newline) into v; line_no for messages. */
static int line_parse(struct boinc_appver *v, char *line, int line_no, struct error *err)
{
	char *f[APPVER_FIELDS + 1], *save = NULL, *end;
	unsigned long long nbytes;
	struct error e;
	long version;
	int n = 0;

	for (char *t = strtok_r(line, " \t\r", &save); t && n <= APPVER_FIELDS;
	     t = strtok_r(NULL, " \t\r", &save))
		f[n++] = t;
	if (n < APPVER_FIELDS - 1 || n > APPVER_FIELDS)
		return error_set(err, ERROR_FORMAT, "line %d: %d fields, not 5 or 6", line_no, n);
	memset(v, 0, sizeof(*v));
	version = strtol(f[1], &end, 10);
	if (*end || f[1][0] == '-' || version > 1000000)
		return error_set(err, ERROR_FORMAT, "line %d: bad version '%.20s'", line_no, f[1]);
	nbytes = strtoull(f[4], &end, 10);
	if (*end || f[4][0] == '-' || nbytes > BOINC_APPVER_NBYTES_MAX)
		return error_set(err, ERROR_FORMAT, "line %d: bad size '%.24s'", line_no, f[4]);
	v->version_num = (int)version;
	v->nbytes = nbytes;
	if (field_copy(v->name, sizeof(v->name), f[0]) < 0 ||
	    field_copy(v->platform, sizeof(v->platform), f[2]) < 0 ||
	    field_copy(v->md5, sizeof(v->md5), f[3]) < 0 ||
	    (n == APPVER_FIELDS && field_copy(v->plan_class, sizeof(v->plan_class), f[5]) < 0))
		return error_set(err, ERROR_FORMAT, "line %d: a field too long", line_no);
	if (boinc_appver_check(v, &e) < 0)
		return error_set(
		    err, boinc_sched_plan_class_known(v->plan_class) ? ERROR_FORMAT : ERROR_INVALID,
		    "line %d: %s", line_no, e.msg);
	return 0;
}

int boinc_appver_parse(struct boinc_appver_list *l, const char *text, size_t len, struct error *err)
{
	char line[APPVER_LINE_MAX];
	struct boinc_appver v;
	size_t at = 0;
	int line_no = 0, ret;

	memset(l, 0, sizeof(*l));
	while (at < len) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

		line_no++;
		if (n >= sizeof(line) || memchr(text + at, '\0', n))
			return error_set(err, ERROR_FORMAT, "line %d: too long or binary", line_no);
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n + (nl != NULL);
		if (!line[strspn(line, " \t\r")])
			continue;
		if ((ret = line_parse(&v, line, line_no, err)) < 0)
			return ret;
		if (boinc_appver_find(l, v.platform, v.plan_class))
			return error_set(err, ERROR_DUPLICATE,
					 "line %d: platform '%s', plan class '%s' twice", line_no,
					 v.platform, v.plan_class[0] ? v.plan_class : "(cpu)");
		if (l->n == BOINC_APPVER_MAX)
			return error_set(err, ERROR_TOO_BIG, "more than %d app versions",
					 BOINC_APPVER_MAX);
		l->v[l->n++] = v;
	}
	return 0;
}

int boinc_appver_load(struct boinc_appver_list *l, const char *path, struct error *err)
{
	unsigned char *buf = NULL;
	size_t len;
	int ret;

	memset(l, 0, sizeof(*l));
	if ((ret = fileio_read_all(path, BOINC_APPVER_FILE_MAX, &buf, &len, err)) < 0)
		return ret;
	ret = boinc_appver_parse(l, (const char *)buf, len, err);
	free(buf);
	return ret;
}

int boinc_appver_put(struct boinc_appver_list *l, const struct boinc_appver *v, struct error *err)
{
	int ret;

	if ((ret = boinc_appver_check(v, err)) < 0)
		return ret;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].platform, v->platform) == 0 &&
		    strcmp(l->v[i].plan_class, v->plan_class) == 0) {
			l->v[i] = *v;
			return 0;
		}
	if (l->n == BOINC_APPVER_MAX)
		return error_set(err, ERROR_TOO_BIG, "more than %d app versions", BOINC_APPVER_MAX);
	l->v[l->n++] = *v;
	return 0;
}

const struct boinc_appver *boinc_appver_find(const struct boinc_appver_list *l,
					     const char *platform, const char *plan_class)
{
	if (!plan_class)
		plan_class = "";
	for (size_t i = 0; i < l->n; i++)
		if ((!platform || strcmp(l->v[i].platform, platform) == 0) &&
		    strcmp(l->v[i].plan_class, plan_class) == 0)
			return &l->v[i];
	return NULL;
}

long boinc_appver_format(const struct boinc_appver_list *l, char *buf, size_t size)
{
	size_t at = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		const struct boinc_appver *v = &l->v[i];
		int n = snprintf(buf + at, size - at, "%s %d %s %s %llu%s%s\n", v->name,
				 v->version_num, v->platform, v->md5, (unsigned long long)v->nbytes,
				 v->plan_class[0] ? " " : "", v->plan_class);

		if (n < 0 || (size_t)n >= size - at)
			return ERROR_TOO_BIG;
		at += (size_t)n;
	}
	return (long)at;
}
