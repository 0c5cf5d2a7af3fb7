/*
 * admin_key.c - "agora-admin keygen": create an Ed25519 key pair.
 *
 * Writes DIR/NAME.pub and DIR/NAME.key (0600), refusing to overwrite
 * either, and prints the public key's fingerprint so it can be compared
 * out of band.
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
