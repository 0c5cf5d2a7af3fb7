/*
 * ops_impl.h - reference loops over the per-element operations; a
 * template with no include guard, instantiated by ops.c for float
 * (ref_* names) and double (refd_* names).
 *
 * The includer defines EL_T, EL_ (element functions, see elem_body.h) and
 * REF_ (the names made here). Every loop visits output elements in row-
 * major order; the order of visits never changes a result, since each
 * element is computed independently by its element function.
 */

REF_HOT void REF_(matmul_fwd)(EL_T *y, const EL_T *x, const EL_T *w, const EL_T *b, int M, int N,
			      int K)
{
	for (int m = 0; m < M; m++)
		for (int n = 0; n < N; n++)
			y[m * N + n] = EL_(matmul_fwd)(x, w, b, K, m, n);
}

REF_HOT void REF_(matmul_bwd)(EL_T *dx, EL_T *dw, EL_T *db, const EL_T *dy, const EL_T *x,
			      const EL_T *w, int M, int N, int K)
{
	if (dx)
		for (int m = 0; m < M; m++)
			for (int k = 0; k < K; k++)
				dx[m * K + k] = EL_(matmul_dx)(dy, w, N, K, m, k);
	if (dw)
		for (int n = 0; n < N; n++)
			for (int k = 0; k < K; k++)
				dw[n * K + k] = EL_(matmul_dw)(dy, x, M, N, K, n, k);
	if (db)
		for (int n = 0; n < N; n++)
			db[n] = EL_(matmul_db)(dy, M, N, n);
}

REF_HOT void REF_(layernorm_fwd)(EL_T *y, EL_T *mean, EL_T *rstd, const EL_T *x, const EL_T *w,
				 const EL_T *b, int M, int C)
{
	EL_T inv_c = (EL_T)1.0f / (EL_T)C;

	for (int m = 0; m < M; m++)
		EL_(layernorm_stats)(x, mean, rstd, C, inv_c, (EL_T)REF_LN_EPS, m);
	for (int m = 0; m < M; m++)
		for (int i = 0; i < C; i++)
			y[m * C + i] = EL_(layernorm_fwd)(x, mean, rstd, w, b, C, m, i);
}

REF_HOT void REF_(layernorm_bwd)(EL_T *dx, EL_T *dw, EL_T *db, EL_T *stats, const EL_T *dy,
				 const EL_T *x, const EL_T *mean, const EL_T *rstd, const EL_T *w,
				 int M, int C, int accumulate)
{
	EL_T inv_c = (EL_T)1.0f / (EL_T)C;

	for (int m = 0; m < M; m++)
		EL_(layernorm_bwd_stats)(dy, x, mean, rstd, w, stats, C, inv_c, m);
	for (int m = 0; m < M; m++)
		for (int i = 0; i < C; i++) {
			EL_T g = EL_(layernorm_bwd_dx)(dy, x, mean, rstd, w, stats, C, m, i);
			dx[m * C + i] = accumulate ? EL_(add)(dx[m * C + i], g) : g;
		}
	for (int i = 0; i < C; i++) {
		dw[i] = EL_(layernorm_bwd_dw)(dy, x, mean, rstd, M, C, i);
		db[i] = EL_(layernorm_bwd_db)(dy, M, C, i);
	}
}

REF_HOT void REF_(gelu_fwd)(EL_T *y, const EL_T *x, int n)
{
	for (int i = 0; i < n; i++)
		y[i] = EL_(gelu_fwd)(x[i]);
}

REF_HOT void REF_(gelu_bwd)(EL_T *dx, const EL_T *x, const EL_T *dy, int n)
{
	for (int i = 0; i < n; i++)
		dx[i] = EL_(gelu_bwd)(x[i], dy[i]);
}

REF_HOT void REF_(residual)(EL_T *y, const EL_T *a, const EL_T *b, int n)
{
	for (int i = 0; i < n; i++)
		y[i] = EL_(add)(a[i], b[i]);
}

REF_HOT EL_T REF_(ce_fwd)(EL_T *stats, EL_T *losses, const EL_T *logits, const int *targets, int M,
			  int V)
{
	for (int m = 0; m < M; m++)
		EL_(ce_row)(logits, targets, stats, losses, V, m);
	return EL_(sum_ordered)(losses, M) * ((EL_T)1.0f / (EL_T)M);
}

REF_HOT void REF_(ce_bwd)(EL_T *dlogits, const EL_T *logits, const int *targets, const EL_T *stats,
			  int M, int V)
{
	EL_T inv_n = (EL_T)1.0f / (EL_T)M;

	for (int m = 0; m < M; m++)
		for (int v = 0; v < V; v++)
			dlogits[m * V + v] =
			    EL_(ce_dlogits)(logits, targets, stats, V, inv_n, m, v);
}
