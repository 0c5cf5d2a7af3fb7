/*
 * admin_wu.c - "agora-admin wu": sign, verify and inspect work units.
 *
 *   wu sign --key SECRET UNIT.json [--out FILE]
 *       validates UNIT.json, re-encodes it canonically and seals it in a
 *       "workunit" envelope (to FILE, written atomically, or stdout);
 *   wu verify --pub PUBLIC FILE
 *       exit 0 and "ok: unit <id>", or exit 1 and a one-line reason;
 *   wu show FILE [--pub PUBLIC]
 *       pretty-prints a signed unit, marked UNVERIFIED unless --pub is
 *       given (with --pub, a bad signature is an error, as for verify).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/admin.h"
#include "workunits/envelope.h"
#include "workunits/unit.h"

static const char admin_wu_usage[] =
    "usage: agora-admin wu sign --key SECRET UNIT.json [--out FILE]\n"
    "       agora-admin wu verify --pub PUBLIC FILE\n"
    "       agora-admin wu show FILE [--pub PUBLIC]\n";

static int admin_wu_sign(int argc, char **argv)
{
	const char *key_path = NULL, *out_path = NULL, *pos[1];
	const struct admin_option opts[] = {
	    {"key", 1, &key_path}, {"out", 1, &out_path}, {NULL, 0, NULL}};
	unsigned char *json = NULL, *env = NULL;
	size_t json_len, env_len;
	char id_hex[HASH_HEX_LEN + 1];
	struct key_secret sk;
	struct error err;
	struct unit u;
	struct hash id;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_wu_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!key_path || n_pos != 1) {
		fprintf(stderr, "agora-admin wu sign: needs --key SECRET and one UNIT.json\n%s",
			admin_wu_usage);
		return ADMIN_EXIT_USAGE;
	}
	rc = ADMIN_EXIT_FAIL;
	if (fileio_read_all(pos[0], UNIT_JSON_MAX, &json, &json_len, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	if (unit_parse(&u, json, json_len, &err) < 0) {
		log_error("cannot sign '%s': %s", pos[0], err.msg);
		goto out;
	}
	if (key_load_secret(&sk, key_path, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	if (unit_seal(&u, &sk, &env, &env_len, &id, &err) < 0) {
		log_error("cannot sign '%s': %s", pos[0], err.msg);
		goto out;
	}
	if (out_path) {
		if (fileio_write_atomic(out_path, env, env_len, 0644, 0, &err) < 0) {
			log_error("%s", err.msg);
			goto out;
		}
	} else if (fwrite(env, 1, env_len, stdout) != env_len || fflush(stdout) != 0) {
		log_error("cannot write to standard output");
		goto out;
	}
	hash_to_hex(&id, id_hex);
	fprintf(stderr, "signed unit %s\n", id_hex);
	rc = ADMIN_EXIT_OK;
out:
	memset(&sk, 0, sizeof(sk));
	free(json);
	free(env);
	return rc;
}

/* Reads FILE and, with a key, opens it; without, parses it unverified. */
static int admin_wu_load(const char *path, const char *pub_path, struct unit *u, struct hash *id,
			 struct envelope_info *info, unsigned char **buf, size_t *len)
{
	struct key_public pk;
	struct error err;

	if (fileio_read_all(path, ENVELOPE_MAX, buf, len, &err) < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	if (envelope_peek(info, *buf, *len, &err) < 0) {
		log_error("'%s': %s", path, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	if (pub_path) {
		if (key_load_public(&pk, pub_path, &err) < 0) {
			log_error("%s", err.msg);
			return ADMIN_EXIT_FAIL;
		}
		if (unit_open(u, id, *buf, *len, &pk, &err) < 0) {
			log_error("'%s': %s", path, err.msg);
			return ADMIN_EXIT_FAIL;
		}
		return ADMIN_EXIT_OK;
	}
	if (strcmp(info->type, ENVELOPE_TYPE_WORKUNIT) != 0) {
		log_error("'%s': envelope holds a '%s', not a work unit", path, info->type);
		return ADMIN_EXIT_FAIL;
	}
	if (unit_parse(u, info->payload, info->payload_len, &err) < 0) {
		log_error("'%s': %s", path, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	unit_id(id, info->payload, info->payload_len);
	return ADMIN_EXIT_OK;
}

static int admin_wu_verify(int argc, char **argv)
{
	const char *pub_path = NULL, *pos[1];
	const struct admin_option opts[] = {{"pub", 1, &pub_path}, {NULL, 0, NULL}};
	char id_hex[HASH_HEX_LEN + 1];
	struct envelope_info info;
	unsigned char *buf = NULL;
	struct unit u;
	struct hash id;
	size_t len;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_wu_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!pub_path || n_pos != 1) {
		fprintf(stderr, "agora-admin wu verify: needs --pub PUBLIC and one FILE\n%s",
			admin_wu_usage);
		return ADMIN_EXIT_USAGE;
	}
	rc = admin_wu_load(pos[0], pub_path, &u, &id, &info, &buf, &len);
	if (rc == ADMIN_EXIT_OK) {
		hash_to_hex(&id, id_hex);
		printf("ok: unit %s\n", id_hex);
	}
	free(buf);
	return rc;
}

static void admin_wu_print(const struct unit *u, const struct hash *id,
			   const struct envelope_info *info, const char *pub_path)
{
	char hex[HASH_HEX_LEN + 1], fp[KEY_FINGERPRINT_LEN + 1], when[64] = "?";
	time_t t = (time_t)u->deadline;
	struct tm tm;
	size_t i;

	hash_to_hex(id, hex);
	key_fingerprint(&info->signer, fp);
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("unit        %s\n", hex);
	if (pub_path)
		printf("signature   verified with '%s' (key %s)\n", pub_path, fp);
	else
		printf("signature   UNVERIFIED: claims key %s (pass --pub to check)\n", fp);
	printf("job         %s\nround       %" PRIu64 "\nunit index  %" PRIu64 "\n", u->job,
	       u->round, u->index);
	hash_to_hex(&u->model, hex);
	printf("model       %s\npreset      %s\n", hex, u->preset);
	printf("data        %zu range%s\n", u->n_data, u->n_data == 1 ? "" : "s");
	for (i = 0; i < u->n_data; i++) {
		hash_to_hex(&u->data[i].shard, hex);
		printf("  [%zu] shard %s offset %" PRIu64 " length %" PRIu64 "\n", i, hex,
		       u->data[i].offset, u->data[i].length);
	}
	printf("hyper       lr %g  beta1 %g  beta2 %g  eps %g  weight_decay %g  clip %g\n"
	       "            batch %" PRIu32 "  context %" PRIu32 "\n",
	       u->hyper.lr, u->hyper.beta1, u->hyper.beta2, u->hyper.eps, u->hyper.weight_decay,
	       u->hyper.clip, u->hyper.batch, u->hyper.context);
	printf("steps       %" PRIu32 "\nseed        %" PRIu64 "\nkernel_abi  %" PRIu32 "\n",
	       u->steps, u->seed, u->kernel_abi);
	printf("deadline    %" PRId64 " (%s)\nflops       %.6g\n", u->deadline, when, u->flops);
}

static int admin_wu_show(int argc, char **argv)
{
	const char *pub_path = NULL, *pos[1];
	const struct admin_option opts[] = {{"pub", 1, &pub_path}, {NULL, 0, NULL}};
	struct envelope_info info;
	unsigned char *buf = NULL;
	struct unit u;
	struct hash id;
	size_t len;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_wu_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (n_pos != 1) {
		fprintf(stderr, "agora-admin wu show: needs one FILE\n%s", admin_wu_usage);
		return ADMIN_EXIT_USAGE;
	}
	rc = admin_wu_load(pos[0], pub_path, &u, &id, &info, &buf, &len);
	if (rc == ADMIN_EXIT_OK)
		admin_wu_print(&u, &id, &info, pub_path);
	free(buf);
	return rc;
}

int admin_wu(int argc, char **argv)
{
	static const struct admin_command sub[] = {
	    {"sign", "", "", admin_wu_sign},
	    {"verify", "", "", admin_wu_verify},
	    {"show", "", "", admin_wu_show},
	};
	size_t i;

	if (argc < 2) {
		fputs(admin_wu_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(admin_wu_usage, stdout);
		return ADMIN_EXIT_OK;
	}
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		if (strcmp(argv[1], sub[i].name) == 0)
			return sub[i].run(argc - 1, argv + 1);
	log_error("unknown command 'wu %s' (try 'agora-admin wu --help')", argv[1]);
	return ADMIN_EXIT_USAGE;
}
