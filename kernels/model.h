/*
 * model.h - model definitions: configs and presets, the flat parameter
 * layout, sizes and FLOP counts, deterministic initialisation and the
 * checkpoint format.
 *
 * Two model kinds exist. A byte-level GPT (vocab 256): token + position
 * embedding, L pre-LayerNorm blocks (causal multi-head attention, GELU MLP
 * of width 4C, residuals), a final LayerNorm and an LM head tied to the
 * token embedding, trained with softmax cross-entropy. And a small MLP
 * (input dim, up to MODEL_MLP_MAX_HIDDEN GELU hidden layers, classes) for
 * quick tests.
 *
 * Parameters live in one flat float32 buffer; gradients and the AdamW m and
 * v buffers have the same layout. model_gpt_layout()/model_mlp_layout() are
 * the one place offsets are computed; model_tensor_get() enumerates the
 * tensors in buffer order. docs/ENGINE.md describes the layout.
 *
 * All sizes are in floats unless said otherwise. Configs are checked by
 * model_config_check() before anything is sized from them; every count then
 * fits in an int (the kernels index with int).
 */
#ifndef AGORA_KERNELS_MODEL_H
#define AGORA_KERNELS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define MODEL_VOCAB           256
#define MODEL_MLP_MAX_HIDDEN  4
#define MODEL_MAX_LAYERS      64
#define MODEL_MAX_WIDTH       4096
#define MODEL_MAX_CTX         4096
#define MODEL_MAX_PARAMS      ((size_t)1 << 28) /* 1 GiB of float32 */
#define MODEL_MAX_BATCH       4096
#define MODEL_TENSOR_NAME_MAX 32

enum model_kind {
	MODEL_MLP = 1,
	MODEL_GPT = 2,
};

struct model_config {
	enum model_kind kind;
	const char *name; /* preset name, or NULL; not owned */
	/* GPT */
	int n_layer; /* L */
	int n_embd;  /* C, a multiple of n_head */
	int n_head;  /* NH */
	int n_ctx;   /* T, the sequence length trained on */
	int vocab;   /* V, always MODEL_VOCAB for byte-level models */
	/* MLP */
	int n_in;
	int n_hidden; /* 0..MODEL_MLP_MAX_HIDDEN */
	int hidden[MODEL_MLP_MAX_HIDDEN];
	int n_classes;
};

/* Presets: "gpt-tiny" (L4 C128 NH4 T128), "gpt-small" (L6 C256 NH8 T256),
 * "mlp-tiny" (in 16, hidden 32,32, classes 4), "gpt-test" (L2 C32 NH2 T8,
 * the PyTorch fixture's model). Returns NULL for an unknown name. */
const struct model_config *model_preset_find(const char *name);
/* The i-th preset (NULL past the end), for listing them. */
const struct model_config *model_preset_at(int i);

/* Checks every field against the caps above and that the parameter count
 * fits MODEL_MAX_PARAMS. 0 or ERROR_RANGE with a message. */
int model_config_check(const struct model_config *cfg, struct error *err)
    __attribute__((warn_unused_result));

/* Checks 1 <= B <= MODEL_MAX_BATCH and that every activation tensor for a
 * batch of B has fewer than 2^31 elements (kernels index with int). */
int model_batch_check(const struct model_config *cfg, int B, struct error *err)
    __attribute__((warn_unused_result));

/* ---- layout ---------------------------------------------------------- */

/* GPT parameter layout, offsets in floats. Layer l's tensors start at
 * layer0 + l * layer_size; the per-layer fields are relative to that. */
struct gpt_layout {
	size_t wte; /* (V, C) token embedding, also the LM head */
	size_t wpe; /* (T, C) position embedding */
	size_t layer0;
	size_t layer_size;
	size_t ln1w, ln1b;       /* (C) */
	size_t qkvw, qkvb;       /* (3C, C), (3C): rows 0..C-1 q, C..2C-1 k, 2C.. v */
	size_t projw, projb;     /* (C, C), (C) */
	size_t ln2w, ln2b;       /* (C) */
	size_t fcw, fcb;         /* (4C, C), (4C) */
	size_t fcprojw, fcprojb; /* (C, 4C), (C) */
	size_t lnfw, lnfb;       /* (C) absolute */
	size_t total;
};
void model_gpt_layout(const struct model_config *cfg, struct gpt_layout *lay);

/* MLP layout: layer i (0..n_layers-1, the last one is the classifier) has
 * weight (dout[i], din[i]) at w[i] and bias (dout[i]) at b[i]. */
struct mlp_layout {
	int n_layers;
	int din[MODEL_MLP_MAX_HIDDEN + 1];
	int dout[MODEL_MLP_MAX_HIDDEN + 1];
	size_t w[MODEL_MLP_MAX_HIDDEN + 1];
	size_t b[MODEL_MLP_MAX_HIDDEN + 1];
	size_t total;
};
void model_mlp_layout(const struct model_config *cfg, struct mlp_layout *lay);

enum model_tensor_kind {
	MODEL_TENSOR_EMBED = 1, /* wte, wpe: normal(0, 0.02), decayed */
	MODEL_TENSOR_WEIGHT,    /* matrices: normal(0, std), decayed */
	MODEL_TENSOR_BIAS,      /* zeros, not decayed */
	MODEL_TENSOR_LN_WEIGHT, /* ones, not decayed */
	MODEL_TENSOR_LN_BIAS,   /* zeros, not decayed */
};

struct model_tensor {
	char name[MODEL_TENSOR_NAME_MAX]; /* "wte", "h0.attn.qkv.w", ... */
	enum model_tensor_kind kind;
	size_t offset;     /* in floats */
	size_t rows, cols; /* cols 1 for vectors */
	int decay;         /* 1 when AdamW applies weight decay */
	float init_std;    /* normal std for EMBED/WEIGHT, else 0 */
};

/* Number of tensors, in buffer order (they tile [0, total) exactly). */
int model_tensor_count(const struct model_config *cfg);
/* Fills t for tensor i (0 <= i < count); 0 or ERROR_RANGE. */
int model_tensor_get(const struct model_config *cfg, int i, struct model_tensor *t);

size_t model_param_count(const struct model_config *cfg);

/* Activation buffer layout of the GPT reference for a batch of B sequences
 * (offsets in floats). Forward activations kept for backward, then the
 * backward scratch. Per-layer fields are relative to layer0 + l*layer_size. */
struct gpt_acts_layout {
	size_t encoded; /* (B,T,C) residual stream into layer 0 */
	size_t layer0, layer_size;
	size_t ln1, ln1_mean, ln1_rstd; /* (B,T,C), (B,T), (B,T) */
	size_t qkv;                     /* (B,T,3C) */
	size_t att;                     /* (B,NH,T,T) softmax probabilities */
	size_t atty;                    /* (B,T,C) attention output, pre-projection */
	size_t res2;                    /* (B,T,C) residual after attention */
	size_t ln2, ln2_mean, ln2_rstd;
	size_t fch, fchg;               /* (B,T,4C) pre- and post-GELU */
	size_t res3;                    /* (B,T,C) layer output */
	size_t lnf, lnf_mean, lnf_rstd; /* final LayerNorm */
	size_t logits;                  /* (B,T,V) */
	size_t ce_stats;                /* (B,T,2): row max, 1/sum */
	size_t losses;                  /* (B,T) per-position loss */
	size_t tmp;                     /* (B,T,C) projection output scratch */
	/* backward scratch */
	size_t d_res;    /* (B,T,C) gradient of the residual stream */
	size_t d_ln;     /* (B,T,C) gradient of a LayerNorm output */
	size_t d_atty;   /* (B,T,C) */
	size_t d_qkv;    /* (B,T,3C) */
	size_t d_pre;    /* (B,NH,T,T) gradient of the pre-softmax scores */
	size_t d_fchg;   /* (B,T,4C) */
	size_t d_fch;    /* (B,T,4C) */
	size_t d_logits; /* (B,T,V) */
	size_t ln_stats; /* (B,T,2) LayerNorm backward row statistics */
	size_t total;
};
void model_gpt_acts_layout(const struct model_config *cfg, int B, struct gpt_acts_layout *a);

/* MLP activation layout for a batch of B examples: for layer i, pre[i]
 * (B, dout[i]) = input . W^T + b, out[i] = gelu(pre[i]) (hidden layers
 * only; pre of the last layer is the logits), and their gradients dpre[i],
 * dout[i]; then CE row statistics (B,2) and per-example losses (B). */
struct mlp_acts_layout {
	size_t pre[MODEL_MLP_MAX_HIDDEN + 1], out[MODEL_MLP_MAX_HIDDEN + 1];
	size_t dpre[MODEL_MLP_MAX_HIDDEN + 1], dout[MODEL_MLP_MAX_HIDDEN + 1];
	size_t ce_stats, losses;
	size_t total;
};
void model_mlp_acts_layout(const struct model_config *cfg, int B, struct mlp_acts_layout *a);

/* Floats of activation + scratch memory the reference needs for batch B:
 * the total of the GPT or MLP activation layout. */
size_t model_act_floats(const struct model_config *cfg, int B);

/* Exact multiply-add count x 2 of one forward+backward pass over one
 * sequence of n_ctx tokens (GPT) or one example (MLP), counting every GEMM
 * (forward MNK, backward 2MNK: dx and dW), the LM head, and attention
 * (forward q.k and att.v: 2*hs*(t+1) per head and position t; backward
 * 4*hs*(t+1)). Element-wise ops, LayerNorm and softmax are not counted. */
uint64_t model_flops_per_sequence(const struct model_config *cfg);
/* model_flops_per_sequence / n_ctx, rounded down (MLP: per example). */
uint64_t model_flops_per_token(const struct model_config *cfg);

/* ---- deterministic init ---------------------------------------------- */

/* SplitMix64 finaliser of key + (counter+1) * 0x9e3779b97f4a7c15. */
uint64_t model_rng_u64(uint64_t key, uint64_t counter);
/* Uniform in (0,1): ((u >> 40) + 0.5) * 2^-24, exact in float. */
float model_rng_uniform(uint64_t key, uint64_t counter);

/* Fills params (model_param_count floats) from seed: tensor i draws from
 * stream key model_rng_u64(seed, i); EMBED/WEIGHT tensors are normal with
 * their init_std by the Marsaglia polar method on fmath functions, biases
 * and LN biases 0, LN weights 1. Same seed, same bytes, everywhere. */
void model_init_params(const struct model_config *cfg, uint64_t seed, float *params);

/* ---- checkpoint ------------------------------------------------------ */

/* Format (all little-endian): "AGCK" | u32 version (1) | u64 n_params |
 * u64 step | params[n] | m[n] | v[n] as IEEE binary32 bit patterns. */
#define MODEL_CKPT_MAGIC   "AGCK"
#define MODEL_CKPT_VERSION 1u
#define MODEL_CKPT_HEADER  24

size_t model_ckpt_size(size_t n_params);
/* Writes a checkpoint into out (cap bytes). Returns the byte count or
 * ERROR_TOO_BIG when cap is short or n_params > MODEL_MAX_PARAMS. */
long long model_ckpt_write(unsigned char *out, size_t cap, const float *params, const float *m,
			   const float *v, size_t n_params, uint64_t step);
/* Parses a checkpoint of exactly len bytes that must hold n_params
 * parameters (n_params <= MODEL_MAX_PARAMS), into caller buffers of
 * n_params floats each. 0, or ERROR_FORMAT / ERROR_VERSION / ERROR_RANGE /
 * ERROR_TOO_BIG with a message; outputs are untouched on failure. */
int model_ckpt_read(const unsigned char *in, size_t len, size_t n_params, float *params, float *m,
		    float *v, uint64_t *step, struct error *err)
    __attribute__((warn_unused_result));

#endif
