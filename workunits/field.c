/*
 * field.c - strict JSON field access with messages naming the field
 * (see field.h).
 */
#include "config.h"

#include "workunits/field.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_PATH_MAX 96

/* Joins prefix and name into "prefix.name" (or "name"). */
static const char *field_path(char out[FIELD_PATH_MAX], const char *prefix, const char *name)
{
	if (prefix && prefix[0])
		snprintf(out, FIELD_PATH_MAX, "%s.%s", prefix, name);
	else
		snprintf(out, FIELD_PATH_MAX, "%s", name);
	return out;
}

const char *field_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

int field_load(json_t **root, const void *buf, size_t len, size_t cap, const char *what,
	       struct error *err)
{
	json_error_t jerr;

	*root = NULL;
	if (len > cap)
		return error_set(err, ERROR_TOO_BIG, "%s of %zu bytes over the %zu-byte limit",
				 what, len, cap);
	*root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*root) {
		if (json_error_code(&jerr) == json_error_duplicate_key)
			return error_set(err, ERROR_DUPLICATE, "%s: %s", what, jerr.text);
		if (json_error_code(&jerr) == json_error_out_of_memory)
			return error_set(err, ERROR_NOMEM, "%s: out of memory", what);
		return error_set(err, ERROR_FORMAT, "%s is not valid JSON: %s at line %d column %d",
				 what, jerr.text, jerr.line, jerr.column);
	}
	if (!json_is_object(*root)) {
		int rc = error_set(err, ERROR_TYPE, "%s: expected a JSON object, got %s", what,
				   field_type_name(*root));

		json_decref(*root);
		*root = NULL;
		return rc;
	}
	return 0;
}

int field_get(const json_t *obj, const char *prefix, const char *name, json_t **out,
	      struct error *err)
{
	char path[FIELD_PATH_MAX];

	*out = json_object_get(obj, name);
	if (!*out)
		return error_set(err, ERROR_MISSING, "missing field '%s'",
				 field_path(path, prefix, name));
	return 0;
}

int field_version(const json_t *root, int want, const char *what, struct error *err)
{
	json_t *v;
	int rc;

	rc = field_get(root, "", "version", &v, err);
	if (rc < 0)
		return rc;
	if (!json_is_integer(v))
		return error_set(err, ERROR_TYPE, "field 'version': expected integer, got %s",
				 field_type_name(v));
	if (json_integer_value(v) != want)
		return error_set(err, ERROR_VERSION, "unsupported %s version %" JSON_INTEGER_FORMAT,
				 what, json_integer_value(v));
	return 0;
}

int field_only(const json_t *obj, const char *prefix, const char *const *allowed, struct error *err)
{
	char path[FIELD_PATH_MAX];
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)obj, key, v)
	{
		for (i = 0; allowed[i]; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (!allowed[i])
			return error_set(err, ERROR_FORMAT, "unknown field '%.40s'",
					 field_path(path, prefix, key));
	}
	return 0;
}

/* Gets a member of the given JSON type. */
static int field_typed(const json_t *obj, const char *prefix, const char *name, json_type type,
		       const char *type_name, json_t **out, struct error *err)
{
	char path[FIELD_PATH_MAX];
	int rc;

	rc = field_get(obj, prefix, name, out, err);
	if (rc < 0)
		return rc;
	if (json_typeof(*out) != type)
		return error_set(err, ERROR_TYPE, "field '%s': expected %s, got %s",
				 field_path(path, prefix, name), type_name, field_type_name(*out));
	return 0;
}

int field_object(const json_t *obj, const char *prefix, const char *name, json_t **out,
		 struct error *err)
{
	return field_typed(obj, prefix, name, JSON_OBJECT, "object", out, err);
}

int field_array(const json_t *obj, const char *prefix, const char *name, json_t **out,
		struct error *err)
{
	return field_typed(obj, prefix, name, JSON_ARRAY, "array", out, err);
}

int field_uint(const json_t *obj, const char *prefix, const char *name, uint64_t min, uint64_t max,
	       uint64_t *out, struct error *err)
{
	char path[FIELD_PATH_MAX];
	json_int_t v;
	json_t *j;
	int rc;

	rc = field_typed(obj, prefix, name, JSON_INTEGER, "integer", &j, err);
	if (rc < 0)
		return rc;
	v = json_integer_value(j);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return error_set(err, ERROR_RANGE,
				 "field '%s': %" JSON_INTEGER_FORMAT " is out of range %" PRIu64
				 "..%" PRIu64,
				 field_path(path, prefix, name), v, min, max);
	*out = (uint64_t)v;
	return 0;
}

int field_number(const json_t *obj, const char *prefix, const char *name, double min, int min_open,
		 double max, double *out, struct error *err)
{
	char path[FIELD_PATH_MAX];
	json_t *j;
	double v;
	int rc;

	rc = field_get(obj, prefix, name, &j, err);
	if (rc < 0)
		return rc;
	if (!json_is_number(j))
		return error_set(err, ERROR_TYPE, "field '%s': expected number, got %s",
				 field_path(path, prefix, name), field_type_name(j));
	v = json_number_value(j);
	if (!isfinite(v) || v < min || (min_open && v == min) || v > max)
		return error_set(err, ERROR_RANGE, "field '%s': %g is out of range %s%g..%g]",
				 field_path(path, prefix, name), v, min_open ? "(" : "[", min, max);
	*out = v;
	return 0;
}

int field_string(const json_t *obj, const char *prefix, const char *name, int (*ok)(int c),
		 char *out, size_t cap, struct error *err)
{
	char path[FIELD_PATH_MAX];
	const char *s;
	size_t i, len;
	json_t *j;
	int rc;

	rc = field_typed(obj, prefix, name, JSON_STRING, "string", &j, err);
	if (rc < 0)
		return rc;
	s = json_string_value(j);
	len = json_string_length(j);
	if (len == 0 || len >= cap)
		return error_set(err, ERROR_RANGE, "field '%s': length %zu is out of range 1..%zu",
				 field_path(path, prefix, name), len, cap - 1);
	for (i = 0; i < len; i++)
		if (!ok((unsigned char)s[i]))
			return error_set(err, ERROR_FORMAT, "field '%s': character %zu not allowed",
					 field_path(path, prefix, name), i + 1);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int field_hash(const json_t *obj, const char *prefix, const char *name, struct hash *out,
	       struct error *err)
{
	char path[FIELD_PATH_MAX];
	struct error herr;
	json_t *j;
	int rc;

	rc = field_typed(obj, prefix, name, JSON_STRING, "string", &j, err);
	if (rc < 0)
		return rc;
	if (json_string_length(j) != HASH_HEX_LEN ||
	    hash_from_hex(out, json_string_value(j), &herr) < 0)
		return error_set(err, ERROR_FORMAT,
				 "field '%s': expected a hash (64 lowercase hex digits)",
				 field_path(path, prefix, name));
	return 0;
}

int field_u64_string(const json_t *obj, const char *prefix, const char *name, uint64_t *out,
		     struct error *err)
{
	char path[FIELD_PATH_MAX];
	const char *s;
	uint64_t v = 0;
	size_t i, len;
	json_t *j;
	int rc;

	rc = field_typed(obj, prefix, name, JSON_STRING, "string", &j, err);
	if (rc < 0)
		return rc;
	s = json_string_value(j);
	len = json_string_length(j);
	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9')
			goto bad;
		if (v > (UINT64_MAX - d) / 10)
			return error_set(err, ERROR_RANGE, "field '%s': above 2^64 - 1",
					 field_path(path, prefix, name));
		v = v * 10 + d;
	}
	*out = v;
	return 0;
bad:
	return error_set(err, ERROR_FORMAT,
			 "field '%s': expected a decimal string without sign or leading zeros",
			 field_path(path, prefix, name));
}

int field_is_ident(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int field_is_printable(int c)
{
	return c >= 0x20 && c <= 0x7e;
}

int field_set(json_t *obj, const char *name, json_t *value)
{
	if (!value)
		return ERROR_NOMEM;
	return json_object_set_new(obj, name, value) == 0 ? 0 : ERROR_NOMEM;
}

/* A growing output buffer for the canonical writer. */
struct field_out {
	char *buf;
	size_t len, size;
	int failed;
};

static void field_put(struct field_out *o, const char *data, size_t len)
{
	if (o->failed)
		return;
	if (len >= o->size - o->len) {
		size_t want = o->size ? o->size : 256;
		char *grown;

		while (len >= want - o->len)
			want *= 2;
		grown = realloc(o->buf, want);
		if (!grown) {
			o->failed = 1;
			return;
		}
		o->buf = grown;
		o->size = want;
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	o->buf[o->len] = '\0';
}

static void field_put_str(struct field_out *o, const char *s)
{
	field_put(o, s, strlen(s));
}

/* A string with the minimal escapes: \" \\ and \u00XX for controls. */
static void field_put_string(struct field_out *o, const char *s, size_t len)
{
	size_t i, run = 0;
	char esc[8];

	field_put(o, "\"", 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		field_put(o, s + run, i - run);
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		field_put_str(o, esc);
		run = i + 1;
	}
	field_put(o, s + run, len - run);
	field_put(o, "\"", 1);
}

/* The shortest decimal that reads back as exactly v (at most 17
 * significant digits), always with a '.' or an exponent so that it stays
 * a real: 0.9, 1e-08, 123456789.0, -0.0. */
static void field_put_real(struct field_out *o, double v)
{
	char buf[40], *comma;
	int prec;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* A locale with a decimal comma must not leak into JSON. */
	if ((comma = strchr(buf, ',')))
		*comma = '.';
	if (!strpbrk(buf, ".e") && strlen(buf) + 3 <= sizeof(buf))
		memcpy(buf + strlen(buf), ".0", 3);
	field_put_str(o, buf);
}

static void field_put_value(struct field_out *o, const json_t *v)
{
	char num[32];
	const char *key;
	json_t *item;
	size_t i;
	int first = 1;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		field_put(o, "{", 1);
		json_object_foreach((json_t *)v, key, item)
		{
			if (!first)
				field_put(o, ",", 1);
			first = 0;
			field_put_string(o, key, strlen(key));
			field_put(o, ":", 1);
			field_put_value(o, item);
		}
		field_put(o, "}", 1);
		break;
	case JSON_ARRAY:
		field_put(o, "[", 1);
		json_array_foreach(v, i, item)
		{
			if (i > 0)
				field_put(o, ",", 1);
			field_put_value(o, item);
		}
		field_put(o, "]", 1);
		break;
	case JSON_STRING:
		field_put_string(o, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		field_put_str(o, num);
		break;
	case JSON_REAL:
		field_put_real(o, json_real_value(v));
		break;
	case JSON_TRUE:
		field_put_str(o, "true");
		break;
	case JSON_FALSE:
		field_put_str(o, "false");
		break;
	case JSON_NULL:
		field_put_str(o, "null");
		break;
	}
}

int field_dump(const json_t *root, char **out, size_t *len)
{
	struct field_out o = {NULL, 0, 0, 0};

	*out = NULL;
	*len = 0;
	field_put_value(&o, root);
	if (o.failed || !o.buf) {
		free(o.buf);
		return ERROR_NOMEM;
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}
