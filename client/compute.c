/*
 * compute.c - one work unit on the OpenCL engine or the C reference, with
 * checkpoints (see compute.h). Both back ends are driven one step at a
 * time through the small `backend` below so that progress, checkpoints and
 * stop requests work the same way on either.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/compute.h"
#include "common/fileio.h"
#include "common/log.h"
#include "kernels/engine.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "kernels/runtime.h"
#include "workunits/blob.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "agora-client reads and writes float32 little-endian buffers in place"
#endif

#define COMPUTE_META_MAX 256

struct backend {
	int ref;
	struct ref_gpt g;
	struct runtime *rt;
	struct engine *e;
	size_t n;
	char name[RESULT_DEVICE_MAX + 1];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_name(struct backend *b, const char *name)
{
	size_t i = 0;

	for (; name[i] && i < RESULT_DEVICE_MAX; i++)
		b->name[i] = name[i] >= 32 && name[i] < 127 ? name[i] : '?';
	while (i > 0 && b->name[i - 1] == ' ')
		i--;
	b->name[i] = '\0';
	if (i == 0)
		snprintf(b->name, sizeof(b->name), "opencl device");
}

static int backend_open_cl(struct backend *b, const char *spec, const struct model_config *cfg,
			   int B, struct error *err)
{
	struct runtime_device *devs = NULL;
	size_t n = 0;
	int i, ret;

	if ((ret = runtime_devices(&devs, &n, err)) < 0)
		return ret;
	i = runtime_select(devs, n, spec, err);
	if (i < 0 && (!spec || !*spec)) {
		free(devs);
		log_warn("no usable OpenCL device, computing on the C reference (slow)");
		return 1; /* use the reference */
	}
	if (i < 0) {
		free(devs);
		return err ? err->code : ERROR_NOT_FOUND;
	}
	set_name(b, devs[i].info.name);
	b->rt = runtime_new(&devs[i], err);
	free(devs);
	if (!b->rt)
		return err ? err->code : ERROR_DEVICE;
	b->e = engine_new(b->rt, cfg, B, NULL, err);
	if (!b->e)
		return err ? err->code : ERROR_DEVICE;
	return 0;
}

static int backend_open(struct backend *b, const char *device, const struct model_config *cfg,
			int B, struct error *err)
{
	int ret = 1;

	memset(b, 0, sizeof(*b));
	b->n = model_param_count(cfg);
	if (!device || strcmp(device, "ref") != 0)
		ret = backend_open_cl(b, device, cfg, B, err);
	if (ret <= 0)
		return ret;
	b->ref = 1;
	snprintf(b->name, sizeof(b->name), "c reference");
	return ref_gpt_init(&b->g, cfg, B, err);
}

static void backend_close(struct backend *b)
{
	if (b->ref)
		ref_gpt_release(&b->g);
	engine_free(b->e);
	runtime_free(b->rt);
	memset(b, 0, sizeof(*b));
}

static int backend_load(struct backend *b, const float *p, const float *m, const float *v,
			uint64_t step, struct error *err)
{
	if (!b->ref)
		return engine_load(b->e, p, m, v, step, err);
	memcpy(b->g.params, p, b->n * sizeof(float));
	if (m)
		memcpy(b->g.m, m, b->n * sizeof(float));
	else
		memset(b->g.m, 0, b->n * sizeof(float));
	if (v)
		memcpy(b->g.v, v, b->n * sizeof(float));
	else
		memset(b->g.v, 0, b->n * sizeof(float));
	b->g.step = step;
	return 0;
}

static int backend_save(struct backend *b, float *p, float *m, float *v, uint64_t *step,
			struct error *err)
{
	if (!b->ref)
		return engine_save(b->e, p, m, v, step, err);
	memcpy(p, b->g.params, b->n * sizeof(float));
	memcpy(m, b->g.m, b->n * sizeof(float));
	memcpy(v, b->g.v, b->n * sizeof(float));
	*step = b->g.step;
	return 0;
}

static int backend_step(struct backend *b, const unsigned char *data, size_t len,
			const struct ref_adamw *opt, float *loss, struct error *err)
{
	if (!b->ref)
		return engine_run_gpt(b->e, data, len, 1, opt, loss, err);
	if (ref_gpt_run(&b->g, data, len, b->g.step, 1, opt, loss) < 0)
		return error_set(err, ERROR_INVALID, "reference step failed");
	return 0;
}

static int backend_delta(struct backend *b, const float *start, float *out, struct error *err)
{
	if (!b->ref)
		return engine_delta(b->e, start, out, err);
	ref_delta(out, start, b->g.params, b->n);
	return 0;
}

int compute_check_unit(const struct unit *u, struct error *err)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	uint64_t total = 0;

	if (u->kernel_abi != COMPUTE_KERNEL_ABI)
		return error_set(err, ERROR_VERSION, "kernel abi %u, this client implements %d",
				 (unsigned)u->kernel_abi, COMPUTE_KERNEL_ABI);
	if (!cfg || cfg->kind != MODEL_GPT)
		return error_set(err, ERROR_RANGE, "unknown preset '%s'", u->preset);
	if (u->hyper.context != (uint32_t)cfg->n_ctx)
		return error_set(err, ERROR_RANGE, "context %u, preset '%s' trains on %d",
				 (unsigned)u->hyper.context, u->preset, cfg->n_ctx);
	if (u->hyper.batch > MODEL_MAX_BATCH ||
	    model_batch_check(cfg, (int)u->hyper.batch, err) < 0)
		return error_set(err, ERROR_RANGE, "batch %u is out of range",
				 (unsigned)u->hyper.batch);
	if ((uint64_t)model_act_floats(cfg, (int)u->hyper.batch) * sizeof(float) > COMPUTE_ACT_MAX)
		return error_set(err, ERROR_TOO_BIG,
				 "batch %u needs over %llu bytes of activations",
				 (unsigned)u->hyper.batch, (unsigned long long)COMPUTE_ACT_MAX);
	for (size_t i = 0; i < u->n_data; i++) {
		if (u->data[i].length > COMPUTE_DATA_MAX - total)
			return error_set(err, ERROR_TOO_BIG, "data over %llu bytes",
					 (unsigned long long)COMPUTE_DATA_MAX);
		total += u->data[i].length;
	}
	if (total < (uint64_t)cfg->n_ctx + 1)
		return error_set(err, ERROR_RANGE, "data of %llu bytes, need at least %d",
				 (unsigned long long)total, cfg->n_ctx + 1);
	return 0;
}

/* ---- checkpoints ---- */

struct meta {
	uint64_t step;
	double loss_first, loss_last, seconds;
};

static void path_in(char *out, const char *dir, const char *name)
{
	snprintf(out, FILEIO_PATH_MAX, "%s/%s", dir, name);
}

static int meta_read(const char *dir, struct meta *m)
{
	char path[FILEIO_PATH_MAX], *p, *end;
	unsigned char *buf = NULL;
	size_t len;
	int ret = -1;

	path_in(path, dir, "ckpt.meta");
	if (fileio_read_all(path, COMPUTE_META_MAX, &buf, &len, NULL) < 0)
		return -1;
	p = (char *)buf;
	errno = 0;
	m->step = strtoull(p, &end, 10);
	if (end == p)
		goto out;
	m->loss_first = (float)strtod(p = end, &end); /* losses are floats */
	if (end == p)
		goto out;
	m->loss_last = (float)strtod(p = end, &end);
	if (end == p)
		goto out;
	m->seconds = strtod(p = end, &end);
	ret = end == p || errno ? -1 : 0;
out:
	free(buf);
	return ret;
}

uint64_t compute_ckpt_step(const char *dir)
{
	char path[FILEIO_PATH_MAX];
	unsigned char head[MODEL_CKPT_HEADER];
	uint64_t step = 0;
	FILE *f;

	path_in(path, dir, "ckpt");
	f = fopen(path, "rb");
	if (!f)
		return 0;
	if (fread(head, 1, sizeof(head), f) == sizeof(head))
		for (int i = 7; i >= 0; i--)
			step = (step << 8) | head[16 + i];
	fclose(f);
	return step;
}

/* Saves params, m, v, step and meta into dir (meta first: its first loss
 * never changes once known). */
static int ckpt_save(struct backend *b, const char *dir, const struct meta *m, float *bufs,
		     unsigned char *ck, size_t ck_size, struct error *err)
{
	char path[FILEIO_PATH_MAX], text[COMPUTE_META_MAX];
	uint64_t step;
	long long len;
	int ret;

	if ((ret = backend_save(b, bufs, bufs + b->n, bufs + 2 * b->n, &step, err)) < 0)
		return ret;
	len = model_ckpt_write(ck, ck_size, bufs, bufs + b->n, bufs + 2 * b->n, b->n, step);
	if (len < 0)
		return error_set(err, (int)len, "cannot encode a checkpoint");
	snprintf(text, sizeof(text), "%llu %.9g %.9g %.6f\n", (unsigned long long)step,
		 m->loss_first, m->loss_last, m->seconds);
	path_in(path, dir, "ckpt.meta");
	if ((ret = fileio_write_atomic(path, text, strlen(text), 0600, 0, err)) < 0)
		return ret;
	path_in(path, dir, "ckpt");
	return fileio_write_atomic(path, ck, (size_t)len, 0600, 0, err);
}

/* Loads the checkpoint of dir when there is one; *step 0 when not. */
static int ckpt_load(struct backend *b, const char *dir, struct meta *m, float *bufs,
		     size_t ck_size, uint64_t *step, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	unsigned char *ck = NULL;
	size_t len;
	int ret;

	*step = 0;
	path_in(path, dir, "ckpt");
	ret = fileio_read_all(path, ck_size, &ck, &len, err);
	if (ret == ERROR_NOT_FOUND)
		return 0;
	if (ret == 0)
		ret = model_ckpt_read(ck, len, b->n, bufs, bufs + b->n, bufs + 2 * b->n, step, err);
	free(ck);
	if (ret < 0)
		return ret;
	if (meta_read(dir, m) < 0 || m->step < *step)
		m->loss_first = m->loss_last = m->seconds = 0, m->step = 0;
	return backend_load(b, bufs, bufs + b->n, bufs + 2 * b->n, *step, err);
}

/* Encodes the Δ of the finished run into out. */
static int finish(struct backend *b, const float *theta, float *delta, struct compute_output *out,
		  struct error *err)
{
	struct blob_header hdr;
	int ret;

	if ((ret = backend_delta(b, theta, delta, err)) < 0)
		return ret;
	ret = blob_encode_mem(delta, b->n * sizeof(float), BLOB_CODEC_ZLIB, &out->blob,
			      &out->blob_len, &hdr, err);
	if (ret < 0)
		return ret;
	out->output = hdr.hash;
	out->output_size = hdr.raw_size;
	return 0;
}

static int run_steps(struct backend *b, const struct unit *u, const unsigned char *data,
		     size_t data_len, const struct compute_opts *o, struct meta *m, float *bufs,
		     unsigned char *ck, size_t ck_size, uint64_t step, struct error *err)
{
	struct ref_adamw opt = {(float)u->hyper.lr,           (float)u->hyper.beta1,
				(float)u->hyper.beta2,        (float)u->hyper.eps,
				(float)u->hyper.weight_decay, (float)u->hyper.clip};
	double last_ck = now_s();
	int ret;

	for (; step < u->steps; step++) {
		double t0 = now_s();
		float loss;

		if ((ret = backend_step(b, data, data_len, &opt, &loss, err)) < 0)
			return ret;
		m->seconds += now_s() - t0;
		if (step == 0)
			m->loss_first = loss;
		m->loss_last = loss;
		m->step = step + 1;
		if (o->progress) {
			struct compute_progress p = {step + 1, u->steps, loss, m->seconds};
			o->progress(o->ctx, &p);
		}
		if (o->stop && *o->stop) {
			if (o->dir && (ret = ckpt_save(b, o->dir, m, bufs, ck, ck_size, err)) < 0)
				return ret;
			return error_set(err, ERROR_STATE, "stopped at step %llu of %u",
					 (unsigned long long)(step + 1), (unsigned)u->steps);
		}
		if (o->dir && step + 1 < u->steps && now_s() - last_ck >= o->ckpt_interval) {
			if ((ret = ckpt_save(b, o->dir, m, bufs, ck, ck_size, err)) < 0)
				return ret;
			last_ck = now_s();
		}
	}
	return 0;
}

int compute_unit(const struct unit *u, const unsigned char *theta, size_t theta_len,
		 const unsigned char *data, size_t data_len, const struct compute_opts *o,
		 struct compute_output *out, struct error *err)
{
	const struct model_config *cfg;
	struct backend b;
	struct meta m = {0, 0, 0, 0};
	float *bufs = NULL;
	unsigned char *ck = NULL;
	size_t ck_size = 0;
	uint64_t step = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = compute_check_unit(u, err)) < 0)
		return ret;
	cfg = model_preset_find(u->preset);
	if (theta_len != model_param_count(cfg) * sizeof(float))
		return error_set(err, ERROR_FORMAT,
				 "model blob has %zu bytes, preset '%s' needs %zu", theta_len,
				 u->preset, model_param_count(cfg) * sizeof(float));
	if ((ret = backend_open(&b, o->device, cfg, (int)u->hyper.batch, err)) < 0) {
		struct error e2;

		if (err)
			e2 = *err;
		else
			error_clear(&e2);
		backend_close(&b);
		return error_set(err, ERROR_DEVICE, "cannot open device '%s': %s",
				 o->device ? o->device : "auto", e2.msg);
	}
	bufs = malloc(3 * b.n * sizeof(float));
	ck_size = model_ckpt_size(b.n);
	ck = o->dir ? malloc(ck_size) : NULL;
	if (!bufs || (o->dir && !ck)) {
		ret = error_set(err, ERROR_NOMEM, "out of memory for a checkpoint");
		goto out;
	}
	if (o->dir && (ret = ckpt_load(&b, o->dir, &m, bufs, ck_size, &step, err)) < 0)
		goto out;
	if (step > u->steps) {
		ret = error_set(err, ERROR_RANGE, "checkpoint at step %llu is past H",
				(unsigned long long)step);
		goto out;
	}
	if (step == 0 && (ret = backend_load(&b, (const float *)theta, NULL, NULL, 0, err)) < 0)
		goto out;
	out->resumed_from = step;
	ret = run_steps(&b, u, data, data_len, o, &m, bufs, ck, ck_size, step, err);
	if (ret == 0)
		ret = finish(&b, (const float *)theta, bufs, out, err);
	if (ret == 0) {
		out->loss_first = m.loss_first;
		out->loss_last = m.loss_last;
		out->seconds = m.seconds;
		out->steps = u->steps;
		memcpy(out->device, b.name, sizeof(out->device));
	}
out:
	backend_close(&b);
	free(bufs);
	free(ck);
	return ret;
}

int compute_seal_result(const struct hash *unit_id, const struct compute_output *c,
			const struct key_secret *sk, unsigned char **env, size_t *env_len,
			struct error *err)
{
	struct result res;

	result_init(&res);
	res.unit_id = *unit_id;
	key_public_of(&res.host, sk);
	res.output = c->output;
	res.output_size = c->output_size;
	res.metrics.loss_first = c->loss_first;
	res.metrics.loss_last = c->loss_last;
	memcpy(res.compute.device, c->device, sizeof(res.compute.device));
	res.compute.seconds = c->seconds;
	res.compute.steps = c->steps;
	return result_seal(&res, sk, env, env_len, err);
}
