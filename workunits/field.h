/*
 * field.h - strict JSON field access for Agora's signed descriptors.
 *
 * unit.c and result.c (and later manifests) read untrusted JSON through
 * these helpers, so every descriptor fails the same way: a one-line error
 * naming the field by its path ("field 'hyper.lr': expected number, got
 * string", "missing field 'data[2].shard'", "unknown field 'colour'").
 *
 * Paths: prefix is the enclosing path ("" at the top level, "hyper",
 * "data[2]"); name is the key. Integer helpers accept only JSON integers
 * (not 5.0); number helpers accept integers and reals. Every helper takes
 * the object the field lives in and fails with ERROR_MISSING, ERROR_TYPE,
 * ERROR_RANGE or ERROR_FORMAT.
 */
#ifndef AGORA_WORKUNITS_FIELD_H
#define AGORA_WORKUNITS_FIELD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "workunits/hash.h"

/* Largest integer JSON readers everywhere (JavaScript, Python floats)
 * agree on: 2^53 - 1. Integer fields stay at or below it. */
#define FIELD_INT_MAX ((uint64_t)9007199254740991)

/* Parses len bytes as one JSON object. ERROR_TOO_BIG above cap (before
 * parsing), ERROR_DUPLICATE for a repeated key, ERROR_FORMAT for bad
 * syntax or trailing bytes, ERROR_TYPE when the top level is not an
 * object. what names the document in messages ("unit"). *root is a new
 * reference (json_decref() it). */
int field_load(json_t **root, const void *buf, size_t len, size_t cap, const char *what,
	       struct error *err) __attribute__((warn_unused_result));

/* Checks the top-level "version" is the integer want: ERROR_MISSING,
 * ERROR_TYPE, or ERROR_VERSION ("unsupported unit version 2"). */
int field_version(const json_t *root, int want, const char *what, struct error *err)
    __attribute__((warn_unused_result));

/* Fails with ERROR_FORMAT ("unknown field 'hyper.colour'") when obj has a
 * key not in the NULL-terminated list allowed. */
int field_only(const json_t *obj, const char *prefix, const char *const *allowed, struct error *err)
    __attribute__((warn_unused_result));

/* The member, or ERROR_MISSING. */
int field_get(const json_t *obj, const char *prefix, const char *name, json_t **out,
	      struct error *err) __attribute__((warn_unused_result));

/* An object or array member (ERROR_TYPE otherwise). */
int field_object(const json_t *obj, const char *prefix, const char *name, json_t **out,
		 struct error *err) __attribute__((warn_unused_result));
int field_array(const json_t *obj, const char *prefix, const char *name, json_t **out,
		struct error *err) __attribute__((warn_unused_result));

/* An integer in [min, max] (max <= FIELD_INT_MAX). */
int field_uint(const json_t *obj, const char *prefix, const char *name, uint64_t min, uint64_t max,
	       uint64_t *out, struct error *err) __attribute__((warn_unused_result));

/* A finite number in [min, max], or (min, max] when min_open. */
int field_number(const json_t *obj, const char *prefix, const char *name, double min, int min_open,
		 double max, double *out, struct error *err) __attribute__((warn_unused_result));

/* A string of 1..cap-1 bytes, each accepted by ok(c); copied into out
 * (cap bytes, NUL-terminated). */
int field_string(const json_t *obj, const char *prefix, const char *name, int (*ok)(int c),
		 char *out, size_t cap, struct error *err) __attribute__((warn_unused_result));

/* A hash as 64 lowercase hex digits. */
int field_hash(const json_t *obj, const char *prefix, const char *name, struct hash *out,
	       struct error *err) __attribute__((warn_unused_result));

/* A u64 written as a decimal string (JSON numbers lose precision above
 * 2^53): 1..20 digits, no sign, no leading zeros, at most 2^64 - 1. */
int field_u64_string(const json_t *obj, const char *prefix, const char *name, uint64_t *out,
		     struct error *err) __attribute__((warn_unused_result));

/* Character classes for field_string(). */
int field_is_ident(int c);     /* [a-z0-9_-] */
int field_is_printable(int c); /* ASCII 0x20..0x7e */

/* "integer", "string", ... for messages. */
const char *field_type_name(const json_t *v);

/* Adds a member, taking the reference to value; returns 0 or ERROR_NOMEM
 * (also when value is NULL, so calls can nest json_integer() etc.). */
int field_set(json_t *obj, const char *name, json_t *value);

/*
 * Serialises root in Agora's canonical form: members in insertion order,
 * no whitespace, integers in plain decimal, reals as the shortest decimal
 * that reads back to the same double (at most 17 significant digits,
 * printf %g style, always with a '.' or an exponent: 0.9, 1e-08, 1.0),
 * strings with only the escapes JSON requires (\" \\ \u00XX). Equal
 * trees give equal bytes. Returns a malloc'd NUL-terminated string and its
 * length, or ERROR_NOMEM. Cost: one pass, recursion as deep as the tree.
 */
int field_dump(const json_t *root, char **out, size_t *len);

#endif
