/*
 * boinc_key.h - BOINC's code-signing keys: its RSA key files and its file
 * signatures, so that a stock BOINC client accepts the agora-boinc binary
 * this coordinator publishes (docs/BOINC.md).
 *
 * BOINC's format (lib/crypt.cpp, RSAEuro's structs with
 * MAX_RSA_MODULUS_LEN = 128): a key file is the key's bit count in
 * decimal and a newline, then the struct after its 2-byte bit count as
 * lowercase hex, 32 bytes (64 digits) a line, then a line ".":
 *
 *   public   modulus[128] exponent[128]                       (256 bytes)
 *   private  modulus[128] publicExponent[128] exponent[128]
 *            prime[2][64] primeExponent[2][64] coefficient[64] (704 bytes)
 *
 * every number big-endian, right-aligned with leading zeros. A file
 * signature is RSA PKCS#1 v1.5 (block type 1, no DigestInfo) with the
 * private key over the 32 ASCII characters of the file's MD5 in lowercase
 * hex, written in the same hex layout; the client decrypts it with the
 * project's public key (<code_sign_key> in the scheduler reply) and
 * compares with the MD5 it computes.
 *
 * This signs the app binary only. What volunteers compute is protected by
 * the Agora Ed25519 signatures on every work unit, which agora-boinc
 * checks itself.
 *
 * The RSA arithmetic is OpenSSL's libcrypto (EVP), the library BOINC
 * itself uses for these signatures, so both sides agree by construction.
 * Key files: the private key is created 0600 and refused when group or
 * others can read it.
 */
#ifndef AGORA_SERVER_BOINC_KEY_H
#define AGORA_SERVER_BOINC_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BOINC_KEY_BITS          1024
#define BOINC_KEY_MOD_LEN       128
#define BOINC_KEY_PRIME_LEN     64
#define BOINC_KEY_PUBLIC_BYTES  (2 * BOINC_KEY_MOD_LEN)
#define BOINC_KEY_PRIVATE_BYTES (3 * BOINC_KEY_MOD_LEN + 5 * BOINC_KEY_PRIME_LEN)
/* Longest key file text (private: 704 bytes -> 22 lines of 65, + bits + "."). */
#define BOINC_KEY_TEXT_MAX 2048
/* A signature's text: 128 bytes -> 4 lines of 65 characters, ".\n", NUL. */
#define BOINC_SIG_TEXT_MAX 300
#define BOINC_MD5_HEX      32

struct boinc_key_public {
	unsigned bits;
	unsigned char raw[BOINC_KEY_PUBLIC_BYTES]; /* modulus, exponent */
};

struct boinc_key_private {
	unsigned bits;
	unsigned char raw[BOINC_KEY_PRIVATE_BYTES]; /* see the top */
};

/* A new 1024-bit key pair (exponent 65537). */
int boinc_key_generate(struct boinc_key_private *sk, struct boinc_key_public *pk, struct error *err)
    __attribute__((warn_unused_result));
/* The public half of sk. */
void boinc_key_public_of(struct boinc_key_public *pk, const struct boinc_key_private *sk);

/* Key file text (NUL-terminated, at most BOINC_KEY_TEXT_MAX bytes). */
int boinc_key_public_text(const struct boinc_key_public *pk, char *out, size_t size);
/* Writes DIR/NAME.pub and DIR/NAME.key (0600), refusing existing files
 * (ERROR_STATE). */
int boinc_key_write_pair(const char *dir, const char *name, const struct boinc_key_private *sk,
			 struct error *err) __attribute__((warn_unused_result));
/* Loads key files; ERROR_FORMAT for anything but the layout above,
 * ERROR_PERM for a private key file group or others may read. */
int boinc_key_load_public(struct boinc_key_public *pk, const char *path, struct error *err)
    __attribute__((warn_unused_result));
int boinc_key_load_private(struct boinc_key_private *sk, const char *path, struct error *err)
    __attribute__((warn_unused_result));
int boinc_key_parse_public(struct boinc_key_public *pk, const char *text, size_t len,
			   struct error *err) __attribute__((warn_unused_result));

/* The MD5 of a file as 32 lowercase hex digits, and its size. */
int boinc_md5_file(const char *path, char hex[BOINC_MD5_HEX + 1], uint64_t *size, struct error *err)
    __attribute__((warn_unused_result));
/* BOINC's signature of an MD5 (hex), as text (out: BOINC_SIG_TEXT_MAX). */
int boinc_key_sign_md5(const struct boinc_key_private *sk, const char *md5_hex, char *out,
		       size_t size, struct error *err) __attribute__((warn_unused_result));
/* 0 when sig_text is sk's signature of md5_hex under pk, else
 * ERROR_SIGNATURE (or ERROR_FORMAT for text that is not a signature). */
int boinc_key_verify_md5(const struct boinc_key_public *pk, const char *md5_hex,
			 const char *sig_text, struct error *err)
    __attribute__((warn_unused_result));

#endif
