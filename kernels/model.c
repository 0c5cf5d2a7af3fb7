/*
 * model.c - model presets, the flat parameter layout, size and FLOP
 * counts, deterministic initialisation and checkpoint (de)serialisation.
 *
 * Nothing here allocates. Layout functions trust a config that passed
 * model_config_check(); the checkpoint reader trusts nothing.
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "kernels/fmath.h"
#include "kernels/model.h"

static const struct model_config presets[] = {
    {.kind = MODEL_GPT,
     .name = "gpt-tiny",
     .n_layer = 4,
     .n_embd = 128,
     .n_head = 4,
     .n_ctx = 128,
     .vocab = MODEL_VOCAB},
    {.kind = MODEL_GPT,
     .name = "gpt-small",
     .n_layer = 6,
     .n_embd = 256,
     .n_head = 8,
     .n_ctx = 256,
     .vocab = MODEL_VOCAB},
    {.kind = MODEL_GPT,
     .name = "gpt-test",
     .n_layer = 2,
     .n_embd = 32,
     .n_head = 2,
     .n_ctx = 8,
     .vocab = MODEL_VOCAB},
    {.kind = MODEL_MLP,
     .name = "mlp-tiny",
     .n_in = 16,
     .n_hidden = 2,
     .hidden = {32, 32},
     .n_classes = 4},
};

#define N_PRESETS ((int)(sizeof(presets) / sizeof(presets[0])))

const struct model_config *model_preset_at(int i)
{
	return (i >= 0 && i < N_PRESETS) ? &presets[i] : NULL;
}

const struct model_config *model_preset_find(const char *name)
{
	for (int i = 0; name && i < N_PRESETS; i++)
		if (strcmp(presets[i].name, name) == 0)
			return &presets[i];
	return NULL;
}

static int in_range(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

int model_config_check(const struct model_config *cfg, struct error *err)
{
	if (!cfg)
		return error_set(err, ERROR_INVALID, "no model config");
	if (cfg->kind == MODEL_GPT) {
		if (!in_range(cfg->n_layer, 1, MODEL_MAX_LAYERS) ||
		    !in_range(cfg->n_embd, 1, MODEL_MAX_WIDTH) ||
		    !in_range(cfg->n_head, 1, cfg->n_embd) || cfg->n_embd % cfg->n_head != 0 ||
		    !in_range(cfg->n_ctx, 1, MODEL_MAX_CTX) || cfg->vocab != MODEL_VOCAB)
			return error_set(err, ERROR_RANGE,
					 "bad gpt config: L %d C %d NH %d T %d V %d", cfg->n_layer,
					 cfg->n_embd, cfg->n_head, cfg->n_ctx, cfg->vocab);
		/* L*12*C^2 with C <= 4096 and L <= 64 fits size_t on 64-bit
		 * hosts; the cap below then bounds everything else. */
	} else if (cfg->kind == MODEL_MLP) {
		if (!in_range(cfg->n_in, 1, 1 << 16) ||
		    !in_range(cfg->n_hidden, 0, MODEL_MLP_MAX_HIDDEN) ||
		    !in_range(cfg->n_classes, 2, 1 << 16))
			return error_set(err, ERROR_RANGE,
					 "bad mlp config: in %d hidden %d classes %d", cfg->n_in,
					 cfg->n_hidden, cfg->n_classes);
		for (int i = 0; i < cfg->n_hidden; i++)
			if (!in_range(cfg->hidden[i], 1, 1 << 16))
				return error_set(err, ERROR_RANGE, "bad mlp hidden width %d",
						 cfg->hidden[i]);
	} else {
		return error_set(err, ERROR_RANGE, "unknown model kind %d", (int)cfg->kind);
	}
	if (model_param_count(cfg) > MODEL_MAX_PARAMS)
		return error_set(err, ERROR_TOO_BIG, "model has %zu parameters, cap is %zu",
				 model_param_count(cfg), MODEL_MAX_PARAMS);
	return 0;
}

int model_batch_check(const struct model_config *cfg, int B, struct error *err)
{
	size_t b = (size_t)B, big = 0;

	if (B < 1 || B > MODEL_MAX_BATCH)
		return error_set(err, ERROR_RANGE, "batch size %d out of range", B);
	if (cfg->kind == MODEL_GPT) {
		size_t T = (size_t)cfg->n_ctx, C = (size_t)cfg->n_embd;
		size_t att = b * (size_t)cfg->n_head * T * T;
		size_t wide = b * T * (4 * C > (size_t)cfg->vocab ? 4 * C : (size_t)cfg->vocab);
		big = att > wide ? att : wide;
	} else {
		struct mlp_layout lay;
		model_mlp_layout(cfg, &lay);
		big = b * (size_t)cfg->n_in;
		for (int i = 0; i < lay.n_layers; i++)
			big = b * (size_t)lay.dout[i] > big ? b * (size_t)lay.dout[i] : big;
	}
	if (big >= ((size_t)1 << 31))
		return error_set(err, ERROR_TOO_BIG, "batch %d needs a tensor of %zu elements", B,
				 big);
	return 0;
}

void model_gpt_layout(const struct model_config *cfg, struct gpt_layout *lay)
{
	size_t C = (size_t)cfg->n_embd, o = 0;

	assert(cfg->kind == MODEL_GPT);
	memset(lay, 0, sizeof(*lay));
	lay->wte = o, o += (size_t)cfg->vocab * C;
	lay->wpe = o, o += (size_t)cfg->n_ctx * C;
	lay->layer0 = o;
	o = 0;
	lay->ln1w = o, o += C;
	lay->ln1b = o, o += C;
	lay->qkvw = o, o += 3 * C * C;
	lay->qkvb = o, o += 3 * C;
	lay->projw = o, o += C * C;
	lay->projb = o, o += C;
	lay->ln2w = o, o += C;
	lay->ln2b = o, o += C;
	lay->fcw = o, o += 4 * C * C;
	lay->fcb = o, o += 4 * C;
	lay->fcprojw = o, o += 4 * C * C;
	lay->fcprojb = o, o += C;
	lay->layer_size = o;
	o = lay->layer0 + (size_t)cfg->n_layer * lay->layer_size;
	lay->lnfw = o, o += C;
	lay->lnfb = o, o += C;
	lay->total = o;
}

void model_mlp_layout(const struct model_config *cfg, struct mlp_layout *lay)
{
	size_t o = 0;
	int din = cfg->n_in;

	assert(cfg->kind == MODEL_MLP);
	memset(lay, 0, sizeof(*lay));
	lay->n_layers = cfg->n_hidden + 1;
	for (int i = 0; i < lay->n_layers; i++) {
		int dout = i < cfg->n_hidden ? cfg->hidden[i] : cfg->n_classes;
		lay->din[i] = din;
		lay->dout[i] = dout;
		lay->w[i] = o, o += (size_t)dout * (size_t)din;
		lay->b[i] = o, o += (size_t)dout;
		din = dout;
	}
	lay->total = o;
}

size_t model_param_count(const struct model_config *cfg)
{
	if (cfg->kind == MODEL_GPT) {
		struct gpt_layout lay;
		model_gpt_layout(cfg, &lay);
		return lay.total;
	} else {
		struct mlp_layout lay;
		model_mlp_layout(cfg, &lay);
		return lay.total;
	}
}

#define GPT_TENSORS_PER_LAYER 12

int model_tensor_count(const struct model_config *cfg)
{
	if (cfg->kind == MODEL_GPT)
		return 2 + GPT_TENSORS_PER_LAYER * cfg->n_layer + 2;
	return 2 * (cfg->n_hidden + 1);
}

static void tensor_set(struct model_tensor *t, const char *name, enum model_tensor_kind kind,
		       size_t offset, size_t rows, size_t cols, float std)
{
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = kind;
	t->offset = offset;
	t->rows = rows;
	t->cols = cols;
	t->decay = kind == MODEL_TENSOR_EMBED || kind == MODEL_TENSOR_WEIGHT;
	t->init_std = t->decay ? std : 0.0f;
}

static void gpt_layer_tensor(const struct model_config *cfg, const struct gpt_layout *lay, int l,
			     int j, struct model_tensor *t)
{
	static const char *const names[GPT_TENSORS_PER_LAYER] = {
	    "ln1.w", "ln1.b", "attn.qkv.w", "attn.qkv.b", "attn.proj.w", "attn.proj.b",
	    "ln2.w", "ln2.b", "mlp.fc.w",   "mlp.fc.b",   "mlp.proj.w",  "mlp.proj.b",
	};
	size_t C = (size_t)cfg->n_embd, base = lay->layer0 + (size_t)l * lay->layer_size;
	/* residual projections: 0.02 / sqrt(2L), as in GPT-2 */
	float pstd = 0.02f * fmath_rsqrt((float)(2 * cfg->n_layer));
	char name[MODEL_TENSOR_NAME_MAX];

	snprintf(name, sizeof(name), "h%d.%s", l, names[j]);
	switch (j) {
	case 0:
		tensor_set(t, name, MODEL_TENSOR_LN_WEIGHT, base + lay->ln1w, C, 1, 0);
		break;
	case 1:
		tensor_set(t, name, MODEL_TENSOR_LN_BIAS, base + lay->ln1b, C, 1, 0);
		break;
	case 2:
		tensor_set(t, name, MODEL_TENSOR_WEIGHT, base + lay->qkvw, 3 * C, C, 0.02f);
		break;
	case 3:
		tensor_set(t, name, MODEL_TENSOR_BIAS, base + lay->qkvb, 3 * C, 1, 0);
		break;
	case 4:
		tensor_set(t, name, MODEL_TENSOR_WEIGHT, base + lay->projw, C, C, pstd);
		break;
	case 5:
		tensor_set(t, name, MODEL_TENSOR_BIAS, base + lay->projb, C, 1, 0);
		break;
	case 6:
		tensor_set(t, name, MODEL_TENSOR_LN_WEIGHT, base + lay->ln2w, C, 1, 0);
		break;
	case 7:
		tensor_set(t, name, MODEL_TENSOR_LN_BIAS, base + lay->ln2b, C, 1, 0);
		break;
	case 8:
		tensor_set(t, name, MODEL_TENSOR_WEIGHT, base + lay->fcw, 4 * C, C, 0.02f);
		break;
	case 9:
		tensor_set(t, name, MODEL_TENSOR_BIAS, base + lay->fcb, 4 * C, 1, 0);
		break;
	case 10:
		tensor_set(t, name, MODEL_TENSOR_WEIGHT, base + lay->fcprojw, C, 4 * C, pstd);
		break;
	default:
		tensor_set(t, name, MODEL_TENSOR_BIAS, base + lay->fcprojb, C, 1, 0);
		break;
	}
}

int model_tensor_get(const struct model_config *cfg, int i, struct model_tensor *t)
{
	if (i < 0 || i >= model_tensor_count(cfg))
		return ERROR_RANGE;
	if (cfg->kind == MODEL_GPT) {
		struct gpt_layout lay;
		size_t C = (size_t)cfg->n_embd;
		int last = 2 + GPT_TENSORS_PER_LAYER * cfg->n_layer;

		model_gpt_layout(cfg, &lay);
		if (i == 0)
			tensor_set(t, "wte", MODEL_TENSOR_EMBED, lay.wte, (size_t)cfg->vocab, C,
				   0.02f);
		else if (i == 1)
			tensor_set(t, "wpe", MODEL_TENSOR_EMBED, lay.wpe, (size_t)cfg->n_ctx, C,
				   0.02f);
		else if (i == last)
			tensor_set(t, "lnf.w", MODEL_TENSOR_LN_WEIGHT, lay.lnfw, C, 1, 0);
		else if (i == last + 1)
			tensor_set(t, "lnf.b", MODEL_TENSOR_LN_BIAS, lay.lnfb, C, 1, 0);
		else
			gpt_layer_tensor(cfg, &lay, (i - 2) / GPT_TENSORS_PER_LAYER,
					 (i - 2) % GPT_TENSORS_PER_LAYER, t);
	} else {
		struct mlp_layout lay;
		char name[MODEL_TENSOR_NAME_MAX];
		int l = i / 2;

		model_mlp_layout(cfg, &lay);
		if (i % 2 == 0) {
			snprintf(name, sizeof(name), "fc%d.w", l);
			/* std = 1/sqrt(fan_in) */
			tensor_set(t, name, MODEL_TENSOR_WEIGHT, lay.w[l], (size_t)lay.dout[l],
				   (size_t)lay.din[l], fmath_rsqrt((float)lay.din[l]));
		} else {
			snprintf(name, sizeof(name), "fc%d.b", l);
			tensor_set(t, name, MODEL_TENSOR_BIAS, lay.b[l], (size_t)lay.dout[l], 1, 0);
		}
	}
	return 0;
}

void model_gpt_acts_layout(const struct model_config *cfg, int B, struct gpt_acts_layout *a)
{
	size_t BT = (size_t)B * (size_t)cfg->n_ctx, C = (size_t)cfg->n_embd;
	size_t att = (size_t)B * (size_t)cfg->n_head * (size_t)cfg->n_ctx * (size_t)cfg->n_ctx;
	size_t o = 0;

	assert(cfg->kind == MODEL_GPT);
	memset(a, 0, sizeof(*a));
	a->encoded = o, o += BT * C;
	a->layer0 = o;
	o = 0;
	a->ln1 = o, o += BT * C;
	a->ln1_mean = o, o += BT;
	a->ln1_rstd = o, o += BT;
	a->qkv = o, o += BT * 3 * C;
	a->att = o, o += att;
	a->atty = o, o += BT * C;
	a->res2 = o, o += BT * C;
	a->ln2 = o, o += BT * C;
	a->ln2_mean = o, o += BT;
	a->ln2_rstd = o, o += BT;
	a->fch = o, o += BT * 4 * C;
	a->fchg = o, o += BT * 4 * C;
	a->res3 = o, o += BT * C;
	a->layer_size = o;
	o = a->layer0 + (size_t)cfg->n_layer * a->layer_size;
	a->lnf = o, o += BT * C;
	a->lnf_mean = o, o += BT;
	a->lnf_rstd = o, o += BT;
	a->logits = o, o += BT * (size_t)cfg->vocab;
	a->ce_stats = o, o += 2 * BT;
	a->losses = o, o += BT;
	a->tmp = o, o += BT * C;
	a->d_res = o, o += BT * C;
	a->d_ln = o, o += BT * C;
	a->d_atty = o, o += BT * C;
	a->d_qkv = o, o += BT * 3 * C;
	a->d_pre = o, o += att;
	a->d_fchg = o, o += BT * 4 * C;
	a->d_fch = o, o += BT * 4 * C;
	a->d_logits = o, o += BT * (size_t)cfg->vocab;
	a->ln_stats = o, o += 2 * BT;
	a->total = o;
}

void model_mlp_acts_layout(const struct model_config *cfg, int B, struct mlp_acts_layout *a)
{
	struct mlp_layout lay;
	size_t b = (size_t)B, o = 0;

	model_mlp_layout(cfg, &lay);
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < lay.n_layers; i++) {
		size_t n = b * (size_t)lay.dout[i];
		a->pre[i] = o, o += n;
		a->out[i] = o, o += n;
		a->dpre[i] = o, o += n;
		a->dout[i] = o, o += n;
	}
	a->ce_stats = o, o += 2 * b;
	a->losses = o, o += b;
	a->total = o;
}

size_t model_act_floats(const struct model_config *cfg, int B)
{
	if (cfg->kind == MODEL_GPT) {
		struct gpt_acts_layout a;
		model_gpt_acts_layout(cfg, B, &a);
		return a.total;
	} else {
		struct mlp_acts_layout a;
		model_mlp_acts_layout(cfg, B, &a);
		return a.total;
	}
}

uint64_t model_flops_per_sequence(const struct model_config *cfg)
{
	uint64_t macs = 0;

	if (cfg->kind == MODEL_GPT) {
		uint64_t L = (uint64_t)cfg->n_layer, C = (uint64_t)cfg->n_embd;
		uint64_t T = (uint64_t)cfg->n_ctx, V = (uint64_t)cfg->vocab;
		/* GEMMs per layer: qkv 3C^2, proj C^2, fc 4C^2, fcproj 4C^2 per
		 * token, x3 for forward + dx + dW; attention 2 fwd + 4 bwd
		 * dot products of hs per head per (t, j<=t): 6*C*T(T+1)/2. */
		macs += L * (36 * T * C * C + 3 * C * T * (T + 1));
		macs += 3 * T * V * C; /* tied LM head */
	} else {
		struct mlp_layout lay;
		model_mlp_layout(cfg, &lay);
		for (int i = 0; i < lay.n_layers; i++)
			macs += 3 * (uint64_t)lay.din[i] * (uint64_t)lay.dout[i];
	}
	return 2 * macs;
}

uint64_t model_flops_per_token(const struct model_config *cfg)
{
	uint64_t f = model_flops_per_sequence(cfg);
	return cfg->kind == MODEL_GPT ? f / (uint64_t)cfg->n_ctx : f;
}

/* ---- PRNG and init ---------------------------------------------------- */

uint64_t model_rng_u64(uint64_t key, uint64_t counter)
{
	uint64_t z = key + (counter + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

float model_rng_uniform(uint64_t key, uint64_t counter)
{
	uint64_t u = model_rng_u64(key, counter) >> 40; /* 24 bits */
	return ((float)u + 0.5f) * 5.9604644775390625e-8f;
}

/* Fills out[0..n) with normal(0, std) samples from stream key by the
 * Marsaglia polar method: u, v uniform in (-1,1) from consecutive counters,
 * s = u*u + v*v, rejected unless 0 < s < 1, then
 * u*sqrt(-2 log s / s) and v*sqrt(...) are the next two samples. */
static void normal_fill(uint64_t key, float std, float *out, size_t n)
{
	uint64_t c = 0;
	size_t i = 0;

	while (i < n) {
		float u = FMATH_FMA(2.0f, model_rng_uniform(key, c), -1.0f);
		float v = FMATH_FMA(2.0f, model_rng_uniform(key, c + 1), -1.0f);
		float s = FMATH_FMA(u, u, v * v);
		float f;

		c += 2;
		if (!(s > 0.0f && s < 1.0f))
			continue;
		f = fmath_sqrt(fmath_div(-2.0f * fmath_log(s), s));
		out[i++] = (u * f) * std;
		if (i < n)
			out[i++] = (v * f) * std;
	}
}

void model_init_params(const struct model_config *cfg, uint64_t seed, float *params)
{
	int nt = model_tensor_count(cfg);

	for (int i = 0; i < nt; i++) {
		struct model_tensor t;
		size_t n;
		int rc = model_tensor_get(cfg, i, &t);

		assert(rc == 0);
		(void)rc;
		n = t.rows * t.cols;
		switch (t.kind) {
		case MODEL_TENSOR_EMBED:
		case MODEL_TENSOR_WEIGHT:
			normal_fill(model_rng_u64(seed, (uint64_t)i), t.init_std, params + t.offset,
				    n);
			break;
		case MODEL_TENSOR_LN_WEIGHT:
			for (size_t j = 0; j < n; j++)
				params[t.offset + j] = 1.0f;
			break;
		default:
			memset(params + t.offset, 0, n * sizeof(float));
			break;
		}
	}
}

/* ---- checkpoint ------------------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t model_ckpt_size(size_t n_params)
{
	return MODEL_CKPT_HEADER + 3 * 4 * n_params;
}

static unsigned char *put_floats(unsigned char *p, const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4)
		put_u32(p, fmath_as_uint(x[i]));
	return p;
}

static const unsigned char *get_floats(const unsigned char *p, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++, p += 4)
		x[i] = fmath_as_float(get_u32(p));
	return p;
}

long long model_ckpt_write(unsigned char *out, size_t cap, const float *params, const float *m,
			   const float *v, size_t n_params, uint64_t step)
{
	unsigned char *p = out;

	if (n_params > MODEL_MAX_PARAMS || cap < model_ckpt_size(n_params))
		return ERROR_TOO_BIG;
	memcpy(p, MODEL_CKPT_MAGIC, 4);
	put_u32(p + 4, MODEL_CKPT_VERSION);
	put_u64(p + 8, (uint64_t)n_params);
	put_u64(p + 16, step);
	p += MODEL_CKPT_HEADER;
	p = put_floats(p, params, n_params);
	p = put_floats(p, m, n_params);
	p = put_floats(p, v, n_params);
	return (long long)(p - out);
}

int model_ckpt_read(const unsigned char *in, size_t len, size_t n_params, float *params, float *m,
		    float *v, uint64_t *step, struct error *err)
{
	uint64_t n;

	if (n_params > MODEL_MAX_PARAMS)
		return error_set(err, ERROR_TOO_BIG, "checkpoint of %zu parameters is over the cap",
				 n_params);
	if (len < MODEL_CKPT_HEADER || memcmp(in, MODEL_CKPT_MAGIC, 4) != 0)
		return error_set(err, ERROR_FORMAT, "not a checkpoint: bad magic");
	if (get_u32(in + 4) != MODEL_CKPT_VERSION)
		return error_set(err, ERROR_VERSION, "unknown checkpoint version %u",
				 (unsigned)get_u32(in + 4));
	n = get_u64(in + 8);
	if (n > MODEL_MAX_PARAMS)
		return error_set(err, ERROR_TOO_BIG,
				 "checkpoint claims %llu parameters, cap is %zu",
				 (unsigned long long)n, MODEL_MAX_PARAMS);
	if (n != (uint64_t)n_params)
		return error_set(err, ERROR_RANGE, "checkpoint has %llu parameters, model has %zu",
				 (unsigned long long)n, n_params);
	if (len != model_ckpt_size(n_params))
		return error_set(err, ERROR_FORMAT, "checkpoint is %zu bytes, expected %zu", len,
				 model_ckpt_size(n_params));
	*step = get_u64(in + 16);
	in += MODEL_CKPT_HEADER;
	in = get_floats(in, params, n_params);
	in = get_floats(in, m, n_params);
	get_floats(in, v, n_params);
	return 0;
}
