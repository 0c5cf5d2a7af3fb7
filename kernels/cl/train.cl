/*
 * train.cl - the training kernels other than GEMM: one work-item per
 * output element (or per row of statistics), each calling the reference's
 * own element function from kernels/ref/elem.h, so the arithmetic is the
 * reference's text compiled for the device. Work-group size never matters:
 * no kernel here shares anything between work-items.
 *
 * Tensors are passed as (buffer, offset in floats) pairs because many of
 * them live in one activation buffer at unaligned offsets. Every kernel
 * takes its element count last and returns for ids past it, so the host
 * may round the global size up to any local size.
 */
#pragma OPENCL FP_CONTRACT OFF

#include "kernels/ref/elem.h"

#define GID ((int)get_global_id(0))
#define G __global
#define GC __global const

__kernel void embed_fwd(G float *out, int oo, GC int *tokens, GC float *p, int wte, int wpe,
			int T, int C, int n)
{
	int i = GID;

	if (i < n)
		out[oo + i] = elem_embed_fwd(tokens, p + wte, p + wpe, T, C, i / C, i % C);
}

__kernel void layernorm_stats(GC float *x, int xo, G float *mean, int mo, G float *rstd, int ro,
			      int C, float inv_c, float eps, int rows)
{
	int r = GID;

	if (r < rows)
		elem_layernorm_stats(x + xo, mean + mo, rstd + ro, C, inv_c, eps, r);
}

__kernel void layernorm_fwd(G float *y, int yo, GC float *x, int xo, GC float *mean, int mo,
			    GC float *rstd, int ro, GC float *p, int wo, int bo, int C, int n)
{
	int i = GID;

	if (i < n)
		y[yo + i] = elem_layernorm_fwd(x + xo, mean + mo, rstd + ro, p + wo, p + bo, C,
					       i / C, i % C);
}

__kernel void attn_softmax(GC float *qkv, int qo, G float *att, int ao, int T, int C, int NH,
			   float scale, int rows)
{
	int r = GID;

	if (r < rows)
		elem_attn_softmax(qkv + qo, att + ao, T, C, NH, scale, r / (NH * T), (r / T) % NH,
				  r % T);
}

__kernel void attn_out(G float *out, int oo, GC float *qkv, int qo, GC float *att, int ao, int T,
		       int C, int NH, int n)
{
	int i = GID, bt = i / C;

	if (i < n)
		out[oo + i] = elem_attn_out(qkv + qo, att + ao, T, C, NH, bt / T, bt % T, i % C);
}

__kernel void residual(G float *y, int yo, GC float *a, int ao, GC float *b, int bo, int n)
{
	int i = GID;

	if (i < n)
		y[yo + i] = elem_add(a[ao + i], b[bo + i]);
}

__kernel void gelu_fwd(G float *y, int yo, GC float *x, int xo, int n)
{
	int i = GID;

	if (i < n)
		y[yo + i] = elem_gelu_fwd(x[xo + i]);
}

__kernel void gelu_bwd(G float *dx, int dxo, GC float *x, int xo, GC float *dy, int dyo, int n)
{
	int i = GID;

	if (i < n)
		dx[dxo + i] = elem_gelu_bwd(x[xo + i], dy[dyo + i]);
}

__kernel void ce_row(GC float *logits, int lo, GC int *targets, G float *stats, int so,
		     G float *losses, int lso, int V, int rows)
{
	int r = GID;

	if (r < rows)
		elem_ce_row(logits + lo, targets, stats + so, losses + lso, V, r);
}

/* One work-item: scalars[0] = mean loss, the reference's ordered sum. */
__kernel void loss_mean(GC float *losses, int lso, int M, float inv_m, G float *scalars)
{
	if (GID == 0)
		scalars[0] = elem_sum_ordered(losses + lso, M) * inv_m;
}

__kernel void ce_dlogits(G float *out, int oo, GC float *logits, int lo, GC int *targets,
			 GC float *stats, int so, int V, float inv_n, int n)
{
	int i = GID;

	if (i < n)
		out[oo + i] = elem_ce_dlogits(logits + lo, targets, stats + so, V, inv_n, i / V,
					      i % V);
}

__kernel void matmul_db(G float *db, int dbo, GC float *dy, int dyo, int M, int N)
{
	int j = GID;

	if (j < N)
		db[dbo + j] = elem_matmul_db(dy + dyo, M, N, j);
}

__kernel void layernorm_bwd_stats(G float *stats, int so, GC float *dy, int dyo, GC float *x,
				  int xo, GC float *mean, int mo, GC float *rstd, int ro,
				  GC float *p, int wo, int C, float inv_c, int rows)
{
	int r = GID;

	if (r < rows)
		elem_layernorm_bwd_stats(dy + dyo, x + xo, mean + mo, rstd + ro, p + wo,
					 stats + so, C, inv_c, r);
}

__kernel void layernorm_bwd_dx(G float *dx, int dxo, GC float *dy, int dyo, GC float *x, int xo,
			       GC float *mean, int mo, GC float *rstd, int ro, GC float *p, int wo,
			       GC float *stats, int so, int C, int accumulate, int n)
{
	int i = GID;

	if (i >= n)
		return;
	float g = elem_layernorm_bwd_dx(dy + dyo, x + xo, mean + mo, rstd + ro, p + wo,
					stats + so, C, i / C, i % C);
	dx[dxo + i] = accumulate ? elem_add(dx[dxo + i], g) : g;
}

__kernel void layernorm_bwd_dwdb(G float *g, int dwo, int dbo, GC float *dy, int dyo,
				 GC float *x, int xo, GC float *mean, int mo, GC float *rstd,
				 int ro, int M, int C)
{
	int i = GID;

	if (i >= C)
		return;
	g[dwo + i] = elem_layernorm_bwd_dw(dy + dyo, x + xo, mean + mo, rstd + ro, M, C, i);
	g[dbo + i] = elem_layernorm_bwd_db(dy + dyo, M, C, i);
}

__kernel void attn_bwd_row(G float *dpre, int dpo, GC float *dout, int doo, GC float *qkv,
			   int qo, GC float *att, int ao, int T, int C, int NH, float scale,
			   int rows)
{
	int r = GID;

	if (r < rows)
		elem_attn_bwd_row(dout + doo, qkv + qo, att + ao, dpre + dpo, T, C, NH, scale,
				  r / (NH * T), (r / T) % NH, r % T);
}

__kernel void attn_bwd_dqkv(G float *dqkv, int dqo, GC float *dpre, int dpo, GC float *att,
			    int ao, GC float *dout, int doo, GC float *qkv, int qo, int T, int C,
			    int NH, int n)
{
	int i = GID, C3 = 3 * C, bt = i / C3;

	if (i < n)
		dqkv[dqo + i] = elem_attn_bwd_dqkv(dpre + dpo, att + ao, dout + doo, qkv + qo, T,
						   C, NH, bt / T, bt % T, i % C3);
}

__kernel void wpe_grad(G float *g, int go, GC float *dres, int dro, int B, int T, int C, int n)
{
	int i = GID;

	if (i < n)
		g[go + i] = elem_wpe_grad(dres + dro, B, T, C, i / C, i % C);
}

/*
 * The embedding half of elem_wte_grad: g[v,c] already holds the LM head's
 * sum (a GEMM with the same m order, from 0); add dres[m,c] for each m
 * with tokens[m] == v, m ascending. order[start[v] .. start[v+1]) lists
 * those m in ascending order (a stable counting sort made by the host), so
 * the adds happen in exactly the reference's sequence.
 */
__kernel void wte_embed_add(G float *g, int go, GC float *dres, int dro, GC int *order,
			    GC int *start, int C, int n)
{
	int i = GID;

	if (i >= n)
		return;
	int v = i / C, c = i % C;
	float acc = g[go + i];
	for (int k = start[v]; k < start[v + 1]; k++)
		acc = elem_add(acc, dres[dro + order[k] * C + c]);
	g[go + i] = acc;
}

__kernel void sumsq_chunks(G float *chunks, GC float *g, int n, int nchunks)
{
	int ci = GID;

	if (ci < nchunks)
		chunks[ci] = elem_sumsq_chunk(g, n, ci);
}

/* One work-item: scalars[1] = global norm, scalars[2] = clip scale. */
__kernel void clip_scale(G float *scalars, GC float *chunks, int nchunks, float max_norm)
{
	if (GID != 0)
		return;
	float norm = fmath_sqrt(elem_sum_ordered(chunks, nchunks));
	scalars[1] = norm;
	scalars[2] = elem_clip_scale(norm, max_norm);
}

/* AdamW on elements [lo, lo + n) of one tensor (decay is per tensor). */
__kernel void adamw(G float *p, GC float *grad, G float *m, G float *v, int lo, int n, float lr,
		    float beta1, float beta2, float omb1, float omb2, float eps, float bc1,
		    float bc2, float decay, GC float *scalars)
{
	int i = GID;

	if (i < n)
		elem_adamw(p, grad, m, v, lo + i, lr, beta1, beta2, omb1, omb2, eps, bc1, bc2,
			   decay, scalars[2]);
}

__kernel void delta(G float *out, GC float *start, GC float *end, int n)
{
	int i = GID;

	if (i < n)
		out[i] = elem_delta(start[i], end[i]);
}
