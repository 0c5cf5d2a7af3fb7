/*
 * field-test.c - the canonical JSON writer (shortest round-trip reals,
 * minimal string escapes, insertion order) and the strict field readers.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "workunits/field.h"

static void expect_dump(json_t *v, const char *want)
{
	char *out;
	size_t len;

	if (field_dump(v, &out, &len) != 0) {
		tap_ok(0, "dump %s", want);
		json_decref(v);
		return;
	}
	if (!tap_ok(strcmp(out, want) == 0 && len == strlen(want), "dump gives %s", want))
		tap_diag("got %s", out);
	free(out);
	json_decref(v);
}

static void test_reals(void)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {0.1, "0.1"},       {0.9, "0.9"},
	    {1e-8, "1e-08"},    {1.0, "1.0"},
	    {-0.0, "-0.0"},     {123456789.0, "123456789.0"},
	    {1e22, "1e+22"},    {0.30000000000000004, "0.30000000000000004"},
	    {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
	};
	size_t i;
	unsigned k, bad = 0;
	uint64_t x = 88172645463325252u;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_dump(json_real(cases[i].v), cases[i].want);

	/* Random finite doubles: the text reads back to the same bits. */
	for (k = 0; k < 20000; k++) {
		double v, back;
		json_t *arr, *parsed;
		char *out;
		size_t len;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		if (!isfinite(v))
			continue;
		arr = json_pack("[f]", v);
		if (field_dump(arr, &out, &len) != 0) {
			bad++;
			json_decref(arr);
			continue;
		}
		parsed = json_loadb(out, len, 0, NULL);
		back = parsed ? json_real_value(json_array_get(parsed, 0)) : NAN;
		if (memcmp(&back, &v, sizeof(v)) != 0) {
			if (bad++ < 3)
				tap_diag("%s does not read back", out);
		}
		json_decref(parsed);
		json_decref(arr);
		free(out);
	}
	TAP_IS(bad, 0, "20000 random doubles round-trip exactly");
}

static void test_structure(void)
{
	json_t *o = json_object();

	json_object_set_new(o, "z", json_integer(-5));
	json_object_set_new(o, "a", json_string("q\"b\\c\n"));
	json_object_set_new(o, "m", json_pack("[b,b,n,{}]", 1, 0));
	expect_dump(o, "{\"z\":-5,\"a\":\"q\\\"b\\\\c\\u000a\",\"m\":[true,false,null,{}]}");
}

static void test_readers(void)
{
	json_t *root = NULL;
	struct error err;
	uint64_t u;
	double d;
	char s[8];

	TAP_IS(field_load(&root, "{\"a\":1,\"b\":\"xyz\",\"c\":2.5}", 25, 100, "doc", &err), 0,
	       "load");
	TAP_IS(field_uint(root, "", "a", 0, 10, &u, &err), 0, "integer");
	TAP_IS(field_uint(root, "p", "c", 0, 10, &u, &err), ERROR_TYPE, "real is not an integer");
	tap_ok(strcmp(err.msg, "field 'p.c': expected integer, got real") == 0, "message: %s",
	       err.msg);
	TAP_IS(field_number(root, "", "a", 1, 1, 10, &d, &err), ERROR_RANGE, "open lower bound");
	TAP_IS(field_string(root, "", "b", field_is_ident, s, 3, &err), ERROR_RANGE,
	       "string longer than its buffer");
	TAP_IS(field_string(root, "", "b", field_is_ident, s, 4, &err), 0, "string that fits");
	TAP_IS(field_uint(root, "", "zz", 0, 10, &u, &err), ERROR_MISSING, "missing");
	json_decref(root);
	TAP_IS(field_load(&root, "[1]", 3, 100, "doc", &err), ERROR_TYPE, "array at the top");
	TAP_IS(field_load(&root, "{}", 2, 1, "doc", &err), ERROR_TOO_BIG, "over the cap");
	TAP_IS(field_load(&root, "{\"a\":\"\\u0000\"}", 12, 100, "doc", &err), ERROR_FORMAT,
	       "NUL in a string refused");
}

int main(void)
{
	test_reals();
	test_structure();
	test_readers();
	return tap_done();
}
