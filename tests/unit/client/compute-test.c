/*
 * compute-test.c - a unit computed in one go and the same unit stopped
 * after a checkpoint and resumed give the same Δ, bit for bit (the blob
 * hash), on the C reference and, when there is a usable OpenCL device, on
 * the engine too (which must also equal the reference). Units the client
 * cannot compute are refused before anything runs.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/compute.h"
#include "kernels/model.h"
#include "kernels/runtime.h"
#include "tests/tap.h"

#define STEPS    12
#define STOP_AT  5
#define DATA_LEN 4096

static volatile sig_atomic_t stop;

static void stop_at(void *ctx, const struct compute_progress *p)
{
	(void)ctx;
	if (p->step == STOP_AT)
		stop = 1;
}

static void make_unit(struct unit *u)
{
	unit_init(u);
	snprintf(u->job, sizeof(u->job), "t");
	snprintf(u->preset, sizeof(u->preset), "gpt-test");
	u->n_data = 1;
	u->data[0].length = DATA_LEN;
	u->hyper.lr = 1e-3;
	u->hyper.beta1 = 0.9;
	u->hyper.beta2 = 0.95;
	u->hyper.eps = 1e-8;
	u->hyper.weight_decay = 0.1;
	u->hyper.clip = 1.0;
	u->hyper.batch = 2;
	u->hyper.context = 8;
	u->steps = STEPS;
	u->kernel_abi = 1;
	u->deadline = 1;
}

/* Full run, then stop + resume; returns the full run's output hash. */
static void check_resume(const char *device, const char *label, const struct unit *u,
			 const float *theta, size_t n, const unsigned char *data, const char *dir,
			 struct hash *full_out)
{
	struct compute_opts o = {.device = device, .ckpt_interval = 1e9};
	struct compute_output a, b;
	struct error err;
	int ret;

	error_clear(&err);
	ret = compute_unit(u, (const unsigned char *)theta, n * sizeof(float), data, DATA_LEN, &o,
			   &a, &err);
	if (!TAP_OK(ret == 0, "%s: a unit computes", label)) {
		tap_diag("  %s", err.msg);
		return;
	}
	*full_out = a.output;
	TAP_IS(a.output_size, n * sizeof(float), "Δ has the parameter count of floats");
	o.dir = dir;
	o.stop = &stop;
	o.progress = stop_at;
	stop = 0;
	ret = compute_unit(u, (const unsigned char *)theta, n * sizeof(float), data, DATA_LEN, &o,
			   &b, &err);
	TAP_IS(ret, ERROR_STATE, "a stop request ends the run");
	TAP_IS(compute_ckpt_step(dir), STOP_AT, "with a checkpoint at the stopped step");
	stop = 0;
	o.progress = NULL;
	ret = compute_unit(u, (const unsigned char *)theta, n * sizeof(float), data, DATA_LEN, &o,
			   &b, &err);
	TAP_OK(ret == 0 && b.resumed_from == STOP_AT, "%s: the run resumes at step %d", label,
	       STOP_AT);
	TAP_OK(ret == 0 && hash_equal(&a.output, &b.output), "%s: resumed Δ is bitwise the same",
	       label);
	TAP_OK(ret == 0 && a.loss_first == b.loss_first && a.loss_last == b.loss_last,
	       "%s: same first and last loss", label);
	free(a.blob);
	if (ret == 0)
		free(b.blob);
	{
		char p[600];
		snprintf(p, sizeof(p), "%s/ckpt", dir);
		remove(p);
		snprintf(p, sizeof(p), "%s/ckpt.meta", dir);
		remove(p);
	}
}

int main(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	size_t n = model_param_count(cfg);
	float *theta = malloc(n * sizeof(float));
	unsigned char data[DATA_LEN];
	struct runtime_device *devs = NULL;
	struct compute_output out;
	struct compute_opts o = {.device = "ref"};
	struct hash ref_hash, cl_hash;
	struct error err;
	struct unit u;
	char dir[256], cmd[300];
	size_t ndev = 0;
	int usable = 0;

	if (!theta || tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("no memory or scratch directory");
	model_init_params(cfg, 3, theta);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(' ' + model_rng_u64(5, i) % 95);
	make_unit(&u);

	check_resume("ref", "reference", &u, theta, n, data, dir, &ref_hash);

	u.hyper.context = 16;
	TAP_IS(compute_check_unit(&u, &err), ERROR_RANGE,
	       "a context other than the preset's T is refused");
	u.hyper.context = 8;
	snprintf(u.preset, sizeof(u.preset), "gpt-unknown");
	TAP_IS(compute_check_unit(&u, &err), ERROR_RANGE, "an unknown preset is refused");
	snprintf(u.preset, sizeof(u.preset), "mlp-tiny");
	TAP_IS(compute_check_unit(&u, &err), ERROR_RANGE, "a non-GPT preset is refused");
	snprintf(u.preset, sizeof(u.preset), "gpt-tiny");
	u.hyper.context = 128;
	u.hyper.batch = 4096;
	TAP_IS(compute_check_unit(&u, &err), ERROR_TOO_BIG,
	       "a batch needing too much activation memory is refused");
	u.hyper.context = 8;
	u.hyper.batch = 2;
	snprintf(u.preset, sizeof(u.preset), "gpt-test");
	u.kernel_abi = 2;
	TAP_IS(compute_check_unit(&u, &err), ERROR_VERSION, "another kernel ABI is refused");
	u.kernel_abi = 1;
	TAP_IS(compute_unit(&u, (const unsigned char *)theta, n * sizeof(float) - 4, data, DATA_LEN,
			    &o, &out, &err),
	       ERROR_FORMAT, "a model blob of the wrong size is refused");

	if (runtime_devices(&devs, &ndev, &err) == 0)
		for (size_t i = 0; i < ndev; i++)
			usable |= devs[i].info.usable;
	free(devs);
	if (usable) {
		check_resume(NULL, "opencl", &u, theta, n, data, dir, &cl_hash);
		TAP_OK(hash_equal(&ref_hash, &cl_hash), "opencl Δ equals the reference's bitwise");
	} else {
		tap_skip("no usable OpenCL device: engine resume not tested");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	free(theta);
	return tap_done();
}
