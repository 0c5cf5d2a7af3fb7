/*
 * cl-engine-test.c - whole training steps on the OpenCL engine against
 * the C reference, compared with memcmp: parameters, AdamW m and v, and
 * every step's loss.
 *
 * Covers every kernel of kernels/cl/train.cl and the GEMMs in all their
 * uses: a small GPT with ragged sizes (C 48, 3 heads, T 7, B 3) under
 * every local size the runtime may choose (driver's, 1, 4, 16, 64), a GPT
 * with head size 12 (per-element attention kernels), the gpt-test preset
 * with both GEMM variants and both attention paths, gpt-tiny for a few
 * steps, and mlp-tiny. Also checkpoint/resume (save after 2 steps, load into a new
 * engine, continue: same bits as straight through) and the delta.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/engine.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "kernels/ref/mlp.h"
#include "tests/unit/kernels/cl-util.h"

static const struct ref_adamw opt = {1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};

static unsigned char *make_data(size_t len, uint64_t seed)
{
	unsigned char *d = malloc(len);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 7;

	for (size_t i = 0; i < len; i++)
		d[i] = (unsigned char)(cl_test_rand(&s) % 96 + 32); /* text-like bytes */
	return d;
}

static int same(const void *a, const void *b, size_t n, const char *what)
{
	const float *x = a, *y = b;

	if (memcmp(a, b, n * sizeof(float)) == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (memcmp(&x[i], &y[i], 4) != 0) {
			tap_diag("  %s differs first at %zu: %a vs ref %a", what, i, x[i], y[i]);
			break;
		}
	return 0;
}

/* H steps of cfg at batch B on the engine and the reference. */
static int gpt_case(struct runtime *rt, const struct model_config *cfg, int B, int H,
		    const struct engine_opts *eo)
{
	struct ref_gpt ref;
	struct engine *e;
	struct error err;
	size_t len = (size_t)cfg->n_ctx * 40 + 1, n;
	unsigned char *data = make_data(len, 11);
	float *p, *m, *v, rl[8], el[8];
	int ok = 0;

	error_clear(&err);
	if (ref_gpt_init(&ref, cfg, B, &err) != 0) {
		tap_diag("%s", err.msg);
		free(data);
		return 0;
	}
	n = ref.n_params;
	model_init_params(cfg, 42, ref.params);
	p = malloc(n * 4), m = malloc(n * 4), v = malloc(n * 4);
	e = engine_new(rt, cfg, B, eo, &err);
	if (!e || engine_load(e, ref.params, NULL, NULL, 0, &err) != 0 ||
	    engine_run_gpt(e, data, len, H, &opt, el, &err) != 0 ||
	    engine_save(e, p, m, v, NULL, &err) != 0) {
		tap_diag("engine: %s", err.msg);
		goto out;
	}
	if (ref_gpt_run(&ref, data, len, 0, H, &opt, rl) != 0)
		goto out;
	ok = same(el, rl, (size_t)H, "loss") & same(p, ref.params, n, "params") &
	     same(m, ref.m, n, "m") & same(v, ref.v, n, "v");
	tap_diag("  losses: first %.6f last %.6f", (double)rl[0], (double)rl[H - 1]);
out:
	engine_free(e);
	ref_gpt_release(&ref);
	free(p);
	free(m);
	free(v);
	free(data);
	return ok;
}

static int mlp_case(struct runtime *rt, const struct model_config *cfg, int B, int H)
{
	struct ref_mlp ref;
	struct engine *e = NULL;
	struct error err;
	size_t n, ex = (size_t)cfg->n_in + 1;
	unsigned char *data = make_data(ex * (size_t)B * (size_t)H, 5);
	float *p = NULL, *m = NULL, *v = NULL, rl, el;
	int ok = 1;

	error_clear(&err);
	if (ref_mlp_init(&ref, cfg, B, &err) != 0) {
		free(data);
		return 0;
	}
	n = ref.n_params;
	model_init_params(cfg, 3, ref.params);
	p = malloc(n * 4), m = malloc(n * 4), v = malloc(n * 4);
	e = engine_new(rt, cfg, B, NULL, &err);
	if (!e || engine_load(e, ref.params, NULL, NULL, 0, &err) != 0) {
		tap_diag("engine: %s", err.msg);
		ok = 0;
		goto out;
	}
	for (int s = 0; s < H && ok; s++) {
		ref_mlp_load_batch(&ref, data + ex * (size_t)B * (size_t)s);
		if (engine_step_mlp(e, ref.x, ref.labels, &opt, &el, &err) != 0) {
			tap_diag("engine: %s", err.msg);
			ok = 0;
			break;
		}
		rl = ref_mlp_train_step(&ref, &opt);
		ok &= same(&el, &rl, 1, "loss");
	}
	if (ok && engine_save(e, p, m, v, NULL, &err) == 0)
		ok = same(p, ref.params, n, "params") & same(m, ref.m, n, "m") &
		     same(v, ref.v, n, "v");
out:
	engine_free(e);
	ref_mlp_release(&ref);
	free(p);
	free(m);
	free(v);
	free(data);
	return ok;
}

/* 2 steps, checkpoint, a new engine resumes for 2 more: same bits as 4
 * straight steps; then the delta against the start. */
static void resume_case(struct runtime *rt, const struct model_config *cfg, int B)
{
	struct error err;
	size_t len = (size_t)cfg->n_ctx * 30 + 1, n = model_param_count(cfg);
	unsigned char *data = make_data(len, 9);
	float *p0 = malloc(n * 4), *p = malloc(n * 4), *m = malloc(n * 4), *v = malloc(n * 4);
	float *q = malloc(n * 4), *d = malloc(n * 4), *want = malloc(n * 4);
	struct engine *a = engine_new(rt, cfg, B, NULL, &err), *b = engine_new(rt, cfg, B, NULL, &err);
	uint64_t step = 0;
	int ok;

	model_init_params(cfg, 7, p0);
	ok = a && b && engine_load(a, p0, NULL, NULL, 0, &err) == 0 &&
	     engine_run_gpt(a, data, len, 4, &opt, NULL, &err) == 0 &&
	     engine_save(a, q, NULL, NULL, NULL, &err) == 0;
	ok = ok && engine_load(a, p0, NULL, NULL, 0, &err) == 0 &&
	     engine_run_gpt(a, data, len, 2, &opt, NULL, &err) == 0 &&
	     engine_save(a, p, m, v, &step, &err) == 0 && step == 2 &&
	     engine_load(b, p, m, v, step, &err) == 0 &&
	     engine_run_gpt(b, data, len, 2, &opt, NULL, &err) == 0 &&
	     engine_save(b, p, NULL, NULL, &step, &err) == 0 && step == 4;
	if (!ok)
		tap_diag("%s", err.msg);
	tap_ok(ok && same(p, q, n, "resumed params"), "resume from a checkpoint: same bits");
	for (size_t i = 0; i < n; i++)
		want[i] = p0[i] - p[i];
	ok = engine_delta(b, p0, d, &err) == 0;
	tap_ok(ok && same(d, want, n, "delta"), "delta = start - end on the device");
	engine_free(a);
	engine_free(b);
	free(p0);
	free(p);
	free(m);
	free(v);
	free(q);
	free(d);
	free(want);
	free(data);
}

int main(void)
{
	static const size_t locals[] = {0, 1, 4, 16, 64};
	struct model_config ragged = {.kind = MODEL_GPT, .name = "ragged", .n_layer = 1,
				      .n_embd = 48, .n_head = 3, .n_ctx = 7, .vocab = MODEL_VOCAB};
	struct model_config odd = ragged;
	struct runtime *rt = cl_test_open();
	struct engine_opts eo = {.gemm = GEMM_VARIANT_AUTO};

	for (size_t l = 0; l < sizeof(locals) / sizeof(locals[0]); l++) {
		eo.local = locals[l];
		tap_ok(gpt_case(rt, &ragged, 3, 2, &eo),
		       "ragged gpt (C48 NH3 T7 B3), local size %zu: 2 steps bitwise", locals[l]);
	}
	eo.local = 0;
	odd.n_embd = 36; /* head size 12: the per-element attention kernels */
	odd.n_ctx = 5;
	tap_ok(gpt_case(rt, &odd, 2, 2, &eo), "gpt with head size 12 (C36 NH3 T5 B2): 2 steps bitwise");
	eo.gemm = GEMM_VARIANT_RB;
	eo.per_element = 1;
	tap_ok(gpt_case(rt, model_preset_find("gpt-test"), 4, 3, &eo),
	       "gpt-test B4, register-blocked gemm, per-element kernels: 3 steps bitwise");
	eo.gemm = GEMM_VARIANT_TILED;
	eo.per_element = 0;
	tap_ok(gpt_case(rt, model_preset_find("gpt-test"), 4, 3, &eo),
	       "gpt-test B4, tiled gemm, vectorised kernels: 3 steps bitwise");
	tap_ok(gpt_case(rt, model_preset_find("gpt-tiny"), 2, 2, NULL),
	       "gpt-tiny B2: 2 steps bitwise");
	tap_ok(mlp_case(rt, model_preset_find("mlp-tiny"), 17, 4), "mlp-tiny B17: 4 steps bitwise");
	resume_case(rt, model_preset_find("gpt-test"), 2);
	runtime_free(rt);
	return tap_done();
}
