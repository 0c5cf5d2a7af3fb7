/*
 * lineage.c - re-derives a job's model versions from their manifests and
 * blobs, naming the first broken link (see lineage.h).
 */
#include "config.h"

#include "server-tools/lineage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fileio.h"
#include "kernels/model.h"
#include "server-tools/blobstore.h"
#include "server-tools/merge.h"
#include "server-tools/validate.h"
#include "workunits/blob.h"
#include "workunits/envelope.h"

/* The walk's state: the previous version and what must stay the same. */
struct lineage_walk {
	const struct model_config *cfg;
	size_t n; /* parameters */
	float *theta, *mom, *sum, *delta;
	struct hash prev_id;
	char job[UNIT_JOB_MAX + 1];
	char preset[UNIT_PRESET_MAX + 1];
	const struct lineage_blobs *blobs;
	unsigned flags;
	size_t results;
};

/* Fetches blob h of exactly want bytes (want 0: any size up to max) and
 * checks its hash. what names it in messages. */
static int lineage_fetch(struct lineage_walk *w, uint64_t r, const char *what, const struct hash *h,
			 size_t want, size_t max, unsigned char **raw, size_t *len,
			 struct error *err)
{
	char hex[HASH_HEX_LEN + 1];
	struct error e;
	struct hash got;
	int rc;

	*raw = NULL;
	hash_to_hex(h, hex);
	error_clear(&e);
	rc = w->blobs->get(w->blobs->ctx, h, want ? want : max, raw, len, &e);
	if (rc < 0)
		return error_set(err, rc, "round %llu: %s blob %s: %s", (unsigned long long)r, what,
				 hex, e.msg[0] ? e.msg : error_name(rc));
	hash_buf(&got, *raw, *len);
	if (!hash_equal(&got, h))
		rc = error_set(err, ERROR_HASH, "round %llu: %s blob %s: content hash mismatch",
			       (unsigned long long)r, what, hex);
	else if (want && *len != want)
		rc = error_set(err, ERROR_RANGE, "round %llu: %s blob %s: %zu bytes, want %zu",
			       (unsigned long long)r, what, hex, *len, want);
	if (rc < 0) {
		free(*raw);
		*raw = NULL;
	}
	return rc;
}

static int lineage_fetch_floats(struct lineage_walk *w, uint64_t r, const char *what,
				const struct hash *h, float *dst, struct error *err)
{
	unsigned char *raw;
	size_t len;
	int rc;

	rc = lineage_fetch(w, r, what, h, w->n * sizeof(float), 0, &raw, &len, err);
	if (rc < 0)
		return rc;
	memcpy(dst, raw, len);
	free(raw);
	return 0;
}

static int lineage_hash_check(uint64_t r, const char *what, const struct hash *says,
			      const void *buf, size_t len, struct error *err)
{
	char a[HASH_HEX_LEN + 1], b[HASH_HEX_LEN + 1];
	struct hash got;

	hash_buf(&got, buf, len);
	if (hash_equal(&got, says))
		return 0;
	hash_to_hex(says, a);
	hash_to_hex(&got, b);
	return error_set(err, ERROR_HASH,
			 "round %llu: %s hash mismatch: manifest says %s, "
			 "re-derived %s",
			 (unsigned long long)r, what, a, b);
}

/* Round 0: the initial model as given, a zero momentum, no results. */
static int lineage_genesis(struct lineage_walk *w, const struct manifest *m, struct error *err)
{
	size_t i;
	int rc;

	if (m->n_results != 0)
		return error_set(err, ERROR_FORMAT, "round 0: lists %zu results, want none",
				 m->n_results);
	if ((rc = lineage_fetch_floats(w, 0, "model", &m->model, w->theta, err)) < 0 ||
	    (rc = lineage_fetch_floats(w, 0, "momentum", &m->momentum, w->mom, err)) < 0)
		return rc;
	if (!merge_all_finite(w->theta, w->n))
		return error_set(err, ERROR_RANGE, "round 0: model is not finite");
	for (i = 0; i < w->n; i++)
		if (w->mom[i] != 0)
			return error_set(err, ERROR_RANGE, "round 0: momentum is not zero");
	return 0;
}

/* Round r > 0: re-derives θ_r and m_r from the previous ones. */
static int lineage_step(struct lineage_walk *w, const struct manifest *m, struct error *err)
{
	struct validate_params vp = {VALIDATE_EXACT, 0, w->n, 1, 0};
	struct merge_hyper hy = {m->outer_lr, m->outer_momentum};
	size_t i;
	int rc;

	if (m->n_results == 0)
		return error_set(err, ERROR_FORMAT, "round %llu: lists no results",
				 (unsigned long long)m->round);
	memset(w->sum, 0, w->n * sizeof(float));
	for (i = 0; i < m->n_results; i++) {
		const struct manifest_result *res = &m->results[i];
		enum validate_reason why;
		char what[48];

		snprintf(what, sizeof(what), "result %zu (unit %llu)", i,
			 (unsigned long long)res->unit);
		rc = lineage_fetch_floats(w, m->round, what, &res->output, w->delta, err);
		if (rc < 0)
			return rc;
		why = validate_delta(&vp, &res->output, (const unsigned char *)w->delta,
				     w->n * sizeof(float));
		if (why != VALIDATE_REASON_NONE)
			return error_set(err, ERROR_RANGE, "round %llu: %s: invalid delta (%s)",
					 (unsigned long long)m->round, what,
					 validate_reason_name(why));
		merge_sum_add(w->sum, w->delta, w->n);
		w->results++;
	}
	merge_apply(w->theta, w->mom, w->sum, m->n_results, w->n, &hy);
	if ((rc = lineage_hash_check(m->round, "model", &m->model, w->theta, w->n * sizeof(float),
				     err)) < 0 ||
	    (rc = lineage_hash_check(m->round, "momentum", &m->momentum, w->mom,
				     w->n * sizeof(float), err)) < 0)
		return rc;
	/* The published blobs must be there and whole too (same hash as the
	 * re-derived bytes, so same bytes). */
	if ((rc = lineage_fetch_floats(w, m->round, "model", &m->model, w->delta, err)) < 0 ||
	    (rc = lineage_fetch_floats(w, m->round, "momentum", &m->momentum, w->delta, err)) < 0)
		return rc;
	return 0;
}

static int lineage_eval(struct lineage_walk *w, const struct manifest *m, struct error *err)
{
	unsigned char *data;
	size_t len;
	double loss;
	int rc;

	if (w->flags & LINEAGE_NO_EVAL)
		return 0;
	rc = lineage_fetch(w, m->round, "eval data", &m->eval_data, 0, LINEAGE_EVAL_MAX, &data,
			   &len, err);
	if (rc < 0)
		return rc;
	rc = merge_eval(w->cfg, w->theta, data, len, (int)m->eval_sequences, &loss, err);
	free(data);
	if (rc < 0)
		return rc;
	if (loss != m->eval_loss)
		return error_set(err, ERROR_RANGE,
				 "round %llu: eval loss mismatch: manifest says %.17g, "
				 "re-evaluated %.17g",
				 (unsigned long long)m->round, m->eval_loss, loss);
	return 0;
}

/* Checks what a manifest says about its place in the chain. */
static int lineage_link(struct lineage_walk *w, size_t r, const struct manifest *m,
			struct error *err)
{
	char a[HASH_HEX_LEN + 1], b[HASH_HEX_LEN + 1];
	struct hash zero;

	if (m->round != r)
		return error_set(err, ERROR_FORMAT, "round %zu: manifest says round %llu", r,
				 (unsigned long long)m->round);
	if (r == 0) {
		w->cfg = model_preset_find(m->preset);
		if (!w->cfg || w->cfg->kind != MODEL_GPT)
			return error_set(err, ERROR_FORMAT, "round 0: unknown gpt preset '%s'",
					 m->preset);
		memcpy(w->job, m->job, sizeof(w->job));
		memcpy(w->preset, m->preset, sizeof(w->preset));
		memset(&zero, 0, sizeof(zero));
		w->prev_id = zero;
	}
	if (strcmp(m->job, w->job) != 0 || strcmp(m->preset, w->preset) != 0)
		return error_set(err, ERROR_FORMAT,
				 "round %zu: job '%s' preset '%s' differ from round 0's", r, m->job,
				 m->preset);
	if (!hash_equal(&m->parent, &w->prev_id)) {
		hash_to_hex(&m->parent, a);
		hash_to_hex(&w->prev_id, b);
		return error_set(err, ERROR_HASH,
				 "round %zu: parent link broken: manifest says %s, want %s", r, a,
				 b);
	}
	return 0;
}

static int lineage_walk_alloc(struct lineage_walk *w, struct error *err)
{
	w->n = model_param_count(w->cfg);
	w->theta = calloc(w->n, sizeof(float));
	w->mom = calloc(w->n, sizeof(float));
	w->sum = calloc(w->n, sizeof(float));
	w->delta = calloc(w->n, sizeof(float));
	if (!w->theta || !w->mom || !w->sum || !w->delta)
		return error_set(err, ERROR_NOMEM, "cannot audit: out of memory");
	return 0;
}

static int lineage_one(struct lineage_walk *w, size_t r, const unsigned char *env, size_t len,
		       const struct key_public *coord, struct manifest *m, struct hash *id,
		       struct error *err)
{
	struct error e;
	int rc;

	error_clear(&e);
	rc = manifest_open(m, id, env, len, coord, &e);
	if (rc < 0)
		return error_set(err, rc, "round %zu: %s", r, e.msg);
	if ((rc = lineage_link(w, r, m, err)) < 0)
		return rc;
	if (r == 0 && (rc = lineage_walk_alloc(w, err)) < 0)
		return rc;
	rc = r == 0 ? lineage_genesis(w, m, err) : lineage_step(w, m, err);
	if (rc < 0)
		return rc;
	return lineage_eval(w, m, err);
}

int lineage_verify(const unsigned char *const *envs, const size_t *env_lens, size_t n,
		   const struct key_public *coord, const struct lineage_blobs *blobs,
		   const struct lineage_opts *opts, struct lineage_report *rep, struct error *err)
{
	struct lineage_walk w;
	struct manifest m;
	struct hash id;
	size_t r;
	int rc = 0;

	memset(rep, 0, sizeof(*rep));
	memset(&w, 0, sizeof(w));
	w.blobs = blobs;
	w.flags = opts ? opts->flags : 0;
	manifest_init(&m);
	if (n == 0)
		return error_set(err, ERROR_NOT_FOUND, "no manifests to audit");
	for (r = 0; r < n; r++) {
		rc = lineage_one(&w, r, envs[r], env_lens[r], coord, &m, &id, err);
		if (rc < 0)
			break;
		w.prev_id = id;
		rep->rounds = r + 1;
		rep->results = w.results;
		rep->tip = id;
		rep->last_loss = m.eval_loss;
		if (opts && opts->on_round)
			opts->on_round(opts->ctx, &m, &id);
	}
	manifest_release(&m);
	free(w.theta);
	free(w.mom);
	free(w.sum);
	free(w.delta);
	return rc;
}

int lineage_dir_blob(void *ctx, const struct hash *h, size_t max, unsigned char **raw, size_t *len,
		     struct error *err)
{
	struct blob_caps caps = {max, BLOB_DEFAULT_MAX_RATIO, h};
	char path[FILEIO_PATH_MAX], hex[HASH_HEX_LEN + 1];
	unsigned char *buf;
	size_t buf_len;
	int rc;

	hash_to_hex(h, hex);
	if ((size_t)snprintf(path, sizeof(path), "%s/blobs/%s", (const char *)ctx, hex) >=
	    sizeof(path))
		return error_set(err, ERROR_TOO_BIG, "path too long");
	rc = fileio_read_all(path, max + max / 64 + 4096, &buf, &buf_len, err);
	if (rc < 0)
		return rc;
	rc = blob_decode_mem(buf, buf_len, &caps, raw, len, NULL, err);
	free(buf);
	return rc;
}

int lineage_store_blob(void *ctx, const struct hash *h, size_t max, unsigned char **raw,
		       size_t *len, struct error *err)
{
	struct blob_caps caps = {max, BLOB_DEFAULT_MAX_RATIO, h};
	unsigned char *buf = NULL;
	size_t buf_len;
	uint64_t size;
	int fd, rc;

	rc = blobstore_get(ctx, h, &fd, &size, err);
	if (rc < 0)
		return rc;
	rc = fileio_read_fd(fd, "blob", max + max / 64 + 4096, &buf, &buf_len, err);
	close(fd);
	if (rc == 0)
		rc = blob_decode_mem(buf, buf_len, &caps, raw, len, NULL, err);
	free(buf);
	return rc;
}

/* Reads DIR/manifests/round-*.env into arrays until the first gap. */
static int lineage_read_dir(const char *dir, unsigned char ***envs, size_t **lens, size_t *n,
			    struct error *err)
{
	char path[FILEIO_PATH_MAX];
	int rc;

	*envs = NULL;
	*lens = NULL;
	*n = 0;
	for (;;) {
		unsigned char *buf, **ne;
		size_t len, *nl;

		if ((size_t)snprintf(path, sizeof(path), "%s/manifests/round-%zu.env", dir, *n) >=
		    sizeof(path))
			return error_set(err, ERROR_TOO_BIG, "path too long");
		rc = fileio_read_all(path, ENVELOPE_MAX, &buf, &len, err);
		if (rc == ERROR_NOT_FOUND && *n > 0)
			return 0;
		if (rc < 0)
			return rc;
		ne = realloc(*envs, (*n + 1) * sizeof(*ne));
		if (ne)
			*envs = ne;
		nl = realloc(*lens, (*n + 1) * sizeof(*nl));
		if (nl)
			*lens = nl;
		if (!ne || !nl || *n >= LINEAGE_ROUNDS_MAX) {
			free(buf);
			return error_set(err, ERROR_NOMEM, "too many manifests in '%s'", dir);
		}
		(*envs)[*n] = buf;
		(*lens)[*n] = len;
		(*n)++;
	}
}

int lineage_verify_dir(const char *dir, const struct key_public *coord,
		       const struct lineage_opts *opts, struct lineage_report *rep,
		       struct error *err)
{
	struct lineage_blobs blobs = {lineage_dir_blob, (void *)(uintptr_t)dir};
	unsigned char **envs;
	size_t *lens, n, i;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = lineage_read_dir(dir, &envs, &lens, &n, err);
	if (rc == 0)
		rc = lineage_verify((const unsigned char *const *)envs, lens, n, coord, &blobs,
				    opts, rep, err);
	for (i = 0; i < n; i++)
		free(envs[i]);
	free(envs);
	free(lens);
	return rc;
}
