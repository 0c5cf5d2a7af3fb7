/*
 * merge.c - the DiLoCo outer step, the deterministic evaluation and the
 * text sampler (see merge.h for the exact formulas), plus the blob-store
 * wrapper the coordinator calls when a round is complete (merge_round(),
 * at the end of this file).
 */
#include "config.h"

#include "server-tools/merge.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "kernels/fmath.h"
#include "kernels/ref/gpt.h"
#include "server-tools/blobstore.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the merger reads and writes float32 little-endian buffers in place"
#endif

void merge_sum_add(float *sum, const float *delta, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sum[i] = sum[i] + delta[i];
}

void merge_apply(float *theta, float *momentum, const float *sum, size_t n_units, size_t n,
		 const struct merge_hyper *h)
{
	const float inv = 1.0f / (float)n_units;
	const float mu = (float)h->momentum;
	const float neg_lr = -(float)h->lr;
	size_t i;

	for (i = 0; i < n; i++) {
		float d = sum[i] * inv;
		float m = FMATH_FMA(mu, momentum[i], d);
		float g = FMATH_FMA(mu, m, d);

		momentum[i] = m;
		theta[i] = FMATH_FMA(neg_lr, g, theta[i]);
	}
}

int merge_outer_step(float *theta, float *momentum, const float *const *deltas, size_t n_units,
		     size_t n, const struct merge_hyper *h)
{
	float *sum;
	size_t u;

	if (n_units == 0)
		return ERROR_INVALID;
	sum = calloc(n ? n : 1, sizeof(float));
	if (!sum)
		return ERROR_NOMEM;
	for (u = 0; u < n_units; u++)
		merge_sum_add(sum, deltas[u], n);
	merge_apply(theta, momentum, sum, n_units, n, h);
	free(sum);
	return 0;
}

int merge_all_finite(const float *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((fmath_as_uint(buf[i]) & 0x7f800000u) == 0x7f800000u)
			return 0;
	return 1;
}

/* Scratch of one forward pass over B sequences. */
struct merge_fwd {
	float *acts;
	int *tokens, *targets;
	int B;
};

static int merge_fwd_init(struct merge_fwd *f, const struct model_config *cfg, int B,
			  struct error *err)
{
	size_t bt = (size_t)B * (size_t)cfg->n_ctx;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((rc = model_config_check(cfg, err)) < 0)
		return rc;
	if (cfg->kind != MODEL_GPT)
		return error_set(err, ERROR_INVALID, "model '%s' is not a gpt",
				 cfg->name ? cfg->name : "?");
	if ((rc = model_batch_check(cfg, B, err)) < 0)
		return rc;
	f->B = B;
	f->acts = calloc(model_act_floats(cfg, B), sizeof(float));
	f->tokens = calloc(bt, sizeof(int));
	f->targets = calloc(bt, sizeof(int));
	if (!f->acts || !f->tokens || !f->targets)
		return error_set(err, ERROR_NOMEM,
				 "cannot allocate the forward pass: out of memory");
	return 0;
}

static void merge_fwd_release(struct merge_fwd *f)
{
	free(f->acts);
	free(f->tokens);
	free(f->targets);
	memset(f, 0, sizeof(*f));
}

/* One evaluation worker: batches first, first + stride, ... of the eval,
 * each batch's mean loss into losses[batch]. */
struct merge_eval_job {
	const struct model_config *cfg;
	const float *params;
	const unsigned char *data;
	size_t len;
	int n_seq, B, n_batches, first, stride;
	float *losses;
	int rc;
	struct error err;
};

static void *merge_eval_worker(void *arg)
{
	struct merge_eval_job *j = arg;
	const int T = j->cfg->n_ctx;
	struct merge_fwd f;
	int bi;

	j->rc = merge_fwd_init(&f, j->cfg, j->B, &j->err);
	for (bi = j->first; j->rc == 0 && bi < j->n_batches; bi += j->stride) {
		int k0 = bi * j->B, B = j->n_seq - k0 < j->B ? j->n_seq - k0 : j->B, b, t;

		for (b = 0; b < B; b++) {
			size_t off = ((size_t)(k0 + b) * (size_t)T) % (j->len - (size_t)T);

			for (t = 0; t < T; t++) {
				f.tokens[b * T + t] = j->data[off + (size_t)t];
				f.targets[b * T + t] = j->data[off + (size_t)t + 1];
			}
		}
		j->losses[bi] = ref_gpt_forward(j->cfg, j->params, f.tokens, f.targets, B, f.acts);
	}
	merge_fwd_release(&f);
	return NULL;
}

/* Threads for the eval: the online CPUs, at most MERGE_EVAL_THREADS_MAX
 * and at most one per batch. */
static int merge_eval_threads(int n_batches)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n = cpus < 1 ? 1 : cpus > MERGE_EVAL_THREADS_MAX ? MERGE_EVAL_THREADS_MAX : (int)cpus;

	return n < n_batches ? n : n_batches;
}

int merge_eval(const struct model_config *cfg, const float *params, const unsigned char *data,
	       size_t len, int n_seq, double *loss, struct error *err)
{
	struct merge_eval_job jobs[MERGE_EVAL_THREADS_MAX];
	pthread_t tid[MERGE_EVAL_THREADS_MAX];
	int started[MERGE_EVAL_THREADS_MAX] = {0};
	const int T = cfg->n_ctx;
	int B = n_seq < MERGE_EVAL_BATCH ? n_seq : MERGE_EVAL_BATCH, n_batches, n_thr, i, rc = 0;
	double total = 0;
	float *losses;

	*loss = 0;
	if (n_seq < 1 || T < 1 || len < (size_t)T + 1)
		return error_set(err, ERROR_INVALID,
				 "cannot evaluate: %zu bytes of eval data for %d sequences of %d",
				 len, n_seq, T + 1);
	n_batches = (n_seq + B - 1) / B;
	n_thr = merge_eval_threads(n_batches);
	losses = calloc((size_t)n_batches, sizeof(float));
	if (!losses)
		return error_set(err, ERROR_NOMEM, "cannot evaluate: out of memory");
	for (i = 0; i < n_thr; i++) {
		struct merge_eval_job j = {cfg,       params, data,  len,    n_seq, B,
					   n_batches, i,      n_thr, losses, 0,     {0, ""}};

		jobs[i] = j;
		/* Thread 0 is this one; a thread that cannot start runs here. */
		started[i] =
		    i > 0 && pthread_create(&tid[i], NULL, merge_eval_worker, &jobs[i]) == 0;
	}
	for (i = 0; i < n_thr; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			merge_eval_worker(&jobs[i]);
	}
	for (i = 0; i < n_thr && rc == 0; i++)
		if ((rc = jobs[i].rc) < 0)
			error_set(err, rc, "%s", jobs[i].err.msg);
	/* The batch losses are summed in batch order whatever the threads. */
	for (i = 0; rc == 0 && i < n_batches; i++)
		total += (double)losses[i];
	if (rc == 0)
		*loss = total / (double)n_batches;
	free(losses);
	return rc;
}

static int merge_allowed(int c)
{
	return c == '\n' || (c >= 0x20 && c <= 0x7e);
}

/* Picks the next byte from one row of logits (MODEL_VOCAB floats). */
static int merge_pick(const float *logits, double temperature, uint64_t seed, uint64_t i)
{
	double w[MODEL_VOCAB], sum = 0, u, maxv = -INFINITY;
	int c, best = -1;

	for (c = 0; c < MODEL_VOCAB; c++)
		if (merge_allowed(c) && (best < 0 || logits[c] > logits[best]))
			best = c;
	if (temperature <= 0 || !isfinite(logits[best]))
		return best;
	maxv = logits[best];
	for (c = 0; c < MODEL_VOCAB; c++) {
		w[c] = merge_allowed(c) ? exp(((double)logits[c] - maxv) / temperature) : 0;
		sum += w[c];
	}
	u = (double)model_rng_uniform(seed, i) * sum;
	for (c = 0; c < MODEL_VOCAB; c++) {
		if (u < w[c])
			return c;
		u -= w[c];
	}
	return best;
}

/* The same model cut to a context of L <= T positions: every tensor is
 * copied, wpe only its first L rows (causal attention: positions 0..L-1
 * never see the others), into short (model_param_count(cfg) floats). */
static void merge_cut_context(const struct model_config *cfg, const float *params, int L,
			      struct model_config *cut, float *short_params)
{
	struct model_tensor a, b;
	int i, n;

	*cut = *cfg;
	cut->n_ctx = L;
	n = model_tensor_count(cfg);
	for (i = 0; i < n; i++) {
		if (model_tensor_get(cfg, i, &a) < 0 || model_tensor_get(cut, i, &b) < 0)
			continue;
		memcpy(short_params + b.offset, params + a.offset, b.rows * b.cols * sizeof(float));
	}
}

/* The logits row of the last of n_ctx context bytes (the model cut to
 * n_ctx positions unless it is the whole context). */
static const float *merge_next_logits(const struct model_config *cfg, const float *params,
				      const unsigned char *ctx, int n_ctx, struct merge_fwd *f,
				      float *short_params)
{
	struct model_config cut;
	struct gpt_acts_layout a;
	const struct model_config *use = cfg;
	const float *p = params;
	int t;

	if (n_ctx < cfg->n_ctx) {
		merge_cut_context(cfg, params, n_ctx, &cut, short_params);
		use = &cut;
		p = short_params;
	}
	for (t = 0; t < n_ctx; t++)
		f->tokens[t] = ctx[t];
	ref_gpt_forward(use, p, f->tokens, NULL, 1, f->acts);
	model_gpt_acts_layout(use, 1, &a);
	return f->acts + a.logits + (size_t)(n_ctx - 1) * MODEL_VOCAB;
}

int merge_sample(const struct model_config *cfg, const float *params, const unsigned char *prompt,
		 size_t prompt_len, int n_new, double temperature, uint64_t seed, char *out,
		 size_t cap, struct error *err)
{
	struct merge_fwd f;
	unsigned char *ctx = NULL;
	float *short_params = NULL;
	const int T = cfg->n_ctx;
	int i, rc, n_ctx;

	if (cap > 0)
		out[0] = '\0';
	if (prompt_len < 1 || n_new < 0 || n_new > MERGE_SAMPLE_MAX || cap < (size_t)n_new + 1)
		return error_set(err, ERROR_INVALID, "cannot sample %d bytes into %zu", n_new, cap);
	rc = merge_fwd_init(&f, cfg, 1, err);
	if (rc < 0)
		goto out;
	ctx = malloc((size_t)T);
	short_params = malloc(model_param_count(cfg) * sizeof(float));
	if (!ctx || !short_params) {
		rc = error_set(err, ERROR_NOMEM, "cannot sample: out of memory");
		goto out;
	}
	n_ctx = prompt_len < (size_t)T ? (int)prompt_len : T;
	memcpy(ctx, prompt + (prompt_len - (size_t)n_ctx), (size_t)n_ctx);
	for (i = 0; i < n_new; i++) {
		const float *logits = merge_next_logits(cfg, params, ctx, n_ctx, &f, short_params);
		int c = merge_pick(logits, temperature, seed, (uint64_t)i);

		out[i] = (char)c;
		if (n_ctx == T)
			memmove(ctx, ctx + 1, (size_t)--n_ctx);
		ctx[n_ctx++] = (unsigned char)c;
	}
	out[n_new] = '\0';
	rc = n_new;
out:
	free(ctx);
	free(short_params);
	merge_fwd_release(&f);
	return rc;
}

int merge_blob_read(const struct blobstore *bs, const struct hash *h, size_t want_len,
		    unsigned char **raw, size_t *len, struct error *err)
{
	struct blob_caps caps = {want_len, BLOB_DEFAULT_MAX_RATIO, h};
	struct blob_header hdr;
	unsigned char *buf = NULL;
	size_t buf_len = 0, cap = want_len + want_len / 64 + 4096;
	uint64_t size;
	char hex[HASH_HEX_LEN + 1];
	int fd = -1, rc;

	*raw = NULL;
	*len = 0;
	hash_to_hex(h, hex);
	rc = blobstore_get(bs, h, &fd, &size, err);
	if (rc < 0)
		return rc;
	if (size > cap) {
		rc = error_set(err, ERROR_RANGE, "blob '%s': %llu stored bytes for %zu raw", hex,
			       (unsigned long long)size, want_len);
		goto out;
	}
	rc = fileio_read_fd(fd, hex, cap, &buf, &buf_len, err);
	if (rc < 0)
		goto out;
	rc = blob_peek_header(&hdr, buf, buf_len, err);
	if (rc < 0)
		goto out;
	if (hdr.raw_size != want_len) {
		rc = error_set(err, ERROR_RANGE, "blob '%s': %llu bytes, want %zu", hex,
			       (unsigned long long)hdr.raw_size, want_len);
		goto out;
	}
	rc = blob_decode_mem(buf, buf_len, &caps, raw, len, NULL, err);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int merge_load_floats(const struct blobstore *bs, const struct hash *h, size_t n, float *dst,
			     struct error *err)
{
	unsigned char *raw;
	size_t len;
	int rc;

	rc = merge_blob_read(bs, h, n * sizeof(float), &raw, &len, err);
	if (rc < 0)
		return rc;
	memcpy(dst, raw, len);
	free(raw);
	if (!merge_all_finite(dst, n)) {
		char hex[HASH_HEX_LEN + 1];

		hash_to_hex(h, hex);
		return error_set(err, ERROR_RANGE, "blob '%s': not finite", hex);
	}
	return 0;
}

int merge_round(struct blobstore *bs, const struct merge_round_in *in, struct merge_round_out *out,
		struct error *err)
{
	size_t n = model_param_count(in->cfg), u;
	float *theta = calloc(n, sizeof(float)), *mom = calloc(n, sizeof(float));
	float *sum = calloc(n, sizeof(float)), *delta = calloc(n, sizeof(float));
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!theta || !mom || !sum || !delta) {
		rc = error_set(err, ERROR_NOMEM, "cannot merge: out of memory");
		goto out;
	}
	if (in->n_units == 0) {
		rc = error_set(err, ERROR_INVALID, "cannot merge a round without results");
		goto out;
	}
	if ((rc = merge_load_floats(bs, &in->theta, n, theta, err)) < 0 ||
	    (in->momentum && (rc = merge_load_floats(bs, in->momentum, n, mom, err)) < 0))
		goto out;
	for (u = 0; u < in->n_units; u++) {
		if ((rc = merge_load_floats(bs, &in->deltas[u], n, delta, err)) < 0)
			goto out;
		merge_sum_add(sum, delta, n);
	}
	merge_apply(theta, mom, sum, in->n_units, n, &in->hyper);
	if ((rc = merge_eval(in->cfg, theta, in->eval_data, in->eval_len, in->eval_seqs,
			     &out->eval_loss, err)) < 0 ||
	    (rc = blobstore_put_mem(bs, theta, n * sizeof(float), BLOB_CODEC_ZLIB, &out->theta,
				    NULL, err)) < 0 ||
	    (rc = blobstore_put_mem(bs, mom, n * sizeof(float), BLOB_CODEC_ZLIB, &out->momentum,
				    NULL, err)) < 0)
		goto out;
out:
	free(theta);
	free(mom);
	free(sum);
	free(delta);
	return rc;
}

int merge_genesis(struct blobstore *bs, const struct model_config *cfg, uint64_t seed,
		  const unsigned char *eval_data, size_t eval_len, int eval_seqs,
		  struct merge_round_out *out, struct error *err)
{
	size_t n = model_param_count(cfg);
	float *theta = calloc(n, sizeof(float)), *mom = calloc(n, sizeof(float));
	int rc;

	memset(out, 0, sizeof(*out));
	if (!theta || !mom) {
		rc = error_set(err, ERROR_NOMEM, "cannot make the initial model: out of memory");
		goto out;
	}
	model_init_params(cfg, seed, theta);
	if ((rc = merge_eval(cfg, theta, eval_data, eval_len, eval_seqs, &out->eval_loss, err)) <
		0 ||
	    (rc = blobstore_put_mem(bs, theta, n * sizeof(float), BLOB_CODEC_ZLIB, &out->theta,
				    NULL, err)) < 0 ||
	    (rc = blobstore_put_mem(bs, mom, n * sizeof(float), BLOB_CODEC_ZLIB, &out->momentum,
				    NULL, err)) < 0)
		goto out;
out:
	free(theta);
	free(mom);
	return rc;
}
