/*
 * ref-fixture-test.c - the C reference against PyTorch: runs the GPT
 * forward and backward on the weights and tokens of
 * tests/fixtures/kernels/gpt-test-fixture.bin (written by
 * gen_gpt_fixture.py beside it, PyTorch in float64) and compares logits,
 * loss and every parameter gradient.
 *
 * Tolerances, per tensor, as max |ours - torch| / max |torch|: float path
 * 1e-5 (float32 rounding compounded over two layers), double path 1e-6
 * (the fixture stores float32, and the double path keeps the float
 * constants of GELU, e.g. 0.044715f).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fmath.h"
#include "kernels/ref/gpt.h"
#include "tests/tap.h"

#define FIXTURE "tests/fixtures/kernels/gpt-test-fixture.bin"
#define TOL_F32 1e-5
#define TOL_F64 1e-6

struct fixture {
	uint32_t L, C, NH, T, B, V, n;
	int *tokens, *targets;
	float *params, *logits, *grads;
	float loss;
};

static uint32_t rd_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void rd_f32(const unsigned char *p, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = fmath_as_float(rd_u32(p + 4 * i));
}

/* Parses the fixture; 0 or -1 (sizes are checked before any allocation). */
static int fixture_load(struct fixture *f, const unsigned char *buf, size_t len)
{
	size_t bt, need;
	const unsigned char *p = buf + 36;

	if (len < 36 || memcmp(buf, "AGFX", 4) != 0 || rd_u32(buf + 4) != 1)
		return -1;
	f->L = rd_u32(buf + 8), f->C = rd_u32(buf + 12), f->NH = rd_u32(buf + 16);
	f->T = rd_u32(buf + 20), f->B = rd_u32(buf + 24), f->V = rd_u32(buf + 28);
	f->n = rd_u32(buf + 32);
	if (f->B > 64 || f->T > 64 || f->V != 256 || f->n > (1u << 22))
		return -1;
	bt = (size_t)f->B * f->T;
	need = 36 + 8 * bt + 4 * ((size_t)f->n * 2 + bt * f->V + 1);
	if (len != need)
		return -1;
	f->tokens = malloc(bt * sizeof(int));
	f->targets = malloc(bt * sizeof(int));
	f->params = malloc((size_t)f->n * 4);
	f->grads = malloc((size_t)f->n * 4);
	f->logits = malloc(bt * f->V * 4);
	for (size_t i = 0; i < bt; i++) {
		f->tokens[i] = (int)rd_u32(p + 4 * i);
		f->targets[i] = (int)rd_u32(p + 4 * (bt + i));
	}
	p += 8 * bt;
	rd_f32(p, f->params, f->n), p += 4 * (size_t)f->n;
	rd_f32(p, f->logits, bt * f->V), p += 4 * bt * f->V;
	rd_f32(p, &f->loss, 1), p += 4;
	rd_f32(p, f->grads, f->n);
	return 0;
}

static double rel_f(const float *a, const float *want, size_t n)
{
	double md = 0, mw = 1e-30;
	for (size_t i = 0; i < n; i++) {
		md = fmax(md, fabs((double)a[i] - want[i]));
		mw = fmax(mw, fabs((double)want[i]));
	}
	return md / mw;
}

static double rel_d(const double *a, const float *want, size_t n)
{
	double md = 0, mw = 1e-30;
	for (size_t i = 0; i < n; i++) {
		md = fmax(md, fabs(a[i] - want[i]));
		mw = fmax(mw, fabs((double)want[i]));
	}
	return md / mw;
}

int main(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	size_t len = 0, n, na, bt;
	unsigned char *buf = tap_read_srcfile(FIXTURE, &len);
	struct fixture f;
	float *acts, *grads, loss;
	double *pd, *ad, *gd, lossd, worst_f = 0, worst_d = 0;
	const char *wf = "", *wd = "";
	static char wfn[MODEL_TENSOR_NAME_MAX], wdn[MODEL_TENSOR_NAME_MAX];
	int nt = model_tensor_count(cfg);

	if (!buf)
		tap_skip_all("cannot read %s", FIXTURE);
	if (!tap_ok(fixture_load(&f, buf, len) == 0, "fixture parses (%zu bytes)", len))
		return tap_done();
	n = model_param_count(cfg);
	if (!tap_ok(f.L == (uint32_t)cfg->n_layer && f.C == (uint32_t)cfg->n_embd &&
			f.NH == (uint32_t)cfg->n_head && f.T == (uint32_t)cfg->n_ctx && f.n == n,
		    "fixture is the gpt-test model, batch %u", f.B))
		return tap_done();
	na = model_act_floats(cfg, (int)f.B);
	bt = (size_t)f.B * f.T;
	acts = malloc(na * 4), grads = malloc(n * 4);
	pd = malloc(n * 8), ad = malloc(na * 8), gd = malloc(n * 8);

	loss = ref_gpt_forward(cfg, f.params, f.tokens, f.targets, (int)f.B, acts);
	ref_gpt_backward(cfg, f.params, f.tokens, f.targets, (int)f.B, acts, grads);
	for (size_t i = 0; i < n; i++)
		pd[i] = f.params[i];
	lossd = ref_gptd_forward(cfg, pd, f.tokens, f.targets, (int)f.B, ad);
	ref_gptd_backward(cfg, pd, f.tokens, f.targets, (int)f.B, ad, gd);
	{
		struct gpt_acts_layout al;
		model_gpt_acts_layout(cfg, (int)f.B, &al);
		tap_ok(rel_f(acts + al.logits, f.logits, bt * f.V) < TOL_F32,
		       "float logits match PyTorch: %.2g",
		       rel_f(acts + al.logits, f.logits, bt * f.V));
		tap_ok(rel_d(ad + al.logits, f.logits, bt * f.V) < TOL_F64,
		       "double logits match PyTorch: %.2g",
		       rel_d(ad + al.logits, f.logits, bt * f.V));
	}
	tap_ok(fabs(loss - f.loss) < TOL_F32 * f.loss, "float loss %.7f vs PyTorch %.7f", loss,
	       f.loss);
	tap_ok(fabs(lossd - f.loss) < TOL_F64 * f.loss, "double loss %.9f vs PyTorch %.9f", lossd,
	       (double)f.loss);
	for (int ti = 0; ti < nt; ti++) {
		struct model_tensor t;
		double ef, ed;

		model_tensor_get(cfg, ti, &t);
		ef = rel_f(grads + t.offset, f.grads + t.offset, t.rows * t.cols);
		ed = rel_d(gd + t.offset, f.grads + t.offset, t.rows * t.cols);
		if (ef > worst_f)
			worst_f = ef, memcpy(wfn, t.name, sizeof(wfn)), wf = wfn;
		if (ed > worst_d)
			worst_d = ed, memcpy(wdn, t.name, sizeof(wdn)), wd = wdn;
	}
	tap_ok(worst_f < TOL_F32, "float gradients of all %d tensors match PyTorch: worst %s %.2g",
	       nt, wf, worst_f);
	tap_ok(worst_d < TOL_F64, "double gradients of all %d tensors match PyTorch: worst %s %.2g",
	       nt, wd, worst_d);
	free(acts), free(grads), free(pd), free(ad), free(gd), free(buf);
	free(f.tokens), free(f.targets), free(f.params), free(f.grads), free(f.logits);
	return tap_done();
}
