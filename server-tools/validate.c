/*
 * validate.c - replica validation: each Δ on its own, then agreement by
 * output hash (exact mode) or relative L2 distance (tolerance mode), then
 * the strict-majority rule (see validate.h).
 */
#include "config.h"

#include "server-tools/validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/merge.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the validator reads float32 little-endian buffers in place"
#endif

const char *validate_reason_name(enum validate_reason r)
{
	switch (r) {
	case VALIDATE_REASON_NONE:
		return "";
	case VALIDATE_UNDECODABLE:
		return "undecodable";
	case VALIDATE_WRONG_SHAPE:
		return "wrong_shape";
	case VALIDATE_NON_FINITE:
		return "non_finite";
	case VALIDATE_ZERO_DELTA:
		return "zero_delta";
	case VALIDATE_DISAGREE:
		return "disagree";
	}
	return "unknown";
}

const char *validate_verdict_name(enum validate_verdict v)
{
	switch (v) {
	case VALIDATE_CANONICAL:
		return "canonical";
	case VALIDATE_NEED_MORE:
		return "need_more";
	case VALIDATE_FAILED:
		return "failed";
	}
	return "unknown";
}

enum validate_reason validate_delta(const struct validate_params *p, const struct hash *output,
				    const unsigned char *delta, size_t delta_len)
{
	struct hash h;
	int nonzero = 0;
	size_t i;

	if (!delta)
		return VALIDATE_UNDECODABLE;
	hash_buf(&h, delta, delta_len);
	if (!hash_equal(&h, output))
		return VALIDATE_UNDECODABLE;
	if (p->n_params == 0 || delta_len != p->n_params * sizeof(float))
		return VALIDATE_WRONG_SHAPE;
	for (i = 0; i < p->n_params; i++) {
		uint32_t u;

		memcpy(&u, delta + i * sizeof(float), sizeof(u));
		if ((u & 0x7f800000u) == 0x7f800000u)
			return VALIDATE_NON_FINITE;
		nonzero |= (u & 0x7fffffffu) != 0;
	}
	return nonzero ? VALIDATE_REASON_NONE : VALIDATE_ZERO_DELTA;
}

/* The distance over two float32 buffers given as bytes (any alignment). */
static double validate_rel_l2_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	double d2 = 0, a2 = 0, b2 = 0, den;
	size_t i;

	for (i = 0; i < n; i++) {
		float fa, fb;
		double x, y, d;

		memcpy(&fa, a + i * sizeof(float), sizeof(float));
		memcpy(&fb, b + i * sizeof(float), sizeof(float));
		x = fa;
		y = fb;
		d = x - y;

		d2 += d * d;
		a2 += x * x;
		b2 += y * y;
	}
	den = sqrt(a2 > b2 ? a2 : b2);
	if (den == 0)
		return d2 == 0 ? 0 : INFINITY;
	return sqrt(d2) / den;
}

double validate_rel_l2(const float *a, const float *b, size_t n)
{
	return validate_rel_l2_bytes((const unsigned char *)a, (const unsigned char *)b, n);
}

static int validate_agree(const struct validate_params *p, const struct validate_replica *a,
			  const struct validate_replica *b)
{
	if (p->mode == VALIDATE_EXACT)
		return hash_equal(&a->output, &b->output);
	return validate_rel_l2_bytes(a->delta, b->delta, p->n_params) < p->tolerance;
}

/* 1 when reps[j] has a lower id than reps[i] (ties: lower index). */
static int validate_before(const struct validate_replica *reps, size_t j, size_t i)
{
	return reps[j].result_id < reps[i].result_id ||
	       (reps[j].result_id == reps[i].result_id && j < i);
}

/* Finds the largest agreeing group; *centre is its centre. */
static size_t validate_best_group(const struct validate_params *p,
				  const struct validate_replica *reps, size_t n, size_t *centre)
{
	size_t best = 0, i, j;

	for (i = 0; i < n; i++) {
		size_t size = 0;

		if (reps[i].reason != VALIDATE_REASON_NONE)
			continue;
		for (j = 0; j < n; j++)
			if (reps[j].reason == VALIDATE_REASON_NONE &&
			    (i == j || validate_agree(p, &reps[i], &reps[j])))
				size++;
		if (size > best || (size == best && validate_before(reps, i, *centre))) {
			best = size;
			*centre = i;
		}
	}
	return best;
}

/* Marks the winning group valid, the other valid results "disagree", and
 * picks the canonical result. */
static size_t validate_mark(const struct validate_params *p, struct validate_replica *reps,
			    size_t n, size_t centre)
{
	size_t canonical = centre, j;

	for (j = 0; j < n; j++) {
		if (reps[j].reason != VALIDATE_REASON_NONE)
			continue;
		if (j == centre || validate_agree(p, &reps[centre], &reps[j])) {
			reps[j].valid = 1;
			if (p->mode == VALIDATE_EXACT && validate_before(reps, j, canonical))
				canonical = j;
		}
	}
	for (j = 0; j < n; j++)
		if (reps[j].reason == VALIDATE_REASON_NONE && !reps[j].valid)
			reps[j].reason = VALIDATE_DISAGREE;
	return canonical;
}

int validate_unit(const struct validate_params *p, struct validate_replica *reps, size_t n,
		  struct validate_outcome *out, struct error *err)
{
	size_t i, centre = 0;

	memset(out, 0, sizeof(*out));
	out->verdict = VALIDATE_NEED_MORE;
	if (n == 0 || p->n_params == 0 || p->min_agree < 1 ||
	    (p->mode == VALIDATE_TOLERANCE && !(p->tolerance > 0)) ||
	    (p->mode != VALIDATE_EXACT && p->mode != VALIDATE_TOLERANCE))
		return error_set(err, ERROR_INVALID, "cannot validate: bad parameters");
	for (i = 0; i < n; i++) {
		enum validate_reason preset = reps[i].reason;

		reps[i].valid = 0;
		if (!reps[i].delta && preset != VALIDATE_REASON_NONE && preset != VALIDATE_DISAGREE)
			continue;
		reps[i].reason =
		    validate_delta(p, &reps[i].output, reps[i].delta, reps[i].delta_len);
		if (reps[i].reason == VALIDATE_REASON_NONE)
			out->n_valid++;
	}
	out->group_size = validate_best_group(p, reps, n, &centre);
	if (out->group_size > 0 && 2 * out->group_size > out->n_valid &&
	    out->group_size >= p->min_agree) {
		out->verdict = VALIDATE_CANONICAL;
		out->canonical = validate_mark(p, reps, n, centre);
		return 0;
	}
	if (p->max_replicas > 0 && n >= p->max_replicas)
		out->verdict = VALIDATE_FAILED;
	return 0;
}

int validate_unit_blobs(const struct blobstore *bs, const struct validate_params *p,
			struct validate_replica *reps, size_t n, struct validate_outcome *out,
			struct error *err)
{
	unsigned char **bufs = calloc(n ? n : 1, sizeof(*bufs));
	size_t i;
	int rc;

	if (!bufs)
		return error_set(err, ERROR_NOMEM, "cannot validate: out of memory");
	for (i = 0; i < n; i++) {
		size_t len = 0;

		reps[i].delta = NULL;
		reps[i].delta_len = 0;
		reps[i].reason = VALIDATE_REASON_NONE;
		rc = merge_blob_read(bs, &reps[i].output, p->n_params * sizeof(float), &bufs[i],
				     &len, NULL);
		if (rc == ERROR_NOMEM) {
			rc = error_set(err, rc, "cannot validate: out of memory");
			goto out;
		}
		if (rc < 0) {
			reps[i].reason =
			    rc == ERROR_RANGE ? VALIDATE_WRONG_SHAPE : VALIDATE_UNDECODABLE;
			continue;
		}
		reps[i].delta = bufs[i];
		reps[i].delta_len = len;
	}
	rc = validate_unit(p, reps, n, out, err);
out:
	for (i = 0; i < n; i++) {
		free(bufs[i]);
		reps[i].delta = NULL;
		reps[i].delta_len = 0;
	}
	free(bufs);
	return rc;
}
