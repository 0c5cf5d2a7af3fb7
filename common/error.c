/*
 * error.c - error codes and bounded one-line messages (see error.h).
 */
#include "config.h"

#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

void error_clear(struct error *err)
{
	if (!err)
		return;
	err->code = ERROR_OK;
	err->msg[0] = '\0';
}

const char *error_name(int code)
{
	switch (code) {
	case ERROR_OK: return "success";
	case ERROR_NOMEM: return "out of memory";
	case ERROR_IO: return "input/output error";
	case ERROR_FORMAT: return "malformed input";
	case ERROR_TYPE: return "wrong type";
	case ERROR_MISSING: return "missing field";
	case ERROR_DUPLICATE: return "duplicate key";
	case ERROR_RANGE: return "value out of range";
	case ERROR_VERSION: return "unsupported version";
	case ERROR_TOO_BIG: return "too large";
	case ERROR_SIGNATURE: return "bad signature";
	case ERROR_HASH: return "hash mismatch";
	case ERROR_PERM: return "unsafe permissions";
	case ERROR_NOT_FOUND: return "not found";
	case ERROR_STATE: return "invalid state";
	case ERROR_DEVICE: return "device error";
	case ERROR_NET: return "network error";
	case ERROR_DB: return "database error";
	case ERROR_INVALID: return "invalid argument";
	}
	return "unknown error";
}
