/*
 * dataset.c - the signed dataset manifest (see dataset.h): compact JSON
 * built in a fixed key order, a strict parser, seal and open.
 */
#include "config.h"

#include "server-tools/dataset.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "workunits/envelope.h"

void dataset_manifest_release(struct dataset_manifest *m)
{
	free(m->shards);
	m->shards = NULL;
	m->n_shards = 0;
}

int dataset_manifest_to_json(const struct dataset_manifest *m, char **out, size_t *len,
			     struct error *err)
{
	char hex[HASH_HEX_LEN + 1];
	json_t *root, *arr;
	size_t i;

	*out = NULL;
	arr = json_array();
	for (i = 0; arr && i < m->n_shards; i++) {
		hash_to_hex(&m->shards[i].hash, hex);
		json_array_append_new(arr, json_pack("{s:s, s:I}", "hash", hex, "size",
						     (json_int_t)m->shards[i].size));
	}
	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:o, s:I}", "version", DATASET_VERSION,
			 "name", m->name, "owner", m->owner, "licence", m->licence, "source",
			 m->source, "bytes", (json_int_t)m->bytes, "shards", arr, "created",
			 (json_int_t)m->created);
	if (!root)
		return error_set(err, ERROR_FORMAT, "cannot encode the dataset manifest");
	*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!*out)
		return error_set(err, ERROR_NOMEM, "out of memory");
	*len = strlen(*out);
	return 0;
}

/* Copies a string member of 1..max bytes without control characters
 * (no spaces either when token). */
static int dataset_text(json_t *o, const char *name, char *out, size_t max, int token,
			struct error *err)
{
	json_t *v = json_object_get(o, name);
	const char *s;
	size_t n, i;

	if (!v)
		return error_set(err, ERROR_MISSING, "missing field '%s'", name);
	if (!json_is_string(v))
		return error_set(err, ERROR_TYPE, "field '%s' must be a string", name);
	s = json_string_value(v);
	n = strlen(s);
	if (n == 0 || n > max || n != json_string_length(v))
		return error_set(err, ERROR_RANGE, "field '%s' must have 1..%zu bytes", name, max);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || (token && s[i] == ' '))
			return error_set(err, ERROR_FORMAT, "field '%s' holds a %s", name,
					 token ? "space or control character"
					       : "control character");
	memcpy(out, s, n + 1);
	return 0;
}

static int dataset_uint(json_t *o, const char *name, uint64_t max, uint64_t *out, struct error *err)
{
	json_t *v = json_object_get(o, name);

	if (!v)
		return error_set(err, ERROR_MISSING, "missing field '%s'", name);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return error_set(err, ERROR_RANGE, "field '%s' must be an integer in 0..%llu", name,
				 (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int dataset_parse_shards(struct dataset_manifest *m, json_t *arr, struct error *err)
{
	uint64_t sum = 0;
	json_t *e;
	size_t i;
	int rc;

	if (!json_is_array(arr) || json_array_size(arr) < 1 ||
	    json_array_size(arr) > DATASET_SHARDS_MAX)
		return error_set(err, ERROR_RANGE, "field 'shards' must be an array of 1..%d",
				 DATASET_SHARDS_MAX);
	m->shards = calloc(json_array_size(arr), sizeof(*m->shards));
	if (!m->shards)
		return error_set(err, ERROR_NOMEM, "out of memory");
	json_array_foreach(arr, i, e)
	{
		json_t *h = json_object_get(e, "hash");
		if (!json_is_object(e) || json_object_size(e) != 2 || !json_is_string(h) ||
		    hash_from_hex(&m->shards[i].hash, json_string_value(h), err) < 0)
			return error_set(err, ERROR_FORMAT,
					 "shards[%zu]: want {\"hash\", \"size\"}", i);
		rc = dataset_uint(e, "size", DATASET_SHARD_MAX, &m->shards[i].size, err);
		if (rc < 0 || m->shards[i].size == 0)
			return error_set(err, ERROR_RANGE, "shards[%zu]: size must be 1..%u", i,
					 DATASET_SHARD_MAX);
		sum += m->shards[i].size;
		m->n_shards = i + 1;
	}
	if (sum != m->bytes)
		return error_set(err, ERROR_RANGE, "field 'bytes' is %llu, the shards sum to %llu",
				 (unsigned long long)m->bytes, (unsigned long long)sum);
	return 0;
}

int dataset_manifest_parse(struct dataset_manifest *m, const void *json, size_t len,
			   struct error *err)
{
	static const char *const known[] = {"version", "name",   "owner",   "licence", "source",
					    "bytes",   "shards", "created", NULL};
	json_error_t jerr;
	const char *key;
	uint64_t v;
	json_t *root, *val;
	size_t i;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return error_set(err, ERROR_FORMAT, "dataset manifest is not a JSON object");
	}
	json_object_foreach(root, key, val)
	{
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i] && rc == 0)
			rc = error_set(err, ERROR_FORMAT, "unknown field '%.64s'", key);
	}
	if (rc == 0 && (rc = dataset_uint(root, "version", 1000, &v, err)) == 0 &&
	    v != DATASET_VERSION)
		rc = error_set(err, ERROR_VERSION, "dataset manifest version %llu",
			       (unsigned long long)v);
	if (rc == 0)
		rc = dataset_text(root, "name", m->name, DATASET_NAME_MAX, 1, err);
	if (rc == 0)
		rc = dataset_text(root, "owner", m->owner, DATASET_TEXT_MAX, 0, err);
	if (rc == 0)
		rc = dataset_text(root, "licence", m->licence, DATASET_TEXT_MAX, 0, err);
	if (rc == 0)
		rc = dataset_text(root, "source", m->source, DATASET_TEXT_MAX, 0, err);
	if (rc == 0)
		rc = dataset_uint(root, "bytes", (UINT64_C(1) << 53) - 1, &m->bytes, err);
	if (rc == 0 && (rc = dataset_uint(root, "created", (UINT64_C(1) << 53) - 1, &v, err)) == 0)
		m->created = (int64_t)v;
	if (rc == 0)
		rc = dataset_parse_shards(m, json_object_get(root, "shards"), err);
	json_decref(root);
	return rc;
}

int dataset_manifest_seal(const struct dataset_manifest *m, const struct key_secret *sk,
			  unsigned char **env, size_t *env_len, struct error *err)
{
	char *json = NULL;
	size_t len;
	int rc = dataset_manifest_to_json(m, &json, &len, err);

	if (rc == 0)
		rc = envelope_seal(sk, ENVELOPE_TYPE_DATASET, json, len, env, env_len, err);
	free(json);
	return rc;
}

int dataset_manifest_open(struct dataset_manifest *m, struct key_public *signer, const void *env,
			  size_t env_len, struct error *err)
{
	struct envelope_info info;
	const unsigned char *payload;
	size_t plen;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = envelope_peek(&info, env, env_len, err);
	if (rc < 0)
		return rc;
	rc = envelope_open(env, env_len, ENVELOPE_TYPE_DATASET, &info.signer, &payload, &plen, err);
	if (rc < 0)
		return rc;
	*signer = info.signer;
	return dataset_manifest_parse(m, payload, plen, err);
}
