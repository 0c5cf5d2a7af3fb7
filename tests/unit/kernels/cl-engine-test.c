/*
 * cl-engine-test.c - whole training steps on the OpenCL engine against
 * the C reference, compared with memcmp: parameters, AdamW m and v, every
 * step's loss, and every activation and gradient of the last step (so a
 * failure names the first op whose output differs).
 *
 * Covers every kernel of kernels/cl/train.cl and the GEMMs in all their
 * uses: a small GPT with ragged sizes (C 48, 3 heads, T 7, B 3) and one
 * with T 20 (whole and partial 16-lane blocks of the vectorised attention)
 * under every local size the runtime may choose (driver's, 1, 4, 16, 64), a GPT
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

/* Names the activation tensor holding float offset off (GPT layout). */
static void act_name(const struct model_config *cfg, int B, size_t off, char *buf, size_t size)
{
	struct gpt_acts_layout a;
	const struct {
		const char *name;
		size_t off;
	} f[] = {{"ln1", 0},	  {"ln1_mean", 0}, {"ln1_rstd", 0}, {"qkv", 0},	   {"att", 0},
		 {"atty", 0},	  {"res2", 0},	   {"ln2", 0},	    {"ln2_mean", 0}, {"ln2_rstd", 0},
		 {"fch", 0},	  {"fchg", 0},	   {"res3", 0}};
	size_t rel, best = 0;
	int l, k, bk = -1;

	model_gpt_acts_layout(cfg, B, &a);
	if (off >= a.layer0 && off < a.layer0 + (size_t)cfg->n_layer * a.layer_size) {
		size_t fo[] = {a.ln1, a.ln1_mean, a.ln1_rstd, a.qkv,	  a.att,      a.atty, a.res2,
			       a.ln2, a.ln2_mean, a.ln2_rstd, a.fch,	  a.fchg,     a.res3};
		l = (int)((off - a.layer0) / a.layer_size);
		rel = (off - a.layer0) % a.layer_size;
		for (k = 0; k < (int)(sizeof(fo) / sizeof(fo[0])); k++)
			if (fo[k] <= rel && fo[k] >= best)
				best = fo[k], bk = k;
		snprintf(buf, size, "layer %d %s[%zu]", l, bk >= 0 ? f[bk].name : "?", rel - best);
		return;
	}
	{
		const char *names[] = {"encoded", "lnf",      "lnf_mean", "lnf_rstd", "logits",
				       "ce_stats", "losses",  "tmp",	  "d_res",    "d_ln",
				       "d_atty",  "d_qkv",    "d_pre",	  "d_fchg",   "d_fch",
				       "d_logits", "ln_stats"};
		size_t fo[] = {a.encoded,  a.lnf,    a.lnf_mean, a.lnf_rstd, a.logits, a.ce_stats,
			       a.losses,   a.tmp,    a.d_res,	 a.d_ln,     a.d_atty, a.d_qkv,
			       a.d_pre,	   a.d_fchg, a.d_fch,	 a.d_logits, a.ln_stats};
		for (k = 0; k < (int)(sizeof(fo) / sizeof(fo[0])); k++)
			if (fo[k] <= off && fo[k] >= best)
				best = fo[k], bk = k;
		snprintf(buf, size, "%s[%zu]", bk >= 0 ? names[bk] : "?", off - best);
	}
}

/* Names the parameter tensor holding float offset off. */
static void param_name(const struct model_config *cfg, size_t off, char *buf, size_t size)
{
	struct model_tensor t;

	for (int i = 0; i < model_tensor_count(cfg); i++)
		if (model_tensor_get(cfg, i, &t) == 0 && off >= t.offset &&
		    off < t.offset + t.rows * t.cols) {
			snprintf(buf, size, "%s[%zu]", t.name, off - t.offset);
			return;
		}
	snprintf(buf, size, "?[%zu]", off);
}

static size_t first_diff(const float *x, const float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&x[i], &y[i], 4) != 0)
			return i;
	return n;
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
	/* every activation and gradient of the last step: names the first op
	 * whose output differs */
	{
		size_t na = model_act_floats(cfg, B), at;
		float *acts = malloc(na * 4), *grads = malloc(n * 4);
		char name[96];

		if (engine_read_acts(e, acts, &err) != 0 || engine_read_grads(e, grads, &err) != 0) {
			tap_diag("engine: %s", err.msg);
			ok = 0;
		} else {
			if ((at = first_diff(acts, ref.acts, na)) < na) {
				act_name(cfg, B, at, name, sizeof(name));
				tap_diag("  activation %s differs: %a vs ref %a", name, acts[at],
					 ref.acts[at]);
				ok = 0;
			}
			if ((at = first_diff(grads, ref.grads, n)) < n) {
				param_name(cfg, at, name, sizeof(name));
				tap_diag("  gradient of %s differs: %a vs ref %a", name, grads[at],
					 ref.grads[at]);
				ok = 0;
			}
		}
		free(acts);
		free(grads);
	}
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

	/* T 20: full 16-lane blocks in the vectorised softmax and score
	 * kernels, and a ragged last block */
	struct model_config longer = {.kind = MODEL_GPT, .name = "longer", .n_layer = 1,
				      .n_embd = 32, .n_head = 2, .n_ctx = 20, .vocab = MODEL_VOCAB};

	for (size_t l = 0; l < sizeof(locals) / sizeof(locals[0]); l++) {
		eo.local = locals[l];
		tap_ok(gpt_case(rt, &ragged, 3, 2, &eo),
		       "ragged gpt (C48 NH3 T7 B3), local size %zu: 2 steps bitwise", locals[l]);
		tap_ok(gpt_case(rt, &longer, 2, 2, &eo),
		       "gpt C32 NH2 T20 B2, local size %zu: 2 steps bitwise", locals[l]);
	}
	eo.local = 0;
	odd.n_embd = 36; /* head size 12: the per-element attention kernels */
	odd.n_ctx = 5;
	tap_ok(gpt_case(rt, &odd, 2, 2, &eo), "gpt with head size 12 (C36 NH3 T5 B2): 2 steps bitwise");
	eo.gemm = GEMM_VARIANT_RB;
	eo.per_element = 1;
	tap_ok(gpt_case(rt, model_preset_find("gpt-test"), 4, 3, &eo),
	       "gpt-test B4, register-blocked gemm, per-element kernels: 3 steps bitwise");
	eo.gemm = GEMM_VARIANT_RB_NARROW;
	eo.per_element = 0;
	tap_ok(gpt_case(rt, model_preset_find("gpt-test"), 4, 3, &eo),
	       "gpt-test B4, narrow register-blocked gemm (6 x 16): 3 steps bitwise");
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
