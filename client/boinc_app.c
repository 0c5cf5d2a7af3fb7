/*
 * boinc_app.c - agora-boinc, the Agora compute engine as a BOINC
 * application (docs/BOINC.md).
 *
 * The stock BOINC client starts it in a slot directory with these input
 * files, by logical name (boinc_resolve_filename() maps each to the
 * physical file; run standalone, without a client, the logical name is
 * the file itself):
 *
 *   agora_unit       the unit's signed "workunit" envelope
 *   agora_key        the coordinator's public key file (agora-ed25519
 *                    public key v1): the unit must be signed by it
 *   agora_model      θ_r's blob container (hash checked against the unit)
 *   agora_shard_N    the blob of data range N's shard, N = 0..n_data-1
 *
 * and writes two output files:
 *
 *   agora_result_blob  Δ's blob container, byte for byte what agora-client
 *                      writes for the same unit (compute_unit())
 *   agora_result_env   the "result" envelope, signed by a key made for
 *                      this task (kept in the slot as agora_task.key so a
 *                      restarted task keeps it); the coordinator knows the
 *                      BOINC host by its authenticator, the envelope's key
 *                      only binds the descriptor to the blob
 *
 * The unit is verified exactly as agora-client verifies it (unit_open()
 * with the pinned coordinator key, compute_check_unit()); any failure ends
 * the task with boinc_finish(1) after one line on stderr (stderr.txt).
 *
 * BOINC's runtime: boinc_init_options() (suspend, resume and quit are
 * acted on by the runtime itself), boinc_fraction_done() after every
 * step, and checkpoints when boinc_time_to_checkpoint() says so: the run
 * is stopped through compute_opts.stop, compute_unit() writes its
 * checkpoint into ./agora_ckpt and returns, boinc_checkpoint_completed()
 * is called, and compute_unit() resumes from the checkpoint to the same
 * bits (compute.h). The device: with a GPU from BOINC (init_data.xml's
 * gpu_type and gpu_opencl_dev_index) that vendor's n-th OpenCL GPU;
 * without one (or when it is missing or unusable: a warning) the first
 * usable OpenCL CPU device, else the C reference.
 * "--device SPEC" on the command line overrides (compute_opts.device).
 *
 * The BOINC headers are C++ (app_ipc.h); the functions used here have C
 * linkage and are declared below from boinc_api.h / app_ipc.h 7.x.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client/compute.h"
#include "common/fileio.h"
#include "common/log.h"
#include "kernels/model.h"
#include "kernels/runtime.h"
#include "server-tools/boinc_xml.h"
#include "workunits/blob.h"
#include "workunits/envelope.h"
#include "workunits/key.h"
#include "workunits/result.h"
#include "workunits/unit.h"

/* ---- BOINC API (C linkage; boinc_api.h, app_ipc.h) ---- */
typedef struct BOINC_OPTIONS {
	int normal_thread_priority, main_program, check_heartbeat, handle_process_control;
	int send_status_msgs, direct_process_action, multi_thread, multi_process;
} BOINC_OPTIONS;
extern int boinc_init_options(BOINC_OPTIONS *);
extern int boinc_finish(int status);
extern int boinc_fraction_done(double);
extern int boinc_time_to_checkpoint(void);
extern int boinc_checkpoint_completed(void);
extern int boinc_is_standalone(void);
extern int boinc_resolve_filename(const char *, char *, int len);
/* ---- */

#define APP_PATH_MAX      1024
#define APP_CKPT_DIR      "agora_ckpt"
#define APP_TASK_NAME     "agora_task"
#define APP_TASK_KEY      APP_TASK_NAME ".key"
#define APP_INIT_DATA     "init_data.xml"
#define APP_INIT_DATA_MAX (256u * 1024)
#define APP_KEY_FILE_MAX  4096
#define APP_SHARD_MAX     COMPUTE_DATA_MAX

static volatile sig_atomic_t app_stop;
static int app_ckpt_wanted;

struct app_gpu {
	char type[64]; /* "NVIDIA", "ATI", "intel_gpu", ... or "" */
	int index;     /* gpu_opencl_dev_index, -1 when none */
};

/* Resolves a logical name; one line on stderr on failure. */
static int resolve(const char *logical, char out[APP_PATH_MAX], struct error *err)
{
	if (boinc_resolve_filename(logical, out, APP_PATH_MAX) != 0)
		return error_set(err, ERROR_NOT_FOUND, "cannot resolve BOINC file '%s'", logical);
	return 0;
}

static int read_input(const char *logical, size_t cap, unsigned char **buf, size_t *len,
		      struct error *err)
{
	char path[APP_PATH_MAX];
	int ret;

	if ((ret = resolve(logical, path, err)) < 0)
		return ret;
	return fileio_read_all(path, cap, buf, len, err);
}

/* Reads init_data.xml (absent when standalone) for the GPU BOINC gave. */
static void read_gpu(struct app_gpu *g)
{
	struct boinc_xml *x = NULL;
	unsigned char *buf = NULL;
	struct error err;
	int64_t v;
	size_t len;

	g->type[0] = '\0';
	g->index = -1;
	error_clear(&err);
	if (fileio_read_all(APP_INIT_DATA, APP_INIT_DATA_MAX, &buf, &len, &err) < 0)
		return;
	if (boinc_xml_parse(&x, buf, len, NULL, &err) < 0) {
		log_warn("cannot parse '%s': %s", APP_INIT_DATA, err.msg);
		free(buf);
		return;
	}
	if (boinc_xml_child_str(boinc_xml_root(x), "gpu_type", g->type, sizeof(g->type), NULL) < 0)
		g->type[0] = '\0';
	if (boinc_xml_child_i64(boinc_xml_root(x), "gpu_opencl_dev_index", -1, 1024, &v, NULL) == 0)
		g->index = (int)v;
	boinc_xml_free(x);
	free(buf);
}

static int vendor_matches(const char *gpu_type, const struct runtime_device_info *d)
{
	if (strcasecmp(gpu_type, "NVIDIA") == 0)
		return d->vendor_id == 0x10de;
	if (strcasecmp(gpu_type, "ATI") == 0 || strcasecmp(gpu_type, "AMD") == 0)
		return d->vendor_id == 0x1002;
	if (strncasecmp(gpu_type, "intel", 5) == 0)
		return d->vendor_id == 0x8086;
	return 1;
}

/* The device spec for compute_opts (compute.h): an index into
 * runtime_devices(), or "ref". With a GPU from BOINC: the vendor's n-th
 * OpenCL GPU (n = gpu_opencl_dev_index, counted over that vendor's GPUs
 * as BOINC counts them, usable or not); if it is missing or unusable, the
 * first usable OpenCL CPU device, as without a GPU; else the C reference. */
static void pick_device(char *spec, size_t size)
{
	struct runtime_device *devs = NULL;
	struct app_gpu g;
	struct error err;
	size_t n = 0;
	int seen = 0, gpu = -1, cpu = -1;

	snprintf(spec, size, "ref");
	read_gpu(&g);
	error_clear(&err);
	if (runtime_devices(&devs, &n, &err) < 0) {
		log_warn("cannot list OpenCL devices (%s): computing on the C reference", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct runtime_device_info *d = &devs[i].info;

		if (g.type[0] && g.index >= 0 && gpu < 0 && d->type == RUNTIME_DEVICE_GPU &&
		    vendor_matches(g.type, d) && seen++ == g.index)
			gpu = d->usable ? (int)i : -2;
		if (cpu < 0 && d->usable && d->type == RUNTIME_DEVICE_CPU)
			cpu = (int)i;
	}
	if (gpu >= 0)
		snprintf(spec, size, "%d", gpu);
	else if (cpu >= 0)
		snprintf(spec, size, "%d", cpu);
	if (g.type[0] && g.index >= 0 && gpu < 0)
		log_warn("BOINC assigned %s GPU %d but %s: computing on %s", g.type, g.index,
			 gpu == -2 ? "that OpenCL device is not usable"
				   : "no OpenCL device of that vendor has that index",
			 cpu >= 0 ? devs[cpu].info.name : "the C reference");
	free(devs);
}

/* Decodes blob file `logical`, checking its hash is want. */
static int load_blob(const char *logical, const struct hash *want, uint64_t max_raw,
		     unsigned char **raw, size_t *raw_len, struct error *err)
{
	struct blob_caps caps = {max_raw, BLOB_DEFAULT_MAX_RATIO, want};
	unsigned char *buf = NULL;
	size_t len;
	int ret;

	if ((ret = read_input(logical, (size_t)max_raw + BLOB_HEADER_BYTES + (1u << 20), &buf, &len,
			      err)) < 0)
		return ret;
	ret = blob_decode_mem(buf, len, &caps, raw, raw_len, NULL, err);
	free(buf);
	if (ret < 0) {
		struct error e2 = *err;

		return error_set(err, ret, "input '%s': %s", logical, e2.msg);
	}
	return 0;
}

/* Opens and checks the unit with the coordinator key from agora_key. */
static int open_unit(struct unit *u, struct hash *id, struct error *err)
{
	char path[APP_PATH_MAX];
	struct key_public pk;
	unsigned char *env = NULL;
	size_t len;
	int ret;

	if ((ret = resolve("agora_key", path, err)) < 0 ||
	    (ret = key_load_public(&pk, path, err)) < 0)
		return ret;
	if ((ret = read_input("agora_unit", ENVELOPE_MAX, &env, &len, err)) < 0)
		return ret;
	ret = unit_open(u, id, env, len, &pk, err);
	free(env);
	if (ret < 0) {
		struct error e2 = *err;

		return error_set(err, ret, "work unit refused: %s", e2.msg);
	}
	return compute_check_unit(u, err);
}

/* θ_r and the concatenated data ranges, every blob's hash checked. */
static int load_inputs(const struct unit *u, unsigned char **theta, size_t *theta_len,
		       unsigned char **data, size_t *data_len, struct error *err)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	size_t want = model_param_count(cfg) * sizeof(float), total = 0, at = 0;
	int ret;

	if ((ret = load_blob("agora_model", &u->model, want, theta, theta_len, err)) < 0)
		return ret;
	if (*theta_len != want)
		return error_set(err, ERROR_FORMAT, "model blob has %zu bytes, '%s' needs %zu",
				 *theta_len, u->preset, want);
	for (size_t i = 0; i < u->n_data; i++)
		total += (size_t)u->data[i].length; /* capped by compute_check_unit */
	*data = malloc(total ? total : 1);
	if (!*data)
		return error_set(err, ERROR_NOMEM, "out of memory for the unit's data");
	for (size_t i = 0; i < u->n_data; i++) {
		const struct unit_data *d = &u->data[i];
		unsigned char *shard = NULL;
		size_t shard_len;
		char name[32];

		snprintf(name, sizeof(name), "agora_shard_%zu", i);
		if ((ret = load_blob(name, &d->shard, APP_SHARD_MAX, &shard, &shard_len, err)) < 0)
			return ret;
		if (d->offset > shard_len || d->length > shard_len - d->offset) {
			free(shard);
			return error_set(err, ERROR_RANGE, "data range %zu is outside its shard",
					 i);
		}
		memcpy(*data + at, shard + d->offset, (size_t)d->length);
		at += (size_t)d->length;
		free(shard);
	}
	*data_len = total;
	return 0;
}

/* The task's result key: made once, kept in the slot (0600). */
static int task_key(struct key_secret *sk, struct error *err)
{
	struct key_public pk;
	int ret;

	if (key_load_secret(sk, APP_TASK_KEY, err) == 0)
		return 0;
	if ((ret = key_generate(&pk, sk)) < 0)
		return error_set(err, ret, "cannot make a key");
	return key_write_pair(".", APP_TASK_NAME, &pk, sk, err);
}

static int write_output(const char *logical, const void *buf, size_t len, struct error *err)
{
	char path[APP_PATH_MAX];
	int ret;

	if ((ret = resolve(logical, path, err)) < 0)
		return ret;
	return fileio_write_atomic(path, buf, len, 0644, 0, err);
}

static int save_result(const struct hash *id, const struct compute_output *c, struct error *err)
{
	struct key_secret sk;
	unsigned char *env = NULL;
	size_t env_len;
	int ret;

	if ((ret = task_key(&sk, err)) < 0)
		return ret;
	ret = compute_seal_result(id, c, &sk, &env, &env_len, err);
	sodium_memzero(&sk, sizeof(sk));
	if (ret < 0)
		return ret;
	ret = write_output("agora_result_blob", c->blob, c->blob_len, err);
	if (ret == 0)
		ret = write_output("agora_result_env", env, env_len, err);
	free(env);
	return ret;
}

static void on_progress(void *ctx, const struct compute_progress *p)
{
	(void)ctx;
	boinc_fraction_done(p->steps ? (double)p->step / (double)p->steps : 0);
	if (p->step < p->steps && boinc_time_to_checkpoint()) {
		app_ckpt_wanted = 1;
		app_stop = 1;
	}
}

/* Runs the unit, checkpointing whenever BOINC asks (see the top). */
static int run(const struct unit *u, const unsigned char *theta, size_t theta_len,
	       const unsigned char *data, size_t data_len, const char *device,
	       struct compute_output *c, struct error *err)
{
	struct compute_opts co = {device, APP_CKPT_DIR, 1e9, &app_stop, on_progress, NULL};
	int ret;

	if (mkdir(APP_CKPT_DIR, 0700) < 0 && errno != EEXIST)
		return error_set(err, ERROR_IO, "cannot create '%s': %s", APP_CKPT_DIR,
				 strerror(errno));
	for (;;) {
		app_stop = 0;
		app_ckpt_wanted = 0;
		ret = compute_unit(u, theta, theta_len, data, data_len, &co, c, err);
		if (ret == ERROR_STATE && app_ckpt_wanted) {
			boinc_checkpoint_completed();
			log_info("checkpoint at step %llu",
				 (unsigned long long)compute_ckpt_step(APP_CKPT_DIR));
			continue;
		}
		return ret;
	}
}

int main(int argc, char **argv)
{
	BOINC_OPTIONS opt;
	struct compute_output c;
	struct unit u;
	struct hash id;
	struct error err;
	char device[32], hex[HASH_HEX_LEN + 1];
	unsigned char *theta = NULL, *data = NULL;
	size_t theta_len = 0, data_len = 0;
	int ret;

	memset(&opt, 0, sizeof(opt));
	opt.main_program = 1;
	opt.check_heartbeat = 1;
	opt.handle_process_control = 1;
	opt.send_status_msgs = 1;
	opt.direct_process_action = 1;
	opt.multi_thread = 1; /* OpenCL drivers (PoCL) run threads of their own */
	if (boinc_init_options(&opt) != 0) {
		fprintf(stderr, "agora-boinc: boinc_init failed\n");
		return 1;
	}
	log_init("agora-boinc", LOG_LEVEL_INFO);
	error_clear(&err);
	if (sodium_init() < 0) {
		log_error("cannot initialise libsodium");
		boinc_finish(1);
	}
	if (argc == 3 && strcmp(argv[1], "--device") == 0)
		snprintf(device, sizeof(device), "%s", argv[2]);
	else
		pick_device(device, sizeof(device));
	if ((ret = open_unit(&u, &id, &err)) < 0 ||
	    (ret = load_inputs(&u, &theta, &theta_len, &data, &data_len, &err)) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	hash_to_hex(&id, hex);
	log_info("unit %.16s (job '%s' round %llu unit %llu): %u steps on device '%s'%s", hex,
		 u.job, (unsigned long long)u.round, (unsigned long long)u.index, (unsigned)u.steps,
		 device, boinc_is_standalone() ? " (standalone)" : "");
	ret = run(&u, theta, theta_len, data, data_len, device, &c, &err);
	if (ret == 0) {
		log_info("unit %.16s computed on '%s' in %.2fs (from step %llu, loss %.4f -> %.4f)",
			 hex, c.device, c.seconds, (unsigned long long)c.resumed_from, c.loss_first,
			 c.loss_last);
		ret = save_result(&id, &c, &err);
		free(c.blob);
	}
	if (ret < 0)
		log_error("unit %.16s failed: %s", hex, err.msg);
out:
	free(theta);
	free(data);
	if (ret == 0)
		boinc_fraction_done(1.0);
	boinc_finish(ret == 0 ? 0 : 1);
	return ret == 0 ? 0 : 1; /* not reached */
}
