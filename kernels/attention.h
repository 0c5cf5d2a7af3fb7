/*
 * attention.h - causal self-attention of one GPT layer, enqueued on an
 * engine's queue (kernels/attention.c). Offsets are in floats into the
 * engine's activation buffer; launch errors are sticky in the engine, as
 * for every launch (engine-priv.h).
 */
#ifndef AGORA_KERNELS_ATTENTION_H
#define AGORA_KERNELS_ATTENTION_H

#include <stddef.h>

struct engine;

/* att (softmax rows, B*NH*T*T) and the output atty (B*T*C) from qkv. */
void attention_forward(struct engine *e, size_t qkv, size_t att, size_t atty);

/* d_pre (scratch, B*NH*T*T) and d_qkv (B*T*3C) from d_atty. */
void attention_backward(struct engine *e, size_t qkv, size_t att, size_t d_atty, size_t d_pre,
			size_t d_qkv);

#endif
