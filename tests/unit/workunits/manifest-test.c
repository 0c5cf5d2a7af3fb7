/*
 * manifest-test.c - the model manifest: canonical round trip, sealing and
 * opening, every single-byte change of a sealed manifest rejected, missing,
 * duplicate, unknown and out-of-order fields rejected with their codes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "workunits/envelope.h"
#include "workunits/manifest.h"

static void fill_hash(struct hash *h, unsigned char v)
{
	memset(h->bytes, v, sizeof(h->bytes));
}

static void make_manifest(struct manifest *m, size_t n_results)
{
	size_t i;

	manifest_init(m);
	snprintf(m->job, sizeof(m->job), "tiny-job");
	snprintf(m->preset, sizeof(m->preset), "gpt-tiny");
	m->round = 3;
	fill_hash(&m->parent, 0x11);
	fill_hash(&m->model, 0x22);
	fill_hash(&m->momentum, 0x33);
	for (i = 0; i < n_results; i++) {
		struct manifest_result r;

		memset(&r, 0, sizeof(r));
		r.unit = i * 2;
		fill_hash(&r.unit_id, (unsigned char)(0x40 + i));
		fill_hash(&r.output, (unsigned char)(0x80 + i));
		r.host = 10 + i;
		memset(r.host_key.bytes, (int)(0xc0 + i), sizeof(r.host_key.bytes));
		if (manifest_add_result(m, &r) < 0)
			abort();
	}
	m->outer_lr = 0.7;
	m->outer_momentum = 0.9;
	fill_hash(&m->eval_data, 0x55);
	m->eval_sequences = 16;
	m->eval_loss = 3.9812345678901234;
	m->created = 1800000000;
}

static void test_round_trip(void)
{
	struct manifest m, back;
	struct error err;
	char *json, *json2;
	size_t len, len2;

	make_manifest(&m, 3);
	manifest_init(&back);
	TAP_IS(manifest_to_json(&m, &json, &len, &err), 0, "manifest encodes");
	tap_diag("%s", json);
	TAP_IS(manifest_parse(&back, json, len, &err), 0, "manifest parses back");
	TAP_IS(back.n_results, 3, "three results");
	TAP_OK(back.eval_loss == m.eval_loss && back.outer_lr == m.outer_lr && back.round == 3 &&
		   back.results[2].unit == 4 && back.results[1].host == 11 &&
		   hash_equal(&back.results[2].output, &m.results[2].output) &&
		   key_public_equal(&back.results[0].host_key, &m.results[0].host_key),
	       "fields survive the round trip exactly");
	TAP_IS(manifest_to_json(&back, &json2, &len2, &err), 0, "re-encodes");
	TAP_OK(len == len2 && memcmp(json, json2, len) == 0, "canonical: same bytes again");
	free(json);
	free(json2);
	manifest_release(&back);
	manifest_release(&m);

	make_manifest(&m, 0);
	TAP_IS(manifest_to_json(&m, &json, &len, &err), 0, "a manifest without results encodes");
	TAP_IS(manifest_parse(&back, json, len, &err), 0, "and parses");
	free(json);
	manifest_release(&back);
	m.outer_momentum = 1.0;
	TAP_IS(manifest_to_json(&m, &json, &len, &err), ERROR_RANGE, "momentum 1 refused");
	manifest_release(&m);
}

/* Replaces the first occurrence of old in the canonical JSON by new and
 * returns the parse error code. */
static int parse_mutated(const char *old, const char *new)
{
	struct manifest m;
	struct error err;
	char *json, *out, *at;
	size_t len, olen = strlen(old), nlen = strlen(new);
	int rc;

	make_manifest(&m, 2);
	if (manifest_to_json(&m, &json, &len, &err) < 0)
		abort();
	manifest_release(&m);
	at = strstr(json, old);
	if (!at) {
		free(json);
		return 1;
	}
	out = malloc(len - olen + nlen + 1);
	memcpy(out, json, (size_t)(at - json));
	memcpy(out + (at - json), new, nlen);
	memcpy(out + (at - json) + nlen, at + olen, len - (size_t)(at - json) - olen + 1);
	error_clear(&err);
	rc = manifest_parse(&m, out, strlen(out), &err);
	tap_diag("  %s -> %s", new, err.msg);
	manifest_release(&m);
	free(out);
	free(json);
	return rc;
}

static void test_bad_fields(void)
{
	TAP_IS(parse_mutated("\"round\":3,", ""), ERROR_MISSING, "missing round");
	TAP_IS(parse_mutated("\"round\":3,", "\"round\":3,\"round\":3,"), ERROR_DUPLICATE,
	       "duplicate round");
	TAP_IS(parse_mutated("\"created\"", "\"colour\":1,\"created\""), ERROR_FORMAT,
	       "unknown field");
	TAP_IS(parse_mutated("\"version\":1", "\"version\":2"), ERROR_VERSION, "version 2");
	TAP_IS(parse_mutated("\"unit\":2,", "\"unit\":0,"), ERROR_FORMAT,
	       "results out of unit order");
	TAP_IS(parse_mutated("\"host\":11,", ""), ERROR_MISSING, "missing results[1].host");
	TAP_IS(parse_mutated("\"lr\":0.7", "\"lr\":0.0"), ERROR_RANGE, "outer lr 0");
	TAP_IS(parse_mutated("\"lr\":0.7", "\"lr\":\"0.7\""), ERROR_TYPE, "outer lr a string");
	TAP_IS(parse_mutated("\"sequences\":16", "\"sequences\":0"), ERROR_RANGE,
	       "no eval sequences");
	TAP_IS(parse_mutated("\"parent\":\"11", "\"parent\":\"1"), ERROR_FORMAT, "short parent");
	TAP_IS(parse_mutated("\"loss\":", "\"loss\":-"), ERROR_RANGE, "negative loss");
	TAP_IS(parse_mutated("\"job\":\"tiny-job\"", "\"job\":\"Tiny\""), ERROR_FORMAT,
	       "job with an uppercase letter");
}

static void test_seal(void)
{
	struct key_public pk, other_pk;
	struct key_secret sk, other_sk;
	unsigned char seed[KEY_SEED_BYTES], *env;
	struct manifest m, back;
	struct hash id, id2;
	struct error err;
	size_t env_len, i;
	unsigned tried = 0, rejected = 0, bit;

	memset(seed, 7, sizeof(seed));
	key_from_seed(&pk, &sk, seed);
	memset(seed, 8, sizeof(seed));
	key_from_seed(&other_pk, &other_sk, seed);
	make_manifest(&m, 2);
	TAP_IS(manifest_seal(&m, &sk, &env, &env_len, &id, &err), 0, "manifest seals");
	manifest_init(&back);
	TAP_IS(manifest_open(&back, &id2, env, env_len, &pk, &err), 0, "and opens");
	TAP_OK(hash_equal(&id, &id2), "the id is the same on both sides");
	manifest_release(&back);
	TAP_IS(manifest_open(&back, NULL, env, env_len, &other_pk, &err), ERROR_SIGNATURE,
	       "another key's signature refused");
	for (i = 0; i < env_len; i++) {
		for (bit = 0; bit < 9; bit++) {
			unsigned char save = env[i];

			env[i] ^= bit < 8 ? (unsigned char)(1u << bit) : 0xff;
			tried++;
			rejected += manifest_open(&back, NULL, env, env_len, &pk, NULL) < 0;
			manifest_release(&back);
			env[i] = save;
		}
	}
	tap_ok(rejected == tried, "all %u single-byte changes of %zu bytes rejected", tried,
	       env_len);
	free(env);
	manifest_release(&m);
}

int main(void)
{
	test_round_trip();
	test_bad_fields();
	test_seal();
	return tap_done();
}
