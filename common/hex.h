/*
 * hex.h - lowercase hexadecimal encoding and strict decoding.
 *
 * Agora writes hashes, keys and signatures as lowercase hex. The decoder is
 * strict on purpose: it accepts exactly 2 * n lowercase hex digits and
 * nothing else (no uppercase, no whitespace, no "0x"), so that every value
 * has exactly one textual form and a changed character is always a changed
 * value.
 */
#ifndef AGORA_COMMON_HEX_H
#define AGORA_COMMON_HEX_H

#include <stddef.h>

/* Writes 2 * len lowercase hex digits and a terminating NUL to out, which
 * must hold 2 * len + 1 bytes. */
void hex_encode(char *out, const void *data, size_t len);

/* Decodes exactly hex_len characters of hex into out, which holds out_len
 * bytes. Returns 0, or ERROR_FORMAT when hex_len != 2 * out_len or a
 * character is not one of [0-9a-f]. out is unspecified on failure. */
int hex_decode(void *out, size_t out_len, const char *hex, size_t hex_len)
    __attribute__((warn_unused_result));

#endif
