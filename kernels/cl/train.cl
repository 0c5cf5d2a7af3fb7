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

/*
 * Attention, vectorised for heads whose size hs is a multiple of 16 (the
 * host falls back to the per-element kernels above otherwise). Each lane
 * of a float16 is one output element and runs that element's reference
 * sequence of fma()s; vector fma rounds each lane exactly as the scalar
 * one, so results are the same bits. The score gradients need V with j
 * contiguous: attn_vt copies V into vt as [b][h][d][j] with j padded to
 * Tp = a multiple of 16 (zeros past T). The softmax itself stays
 * elem_attn_softmax: its cost is the exp, which has no vector twin here.
 */
#define VEC_STORE_PREFIX(acc, dst, count)              \
	do {                                           \
		float l_[16];                          \
		vstore16((acc), 0, l_);                \
		for (int q_ = 0; q_ < (count); q_++)   \
			(dst)[q_] = l_[q_];            \
	} while (0)

/*
 * The kernels below block ATTN_R consecutive rows t0.. of one (b,h) per
 * work-item (register blocking over t: each row of k, q, v or dout loaded
 * feeds ATTN_R accumulators). Every accumulator still takes exactly its
 * element's terms, in its order, from 0: a row that a term does not
 * belong to skips it (a guard, never an fma with a zero, which could turn
 * a -0 sum into +0). Rows past T are computed from row T-1 and not
 * stored. The host's ATTN_R (engine.c) must match.
 */
#define ATTN_R 8

/*
 * acc[r] += sum_{j=0..t0+r} p[t0+r][j] * src[j*stride .. +15], j ascending,
 * for the ATTN_R rows t0.. of the T x T matrix p (the causal weighted sums
 * of elem_attn_out and the q part of elem_attn_bwd_dqkv). Rows past T are
 * computed from row T-1 and must not be stored.
 */
static void attn_rows_dot(float16 *acc, GC float *p, GC float *src, int stride, int t0, int T)
{
	int last = min(t0 + ATTN_R, T) - 1;
	GC float *pr[ATTN_R];

#pragma unroll
	for (int r = 0; r < ATTN_R; r++)
		pr[r] = p + min(t0 + r, T - 1) * T;
	for (int j = 0; j <= t0; j++) {
		float16 sv = vload16(0, src + j * stride);
#pragma unroll
		for (int r = 0; r < ATTN_R; r++)
			acc[r] = fma((float16)(pr[r][j]), sv, acc[r]);
	}
	for (int j = t0 + 1; j <= last; j++) {
		float16 sv = vload16(0, src + j * stride);
#pragma unroll
		for (int r = 1; r < ATTN_R; r++)
			if (j <= t0 + r)
				acc[r] = fma((float16)(pr[r][j]), sv, acc[r]);
	}
}

/*
 * For rows t0.. (clamped to T-1) of x (row t at x + t*xs) and lanes
 * j0..j0+15 of xt (d-major, row stride Tp): acc[r] = sum_d fma(x_r[d],
 * xt[d][j], .), d in order from 0 (the dot products of elem_attn_softmax
 * and elem_attn_bwd_row); each row then stores lanes j <= its t, times
 * scale when scaled.
 */
static void attn_dots16(G float *out, GC float *x, int xs, GC float *xt, int Tp, int hs, int t0,
			int j0, int T, int scaled, float scale)
{
	int last = min(t0 + ATTN_R, T) - 1;
	GC float *xr[ATTN_R];
	float16 acc[ATTN_R];

#pragma unroll
	for (int r = 0; r < ATTN_R; r++) {
		xr[r] = x + min(t0 + r, T - 1) * xs;
		acc[r] = (float16)(0.0f);
	}
	for (int d = 0; d < hs; d++) {
		float16 kv = vload16(0, xt + d * Tp);
#pragma unroll
		for (int r = 0; r < ATTN_R; r++)
			acc[r] = fma((float16)(xr[r][d]), kv, acc[r]);
	}
#pragma unroll
	for (int r = 0; r < ATTN_R; r++) {
		int t = t0 + r;
		if (t <= last && j0 <= t) {
			float16 v = scaled ? acc[r] * scale : acc[r];
			VEC_STORE_PREFIX(v, out + t * T + j0, min(16, t + 1 - j0));
		}
	}
}

/* dst[b][h][d][j] = K (part 1) or V (part 2) at (b, j, h*hs + d): one
 * row j and 16 channels per item (a contiguous load, 16 stores), zeros
 * for j >= T. n = B * Tp * C/16 items. */
__kernel void attn_t(G float *dst, GC float *qkv, int qo, int part, int T, int Tp, int C, int n)
{
	int i = GID, nb = C / 16;

	if (i >= n)
		return;
	int c0 = (i % nb) * 16, j = (i / nb) % Tp, b = i / (nb * Tp);
	float l[16];
	vstore16(j < T ? vload16(0, qkv + qo + (b * T + j) * 3 * C + part * C + c0)
		       : (float16)(0.0f),
		 0, l);
	for (int q = 0; q < 16; q++)
		dst[(b * C + c0 + q) * Tp + j] = l[q];
}

/* Scores of rows (b,h,t0..), lanes j0..j0+15: s_j = dot(q, k_j) * scale,
 * d in order (the first loop of elem_attn_softmax); only j <= t is stored. */
__kernel void attn_scores(G float *att, int ao, GC float *qkv, int qo, GC float *ktb, int T,
			  int Tp, int C, int NH, float scale, int n)
{
	int i = GID, nb = Tp / 16, ntb = (T + ATTN_R - 1) / ATTN_R;

	if (i >= n)
		return;
	int j0 = (i % nb) * 16, t0 = ((i / nb) % ntb) * ATTN_R, bh = i / (nb * ntb);
	int h = bh % NH, b = bh / NH, hs = C / NH;
	if (j0 > min(t0 + ATTN_R, T) - 1)
		return;
	attn_dots16(att + ao + bh * T * T, qkv + qo + b * T * 3 * C + h * hs, 3 * C,
		    ktb + (bh * hs) * Tp + j0, Tp, hs, t0, j0, T, 1, scale);
}

static float16 exp16(float16 x);

/* The rest of elem_attn_softmax on a row of scores: running max, exp
 * (16 lanes at a time; a block with a NaN uses fmath_exp), the ordered
 * sum, reciprocal, scaling, zeros past t. */
__kernel void attn_softmax_fin(G float *att, int ao, int T, int rows)
{
	int r = GID;

	if (r >= rows)
		return;
	int t = r % T;
	G float *row = att + ao + r * T;
	float mx = 0.0f, sum = 0.0f, inv, l[16];
	for (int j = 0; j <= t; j++) {
		float s = row[j];
		mx = (j == 0 || s > mx) ? s : mx;
	}
	for (int j0 = 0; j0 <= t; j0 += 16) {
		int cnt = min(16, t + 1 - j0);
		if (cnt == 16) {
			float16 xv = vload16(0, row + j0) - mx;
			if (!any(isnan(xv))) {
				float16 ev = exp16(xv);
				vstore16(ev, 0, row + j0);
				vstore16(ev, 0, l);
				for (int q = 0; q < 16; q++)
					sum = sum + l[q];
				continue;
			}
		}
		for (int j = j0; j < j0 + cnt; j++) {
			float e = fmath_exp(row[j] - mx);
			row[j] = e;
			sum = sum + e;
		}
	}
	inv = fmath_recip(sum);
	for (int j = 0; j <= t; j++)
		row[j] = row[j] * inv;
	for (int j = t + 1; j < T; j++)
		row[j] = 0.0f;
}

/* elem_attn_out for 16 channels of one head and rows t0.. */
__kernel void attn_out_v(G float *out, int oo, GC float *qkv, int qo, GC float *att, int ao, int T,
			 int C, int NH, int n)
{
	int i = GID, nb = C / 16, ntb = (T + ATTN_R - 1) / ATTN_R;

	if (i >= n)
		return;
	int t0 = (i % ntb) * ATTN_R, c0 = ((i / ntb) % nb) * 16, b = i / (ntb * nb);
	int h = c0 / (C / NH), last = min(t0 + ATTN_R, T) - 1;
	float16 acc[ATTN_R];

#pragma unroll
	for (int r = 0; r < ATTN_R; r++)
		acc[r] = (float16)(0.0f);
	attn_rows_dot(acc, att + ao + (b * NH + h) * T * T, qkv + qo + b * T * 3 * C + 2 * C + c0,
		      3 * C, t0, T);
	for (int r = 0; t0 + r <= last; r++)
		vstore16(acc[r], 0, out + oo + (b * T + t0 + r) * C + c0);
}

/* First loop of elem_attn_bwd_row for rows (b,h,t0..): da_j = dot(dout,
 * v_j), lanes j. */
__kernel void attn_bwd_da(G float *dpre, int dpo, GC float *dout, int doo, GC float *vtb, int T,
			  int Tp, int C, int NH, int n)
{
	int i = GID, nb = Tp / 16, ntb = (T + ATTN_R - 1) / ATTN_R;

	if (i >= n)
		return;
	int j0 = (i % nb) * 16, t0 = ((i / nb) % ntb) * ATTN_R, bh = i / (nb * ntb);
	int h = bh % NH, b = bh / NH, hs = C / NH;
	if (j0 > min(t0 + ATTN_R, T) - 1)
		return;
	attn_dots16(dpre + dpo + bh * T * T, dout + doo + b * T * C + h * hs, C,
		    vtb + (bh * hs) * Tp + j0, Tp, hs, t0, j0, T, 0, 1.0f);
}

/* The rest of elem_attn_bwd_row. */
__kernel void attn_bwd_fin(G float *dpre, int dpo, GC float *att, int ao, int T, float scale,
			   int rows)
{
	int r = GID;

	if (r >= rows)
		return;
	int t = r % T;
	G float *drow = dpre + dpo + r * T;
	GC float *arow = att + ao + r * T;
	float dot = 0.0f;
	for (int j = 0; j <= t; j++)
		dot = fma(arow[j], drow[j], dot);
	for (int j = 0; j <= t; j++)
		drow[j] = (arow[j] * (drow[j] - dot)) * scale;
	for (int j = t + 1; j < T; j++)
		drow[j] = 0.0f;
}

/* elem_attn_bwd_dqkv for 16 channels of one head, one of q, k, v and rows
 * t0.. */
__kernel void attn_bwd_dqkv_v(G float *dqkv, int dqo, GC float *dpre, int dpo, GC float *att,
			      int ao, GC float *dout, int doo, GC float *qkv, int qo, int T, int C,
			      int NH, int n)
{
	int C3 = 3 * C, i = GID, nb = C3 / 16, ntb = (T + ATTN_R - 1) / ATTN_R;

	if (i >= n)
		return;
	/* row blocks fastest: neighbouring items read the same rows of q, k,
	 * dout and neighbouring entries of dpre and att */
	int t0 = (i % ntb) * ATTN_R, c3 = ((i / ntb) % nb) * 16, b = i / (ntb * nb);
	int part = c3 / C, c = c3 - part * C, h = c / (C / NH);
	int base = (b * NH + h) * T, last = min(t0 + ATTN_R, T) - 1;
	GC float *rows = qkv + qo + b * T * C3;
	float16 acc[ATTN_R];

#pragma unroll
	for (int r = 0; r < ATTN_R; r++)
		acc[r] = (float16)(0.0f);
	if (part == 0) {
		/* dq[t] = sum_{j<=t} dpre[t][j] k[j] */
		attn_rows_dot(acc, dpre + dpo + base * T, rows + C + c, C3, t0, T);
	} else {
		/* dk[t] = sum_{u>=t} dpre[u][t] q[u]; dv[t] = sum_{u>=t} att[u][t] dout[u] */
		GC float *col = part == 1 ? dpre + dpo : att + ao;
		GC float *src = part == 1 ? rows + c : dout + doo + b * T * C + c;
		int stride = part == 1 ? C3 : C;
		for (int u = t0; u < t0 + ATTN_R - 1 && u <= last; u++) {
			GC float *cu = col + (base + u) * T;
			float16 sv = vload16(0, src + u * stride);
#pragma unroll
			for (int r = 0; r < ATTN_R - 1; r++)
				if (u >= t0 + r)
					acc[r] = fma((float16)(cu[t0 + r]), sv, acc[r]);
		}
		for (int u = t0 + ATTN_R - 1; u < T; u++) {
			GC float *cu = col + (base + u) * T + t0;
			float16 sv = vload16(0, src + u * stride);
#pragma unroll
			for (int r = 0; r < ATTN_R; r++)
				acc[r] = fma((float16)(cu[r]), sv, acc[r]);
		}
	}
	for (int r = 0; t0 + r <= last; r++)
		vstore16(acc[r], 0, dqkv + dqo + (b * T + t0 + r) * C3 + c3);
}

/*
 * Column reductions, vectorised over 16 columns: each lane runs its
 * column's reference sequence (m ascending from 0); a block that would
 * cross the last column calls the element function per column instead.
 */
__kernel void matmul_db_v(G float *db, int dbo, GC float *dy, int dyo, int M, int N)
{
	int j0 = GID * 16;

	if (j0 >= N)
		return;
	if (j0 + 16 > N) {
		for (int j = j0; j < N; j++)
			db[dbo + j] = elem_matmul_db(dy + dyo, M, N, j);
		return;
	}
	float16 acc = (float16)(0.0f);
	for (int m = 0; m < M; m++)
		acc = acc + vload16(0, dy + dyo + m * N + j0);
	vstore16(acc, 0, db + dbo + j0);
}

/*
 * LayerNorm's per-element kernels on 16 columns of one row: each lane
 * runs elem_layernorm_fwd's / elem_layernorm_bwd_dx's operations for its
 * column; a block crossing the end of the row calls the element function
 * per column. n = rows * ceil(C/16) items.
 */
__kernel void layernorm_fwd_v(G float *y, int yo, GC float *x, int xo, GC float *mean, int mo,
			      GC float *rstd, int ro, GC float *p, int wo, int bo, int C, int n)
{
	int i = GID, nb = (C + 15) / 16;

	if (i >= n)
		return;
	int row = i / nb, c0 = (i % nb) * 16;
	if (c0 + 16 > C) {
		for (int c = c0; c < C; c++)
			y[yo + row * C + c] = elem_layernorm_fwd(x + xo, mean + mo, rstd + ro,
								 p + wo, p + bo, C, row, c);
		return;
	}
	float16 nv = (vload16(0, x + xo + row * C + c0) - (float16)(mean[mo + row])) *
		     (float16)(rstd[ro + row]);
	vstore16(fma(nv, vload16(0, p + wo + c0), vload16(0, p + bo + c0)), 0,
		 y + yo + row * C + c0);
}

__kernel void layernorm_bwd_dx_v(G float *dx, int dxo, GC float *dy, int dyo, GC float *x,
				 int xo, GC float *mean, int mo, GC float *rstd, int ro,
				 GC float *p, int wo, GC float *stats, int so, int C,
				 int accumulate, int n)
{
	int i = GID, nb = (C + 15) / 16;

	if (i >= n)
		return;
	int row = i / nb, c0 = (i % nb) * 16, at = row * C + c0;
	if (c0 + 16 > C) {
		for (int c = c0; c < C; c++) {
			float g = elem_layernorm_bwd_dx(dy + dyo, x + xo, mean + mo, rstd + ro,
							p + wo, stats + so, C, row, c);
			dx[dxo + row * C + c] = accumulate ? elem_add(dx[dxo + row * C + c], g) : g;
		}
		return;
	}
	float16 r = (float16)(rstd[ro + row]);
	float16 nv = (vload16(0, x + xo + at) - (float16)(mean[mo + row])) * r;
	float16 dn = vload16(0, dy + dyo + at) * vload16(0, p + wo + c0);
	float16 t = dn - (float16)(stats[so + 2 * row]);
	t = fma(-nv, (float16)(stats[so + 2 * row + 1]), t);
	t = t * r;
	vstore16(accumulate ? vload16(0, dx + dxo + at) + t : t, 0, dx + dxo + at);
}

__kernel void layernorm_bwd_dwdb_v(G float *g, int dwo, int dbo, GC float *dy, int dyo,
				   GC float *x, int xo, GC float *mean, int mo, GC float *rstd,
				   int ro, int M, int C)
{
	int i0 = GID * 16;

	if (i0 >= C)
		return;
	if (i0 + 16 > C) {
		for (int i = i0; i < C; i++) {
			g[dwo + i] = elem_layernorm_bwd_dw(dy + dyo, x + xo, mean + mo, rstd + ro,
							   M, C, i);
			g[dbo + i] = elem_layernorm_bwd_db(dy + dyo, M, C, i);
		}
		return;
	}
	float16 dw = (float16)(0.0f), db = (float16)(0.0f);
	for (int m = 0; m < M; m++) {
		float16 d = vload16(0, dy + dyo + m * C + i0);
		float16 n = (vload16(0, x + xo + m * C + i0) - (float16)(mean[mo + m])) *
			    (float16)(rstd[ro + m]);
		dw = fma(d, n, dw);
		db = db + d;
	}
	vstore16(dw, 0, g + dwo + i0);
	vstore16(db, 0, g + dbo + i0);
}

/*
 * GELU on 16 lanes: elem_gelu_sig's steps with fmath_exp's and
 * fmath_recip_core's arithmetic written for float16. With no NaN input
 * the clamped z lies in [-80, 80] and 1 + e(z) in [1, 2^117], where
 * fmath_exp and fmath_recip take only their main paths, so these lines
 * are those paths; a block holding a NaN, or past the end, calls the
 * element functions lane by lane instead.
 */
/* fmath_exp for 16 lanes without NaNs: the main path, then its two
 * range cases by select. */
static float16 exp16(float16 x)
{
	float16 t = x * 1.44269502f;
	float16 big = t + 12582912.0f;
	float16 n = big - 12582912.0f;
	float16 r = fma(-n, (float16)(0.693145752f), x);
	r = fma(-n, (float16)(1.42860677e-6f), r);
	float16 p = (float16)(1.98412698e-4f);
	p = fma(p, r, (float16)(1.38888889e-3f));
	p = fma(p, r, (float16)(8.33333333e-3f));
	p = fma(p, r, (float16)(4.16666667e-2f));
	p = fma(p, r, (float16)(1.66666667e-1f));
	p = fma(p, r, (float16)(0.5f));
	p = fma(p, r, (float16)(1.0f));
	p = fma(p, r, (float16)(1.0f));
	int16 ni = convert_int16(n);
	int16 n1 = ni / 2;
	float16 s1 = as_float16((n1 + 127) << 23);
	float16 s2 = as_float16((ni - n1 + 127) << 23);
	float16 y = fma(p * s1, s2, (float16)(0.0f));
	y = select(y, (float16)(0.0f), x < (float16)(-103.972084f));
	return select(y, as_float16((uint16)(0x7f800000u)), x > (float16)(88.7228394f));
}

/* For the engine's self-check: fmath_exp and exp16 on the same inputs. */
__kernel void exp_check(G float *out, GC float *x, int xo, int n)
{
	int i0 = GID * 16;

	if (i0 + 16 > n)
		return;
	x += xo;
	float16 xv = vload16(0, x + i0);
	for (int i = i0; i < i0 + 16; i++)
		out[i] = fmath_exp(x[i]);
	vstore16(any(isnan(xv)) ? (float16)(0.0f) : exp16(xv), 0, out + n + i0);
}

static float16 gelu_recip16(float16 x)
{
	float16 r = as_float16((uint16)(0x7ef311c3u) - as_uint16(x));
	float16 e;

	e = fma(-x, r, (float16)(1.0f));
	r = fma(r, e, r);
	e = fma(-x, r, (float16)(1.0f));
	r = fma(r, e, r);
	e = fma(-x, r, (float16)(1.0f));
	r = fma(r, e, r);
	e = fma(-x, r, (float16)(1.0f));
	r = fma(r, e, r);
	return r;
}

static float16 gelu_sig16(float16 x, float16 *e_out)
{
	float16 x2 = x * x;
	float16 inner = fma((float16)(0.044715f) * x2, x, x);
	float16 z = (float16)(-1.59576912f) * inner;

	z = select(z, (float16)(80.0f), z > (float16)(80.0f));
	z = select(z, (float16)(-80.0f), z < (float16)(-80.0f));
	*e_out = exp16(z);
	return gelu_recip16((float16)(1.0f) + *e_out);
}

__kernel void gelu_fwd_v(G float *y, int yo, GC float *x, int xo, int n)
{
	int i0 = GID * 16;

	if (i0 >= n)
		return;
	if (i0 + 16 <= n) {
		float16 xv = vload16(0, x + xo + i0), e;
		if (!any(isnan(xv))) {
			vstore16(xv * gelu_sig16(xv, &e), 0, y + yo + i0);
			return;
		}
	}
	for (int i = i0; i < min(i0 + 16, n); i++)
		y[yo + i] = elem_gelu_fwd(x[xo + i]);
}

__kernel void gelu_bwd_v(G float *dx, int dxo, GC float *x, int xo, GC float *dy, int dyo, int n)
{
	int i0 = GID * 16;

	if (i0 >= n)
		return;
	if (i0 + 16 <= n) {
		float16 xv = vload16(0, x + xo + i0), e;
		if (!any(isnan(xv))) {
			float16 s = gelu_sig16(xv, &e);
			float16 sp = e * s;
			float16 t = (s * sp) * xv;
			float16 du = (float16)(1.59576912f) *
				     fma((float16)(0.134145f), xv * xv, (float16)(1.0f));
			vstore16(vload16(0, dy + dyo + i0) * fma(t, du, s), 0, dx + dxo + i0);
			return;
		}
	}
	for (int i = i0; i < min(i0 + 16, n); i++)
		dx[dxo + i] = elem_gelu_bwd(x[xo + i], dy[dyo + i]);
}

/*
 * AdamW on 16 elements: elem_adamw's operations per lane, with
 * fmath_sqrt, fmath_rsqrt, fmath_div and fmath_recip taking their main
 * paths (v*bc2 a positive normal float, the denominator a normal float
 * whose reciprocal is normal): there fmath_rsqrt's post-scale is 1 and
 * fmath_recip is fmath_recip_core (gelu_recip16). A block with a lane
 * off those paths, or past the end, calls elem_adamw per element.
 * engine_new checks this kernel against adamw (adamw_selfcheck).
 */
__kernel void adamw_v(G float *p, GC float *grad, G float *m, G float *v, int lo, int n,
		      float lr, float beta1, float beta2, float omb1, float omb2, float eps,
		      float bc1, float bc2, float decay, GC float *scalars)
{
	int i0 = GID * 16;
	float clip = scalars[2];

	if (i0 >= n)
		return;
	if (i0 + 16 <= n) {
		int at = lo + i0;
		float16 g = vload16(0, grad + at) * clip;
		float16 mi = fma((float16)(beta1), vload16(0, m + at), omb1 * g);
		float16 vi = fma((float16)(beta2), vload16(0, v + at), (omb2 * g) * g);
		float16 x = vi * bc2;
		uint16 u = as_uint16(x);
		if (all(u >= (uint16)(0x00800000u) && u < (uint16)(0x7f800000u))) {
			float16 r = as_float16((uint16)(0x5f375a86u) - (u >> 1));
			for (int k = 0; k < 3; k++) {
				float16 xr = x * r;
				float16 e = fma(-xr, r, (float16)(1.0f));
				r = fma(r * 0.5f, e, r);
			}
			float16 s = x * r;
			float16 den = fma(fma(-s, s, x), r * 0.5f, s) + eps;
			uint16 db = as_uint16(den);
			if (all(db >= (uint16)(0x00800000u) && db < (uint16)(0x7e800000u))) {
				float16 rc = gelu_recip16(den), a = mi * bc1;
				float16 q = a * rc;
				float16 upd = fma(fma(-den, q, a), rc, q);
				float16 pi = vload16(0, p + at) * decay;
				vstore16(mi, 0, m + at);
				vstore16(vi, 0, v + at);
				vstore16(fma((float16)(-lr), upd, pi), 0, p + at);
				return;
			}
		}
	}
	for (int i = i0; i < min(i0 + 16, n); i++)
		elem_adamw(p, grad, m, v, lo + i, lr, beta1, beta2, omb1, omb2, eps, bc1, bc2, decay,
			   clip);
}
