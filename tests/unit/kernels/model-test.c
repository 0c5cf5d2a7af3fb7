/*
 * model-test.c - kernels/model.c: presets, config checks, the flat layout
 * (tensors tile the buffer), FLOP counts, deterministic init (pinned
 * bits) and the checkpoint format with its size caps.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fmath.h"
#include "kernels/model.h"
#include "tests/tap.h"

static uint64_t fnv_floats(const float *x, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		uint32_t u = fmath_as_uint(x[i]);
		for (int k = 0; k < 4; k++) {
			h ^= (u >> (8 * k)) & 0xffu;
			h *= 0x100000001b3ull;
		}
	}
	return h;
}

static void test_presets(void)
{
	const struct model_config *tiny = model_preset_find("gpt-tiny");
	const struct model_config *small = model_preset_find("gpt-small");
	const struct model_config *mlp = model_preset_find("mlp-tiny");
	struct error err;

	tap_ok(tiny && small && mlp && model_preset_find("gpt-test"), "presets found by name");
	tap_ok(!model_preset_find("gpt-huge") && !model_preset_find(NULL),
	       "unknown preset is NULL");
	tap_ok(tiny->n_layer == 4 && tiny->n_embd == 128 && tiny->n_head == 4 && tiny->n_ctx == 128,
	       "gpt-tiny is L4 C128 NH4 T128");
	tap_ok(small->n_layer == 6 && small->n_embd == 256 && small->n_head == 8 &&
		   small->n_ctx == 256,
	       "gpt-small is L6 C256 NH8 T256");
	for (int i = 0; model_preset_at(i); i++)
		tap_ok(model_config_check(model_preset_at(i), &err) == 0,
		       "preset %s passes the check", model_preset_at(i)->name);
	/* V*C + T*C + L*(12C^2 + 13C) + 2C */
	TAP_IS(model_param_count(tiny), 842496, "gpt-tiny parameter count");
	TAP_IS(model_param_count(small), 4870144, "gpt-small parameter count");
	TAP_IS(model_param_count(mlp), 1732, "mlp-tiny parameter count");
}

static void test_config_check(void)
{
	struct model_config c = *model_preset_find("gpt-tiny");
	struct error err;

	c.n_head = 3;
	tap_ok(model_config_check(&c, &err) == ERROR_RANGE, "C not a multiple of NH is refused: %s",
	       err.msg);
	c = *model_preset_find("gpt-tiny");
	c.vocab = 300;
	tap_ok(model_config_check(&c, &err) == ERROR_RANGE, "vocab other than 256 is refused");
	c = *model_preset_find("gpt-tiny");
	c.n_layer = 64;
	c.n_embd = 4096;
	c.n_head = 32;
	tap_ok(model_config_check(&c, &err) == ERROR_TOO_BIG, "a model over the parameter cap: %s",
	       err.msg);
	c = *model_preset_find("mlp-tiny");
	c.n_hidden = 5;
	tap_ok(model_config_check(&c, &err) == ERROR_RANGE, "too many mlp hidden layers");
	tap_ok(model_batch_check(model_preset_find("gpt-small"), 8, &err) == 0, "gpt-small B8 ok");
	tap_ok(model_batch_check(model_preset_find("gpt-small"), 4096, &err) == ERROR_TOO_BIG,
	       "a batch whose attention tensor needs 2^31 elements is refused: %s", err.msg);
	tap_ok(model_batch_check(model_preset_find("gpt-small"), 0, &err) == ERROR_RANGE,
	       "batch 0 is refused");
}

static void test_layout(const char *name)
{
	const struct model_config *cfg = model_preset_find(name);
	int nt = model_tensor_count(cfg), ok = 1, decay_ok = 1;
	size_t next = 0;
	struct model_tensor t;

	for (int i = 0; i < nt; i++) {
		if (model_tensor_get(cfg, i, &t) != 0 || t.offset != next)
			ok = 0;
		next = t.offset + t.rows * t.cols;
		if (t.decay != (t.kind == MODEL_TENSOR_EMBED || t.kind == MODEL_TENSOR_WEIGHT))
			decay_ok = 0;
	}
	tap_ok(ok && next == model_param_count(cfg), "%s: %d tensors tile [0, %zu) in order", name,
	       nt, next);
	tap_ok(decay_ok, "%s: weight decay exactly on matrices and embeddings", name);
	tap_ok(model_tensor_get(cfg, nt, &t) == ERROR_RANGE, "%s: tensor index past the end", name);
}

static void test_gpt_layout_names(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	struct gpt_layout lay;
	struct model_tensor t;

	model_gpt_layout(cfg, &lay);
	tap_ok(model_tensor_get(cfg, 2 + 12 + 2, &t) == 0 && strcmp(t.name, "h1.attn.qkv.w") == 0 &&
		   t.offset == lay.layer0 + lay.layer_size + lay.qkvw && t.rows == 96 &&
		   t.cols == 32,
	       "h1.attn.qkv.w sits at layer0 + layer_size + qkvw, 96x32");
	tap_ok(model_tensor_get(cfg, 0, &t) == 0 && strcmp(t.name, "wte") == 0 && t.offset == 0,
	       "wte is first");
}

static void test_flops(void)
{
	const struct model_config *cfg = model_preset_find("gpt-test");
	uint64_t L = 2, C = 32, T = 8, V = 256;
	uint64_t want = 2 * (L * (36 * T * C * C + 3 * C * T * (T + 1)) + 3 * T * V * C);

	TAP_IS(model_flops_per_sequence(cfg), want, "gpt-test FLOPs per sequence by formula");
	TAP_IS(model_flops_per_token(cfg), want / T, "gpt-test FLOPs per token");
	TAP_IS(model_flops_per_sequence(model_preset_find("mlp-tiny")),
	       2 * 3 * (16 * 32 + 32 * 32 + 32 * 4), "mlp-tiny FLOPs per example");
	tap_diag("gpt-tiny: %llu FLOPs/token, gpt-small: %llu FLOPs/token",
		 (unsigned long long)model_flops_per_token(model_preset_find("gpt-tiny")),
		 (unsigned long long)model_flops_per_token(model_preset_find("gpt-small")));
}

static void test_init(void)
{
	const struct model_config *cfg = model_preset_find("gpt-tiny");
	size_t n = model_param_count(cfg);
	float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
	double s = 0, s2 = 0;
	struct model_tensor t;
	int ln_ok = 1;

	model_init_params(cfg, 1234, a);
	model_init_params(cfg, 1234, b);
	tap_ok(memcmp(a, b, n * sizeof(float)) == 0, "same seed, same bytes");
	model_init_params(cfg, 1235, b);
	tap_ok(memcmp(a, b, n * sizeof(float)) != 0, "another seed, other bytes");
	model_tensor_get(cfg, 0, &t);
	for (size_t i = 0; i < t.rows * t.cols; i++) {
		s += a[i];
		s2 += (double)a[i] * a[i];
	}
	s /= (double)(t.rows * t.cols);
	s2 = sqrt(s2 / (double)(t.rows * t.cols) - s * s);
	tap_ok(fabs(s) < 1e-3 && fabs(s2 - 0.02) < 1e-3,
	       "wte ~ normal(0, 0.02): mean %.2g std %.4f", s, s2);
	model_tensor_get(cfg, 2, &t); /* h0.ln1.w */
	for (size_t i = 0; i < t.rows; i++)
		ln_ok &= a[t.offset + i] == 1.0f;
	tap_ok(ln_ok, "LayerNorm weights start at 1");
	if (!tap_ok(fnv_floats(a, n) == 0x66e4781e3a3f9b2bull,
		    "gpt-tiny seed 1234 init bits match the pinned checksum"))
		tap_diag("  got 0x%016llxull", (unsigned long long)fnv_floats(a, n));
	free(a);
	free(b);
}

static void test_checkpoint(void)
{
	const struct model_config *cfg = model_preset_find("mlp-tiny");
	size_t n = model_param_count(cfg), size = model_ckpt_size(n);
	float *p = malloc(n * 4), *m = malloc(n * 4), *v = malloc(n * 4);
	float *p2 = malloc(n * 4), *m2 = malloc(n * 4), *v2 = malloc(n * 4);
	unsigned char *buf = malloc(size);
	uint64_t step = 0;
	struct error err;

	model_init_params(cfg, 7, p);
	for (size_t i = 0; i < n; i++) {
		m[i] = p[i] * 0.5f;
		v[i] = p[i] * p[i];
	}
	TAP_IS(model_ckpt_write(buf, size, p, m, v, n, 99), (long long)size, "checkpoint written");
	TAP_IS(model_ckpt_write(buf, size - 1, p, m, v, n, 99), ERROR_TOO_BIG,
	       "short buffer refused");
	tap_ok(model_ckpt_read(buf, size, n, p2, m2, v2, &step, &err) == 0 && step == 99 &&
		   memcmp(p, p2, n * 4) == 0 && memcmp(m, m2, n * 4) == 0 &&
		   memcmp(v, v2, n * 4) == 0,
	       "checkpoint round trip is exact");
	tap_ok(model_ckpt_read(buf, size - 1, n, p2, m2, v2, &step, &err) == ERROR_FORMAT,
	       "truncated checkpoint refused: %s", err.msg);
	tap_ok(model_ckpt_read(buf, size, n + 1, p2, m2, v2, &step, &err) == ERROR_RANGE,
	       "parameter count mismatch refused: %s", err.msg);
	buf[8 + 7] = 0x40; /* claims 2^62 parameters */
	tap_ok(model_ckpt_read(buf, size, n, p2, m2, v2, &step, &err) == ERROR_TOO_BIG,
	       "absurd parameter count refused before any allocation: %s", err.msg);
	buf[8 + 7] = 0;
	buf[4] = 2;
	tap_ok(model_ckpt_read(buf, size, n, p2, m2, v2, &step, &err) == ERROR_VERSION,
	       "unknown version refused");
	buf[0] = 'X';
	tap_ok(model_ckpt_read(buf, size, n, p2, m2, v2, &step, &err) == ERROR_FORMAT,
	       "bad magic refused");
	tap_ok(model_ckpt_read(buf, 3, n, p2, m2, v2, &step, &err) == ERROR_FORMAT,
	       "3-byte checkpoint refused");
	free(p), free(m), free(v), free(p2), free(m2), free(v2), free(buf);
}

int main(void)
{
	test_presets();
	test_config_check();
	test_layout("gpt-tiny");
	test_layout("gpt-test");
	test_layout("mlp-tiny");
	test_gpt_layout_names();
	test_flops();
	test_init();
	test_checkpoint();
	return tap_done();
}
