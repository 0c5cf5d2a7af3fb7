/*
 * coord_job.c - datasets, jobs and the work generator (see coord.h and
 * jobspec.h for the data arithmetic).
 *
 * A job's creation stores θ_0 (model_init_params from the job seed), the
 * held-out eval bytes and an all-zero momentum as blobs, evaluates θ_0,
 * seals round 0's manifest, then records job, manifest and round 0 in one
 * transaction and generates round 0's units. Each unit is sealed once with
 * the coordinator key; replicas only carry the assignment.
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
#include "server-tools/dataset.h"
#include "server-tools/ledger.h"
#include "server-tools/merge.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "workunits/manifest.h"

/* How long a unit's signed descriptor stays valid (its "deadline"); each
 * replica's own deadline is the job's deadline_s from when it is sent. */
#define COORD_UNIT_LIFE_S (30 * 86400)

int coord_job_load(struct coord *c, int64_t id, struct coord_job *j)
{
	struct error err;
	sqlite3_stmt *st;
	char *spec = NULL;
	int rc = ERROR_DB;

	memset(j, 0, sizeof(*j));
	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT id, state, dataset, coalesce(eval_blob, ''), spec"
				   " FROM jobs WHERE id = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : ERROR_NOT_FOUND;
		if (rc == 0) {
			j->id = sqlite3_column_int64(st, 0);
			coord_text(st, 1, j->state, sizeof(j->state));
			j->dataset = sqlite3_column_int64(st, 2);
			coord_text(st, 3, j->eval_blob, sizeof(j->eval_blob));
			spec = strdup((const char *)sqlite3_column_text(st, 4));
			rc = spec ? 0 : ERROR_NOMEM;
		}
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	if (rc == 0)
		rc = jobspec_parse(&j->spec, spec, strlen(spec), &err);
	free(spec);
	return rc;
}

/* A dataset's shards in order: hashes and sizes (malloc'd). */
struct coord_shards {
	size_t n;
	struct hash *hash;
	uint64_t *size;
	uint64_t total, min;
};

static void coord_shards_release(struct coord_shards *s)
{
	free(s->hash);
	free(s->size);
	memset(s, 0, sizeof(*s));
}

static int coord_shards_load(struct coord *c, int64_t dataset, struct coord_shards *s)
{
	sqlite3_stmt *st;
	struct error err;
	char hex[HASH_HEX_LEN + 1];
	int64_t n =
	    coord_query_int(c, "SELECT count(*) FROM shards WHERE dataset = ?1", dataset, 0);
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (n <= 0)
		return n < 0 ? (int)n : ERROR_NOT_FOUND;
	s->hash = calloc((size_t)n, sizeof(*s->hash));
	s->size = calloc((size_t)n, sizeof(*s->size));
	if (!s->hash || !s->size)
		return ERROR_NOMEM;
	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT blob, size FROM shards WHERE dataset = ?1 ORDER BY idx");
	if (!st)
		rc = ERROR_DB;
	if (st)
		sqlite3_bind_int64(st, 1, dataset);
	while (rc == 0 && s->n < (size_t)n && sqlite3_step(st) == SQLITE_ROW) {
		coord_text(st, 0, hex, sizeof(hex));
		rc = hash_from_hex(&s->hash[s->n], hex, &err);
		s->size[s->n] = (uint64_t)sqlite3_column_int64(st, 1);
		s->total += s->size[s->n];
		s->n++;
	}
	if (st)
		sqlite3_reset(st);
	db_unlock(c->db);
	for (size_t i = 0; i + 1 < s->n; i++)
		if (!s->min || s->size[i] < s->min)
			s->min = s->size[i];
	return rc;
}

/* Builds and adds unit index of round r (θ_r = model). */
static int coord_unit_make(struct coord *c, const struct coord_job *j,
			   const struct coord_shards *sh, int64_t round, int64_t index,
			   const struct hash *model)
{
	struct jobspec_range ranges[UNIT_DATA_MAX];
	char uid[HASH_HEX_LEN + 1];
	unsigned char *env = NULL;
	struct sched_unit su;
	uint64_t start, len;
	struct error err;
	struct hash id;
	struct unit u;
	int64_t row;
	int n, i, rc;

	jobspec_window(&j->spec, sh->total, (uint64_t)round, (uint64_t)index, &start, &len);
	n = jobspec_ranges(sh->size, sh->n, start, len, ranges, UNIT_DATA_MAX);
	if (n <= 0)
		return n < 0 ? n : ERROR_RANGE;
	unit_init(&u);
	snprintf(u.job, sizeof(u.job), "%s", j->spec.name);
	u.round = (uint64_t)round;
	u.index = (uint64_t)index;
	u.model = *model;
	snprintf(u.preset, sizeof(u.preset), "%s", j->spec.preset);
	u.n_data = (size_t)n;
	for (i = 0; i < n; i++) {
		u.data[i].shard = sh->hash[ranges[i].shard];
		u.data[i].offset = ranges[i].offset;
		u.data[i].length = ranges[i].length;
	}
	u.hyper = j->spec.hyper;
	u.steps = (uint32_t)j->spec.inner_steps;
	u.seed = j->spec.seed;
	u.kernel_abi = AGORA_KERNEL_ABI;
	u.deadline = (int64_t)time(NULL) + COORD_UNIT_LIFE_S;
	u.flops = (double)ledger_unit_flops(j->spec.cfg, u.steps, u.hyper.batch, u.hyper.context);
	rc = unit_seal(&u, c->sk, &env, &su.envelope_len, &id, &err);
	if (rc < 0) {
		log_error("cannot seal unit %" PRId64 " of job '%s': %s", index, j->spec.name,
			  err.msg);
		return rc;
	}
	hash_to_hex(&id, uid);
	su.job = j->id;
	su.round = round;
	su.index = index;
	su.envelope = env;
	su.uid = uid;
	su.quorum = j->spec.quorum;
	su.deadline_s = j->spec.deadline_s;
	su.flops = u.flops;
	rc = sched_unit_add(c->db, &su, (int64_t)time(NULL), &row);
	free(env);
	return rc;
}

int coord_round_generate(struct coord *c, const struct coord_job *j, int64_t round)
{
	struct coord_shards sh;
	struct error err;
	struct hash model;
	sqlite3_stmt *st;
	unsigned char *have;
	char hex[HASH_HEX_LEN + 1] = "";
	int64_t idx;
	int rc, made = 0;

	memset(&sh, 0, sizeof(sh));
	have = calloc((size_t)j->spec.units_per_round, 1);
	if (!have)
		return ERROR_NOMEM;
	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT model FROM rounds WHERE job = ?1 AND round = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, j->id);
		sqlite3_bind_int64(st, 2, round);
		if (sqlite3_step(st) == SQLITE_ROW)
			coord_text(st, 0, hex, sizeof(hex));
		sqlite3_reset(st);
	}
	st = db_stmt_cached(c->db, "SELECT idx FROM units WHERE job = ?1 AND round = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, j->id);
		sqlite3_bind_int64(st, 2, round);
		while (sqlite3_step(st) == SQLITE_ROW) {
			idx = sqlite3_column_int64(st, 0);
			if (idx >= 0 && idx < j->spec.units_per_round)
				have[idx] = 1;
		}
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	rc = hash_from_hex(&model, hex, &err);
	if (rc == 0)
		rc = coord_shards_load(c, j->dataset, &sh);
	for (idx = 0; rc == 0 && idx < j->spec.units_per_round; idx++) {
		if (have[idx])
			continue;
		rc = coord_unit_make(c, j, &sh, round, idx, &model);
		made += rc == 0;
	}
	if (rc == ERROR_DUPLICATE)
		rc = 0; /* made meanwhile by another pass */
	coord_shards_release(&sh);
	free(have);
	if (made)
		log_info("job '%s': round %" PRId64 ": %d units generated", j->spec.name, round,
			 made);
	return rc < 0 ? rc : made;
}

/* ---- datasets ---- */

static int coord_dataset_insert(struct coord *c, const struct dataset_manifest *m,
				const struct key_public *signer, const char *env_hex, int64_t *id)
{
	int64_t now = (int64_t)time(NULL);
	char hex[HASH_HEX_LEN + 1];
	sqlite3_stmt *st;
	size_t i;
	int rc;

	db_lock(c->db);
	rc = db_begin(c->db);
	st = rc == 0 ? db_stmt_cached(c->db, "INSERT OR IGNORE INTO manifests (hash, kind, signer,"
					     " created) VALUES (?1, 'dataset', ?2, ?3)")
		     : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, signer->bytes, sizeof(signer->bytes), SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = db_step(c->db, st);
	}
	st = rc == 0 ? db_stmt_cached(c->db, "INSERT INTO datasets (name, owner, licence, source,"
					     " manifest, created, bytes)"
					     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
		     : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, m->licence, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, m->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, now);
		sqlite3_bind_int64(st, 7, (int64_t)m->bytes);
		rc = db_step(c->db, st);
		*id = sqlite3_last_insert_rowid(db_sqlite(c->db));
	}
	for (i = 0; rc == 0 && i < m->n_shards; i++) {
		st = db_stmt_cached(c->db, "INSERT INTO shards (dataset, idx, blob, size)"
					   " VALUES (?1, ?2, ?3, ?4)");
		if (!st) {
			rc = ERROR_DB;
			break;
		}
		hash_to_hex(&m->shards[i].hash, hex);
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, (int64_t)m->shards[i].size);
		rc = db_step(c->db, st);
	}
	rc = rc == 0 ? db_commit(c->db) : rc;
	if (rc < 0)
		db_rollback(c->db);
	db_unlock(c->db);
	return rc;
}

int coord_dataset_add(struct coord *c, const void *env, size_t env_len, int64_t *id,
		      struct error *err)
{
	struct dataset_manifest m;
	struct key_public signer;
	char hex[HASH_HEX_LEN + 1];
	struct db_blob b;
	struct hash h;
	size_t i;
	int rc;

	rc = dataset_manifest_open(&m, &signer, env, env_len, err);
	if (rc == 0 && !server_admin_allowed(c->server, &signer))
		rc = error_set(err, ERROR_PERM, "the dataset manifest is not signed by an admin");
	for (i = 0; rc == 0 && i < m.n_shards; i++) {
		hash_to_hex(&m.shards[i].hash, hex);
		if (db_blob_get(c->db, hex, &b) < 0 || !blobstore_exists(c->bs, &m.shards[i].hash))
			rc = error_set(err, ERROR_NOT_FOUND, "shard %zu (%.16s...) is not stored",
				       i, hex);
		else if ((uint64_t)b.size != m.shards[i].size)
			rc = error_set(err, ERROR_RANGE,
				       "shard %zu has %lld bytes, the manifest says %llu", i,
				       (long long)b.size, (unsigned long long)m.shards[i].size);
	}
	if (rc == 0)
		rc = blobstore_put_mem(c->bs, env, env_len, BLOB_CODEC_STORED, &h, NULL, err);
	if (rc == 0 && (rc = coord_blob_record(c, &h, env_len)) < 0)
		error_set(err, rc, "cannot record the manifest blob");
	if (rc == 0) {
		hash_to_hex(&h, hex);
		rc = coord_dataset_insert(c, &m, &signer, hex, id);
		if (rc == ERROR_DUPLICATE)
			error_set(err, rc, "a dataset named '%s' exists", m.name);
		else if (rc < 0)
			error_set(err, rc, "cannot record the dataset");
	}
	if (rc == 0)
		log_info("dataset '%s': %zu shards, %llu bytes, owner '%s', licence '%s'", m.name,
			 m.n_shards, (unsigned long long)m.bytes, m.owner, m.licence);
	dataset_manifest_release(&m);
	return rc;
}

/* ---- jobs ---- */

/* The last eval_bytes of the dataset, read from its shards. */
static int coord_eval_bytes(struct coord *c, const struct coord_shards *sh, uint64_t eval_bytes,
			    unsigned char **out, struct error *err)
{
	uint64_t from = sh->total - eval_bytes, base = 0, lo, hi;
	unsigned char *buf = malloc(eval_bytes), *raw;
	size_t i, len, at = 0;
	int rc = 0;

	*out = NULL;
	if (!buf)
		return error_set(err, ERROR_NOMEM, "out of memory");
	for (i = 0; rc == 0 && i < sh->n; base += sh->size[i], i++) {
		if (base + sh->size[i] <= from)
			continue;
		rc = merge_blob_read(c->bs, &sh->hash[i], sh->size[i], &raw, &len, err);
		if (rc < 0)
			break;
		lo = from > base ? from - base : 0;
		hi = sh->size[i];
		memcpy(buf + at, raw + lo, hi - lo);
		at += hi - lo;
		free(raw);
	}
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

/* Stores len bytes as a zlib blob and records it. */
static int coord_put(struct coord *c, const void *raw, size_t len, struct hash *h,
		     struct error *err)
{
	int rc = blobstore_put_mem(c->bs, raw, len, BLOB_CODEC_ZLIB, h, NULL, err);

	if (rc == 0 && (rc = coord_blob_record(c, h, len)) < 0)
		error_set(err, rc, "cannot record a blob");
	return rc;
}

/* θ_0, the zero momentum, the eval blob, θ_0's eval loss: round 0's
 * manifest m (sealed into *env). */
static int coord_round0(struct coord *c, const struct jobspec *s, const struct coord_shards *sh,
			struct manifest *m, unsigned char **env, size_t *env_len, struct hash *id,
			char *sample, size_t cap, struct error *err)
{
	size_t n = model_param_count(s->cfg);
	float *theta = calloc(n, sizeof(float)), *zero = calloc(n, sizeof(float));
	unsigned char *eval = NULL;
	int rc = theta && zero ? 0 : error_set(err, ERROR_NOMEM, "out of memory");

	if (rc == 0)
		rc = coord_eval_bytes(c, sh, s->eval_bytes, &eval, err);
	if (rc == 0)
		rc = coord_put(c, eval, s->eval_bytes, &m->eval_data, err);
	if (rc == 0) {
		model_init_params(s->cfg, s->seed, theta);
		rc = coord_put(c, theta, n * sizeof(float), &m->model, err);
	}
	if (rc == 0)
		rc = coord_put(c, zero, n * sizeof(float), &m->momentum, err);
	if (rc == 0)
		rc = merge_eval(s->cfg, theta, eval, s->eval_bytes, s->eval_sequences,
				&m->eval_loss, err);
	if (rc == 0)
		coord_sample(s, theta, eval, s->eval_bytes, 0, sample, cap);
	if (rc == 0) {
		snprintf(m->job, sizeof(m->job), "%s", s->name);
		snprintf(m->preset, sizeof(m->preset), "%s", s->preset);
		m->round = 0;
		memset(&m->parent, 0, sizeof(m->parent));
		m->outer_lr = s->outer_lr;
		m->outer_momentum = s->outer_momentum;
		m->eval_sequences = (uint64_t)s->eval_sequences;
		m->created = (int64_t)time(NULL);
		rc = manifest_seal(m, c->sk, env, env_len, id, err);
	}
	free(theta);
	free(zero);
	free(eval);
	return rc;
}

/* The rows of a new job: job, manifest, round 0, in one transaction. */
static int coord_job_insert(struct coord *c, const struct jobspec *s, const char *spec,
			    int64_t dataset, const struct manifest *m, const struct hash *env_hash,
			    const struct hash *id, const char *sample, int64_t *job)
{
	char env_hex[HASH_HEX_LEN + 1], id_hex[HASH_HEX_LEN + 1], model[HASH_HEX_LEN + 1],
	    mom[HASH_HEX_LEN + 1], eval[HASH_HEX_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	sqlite3_stmt *st;
	int rc;

	hash_to_hex(env_hash, env_hex);
	hash_to_hex(id, id_hex);
	hash_to_hex(&m->model, model);
	hash_to_hex(&m->momentum, mom);
	hash_to_hex(&m->eval_data, eval);
	db_lock(c->db);
	rc = db_begin(c->db);
	st = rc == 0
		 ? db_stmt_cached(c->db, "INSERT INTO jobs (name, dataset, spec, quorum, rounds,"
					 " inner_steps, seed, created, state, eval_blob)"
					 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running', ?9)")
		 : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, dataset);
		sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, s->quorum);
		sqlite3_bind_int(st, 5, s->rounds);
		sqlite3_bind_int(st, 6, s->inner_steps);
		sqlite3_bind_int64(st, 7, (int64_t)s->seed);
		sqlite3_bind_int64(st, 8, now);
		sqlite3_bind_text(st, 9, eval, -1, SQLITE_STATIC);
		rc = db_step(c->db, st);
		*job = sqlite3_last_insert_rowid(db_sqlite(c->db));
	}
	st = rc == 0 ? db_stmt_cached(c->db, "INSERT OR IGNORE INTO manifests (hash, kind, signer,"
					     " created) VALUES (?1, 'model', ?2, ?3)")
		     : NULL;
	if (st) {
		sqlite3_bind_text(st, 1, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, c->pk.bytes, sizeof(c->pk.bytes), SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		rc = db_step(c->db, st);
	}
	st = rc == 0 ? db_stmt_cached(c->db,
				      "INSERT INTO rounds (job, round, model, manifest,"
				      " manifest_id, momentum, eval_loss, state, created,"
				      " sample) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8)")
		     : NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, *job);
		sqlite3_bind_text(st, 2, model, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, env_hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, id_hex, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, mom, -1, SQLITE_STATIC);
		sqlite3_bind_double(st, 6, m->eval_loss);
		sqlite3_bind_int64(st, 7, now);
		sqlite3_bind_text(st, 8, sample, -1, SQLITE_STATIC);
		rc = db_step(c->db, st);
	}
	rc = rc == 0 ? db_commit(c->db) : rc;
	if (rc < 0)
		db_rollback(c->db);
	db_unlock(c->db);
	return rc;
}

static const char coord_sql_dataset_by_name[] = "SELECT id FROM datasets WHERE name = ?1";

static int64_t coord_dataset_find(struct coord *c, const char *name)
{
	sqlite3_stmt *st;
	int64_t id = ERROR_NOT_FOUND;

	db_lock(c->db);
	st = db_stmt_cached(c->db, coord_sql_dataset_by_name);
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	return id;
}

int coord_job_create(struct coord *c, const void *spec, size_t len, int64_t *id, struct error *err)
{
	struct coord_shards sh;
	struct coord_job j;
	struct manifest m;
	unsigned char *env = NULL;
	struct hash env_hash, mid;
	char sample[COORD_SAMPLE_BYTES + 1] = "";
	size_t env_len;
	char *text;
	int64_t ds;
	int rc;

	memset(&sh, 0, sizeof(sh));
	manifest_init(&m);
	memset(&j, 0, sizeof(j));
	text = strndup(spec, len);
	if (!text)
		return error_set(err, ERROR_NOMEM, "out of memory");
	rc = strlen(text) == len ? jobspec_parse(&j.spec, text, len, err)
				 : error_set(err, ERROR_FORMAT, "spec holds a NUL byte");
	if (rc < 0)
		goto out;
	ds = coord_dataset_find(c, j.spec.dataset);
	if (ds < 0) {
		rc = error_set(err, ERROR_NOT_FOUND, "field 'dataset': no dataset '%s'",
			       j.spec.dataset);
		goto out;
	}
	rc = coord_shards_load(c, ds, &sh);
	if (rc < 0) {
		error_set(err, rc, "cannot read the shards of dataset '%s'", j.spec.dataset);
		goto out;
	}
	rc = jobspec_check_data(&j.spec, sh.total, sh.min, err);
	if (rc == 0)
		rc = coord_round0(c, &j.spec, &sh, &m, &env, &env_len, &mid, sample, sizeof(sample),
				  err);
	if (rc == 0)
		rc =
		    blobstore_put_mem(c->bs, env, env_len, BLOB_CODEC_STORED, &env_hash, NULL, err);
	if (rc == 0 && (rc = coord_blob_record(c, &env_hash, env_len)) < 0)
		error_set(err, rc, "cannot record the manifest");
	if (rc == 0) {
		rc = coord_job_insert(c, &j.spec, text, ds, &m, &env_hash, &mid, sample, id);
		if (rc == ERROR_DUPLICATE)
			error_set(err, rc, "field 'name': a job named '%s' exists", j.spec.name);
		else if (rc < 0)
			error_set(err, rc, "cannot record the job");
	}
	if (rc == 0 && (rc = coord_job_load(c, *id, &j)) == 0)
		rc = coord_round_generate(c, &j, 0);
	if (rc < 0 && err->code == 0)
		error_set(err, rc, "cannot generate round 0");
	if (rc >= 0) {
		rc = 0;
		log_info("job '%s' (%" PRId64 "): %d rounds of %d units, theta_0 eval loss %.6f",
			 j.spec.name, *id, j.spec.rounds, j.spec.units_per_round, m.eval_loss);
		coord_kick(c);
	}
out:
	coord_shards_release(&sh);
	manifest_release(&m);
	free(env);
	free(text);
	return rc;
}

/* Whether every unit of the job's newest round failed: nothing can come
 * of it (a failed unit stays failed), so resuming would only pause the
 * job again; its round in *round. */
static int coord_job_stuck(struct coord *c, const struct coord_job *j, int64_t *round)
{
	*round = coord_query_int(c, "SELECT max(round) FROM rounds WHERE job = ?1", j->id, 0);
	return *round >= 0 && coord_query_int(c,
					      "SELECT count(*) FROM units WHERE job = ?1 AND"
					      " round = ?2 AND state = 'failed'",
					      j->id, *round) == j->spec.units_per_round;
}

int coord_job_set_state(struct coord *c, int64_t job, const char *verb, struct error *err)
{
	static const struct {
		const char *verb, *from, *to, *reason;
	} moves[] = {
	    {"pause", "running", "paused", "paused by an admin"},
	    {"resume", "paused", "running", NULL},
	    {"cancel", "running", "cancelled", "cancelled by an admin"},
	    {"cancel", "paused", "cancelled", "cancelled by an admin"},
	};
	struct coord_job j;
	int64_t round;
	size_t i;
	int rc = coord_job_load(c, job, &j), known = 0;

	if (rc == ERROR_NOT_FOUND)
		return error_set(err, rc, "no job %" PRId64, job);
	if (rc < 0)
		return error_set(err, rc, "cannot read job %" PRId64, job);
	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		if (strcmp(moves[i].verb, verb) != 0)
			continue;
		known = 1;
		if (strcmp(moves[i].from, j.state) == 0)
			break;
	}
	if (!known)
		return error_set(err, ERROR_INVALID, "unknown action '%s'", verb);
	if (i == sizeof(moves) / sizeof(moves[0]))
		return error_set(err, ERROR_STATE, "job %" PRId64 " is %s: cannot %s it", job,
				 j.state, verb);
	if (strcmp(verb, "resume") == 0 && coord_job_stuck(c, &j, &round))
		return error_set(err, ERROR_STATE,
				 "job %" PRId64 ": every unit of round %" PRId64
				 " failed, so it would pause again: cancel it",
				 job, round);
	rc = sched_job_set_state(c->db, job, moves[i].to, moves[i].reason);
	if (rc < 0)
		return error_set(err, rc, "cannot change job %" PRId64, job);
	log_info("job %" PRId64 " ('%s'): %s -> %s", job, j.spec.name, j.state, moves[i].to);
	coord_kick(c);
	return 0;
}
