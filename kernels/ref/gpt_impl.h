/*
 * gpt_impl.h - the GPT forward and backward passes of the reference; a
 * template with no include guard, instantiated by gpt.c for float
 * (ref_gpt_*) and double (ref_gptd_*).
 *
 * The includer defines EL_T, EL_ (element functions), REF_ (ops loops) and
 * GPT_ (names made here). The order of operations is the model's
 * definition; docs/ENGINE.md lists it step by step.
 */

REF_HOT EL_T GPT_(forward)(const struct model_config *cfg, const EL_T *params, const int *tokens,
			   const int *targets, int B, EL_T *acts)
{
	struct gpt_layout lay;
	struct gpt_acts_layout al;
	int C = cfg->n_embd, T = cfg->n_ctx, NH = cfg->n_head, V = cfg->vocab;
	int BT = B * T;
	EL_T scale = (EL_T)(1.0 / sqrt((double)(C / NH)));
	EL_T *enc, *lnf;
	const EL_T *res;

	model_gpt_layout(cfg, &lay);
	model_gpt_acts_layout(cfg, B, &al);
	enc = acts + al.encoded;
	for (int bt = 0; bt < BT; bt++)
		for (int c = 0; c < C; c++)
			enc[bt * C + c] =
			    EL_(embed_fwd)(tokens, params + lay.wte, params + lay.wpe, T, C, bt, c);
	res = enc;
	for (int l = 0; l < cfg->n_layer; l++) {
		const EL_T *p = params + lay.layer0 + (size_t)l * lay.layer_size;
		EL_T *a = acts + al.layer0 + (size_t)l * al.layer_size;
		EL_T *tmp = acts + al.tmp;

		REF_(layernorm_fwd)
		(a + al.ln1, a + al.ln1_mean, a + al.ln1_rstd, res, p + lay.ln1w, p + lay.ln1b, BT,
		 C);
		REF_(matmul_fwd)(a + al.qkv, a + al.ln1, p + lay.qkvw, p + lay.qkvb, BT, 3 * C, C);
		for (int b = 0; b < B; b++)
			for (int h = 0; h < NH; h++)
				for (int t = 0; t < T; t++)
					EL_(attn_softmax)
					(a + al.qkv, a + al.att, T, C, NH, scale, b, h, t);
		for (int bt = 0; bt < BT; bt++)
			for (int c = 0; c < C; c++)
				a[al.atty + (size_t)(bt * C + c)] = EL_(attn_out)(
				    a + al.qkv, a + al.att, T, C, NH, bt / T, bt % T, c);
		REF_(matmul_fwd)(tmp, a + al.atty, p + lay.projw, p + lay.projb, BT, C, C);
		REF_(residual)(a + al.res2, res, tmp, BT * C);
		REF_(layernorm_fwd)
		(a + al.ln2, a + al.ln2_mean, a + al.ln2_rstd, a + al.res2, p + lay.ln2w,
		 p + lay.ln2b, BT, C);
		REF_(matmul_fwd)(a + al.fch, a + al.ln2, p + lay.fcw, p + lay.fcb, BT, 4 * C, C);
		REF_(gelu_fwd)(a + al.fchg, a + al.fch, BT * 4 * C);
		REF_(matmul_fwd)(tmp, a + al.fchg, p + lay.fcprojw, p + lay.fcprojb, BT, C, 4 * C);
		REF_(residual)(a + al.res3, a + al.res2, tmp, BT * C);
		res = a + al.res3;
	}
	lnf = acts + al.lnf;
	REF_(layernorm_fwd)
	(lnf, acts + al.lnf_mean, acts + al.lnf_rstd, res, params + lay.lnfw, params + lay.lnfb, BT,
	 C);
	REF_(matmul_fwd)(acts + al.logits, lnf, params + lay.wte, NULL, BT, V, C);
	if (!targets)
		return (EL_T)0.0f;
	return REF_(ce_fwd)(acts + al.ce_stats, acts + al.losses, acts + al.logits, targets, BT, V);
}

/* Backward of one block l; d_res holds dL/d(layer output) on entry and
 * dL/d(layer input) on exit. */
REF_HOT static void GPT_(block_backward)(const struct model_config *cfg,
					 const struct gpt_layout *lay,
					 const struct gpt_acts_layout *al, const EL_T *params,
					 int B, EL_T *acts, EL_T *grads, int l)
{
	int C = cfg->n_embd, T = cfg->n_ctx, NH = cfg->n_head, BT = B * T;
	EL_T scale = (EL_T)(1.0 / sqrt((double)(C / NH)));
	size_t po = lay->layer0 + (size_t)l * lay->layer_size;
	const EL_T *p = params + po;
	EL_T *g = grads + po;
	EL_T *a = acts + al->layer0 + (size_t)l * al->layer_size;
	const EL_T *res_in = l == 0
				 ? acts + al->encoded
				 : acts + al->layer0 + (size_t)(l - 1) * al->layer_size + al->res3;
	EL_T *d_res = acts + al->d_res, *d_ln = acts + al->d_ln, *d_atty = acts + al->d_atty;
	EL_T *d_qkv = acts + al->d_qkv, *d_pre = acts + al->d_pre;
	EL_T *d_fchg = acts + al->d_fchg, *d_fch = acts + al->d_fch, *st = acts + al->ln_stats;

	/* MLP half */
	REF_(matmul_bwd)
	(d_fchg, g + lay->fcprojw, g + lay->fcprojb, d_res, a + al->fchg, p + lay->fcprojw, BT, C,
	 4 * C);
	REF_(gelu_bwd)(d_fch, a + al->fch, d_fchg, BT * 4 * C);
	REF_(matmul_bwd)
	(d_ln, g + lay->fcw, g + lay->fcb, d_fch, a + al->ln2, p + lay->fcw, BT, 4 * C, C);
	REF_(layernorm_bwd)
	(d_res, g + lay->ln2w, g + lay->ln2b, st, d_ln, a + al->res2, a + al->ln2_mean,
	 a + al->ln2_rstd, p + lay->ln2w, BT, C, 1);
	/* attention half */
	REF_(matmul_bwd)
	(d_atty, g + lay->projw, g + lay->projb, d_res, a + al->atty, p + lay->projw, BT, C, C);
	for (int b = 0; b < B; b++)
		for (int h = 0; h < NH; h++)
			for (int t = 0; t < T; t++)
				EL_(attn_bwd_row)
				(d_atty, a + al->qkv, a + al->att, d_pre, T, C, NH, scale, b, h, t);
	for (int bt = 0; bt < BT; bt++)
		for (int c3 = 0; c3 < 3 * C; c3++)
			d_qkv[bt * 3 * C + c3] = EL_(attn_bwd_dqkv)(
			    d_pre, a + al->att, d_atty, a + al->qkv, T, C, NH, bt / T, bt % T, c3);
	REF_(matmul_bwd)
	(d_ln, g + lay->qkvw, g + lay->qkvb, d_qkv, a + al->ln1, p + lay->qkvw, BT, 3 * C, C);
	REF_(layernorm_bwd)
	(d_res, g + lay->ln1w, g + lay->ln1b, st, d_ln, res_in, a + al->ln1_mean, a + al->ln1_rstd,
	 p + lay->ln1w, BT, C, 1);
}

REF_HOT void GPT_(backward)(const struct model_config *cfg, const EL_T *params, const int *tokens,
			    const int *targets, int B, EL_T *acts, EL_T *grads)
{
	struct gpt_layout lay;
	struct gpt_acts_layout al;
	int C = cfg->n_embd, T = cfg->n_ctx, V = cfg->vocab, L = cfg->n_layer, BT = B * T;
	EL_T *dlogits;
	const EL_T *res_last;

	model_gpt_layout(cfg, &lay);
	model_gpt_acts_layout(cfg, B, &al);
	dlogits = acts + al.d_logits;
	res_last = acts + al.layer0 + (size_t)(L - 1) * al.layer_size + al.res3;
	REF_(ce_bwd)(dlogits, acts + al.logits, targets, acts + al.ce_stats, BT, V);
	/* d(lnf out) = dlogits . wte; the head's wte gradient is folded into
	 * wte_grad below */
	REF_(matmul_bwd)(acts + al.d_ln, NULL, NULL, dlogits, NULL, params + lay.wte, BT, V, C);
	REF_(layernorm_bwd)
	(acts + al.d_res, grads + lay.lnfw, grads + lay.lnfb, acts + al.ln_stats, acts + al.d_ln,
	 res_last, acts + al.lnf_mean, acts + al.lnf_rstd, params + lay.lnfw, BT, C, 0);
	for (int l = L - 1; l >= 0; l--)
		GPT_(block_backward)(cfg, &lay, &al, params, B, acts, grads, l);
	for (int t = 0; t < T; t++)
		for (int c = 0; c < C; c++)
			grads[lay.wpe + (size_t)(t * C + c)] =
			    EL_(wpe_grad)(acts + al.d_res, B, T, C, t, c);
	for (int v = 0; v < V; v++)
		for (int c = 0; c < C; c++)
			grads[lay.wte + (size_t)(v * C + c)] = EL_(wte_grad)(
			    dlogits, acts + al.lnf, acts + al.d_res, tokens, BT, V, C, v, c);
}
