/*
 * unit-test.c - the work-unit descriptor: fixture parse, canonical
 * encoding (fixed bytes, key order independent, idempotent), one error per
 * kind of bad field (code and a message naming the field), caps, and
 * signing: a fixture envelope made by an independent Ed25519 (python's
 * cryptography) matches ours byte for byte, and every single-byte change
 * of a sealed unit is rejected.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "workunits/envelope.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define FIXTURE   "tests/fixtures/workunits/unit-valid.json"
#define CANONICAL "tests/fixtures/workunits/unit-canonical.json"
#define SIGNED    "tests/fixtures/workunits/unit-signed.env"
#define UNIT_ID   "264278974acdf32aa56100751beaabd93835b77027dc80d4ebaed188f62ca53c"

static char *valid;
static size_t valid_len;

/* valid with the first occurrence of old replaced by new (malloc'd). */
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

static void test_parse_fixture(void)
{
	struct unit u;
	struct error err;
	char hex[HASH_HEX_LEN + 1];

	TAP_IS(unit_parse(&u, valid, valid_len, &err), 0, "fixture parses");
	hash_to_hex(&u.model, hex);
	tap_ok(
	    strcmp(u.job, "tiny-shakespeare") == 0 && u.round == 3 && u.index == 17 &&
		strcmp(hex, "5fc62270dfde2944cf6dd24f2062520d4cfce31e25a29dcde72d269c8aa9bbfb") ==
		    0 &&
		strcmp(u.preset, "gpt-tiny") == 0,
	    "job, round, unit, model, preset");
	tap_ok(u.n_data == 2 && u.data[1].offset == 131072 && u.data[1].length == 4096 &&
		   u.data[0].length == 65536,
	       "data ranges");
	tap_ok(u.hyper.lr == 0.001 && u.hyper.beta1 == 0.9 && u.hyper.beta2 == 0.95 &&
		   u.hyper.eps == 1e-8 && u.hyper.weight_decay == 0.1 && u.hyper.clip == 1 &&
		   u.hyper.batch == 8 && u.hyper.context == 256,
	       "hyper-parameters");
	tap_ok(u.steps == 100 && u.seed == UINT64_MAX && u.kernel_abi == 1 &&
		   u.deadline == 1800000000 && u.flops == 123456789,
	       "steps, seed (2^64 - 1, as a string), kernel_abi, deadline, flops");
}

static void test_canonical(void)
{
	unsigned char *want;
	size_t want_len = 0, len, len2;
	char *json, *json2, *shuffled;
	struct unit u, u2;
	struct error err;

	if (unit_parse(&u, valid, valid_len, &err) != 0 ||
	    unit_to_json(&u, &json, &len, &err) != 0) {
		tap_ok(0, "encode: %s", err.msg);
		return;
	}
	want = tap_read_srcfile(CANONICAL, &want_len);
	while (want && want_len > 0 && want[want_len - 1] == '\n')
		want_len--;
	if (!tap_ok(want && want_len == len && memcmp(want, json, len) == 0,
		    "canonical encoding matches the committed bytes"))
		tap_diag("got %s", json);
	TAP_IS(unit_parse(&u2, json, len, &err), 0, "canonical form parses");
	TAP_IS(unit_to_json(&u2, &json2, &len2, &err), 0, "and encodes again");
	tap_ok(len == len2 && memcmp(json, json2, len) == 0, "encoding is idempotent");
	free(json2);

	/* Keys in another order, other spacing: same canonical bytes. */
	shuffled = malloc(valid_len + 64);
	snprintf(shuffled, valid_len + 64, "{\"flops\":123456789,%s", strstr(valid, "\"version\""));
	{
		char *dup = strstr(shuffled, ",\n  \"flops\": 123456789");

		if (dup)
			memmove(dup, dup + strlen(",\n  \"flops\": 123456789"),
				strlen(dup + strlen(",\n  \"flops\": 123456789")) + 1);
	}
	tap_ok(unit_parse(&u2, shuffled, strlen(shuffled), &err) == 0 &&
		   unit_to_json(&u2, &json2, &len2, &err) == 0 && len == len2 &&
		   memcmp(json, json2, len) == 0,
	       "reordered input gives the same canonical bytes");
	free(shuffled);
	free(json2);
	free(json);
	free(want);

	/* unit_to_json refuses an invalid struct. */
	u2 = u;
	u2.steps = 0;
	TAP_IS(unit_to_json(&u2, &json2, &len2, &err), ERROR_RANGE, "encoding refuses steps 0");
	u2 = u;
	u2.job[0] = 'A';
	TAP_IS(unit_check(&u2, &err), ERROR_FORMAT, "unit_check refuses an uppercase job id");
	u2 = u;
	u2.n_data = 0;
	TAP_IS(unit_check(&u2, &err), ERROR_RANGE, "unit_check refuses no data");
}

struct bad_case {
	const char *old, *new;
	int code;
	const char *msg; /* must appear in the message */
};

static const struct bad_case bad_cases[] = {
    {"\"version\": 1", "\"version\": 2", ERROR_VERSION, "unsupported unit version 2"},
    {"\"version\": 1", "\"version\": \"1\"", ERROR_TYPE, "field 'version'"},
    {"\"version\": 1,", "", ERROR_MISSING, "missing field 'version'"},
    {"\"round\": 3", "\"round\": \"3\"", ERROR_TYPE, "field 'round': expected integer, got string"},
    {"\"round\": 3", "\"round\": 3.0", ERROR_TYPE, "field 'round': expected integer, got real"},
    {"\"round\": 3", "\"round\": -1", ERROR_RANGE, "field 'round'"},
    {"\"round\": 3,", "", ERROR_MISSING, "missing field 'round'"},
    {"\"unit\": 17", "\"unit\": 1000000001", ERROR_RANGE, "field 'unit'"},
    {"\"job\": \"tiny-shakespeare\"", "\"job\": \"Tiny\"", ERROR_FORMAT, "field 'job'"},
    {"\"job\": \"tiny-shakespeare\"", "\"job\": \"\"", ERROR_RANGE, "field 'job'"},
    {"\"job\": \"tiny-shakespeare\"", "\"job\": 7", ERROR_TYPE, "field 'job'"},
    {"\"model\": \"5fc6", "\"model\": \"5FC6", ERROR_FORMAT, "field 'model'"},
    {"\"preset\": \"gpt-tiny\"", "\"preset\": \"gpt tiny\"", ERROR_FORMAT, "field 'preset'"},
    {"\"steps\": 100", "\"steps\": 0", ERROR_RANGE, "field 'steps'"},
    {"\"steps\": 100", "\"steps\": 1000001", ERROR_RANGE, "field 'steps'"},
    {"\"seed\": \"18446744073709551615\"", "\"seed\": 5", ERROR_TYPE, "field 'seed'"},
    {"\"seed\": \"18446744073709551615\"", "\"seed\": \"18446744073709551616\"", ERROR_RANGE,
     "field 'seed'"},
    {"\"seed\": \"18446744073709551615\"", "\"seed\": \"0123\"", ERROR_FORMAT, "field 'seed'"},
    {"\"seed\": \"18446744073709551615\"", "\"seed\": \"-1\"", ERROR_FORMAT, "field 'seed'"},
    {"\"kernel_abi\": 1", "\"kernel_abi\": 0", ERROR_RANGE, "field 'kernel_abi'"},
    {"\"deadline\": 1800000000", "\"deadline\": 9007199254740992", ERROR_RANGE, "field 'deadline'"},
    {"\"flops\": 123456789", "\"flops\": -1", ERROR_RANGE, "field 'flops'"},
    {"\"flops\": 123456789", "\"flops\": null", ERROR_TYPE, "field 'flops'"},
    {"\"lr\": 0.001", "\"lr\": 0", ERROR_RANGE, "field 'hyper.lr'"},
    {"\"lr\": 0.001", "\"lr\": \"fast\"", ERROR_TYPE,
     "field 'hyper.lr': expected number, got string"},
    {"\"lr\": 0.001,", "", ERROR_MISSING, "missing field 'hyper.lr'"},
    {"\"beta1\": 0.9", "\"beta1\": 1.0", ERROR_RANGE, "field 'hyper.beta1'"},
    {"\"beta2\": 0.95", "\"beta2\": 1e400", ERROR_FORMAT, "not valid JSON"},
    {"\"eps\": 1e-8", "\"eps\": 0", ERROR_RANGE, "field 'hyper.eps'"},
    {"\"batch\": 8", "\"batch\": 0", ERROR_RANGE, "field 'hyper.batch'"},
    {"\"context\": 256", "\"context\": 256, \"colour\": 1", ERROR_FORMAT,
     "unknown field 'hyper.colour'"},
    {"\"hyper\": {", "\"hyper\": [{", ERROR_FORMAT, "not valid JSON"},
    {"\"version\": 1,", "\"version\": 1, \"extra\": true,", ERROR_FORMAT, "unknown field 'extra'"},
    {"\"version\": 1,", "\"version\": 1, \"version\": 1,", ERROR_DUPLICATE, "duplicate"},
    {"\"offset\": 0,", "\"offset\": 0, \"offset\": 0,", ERROR_DUPLICATE, "duplicate"},
    {"\"offset\": 131072", "\"offset\": \"131072\"", ERROR_TYPE, "field 'data[1].offset'"},
    {"\"length\": 4096", "\"length\": 0", ERROR_RANGE, "field 'data[1].length'"},
    {"\"length\": 4096}", "\"length\": 4096, \"x\": 1}", ERROR_FORMAT, "unknown field 'data[1].x'"},
    {"\"shard\": \"bddd", "\"shard\": \"xddd", ERROR_FORMAT, "field 'data[1].shard'"},
    {"\"data\": [", "\"data\": [7, ", ERROR_TYPE, "field 'data[0]'"},
    {"\"data\": [", "\"data\": {\"a\": [", ERROR_FORMAT, "not valid JSON"},
    {"\n}", "\n} x", ERROR_FORMAT, "not valid JSON"},
    {"{", "[{", ERROR_FORMAT, "not valid JSON"},
};

static void test_bad_fields(void)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct error err;
		struct unit u;
		size_t len = 0;
		char *json = mutate(c->old, c->new, &len);
		int rc;

		if (!json) {
			tap_ok(0, "case %zu: '%s' not in the fixture", i, c->old);
			continue;
		}
		error_clear(&err);
		rc = unit_parse(&u, json, len, &err);
		if (!tap_ok(rc == c->code && strstr(err.msg, c->msg) != NULL, "bad case %zu: %s", i,
			    err.msg))
			tap_diag("got %d (%s), want %d with '%s'", rc, error_name(rc), c->code,
				 c->msg);
		free(json);
	}
}

static void test_caps(void)
{
	struct unit u;
	struct error err;
	size_t len, i, o;
	char *json;

	/* 64 KiB + 1 of valid JSON (padded with spaces). */
	len = UNIT_JSON_MAX + 1;
	json = malloc(len + 1);
	memset(json, ' ', len);
	memcpy(json, valid, valid_len);
	json[len] = '\0';
	TAP_IS(unit_parse(&u, json, len, &err), ERROR_TOO_BIG, "descriptor over 64 KiB refused");
	TAP_IS(unit_parse(&u, json, UNIT_JSON_MAX, &err), 0, "exactly 64 KiB is fine");
	free(json);

	/* 65 data ranges. */
	json = malloc(UNIT_JSON_MAX);
	o = (size_t)snprintf(json, UNIT_JSON_MAX, "%.*s", (int)(strstr(valid, "\"data\"") - valid),
			     valid);
	o += (size_t)snprintf(json + o, UNIT_JSON_MAX - o, "\"data\": [");
	for (i = 0; i <= UNIT_DATA_MAX; i++)
		o += (size_t)snprintf(json + o, UNIT_JSON_MAX - o,
				      "%s{\"shard\": \"%064d\", \"offset\": 0, \"length\": 1}",
				      i ? "," : "", 0);
	o += (size_t)snprintf(json + o, UNIT_JSON_MAX - o, "%s", strstr(valid, "],\n  \"hyper\""));
	TAP_IS(unit_parse(&u, json, o, &err), ERROR_RANGE, "65 data ranges refused");
	tap_ok(strstr(err.msg, "field 'data'") != NULL, "message: %s", err.msg);
	free(json);
}

static void test_signed(void)
{
	unsigned char seed[KEY_SEED_BYTES], *env, *fixture;
	struct key_public pk, other_pk;
	struct key_secret sk, other_sk;
	struct unit u, u2;
	struct hash id, id2;
	struct error err;
	size_t env_len, fixture_len = 0, i;
	unsigned bit, rejected = 0, tried = 0;
	int i_seed;

	for (i_seed = 0; i_seed < KEY_SEED_BYTES; i_seed++)
		seed[i_seed] = (unsigned char)i_seed;
	key_from_seed(&pk, &sk, seed);
	if (unit_parse(&u, valid, valid_len, &err) != 0 ||
	    unit_seal(&u, &sk, &env, &env_len, &id, &err) != 0) {
		tap_ok(0, "seal: %s", err.msg);
		return;
	}
	fixture = tap_read_srcfile(SIGNED, &fixture_len);
	if (!tap_ok(fixture && fixture_len == env_len && memcmp(fixture, env, env_len) == 0,
		    "sealed unit equals the envelope python's Ed25519 made"))
		tap_diag("got:\n%s", (char *)env);
	TAP_IS(unit_open(&u2, &id2, fixture, fixture_len, &pk, &err), 0, "fixture envelope opens");
	tap_ok(hash_equal(&id, &id2), "unit id is the same both ways");
	{
		char hex[HASH_HEX_LEN + 1];

		hash_to_hex(&id, hex);
		tap_ok(strcmp(hex, UNIT_ID) == 0, "unit id is python's blake2b of the payload");
	}
	TAP_IS(unit_open(&u2, &id2, env, env_len, &pk, &err), 0, "sealed unit opens");
	tap_ok(memcmp(&u, &u2, sizeof(u)) == 0, "and round-trips to the same struct");

	/* Every single-byte change at every position is rejected. */
	for (i = 0; i < env_len; i++) {
		for (bit = 0; bit < 9; bit++) {
			unsigned char save = env[i];

			env[i] ^= bit < 8 ? (unsigned char)(1u << bit) : 0xff;
			tried++;
			if (unit_open(&u2, NULL, env, env_len, &pk, NULL) < 0)
				rejected++;
			else
				tap_diag("byte %zu ^ %u accepted", i, bit);
			env[i] = save;
		}
	}
	tap_ok(rejected == tried, "all %u single-byte changes over %zu bytes rejected", tried,
	       env_len);
	for (i = 0, rejected = 0; i < env_len; i++)
		rejected += unit_open(&u2, NULL, env, i, &pk, NULL) < 0;
	tap_ok(rejected == env_len, "all %zu truncations rejected", env_len);

	key_generate(&other_pk, &other_sk);
	error_clear(&err);
	TAP_IS(unit_open(&u2, NULL, env, env_len, &other_pk, &err), ERROR_SIGNATURE,
	       "wrong key rejected");
	tap_ok(err.msg[0] != '\0', "message: %s", err.msg);
	{
		struct result r;

		error_clear(&err);
		TAP_IS(result_open(&r, env, env_len, &pk, &err), ERROR_TYPE,
		       "unit envelope refused as a result");
		tap_ok(strstr(err.msg, "'workunit'") != NULL, "message: %s", err.msg);
	}
	free(env);
	free(fixture);
}

int main(void)
{
	valid = (char *)tap_read_srcfile(FIXTURE, &valid_len);
	if (!valid)
		tap_skip_all("cannot read %s", FIXTURE);
	test_parse_fixture();
	test_canonical();
	test_bad_fields();
	test_caps();
	test_signed();
	free(valid);
	return tap_done();
}
