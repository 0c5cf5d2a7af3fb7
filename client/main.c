/*
 * main.c - agora-client, the volunteer's program: one binary, one
 * subcommand per verb, dispatched through the table `commands` below (add a
 * row and a function to add a verb).
 *
 *   agora-client devices            list OpenCL devices and whether each can
 *                                   honour the determinism contract
 *   agora-client selftest [--steps N] [--device SPEC]
 *                                   train gpt-tiny from a fixed seed on every
 *                                   usable device and on the C reference;
 *                                   print one BLAKE2b-256 of the final
 *                                   parameters each; exit 1 when any differ
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "client/prefs.h"
#include "common/log.h"
#include "kernels/engine.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "kernels/runtime.h"
#include "workunits/hash.h"

/* The selftest's fixed problem: never change it without noting that old
 * and new clients then print different hashes. */
#define SELFTEST_MODEL "gpt-tiny"
#define SELFTEST_SEED 20260101u
#define SELFTEST_BATCH 2
#define SELFTEST_STEPS 3
#define SELFTEST_DATA 4096

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

static const char *type_name(enum runtime_device_type t)
{
	switch (t) {
	case RUNTIME_DEVICE_CPU: return "CPU";
	case RUNTIME_DEVICE_GPU: return "GPU";
	case RUNTIME_DEVICE_ACCELERATOR: return "accelerator";
	default: return "other";
	}
}

static int list_devices(struct runtime_device **devs, size_t *n)
{
	struct error err;

	error_clear(&err);
	if (runtime_devices(devs, n, &err) != 0) {
		log_error("cannot list OpenCL devices: %s", err.msg);
		return -1;
	}
	return 0;
}

static int cmd_devices(int argc, char **argv)
{
	struct runtime_device *devs = NULL;
	struct error err;
	size_t n = 0;
	int def;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: agora-client devices\n");
		return 2;
	}
	if (list_devices(&devs, &n) != 0)
		return 1;
	if (n == 0) {
		printf("no OpenCL device found (is an OpenCL driver / ICD installed?)\n");
		free(devs);
		return 0;
	}
	def = runtime_select(devs, n, NULL, &err);
	for (size_t i = 0; i < n; i++) {
		const struct runtime_device_info *d = &devs[i].info;

		printf("[%zu] %s%s\n", i, d->name, (int)i == def ? "  (default)" : "");
		printf("    vendor %s (0x%04x), %s, platform '%s'\n", d->vendor, d->vendor_id,
		       type_name(d->type), d->platform);
		printf("    driver %s, %s\n", d->driver, d->version);
		printf("    %u compute units, %.1f GiB global memory", d->compute_units,
		       (double)d->global_mem / (1024.0 * 1024.0 * 1024.0));
		if (d->has_pci)
			printf(", pci %04x:%02x:%02x.%x", d->pci_domain, d->pci_bus, d->pci_device,
			       d->pci_function);
		printf("\n    fp32 denormals %s, hardware fma %s\n", d->denormals ? "yes" : "no",
		       d->fma ? "yes" : "no");
		if (d->usable)
			printf("    usable\n");
		else
			printf("    not usable: %s\n", d->reason);
	}
	free(devs);
	return 0;
}

static void selftest_data(unsigned char *buf, size_t len)
{
	/* text-like bytes from the model's own counter-based generator */
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(32 + model_rng_u64(SELFTEST_SEED, i) % 95);
}

static void hex_of(const float *p, size_t n, char hex[HASH_HEX_LEN + 1])
{
	struct hash h;

	hash_buf(&h, p, n * sizeof(float));
	hash_to_hex(&h, hex);
}

/* The C reference's hash; 0 or -1. */
static int selftest_ref(const struct model_config *cfg, const unsigned char *data, int steps,
			const struct ref_adamw *opt, char hex[HASH_HEX_LEN + 1])
{
	struct ref_gpt ref;
	struct error err;

	error_clear(&err);
	if (ref_gpt_init(&ref, cfg, SELFTEST_BATCH, &err) != 0) {
		log_error("cannot set up the reference: %s", err.msg);
		return -1;
	}
	model_init_params(cfg, SELFTEST_SEED, ref.params);
	if (ref_gpt_run(&ref, data, SELFTEST_DATA, 0, steps, opt, NULL) != 0) {
		ref_gpt_release(&ref);
		log_error("reference run failed");
		return -1;
	}
	hex_of(ref.params, ref.n_params, hex);
	ref_gpt_release(&ref);
	return 0;
}

/* One device's hash; 0 or -1 with the reason logged. */
static int selftest_device(const struct runtime_device *dev, const struct model_config *cfg,
			   const unsigned char *data, int steps, const struct ref_adamw *opt,
			   char hex[HASH_HEX_LEN + 1])
{
	struct runtime *rt;
	struct engine *e = NULL;
	struct error err;
	size_t n = model_param_count(cfg);
	float *p = malloc(n * sizeof(float));
	int ret = -1;

	error_clear(&err);
	rt = runtime_new(dev, &err);
	if (!rt || !p)
		goto out;
	e = engine_new(rt, cfg, SELFTEST_BATCH, NULL, &err);
	if (!e)
		goto out;
	model_init_params(cfg, SELFTEST_SEED, p);
	if (engine_load(e, p, NULL, NULL, 0, &err) != 0 ||
	    engine_run_gpt(e, data, SELFTEST_DATA, steps, opt, NULL, &err) != 0 ||
	    engine_save(e, p, NULL, NULL, NULL, &err) != 0)
		goto out;
	hex_of(p, n, hex);
	ret = 0;
out:
	if (ret)
		log_error("selftest on '%s' failed: %s", dev->info.name,
			  err.msg[0] ? err.msg : "out of memory");
	engine_free(e);
	runtime_free(rt);
	free(p);
	return ret;
}

static int cmd_selftest(int argc, char **argv)
{
	const struct model_config *cfg = model_preset_find(SELFTEST_MODEL);
	const struct ref_adamw opt = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
	struct runtime_device *devs = NULL;
	const char *spec = NULL;
	unsigned char data[SELFTEST_DATA];
	char want[HASH_HEX_LEN + 1], got[HASH_HEX_LEN + 1];
	struct error err;
	size_t n = 0;
	int steps = SELFTEST_STEPS, ran = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 1 || v > 1000) {
				log_error("bad --steps '%s': want 1..1000", argv[i]);
				return 2;
			}
			steps = (int)v;
		} else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
			spec = argv[++i];
		} else {
			fprintf(stderr, "usage: agora-client selftest [--steps N] [--device SPEC]\n");
			return 2;
		}
	}
	selftest_data(data, sizeof(data));
	printf("selftest: %s, seed %u, batch %d, %d steps\n", SELFTEST_MODEL, SELFTEST_SEED,
	       SELFTEST_BATCH, steps);
	if (selftest_ref(cfg, data, steps, &opt, want) != 0)
		return 1;
	printf("%s  reference (C)\n", want);
	fflush(stdout);
	if (list_devices(&devs, &n) != 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		error_clear(&err);
		if (spec && runtime_select(devs, n, spec, &err) != (int)i)
			continue;
		if (!devs[i].info.usable) {
			printf("%-64s  [%zu] %s: skipped, %s\n", "-", i, devs[i].info.name,
			       devs[i].info.reason);
			continue;
		}
		ran++;
		if (selftest_device(&devs[i], cfg, data, steps, &opt, got) != 0) {
			bad++;
			printf("%-64s  [%zu] %s: FAILED\n", "-", i, devs[i].info.name);
			continue;
		}
		printf("%s  [%zu] %s%s\n", got, i, devs[i].info.name,
		       strcmp(got, want) == 0 ? "" : "  MISMATCH");
		bad += strcmp(got, want) != 0;
		fflush(stdout);
	}
	free(devs);
	if (ran == 0) {
		printf("selftest: no usable OpenCL device\n");
		return 1;
	}
	printf("selftest: %s\n", bad ? "FAILED: results differ" : "ok, all hashes equal");
	return bad ? 1 : 0;
}

static const struct command commands[] = {
	{"devices", cmd_devices, "list OpenCL devices and whether each is usable"},
	{"selftest", cmd_selftest, "[--steps N] [--device SPEC]  check every device against the reference"},
	{"attach", cli_attach, "URL [--fingerprint FP] [--account NAME] [--share N]  join a project"},
	{"detach", cli_detach, "URL  leave a project"},
	{"run", cli_run, "[--device N|NAME|ref] [--once] [--max-units N] [--checkpoint-interval S]"},
	{"status", cli_status, "[--json]  projects, current unit, progress"},
	{"prefs", prefs_cli, "[--KEY VALUE]...  the preferences in force and where each comes from"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: agora-client COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].usage);
}

int main(int argc, char **argv)
{
	log_init("agora-client", LOG_LEVEL_INFO);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	log_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
