/*
 * jobspec.c - strict parsing of a job's SPEC.json and the work generator's
 * data arithmetic (see jobspec.h).
 */
#include "config.h"

#include "server-tools/jobspec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *const jobspec_top[] = {
    "name",         "preset",      "dataset",         "seed",
    "hyper",        "inner_steps", "units_per_round", "quorum",
    "max_replicas", "rounds",      "outer",           "validation",
    "eval",         "unit_bytes",  "deadline_s",      NULL};
static const char *const jobspec_hyper[] = {"lr",           "beta1", "beta2", "eps",
					    "weight_decay", "clip",  "batch", NULL};
static const char *const jobspec_outer[] = {"lr", "momentum", NULL};
static const char *const jobspec_valid[] = {"mode", "threshold", NULL};
static const char *const jobspec_eval[] = {"bytes", "sequences", NULL};

/* Refuses members not in known; where names the object. */
static int jobspec_only(json_t *obj, const char *const *known, const char *where, struct error *err)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i])
			return error_set(err, ERROR_FORMAT, "unknown field '%s%.64s'", where, key);
	}
	return 0;
}

static json_t *jobspec_member(json_t *obj, const char *name, const char *where, int required,
			      struct error *err)
{
	json_t *v = json_object_get(obj, name);

	if (!v && required)
		error_set(err, ERROR_MISSING, "missing field '%s%s'", where, name);
	return v;
}

/* A string of 1..max bytes of [a-z0-9_-] (or any printable when free). */
static int jobspec_name(json_t *obj, const char *name, char *out, size_t max, int free_text,
			struct error *err)
{
	json_t *v = jobspec_member(obj, name, "", 1, err);
	const char *s;
	size_t n, i;

	if (!v)
		return ERROR_MISSING;
	if (!json_is_string(v))
		return error_set(err, ERROR_TYPE, "field '%s' must be a string", name);
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n > max)
		return error_set(err, ERROR_RANGE, "field '%s' must have 1..%zu bytes", name, max);
	for (i = 0; i < n; i++) {
		char c = s[i];
		int ok = free_text ? (c > ' ' && c < 0x7f)
				   : ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
				      c == '_' || c == '-');
		if (!ok)
			return error_set(err, ERROR_FORMAT, "field '%s' may only hold %s", name,
					 free_text ? "printable ASCII without spaces"
						   : "a-z, 0-9, '_' and '-'");
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* An integer member in [min, max]; absent and optional: *out untouched. */
static int jobspec_int(json_t *obj, const char *name, const char *where, int required, int64_t min,
		       int64_t max, int64_t *out, struct error *err)
{
	json_t *v = jobspec_member(obj, name, where, required, err);

	if (!v)
		return required ? ERROR_MISSING : 0;
	if (!json_is_integer(v))
		return error_set(err, ERROR_TYPE, "field '%s%s' must be an integer", where, name);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return error_set(err, ERROR_RANGE, "field '%s%s' must be in %lld..%lld", where,
				 name, (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

/* A number in [min, max] (open at min when min_open). */
static int jobspec_real(json_t *obj, const char *name, const char *where, double min, int min_open,
			double max, int max_open, double *out, struct error *err)
{
	json_t *v = jobspec_member(obj, name, where, 1, err);
	double d;

	if (!v)
		return ERROR_MISSING;
	if (!json_is_number(v))
		return error_set(err, ERROR_TYPE, "field '%s%s' must be a number", where, name);
	d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max || (min_open && d == min) || (max_open && d == max))
		return error_set(err, ERROR_RANGE, "field '%s%s' must be in %s%g, %g%s", where,
				 name, min_open ? "(" : "[", min, max, max_open ? ")" : "]");
	*out = d;
	return 0;
}

static json_t *jobspec_object(json_t *root, const char *name, const char *const *known,
			      const char *where, struct error *err)
{
	json_t *v = jobspec_member(root, name, "", 1, err);

	if (!v)
		return NULL;
	if (!json_is_object(v)) {
		error_set(err, ERROR_TYPE, "field '%s' must be an object", name);
		return NULL;
	}
	if (jobspec_only(v, known, where, err) < 0)
		return NULL;
	return v;
}

static int jobspec_parse_hyper(struct jobspec *s, json_t *root, struct error *err)
{
	json_t *h = jobspec_object(root, "hyper", jobspec_hyper, "hyper.", err);
	int64_t batch;
	int rc;

	if (!h)
		return err->code;
	if ((rc = jobspec_real(h, "lr", "hyper.", 0, 1, 10, 0, &s->hyper.lr, err)) < 0 ||
	    (rc = jobspec_real(h, "beta1", "hyper.", 0, 0, 1, 1, &s->hyper.beta1, err)) < 0 ||
	    (rc = jobspec_real(h, "beta2", "hyper.", 0, 0, 1, 1, &s->hyper.beta2, err)) < 0 ||
	    (rc = jobspec_real(h, "eps", "hyper.", 0, 1, 1, 0, &s->hyper.eps, err)) < 0 ||
	    (rc = jobspec_real(h, "weight_decay", "hyper.", 0, 0, 10, 0, &s->hyper.weight_decay,
			       err)) < 0 ||
	    (rc = jobspec_real(h, "clip", "hyper.", 0, 0, 1e6, 0, &s->hyper.clip, err)) < 0 ||
	    (rc = jobspec_int(h, "batch", "hyper.", 1, 1, MODEL_MAX_BATCH, &batch, err)) < 0)
		return rc;
	s->hyper.batch = (uint32_t)batch;
	return 0;
}

static int jobspec_parse_rest(struct jobspec *s, json_t *root, struct error *err)
{
	json_t *o, *mode;
	int64_t v;
	int rc;

	o = jobspec_object(root, "outer", jobspec_outer, "outer.", err);
	if (!o)
		return err->code;
	if ((rc = jobspec_real(o, "lr", "outer.", 0, 1, 10, 0, &s->outer_lr, err)) < 0 ||
	    (rc = jobspec_real(o, "momentum", "outer.", 0, 0, 1, 1, &s->outer_momentum, err)) < 0)
		return rc;
	o = jobspec_object(root, "validation", jobspec_valid, "validation.", err);
	if (!o)
		return err->code;
	mode = json_object_get(o, "mode");
	if (!mode)
		return error_set(err, ERROR_MISSING, "missing field 'validation.mode'");
	if (json_is_string(mode) && strcmp(json_string_value(mode), "exact") == 0) {
		if (json_object_get(o, "threshold"))
			return error_set(err, ERROR_FORMAT,
					 "field 'validation.threshold' needs mode 'tolerance'");
	} else if (json_is_string(mode) && strcmp(json_string_value(mode), "tolerance") == 0) {
		s->tolerance_mode = 1;
		rc = jobspec_real(o, "threshold", "validation.", 0, 1, 1, 0, &s->threshold, err);
		if (rc < 0)
			return rc;
	} else {
		return error_set(err, ERROR_FORMAT,
				 "field 'validation.mode' must be \"exact\" or \"tolerance\"");
	}
	o = jobspec_object(root, "eval", jobspec_eval, "eval.", err);
	if (!o)
		return err->code;
	if ((rc = jobspec_int(o, "bytes", "eval.", 1, 1, 256 << 20, &v, err)) < 0)
		return rc;
	s->eval_bytes = (uint64_t)v;
	if ((rc = jobspec_int(o, "sequences", "eval.", 1, 1, JOBSPEC_EVAL_SEQS_MAX, &v, err)) < 0)
		return rc;
	s->eval_sequences = (int)v;
	return 0;
}

/* The integer members of the top level. */
static int jobspec_parse_counts(struct jobspec *s, json_t *root, struct error *err)
{
	int64_t v;
	int rc;

	if ((rc = jobspec_int(root, "seed", "", 1, 0, (INT64_C(1) << 53) - 1, &v, err)) < 0)
		return rc;
	s->seed = (uint64_t)v;
	if ((rc = jobspec_int(root, "inner_steps", "", 1, 1, UNIT_STEPS_MAX, &v, err)) < 0)
		return rc;
	s->inner_steps = (int)v;
	if ((rc = jobspec_int(root, "units_per_round", "", 1, 1, JOBSPEC_UNITS_MAX, &v, err)) < 0)
		return rc;
	s->units_per_round = (int)v;
	if ((rc = jobspec_int(root, "quorum", "", 1, 1, JOBSPEC_REPLICAS_MAX, &v, err)) < 0)
		return rc;
	s->quorum = (int)v;
	v = 2 * s->quorum + 1;
	if ((rc = jobspec_int(root, "max_replicas", "", 0, s->quorum, JOBSPEC_REPLICAS_MAX, &v,
			      err)) < 0)
		return rc;
	s->max_replicas = (int)v;
	if ((rc = jobspec_int(root, "rounds", "", 1, 1, JOBSPEC_ROUNDS_MAX, &v, err)) < 0)
		return rc;
	s->rounds = (int)v;
	v = 0;
	if ((rc = jobspec_int(root, "unit_bytes", "", 0, 1, INT64_C(1) << 40, &v, err)) < 0)
		return rc;
	s->unit_bytes = (uint64_t)v;
	v = JOBSPEC_DEADLINE_S;
	if ((rc = jobspec_int(root, "deadline_s", "", 0, 10, 30 * 86400, &v, err)) < 0)
		return rc;
	s->deadline_s = v;
	return 0;
}

int jobspec_parse(struct jobspec *s, const void *json, size_t len, struct error *err)
{
	json_error_t jerr;
	struct error berr;
	json_t *root;
	int rc;

	memset(s, 0, sizeof(*s));
	if (len > JOBSPEC_JSON_MAX)
		return error_set(err, ERROR_TOO_BIG, "spec over %u bytes", JOBSPEC_JSON_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, ERROR_FORMAT, "spec is not JSON: line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
	rc = json_is_object(root) ? 0 : error_set(err, ERROR_TYPE, "spec must be a JSON object");
	if (rc == 0)
		rc = jobspec_only(root, jobspec_top, "", err);
	if (rc == 0)
		rc = jobspec_name(root, "name", s->name, UNIT_JOB_MAX, 0, err);
	if (rc == 0)
		rc = jobspec_name(root, "preset", s->preset, UNIT_PRESET_MAX, 0, err);
	if (rc == 0)
		rc = jobspec_name(root, "dataset", s->dataset, sizeof(s->dataset) - 1, 1, err);
	if (rc == 0)
		rc = jobspec_parse_counts(s, root, err);
	if (rc == 0)
		rc = jobspec_parse_hyper(s, root, err);
	if (rc == 0)
		rc = jobspec_parse_rest(s, root, err);
	json_decref(root);
	if (rc < 0)
		return rc;
	s->cfg = model_preset_find(s->preset);
	if (!s->cfg || s->cfg->kind != MODEL_GPT)
		return error_set(err, ERROR_RANGE, "field 'preset': no GPT preset '%s'", s->preset);
	if (model_batch_check(s->cfg, (int)s->hyper.batch, &berr) < 0)
		return error_set(err, ERROR_RANGE, "field 'hyper.batch': %s", berr.msg);
	s->hyper.context = (uint32_t)s->cfg->n_ctx;
	if (s->eval_bytes < (uint64_t)s->cfg->n_ctx + 1)
		return error_set(err, ERROR_RANGE, "field 'eval.bytes' must be at least %d (T + 1)",
				 s->cfg->n_ctx + 1);
	if (!s->unit_bytes)
		s->unit_bytes = (uint64_t)s->hyper.batch * (uint64_t)(s->cfg->n_ctx + 1) *
				(uint64_t)s->inner_steps;
	if (s->unit_bytes < (uint64_t)s->cfg->n_ctx + 1)
		return error_set(err, ERROR_RANGE, "field 'unit_bytes' must be at least %d (T + 1)",
				 s->cfg->n_ctx + 1);
	return 0;
}

int jobspec_check_data(const struct jobspec *s, uint64_t total, uint64_t min_shard,
		       struct error *err)
{
	uint64_t train, w;

	if (total <= s->eval_bytes || total - s->eval_bytes < (uint64_t)s->cfg->n_ctx + 1)
		return error_set(err, ERROR_RANGE,
				 "dataset '%s' has %llu bytes: too few for eval.bytes %llu and "
				 "a training region of at least %d bytes",
				 s->dataset, (unsigned long long)total,
				 (unsigned long long)s->eval_bytes, s->cfg->n_ctx + 1);
	train = total - s->eval_bytes;
	w = s->unit_bytes < train ? s->unit_bytes : train;
	if (min_shard && w / min_shard + 2 > UNIT_DATA_MAX)
		return error_set(
		    err, ERROR_RANGE,
		    "a unit's %llu bytes would span more than %d shards of %llu bytes; "
		    "use a smaller unit_bytes or bigger shards",
		    (unsigned long long)w, UNIT_DATA_MAX, (unsigned long long)min_shard);
	return 0;
}

void jobspec_window(const struct jobspec *s, uint64_t total, uint64_t round, uint64_t index,
		    uint64_t *start, uint64_t *len)
{
	uint64_t train = total - s->eval_bytes;
	uint64_t w = s->unit_bytes < train ? s->unit_bytes : train;

	*len = w;
	*start = model_rng_u64(s->seed, (round << 32) | (index & 0xffffffffu)) % (train - w + 1);
}

int jobspec_ranges(const uint64_t *sizes, size_t n, uint64_t start, uint64_t len,
		   struct jobspec_range *out, size_t max)
{
	uint64_t base = 0, end = start + len, lo, hi;
	size_t i, k = 0;

	for (i = 0; i < n && base < end; base += sizes[i], i++) {
		if (base + sizes[i] <= start)
			continue;
		lo = start > base ? start - base : 0;
		hi = end < base + sizes[i] ? end - base : sizes[i];
		if (hi <= lo)
			continue;
		if (k >= max)
			return ERROR_TOO_BIG;
		out[k].shard = i;
		out[k].offset = lo;
		out[k].length = hi - lo;
		k++;
	}
	return (int)k;
}
