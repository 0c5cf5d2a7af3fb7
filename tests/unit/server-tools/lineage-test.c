/*
 * lineage-test.c - the training loop end to end, in process: a gpt-test
 * model θ_0, honest Δs from the C reference for each unit plus a scaled,
 * an all-zero and a random one; the validator keeps the honest ones; the
 * merger makes θ_1 and θ_2; signed manifests and blobs go to an export
 * directory; the lineage re-derives every version and passes; then one
 * byte altered in any manifest or blob makes it fail naming the round.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common/fileio.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "server-tools/blobstore.h"
#include "server-tools/lineage.h"
#include "server-tools/merge.h"
#include "server-tools/validate.h"
#include "tests/tap.h"
#include "workunits/blob.h"
#include "workunits/envelope.h"
#include "workunits/manifest.h"

#define ROUNDS    2
#define UNITS     2
#define HOSTS     6 /* 1..3 honest, 4 scaled, 5 zero, 6 random */
#define EVAL_SEQ  6
#define MAX_BLOBS 64

static const struct model_config *cfg;
static size_t n;
static char dir[512];
static unsigned char data[2048];
static struct key_public coord_pk, host_pk[HOSTS + 1];
static struct key_secret coord_sk;
static struct hash eval_hash;
static struct blobstore *store; /* the same blobs, as the coordinator keeps them */

/* Every blob written, and the first round that reads it. */
static struct {
	struct hash h;
	int round;
} blobs[MAX_BLOBS];
static size_t n_blobs;

static void put_blob(const void *raw, size_t len, int round, struct hash *h)
{
	char path[700], hex[HASH_HEX_LEN + 1];
	unsigned char *enc;
	size_t enc_len, i;
	struct blob_header hdr;
	struct error err;

	if (blob_encode_mem(raw, len, BLOB_CODEC_ZLIB, &enc, &enc_len, &hdr, &err) < 0)
		abort();
	*h = hdr.hash;
	hash_to_hex(h, hex);
	snprintf(path, sizeof(path), "%s/blobs/%s", dir, hex);
	if (fileio_write_atomic(path, enc, enc_len, 0644, 0, &err) < 0 ||
	    blobstore_put_mem(store, raw, len, BLOB_CODEC_STORED, h, NULL, &err) < 0)
		abort();
	free(enc);
	for (i = 0; i < n_blobs; i++)
		if (hash_equal(&blobs[i].h, h))
			return;
	blobs[n_blobs].h = *h;
	blobs[n_blobs++].round = round;
}

/* The honest Δ of unit u from theta: 3 AdamW steps of the reference on
 * the unit's slice of the data. */
static void honest_delta(const float *theta, int round, int u, float *delta)
{
	const struct ref_adamw opt = {1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f};
	struct ref_gpt g;
	struct error err;
	size_t off = (size_t)(round * UNITS + u) * 200, i;

	if (ref_gpt_init(&g, cfg, 2, &err) < 0)
		abort();
	memcpy(g.params, theta, n * sizeof(float));
	if (ref_gpt_run(&g, data + off, 400, 0, 3, &opt, NULL) < 0)
		abort();
	for (i = 0; i < n; i++)
		delta[i] = theta[i] - g.params[i];
	ref_gpt_release(&g);
}

/* Replicas of one unit: honest, scaled, zero, random; returns the
 * canonical Δ (index of the replica in deltas). */
static size_t validate_replicas(float *const deltas[HOSTS], int round, int u)
{
	struct validate_params p = {VALIDATE_EXACT, 0, n, 2, 7};
	struct validate_replica r[HOSTS];
	struct validate_outcome o;
	struct error err;
	size_t i;
	int ok;

	for (i = 0; i < n; i++) {
		deltas[3][i] = deltas[0][i] * 1.01f;
		deltas[4][i] = 0.0f;
		deltas[5][i] = (model_rng_uniform((uint64_t)(round * 10 + u), i) - 0.5f) * 1e-2f;
	}
	memcpy(deltas[1], deltas[0], n * sizeof(float));
	memcpy(deltas[2], deltas[0], n * sizeof(float));
	for (i = 0; i < HOSTS; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].result_id = (int64_t)(1000 * round + 10 * u + (HOSTS - i)); /* host 6 first */
		r[i].delta = (const unsigned char *)deltas[i];
		r[i].delta_len = n * sizeof(float);
		hash_buf(&r[i].output, deltas[i], n * sizeof(float));
	}
	ok = validate_unit(&p, r, HOSTS, &o, &err) == 0 && o.verdict == VALIDATE_CANONICAL &&
	     o.group_size == 3 && r[0].valid && r[1].valid && r[2].valid &&
	     r[3].reason == VALIDATE_DISAGREE && r[4].reason == VALIDATE_ZERO_DELTA &&
	     r[5].reason == VALIDATE_DISAGREE && o.canonical == 2;
	TAP_OK(ok, "round %d unit %d: honest majority canonical, scaled/zero/random invalid", round,
	       u);
	return o.canonical;
}

static void write_manifest(struct manifest *m, int round, struct hash *parent)
{
	char path[700];
	unsigned char *env;
	size_t env_len;
	struct error err;

	snprintf(m->job, sizeof(m->job), "e2e");
	snprintf(m->preset, sizeof(m->preset), "gpt-test");
	m->round = (uint64_t)round;
	m->outer_lr = 0.7;
	m->outer_momentum = 0.9;
	m->eval_data = eval_hash;
	m->eval_sequences = EVAL_SEQ;
	m->created = 1800000000 + round;
	m->parent = *parent;
	if (manifest_seal(m, &coord_sk, &env, &env_len, parent, &err) < 0) {
		tap_diag("%s", err.msg);
		abort();
	}
	snprintf(path, sizeof(path), "%s/manifests/round-%d.env", dir, round);
	if (fileio_write_atomic(path, env, env_len, 0644, 0, &err) < 0)
		abort();
	free(env);
}

/* One round: validate each unit's replicas, merge, evaluate, publish. */
static void run_round(int round, float *theta, float *mom, struct hash *parent, double *loss)
{
	const struct merge_hyper h = {0.7, 0.9};
	float *deltas[HOSTS], *canon[UNITS], *sum = calloc(n, sizeof(float));
	struct manifest m;
	struct error err;
	int u, i;

	manifest_init(&m);
	for (i = 0; i < HOSTS; i++)
		deltas[i] = malloc(n * sizeof(float));
	for (u = 0; u < UNITS; u++) {
		struct manifest_result res;
		size_t c;

		honest_delta(theta, round, u, deltas[0]);
		c = validate_replicas(deltas, round, u);
		canon[u] = malloc(n * sizeof(float));
		memcpy(canon[u], deltas[c], n * sizeof(float));
		memset(&res, 0, sizeof(res));
		res.unit = (uint64_t)u;
		hash_buf(&res.unit_id, &u, sizeof(u));
		put_blob(canon[u], n * sizeof(float), round, &res.output);
		res.host = c + 1;
		res.host_key = host_pk[c + 1];
		if (manifest_add_result(&m, &res) < 0)
			abort();
	}
	for (u = 0; u < UNITS; u++)
		merge_sum_add(sum, canon[u], n);
	merge_apply(theta, mom, sum, UNITS, n, &h);
	if (merge_eval(cfg, theta, data, sizeof(data), EVAL_SEQ, loss, &err) < 0)
		abort();
	m.eval_loss = *loss;
	put_blob(theta, n * sizeof(float), round, &m.model);
	put_blob(mom, n * sizeof(float), round, &m.momentum);
	write_manifest(&m, round, parent);
	manifest_release(&m);
	for (i = 0; i < HOSTS; i++)
		free(deltas[i]);
	for (u = 0; u < UNITS; u++)
		free(canon[u]);
	free(sum);
}

static void build_chain(double losses[ROUNDS + 1])
{
	float *theta = malloc(n * sizeof(float)), *mom = calloc(n, sizeof(float));
	struct hash parent;
	struct manifest m;
	struct error err;
	int r;

	memset(&parent, 0, sizeof(parent));
	model_init_params(cfg, 2026, theta);
	put_blob(data, sizeof(data), 0, &eval_hash);
	manifest_init(&m);
	put_blob(theta, n * sizeof(float), 0, &m.model);
	put_blob(mom, n * sizeof(float), 0, &m.momentum);
	if (merge_eval(cfg, theta, data, sizeof(data), EVAL_SEQ, &losses[0], &err) < 0)
		abort();
	m.eval_loss = losses[0];
	write_manifest(&m, 0, &parent);
	for (r = 1; r <= ROUNDS; r++)
		run_round(r, theta, mom, &parent, &losses[r]);
	free(theta);
	free(mom);
}

static void print_round(void *ctx, const struct manifest *m, const struct hash *id)
{
	char hex[HASH_HEX_LEN + 1];

	(void)ctx;
	hash_to_hex(id, hex);
	tap_diag("round %llu ok: %zu results, eval loss %.6f, manifest %.16s",
		 (unsigned long long)m->round, m->n_results, m->eval_loss, hex);
}

/* Flips one byte of path at pos, audits, restores. Returns 1 when the
 * audit fails with a message starting with want. */
static int tamper(const char *path, size_t pos, const char *want)
{
	struct lineage_report rep;
	struct error err;
	unsigned char *buf;
	size_t len;
	int rc, ok;

	if (fileio_read_all(path, 1 << 24, &buf, &len, &err) < 0)
		abort();
	pos = pos < len ? pos : len - 1;
	buf[pos] ^= 0x20;
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
		abort();
	error_clear(&err);
	rc = lineage_verify_dir(dir, &coord_pk, NULL, &rep, &err);
	ok = rc < 0 && strncmp(err.msg, want, strlen(want)) == 0;
	if (!ok)
		tap_diag("byte %zu of %s: rc %d, '%s' (want '%s')", pos, path, rc, err.msg, want);
	buf[pos] ^= 0x20;
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
		abort();
	free(buf);
	return ok;
}

static void test_tamper(void)
{
	char path[700], hex[HASH_HEX_LEN + 1], want[32];
	size_t pos[5] = {0, 17, 60, 300, (size_t)-1}, i, k;
	int ok = 1, tried = 0;

	for (i = 0; i <= ROUNDS; i++) {
		snprintf(path, sizeof(path), "%s/manifests/round-%zu.env", dir, i);
		snprintf(want, sizeof(want), "round %zu:", i);
		for (k = 0; k < 5; k++, tried++)
			ok &= tamper(path, pos[k], want);
	}
	for (i = 0; i < n_blobs; i++) {
		hash_to_hex(&blobs[i].h, hex);
		snprintf(path, sizeof(path), "%s/blobs/%s", dir, hex);
		snprintf(want, sizeof(want), "round %d:", blobs[i].round);
		for (k = 0; k < 5; k++, tried++)
			ok &= tamper(path, pos[k], want);
	}
	tap_ok(ok, "%d altered bytes in %d manifests and %zu blobs: each fails naming its round",
	       tried, ROUNDS + 1, n_blobs);
}

static void test_missing(void)
{
	struct lineage_report rep;
	struct error err;
	char path[700], moved[720], hex[HASH_HEX_LEN + 1];

	hash_to_hex(&blobs[n_blobs - 1].h, hex);
	snprintf(path, sizeof(path), "%s/blobs/%s", dir, hex);
	snprintf(moved, sizeof(moved), "%s.away", path);
	if (rename(path, moved) < 0)
		abort();
	TAP_IS(lineage_verify_dir(dir, &coord_pk, NULL, &rep, &err), ERROR_NOT_FOUND,
	       "a missing blob fails the audit");
	tap_diag("%s", err.msg);
	TAP_IS(rep.rounds, ROUNDS, "after the rounds before it");
	if (rename(moved, path) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/manifests/round-0.env", dir);
	snprintf(moved, sizeof(moved), "%s/manifests/round-9.env", dir);
	if (rename(path, moved) < 0)
		abort();
	TAP_OK(lineage_verify_dir(dir, &coord_pk, NULL, &rep, &err) == ERROR_NOT_FOUND,
	       "no round 0: fails: %s", err.msg);
	if (rename(moved, path) < 0)
		abort();
}

/* Runs agora-admin with args; its exit status, or -1 when the program
 * cannot run. */
static int run_admin(const char *args)
{
	const char *top = getenv("top_builddir");
	char cmd[1600];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/agora-admin %s >/dev/null 2>&1", top && *top ? top : ".",
		 args);
	rc = system(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

static void test_admin(void)
{
	char args[1400], path[700];
	struct error err;
	unsigned char *buf;
	size_t len;

	if (key_write_pair(dir, "coord", &coord_pk, &coord_sk, &err) < 0)
		abort();
	snprintf(args, sizeof(args), "audit --dir '%s' --pub '%s/coord.pub'", dir, dir);
	TAP_IS(run_admin(args), 0, "agora-admin audit passes");
	snprintf(path, sizeof(path), "%s/manifests/round-1.env", dir);
	if (fileio_read_all(path, 1 << 20, &buf, &len, &err) < 0)
		abort();
	buf[len - 5] ^= 1;
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
		abort();
	TAP_IS(run_admin(args), 1, "agora-admin audit exits 1 on an altered manifest");
	buf[len - 5] ^= 1;
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
		abort();
	free(buf);
	snprintf(args, sizeof(args), "audit --dir '%s'", dir);
	TAP_IS(run_admin(args), 2, "agora-admin audit without --pub: usage");
}

/* The same chain from the blob store, with the manifests in memory. */
static void test_store(void)
{
	struct lineage_blobs lb = {lineage_store_blob, NULL};
	unsigned char *envs[ROUNDS + 1];
	size_t lens[ROUNDS + 1], i;
	struct lineage_report rep;
	struct error err;
	char path[700];

	lb.ctx = store;
	for (i = 0; i <= ROUNDS; i++) {
		snprintf(path, sizeof(path), "%s/manifests/round-%zu.env", dir, i);
		if (fileio_read_all(path, ENVELOPE_MAX, &envs[i], &lens[i], &err) < 0)
			abort();
	}
	TAP_IS(lineage_verify((const unsigned char *const *)envs, lens, ROUNDS + 1, &coord_pk, &lb,
			      NULL, &rep, &err),
	       0, "the chain checks out from the blob store too");
	TAP_IS(lineage_verify((const unsigned char *const *)envs + 1, lens + 1, ROUNDS, &coord_pk,
			      &lb, NULL, &rep, &err),
	       ERROR_FORMAT, "a chain that does not start at round 0 fails");
	tap_diag("%s", err.msg);
	for (i = 0; i <= ROUNDS; i++)
		free(envs[i]);
}

static void setup(void)
{
	unsigned char seed[KEY_SEED_BYTES];
	struct key_secret sk;
	char path[700];
	size_t i;
	int h;

	cfg = model_preset_find("gpt-test");
	n = model_param_count(cfg);
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)("to be or not to be, that is the question. "[i % 42]);
	memset(seed, 1, sizeof(seed));
	key_from_seed(&coord_pk, &coord_sk, seed);
	for (h = 1; h <= HOSTS; h++) {
		memset(seed, 10 + h, sizeof(seed));
		key_from_seed(&host_pk[h], &sk, seed);
	}
	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/manifests", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/store", dir);
	if (blobstore_open(&store, path, NULL) < 0)
		abort();
}

int main(void)
{
	struct lineage_opts opts = {0, print_round, NULL};
	struct lineage_report rep;
	double losses[ROUNDS + 1];
	struct error err;
	char cmd[600], text[64];
	float *theta;

	setup();
	build_chain(losses);
	TAP_IS(lineage_verify_dir(dir, &coord_pk, &opts, &rep, &err), 0, "the lineage checks out");
	if (rep.rounds != ROUNDS + 1)
		tap_diag("%s", err.msg);
	TAP_IS(rep.rounds, ROUNDS + 1, "three manifests");
	TAP_IS(rep.results, ROUNDS * UNITS, "four results re-merged");
	TAP_OK(losses[ROUNDS] < losses[0], "eval loss fell: %.4f -> %.4f", losses[0],
	       losses[ROUNDS]);
	opts.flags = LINEAGE_NO_EVAL;
	TAP_IS(lineage_verify_dir(dir, &coord_pk, &opts, &rep, &err), 0, "also without eval");
	TAP_IS(lineage_verify_dir(dir, &host_pk[1], NULL, &rep, &err), ERROR_SIGNATURE,
	       "another key: bad signature");
	TAP_OK(!strncmp(err.msg, "round 0:", 8), "named: %s", err.msg);
	theta = malloc(n * sizeof(float));
	model_init_params(cfg, 2026, theta);
	if (merge_sample(cfg, theta, (const unsigned char *)"to be", 5, 30, 0, 0, text,
			 sizeof(text), &err) == 30)
		tap_diag("sample of θ_0: '%s'", text);
	free(theta);
	test_tamper();
	test_missing();
	test_admin();
	test_store();
	blobstore_free(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
