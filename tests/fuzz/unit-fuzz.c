/*
 * unit-fuzz.c - fuzzes envelope parsing and opening and the work-unit and
 * result descriptor parsers.
 *
 * Each input is tried as a whole envelope (peek, then open with the
 * fixture key, so the committed signed fixture reaches the parser through
 * the verified path), its unverified payload as a descriptor, and the raw
 * bytes as unit and result JSON. Properties checked beyond "no crash": a
 * descriptor that parses re-encodes, and its canonical form parses back to
 * the same struct and encodes to the same bytes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "workunits/envelope.h"
#include "workunits/result.h"
#include "workunits/unit.h"

static void check_unit(const void *data, size_t size)
{
	struct unit u, u2;
	char *json, *json2;
	size_t len, len2;

	if (unit_parse(&u, data, size, NULL) != 0)
		return;
	if (unit_to_json(&u, &json, &len, NULL) != 0)
		abort();
	if (unit_parse(&u2, json, len, NULL) != 0 || memcmp(&u, &u2, sizeof(u)) != 0)
		abort();
	if (unit_to_json(&u2, &json2, &len2, NULL) != 0 || len != len2 || memcmp(json, json2, len))
		abort();
	free(json);
	free(json2);
}

static void check_result(const void *data, size_t size)
{
	struct result r, r2;
	char *json;
	size_t len;

	if (result_parse(&r, data, size, NULL) != 0)
		return;
	if (result_to_json(&r, &json, &len, NULL) != 0)
		abort();
	if (result_parse(&r2, json, len, NULL) != 0 || memcmp(&r, &r2, sizeof(r)) != 0)
		abort();
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct key_public pk;
	static struct key_secret sk;
	static int ready;
	struct envelope_info info;
	struct unit u;
	struct result r;

	if (!ready) {
		unsigned char seed[KEY_SEED_BYTES];
		int i;

		for (i = 0; i < KEY_SEED_BYTES; i++)
			seed[i] = (unsigned char)i;
		key_from_seed(&pk, &sk, seed);
		ready = 1;
	}
	if (envelope_peek(&info, data, size, NULL) == 0) {
		if (unit_open(&u, NULL, data, size, &pk, NULL) == 0 && u.version != UNIT_VERSION)
			abort();
		if (result_open(&r, data, size, &pk, NULL) == 0 && r.version != RESULT_VERSION)
			abort();
		check_unit(info.payload, info.payload_len);
		check_result(info.payload, info.payload_len);
	}
	check_unit(data, size);
	check_result(data, size);
	return 0;
}
