/*
 * validate-test.c - the validator: results invalid on their own (corrupt,
 * wrong shape, NaN/Inf, all zero), the attacks that look valid (scaled Δ,
 * random bytes) losing to the honest majority, strict majority, replica
 * cap, tolerance mode, and the blob-store wrapper.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/blobstore.h"
#include "server-tools/validate.h"
#include "tests/tap.h"

#define N 1000

static float honest[N], scaled[N], zero[N], random_[N], nan_[N], noisy[N];

static void make_deltas(void)
{
	uint32_t x = 12345;
	size_t i;

	for (i = 0; i < N; i++) {
		x = x * 1664525u + 1013904223u;
		honest[i] = ((float)(x >> 8) / 16777216.0f - 0.5f) * 1e-3f;
		scaled[i] = honest[i] * 1.5f;
		zero[i] = 0.0f;
		x = x * 1664525u + 1013904223u;
		memcpy(&random_[i], &x, sizeof(float));
		if (!isfinite(random_[i]))
			random_[i] = 1.0f;
		nan_[i] = honest[i];
		noisy[i] = honest[i] * (1.0f + 1e-6f);
	}
	nan_[N / 2] = NAN;
}

static void set_rep(struct validate_replica *r, int64_t id, const void *delta, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->result_id = id;
	r->delta = delta;
	r->delta_len = len;
	hash_buf(&r->output, delta, len);
}

static void test_exact(void)
{
	struct validate_params p = {VALIDATE_EXACT, 0, N, 2, 7};
	struct validate_replica r[9];
	struct validate_outcome o;
	struct error err;
	size_t i;

	set_rep(&r[0], 40, scaled, sizeof(scaled));
	set_rep(&r[1], 12, honest, sizeof(honest));
	set_rep(&r[2], 30, zero, sizeof(zero));
	set_rep(&r[3], 9, honest, sizeof(honest));
	set_rep(&r[4], 50, random_, sizeof(random_));
	set_rep(&r[5], 20, honest, sizeof(honest));
	set_rep(&r[6], 5, nan_, sizeof(nan_));
	set_rep(&r[7], 6, honest, sizeof(honest) - 4);
	set_rep(&r[8], 7, honest, sizeof(honest));
	r[8].output.bytes[0] ^= 1; /* claims another output than its bytes */
	TAP_IS(validate_unit(&p, r, 9, &o, &err), 0, "exact: validates");
	TAP_IS(o.verdict, VALIDATE_CANONICAL, "exact: the honest majority wins");
	TAP_IS(o.canonical, 3, "exact: canonical is the lowest result id of the group");
	TAP_IS(o.n_valid, 5, "exact: five results valid on their own");
	TAP_IS(o.group_size, 3, "exact: three agree");
	TAP_OK(r[1].valid && r[3].valid && r[5].valid, "exact: the honest ones are valid");
	TAP_OK(!strcmp(validate_reason_name(r[0].reason), "disagree"), "scaled Δ: disagree");
	TAP_OK(!strcmp(validate_reason_name(r[2].reason), "zero_delta"), "zero Δ: zero_delta");
	TAP_OK(!strcmp(validate_reason_name(r[4].reason), "disagree"), "random bytes: disagree");
	TAP_OK(!strcmp(validate_reason_name(r[6].reason), "non_finite"), "NaN: non_finite");
	TAP_OK(!strcmp(validate_reason_name(r[7].reason), "wrong_shape"), "short: wrong_shape");
	TAP_OK(!strcmp(validate_reason_name(r[8].reason), "undecodable"),
	       "bytes not matching the output hash: undecodable");
	for (i = 0; i < 9; i++)
		TAP_OK(r[i].valid == (r[i].reason == VALIDATE_REASON_NONE),
		       "replica %zu: valid exactly when no reason", i);
}

static void test_majority(void)
{
	struct validate_params p = {VALIDATE_EXACT, 0, N, 2, 5};
	struct validate_replica r[5];
	struct validate_outcome o;
	struct error err;

	set_rep(&r[0], 1, honest, sizeof(honest));
	set_rep(&r[1], 2, scaled, sizeof(scaled));
	TAP_IS(validate_unit(&p, r, 2, &o, &err), 0, "two disagreeing: validates");
	TAP_IS(o.verdict, VALIDATE_NEED_MORE, "two disagreeing: need another replica");
	TAP_OK(!r[0].valid && !r[1].valid && r[0].reason == VALIDATE_REASON_NONE,
	       "nobody is invalid yet");
	set_rep(&r[2], 3, scaled, sizeof(scaled));
	set_rep(&r[3], 4, honest, sizeof(honest));
	TAP_IS(validate_unit(&p, r, 4, &o, &err), 0, "two against two: validates");
	TAP_IS(o.verdict, VALIDATE_NEED_MORE, "two against two is no strict majority");
	set_rep(&r[4], 5, honest, sizeof(honest));
	TAP_IS(validate_unit(&p, r, 5, &o, &err), 0, "three against two: validates");
	TAP_IS(o.verdict, VALIDATE_CANONICAL, "three against two: canonical");
	TAP_IS(r[o.canonical].result_id, 1, "canonical is result 1");
	set_rep(&r[4], 5, zero, sizeof(zero));
	TAP_IS(validate_unit(&p, r, 5, &o, &err), 0, "cap reached: validates");
	TAP_IS(o.verdict, VALIDATE_FAILED, "no majority at the replica cap: failed");
	set_rep(&r[0], 1, honest, sizeof(honest));
	set_rep(&r[1], 2, zero, sizeof(zero));
	TAP_IS(validate_unit(&p, r, 2, &o, &err), 0, "one valid, min_agree 2: validates");
	TAP_IS(o.verdict, VALIDATE_NEED_MORE, "one valid result alone is not enough");
	p.min_agree = 1;
	TAP_IS(validate_unit(&p, r, 2, &o, &err), 0, "min_agree 1: validates");
	TAP_IS(o.verdict, VALIDATE_CANONICAL, "min_agree 1: the one valid result wins");
	p.min_agree = 0;
	TAP_IS(validate_unit(&p, r, 2, &o, &err), ERROR_INVALID, "min_agree 0 refused");
}

static void test_tolerance(void)
{
	struct validate_params p = {VALIDATE_TOLERANCE, 1e-4, N, 2, 5};
	struct validate_replica r[4];
	struct validate_outcome o;
	struct error err;

	TAP_OK(validate_rel_l2(honest, honest, N) == 0, "distance to itself is 0");
	TAP_OK(fabs(validate_rel_l2(honest, scaled, N) - 1.0 / 3.0) < 1e-6,
	       "distance to 1.5x is 1/3");
	set_rep(&r[0], 8, noisy, sizeof(noisy));
	set_rep(&r[1], 3, scaled, sizeof(scaled));
	set_rep(&r[2], 4, honest, sizeof(honest));
	set_rep(&r[3], 9, random_, sizeof(random_));
	TAP_IS(validate_unit(&p, r, 4, &o, &err), 0, "tolerance: validates");
	TAP_IS(o.verdict, VALIDATE_NEED_MORE, "tolerance: 2 of 4 is no majority");
	set_rep(&r[3], 9, noisy, sizeof(noisy));
	TAP_IS(validate_unit(&p, r, 4, &o, &err), 0, "tolerance: validates again");
	TAP_IS(o.verdict, VALIDATE_CANONICAL, "tolerance: near-equal results agree");
	TAP_IS(r[o.canonical].result_id, 4, "tolerance: the lowest-id centre is canonical");
	TAP_OK(r[0].valid && r[2].valid && r[3].valid && r[1].reason == VALIDATE_DISAGREE,
	       "tolerance: scaled Δ disagrees");
	p.tolerance = 0;
	TAP_IS(validate_unit(&p, r, 4, &o, &err), ERROR_INVALID, "tolerance 0 refused");
}

static void test_blobs(void)
{
	struct validate_params p = {VALIDATE_EXACT, 0, N, 2, 5};
	struct validate_replica r[5];
	struct validate_outcome o;
	struct blobstore *bs;
	struct error err;
	char dir[512], sub[600];
	struct hash h;

	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		abort();
	snprintf(sub, sizeof(sub), "%s/blobs", dir);
	TAP_IS(blobstore_open(&bs, sub, &err), 0, "blob store opens");
	memset(r, 0, sizeof(r));
	TAP_IS(blobstore_put_mem(bs, honest, sizeof(honest), BLOB_CODEC_ZLIB, &h, NULL, &err), 0,
	       "honest Δ stored");
	r[0].result_id = 1;
	r[0].output = h;
	r[1].result_id = 2;
	r[1].output = h;
	TAP_IS(blobstore_put_mem(bs, honest, sizeof(honest) / 2, BLOB_CODEC_STORED, &r[2].output,
				 NULL, &err),
	       0, "half a Δ stored");
	r[2].result_id = 3;
	hash_buf(&r[3].output, "not stored", 10);
	r[3].result_id = 4;
	TAP_IS(blobstore_put_mem(bs, zero, sizeof(zero), BLOB_CODEC_ZLIB, &r[4].output, NULL, &err),
	       0, "zero Δ stored");
	r[4].result_id = 5;
	TAP_IS(validate_unit_blobs(bs, &p, r, 5, &o, &err), 0, "validates from the store");
	TAP_IS(o.verdict, VALIDATE_CANONICAL, "store: the two honest agree (2 of 2 valid)");
	TAP_IS(o.canonical, 0, "store: canonical result 1");
	TAP_IS(r[2].reason, VALIDATE_WRONG_SHAPE, "store: half a Δ is wrong_shape");
	TAP_IS(r[3].reason, VALIDATE_UNDECODABLE, "store: a missing blob is undecodable");
	TAP_IS(r[4].reason, VALIDATE_ZERO_DELTA, "store: zero Δ");
	TAP_OK(r[0].delta == NULL, "store: buffers released");
	blobstore_free(bs);
	snprintf(sub, sizeof(sub), "rm -rf '%s'", dir);
	if (system(sub) != 0)
		tap_diag("cannot remove %s", dir);
}

int main(void)
{
	make_deltas();
	test_exact();
	test_majority();
	test_tolerance();
	test_blobs();
	return tap_done();
}
