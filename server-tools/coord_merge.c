/*
 * coord_merge.c - the coordinator's merge of a finished round (see
 * coord.h): the canonical results in unit order through merge_round(),
 * θ_(r+1) and the momentum stored, a text sample, manifest r+1 sealed and
 * stored, and one transaction that publishes it all (crash safety: a
 * merge either committed or is redone from the same inputs).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "server-tools/blobstore.h"
#include "server-tools/coord_impl.h"
#include "server-tools/merge.h"
#include "server-tools/metrics.h"
#include "workunits/manifest.h"

/* ---- the merge ---- */

struct coord_round {
	char model[HASH_HEX_LEN + 1], momentum[HASH_HEX_LEN + 1], manifest_id[HASH_HEX_LEN + 1];
};

static int coord_round_get(struct coord *c, int64_t job, int64_t round, struct coord_round *r)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT model, coalesce(momentum, ''),"
				   " coalesce(manifest_id, '') FROM rounds WHERE job = ?1"
				   " AND round = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, job);
		sqlite3_bind_int64(st, 2, round);
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : ERROR_NOT_FOUND;
		if (rc == 0) {
			coord_text(st, 0, r->model, sizeof(r->model));
			coord_text(st, 1, r->momentum, sizeof(r->momentum));
			coord_text(st, 2, r->manifest_id, sizeof(r->manifest_id));
		}
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	return rc;
}

/* The canonical results of round r in unit order into m's results and
 * deltas (n units expected). */
static int coord_round_results(struct coord *c, int64_t job, int64_t round, struct manifest *m,
			       struct hash *deltas, size_t n)
{
	struct manifest_result mr;
	struct error err;
	sqlite3_stmt *st;
	char hex[HASH_HEX_LEN + 1];
	int rc = 0;

	db_lock(c->db);
	st = db_stmt_cached(c->db,
			    "SELECT u.idx, u.uid, s.blob, s.host, h.public_key FROM units u"
			    " JOIN results s ON s.id = u.canonical JOIN hosts h ON h.id = s.host"
			    " WHERE u.job = ?1 AND u.round = ?2 AND u.state = 'validated'"
			    " ORDER BY u.idx");
	if (!st)
		rc = ERROR_DB;
	if (st) {
		sqlite3_bind_int64(st, 1, job);
		sqlite3_bind_int64(st, 2, round);
	}
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		memset(&mr, 0, sizeof(mr));
		mr.unit = (uint64_t)sqlite3_column_int64(st, 0);
		coord_text(st, 1, hex, sizeof(hex));
		rc = hash_from_hex(&mr.unit_id, hex, &err);
		coord_text(st, 2, hex, sizeof(hex));
		if (rc == 0)
			rc = hash_from_hex(&mr.output, hex, &err);
		mr.host = (uint64_t)sqlite3_column_int64(st, 3);
		if (sqlite3_column_bytes(st, 4) == (int)sizeof(mr.host_key.bytes))
			memcpy(mr.host_key.bytes, sqlite3_column_blob(st, 4),
			       sizeof(mr.host_key.bytes));
		if (rc == 0 && m->n_results >= n)
			rc = ERROR_RANGE;
		if (rc == 0) {
			deltas[m->n_results] = mr.output;
			rc = manifest_add_result(m, &mr);
		}
	}
	if (st)
		sqlite3_reset(st);
	db_unlock(c->db);
	return rc < 0 ? rc : (m->n_results == n ? 0 : ERROR_STATE);
}

/* Publishes round + 1 in one transaction: the manifest row, round done,
 * the next round's row, the job done after its last round. */
static int coord_publish(struct coord *c, const struct coord_job *j, int64_t round,
			 const struct hash *env_hash, const struct hash *id,
			 const struct merge_round_out *out, const char *sample)
{
	char env_hex[HASH_HEX_LEN + 1], id_hex[HASH_HEX_LEN + 1], theta[HASH_HEX_LEN + 1],
	    mom[HASH_HEX_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	int last = round + 1 >= j->spec.rounds;
	sqlite3_stmt *st;
	int rc;

	hash_to_hex(env_hash, env_hex);
	hash_to_hex(id, id_hex);
	hash_to_hex(&out->theta, theta);
	hash_to_hex(&out->momentum, mom);
	db_lock(c->db);
	rc = db_begin(c->db);
	st = rc == 0 ? db_stmt_cached(c->db, "INSERT OR IGNORE INTO manifests (hash, kind,"
					     " signer, created) VALUES (?1, 'model', ?2, ?3)")
		     : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, c->pk.bytes, sizeof(c->pk.bytes), SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = db_step(c->db, st);
	} else if (rc == 0) {
		rc = ERROR_DB;
	}
	st = rc == 0 ? db_stmt_cached(c->db, "UPDATE rounds SET state = 'done', next_model = ?3,"
					     " finished = ?4 WHERE job = ?1 AND round = ?2")
		     : NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, j->id);
		sqlite3_bind_int64(st, 2, round);
		sqlite3_bind_text(st, 3, theta, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		rc = db_step(c->db, st);
	}
	st = rc == 0 ? db_stmt_cached(c->db,
				      "INSERT INTO rounds (job, round, model, manifest,"
				      " manifest_id, momentum, eval_loss, state, created,"
				      " sample) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
		     : NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, j->id);
		sqlite3_bind_int64(st, 2, round + 1);
		sqlite3_bind_text(st, 3, theta, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, id_hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, mom, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 7, out->eval_loss);
		sqlite3_bind_text(st, 8, last ? "done" : "open", -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 9, now);
		sqlite3_bind_text(st, 10, sample, -1, SQLITE_STATIC);
		rc = db_step(c->db, st);
	}
	if (rc == 0 && last)
		rc = coord_exec(c, "UPDATE jobs SET state = 'done' WHERE id = ?1", j->id, 0, 0);
	rc = rc == 0 ? db_commit(c->db) : rc;
	if (rc < 0)
		db_rollback(c->db);
	db_unlock(c->db);
	return rc;
}

/* Seals manifest round + 1 and stores its envelope as a blob. */
static int coord_seal_manifest(struct coord *c, const struct coord_job *j, int64_t round,
			       const struct coord_round *prev, struct manifest *m,
			       const struct merge_round_out *out, struct hash *env_hash,
			       struct hash *id, struct error *err)
{
	unsigned char *env = NULL;
	size_t env_len;
	int rc;

	snprintf(m->job, sizeof(m->job), "%s", j->spec.name);
	snprintf(m->preset, sizeof(m->preset), "%s", j->spec.preset);
	m->round = (uint64_t)round + 1;
	rc = hash_from_hex(&m->parent, prev->manifest_id, err);
	if (rc == 0)
		rc = hash_from_hex(&m->eval_data, j->eval_blob, err);
	if (rc < 0)
		return rc;
	m->model = out->theta;
	m->momentum = out->momentum;
	m->outer_lr = j->spec.outer_lr;
	m->outer_momentum = j->spec.outer_momentum;
	m->eval_sequences = (uint64_t)j->spec.eval_sequences;
	m->eval_loss = out->eval_loss;
	m->created = (int64_t)time(NULL);
	rc = manifest_seal(m, c->sk, &env, &env_len, id, err);
	if (rc == 0)
		rc = blobstore_put_mem(c->bs, env, env_len, BLOB_CODEC_STORED, env_hash, NULL, err);
	if (rc == 0)
		rc = coord_blob_record(c, env_hash, env_len);
	free(env);
	return rc;
}

/* The text sample of the stored model version theta (see coord_sample). */
static void coord_version_sample(struct coord *c, const struct coord_job *j,
				 const struct hash *theta, const unsigned char *eval,
				 size_t eval_len, uint64_t version, char *out, size_t cap)
{
	size_t n = model_param_count(j->spec.cfg), len;
	unsigned char *raw = NULL;

	out[0] = '\0';
	if (merge_blob_read(c->bs, theta, n * sizeof(float), &raw, &len, NULL) == 0)
		coord_sample(&j->spec, (const float *)raw, eval, eval_len, version, out, cap);
	free(raw);
}

/* Merges round r of job j: θ_(r+1), the manifest, the next round. */
int coord_merge(struct coord *c, const struct coord_job *j, int64_t round, size_t n)
{
	size_t n_params = model_param_count(j->spec.cfg);
	struct merge_round_in in;
	struct merge_round_out out;
	struct coord_round prev;
	struct hash *deltas, mom, env_hash, id;
	struct manifest m;
	unsigned char *eval = NULL;
	char sample[COORD_SAMPLE_BYTES + 1] = "";
	struct timespec t0, t1;
	size_t eval_len;
	struct error err;
	int rc;

	manifest_init(&m);
	deltas = calloc(n, sizeof(*deltas));
	if (!deltas)
		return ERROR_NOMEM;
	memset(&in, 0, sizeof(in));
	rc = coord_round_get(c, j->id, round, &prev);
	if (rc == 0)
		rc = coord_round_results(c, j->id, round, &m, deltas, n);
	if (rc == 0)
		rc = hash_from_hex(&in.theta, prev.model, &err);
	if (rc == 0)
		rc = hash_from_hex(&mom, prev.momentum, &err);
	if (rc == 0)
		rc = hash_from_hex(&env_hash, j->eval_blob, &err);
	if (rc == 0)
		rc = merge_blob_read(c->bs, &env_hash, (size_t)j->spec.eval_bytes, &eval, &eval_len,
				     &err);
	if (rc < 0) {
		log_error("cannot merge round %" PRId64 " of job '%s': %s", round, j->spec.name,
			  rc == ERROR_STATE ? "results missing" : err.msg);
		goto out;
	}
	in.cfg = j->spec.cfg;
	in.momentum = &mom;
	in.deltas = deltas;
	in.n_units = n;
	in.hyper.lr = j->spec.outer_lr;
	in.hyper.momentum = j->spec.outer_momentum;
	in.eval_data = eval;
	in.eval_len = eval_len;
	in.eval_seqs = j->spec.eval_sequences;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = merge_round(c->bs, &in, &out, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (rc == 0) {
		metrics_merge_observe((double)(t1.tv_sec - t0.tv_sec) +
				      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		coord_version_sample(c, j, &out.theta, eval, eval_len, (uint64_t)round + 1, sample,
				     sizeof(sample));
		rc = coord_blob_record(c, &out.theta, n_params * sizeof(float));
	}
	if (rc == 0)
		rc = coord_blob_record(c, &out.momentum, n_params * sizeof(float));
	if (rc == 0)
		rc = coord_seal_manifest(c, j, round, &prev, &m, &out, &env_hash, &id, &err);
	if (rc == 0)
		rc = coord_publish(c, j, round, &env_hash, &id, &out, sample);
	if (rc < 0) {
		log_error("cannot merge round %" PRId64 " of job '%s': %s", round, j->spec.name,
			  err.msg);
		goto out;
	}
	log_info("job '%s': round %" PRId64 " merged, model version %" PRId64 " eval loss %.6f",
		 j->spec.name, round, round + 1, out.eval_loss);
	if (round + 1 < j->spec.rounds)
		rc = coord_round_generate(c, j, round + 1);
out:
	free(eval);
	free(deltas);
	manifest_release(&m);
	return rc;
}
