/*
 * ref-gpt-test.c - the GPT reference as a whole: the double path's
 * backward against finite differences of its forward over every tensor,
 * the float path against the double path, bitwise determinism and resume
 * from a checkpoint, and pinned output bits of two training steps.
 *
 * Tolerances: finite differences (h = 1e-5) agree with the analytic
 * gradient to 1e-6 of the largest gradient; float agrees with double to
 * 1e-4 of each tensor's largest gradient (float has ~6e-8 relative
 * rounding per op, compounded through the layers).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fmath.h"
#include "kernels/ref/gpt.h"
#include "tests/tap.h"

#define FD_H 1e-5

static const struct model_config small_cfg = {
    .kind = MODEL_GPT,
    .name = "gpt-gradcheck",
    .n_layer = 2,
    .n_embd = 8,
    .n_head = 2,
    .n_ctx = 4,
    .vocab = MODEL_VOCAB,
};

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Parameters with a larger spread than the real init, so every path of
 * the model carries a gradient well above rounding noise. */
static void init_spread(const struct model_config *cfg, float *p, uint64_t seed)
{
	size_t n = model_param_count(cfg);
	for (size_t i = 0; i < n; i++)
		p[i] = 0.6f * (model_rng_uniform(seed, i) - 0.5f);
}

static void make_tokens(int *tok, int *tgt, int n, uint64_t seed)
{
	for (int i = 0; i < n; i++) {
		tok[i] =
		    (int)(model_rng_u64(seed, (uint64_t)i) % 7) * 31; /* a few distinct bytes */
		tgt[i] = (int)(model_rng_u64(seed + 1, (uint64_t)i) % 256);
	}
}

static void test_gradcheck(void)
{
	const struct model_config *cfg = &small_cfg;
	int B = 2, BT = B * cfg->n_ctx;
	size_t n = model_param_count(cfg), na = model_act_floats(cfg, B);
	float *pf = malloc(n * 4), *gf = malloc(n * 4), *af = malloc(na * 4);
	double *pd = malloc(n * 8), *gd = malloc(n * 8), *ad = malloc(na * 8);
	int tok[8], tgt[8], nt = model_tensor_count(cfg);
	double gmax = 0, worst = 0, lossd;
	float lossf;
	const char *worst_name = "";

	init_spread(cfg, pf, 5);
	for (size_t i = 0; i < n; i++)
		pd[i] = pf[i];
	make_tokens(tok, tgt, BT, 9);
	lossd = ref_gptd_forward(cfg, pd, tok, tgt, B, ad);
	ref_gptd_backward(cfg, pd, tok, tgt, B, ad, gd);
	for (size_t i = 0; i < n; i++)
		gmax = fmax(gmax, fabs(gd[i]));
	/* every tensor, every element (wte: the first 40 rows, which hold the
	 * used tokens 0, 31 and rows that only the LM head touches) */
	for (int ti = 0; ti < nt; ti++) {
		struct model_tensor t;
		size_t cnt;
		double tw = 0;

		model_tensor_get(cfg, ti, &t);
		cnt = ti == 0 ? 40 * t.cols : t.rows * t.cols;
		for (size_t k = 0; k < cnt; k++) {
			size_t i = t.offset + k;
			double keep = pd[i], lp, lm, num;

			pd[i] = keep + FD_H;
			lp = ref_gptd_forward(cfg, pd, tok, tgt, B, ad);
			pd[i] = keep - FD_H;
			lm = ref_gptd_forward(cfg, pd, tok, tgt, B, ad);
			pd[i] = keep;
			num = (lp - lm) / (2 * FD_H);
			tw = fmax(tw, fabs(num - gd[i]));
		}
		if (tw > worst) {
			worst = tw;
			worst_name = ti == 0 ? "wte" : "";
			if (ti != 0) {
				static char nm[MODEL_TENSOR_NAME_MAX];
				memcpy(nm, t.name, sizeof(nm));
				worst_name = nm;
			}
		}
	}
	tap_ok(worst / gmax < 1e-6,
	       "gpt double backward vs finite differences over all %d tensors: max diff %.2g "
	       "(%.2g of max grad %.3g, worst %s)",
	       nt, worst, worst / gmax, gmax, worst_name);

	/* float path on the same parameters */
	lossf = ref_gpt_forward(cfg, pf, tok, tgt, B, af);
	ref_gpt_backward(cfg, pf, tok, tgt, B, af, gf);
	tap_ok(fabs(lossf - lossd) < 1e-5 * lossd, "float loss %.7f vs double %.7f", lossf, lossd);
	{
		double wrel = 0;
		const char *wn = "";
		static struct model_tensor t;
		for (int ti = 0; ti < nt; ti++) {
			double md = 0, mg = 1e-6;
			model_tensor_get(cfg, ti, &t);
			for (size_t k = 0; k < t.rows * t.cols; k++) {
				md = fmax(md, fabs(gf[t.offset + k] - gd[t.offset + k]));
				mg = fmax(mg, fabs(gd[t.offset + k]));
			}
			if (md / mg > wrel) {
				wrel = md / mg;
				wn = t.name;
			}
		}
		tap_ok(wrel < 1e-4, "float gradients agree with double: worst tensor %s at %.2g",
		       wn, wrel);
	}
	free(pf), free(gf), free(af), free(pd), free(gd), free(ad);
}

static void make_stream(unsigned char *buf, size_t len)
{
	static const char pat[] = "abcabd ";
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)pat[i % (sizeof(pat) - 1)];
}

static void test_determinism(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	struct ref_gpt a, b;
	struct ref_adamw opt = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
	unsigned char buf[300];
	float la[3], lb[3];
	size_t n;
	uint64_t h;
	struct error err;

	make_stream(buf, sizeof(buf));
	if (ref_gpt_init(&a, cfg, 2, &err) < 0 || ref_gpt_init(&b, cfg, 2, &err) < 0) {
		tap_ok(0, "init: %s", err.msg);
		return;
	}
	n = a.n_params;
	model_init_params(cfg, 42, a.params);
	memcpy(b.params, a.params, n * 4);
	tap_ok(ref_gpt_run(&a, buf, sizeof(buf), 0, 3, &opt, la) == 0, "run of 3 steps");
	/* b: 2 steps, checkpoint, restore into a fresh state, 1 more step */
	tap_ok(ref_gpt_run(&b, buf, sizeof(buf), 0, 2, &opt, lb) == 0, "run of 2 steps");
	{
		size_t sz = model_ckpt_size(n);
		unsigned char *ck = malloc(sz);
		struct ref_gpt c;
		int rc;

		(void)model_ckpt_write(ck, sz, b.params, b.m, b.v, n, b.step);
		rc = ref_gpt_init(&c, cfg, 2, &err);
		rc = rc < 0 ? rc : model_ckpt_read(ck, sz, n, c.params, c.m, c.v, &c.step, &err);
		tap_ok(rc == 0 && c.step == 2, "training state restored from a checkpoint");
		rc = ref_gpt_run(&c, buf, sizeof(buf), 2, 1, &opt, lb + 2);
		tap_ok(memcmp(la, lb, sizeof(la)) == 0 && memcmp(a.params, c.params, n * 4) == 0 &&
			   memcmp(a.m, c.m, n * 4) == 0 && memcmp(a.v, c.v, n * 4) == 0,
		       "3 steps straight == 2 steps + checkpoint + 1 step, bitwise");
		ref_gpt_release(&c);
		free(ck);
	}
	tap_ok(la[2] < la[0], "loss falls over 3 steps (%.4f -> %.4f)", la[0], la[2]);
	TAP_IS(ref_gpt_batch_offset(300, 8, 2, 1, 1), (size_t)((3 * 8) % 292), "batch offset rule");
	h = fnv_bytes(0xcbf29ce484222325ull, la, sizeof(la));
	h = fnv_bytes(h, a.params, n * 4);
	if (!tap_ok(h == 0xc7d94702f3b4d459ull,
		    "gpt-test: 3 steps from seed 42 match the pinned checksum"))
		tap_diag("  got 0x%016llxull", (unsigned long long)h);
	tap_diag("gpt-test losses %.9g %.9g %.9g (bits %08x %08x %08x)", la[0], la[1], la[2],
		 fmath_as_uint(la[0]), fmath_as_uint(la[1]), fmath_as_uint(la[2]));
	{
		float *d = malloc(n * 4), *start = malloc(n * 4);
		model_init_params(cfg, 42, start);
		ref_delta(d, start, a.params, n);
		tap_ok(d[0] == start[0] - a.params[0] && d[n - 1] == start[n - 1] - a.params[n - 1],
		       "delta of the run");
		free(d), free(start);
	}
	ref_gpt_release(&a);
	ref_gpt_release(&b);
}

int main(void)
{
	test_gradcheck();
	test_determinism();
	return tap_done();
}
