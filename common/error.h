/*
 * error.h - negative error codes and one-line error messages.
 *
 * Every fallible Agora function returns 0 (or a non-negative count) on
 * success and one of the negative ERROR_* codes below on failure. Functions
 * whose failures need a specific explanation (parsers, verifiers, file
 * loaders) also take a `struct error *` (may be NULL) that receives a
 * one-line, lowercase message in the house style, e.g.
 * "cannot open 'unit.json': no such file or directory". The message is
 * bounded (ERROR_MSG_MAX) and truncated, never overflowed.
 */
#ifndef AGORA_COMMON_ERROR_H
#define AGORA_COMMON_ERROR_H

#define ERROR_MSG_MAX 256

enum error_code {
	ERROR_OK = 0,
	ERROR_NOMEM = -1,     /* allocation failed */
	ERROR_IO = -2,        /* read/write/open failed (errno-based) */
	ERROR_FORMAT = -3,    /* malformed input: syntax, truncation */
	ERROR_TYPE = -4,      /* wrong JSON type or wrong file type */
	ERROR_MISSING = -5,   /* a required field is absent */
	ERROR_DUPLICATE = -6, /* a key appears twice */
	ERROR_RANGE = -7,     /* a value outside its allowed range */
	ERROR_VERSION = -8,   /* unknown format or protocol version */
	ERROR_TOO_BIG = -9,   /* a size cap was hit */
	ERROR_SIGNATURE = -10,/* signature missing or does not verify */
	ERROR_HASH = -11,     /* content hash does not match */
	ERROR_PERM = -12,     /* unsafe permissions on a secret */
	ERROR_NOT_FOUND = -13,/* a named object does not exist */
	ERROR_STATE = -14,    /* operation not valid in the current state */
	ERROR_DEVICE = -15,   /* OpenCL or other device failure */
	ERROR_NET = -16,      /* network or HTTP failure */
	ERROR_DB = -17,       /* database failure */
	ERROR_INVALID = -18,  /* bad argument from the caller */
};

struct error {
	int code;
	char msg[ERROR_MSG_MAX];
};

/* Fills err (when not NULL) with code and a formatted message; returns
 * code so callers can write `return error_set(err, ERROR_IO, ...);`. */
int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A short lowercase name for a code ("malformed input", ...). */
const char *error_name(int code);

/* Clears err to ERROR_OK and an empty message. */
void error_clear(struct error *err);

#endif
