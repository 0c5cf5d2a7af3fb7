/*
 * result-test.c - the result descriptor: fixture parse, canonical round
 * trip, bad fields, and signing by the host key (wrong host, host field
 * not the signer, every single-byte change, unit/result confusion).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "workunits/envelope.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define FIXTURE "tests/fixtures/workunits/result-valid.json"

static char *valid;
static size_t valid_len;

static char *mutate(const char *old, const char *new, size_t *len)
{
	const char *at = strstr(valid, old);
	size_t olen = strlen(old), nlen = strlen(new);
	char *out;

	if (!at)
		return NULL;
	out = malloc(valid_len - olen + nlen + 1);
	memcpy(out, valid, (size_t)(at - valid));
	memcpy(out + (at - valid), new, nlen);
	memcpy(out + (at - valid) + nlen, at + olen, valid_len - (size_t)(at - valid) - olen + 1);
	*len = valid_len - olen + nlen;
	return out;
}

static void test_parse(void)
{
	struct result r, r2;
	struct error err;
	char *json;
	size_t len;

	TAP_IS(result_parse(&r, valid, valid_len, &err), 0, "fixture parses");
	tap_ok(r.output_size == 4194304 && r.metrics.loss_first == 4.17 &&
		   r.metrics.loss_last == 3.92 &&
		   strcmp(r.compute.device, "pocl cpu (AMD Ryzen 7)") == 0 &&
		   r.compute.seconds == 12.5 && r.compute.steps == 100,
	       "fields");
	TAP_IS(result_to_json(&r, &json, &len, &err), 0, "encode");
	tap_ok(strncmp(json, "{\"version\":1,\"unit_id\":\"bddd", 28) == 0 &&
		   !strstr(json, "\": ") && !strchr(json, '\n'),
	       "canonical: fixed key order, compact: %s", json);
	TAP_IS(result_parse(&r2, json, len, &err), 0, "canonical form parses");
	tap_ok(memcmp(&r, &r2, sizeof(r)) == 0, "round trip");
	free(json);
}

static const struct {
	const char *old, *new;
	int code;
	const char *msg;
} bad_cases[] = {
    {"\"version\": 1", "\"version\": 3", ERROR_VERSION, "unsupported result version 3"},
    {"\"output_size\": 4194304", "\"output_size\": \"big\"", ERROR_TYPE,
     "field 'output_size': expected integer, got string"},
    {"\"output_size\": 4194304,", "", ERROR_MISSING, "missing field 'output_size'"},
    {"\"host\": \"03a1", "\"host\": \"zza1", ERROR_FORMAT, "field 'host'"},
    {"\"host\": \"03a1", "\"host\": \"03a", ERROR_FORMAT, "field 'host'"},
    {"\"unit_id\": \"bddd", "\"unit_id\": \"Bddd", ERROR_FORMAT, "field 'unit_id'"},
    {"\"loss_first\": 4.17", "\"loss_first\": -1", ERROR_RANGE, "field 'metrics.loss_first'"},
    {"\"loss_last\": 3.92", "\"loss_last\": 3.92, \"x\": 0", ERROR_FORMAT,
     "unknown field 'metrics.x'"},
    {"\"device\": \"pocl cpu (AMD Ryzen 7)\"", "\"device\": \"tab\\there\"", ERROR_FORMAT,
     "field 'compute.device'"},
    {"\"device\": \"pocl cpu (AMD Ryzen 7)\"",
     "\"device\": \"0123456789012345678901234567890123456789012345678901234567890123456789\"",
     ERROR_RANGE, "field 'compute.device'"},
    {"\"steps\": 100", "\"steps\": 0", ERROR_RANGE, "field 'compute.steps'"},
    {"\"seconds\": 12.5", "\"seconds\": 12.5, \"seconds\": 1", ERROR_DUPLICATE, "duplicate"},
    {"\"compute\": {", "\"compute\": [{", ERROR_FORMAT, "not valid JSON"},
    {"\"metrics\": {\"loss_first\": 4.17, \"loss_last\": 3.92}", "\"metrics\": 1", ERROR_TYPE,
     "field 'metrics': expected object"},
};

static void test_bad(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct result r;
		struct error err;
		size_t len = 0;
		char *json = mutate(bad_cases[i].old, bad_cases[i].new, &len);
		int rc;

		if (!json) {
			tap_ok(0, "bad case %zu not in the fixture", i);
			continue;
		}
		error_clear(&err);
		rc = result_parse(&r, json, len, &err);
		if (!tap_ok(rc == bad_cases[i].code && strstr(err.msg, bad_cases[i].msg),
			    "bad case %zu: %s", i, err.msg))
			tap_diag("got %d (%s), want %d", rc, error_name(rc), bad_cases[i].code);
		free(json);
	}
}

static void test_signed(void)
{
	struct key_public host, other;
	struct key_secret host_sk, other_sk;
	struct result r, r2;
	struct unit u;
	unsigned char *env;
	size_t env_len, i;
	unsigned bit, tried = 0, rejected = 0;
	struct error err;

	key_generate(&host, &host_sk);
	key_generate(&other, &other_sk);
	if (result_parse(&r, valid, valid_len, &err) != 0) {
		tap_ok(0, "parse: %s", err.msg);
		return;
	}
	TAP_IS(result_seal(&r, &host_sk, &env, &env_len, &err), ERROR_INVALID,
	       "seal refuses a key other than the result's host");
	r.host = host;
	TAP_IS(result_seal(&r, &host_sk, &env, &env_len, &err), 0, "seal with the host key");
	TAP_IS(result_open(&r2, env, env_len, &host, &err), 0, "open");
	tap_ok(memcmp(&r, &r2, sizeof(r)) == 0, "round trip through the envelope");
	TAP_IS(result_open(&r2, env, env_len, &other, &err), ERROR_SIGNATURE, "wrong host key");
	error_clear(&err);
	TAP_IS(unit_open(&u, NULL, env, env_len, &host, &err), ERROR_TYPE,
	       "result envelope refused as a unit");
	tap_ok(err.msg[0] != '\0', "message: %s", err.msg);
	for (i = 0; i < env_len; i++)
		for (bit = 0; bit < 9; bit++) {
			unsigned char save = env[i];

			env[i] ^= bit < 8 ? (unsigned char)(1u << bit) : 0xff;
			tried++;
			rejected += result_open(&r2, env, env_len, &host, NULL) < 0;
			env[i] = save;
		}
	tap_ok(rejected == tried, "all %u single-byte changes rejected", tried);
	free(env);

	/* Signed by one host but naming another in "host". */
	{
		char *json;
		size_t len;

		r.host = other;
		if (result_to_json(&r, &json, &len, &err) == 0 &&
		    envelope_seal(&host_sk, ENVELOPE_TYPE_RESULT, json, len, &env, &env_len,
				  &err) == 0) {
			error_clear(&err);
			TAP_IS(result_open(&r2, env, env_len, &host, &err), ERROR_SIGNATURE,
			       "host field must be the signer");
			tap_ok(err.msg[0] != '\0', "message: %s", err.msg);
			free(env);
		}
		free(json);
	}
}

/* An envelope made by python (json.dumps compact + cryptography's
 * Ed25519, seed 0..31): opens with our code, and our canonical encoding
 * of its payload is byte-identical to python's. */
static void test_python_fixture(void)
{
	unsigned char seed[KEY_SEED_BYTES], *env;
	const unsigned char *payload;
	size_t env_len = 0, payload_len, len, i;
	struct key_public pk;
	struct key_secret sk;
	struct result r;
	struct error err;
	char *json;

	for (i = 0; i < KEY_SEED_BYTES; i++)
		seed[i] = (unsigned char)i;
	key_from_seed(&pk, &sk, seed);
	env = tap_read_srcfile("tests/fixtures/workunits/result-signed.env", &env_len);
	if (!tap_ok(env != NULL, "read the python-signed result"))
		return;
	TAP_IS(result_open(&r, env, env_len, &pk, &err), 0, "python-signed result opens");
	TAP_IS(envelope_open(env, env_len, ENVELOPE_TYPE_RESULT, &pk, &payload, &payload_len, &err),
	       0, "envelope opens");
	tap_ok(result_to_json(&r, &json, &len, &err) == 0 && len == payload_len &&
		   memcmp(json, payload, len) == 0,
	       "our canonical form equals python's compact json.dumps");
	free(json);
	free(env);
}

int main(void)
{
	valid = (char *)tap_read_srcfile(FIXTURE, &valid_len);
	if (!valid)
		tap_skip_all("cannot read %s", FIXTURE);
	test_parse();
	test_bad();
	test_signed();
	test_python_fixture();
	free(valid);
	return tap_done();
}
