/*
 * mlp_impl.h - the MLP forward and backward passes of the reference; a
 * template with no include guard, instantiated by mlp.c for float
 * (ref_mlp_*) and double (ref_mlpd_*). The includer defines EL_T, REF_
 * (ops loops) and MLP_ (names made here).
 *
 * Layer i: pre = in . W_i^T + b_i; hidden layers: out = gelu(pre); the
 * last layer's pre are the logits; loss = mean softmax cross-entropy.
 */

EL_T MLP_(forward)(const struct model_config *cfg, const EL_T *params, const EL_T *x,
		   const int *labels, int B, EL_T *acts)
{
	struct mlp_layout lay;
	struct mlp_acts_layout al;
	const EL_T *in = x;
	int last;

	model_mlp_layout(cfg, &lay);
	model_mlp_acts_layout(cfg, B, &al);
	last = lay.n_layers - 1;
	for (int i = 0; i < lay.n_layers; i++) {
		REF_(matmul_fwd)
		(acts + al.pre[i], in, params + lay.w[i], params + lay.b[i], B, lay.dout[i],
		 lay.din[i]);
		if (i < last) {
			REF_(gelu_fwd)(acts + al.out[i], acts + al.pre[i], B * lay.dout[i]);
			in = acts + al.out[i];
		}
	}
	if (!labels)
		return (EL_T)0.0f;
	return REF_(ce_fwd)(acts + al.ce_stats, acts + al.losses, acts + al.pre[last], labels, B,
			    lay.dout[last]);
}

void MLP_(backward)(const struct model_config *cfg, const EL_T *params, const EL_T *x,
		    const int *labels, int B, EL_T *acts, EL_T *grads)
{
	struct mlp_layout lay;
	struct mlp_acts_layout al;
	int last;

	model_mlp_layout(cfg, &lay);
	model_mlp_acts_layout(cfg, B, &al);
	last = lay.n_layers - 1;
	REF_(ce_bwd)
	(acts + al.dpre[last], acts + al.pre[last], labels, acts + al.ce_stats, B, lay.dout[last]);
	for (int i = last; i >= 0; i--) {
		const EL_T *in = i == 0 ? x : acts + al.out[i - 1];
		EL_T *din = i == 0 ? NULL : acts + al.dout[i - 1];

		REF_(matmul_bwd)
		(din, grads + lay.w[i], grads + lay.b[i], acts + al.dpre[i], in, params + lay.w[i],
		 B, lay.dout[i], lay.din[i]);
		if (i > 0)
			REF_(gelu_bwd)
			(acts + al.dpre[i - 1], acts + al.pre[i - 1], din, B * lay.dout[i - 1]);
	}
}
