/*
 * elem_body.h - the per-output-element operations of the reference: the
 * specification every OpenCL kernel reproduces bit for bit.
 *
 * This file is a template with no include guard. It is included by
 * kernels/ref/elem.h (float: elem_* functions; C and OpenCL C 1.2) and by
 * kernels/ref/elem_double.h (double: elemd_* functions; C only, libm, for
 * gradient checks). The includer defines:
 *   EL_T            the scalar type
 *   EL_(name)       the function name for `name`
 *   EL_G            the pointer qualifier (AGORA_GLOBAL)
 *   EL_FMA(a,b,c)   fused multiply-add
 *   EL_EXP EL_LOG EL_RECIP EL_RSQRT EL_SQRT EL_DIV   the math functions
 *
 * Each function computes one output element (or one row of statistics) in
 * one fixed order that depends only on the shapes; docs/ENGINE.md lists
 * them. A reference loop calls it for every element; an OpenCL kernel calls
 * it (or a tiled equivalent with the same per-element order) for its
 * get_global_id. Every multiply-add is an explicit EL_FMA; where a product
 * and a sum stay separate they are separate statements. Indices are int:
 * every tensor has fewer than 2^31 elements (model_batch_check()).
 *
 * Shapes: BT = B*T rows; C width; hs = C/NH head size; V vocab.
 * Matrices are row-major; a linear layer's weight is (out, in).
 */

/* ---- linear layers ---------------------------------------------------- */

/* y[m,n] = b[n] + sum_k x[m,k]*w[n,k]. The accumulator starts at b[n]
 * (0 when b is null) and takes one fma per k, k = 0..K-1 ascending. */
FMATH_FN EL_T EL_(matmul_fwd)(const EL_G EL_T *x, const EL_G EL_T *w, const EL_G EL_T *b, int K,
			      int m, int n)
{
	const EL_G EL_T *xr = x + m * K;
	const EL_G EL_T *wr = w + n * K;
	EL_T acc = b ? b[n] : (EL_T)0.0f;

	for (int k = 0; k < K; k++)
		acc = EL_FMA(xr[k], wr[k], acc);
	return acc;
}

/* dx[m,k] = sum_n dy[m,n]*w[n,k], from 0, n = 0..N-1 ascending. */
FMATH_FN EL_T EL_(matmul_dx)(const EL_G EL_T *dy, const EL_G EL_T *w, int N, int K, int m, int k)
{
	EL_T acc = (EL_T)0.0f;

	for (int n = 0; n < N; n++)
		acc = EL_FMA(dy[m * N + n], w[n * K + k], acc);
	return acc;
}

/* dw[n,k] = sum_m dy[m,n]*x[m,k], from 0, m = 0..M-1 ascending. */
FMATH_FN EL_T EL_(matmul_dw)(const EL_G EL_T *dy, const EL_G EL_T *x, int M, int N, int K, int n,
			     int k)
{
	EL_T acc = (EL_T)0.0f;

	for (int m = 0; m < M; m++)
		acc = EL_FMA(dy[m * N + n], x[m * K + k], acc);
	return acc;
}

/* db[n] = sum_m dy[m,n], from 0, m ascending, plain adds. */
FMATH_FN EL_T EL_(matmul_db)(const EL_G EL_T *dy, int M, int N, int n)
{
	EL_T acc = (EL_T)0.0f;

	for (int m = 0; m < M; m++)
		acc = acc + dy[m * N + n];
	return acc;
}

/* ---- LayerNorm -------------------------------------------------------- */

/* Row statistics of x (rows of C): mean = (sum_i x_i, in order) * inv_c;
 * var = (sum_i fma(d,d,.) with d = x_i - mean, in order) * inv_c;
 * rstd = rsqrt(var + eps). inv_c = 1/C rounded to EL_T by the host. */
FMATH_FN void EL_(layernorm_stats)(const EL_G EL_T *x, EL_G EL_T *mean, EL_G EL_T *rstd, int C,
				   EL_T inv_c, EL_T eps, int row)
{
	const EL_G EL_T *xr = x + row * C;
	EL_T s = (EL_T)0.0f, v = (EL_T)0.0f, mu, d;

	for (int i = 0; i < C; i++)
		s = s + xr[i];
	mu = s * inv_c;
	for (int i = 0; i < C; i++) {
		d = xr[i] - mu;
		v = EL_FMA(d, d, v);
	}
	mean[row] = mu;
	rstd[row] = EL_RSQRT(v * inv_c + eps);
}

/* y = fma((x - mean) * rstd, w_i, b_i). */
FMATH_FN EL_T EL_(layernorm_fwd)(const EL_G EL_T *x, const EL_G EL_T *mean, const EL_G EL_T *rstd,
				 const EL_G EL_T *w, const EL_G EL_T *b, int C, int row, int i)
{
	EL_T n = (x[row * C + i] - mean[row]) * rstd[row];

	return EL_FMA(n, w[i], b[i]);
}

/* Backward row statistics: with n_i = (x_i - mean)*rstd and dn_i = dy_i*w_i,
 * stats[2row] = (sum_i dn_i) * inv_c and
 * stats[2row+1] = (sum_i fma(dn_i, n_i, .)) * inv_c, both in order. */
FMATH_FN void EL_(layernorm_bwd_stats)(const EL_G EL_T *dy, const EL_G EL_T *x,
				       const EL_G EL_T *mean, const EL_G EL_T *rstd,
				       const EL_G EL_T *w, EL_G EL_T *stats, int C, EL_T inv_c,
				       int row)
{
	EL_T s1 = (EL_T)0.0f, s2 = (EL_T)0.0f, n, dn;

	for (int i = 0; i < C; i++) {
		n = (x[row * C + i] - mean[row]) * rstd[row];
		dn = dy[row * C + i] * w[i];
		s1 = s1 + dn;
		s2 = EL_FMA(dn, n, s2);
	}
	stats[2 * row] = s1 * inv_c;
	stats[2 * row + 1] = s2 * inv_c;
}

/* dx_i = fma(-n_i, stats1, dn_i - stats0) * rstd: the LayerNorm input
 * gradient, before it is added to the residual gradient. */
FMATH_FN EL_T EL_(layernorm_bwd_dx)(const EL_G EL_T *dy, const EL_G EL_T *x, const EL_G EL_T *mean,
				    const EL_G EL_T *rstd, const EL_G EL_T *w,
				    const EL_G EL_T *stats, int C, int row, int i)
{
	EL_T n = (x[row * C + i] - mean[row]) * rstd[row];
	EL_T dn = dy[row * C + i] * w[i];
	EL_T t = dn - stats[2 * row];

	t = EL_FMA(-n, stats[2 * row + 1], t);
	return t * rstd[row];
}

/* dw_i = sum_m fma(dy[m,i], n[m,i], .), m = 0..M-1 in order, from 0. */
FMATH_FN EL_T EL_(layernorm_bwd_dw)(const EL_G EL_T *dy, const EL_G EL_T *x, const EL_G EL_T *mean,
				    const EL_G EL_T *rstd, int M, int C, int i)
{
	EL_T acc = (EL_T)0.0f;

	for (int m = 0; m < M; m++) {
		EL_T n = (x[m * C + i] - mean[m]) * rstd[m];
		acc = EL_FMA(dy[m * C + i], n, acc);
	}
	return acc;
}

/* db_i = sum_m dy[m,i], m in order, from 0: same as matmul_db. */
FMATH_FN EL_T EL_(layernorm_bwd_db)(const EL_G EL_T *dy, int M, int C, int i)
{
	return EL_(matmul_db)(dy, M, C, i);
}

/* ---- causal self-attention -------------------------------------------- */
/* qkv is (B,T,3C): q at channel c, k at C+c, v at 2C+c; head h owns
 * channels h*hs .. h*hs+hs-1. att and dpre are (B,NH,T,T), row (b,h,t). */

/* Softmax row (b,h,t): s_j = (sum_d fma(q_d, k_jd, .), d in order, from 0)
 * * scale for j = 0..t; mx = running max in j order (s_0 first, then
 * `s_j > mx ? s_j : mx`); e_j = exp(s_j - mx); sum = e_0 + e_1 + ... in
 * order; att_j = e_j * recip(sum); entries j > t are written as 0.
 * scale = 1/sqrt(hs) rounded to EL_T by the host. */
FMATH_FN void EL_(attn_softmax)(const EL_G EL_T *qkv, EL_G EL_T *att, int T, int C, int NH,
				EL_T scale, int b, int h, int t)
{
	int hs = C / NH, C3 = 3 * C;
	const EL_G EL_T *q = qkv + (b * T + t) * C3 + h * hs;
	EL_G EL_T *row = att + ((b * NH + h) * T + t) * T;
	EL_T mx = (EL_T)0.0f, sum = (EL_T)0.0f, inv;

	for (int j = 0; j <= t; j++) {
		const EL_G EL_T *k = qkv + (b * T + j) * C3 + C + h * hs;
		EL_T dot = (EL_T)0.0f, s;

		for (int d = 0; d < hs; d++)
			dot = EL_FMA(q[d], k[d], dot);
		s = dot * scale;
		row[j] = s;
		mx = (j == 0 || s > mx) ? s : mx;
	}
	for (int j = 0; j <= t; j++) {
		EL_T e = EL_EXP(row[j] - mx);
		row[j] = e;
		sum = sum + e;
	}
	inv = EL_RECIP(sum);
	for (int j = 0; j <= t; j++)
		row[j] = row[j] * inv;
	for (int j = t + 1; j < T; j++)
		row[j] = (EL_T)0.0f;
}

/* out[b,t,c] = sum_{j=0..t} fma(att_j, v[b,j,c], .), j in order, from 0. */
FMATH_FN EL_T EL_(attn_out)(const EL_G EL_T *qkv, const EL_G EL_T *att, int T, int C, int NH, int b,
			    int t, int c)
{
	int hs = C / NH, h = c / hs;
	const EL_G EL_T *row = att + ((b * NH + h) * T + t) * T;
	EL_T acc = (EL_T)0.0f;

	for (int j = 0; j <= t; j++)
		acc = EL_FMA(row[j], qkv[(b * T + j) * 3 * C + 2 * C + c], acc);
	return acc;
}

/* Backward row (b,h,t) into dpre: da_j = sum_d fma(dout_d, v_jd, .) (d in
 * order, from 0), written to dpre_j for j = 0..t; then
 * dot = sum_j fma(att_j, da_j, .) (j in order, from 0); then
 * dpre_j = (att_j * (da_j - dot)) * scale; entries j > t are 0. dout is
 * (B,T,C), the gradient of the attention output before projection. */
FMATH_FN void EL_(attn_bwd_row)(const EL_G EL_T *dout, const EL_G EL_T *qkv, const EL_G EL_T *att,
				EL_G EL_T *dpre, int T, int C, int NH, EL_T scale, int b, int h,
				int t)
{
	int hs = C / NH, C3 = 3 * C;
	const EL_G EL_T *dr = dout + (b * T + t) * C + h * hs;
	const EL_G EL_T *arow = att + ((b * NH + h) * T + t) * T;
	EL_G EL_T *drow = dpre + ((b * NH + h) * T + t) * T;
	EL_T dot = (EL_T)0.0f;

	for (int j = 0; j <= t; j++) {
		const EL_G EL_T *v = qkv + (b * T + j) * C3 + 2 * C + h * hs;
		EL_T acc = (EL_T)0.0f;

		for (int d = 0; d < hs; d++)
			acc = EL_FMA(dr[d], v[d], acc);
		drow[j] = acc;
	}
	for (int j = 0; j <= t; j++)
		dot = EL_FMA(arow[j], drow[j], dot);
	for (int j = 0; j <= t; j++)
		drow[j] = (arow[j] * (drow[j] - dot)) * scale;
	for (int j = t + 1; j < T; j++)
		drow[j] = (EL_T)0.0f;
}

/* dqkv[b,t,c3] for c3 in [0,3C), each from 0:
 *   q (c3 < C):   sum_{j=0..t}   fma(dpre[t][j], k[j,c], .)  j ascending
 *   k (c3 < 2C):  sum_{u=t..T-1} fma(dpre[u][t], q[u,c], .)  u ascending
 *   v (else):     sum_{u=t..T-1} fma(att[u][t], dout[u,c], .) u ascending
 * where rows are those of (b, h = c/hs) and c = c3 mod C. */
FMATH_FN EL_T EL_(attn_bwd_dqkv)(const EL_G EL_T *dpre, const EL_G EL_T *att, const EL_G EL_T *dout,
				 const EL_G EL_T *qkv, int T, int C, int NH, int b, int t, int c3)
{
	int hs = C / NH, C3 = 3 * C;
	int part = c3 / C, c = c3 - part * C, h = c / hs;
	int base = (b * NH + h) * T; /* first row of (b,h) */
	EL_T acc = (EL_T)0.0f;

	if (part == 0) {
		for (int j = 0; j <= t; j++)
			acc = EL_FMA(dpre[(base + t) * T + j], qkv[(b * T + j) * C3 + C + c], acc);
	} else if (part == 1) {
		for (int u = t; u < T; u++)
			acc = EL_FMA(dpre[(base + u) * T + t], qkv[(b * T + u) * C3 + c], acc);
	} else {
		for (int u = t; u < T; u++)
			acc = EL_FMA(att[(base + u) * T + t], dout[(b * T + u) * C + c], acc);
	}
	return acc;
}

/* ---- GELU (tanh approximation, in its sigmoid form) ------------------- */
/* gelu(x) = x * sigmoid(2u), u = sqrt(2/pi) * (x + 0.044715 x^3), which is
 * 0.5 x (1 + tanh u) exactly in real arithmetic. In steps:
 *   x2 = x*x; inner = fma(0.044715*x2, x, x); z = -1.59576912*inner,
 *   clamped to [-80, 80]; e = exp(z); s = recip(1 + e); y = x*s. */
FMATH_FN EL_T EL_(gelu_sig)(EL_T x, EL_T *e_out)
{
	EL_T x2 = x * x;
	EL_T inner = EL_FMA((EL_T)0.044715f * x2, x, x);
	EL_T z = (EL_T)-1.59576912f * inner;
	EL_T e;

	z = z > (EL_T)80.0f ? (EL_T)80.0f : z;
	z = z < (EL_T)-80.0f ? (EL_T)-80.0f : z;
	e = EL_EXP(z);
	*e_out = e;
	return EL_RECIP((EL_T)1.0f + e);
}

FMATH_FN EL_T EL_(gelu_fwd)(EL_T x)
{
	EL_T e;

	return x * EL_(gelu_sig)(x, &e);
}

/* dx = dy * g with s, e as in the forward, s' = e*s (= 1-s),
 * du = 1.59576912 * fma(0.134145, x2, 1), g = fma((s*s')*x, du, s). */
FMATH_FN EL_T EL_(gelu_bwd)(EL_T x, EL_T dy)
{
	EL_T e, s = EL_(gelu_sig)(x, &e);
	EL_T sp = e * s;
	EL_T t = (s * sp) * x;
	EL_T du = (EL_T)1.59576912f * EL_FMA((EL_T)0.134145f, x * x, (EL_T)1.0f);

	return dy * EL_FMA(t, du, s);
}

/* ---- embeddings --------------------------------------------------------- */

/* encoded[bt,c] = wte[tok[bt],c] + wpe[bt mod T,c] (one add). */
FMATH_FN EL_T EL_(embed_fwd)(const EL_G int *tokens, const EL_G EL_T *wte, const EL_G EL_T *wpe,
			     int T, int C, int bt, int c)
{
	return wte[tokens[bt] * C + c] + wpe[(bt % T) * C + c];
}

/* dwpe[t,c] = sum_{b=0..B-1} dres[b,t,c], from 0, b ascending. */
FMATH_FN EL_T EL_(wpe_grad)(const EL_G EL_T *dres, int B, int T, int C, int t, int c)
{
	EL_T acc = (EL_T)0.0f;

	for (int b = 0; b < B; b++)
		acc = acc + dres[(b * T + t) * C + c];
	return acc;
}

/* dwte[v,c] with the tied LM head: from 0, first the head's contribution
 * fma(dlogits[m,v], lnf[m,c], .) for m = 0..BT-1, then the embedding's
 * contribution: + dres[m,c] for each m = 0..BT-1 with tokens[m] == v. */
FMATH_FN EL_T EL_(wte_grad)(const EL_G EL_T *dlogits, const EL_G EL_T *lnf, const EL_G EL_T *dres,
			    const EL_G int *tokens, int BT, int V, int C, int v, int c)
{
	EL_T acc = (EL_T)0.0f;

	for (int m = 0; m < BT; m++)
		acc = EL_FMA(dlogits[m * V + v], lnf[m * C + c], acc);
	for (int m = 0; m < BT; m++)
		if (tokens[m] == v)
			acc = acc + dres[m * C + c];
	return acc;
}

/* ---- softmax cross-entropy --------------------------------------------- */

/* Row statistics of logits (rows of V): mx = running max (l_0 first, then
 * `l_v > mx ? l_v : mx`); sum = exp(l_0 - mx) + ... in order;
 * stats[2row] = mx, stats[2row+1] = recip(sum);
 * losses[row] = log(sum) - (l_target - mx). */
FMATH_FN void EL_(ce_row)(const EL_G EL_T *logits, const EL_G int *targets, EL_G EL_T *stats,
			  EL_G EL_T *losses, int V, int row)
{
	const EL_G EL_T *l = logits + row * V;
	EL_T mx = l[0], sum = (EL_T)0.0f;

	for (int v = 1; v < V; v++)
		mx = l[v] > mx ? l[v] : mx;
	for (int v = 0; v < V; v++)
		sum = sum + EL_EXP(l[v] - mx);
	stats[2 * row] = mx;
	stats[2 * row + 1] = EL_RECIP(sum);
	losses[row] = EL_LOG(sum) - (l[targets[row]] - mx);
}

/* dlogits[row,v] = (exp(l_v - mx) * stats1 - [v == target]) * inv_n,
 * inv_n = 1/(B*T) rounded to EL_T by the host (the loss is a mean). */
FMATH_FN EL_T EL_(ce_dlogits)(const EL_G EL_T *logits, const EL_G int *targets,
			      const EL_G EL_T *stats, int V, EL_T inv_n, int row, int v)
{
	EL_T p = EL_EXP(logits[row * V + v] - stats[2 * row]) * stats[2 * row + 1];

	if (v == targets[row])
		p = p - (EL_T)1.0f;
	return p * inv_n;
}

/* x_0 + x_1 + ... + x_{n-1}, from 0, in order. */
FMATH_FN EL_T EL_(sum_ordered)(const EL_G EL_T *x, int n)
{
	EL_T acc = (EL_T)0.0f;

	for (int i = 0; i < n; i++)
		acc = acc + x[i];
	return acc;
}

/* ---- gradient norm, clipping, AdamW, delta ------------------------------ */

/* Chunk ci of the global norm: sum of fma(g_i, g_i, .) over
 * i in [ci*ELEM_NORM_CHUNK, min(n, (ci+1)*ELEM_NORM_CHUNK)), from 0, in
 * order. The norm is sqrt(sum_ordered(chunks)). */
FMATH_FN EL_T EL_(sumsq_chunk)(const EL_G EL_T *g, int n, int ci)
{
	int lo = ci * ELEM_NORM_CHUNK;
	int hi = n - lo < ELEM_NORM_CHUNK ? n : lo + ELEM_NORM_CHUNK;
	EL_T acc = (EL_T)0.0f;

	for (int i = lo; i < hi; i++)
		acc = EL_FMA(g[i], g[i], acc);
	return acc;
}

/* Gradient scale: max_norm / norm when norm > max_norm > 0, else 1. */
FMATH_FN EL_T EL_(clip_scale)(EL_T norm, EL_T max_norm)
{
	return (max_norm > (EL_T)0.0f && norm > max_norm) ? EL_DIV(max_norm, norm) : (EL_T)1.0f;
}

/* AdamW on element i, in place. g = grad*clip; m = fma(beta1, m, omb1*g);
 * v = fma(beta2, v, (omb2*g)*g); mhat = m*bc1; vhat = v*bc2;
 * upd = div(mhat, sqrt(vhat) + eps); p = p*decay; p = fma(-lr, upd, p).
 * omb1 = 1-beta1, omb2 = 1-beta2, bc1 = 1/(1-beta1^t), bc2 = 1/(1-beta2^t)
 * and decay = 1 - lr*wd (1 for tensors without decay) come from the host
 * (kernels/ref/ops.h: ref_adamw_hyper). */
FMATH_FN void EL_(adamw)(EL_G EL_T *p, const EL_G EL_T *grad, EL_G EL_T *m, EL_G EL_T *v, int i,
			 EL_T lr, EL_T beta1, EL_T beta2, EL_T omb1, EL_T omb2, EL_T eps, EL_T bc1,
			 EL_T bc2, EL_T decay, EL_T clip)
{
	EL_T g = grad[i] * clip;
	EL_T mi = EL_FMA(beta1, m[i], omb1 * g);
	EL_T vi = EL_FMA(beta2, v[i], (omb2 * g) * g);
	EL_T den = EL_SQRT(vi * bc2) + eps;
	EL_T upd = EL_DIV(mi * bc1, den);
	EL_T pi = p[i] * decay;

	m[i] = mi;
	v[i] = vi;
	p[i] = EL_FMA(-lr, upd, pi);
}

/* a + b (residual add, embedding add). */
FMATH_FN EL_T EL_(add)(EL_T a, EL_T b)
{
	return a + b;
}

/* Pseudo-gradient element: start - end. */
FMATH_FN EL_T EL_(delta)(EL_T start, EL_T end)
{
	return start - end;
}
