/*
 * envelope-test.c - signed envelopes: round trips (empty, binary and
 * maximum-size payloads), peek, type and key checks, domain separation,
 * strict header parsing, size caps, and every single-byte change.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "workunits/envelope.h"

static struct key_public pk, pk2;
static struct key_secret sk, sk2;

static void test_round_trips(void)
{
	static const unsigned char binary[] = {0, 1, 2, '\n', 0xff, 0x80, 'x'};
	unsigned char *env, *big;
	const unsigned char *payload;
	size_t env_len, payload_len;
	struct envelope_info info;
	struct error err;

	TAP_IS(envelope_seal(&sk, "workunit", "", 0, &env, &env_len, &err), 0,
	       "seal empty payload");
	TAP_IS(envelope_open(env, env_len, "workunit", &pk, &payload, &payload_len, &err), 0,
	       "open empty payload");
	TAP_IS(payload_len, 0, "empty payload length");
	free(env);

	TAP_IS(envelope_seal(&sk, "manifest", binary, sizeof(binary), &env, &env_len, &err), 0,
	       "seal binary payload");
	TAP_IS(envelope_peek(&info, env, env_len, &err), 0, "peek");
	tap_ok(strcmp(info.type, "manifest") == 0 && key_public_equal(&info.signer, &pk),
	       "peek gives type and signer");
	TAP_IS(envelope_open(env, env_len, "manifest", &pk, &payload, &payload_len, &err), 0,
	       "open binary payload");
	tap_ok(payload_len == sizeof(binary) && memcmp(payload, binary, sizeof(binary)) == 0 &&
		   payload == env + env_len - sizeof(binary),
	       "payload bytes are exact and point into the envelope");
	free(env);

	big = malloc(ENVELOPE_PAYLOAD_MAX + 1);
	memset(big, 'a', ENVELOPE_PAYLOAD_MAX + 1);
	TAP_IS(envelope_seal(&sk, "workunit", big, ENVELOPE_PAYLOAD_MAX, &env, &env_len, &err), 0,
	       "seal a maximum-size payload");
	TAP_IS(envelope_open(env, env_len, "workunit", &pk, &payload, &payload_len, &err), 0,
	       "open a maximum-size payload");
	free(env);
	TAP_IS(envelope_seal(&sk, "workunit", big, ENVELOPE_PAYLOAD_MAX + 1, &env, &env_len, &err),
	       ERROR_TOO_BIG, "seal refuses a payload over the cap");
	free(big);
	TAP_IS(envelope_seal(&sk, "Work Unit", "x", 1, &env, &env_len, &err), ERROR_INVALID,
	       "seal refuses a bad type name");
}

static void expect(const char *text, size_t len, const char *type, const struct key_public *key,
		   int want, const char *what)
{
	const unsigned char *payload;
	size_t payload_len;
	struct error err;
	int rc;

	error_clear(&err);
	rc = envelope_open(text, len, type, key, &payload, &payload_len, &err);
	if (!tap_ok(rc == want && err.msg[0] && payload == NULL, "%s: %s", what, err.msg))
		tap_diag("got %d (%s), want %d", rc, error_name(rc), want);
}

static void test_rejections(void)
{
	unsigned char *env, *copy;
	size_t env_len, i;
	unsigned rejected = 0, tried = 0, bit;
	char *text;

	if (envelope_seal(&sk, "workunit", "{\"a\":1}", 7, &env, &env_len, NULL) != 0) {
		tap_ok(0, "seal");
		return;
	}
	expect((char *)env, env_len, "result", &pk, ERROR_TYPE, "wrong type");
	expect((char *)env, env_len, "workunit", &pk2, ERROR_SIGNATURE, "wrong key");
	expect((char *)env, env_len - 1, "workunit", &pk, ERROR_FORMAT, "truncated payload");
	expect((char *)env, 30, "workunit", &pk, ERROR_FORMAT, "truncated header");
	expect("", 0, "workunit", &pk, ERROR_FORMAT, "empty input");
	copy = malloc(env_len + 2);
	memcpy(copy, env, env_len);
	copy[env_len] = '\n';
	expect((char *)copy, env_len + 1, "workunit", &pk, ERROR_FORMAT, "trailing byte");
	memcpy(copy, env, env_len);
	copy[16] = '2';
	expect((char *)copy, env_len, "workunit", &pk, ERROR_VERSION, "envelope v2");
	free(copy);

	/* Domain separation: the same payload and signature, relabelled as
	 * a result by its signer, does not verify. */
	text = malloc(env_len + 8);
	memcpy(text, "agora-envelope v1\ntype result\n", 30);
	memcpy(text + 30, env + 32, env_len - 32);
	expect(text, env_len - 2, "result", &pk, ERROR_SIGNATURE, "workunit signature as a result");
	free(text);

	/* A length with a leading zero, or too large. */
	text = malloc(env_len + 32);
	{
		const char *l = strstr((char *)env, "length 7\n");
		size_t head = (size_t)(l - (char *)env);

		memcpy(text, env, head);
		memcpy(text + head, "length 07\n{\"a\":1}", 18);
		expect(text, head + 18, "workunit", &pk, ERROR_FORMAT,
		       "length with a leading zero");
		memcpy(text + head, "length 99999999\n{\"a\":1}", 24);
		expect(text, head + 24, "workunit", &pk, ERROR_TOO_BIG, "length over the cap");
	}
	free(text);
	text = malloc(ENVELOPE_MAX + 2);
	memset(text, 'a', ENVELOPE_MAX + 1);
	expect(text, ENVELOPE_MAX + 1, "workunit", &pk, ERROR_TOO_BIG, "oversized input");
	free(text);

	for (i = 0; i < env_len; i++) {
		for (bit = 0; bit < 9; bit++) {
			const unsigned char *payload;
			size_t payload_len;
			unsigned char save = env[i];

			env[i] ^= bit < 8 ? (unsigned char)(1u << bit) : 0xff;
			tried++;
			rejected += envelope_open(env, env_len, "workunit", &pk, &payload,
						  &payload_len, NULL) < 0;
			env[i] = save;
		}
	}
	tap_ok(rejected == tried, "all %u single-byte changes of %zu bytes rejected", tried,
	       env_len);
	free(env);
}

int main(void)
{
	key_generate(&pk, &sk);
	key_generate(&pk2, &sk2);
	test_round_trips();
	test_rejections();
	return tap_done();
}
