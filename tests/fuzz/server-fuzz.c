/*
 * server-fuzz.c - fuzzes the coordinator's own parsers: the auth headers
 * (auth_parse, auth_verify_request), --listen addresses
 * (http_listen_parse) and Range values (http_range_parse).
 *
 * The first input byte picks the parser (mod 3); the rest is its input:
 *   0: "host\ntime\nnonce\nsignature\nmethod\npath" ("-" for an absent
 *      host). Properties: a parsed request never verifies with a key that
 *      did not sign it; signing the same method and path with a fresh key
 *      gives headers that parse and verify.
 *   1: a listen address. Property: an accepted IPv4 address printed back
 *      as "a.b.c.d:port" parses to the same socket address.
 *   2: eight bytes of entity size (little-endian), then a Range value.
 *      Property: a usable range is non-empty and inside the entity.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/auth.h"
#include "server-tools/http.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_FIELD_MAX 2048

static struct key_public fuzz_pk;
static struct key_secret fuzz_sk;
static int fuzz_keys;

/* Splits s at '\n' into up to n fields (in place). */
static size_t fuzz_split(char *s, char **fields, size_t n)
{
	size_t k = 0;

	while (k < n) {
		fields[k++] = s;
		s = strchr(s, '\n');
		if (!s)
			break;
		*s++ = '\0';
	}
	return k;
}

static void fuzz_auth(char *s)
{
	char *f[6] = {NULL};
	struct auth_claims c;
	struct auth_headers h;
	struct hash body;
	size_t n = fuzz_split(s, f, 6);
	const char *method = n > 4 ? f[4] : "POST", *path = n > 5 ? f[5] : "/api/v1/work";

	if (!fuzz_keys) {
		if (key_generate(&fuzz_pk, &fuzz_sk) < 0)
			abort();
		fuzz_keys = 1;
	}
	hash_buf(&body, s, strlen(s));
	if (n >= 4 &&
	    auth_parse(&c, strcmp(f[0], "-") ? f[0] : NULL, f[1], f[2], f[3], NULL) == 0 &&
	    auth_verify_request(&fuzz_pk, method, path, &c, &body, c.time, NULL) == 0)
		abort(); /* a signature nobody made */
	if (auth_sign_request(&fuzz_sk, method, path, 7, 1800000000, &body, &h, NULL) == 0 &&
	    (auth_parse(&c, h.host, h.time, h.nonce, h.signature, NULL) != 0 ||
	     auth_verify_request(&fuzz_pk, method, path, &c, &body, 1800000000, NULL) != 0))
		abort(); /* our own signature must verify */
}

static void fuzz_listen(const char *s)
{
	struct sockaddr_storage a, b;
	socklen_t la, lb;
	char ip[INET_ADDRSTRLEN], again[64];
	struct sockaddr_in *a4 = (struct sockaddr_in *)&a;

	if (http_listen_parse(s, &a, &la, NULL) != 0 || a.ss_family != AF_INET)
		return;
	if (!inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)))
		abort();
	snprintf(again, sizeof(again), "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
	if (http_listen_parse(again, &b, &lb, NULL) != 0 || la != lb || memcmp(&a, &b, la) != 0)
		abort();
}

static void fuzz_range(const unsigned char *data, size_t size)
{
	uint64_t entity = 0, off = 0, len = 0;
	char value[FUZZ_FIELD_MAX + 1];
	size_t i;

	if (size < 8)
		return;
	for (i = 0; i < 8; i++)
		entity |= (uint64_t)data[i] << (8 * i);
	size -= 8;
	if (size > FUZZ_FIELD_MAX)
		size = FUZZ_FIELD_MAX;
	memcpy(value, data + 8, size);
	value[size] = '\0';
	if (http_range_parse(value, entity, &off, &len) == 1 &&
	    (len == 0 || off >= entity || len > entity - off))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[FUZZ_FIELD_MAX + 1];
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1 < FUZZ_FIELD_MAX ? size - 1 : FUZZ_FIELD_MAX;
	memcpy(text, data + 1, n);
	text[n] = '\0';
	switch (data[0] % 3) {
	case 0:
		fuzz_auth(text);
		break;
	case 1:
		fuzz_listen(text);
		break;
	default:
		fuzz_range(data + 1, size - 1);
		break;
	}
	return 0;
}
