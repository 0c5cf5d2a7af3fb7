/*
 * hex.c - lowercase hexadecimal encoding and strict decoding (see hex.h).
 */
#include "config.h"

#include "common/hex.h"

#include "common/error.h"

static const char hex_digits[] = "0123456789abcdef";

void hex_encode(char *out, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex_digits[p[i] >> 4];
		out[2 * i + 1] = hex_digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int hex_decode(void *out, size_t out_len, const char *hex, size_t hex_len)
{
	unsigned char *p = out;
	size_t i;

	if (hex_len / 2 != out_len || hex_len % 2 != 0)
		return ERROR_FORMAT;
	for (i = 0; i < out_len; i++) {
		int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return ERROR_FORMAT;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
