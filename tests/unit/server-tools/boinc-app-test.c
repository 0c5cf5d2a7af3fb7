/*
 * boinc-app-test.c - agora-boinc run standalone (no BOINC client: its
 * logical file names are the files themselves) in a scratch slot
 * directory on a small gpt-test unit:
 *
 *  - its result blob is byte for byte what compute_unit() gives for the
 *    same unit (what agora-client uploads), on the C reference and on the
 *    device it picks itself (an OpenCL CPU device, else the reference),
 *    also when init_data.xml names a GPU this machine lacks (it says so);
 *  - its result envelope is a valid "result" naming the unit and the Δ;
 *  - a unit with one byte changed, or signed by another key, fails the
 *    task (exit status 1) with "work unit refused" in stderr.txt, and
 *    writes no result; a model blob whose hash is not the unit's too.
 *
 * Skips when agora-boinc was not built (no libboinc-app-dev).
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/compute.h"
#include "common/fileio.h"
#include "kernels/model.h"
#include "tests/tap.h"
#include "workunits/blob.h"
#include "workunits/envelope.h"
#include "workunits/key.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define STEPS     6
#define DATA_LEN  4096
#define DATA_SKIP 100

static char bin[PATH_MAX];

struct inputs {
	unsigned char *unit_env, *model, *shard, *pub;
	size_t unit_len, model_len, shard_len, pub_len;
};

static void put(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[600];
	struct error err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
		tap_diag("cannot write '%s': %s", path, err.msg);
}

static unsigned char *get(const char *dir, const char *name, size_t *len)
{
	char path[600];
	unsigned char *buf = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fileio_read_all(path, 1u << 26, &buf, len, NULL) < 0)
		return NULL;
	return buf;
}

/* Makes slot root/name with the inputs; returns its path in slot. */
static void make_slot(const char *root, const char *name, const struct inputs *in, char *slot,
		      size_t size)
{
	snprintf(slot, size, "%s/%s", root, name);
	mkdir(slot, 0700);
	put(slot, "agora_unit", in->unit_env, in->unit_len);
	put(slot, "agora_key", in->pub, in->pub_len);
	put(slot, "agora_model", in->model, in->model_len);
	put(slot, "agora_shard_0", in->shard, in->shard_len);
}

/* Runs agora-boinc in slot (stderr to slot/stderr.txt); its exit status. */
static int run_app(const char *slot, const char *device)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		char path[600];
		int fd;

		snprintf(path, sizeof(path), "%s/stderr.txt", slot);
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0 || chdir(slot) < 0)
			_exit(126);
		dup2(fd, 2);
		if (device)
			execl(bin, bin, "--device", device, (char *)NULL);
		else
			execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int stderr_has(const char *slot, const char *what)
{
	size_t len;
	unsigned char *buf = get(slot, "stderr.txt", &len);
	int has;

	if (!buf)
		return 0;
	has = memmem(buf, len, what, strlen(what)) != NULL;
	if (!has)
		tap_diag("  stderr.txt: %.*s", (int)(len > 400 ? 400 : len), (const char *)buf);
	free(buf);
	return has;
}

/* Runs a slot that must succeed; init_data, when not NULL, is written as
 * the slot's init_data.xml (what BOINC gives the app). Returns the slot
 * directory in slot (600 bytes). */
static void check_ok(const char *root, const char *name, const char *device, const char *init_data,
		     const struct inputs *in, const struct compute_output *want,
		     const struct hash *id, char *slot)
{
	struct envelope_info info;
	struct result res;
	unsigned char *blob, *env;
	size_t blob_len = 0, env_len = 0;
	int rc;

	make_slot(root, name, in, slot, 600);
	if (init_data)
		put(slot, "init_data.xml", init_data, strlen(init_data));
	rc = run_app(slot, device);
	if (!TAP_OK(rc == 0, "%s: agora-boinc finishes the unit", name))
		stderr_has(slot, "\x01");
	blob = get(slot, "agora_result_blob", &blob_len);
	env = get(slot, "agora_result_env", &env_len);
	TAP_OK(blob && blob_len == want->blob_len && memcmp(blob, want->blob, blob_len) == 0,
	       "%s: its result blob is byte for byte compute_unit()'s", name);
	TAP_OK(env && envelope_peek(&info, env, env_len, NULL) == 0 &&
		   result_open(&res, env, env_len, &info.signer, NULL) == 0 &&
		   hash_equal(&res.unit_id, id) && hash_equal(&res.output, &want->output) &&
		   res.compute.steps == STEPS,
	       "%s: its result envelope is signed and names the unit and Δ", name);
	free(blob);
	free(env);
}

static void check_refused(const char *root, const char *name, const struct inputs *in,
			  const char *why)
{
	char slot[600], path[700];
	int rc;

	make_slot(root, name, in, slot, sizeof(slot));
	rc = run_app(slot, "ref");
	TAP_IS(rc, 1, "a tampered task fails (exit status 1)");
	TAP_OK(stderr_has(slot, why), "%s: stderr.txt says '%s'", name, why);
	snprintf(path, sizeof(path), "%s/agora_result_env", slot);
	TAP_OK(access(path, F_OK) != 0, "%s: no result is written", name);
}

static void make_unit(struct unit *u)
{
	unit_init(u);
	snprintf(u->job, sizeof(u->job), "boinc");
	snprintf(u->preset, sizeof(u->preset), "gpt-test");
	u->n_data = 1;
	u->data[0].offset = DATA_SKIP;
	u->data[0].length = DATA_LEN;
	u->hyper = (struct unit_hyper){1e-3, 0.9, 0.95, 1e-8, 0.1, 1.0, 2, 8};
	u->steps = STEPS;
	u->kernel_abi = COMPUTE_KERNEL_ABI;
	u->deadline = 1;
}

int main(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	size_t n = model_param_count(cfg);
	float *theta = malloc(n * sizeof(float));
	unsigned char raw[DATA_SKIP + DATA_LEN], seed[KEY_SEED_BYTES] = {7}, seed2[32] = {8};
	const char *top = getenv("top_builddir");
	struct compute_opts o = {.device = "ref", .ckpt_interval = 1e9};
	struct compute_output want;
	struct blob_header h;
	struct key_public pk, pk2;
	struct key_secret sk, sk2;
	struct inputs in, bad;
	struct error err;
	struct hash id;
	struct unit u;
	char root[256], rel[PATH_MAX], slot[600];
	unsigned char *env2 = NULL;
	size_t env2_len;

	snprintf(rel, sizeof(rel), "%s/agora-boinc", top && *top ? top : ".");
	if (!realpath(rel, bin) || access(bin, X_OK) != 0)
		tap_skip_all("agora-boinc not built (configure found no libboinc-app-dev)");
	if (!theta || tap_tmpdir(root, sizeof(root)) < 0)
		tap_skip_all("no memory or scratch directory");
	memset(&in, 0, sizeof(in));
	key_from_seed(&pk, &sk, seed);
	key_from_seed(&pk2, &sk2, seed2);
	if (key_write_pair(root, "coord", &pk, &sk, &err) < 0)
		tap_skip_all("cannot write a key: %s", err.msg);
	in.pub = get(root, "coord.pub", &in.pub_len);
	model_init_params(cfg, 11, theta);
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(' ' + model_rng_u64(13, i) % 95);
	make_unit(&u);
	if (blob_encode_mem(theta, n * sizeof(float), BLOB_CODEC_ZLIB, &in.model, &in.model_len, &h,
			    &err) < 0)
		tap_skip_all("cannot encode: %s", err.msg);
	u.model = h.hash;
	if (blob_encode_mem(raw, sizeof(raw), BLOB_CODEC_ZLIB, &in.shard, &in.shard_len, &h, &err) <
	    0)
		tap_skip_all("cannot encode: %s", err.msg);
	u.data[0].shard = h.hash;
	if (unit_seal(&u, &sk, &in.unit_env, &in.unit_len, &id, &err) < 0 ||
	    unit_seal(&u, &sk2, &env2, &env2_len, NULL, &err) < 0)
		tap_skip_all("cannot seal: %s", err.msg);
	if (compute_unit(&u, (const unsigned char *)theta, n * sizeof(float), raw + DATA_SKIP,
			 DATA_LEN, &o, &want, &err) < 0)
		tap_skip_all("compute_unit failed: %s", err.msg);

	check_ok(root, "ref", "ref", NULL, &in, &want, &id, slot);
	check_ok(root, "auto", NULL, NULL, &in, &want, &id, slot);
	/* BOINC assigned a GPU this machine does not have (no host has 64 of
	 * one vendor): the task still computes, on the CPU device or the
	 * reference, and says so */
	check_ok(root, "no-such-gpu", NULL,
		 "<app_init_data>\n<gpu_type>NVIDIA</gpu_type>\n<gpu_device_num>63</gpu_device_num>"
		 "\n<gpu_opencl_dev_index>63</gpu_opencl_dev_index>\n</app_init_data>\n",
		 &in, &want, &id, slot);
	TAP_OK(stderr_has(slot, "BOINC assigned NVIDIA GPU 63 but no OpenCL device of that "
				"vendor has that index: computing on "),
	       "no-such-gpu: stderr.txt says which device it computes on instead");

	bad = in;
	bad.unit_env = malloc(in.unit_len);
	memcpy(bad.unit_env, in.unit_env, in.unit_len);
	bad.unit_env[in.unit_len - 3] ^= 1; /* inside the JSON payload */
	check_refused(root, "tampered-unit", &bad, "work unit refused");
	free(bad.unit_env);
	bad = in;
	bad.unit_env = env2;
	bad.unit_len = env2_len;
	check_refused(root, "other-signer", &bad, "work unit refused");
	bad = in;
	bad.model = in.shard;
	bad.model_len = in.shard_len;
	check_refused(root, "wrong-model", &bad, "agora_model");

	free(want.blob);
	free(env2);
	free(in.unit_env);
	free(in.model);
	free(in.shard);
	free(in.pub);
	free(theta);
	{
		char cmd[300];
		int rc = tap_done();

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (rc == 0 && system(cmd) != 0)
			tap_diag("cannot remove '%s'", root);
		return rc;
	}
}
