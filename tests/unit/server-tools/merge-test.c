/*
 * merge-test.c - the merger: the outer step against the documented
 * formula (element by element, bits compared), the two-call and one-call
 * forms agree, a pinned checksum, the eval loss (deterministic, near
 * ln 256 for a fresh model), text samples, and merge_round() on the blob
 * store.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "server-tools/blobstore.h"
#include "server-tools/merge.h"
#include "tests/tap.h"

#define N 4099

static float theta0[N], d0[N], d1[N], d2[N];

static void fill(float *x, uint64_t key, float scale)
{
	size_t i;

	for (i = 0; i < N; i++)
		x[i] = (model_rng_uniform(key, i) - 0.5f) * scale;
}

static void test_outer_step(void)
{
	const struct merge_hyper h = {0.7, 0.9};
	const float *deltas[3] = {d0, d1, d2};
	float t1[N], m1[N], t2[N], m2[N], sum[N];
	char hex[HASH_HEX_LEN + 1];
	struct hash hh;
	size_t i, bad = 0;

	fill(theta0, 1, 0.1f);
	fill(d0, 2, 1e-3f);
	fill(d1, 3, 1e-3f);
	fill(d2, 4, 1e-3f);
	memcpy(t1, theta0, sizeof(t1));
	memset(m1, 0, sizeof(m1));
	for (i = 0; i < N; i++)
		m1[i] = d2[i]; /* some prior momentum */
	memcpy(m2, m1, sizeof(m2));
	TAP_IS(merge_outer_step(t1, m1, deltas, 3, N, &h), 0, "outer step runs");
	for (i = 0; i < N; i++) {
		float s = 0.0f, d, m, g, t;

		s = s + d0[i];
		s = s + d1[i];
		s = s + d2[i];
		d = s * (1.0f / 3.0f);
		m = fmaf(0.9f, m2[i], d);
		g = fmaf(0.9f, m, d);
		t = fmaf(-0.7f, g, theta0[i]);
		bad += memcmp(&t, &t1[i], 4) != 0 || memcmp(&m, &m1[i], 4) != 0;
	}
	TAP_IS(bad, 0, "every element is the documented formula, bit for bit");
	memcpy(t2, theta0, sizeof(t2));
	memset(sum, 0, sizeof(sum));
	merge_sum_add(sum, d0, N);
	merge_sum_add(sum, d1, N);
	merge_sum_add(sum, d2, N);
	merge_apply(t2, m2, sum, 3, N, &h);
	TAP_OK(!memcmp(t1, t2, sizeof(t1)) && !memcmp(m1, m2, sizeof(m1)),
	       "sum-then-apply gives the same bytes as the one-call form");
	hash_buf(&hh, t1, sizeof(t1));
	hash_to_hex(&hh, hex);
	tap_diag("theta_1 hash %s", hex);
	TAP_OK(!strcmp(hex, "44212cfc2fc7d6699d46dadaeef7030331f95a5370ce2d16c7b0ae8ae648f461"),
	       "pinned checksum of theta_1 (same on every machine)");
	TAP_OK(merge_all_finite(t1, N), "result is finite");
	t1[7] = INFINITY;
	TAP_OK(!merge_all_finite(t1, N), "an infinity is found");
	TAP_IS(merge_outer_step(t1, m1, deltas, 0, N, &h), ERROR_INVALID, "zero units refused");
}

static void test_eval_sample(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	size_t n = model_param_count(cfg);
	float *p = malloc(n * sizeof(float));
	unsigned char data[600];
	double l1, l2, l3;
	char out[64], out2[64];
	struct error err;
	size_t i;
	int rc, printable = 1;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)("the quick brown fox jumps over the lazy dog. "[i % 45]);
	model_init_params(cfg, 42, p);
	TAP_IS(merge_eval(cfg, p, data, sizeof(data), 20, &l1, &err), 0, "eval runs");
	TAP_IS(merge_eval(cfg, p, data, sizeof(data), 20, &l2, &err), 0, "eval runs again");
	tap_diag("eval loss of a fresh gpt-test: %.9g", l1);
	TAP_OK(l1 == l2, "eval loss is deterministic");
	TAP_OK(fabs(l1 - log(256.0)) < 0.5, "a fresh model's loss is near ln 256");
	{
		/* The documented order, one batch after the other in this thread. */
		float *acts = calloc(model_act_floats(cfg, 8), 4);
		int tok[8 * 8], tgt[8 * 8], k = 0, nb = 0, bb, t;
		double sum = 0;

		while (k < 20) {
			int B = 20 - k < 8 ? 20 - k : 8;

			for (bb = 0; bb < B; bb++, k++)
				for (t = 0; t < 8; t++) {
					tok[bb * 8 + t] =
					    data[(size_t)k * 8 % (sizeof(data) - 8) + t];
					tgt[bb * 8 + t] =
					    data[(size_t)k * 8 % (sizeof(data) - 8) + t + 1];
				}
			sum += (double)ref_gpt_forward(cfg, p, tok, tgt, B, acts);
			nb++;
		}
		TAP_OK(sum / nb == l1, "threaded eval equals the batches summed in order");
		free(acts);
	}
	TAP_IS(merge_eval(cfg, p, data, sizeof(data), 3, &l3, &err), 0, "eval of 3 sequences");
	TAP_IS(merge_eval(cfg, p, data, 5, 3, &l3, &err), ERROR_INVALID, "short eval data refused");
	rc = merge_sample(cfg, p, (const unsigned char *)"the ", 4, 40, 0, 0, out, sizeof(out),
			  &err);
	TAP_IS(rc, 40, "greedy sample of 40 bytes");
	TAP_IS(merge_sample(cfg, p, (const unsigned char *)"the ", 4, 40, 0, 0, out2, sizeof(out2),
			    &err),
	       40, "greedy sample again");
	TAP_OK(!strcmp(out, out2), "greedy sampling is deterministic");
	rc = merge_sample(cfg, p, data, sizeof(data), 40, 1.0, 7, out, sizeof(out), &err);
	TAP_IS(rc, 40, "seeded sample with a long prompt");
	for (i = 0; i < 40; i++)
		printable &= out[i] == '\n' || (out[i] >= 0x20 && out[i] <= 0x7e);
	TAP_OK(printable && strlen(out) == 40, "only printable bytes: '%s'", out);
	TAP_IS(merge_sample(cfg, p, data, 1, 40, 1.0, 7, out, 10, &err), ERROR_INVALID,
	       "output buffer too small refused");
	free(p);
}

/* The sampler cuts the model to the context's length: the logits of the
 * last position must be the same bits as with the full context padded. */
static void test_cut_context(void)
{
	const struct model_config *cfg = model_preset_find("gpt-tiny");
	struct model_config cut = *cfg;
	size_t n = model_param_count(cfg);
	float *p = malloc(n * 4), *q = calloc(n, 4);
	float *af = calloc(model_act_floats(cfg, 1), 4), *ac = calloc(model_act_floats(cfg, 1), 4);
	int tokens[128], i, L = 11, nt = model_tensor_count(cfg);
	struct gpt_acts_layout lf, lc;

	model_init_params(cfg, 9, p);
	cut.n_ctx = L;
	for (i = 0; i < nt; i++) {
		struct model_tensor a, b;

		if (model_tensor_get(cfg, i, &a) == 0 && model_tensor_get(&cut, i, &b) == 0)
			memcpy(q + b.offset, p + a.offset, b.rows * b.cols * 4);
	}
	for (i = 0; i < 128; i++)
		tokens[i] = i < L ? "hello world"[i] : ' ';
	ref_gpt_forward(cfg, p, tokens, NULL, 1, af);
	ref_gpt_forward(&cut, q, tokens, NULL, 1, ac);
	model_gpt_acts_layout(cfg, 1, &lf);
	model_gpt_acts_layout(&cut, 1, &lc);
	TAP_OK(!memcmp(af + lf.logits + (L - 1) * 256, ac + lc.logits + (L - 1) * 256, 256 * 4),
	       "a model cut to 11 positions gives the same last logits, bit for bit");
	free(p);
	free(q);
	free(af);
	free(ac);
}

static void test_round_blobs(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	const struct merge_hyper h = {0.5, 0.8};
	size_t n = model_param_count(cfg), i;
	float *t = malloc(n * 4), *m = calloc(n, 4), *a = malloc(n * 4), *b = malloc(n * 4);
	const float *ds[2] = {a, b};
	struct merge_round_in in;
	struct merge_round_out out;
	struct hash hd[2], th, mh;
	unsigned char data[300];
	struct blobstore *bs;
	struct error err;
	char dir[512], sub[600];
	double loss;

	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		abort();
	snprintf(sub, sizeof(sub), "%s/blobs", dir);
	if (blobstore_open(&bs, sub, &err) < 0)
		abort();
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)('a' + i % 26);
	model_init_params(cfg, 3, t);
	for (i = 0; i < n; i++) {
		a[i] = (model_rng_uniform(5, i) - 0.5f) * 1e-3f;
		b[i] = (model_rng_uniform(6, i) - 0.5f) * 1e-3f;
	}
	memset(&in, 0, sizeof(in));
	in.cfg = cfg;
	if (blobstore_put_mem(bs, t, n * 4, BLOB_CODEC_ZLIB, &in.theta, NULL, &err) < 0 ||
	    blobstore_put_mem(bs, a, n * 4, BLOB_CODEC_ZLIB, &hd[0], NULL, &err) < 0 ||
	    blobstore_put_mem(bs, b, n * 4, BLOB_CODEC_STORED, &hd[1], NULL, &err) < 0)
		abort();
	in.deltas = hd;
	in.n_units = 2;
	in.hyper = h;
	in.eval_data = data;
	in.eval_len = sizeof(data);
	in.eval_seqs = 4;
	TAP_IS(merge_round(bs, &in, &out, &err), 0, "merge_round runs on the store");
	TAP_OK(merge_outer_step(t, m, ds, 2, n, &h) == 0 &&
		   merge_eval(cfg, t, data, sizeof(data), 4, &loss, &err) == 0,
	       "the same in memory");
	hash_buf(&th, t, n * 4);
	hash_buf(&mh, m, n * 4);
	TAP_OK(hash_equal(&th, &out.theta) && hash_equal(&mh, &out.momentum) &&
		   loss == out.eval_loss,
	       "merge_round stores the same θ and momentum, same eval loss");
	TAP_OK(blobstore_exists(bs, &out.theta) && blobstore_exists(bs, &out.momentum),
	       "θ_1 and the momentum are in the store");
	{
		struct merge_round_out g;
		struct hash want;

		TAP_IS(merge_genesis(bs, cfg, 3, data, sizeof(data), 4, &g, &err), 0,
		       "merge_genesis runs");
		memset(m, 0, n * 4);
		hash_buf(&want, m, n * 4);
		model_init_params(cfg, 3, t);
		TAP_OK(hash_equal(&g.theta, &in.theta) && hash_equal(&g.momentum, &want) &&
			   merge_eval(cfg, t, data, sizeof(data), 4, &loss, &err) == 0 &&
			   loss == g.eval_loss,
		       "genesis: θ_0 from the seed, zero momentum, its eval loss");
	}
	hash_buf(&hd[1], "missing", 7);
	TAP_IS(merge_round(bs, &in, &out, &err), ERROR_NOT_FOUND, "a missing Δ fails the merge");
	tap_diag("%s", err.msg);
	blobstore_free(bs);
	snprintf(sub, sizeof(sub), "rm -rf '%s'", dir);
	if (system(sub) != 0)
		tap_diag("cannot remove %s", dir);
	free(t);
	free(m);
	free(a);
	free(b);
}

int main(void)
{
	test_outer_step();
	test_eval_sample();
	test_cut_context();
	test_round_blobs();
	return tap_done();
}
