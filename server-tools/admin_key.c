/*
 * admin_key.c - "agora-admin keygen": create an Ed25519 key pair.
 *
 * Writes DIR/NAME.pub and DIR/NAME.key (0600), refusing to overwrite
 * either, and prints the public key's fingerprint so it can be compared
 * out of band. "agora-admin fingerprint FILE..." prints the fingerprint
 * and full hex of key files (public, or secret: then of its public half).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/log.h"
#include "server-tools/admin.h"
#include "workunits/key.h"

static const char admin_keygen_usage[] =
    "usage: agora-admin keygen --out DIR [--name NAME]\n"
    "  writes DIR/NAME.pub and DIR/NAME.key (mode 0600); NAME defaults to 'admin'.\n"
    "  Existing files are never overwritten.\n";

static const char admin_fingerprint_usage[] =
    "usage: agora-admin fingerprint KEYFILE...\n"
    "  prints 'FINGERPRINT PUBLIC-KEY-HEX KEYFILE' for each public or secret key file.\n";

/* Loads a public key, or the public half of a secret key file. */
static int admin_load_any_public(struct key_public *pk, const char *path, struct error *err)
{
	struct key_secret sk;
	int rc;

	rc = key_load_public(pk, path, err);
	if (rc != ERROR_TYPE || !strstr(err->msg, "is a secret key"))
		return rc;
	rc = key_load_secret(&sk, path, err);
	if (rc == 0)
		key_public_of(pk, &sk);
	sodium_memzero(&sk, sizeof(sk));
	return rc;
}

int admin_fingerprint(int argc, char **argv)
{
	const char *pos[64];
	char fp[KEY_FINGERPRINT_LEN + 1], hex[KEY_PUBLIC_HEX_LEN + 1];
	struct key_public pk;
	struct error err;
	int i, n_pos, rc, status = ADMIN_EXIT_OK;

	rc = admin_parse_args(argc, argv, NULL, pos, 64, &n_pos, admin_fingerprint_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (n_pos == 0) {
		fputs(admin_fingerprint_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	for (i = 0; i < n_pos; i++) {
		if (admin_load_any_public(&pk, pos[i], &err) < 0) {
			log_error("%s", err.msg);
			status = ADMIN_EXIT_FAIL;
			continue;
		}
		key_fingerprint(&pk, fp);
		key_public_to_hex(&pk, hex);
		printf("%s %s %s\n", fp, hex, pos[i]);
	}
	return status;
}

int admin_keygen(int argc, char **argv)
{
	const char *dir = NULL, *name = "admin";
	const struct admin_option opts[] = {{"out", 1, &dir}, {"name", 1, &name}, {NULL, 0, NULL}};
	char fp[KEY_FINGERPRINT_LEN + 1];
	struct key_public pk;
	struct key_secret sk;
	struct error err;
	struct stat st;
	const char *pos[1];
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 0, &n_pos, admin_keygen_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!dir) {
		fprintf(stderr, "agora-admin keygen: --out DIR is required\n%s",
			admin_keygen_usage);
		return ADMIN_EXIT_USAGE;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("cannot write keys to '%s': not a directory", dir);
		return ADMIN_EXIT_FAIL;
	}
	if (key_generate(&pk, &sk) < 0) {
		log_error("cannot generate a key: libsodium failed to initialise");
		return ADMIN_EXIT_FAIL;
	}
	rc = key_write_pair(dir, name, &pk, &sk, &err);
	sodium_memzero(&sk, sizeof(sk));
	if (rc < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	key_fingerprint(&pk, fp);
	printf("wrote %s/%s.pub and %s/%s.key\nfingerprint %s\n", dir, name, dir, name, fp);
	return ADMIN_EXIT_OK;
}
