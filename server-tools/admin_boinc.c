/*
 * admin_boinc.c - "agora-admin boinc": BOINC's code-signing key and the
 * agora-boinc app version a coordinator publishes (docs/BOINC.md).
 *
 *   agora-admin boinc keygen --out DIR [--name NAME]
 *       DIR/NAME.key (0600) and DIR/NAME.pub in BOINC's RSA key format
 *       (default name "code_sign"); keep the .key offline, as BOINC
 *       advises: it is only needed to sign a new app version
 *   agora-admin boinc sign FILE --key KEYFILE
 *       prints BOINC's signature of FILE (RSA over its MD5)
 *   agora-admin boinc verify FILE --pub PUBFILE --sig SIGFILE
 *   agora-admin boinc publish --state STATE --key KEYFILE --exe FILE
 *                             [--version N] [--platform P] [--plan-class C]
 *       copies FILE to STATE/boinc/app/agora-boinc_N_P (0755; a GPU
 *       version, C one of opencl_nvidia, opencl_amd, opencl_intel_gpu:
 *       agora-boinc_N_P__C) with its signature beside it (.sig), the
 *       public key to STATE/boinc/code_sign.pub, and rewrites
 *       STATE/boinc/app/current (boinc_appver.h: one line per plan class,
 *       "NAME N P MD5 NBYTES [C]"): this version's line replaces the one
 *       of its plan class, the others stay
 *
 * Built without expat or libcrypto, the group says so and fails.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/admin.h"

static const char admin_boinc_usage[] =
    "usage: agora-admin boinc keygen --out DIR [--name NAME]\n"
    "       agora-admin boinc sign FILE --key KEYFILE\n"
    "       agora-admin boinc verify FILE --pub PUBFILE --sig SIGFILE\n"
    "       agora-admin boinc publish --state STATE --key KEYFILE --exe FILE\n"
    "                                 [--version N] [--platform P] [--plan-class C]\n"
    "  BOINC's RSA code-signing key and the agora-boinc app versions (docs/BOINC.md);\n"
    "  C: opencl_nvidia, opencl_amd or opencl_intel_gpu (a GPU version; none: the CPU's).\n";

#ifdef HAVE_BOINC_SERVER

#include "server-tools/boinc_appver.h"
#include "server-tools/boinc_key.h"

#define ADMIN_BOINC_PLATFORM "x86_64-pc-linux-gnu"
#define ADMIN_BOINC_EXE_MAX  (256u << 20)

static int boinc_keygen(int argc, char **argv)
{
	const char *out = NULL, *name = "code_sign";
	const struct admin_option opts[] = {{"out", 1, &out}, {"name", 1, &name}, {NULL, 0, NULL}};
	struct boinc_key_private sk;
	struct error err;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, NULL, 0, &n_pos, admin_boinc_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!out) {
		fputs(admin_boinc_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	error_clear(&err);
	if (boinc_key_generate(&sk, NULL, &err) < 0 ||
	    boinc_key_write_pair(out, name, &sk, &err) < 0) {
		log_error("cannot make a BOINC key: %s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	memset(&sk, 0, sizeof(sk));
	printf("wrote %s/%s.key and %s/%s.pub\n", out, name, out, name);
	return ADMIN_EXIT_OK;
}

/* The signature text of path under key_path; 0 or ADMIN_EXIT_FAIL. */
static int sign_file(const char *path, const char *key_path, char *sig, size_t size,
		     char md5[BOINC_MD5_HEX + 1], uint64_t *nbytes)
{
	struct boinc_key_private sk;
	struct error err;
	int rc;

	error_clear(&err);
	rc = boinc_key_load_private(&sk, key_path, &err);
	if (rc == 0)
		rc = boinc_md5_file(path, md5, nbytes, &err);
	if (rc == 0)
		rc = boinc_key_sign_md5(&sk, md5, sig, size, &err);
	memset(&sk, 0, sizeof(sk));
	if (rc < 0) {
		log_error("cannot sign '%s': %s", path, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	return 0;
}

static int boinc_sign(int argc, char **argv)
{
	const char *key = NULL, *pos[1];
	const struct admin_option opts[] = {{"key", 1, &key}, {NULL, 0, NULL}};
	char sig[BOINC_SIG_TEXT_MAX], md5[BOINC_MD5_HEX + 1];
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_boinc_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!key || n_pos != 1) {
		fputs(admin_boinc_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (sign_file(pos[0], key, sig, sizeof(sig), md5, NULL) != 0)
		return ADMIN_EXIT_FAIL;
	fputs(sig, stdout);
	return ADMIN_EXIT_OK;
}

static int boinc_verify(int argc, char **argv)
{
	const char *pub = NULL, *sigf = NULL, *pos[1];
	const struct admin_option opts[] = {{"pub", 1, &pub}, {"sig", 1, &sigf}, {NULL, 0, NULL}};
	struct boinc_key_public pk;
	char md5[BOINC_MD5_HEX + 1];
	unsigned char *sig = NULL;
	struct error err;
	size_t len;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_boinc_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!pub || !sigf || n_pos != 1) {
		fputs(admin_boinc_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	error_clear(&err);
	rc = boinc_key_load_public(&pk, pub, &err);
	if (rc == 0)
		rc = fileio_read_all(sigf, BOINC_SIG_TEXT_MAX, &sig, &len, &err);
	if (rc == 0)
		rc = boinc_md5_file(pos[0], md5, NULL, &err);
	if (rc == 0)
		rc = boinc_key_verify_md5(&pk, md5, (const char *)sig, &err);
	free(sig);
	if (rc < 0) {
		log_error("'%s': %s", pos[0], err.msg);
		return ADMIN_EXIT_FAIL;
	}
	printf("%s: good BOINC signature\n", pos[0]);
	return ADMIN_EXIT_OK;
}

static int copy_file(const char *from, const char *to, mode_t mode, struct error *err)
{
	unsigned char *buf = NULL;
	size_t len;
	int rc = fileio_read_all(from, ADMIN_BOINC_EXE_MAX, &buf, &len, err);

	if (rc == 0)
		rc = fileio_write_atomic(to, buf, len, mode, 0, err);
	free(buf);
	return rc;
}

/* DIR/current (boinc_appver.h) into l; a missing file is an empty list,
 * an unreadable one an error (fix or remove it by hand rather than lose
 * its other versions). Read before anything is copied. */
static int current_load(const char *dir, struct boinc_appver_list *l, struct error *err)
{
	char path[FILEIO_PATH_MAX + 16];
	int rc;

	snprintf(path, sizeof(path), "%s/current", dir);
	rc = boinc_appver_load(l, path, err);
	if (rc == ERROR_NOT_FOUND) {
		memset(l, 0, sizeof(*l));
		error_clear(err);
		rc = 0;
	}
	return rc;
}

/* Puts v into l and rewrites DIR/current atomically. */
static int current_write(const char *dir, struct boinc_appver_list *l, const struct boinc_appver *v,
			 struct error *err)
{
	char path[FILEIO_PATH_MAX + 16], text[BOINC_APPVER_FILE_MAX];
	long n;
	int rc;

	if ((rc = boinc_appver_put(l, v, err)) < 0)
		return rc;
	if ((n = boinc_appver_format(l, text, sizeof(text))) < 0)
		return error_set(err, (int)n, "the app version list is too long");
	snprintf(path, sizeof(path), "%s/current", dir);
	return fileio_write_atomic(path, text, (size_t)n, 0644, 0, err);
}

/* STATE/boinc/code_sign.pub: the public half of the key at key_path. */
static int publish_key(const char *state, const char *key_path, struct error *err)
{
	char path[FILEIO_PATH_MAX + 32], text[BOINC_KEY_TEXT_MAX];
	struct boinc_key_private sk;
	struct boinc_key_public pk;
	int rc = boinc_key_load_private(&sk, key_path, err);

	if (rc < 0)
		return rc;
	boinc_key_public_of(&pk, &sk);
	memset(&sk, 0, sizeof(sk));
	if ((rc = boinc_key_public_text(&pk, text, sizeof(text))) < 0)
		return error_set(err, rc, "cannot write the public key");
	snprintf(path, sizeof(path), "%s/boinc/code_sign.pub", state);
	return fileio_write_atomic(path, text, strlen(text), 0644, 0, err);
}

static int boinc_publish(int argc, char **argv)
{
	const char *state = NULL, *key = NULL, *exe = NULL, *version = "100";
	const char *platform = ADMIN_BOINC_PLATFORM, *plan_class = NULL;
	const struct admin_option opts[] = {
	    {"state", 1, &state},     {"key", 1, &key},           {"exe", 1, &exe},
	    {"version", 1, &version}, {"platform", 1, &platform}, {"plan-class", 1, &plan_class},
	    {NULL, 0, NULL}};
	char sig[BOINC_SIG_TEXT_MAX], md5[BOINC_MD5_HEX + 1], dir[FILEIO_PATH_MAX];
	char name[128], path[FILEIO_PATH_MAX + 160];
	struct boinc_appver_list list;
	struct error err;
	uint64_t nbytes = 0;
	char *end;
	long v;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, NULL, 0, &n_pos, admin_boinc_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	v = strtol(version, &end, 10);
	if (!state || !key || !exe || *end || v < 1 || v > 1000000 || !platform[0] ||
	    strspn(platform, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(platform) ||
	    strlen(platform) > 64) {
		fputs(admin_boinc_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (plan_class && boinc_sched_plan_class_gpu(plan_class) < 0) {
		log_error("unknown plan class '%.40s' (known: opencl_nvidia, opencl_amd, "
			  "opencl_intel_gpu)",
			  plan_class);
		return ADMIN_EXIT_USAGE;
	}
	if (!plan_class)
		plan_class = ""; /* the CPU version */
	error_clear(&err);
	/* BOINC's convention: a plan class's file ends in __CLASS */
	snprintf(name, sizeof(name), "agora-boinc_%ld_%s%s%s", v, platform,
		 plan_class[0] ? "__" : "", plan_class);
	snprintf(dir, sizeof(dir), "%s/boinc", state);
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST) ||
	    (snprintf(dir, sizeof(dir), "%s/boinc/app", state),
	     mkdir(dir, 0755) < 0 && errno != EEXIST)) {
		log_error("cannot create '%s': %s", dir, strerror(errno));
		return ADMIN_EXIT_FAIL;
	}
	if (current_load(dir, &list, &err) < 0) {
		log_error("cannot read '%s/current': %s", dir, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (copy_file(exe, path, 0755, &err) < 0) {
		log_error("cannot copy '%s': %s", exe, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	/* sign the copy, the bytes that will be served */
	if (sign_file(path, key, sig, sizeof(sig), md5, &nbytes) != 0)
		return ADMIN_EXIT_FAIL;
	rc = publish_key(state, key, &err);
	snprintf(path, sizeof(path), "%s/%s.sig", dir, name);
	if (rc == 0)
		rc = fileio_write_atomic(path, sig, strlen(sig), 0644, 0, &err);
	if (rc == 0) {
		struct boinc_appver av = {.version_num = (int)v, .nbytes = nbytes};

		snprintf(av.name, sizeof(av.name), "%s", name);
		snprintf(av.platform, sizeof(av.platform), "%s", platform);
		snprintf(av.md5, sizeof(av.md5), "%s", md5);
		snprintf(av.plan_class, sizeof(av.plan_class), "%s", plan_class);
		rc = current_write(dir, &list, &av, &err);
	}
	if (rc < 0) {
		log_error("cannot publish '%s': %s", name, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	printf("published %s (md5 %s, %llu bytes)\n", name, md5, (unsigned long long)nbytes);
	return ADMIN_EXIT_OK;
}

int admin_boinc(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
		return boinc_keygen(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "sign") == 0)
		return boinc_sign(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return boinc_verify(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "publish") == 0)
		return boinc_publish(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		fputs(admin_boinc_usage, stdout);
		return ADMIN_EXIT_OK;
	}
	fputs(admin_boinc_usage, stderr);
	return ADMIN_EXIT_USAGE;
}

#else /* !HAVE_BOINC_SERVER */

int admin_boinc(int argc, char **argv)
{
	(void)argc, (void)argv;
	log_error("agora-admin was built without BOINC support (configure needs expat and "
		  "libcrypto: Debian libexpat1-dev libssl-dev)");
	fputs(admin_boinc_usage, stderr);
	return ADMIN_EXIT_FAIL;
}

#endif
