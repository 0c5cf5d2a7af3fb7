/*
 * manifest.c - the signed model manifest: canonical JSON, strict parsing,
 * sealing and opening (see manifest.h).
 */
#include "config.h"

#include "workunits/manifest.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hex.h"
#include "workunits/envelope.h"
#include "workunits/field.h"

static const char *const manifest_keys[] = {"version", "job",   "round",    "preset",
					    "parent",  "model", "momentum", "results",
					    "outer",   "eval",  "created",  NULL};
static const char *const manifest_result_keys[] = {"unit", "unit_id",  "output",
						   "host", "host_key", NULL};
static const char *const manifest_outer_keys[] = {"lr", "momentum", NULL};
static const char *const manifest_eval_keys[] = {"data", "sequences", "loss", NULL};

void manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->version = MANIFEST_VERSION;
}

void manifest_release(struct manifest *m)
{
	free(m->results);
	manifest_init(m);
}

int manifest_add_result(struct manifest *m, const struct manifest_result *r)
{
	struct manifest_result *n;

	if (m->n_results >= MANIFEST_RESULTS_MAX)
		return ERROR_TOO_BIG;
	n = realloc(m->results, (m->n_results + 1) * sizeof(*n));
	if (!n)
		return ERROR_NOMEM;
	m->results = n;
	m->results[m->n_results++] = *r;
	return 0;
}

static int manifest_parse_key(const json_t *obj, const char *prefix, const char *name,
			      struct key_public *pk, struct error *err)
{
	json_t *j;
	int rc;

	rc = field_get(obj, prefix, name, &j, err);
	if (rc < 0)
		return rc;
	if (!json_is_string(j))
		return error_set(err, ERROR_TYPE, "field '%s.%s': expected string, got %s", prefix,
				 name, field_type_name(j));
	if (json_string_length(j) != KEY_PUBLIC_HEX_LEN ||
	    key_public_from_hex(pk, json_string_value(j), NULL) < 0)
		return error_set(err, ERROR_FORMAT,
				 "field '%s.%s': expected a public key (64 lowercase hex digits)",
				 prefix, name);
	return 0;
}

static int manifest_parse_result(struct manifest_result *r, const json_t *o, const char *prefix,
				 struct error *err)
{
	int rc;

	if (!json_is_object(o))
		return error_set(err, ERROR_TYPE, "field '%s': expected object, got %s", prefix,
				 field_type_name(o));
	if ((rc = field_only(o, prefix, manifest_result_keys, err)) < 0 ||
	    (rc = field_uint(o, prefix, "unit", 0, UNIT_INDEX_MAX, &r->unit, err)) < 0 ||
	    (rc = field_hash(o, prefix, "unit_id", &r->unit_id, err)) < 0 ||
	    (rc = field_hash(o, prefix, "output", &r->output, err)) < 0 ||
	    (rc = field_uint(o, prefix, "host", 0, FIELD_INT_MAX, &r->host, err)) < 0 ||
	    (rc = manifest_parse_key(o, prefix, "host_key", &r->host_key, err)) < 0)
		return rc;
	return 0;
}

static int manifest_parse_results(struct manifest *m, const json_t *root, struct error *err)
{
	json_t *arr;
	size_t i, n;
	int rc;

	if ((rc = field_array(root, "", "results", &arr, err)) < 0)
		return rc;
	n = json_array_size(arr);
	if (n > MANIFEST_RESULTS_MAX)
		return error_set(err, ERROR_RANGE, "field 'results': %zu entries, allowed 0..%d", n,
				 MANIFEST_RESULTS_MAX);
	for (i = 0; i < n; i++) {
		struct manifest_result r;
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "results[%zu]", i);
		memset(&r, 0, sizeof(r));
		rc = manifest_parse_result(&r, json_array_get(arr, i), prefix, err);
		if (rc < 0)
			return rc;
		if (i > 0 && r.unit <= m->results[i - 1].unit)
			return error_set(err, ERROR_FORMAT,
					 "field '%s.unit': %llu is not after unit %llu (results "
					 "must be in unit order)",
					 prefix, (unsigned long long)r.unit,
					 (unsigned long long)m->results[i - 1].unit);
		if (manifest_add_result(m, &r) < 0)
			return error_set(err, ERROR_NOMEM, "cannot parse manifest: out of memory");
	}
	return 0;
}

static int manifest_parse_rest(struct manifest *m, const json_t *root, struct error *err)
{
	json_t *outer, *eval;
	uint64_t created;
	int rc;

	if ((rc = field_object(root, "", "outer", &outer, err)) < 0 ||
	    (rc = field_only(outer, "outer", manifest_outer_keys, err)) < 0 ||
	    (rc = field_number(outer, "outer", "lr", 0, 1, 10, &m->outer_lr, err)) < 0 ||
	    (rc = field_number(outer, "outer", "momentum", 0, 0, 1, &m->outer_momentum, err)) < 0)
		return rc;
	if (m->outer_momentum >= 1)
		return error_set(err, ERROR_RANGE, "field 'outer.momentum': %g outside [0, 1)",
				 m->outer_momentum);
	if ((rc = field_object(root, "", "eval", &eval, err)) < 0 ||
	    (rc = field_only(eval, "eval", manifest_eval_keys, err)) < 0 ||
	    (rc = field_hash(eval, "eval", "data", &m->eval_data, err)) < 0 ||
	    (rc = field_uint(eval, "eval", "sequences", 1, MANIFEST_EVAL_SEQS_MAX,
			     &m->eval_sequences, err)) < 0 ||
	    (rc = field_number(eval, "eval", "loss", 0, 0, 1e6, &m->eval_loss, err)) < 0)
		return rc;
	if ((rc = field_uint(root, "", "created", 0, FIELD_INT_MAX, &created, err)) < 0)
		return rc;
	m->created = (int64_t)created;
	return 0;
}

static int manifest_from_json(struct manifest *m, const json_t *root, struct error *err)
{
	int rc;

	manifest_release(m);
	if ((rc = field_version(root, MANIFEST_VERSION, "manifest", err)) < 0 ||
	    (rc = field_only(root, "", manifest_keys, err)) < 0 ||
	    (rc = field_string(root, "", "job", field_is_ident, m->job, sizeof(m->job), err)) < 0 ||
	    (rc = field_uint(root, "", "round", 0, UNIT_ROUND_MAX, &m->round, err)) < 0 ||
	    (rc = field_string(root, "", "preset", field_is_ident, m->preset, sizeof(m->preset),
			       err)) < 0 ||
	    (rc = field_hash(root, "", "parent", &m->parent, err)) < 0 ||
	    (rc = field_hash(root, "", "model", &m->model, err)) < 0 ||
	    (rc = field_hash(root, "", "momentum", &m->momentum, err)) < 0 ||
	    (rc = manifest_parse_results(m, root, err)) < 0 ||
	    (rc = manifest_parse_rest(m, root, err)) < 0) {
		manifest_release(m);
		return rc;
	}
	return 0;
}

int manifest_parse(struct manifest *m, const void *json, size_t len, struct error *err)
{
	json_t *root;
	int rc;

	rc = field_load(&root, json, len, MANIFEST_JSON_MAX, "manifest", err);
	if (rc < 0) {
		manifest_release(m);
		return rc;
	}
	rc = manifest_from_json(m, root, err);
	json_decref(root);
	return rc;
}

static json_t *manifest_hex_json(const void *bytes, size_t n)
{
	char hex[2 * KEY_PUBLIC_BYTES + 1];

	hex_encode(hex, bytes, n);
	return json_string(hex);
}

static json_t *manifest_str_json(const char *s, size_t cap)
{
	return json_stringn_nocheck(s, strnlen(s, cap));
}

static int manifest_build_results(const struct manifest *m, json_t *root)
{
	json_t *arr = json_array();
	size_t i;

	if (!arr || field_set(root, "results", arr) < 0)
		return ERROR_NOMEM;
	for (i = 0; i < m->n_results; i++) {
		const struct manifest_result *r = &m->results[i];
		json_t *o = json_object();

		if (!o || json_array_append_new(arr, o) < 0 ||
		    field_set(o, "unit", json_integer((json_int_t)r->unit)) < 0 ||
		    field_set(o, "unit_id", manifest_hex_json(r->unit_id.bytes, HASH_BYTES)) < 0 ||
		    field_set(o, "output", manifest_hex_json(r->output.bytes, HASH_BYTES)) < 0 ||
		    field_set(o, "host", json_integer((json_int_t)r->host)) < 0 ||
		    field_set(o, "host_key",
			      manifest_hex_json(r->host_key.bytes, KEY_PUBLIC_BYTES)) < 0)
			return ERROR_NOMEM;
	}
	return 0;
}

static json_t *manifest_build(const struct manifest *m)
{
	json_t *root = json_object(), *outer = json_object(), *eval = json_object();
	int ok;

	ok = root && outer && eval && field_set(root, "version", json_integer(m->version)) == 0 &&
	     field_set(root, "job", manifest_str_json(m->job, sizeof(m->job))) == 0 &&
	     field_set(root, "round", json_integer((json_int_t)m->round)) == 0 &&
	     field_set(root, "preset", manifest_str_json(m->preset, sizeof(m->preset))) == 0 &&
	     field_set(root, "parent", manifest_hex_json(m->parent.bytes, HASH_BYTES)) == 0 &&
	     field_set(root, "model", manifest_hex_json(m->model.bytes, HASH_BYTES)) == 0 &&
	     field_set(root, "momentum", manifest_hex_json(m->momentum.bytes, HASH_BYTES)) == 0 &&
	     manifest_build_results(m, root) == 0 &&
	     field_set(root, "outer", json_incref(outer)) == 0 &&
	     field_set(outer, "lr", json_real(m->outer_lr)) == 0 &&
	     field_set(outer, "momentum", json_real(m->outer_momentum)) == 0 &&
	     field_set(root, "eval", json_incref(eval)) == 0 &&
	     field_set(eval, "data", manifest_hex_json(m->eval_data.bytes, HASH_BYTES)) == 0 &&
	     field_set(eval, "sequences", json_integer((json_int_t)m->eval_sequences)) == 0 &&
	     field_set(eval, "loss", json_real(m->eval_loss)) == 0 &&
	     field_set(root, "created", json_integer((json_int_t)m->created)) == 0;
	json_decref(outer);
	json_decref(eval);
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int manifest_to_json(const struct manifest *m, char **out, size_t *len, struct error *err)
{
	struct manifest check;
	json_t *root;
	int rc;

	*out = NULL;
	*len = 0;
	root = manifest_build(m);
	if (!root)
		return error_set(err, ERROR_NOMEM, "cannot encode manifest: out of memory");
	manifest_init(&check);
	rc = manifest_from_json(&check, root, err);
	manifest_release(&check);
	if (rc == 0 && field_dump(root, out, len) < 0)
		rc = error_set(err, ERROR_NOMEM, "cannot encode manifest: out of memory");
	json_decref(root);
	return rc;
}

void manifest_id(struct hash *id, const void *payload, size_t len)
{
	hash_buf(id, payload, len);
}

int manifest_seal(const struct manifest *m, const struct key_secret *sk, unsigned char **env,
		  size_t *env_len, struct hash *id, struct error *err)
{
	char *json;
	size_t len;
	int rc;

	*env = NULL;
	*env_len = 0;
	rc = manifest_to_json(m, &json, &len, err);
	if (rc < 0)
		return rc;
	rc = envelope_seal(sk, ENVELOPE_TYPE_MANIFEST, json, len, env, env_len, err);
	if (rc == 0 && id)
		manifest_id(id, json, len);
	free(json);
	return rc;
}

int manifest_open(struct manifest *m, struct hash *id, const void *env, size_t env_len,
		  const struct key_public *pk, struct error *err)
{
	const unsigned char *payload;
	size_t len;
	int rc;

	rc = envelope_open(env, env_len, ENVELOPE_TYPE_MANIFEST, pk, &payload, &len, err);
	if (rc < 0)
		return rc;
	rc = manifest_parse(m, payload, len, err);
	if (rc == 0 && id)
		manifest_id(id, payload, len);
	return rc;
}
