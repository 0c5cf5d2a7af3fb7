/*
 * unit.c - the work-unit descriptor: canonical JSON, strict parsing,
 * sealing and opening (see unit.h).
 *
 * Encoding builds a jansson tree in the canonical key order and validates
 * it with the parser before dumping it, so unit_to_json() can never emit a
 * descriptor that unit_parse() would refuse.
 */
#include "config.h"

#include "workunits/unit.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workunits/envelope.h"
#include "workunits/field.h"

static const char *const unit_keys[] = {"version",    "job",      "round", "unit",  "model",
					"preset",     "data",     "hyper", "steps", "seed",
					"kernel_abi", "deadline", "flops", NULL};
static const char *const unit_data_keys[] = {"shard", "offset", "length", NULL};
static const char *const unit_hyper_keys[] = {"lr",   "beta1", "beta2",   "eps", "weight_decay",
					      "clip", "batch", "context", NULL};

void unit_init(struct unit *u)
{
	memset(u, 0, sizeof(*u));
	u->version = UNIT_VERSION;
}

static int unit_parse_data(struct unit *u, const json_t *root, struct error *err)
{
	json_t *arr, *item;
	char prefix[32];
	size_t i;
	int rc;

	rc = field_array(root, "", "data", &arr, err);
	if (rc < 0)
		return rc;
	if (json_array_size(arr) == 0 || json_array_size(arr) > UNIT_DATA_MAX)
		return error_set(err, ERROR_RANGE, "field 'data': %zu entries, allowed 1..%d",
				 json_array_size(arr), UNIT_DATA_MAX);
	u->n_data = json_array_size(arr);
	json_array_foreach(arr, i, item)
	{
		struct unit_data *d = &u->data[i];

		snprintf(prefix, sizeof(prefix), "data[%zu]", i);
		if (!json_is_object(item))
			return error_set(err, ERROR_TYPE, "field '%s': expected object, got %s",
					 prefix, field_type_name(item));
		if ((rc = field_only(item, prefix, unit_data_keys, err)) < 0 ||
		    (rc = field_hash(item, prefix, "shard", &d->shard, err)) < 0 ||
		    (rc = field_uint(item, prefix, "offset", 0, FIELD_INT_MAX, &d->offset, err)) <
			0 ||
		    (rc = field_uint(item, prefix, "length", 1, FIELD_INT_MAX, &d->length, err)) <
			0)
			return rc;
	}
	return 0;
}

static int unit_parse_hyper(struct unit_hyper *h, const json_t *root, struct error *err)
{
	uint64_t batch, context;
	json_t *o;
	int rc;

	if ((rc = field_object(root, "", "hyper", &o, err)) < 0 ||
	    (rc = field_only(o, "hyper", unit_hyper_keys, err)) < 0 ||
	    (rc = field_number(o, "hyper", "lr", 0, 1, 10, &h->lr, err)) < 0 ||
	    (rc = field_number(o, "hyper", "beta1", 0, 0, 1, &h->beta1, err)) < 0 ||
	    (rc = field_number(o, "hyper", "beta2", 0, 0, 1, &h->beta2, err)) < 0 ||
	    (rc = field_number(o, "hyper", "eps", 0, 1, 1, &h->eps, err)) < 0 ||
	    (rc = field_number(o, "hyper", "weight_decay", 0, 0, 10, &h->weight_decay, err)) < 0 ||
	    (rc = field_number(o, "hyper", "clip", 0, 0, 1e6, &h->clip, err)) < 0 ||
	    (rc = field_uint(o, "hyper", "batch", 1, UNIT_BATCH_MAX, &batch, err)) < 0 ||
	    (rc = field_uint(o, "hyper", "context", 1, UNIT_CONTEXT_MAX, &context, err)) < 0)
		return rc;
	/* Adam's betas must stay below 1 (bias correction divides by 1 - β^t). */
	if (h->beta1 >= 1)
		return error_set(err, ERROR_RANGE, "field 'hyper.beta1': %g is out of range [0..1)",
				 h->beta1);
	if (h->beta2 >= 1)
		return error_set(err, ERROR_RANGE, "field 'hyper.beta2': %g is out of range [0..1)",
				 h->beta2);
	h->batch = (uint32_t)batch;
	h->context = (uint32_t)context;
	return 0;
}

/* Reads a validated unit from a parsed tree. */
static int unit_from_json(struct unit *u, const json_t *root, struct error *err)
{
	uint64_t steps, abi, deadline;
	int rc;

	unit_init(u);
	if ((rc = field_version(root, UNIT_VERSION, "unit", err)) < 0 ||
	    (rc = field_only(root, "", unit_keys, err)) < 0 ||
	    (rc = field_string(root, "", "job", field_is_ident, u->job, sizeof(u->job), err)) < 0 ||
	    (rc = field_uint(root, "", "round", 0, UNIT_ROUND_MAX, &u->round, err)) < 0 ||
	    (rc = field_uint(root, "", "unit", 0, UNIT_INDEX_MAX, &u->index, err)) < 0 ||
	    (rc = field_hash(root, "", "model", &u->model, err)) < 0 ||
	    (rc = field_string(root, "", "preset", field_is_ident, u->preset, sizeof(u->preset),
			       err)) < 0 ||
	    (rc = unit_parse_data(u, root, err)) < 0 ||
	    (rc = unit_parse_hyper(&u->hyper, root, err)) < 0 ||
	    (rc = field_uint(root, "", "steps", 1, UNIT_STEPS_MAX, &steps, err)) < 0 ||
	    (rc = field_u64_string(root, "", "seed", &u->seed, err)) < 0 ||
	    (rc = field_uint(root, "", "kernel_abi", 1, UNIT_KERNEL_ABI_MAX, &abi, err)) < 0 ||
	    (rc = field_uint(root, "", "deadline", 1, FIELD_INT_MAX, &deadline, err)) < 0 ||
	    (rc = field_number(root, "", "flops", 0, 0, 1e30, &u->flops, err)) < 0)
		return rc;
	u->steps = (uint32_t)steps;
	u->kernel_abi = (uint32_t)abi;
	u->deadline = (int64_t)deadline;
	return 0;
}

int unit_parse(struct unit *u, const void *json, size_t len, struct error *err)
{
	json_t *root;
	int rc;

	rc = field_load(&root, json, len, UNIT_JSON_MAX, "unit", err);
	if (rc < 0)
		return rc;
	rc = unit_from_json(u, root, err);
	json_decref(root);
	return rc;
}

static json_t *unit_hash_json(const struct hash *h)
{
	char hex[HASH_HEX_LEN + 1];

	hash_to_hex(h, hex);
	return json_string(hex);
}

/* Strings go in unchecked: unit_from_json() validates them afterwards. */
static json_t *unit_string_json(const char *s, size_t cap)
{
	return json_stringn_nocheck(s, strnlen(s, cap));
}

static int unit_build_data(const struct unit *u, json_t *root)
{
	json_t *arr = json_array();
	size_t i, n = u->n_data <= UNIT_DATA_MAX ? u->n_data : UNIT_DATA_MAX;
	int rc = 0;

	if (!arr || field_set(root, "data", arr) < 0)
		return ERROR_NOMEM;
	for (i = 0; i < n && rc == 0; i++) {
		json_t *d = json_object();

		if (!d || json_array_append_new(arr, d) != 0)
			return ERROR_NOMEM;
		if (field_set(d, "shard", unit_hash_json(&u->data[i].shard)) < 0 ||
		    field_set(d, "offset", json_integer((json_int_t)u->data[i].offset)) < 0 ||
		    field_set(d, "length", json_integer((json_int_t)u->data[i].length)) < 0)
			rc = ERROR_NOMEM;
	}
	return rc;
}

static int unit_build_hyper(const struct unit_hyper *h, json_t *root)
{
	json_t *o = json_object();

	if (!o || field_set(root, "hyper", o) < 0 || field_set(o, "lr", json_real(h->lr)) < 0 ||
	    field_set(o, "beta1", json_real(h->beta1)) < 0 ||
	    field_set(o, "beta2", json_real(h->beta2)) < 0 ||
	    field_set(o, "eps", json_real(h->eps)) < 0 ||
	    field_set(o, "weight_decay", json_real(h->weight_decay)) < 0 ||
	    field_set(o, "clip", json_real(h->clip)) < 0 ||
	    field_set(o, "batch", json_integer(h->batch)) < 0 ||
	    field_set(o, "context", json_integer(h->context)) < 0)
		return ERROR_NOMEM;
	return 0;
}

/* Builds the canonical tree (key order is insertion order). */
static json_t *unit_build(const struct unit *u)
{
	json_t *root = json_object();
	char seed[24];

	snprintf(seed, sizeof(seed), "%llu", (unsigned long long)u->seed);
	if (!root || field_set(root, "version", json_integer(u->version)) < 0 ||
	    field_set(root, "job", unit_string_json(u->job, sizeof(u->job))) < 0 ||
	    field_set(root, "round", json_integer((json_int_t)u->round)) < 0 ||
	    field_set(root, "unit", json_integer((json_int_t)u->index)) < 0 ||
	    field_set(root, "model", unit_hash_json(&u->model)) < 0 ||
	    field_set(root, "preset", unit_string_json(u->preset, sizeof(u->preset))) < 0 ||
	    unit_build_data(u, root) < 0 || unit_build_hyper(&u->hyper, root) < 0 ||
	    field_set(root, "steps", json_integer(u->steps)) < 0 ||
	    field_set(root, "seed", json_string(seed)) < 0 ||
	    field_set(root, "kernel_abi", json_integer(u->kernel_abi)) < 0 ||
	    field_set(root, "deadline", json_integer(u->deadline)) < 0 ||
	    field_set(root, "flops", json_real(u->flops)) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Builds and validates; on success *root is the canonical tree. */
static int unit_build_checked(const struct unit *u, json_t **root, struct error *err)
{
	struct unit *check;
	int rc;

	*root = NULL;
	if (u->n_data == 0 || u->n_data > UNIT_DATA_MAX)
		return error_set(err, ERROR_RANGE, "field 'data': %zu entries, allowed 1..%d",
				 u->n_data, UNIT_DATA_MAX);
	check = malloc(sizeof(*check));
	*root = unit_build(u);
	if (!check || !*root) {
		free(check);
		json_decref(*root);
		*root = NULL;
		return error_set(err, ERROR_NOMEM, "cannot encode unit: out of memory");
	}
	rc = unit_from_json(check, *root, err);
	free(check);
	if (rc < 0) {
		json_decref(*root);
		*root = NULL;
	}
	return rc;
}

int unit_check(const struct unit *u, struct error *err)
{
	json_t *root;
	int rc = unit_build_checked(u, &root, err);

	json_decref(root);
	return rc;
}

int unit_to_json(const struct unit *u, char **out, size_t *len, struct error *err)
{
	json_t *root;
	int rc;

	*out = NULL;
	*len = 0;
	rc = unit_build_checked(u, &root, err);
	if (rc < 0)
		return rc;
	rc = field_dump(root, out, len);
	json_decref(root);
	if (rc < 0)
		return error_set(err, rc, "cannot encode unit: out of memory");
	return 0;
}

void unit_id(struct hash *id, const void *payload, size_t len)
{
	hash_buf(id, payload, len);
}

int unit_seal(const struct unit *u, const struct key_secret *sk, unsigned char **env,
	      size_t *env_len, struct hash *id, struct error *err)
{
	char *json;
	size_t len;
	int rc;

	*env = NULL;
	*env_len = 0;
	rc = unit_to_json(u, &json, &len, err);
	if (rc < 0)
		return rc;
	rc = envelope_seal(sk, ENVELOPE_TYPE_WORKUNIT, json, len, env, env_len, err);
	if (rc == 0 && id)
		unit_id(id, json, len);
	free(json);
	return rc;
}

int unit_open(struct unit *u, struct hash *id, const void *env, size_t env_len,
	      const struct key_public *pk, struct error *err)
{
	const unsigned char *payload;
	size_t len;
	int rc;

	rc = envelope_open(env, env_len, ENVELOPE_TYPE_WORKUNIT, pk, &payload, &len, err);
	if (rc < 0)
		return rc;
	rc = unit_parse(u, payload, len, err);
	if (rc == 0 && id)
		unit_id(id, payload, len);
	return rc;
}
