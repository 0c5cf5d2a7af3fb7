/*
 * hash.c - BLAKE2b-256 through libsodium (see hash.h).
 */
#include "config.h"

#include "workunits/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fileio.h"
#include "common/hex.h"

#define HASH_CHUNK 65536

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(struct hash_state),
	       "struct hash_state too small for crypto_generichash_state");
_Static_assert(alignof(crypto_generichash_state) <= alignof(struct hash_state),
	       "struct hash_state under-aligned for crypto_generichash_state");
_Static_assert(crypto_generichash_BYTES_MIN <= HASH_BYTES &&
		   crypto_generichash_BYTES_MAX >= HASH_BYTES,
	       "BLAKE2b cannot produce HASH_BYTES");

/* libsodium wants sodium_init() before use; it is idempotent and
 * thread safe, and the flag saves its lock on every later call. Hashing
 * needs no randomness, so a failure (no entropy source) is not fatal here:
 * the portable BLAKE2b code still runs. */
static void hash_sodium_init(void)
{
	static atomic_int ready;

	if (!atomic_load_explicit(&ready, memory_order_acquire)) {
		if (sodium_init() < 0) {
			/* no entropy source: hashing needs none */
		}
		atomic_store_explicit(&ready, 1, memory_order_release);
	}
}

void hash_buf(struct hash *out, const void *data, size_t len)
{
	hash_sodium_init();
	crypto_generichash(out->bytes, HASH_BYTES, data, len, NULL, 0);
}

void hash_init(struct hash_state *st)
{
	hash_sodium_init();
	crypto_generichash_init((crypto_generichash_state *)st->opaque, NULL, 0, HASH_BYTES);
}

void hash_update(struct hash_state *st, const void *data, size_t len)
{
	crypto_generichash_update((crypto_generichash_state *)st->opaque, data, len);
}

void hash_final(struct hash_state *st, struct hash *out)
{
	crypto_generichash_final((crypto_generichash_state *)st->opaque, out->bytes, HASH_BYTES);
}

void hash_to_hex(const struct hash *h, char out[HASH_HEX_LEN + 1])
{
	hex_encode(out, h->bytes, HASH_BYTES);
}

int hash_from_hex(struct hash *h, const char *hex, struct error *err)
{
	size_t len = strnlen(hex, HASH_HEX_LEN + 1);

	if (len != HASH_HEX_LEN)
		return error_set(err, ERROR_FORMAT, "hash must be %d hex digits, got %s%zu",
				 HASH_HEX_LEN, len > HASH_HEX_LEN ? "more than " : "",
				 len > HASH_HEX_LEN ? (size_t)HASH_HEX_LEN : len);
	if (hex_decode(h->bytes, HASH_BYTES, hex, len) < 0)
		return error_set(err, ERROR_FORMAT, "hash must be lowercase hex digits [0-9a-f]");
	return 0;
}

int hash_file(struct hash *out, const char *path, struct error *err)
{
	unsigned char buf[HASH_CHUNK];
	struct hash_state st;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fileio_error(err, errno, "open", path);
	hash_init(&st);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fileio_error(err, errno, "read", path);
			goto out;
		}
		if (n == 0)
			break;
		hash_update(&st, buf, (size_t)n);
	}
	hash_final(&st, out);
out:
	close(fd);
	return rc;
}

int hash_equal(const struct hash *a, const struct hash *b)
{
	return memcmp(a->bytes, b->bytes, HASH_BYTES) == 0;
}
