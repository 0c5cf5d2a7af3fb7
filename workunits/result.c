/*
 * result.c - the result descriptor: canonical JSON, strict parsing,
 * sealing and opening (see result.h).
 */
#include "config.h"

#include "workunits/result.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hex.h"
#include "workunits/envelope.h"
#include "workunits/field.h"
#include "workunits/unit.h"

static const char *const result_keys[] = {"version",     "unit_id", "host",    "output",
					  "output_size", "metrics", "compute", NULL};
static const char *const result_metrics_keys[] = {"loss_first", "loss_last", NULL};
static const char *const result_compute_keys[] = {"device", "seconds", "steps", NULL};

void result_init(struct result *r)
{
	memset(r, 0, sizeof(*r));
	r->version = RESULT_VERSION;
}

static int result_parse_host(struct result *r, const json_t *root, struct error *err)
{
	json_t *j;
	int rc;

	rc = field_get(root, "", "host", &j, err);
	if (rc < 0)
		return rc;
	if (!json_is_string(j))
		return error_set(err, ERROR_TYPE, "field 'host': expected string, got %s",
				 field_type_name(j));
	if (json_string_length(j) != KEY_PUBLIC_HEX_LEN ||
	    key_public_from_hex(&r->host, json_string_value(j), NULL) < 0)
		return error_set(err, ERROR_FORMAT,
				 "field 'host': expected a public key (64 lowercase hex digits)");
	return 0;
}

static int result_from_json(struct result *r, const json_t *root, struct error *err)
{
	json_t *metrics, *compute;
	uint64_t steps;
	int rc;

	result_init(r);
	if ((rc = field_version(root, RESULT_VERSION, "result", err)) < 0 ||
	    (rc = field_only(root, "", result_keys, err)) < 0 ||
	    (rc = field_hash(root, "", "unit_id", &r->unit_id, err)) < 0 ||
	    (rc = result_parse_host(r, root, err)) < 0 ||
	    (rc = field_hash(root, "", "output", &r->output, err)) < 0 ||
	    (rc = field_uint(root, "", "output_size", 0, FIELD_INT_MAX, &r->output_size, err)) < 0)
		return rc;
	if ((rc = field_object(root, "", "metrics", &metrics, err)) < 0 ||
	    (rc = field_only(metrics, "metrics", result_metrics_keys, err)) < 0 ||
	    (rc = field_number(metrics, "metrics", "loss_first", 0, 0, RESULT_LOSS_MAX,
			       &r->metrics.loss_first, err)) < 0 ||
	    (rc = field_number(metrics, "metrics", "loss_last", 0, 0, RESULT_LOSS_MAX,
			       &r->metrics.loss_last, err)) < 0)
		return rc;
	if ((rc = field_object(root, "", "compute", &compute, err)) < 0 ||
	    (rc = field_only(compute, "compute", result_compute_keys, err)) < 0 ||
	    (rc = field_string(compute, "compute", "device", field_is_printable, r->compute.device,
			       sizeof(r->compute.device), err)) < 0 ||
	    (rc = field_number(compute, "compute", "seconds", 0, 0, RESULT_SECONDS_MAX,
			       &r->compute.seconds, err)) < 0 ||
	    (rc = field_uint(compute, "compute", "steps", 1, UNIT_STEPS_MAX, &steps, err)) < 0)
		return rc;
	r->compute.steps = (uint32_t)steps;
	return 0;
}

int result_parse(struct result *r, const void *json, size_t len, struct error *err)
{
	json_t *root;
	int rc;

	rc = field_load(&root, json, len, RESULT_JSON_MAX, "result", err);
	if (rc < 0)
		return rc;
	rc = result_from_json(r, root, err);
	json_decref(root);
	return rc;
}

static json_t *result_hex_json(const void *bytes, size_t n)
{
	char hex[2 * KEY_SIG_BYTES + 1];

	hex_encode(hex, bytes, n);
	return json_string(hex);
}

static json_t *result_build(const struct result *r)
{
	json_t *root = json_object(), *metrics = json_object(), *compute = json_object();
	int ok;

	ok = root && metrics && compute &&
	     field_set(root, "version", json_integer(r->version)) == 0 &&
	     field_set(root, "unit_id", result_hex_json(r->unit_id.bytes, HASH_BYTES)) == 0 &&
	     field_set(root, "host", result_hex_json(r->host.bytes, KEY_PUBLIC_BYTES)) == 0 &&
	     field_set(root, "output", result_hex_json(r->output.bytes, HASH_BYTES)) == 0 &&
	     field_set(root, "output_size", json_integer((json_int_t)r->output_size)) == 0 &&
	     field_set(root, "metrics", json_incref(metrics)) == 0 &&
	     field_set(metrics, "loss_first", json_real(r->metrics.loss_first)) == 0 &&
	     field_set(metrics, "loss_last", json_real(r->metrics.loss_last)) == 0 &&
	     field_set(root, "compute", json_incref(compute)) == 0 &&
	     field_set(compute, "device",
		       json_stringn_nocheck(
			   r->compute.device,
			   strnlen(r->compute.device, sizeof(r->compute.device)))) == 0 &&
	     field_set(compute, "seconds", json_real(r->compute.seconds)) == 0 &&
	     field_set(compute, "steps", json_integer(r->compute.steps)) == 0;
	json_decref(metrics);
	json_decref(compute);
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Builds the canonical tree and validates it with the parser. */
static int result_build_checked(const struct result *r, json_t **root, struct error *err)
{
	struct result check;
	int rc;

	*root = result_build(r);
	if (!*root)
		return error_set(err, ERROR_NOMEM, "cannot encode result: out of memory");
	rc = result_from_json(&check, *root, err);
	if (rc < 0) {
		json_decref(*root);
		*root = NULL;
	}
	return rc;
}

int result_check(const struct result *r, struct error *err)
{
	json_t *root;
	int rc = result_build_checked(r, &root, err);

	json_decref(root);
	return rc;
}

int result_to_json(const struct result *r, char **out, size_t *len, struct error *err)
{
	json_t *root;
	int rc;

	*out = NULL;
	*len = 0;
	rc = result_build_checked(r, &root, err);
	if (rc < 0)
		return rc;
	rc = field_dump(root, out, len);
	json_decref(root);
	if (rc < 0)
		return error_set(err, rc, "cannot encode result: out of memory");
	return 0;
}

int result_seal(const struct result *r, const struct key_secret *sk, unsigned char **env,
		size_t *env_len, struct error *err)
{
	struct key_public pk;
	char *json;
	size_t len;
	int rc;

	*env = NULL;
	*env_len = 0;
	key_public_of(&pk, sk);
	if (!key_public_equal(&pk, &r->host))
		return error_set(err, ERROR_INVALID, "result's host key is not the signing key");
	rc = result_to_json(r, &json, &len, err);
	if (rc < 0)
		return rc;
	rc = envelope_seal(sk, ENVELOPE_TYPE_RESULT, json, len, env, env_len, err);
	free(json);
	return rc;
}

int result_open(struct result *r, const void *env, size_t env_len, const struct key_public *host,
		struct error *err)
{
	const unsigned char *payload;
	size_t len;
	int rc;

	rc = envelope_open(env, env_len, ENVELOPE_TYPE_RESULT, host, &payload, &len, err);
	if (rc < 0)
		return rc;
	rc = result_parse(r, payload, len, err);
	if (rc < 0)
		return rc;
	if (!key_public_equal(&r->host, host))
		return error_set(err, ERROR_SIGNATURE, "result names another host than its signer");
	return 0;
}
