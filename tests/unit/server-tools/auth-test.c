/*
 * auth-test.c - tests for server-tools/auth.c: a signed request verifies;
 * changing the method, path, host, time, nonce, body or key breaks it;
 * stale and future times are refused; malformed headers are refused.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "server-tools/auth.h"
#include "tests/tap.h"

static struct key_public pk, pk2;
static struct key_secret sk, sk2;

static int verify(const struct auth_headers *h, const char *host, const char *method,
		  const char *path, const struct hash *body, int64_t now)
{
	struct auth_claims c;
	struct error err;
	int rc = auth_parse(&c, host, h->time, h->nonce, h->signature, &err);

	if (rc < 0)
		return rc;
	return auth_verify_request(&pk, method, path, &c, body, now, &err);
}

/* The test vector of docs/PROTOCOL.md: the documented text signed with
 * the documented key gives the documented signature, and the server side
 * accepts the documented headers. */
static void test_vector(void)
{
	static const char sk_hex[] =
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
	static const char text[] =
	    "POST\n/api/v1/heartbeat\n7\n1800000000\n"
	    "000102030405060708090a0b0c0d0e0f\n"
	    "c09da522dac261c3d2566230bed10d2f3ef13f8e7654576c12e857e07f786098";
	static const char sig_hex[] =
	    "c60b8cc1ee263139b7c5574be63fffd739c2df430ca1fd3cb752ca7a016e6563"
	    "a7a0257c78b438ad2aa02dd13cd2b9f1576a60f64a43bb6f9222fe7e54297605";
	struct key_secret vsk;
	struct key_public vpk;
	struct auth_claims c;
	struct hash body;
	struct error err;
	unsigned char sig[KEY_SIG_BYTES], want[KEY_SIG_BYTES];

	if (hex_decode(vsk.bytes, sizeof(vsk.bytes), sk_hex, strlen(sk_hex)) < 0 ||
	    hex_decode(want, sizeof(want), sig_hex, strlen(sig_hex)) < 0) {
		tap_ok(0, "test vector decodes");
		return;
	}
	key_public_of(&vpk, &vsk);
	hash_buf(&body, "{}", 2);
	TAP_OK(key_sign(&vsk, AUTH_DOMAIN, text, strlen(text), sig) == 0 &&
		   memcmp(sig, want, sizeof(sig)) == 0,
	       "test vector: the documented text gives the documented signature");
	TAP_OK(auth_parse(&c, "7", "1800000000", "000102030405060708090a0b0c0d0e0f", sig_hex,
			  &err) == 0 &&
		   auth_verify_request(&vpk, "POST", "/api/v1/heartbeat", &c, &body, 1800000000,
				       &err) == 0,
	       "test vector: the documented headers verify");
}

int main(void)
{
	struct auth_headers h, h2;
	struct auth_claims c;
	struct error err;
	struct hash body, other;
	const int64_t now = 1800000000;
	char buf[200];

	if (key_generate(&pk, &sk) < 0 || key_generate(&pk2, &sk2) < 0)
		tap_skip_all("cannot make keys");
	test_vector();
	hash_buf(&body, "{}", 2);
	hash_buf(&other, "{ }", 3);

	TAP_IS(auth_sign_request(&sk, "POST", "/api/v1/heartbeat", 7, now, &body, &h, &err), 0,
	       "sign");
	TAP_OK(strcmp(h.host, "7") == 0 && strlen(h.nonce) == 32 && strlen(h.signature) == 128 &&
		   strcmp(h.time, "1800000000") == 0,
	       "header values");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/heartbeat", &body, now), 0, "verifies");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/heartbeat", &body, now + AUTH_WINDOW_S), 0,
	       "verifies at the edge of the window");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/heartbeat", &body, now + AUTH_WINDOW_S + 1),
	       ERROR_RANGE, "stale time refused");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/heartbeat", &body, now - AUTH_WINDOW_S - 1),
	       ERROR_RANGE, "future time refused");
	TAP_IS(verify(&h, "8", "POST", "/api/v1/heartbeat", &body, now), ERROR_SIGNATURE,
	       "other host id refused");
	TAP_IS(verify(&h, "7", "PUT", "/api/v1/heartbeat", &body, now), ERROR_SIGNATURE,
	       "other method refused");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/work", &body, now), ERROR_SIGNATURE,
	       "other path refused");
	TAP_IS(verify(&h, "7", "POST", "/api/v1/heartbeat", &other, now), ERROR_SIGNATURE,
	       "other body refused");
	h2 = h;
	snprintf(h2.time, sizeof(h2.time), "%lld", (long long)now + 1);
	TAP_IS(verify(&h2, "7", "POST", "/api/v1/heartbeat", &body, now), ERROR_SIGNATURE,
	       "other time refused");
	h2 = h;
	h2.nonce[0] = h2.nonce[0] == 'a' ? 'b' : 'a';
	TAP_IS(verify(&h2, "7", "POST", "/api/v1/heartbeat", &body, now), ERROR_SIGNATURE,
	       "other nonce refused");
	TAP_IS(auth_sign_request(&sk2, "POST", "/api/v1/heartbeat", 7, now, &body, &h2, &err), 0,
	       "sign with another key");
	TAP_IS(verify(&h2, "7", "POST", "/api/v1/heartbeat", &body, now), ERROR_SIGNATURE,
	       "another key's signature refused");
	TAP_IS(auth_sign_request(&sk, "POST", "/api/v1/heartbeat", 7, now, &body, &h2, &err), 0,
	       "sign again");
	TAP_OK(strcmp(h.nonce, h2.nonce) != 0, "every signature has a fresh nonce");

	/* Registration: no host header, host 0 in the text. */
	TAP_IS(auth_sign_request(&sk, "POST", "/api/v1/hosts", 0, now, &body, &h2, &err), 0,
	       "sign a registration");
	TAP_IS(verify(&h2, NULL, "POST", "/api/v1/hosts", &body, now), 0,
	       "registration verifies without a host header");

	TAP_IS(auth_parse(&c, "7", NULL, h.nonce, h.signature, &err), ERROR_MISSING, "no time");
	TAP_IS(auth_parse(&c, "7", h.time, NULL, h.signature, &err), ERROR_MISSING, "no nonce");
	TAP_IS(auth_parse(&c, "7", h.time, h.nonce, NULL, &err), ERROR_MISSING, "no signature");
	TAP_IS(auth_parse(&c, "0", h.time, h.nonce, h.signature, &err), ERROR_FORMAT, "host 0");
	TAP_IS(auth_parse(&c, "-7", h.time, h.nonce, h.signature, &err), ERROR_FORMAT,
	       "negative host");
	TAP_IS(auth_parse(&c, "07", h.time, h.nonce, h.signature, &err), ERROR_FORMAT,
	       "leading zero");
	TAP_IS(auth_parse(&c, "99999999999999999999", h.time, h.nonce, h.signature, &err),
	       ERROR_FORMAT, "huge host id");
	TAP_IS(auth_parse(&c, "7", "12x", h.nonce, h.signature, &err), ERROR_FORMAT, "bad time");
	TAP_IS(auth_parse(&c, "7", h.time, "ABCDEF", h.signature, &err), ERROR_FORMAT, "bad nonce");
	snprintf(buf, sizeof(buf), "%s", h.signature);
	buf[5] = 'G';
	TAP_IS(auth_parse(&c, "7", h.time, h.nonce, buf, &err), ERROR_FORMAT, "bad signature hex");
	TAP_OK(strstr(err.msg, AUTH_HEADER_SIGNATURE) != NULL, "message names the header");
	TAP_IS(auth_sign_request(&sk, "POST", "/a b", 7, now, &body, &h2, &err), ERROR_INVALID,
	       "path with a space refused");
	TAP_IS(auth_sign_request(&sk, "POST\n/x", "/a", 7, now, &body, &h2, &err), ERROR_INVALID,
	       "method with a newline refused");
	return tap_done();
}
