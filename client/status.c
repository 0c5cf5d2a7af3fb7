/*
 * status.c - the status file and the progress line (see status.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "client/status.h"

int status_write(const char *path, struct status *st, struct error *err)
{
	json_t *o;
	char *text;
	int ret;

	st->updated = (int64_t)time(NULL);
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:s, s:f, s:I, s:I, s:I, s:s, "
		      "s:I, s:I}",
		      "state", st->state, "project", st->project, "job", st->job, "unit", st->unit,
		      "replica", (json_int_t)st->replica, "round", (json_int_t)st->round, "step",
		      (json_int_t)st->step, "steps", (json_int_t)st->steps, "loss", st->loss,
		      "device", st->device, "eta_s", st->eta_s, "units_done",
		      (json_int_t)st->units_done, "pid", (json_int_t)st->pid, "updated",
		      (json_int_t)st->updated, "reason", st->reason, "cache_bytes",
		      (json_int_t)st->cache_bytes, "cache_budget", (json_int_t)st->cache_budget);
	text = o ? json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT) : NULL;
	json_decref(o);
	if (!text)
		return error_set(err, ERROR_NOMEM, "out of memory");
	ret = fileio_write_atomic(path, text, strlen(text), 0644, 0, err);
	free(text);
	return ret;
}

static void copy_str(json_t *o, const char *k, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (s)
		snprintf(out, cap, "%s", s);
}

static uint64_t get_u(json_t *o, const char *k)
{
	json_int_t v = json_integer_value(json_object_get(o, k));
	return v > 0 ? (uint64_t)v : 0;
}

int status_read(const char *path, struct status *st, struct error *err)
{
	unsigned char *buf = NULL;
	size_t len;
	json_t *o;
	int ret;

	memset(st, 0, sizeof(*st));
	if ((ret = fileio_read_all(path, STATUS_JSON_MAX, &buf, &len, err)) < 0)
		return ret;
	o = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		return error_set(err, ERROR_FORMAT, "'%s' is not a JSON object", path);
	}
	copy_str(o, "state", st->state, sizeof(st->state));
	copy_str(o, "project", st->project, sizeof(st->project));
	copy_str(o, "job", st->job, sizeof(st->job));
	copy_str(o, "unit", st->unit, sizeof(st->unit));
	copy_str(o, "device", st->device, sizeof(st->device));
	copy_str(o, "reason", st->reason, sizeof(st->reason));
	st->replica = (int64_t)get_u(o, "replica");
	st->round = get_u(o, "round");
	st->step = get_u(o, "step");
	st->steps = get_u(o, "steps");
	st->units_done = get_u(o, "units_done");
	st->updated = (int64_t)get_u(o, "updated");
	st->pid = (long)get_u(o, "pid");
	st->cache_bytes = get_u(o, "cache_bytes");
	st->cache_budget = get_u(o, "cache_budget");
	st->loss = json_number_value(json_object_get(o, "loss"));
	st->eta_s = json_number_value(json_object_get(o, "eta_s"));
	json_decref(o);
	return 0;
}

void status_progress(FILE *f, int tty, const struct status *st)
{
	double frac = st->steps ? (double)st->step / (double)st->steps : 0;
	char bar[31];
	int fill = (int)(frac * 30);

	if (!tty) {
		fprintf(f, "agora-client: unit %.16s step %llu/%llu loss %.4f eta %.0fs\n",
			st->unit, (unsigned long long)st->step, (unsigned long long)st->steps,
			st->loss, st->eta_s);
		fflush(f);
		return;
	}
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(f, "\r[%s] %5.1f%% %llu/%llu loss %.4f eta %5.0fs ", bar, frac * 100,
		(unsigned long long)st->step, (unsigned long long)st->steps, st->loss, st->eta_s);
	if (st->step >= st->steps)
		fputc('\n', f);
	fflush(f);
}
