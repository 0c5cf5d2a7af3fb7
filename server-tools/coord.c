/*
 * coord.c - the coordinator's worker: validates results with the
 * validator, credits valid ones in the ledger, and has finished rounds
 * merged (coord_merge.c) and their signed manifests published (see
 * coord.h).
 *
 * One pass (coord_step()) does, for every running job: the results not
 * yet judged, unit by unit; then the open round: missing units made, or,
 * when every unit is validated, the merge. Passes run in the worker thread
 * (woken by each result, else every COORD_POLL_S) or in a test's thread,
 * one at a time (step_lock). Blob reads, the merge and the evaluation run
 * without the database lock; each decision is one transaction.
 */
#include "config.h"

#include "server-tools/coord.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server-tools/blobstore.h"
#include "server-tools/coord_impl.h"
#include "server-tools/ledger.h"
#include "server-tools/merge.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "server-tools/validate.h"

#define COORD_PATH_MAX 4096

void coord_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

int64_t coord_query_int(struct coord *c, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st;
	int64_t v = ERROR_DB;

	db_lock(c->db);
	st = db_stmt_cached(c->db, sql);
	if (st) {
		if (sqlite3_bind_parameter_count(st) >= 1)
			sqlite3_bind_int64(st, 1, a);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sqlite3_bind_int64(st, 2, b);
		v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : ERROR_NOT_FOUND;
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	return v;
}

int coord_blob_record(struct coord *c, const struct hash *h, uint64_t raw_size)
{
	char hex[HASH_HEX_LEN + 1];
	struct error err;
	uint64_t stored = 0;
	int fd;

	if (blobstore_get(c->bs, h, &fd, &stored, &err) < 0)
		return err.code;
	close(fd);
	hash_to_hex(h, hex);
	return db_blob_add(c->db, hex, (int64_t)raw_size, (int64_t)stored, (int64_t)time(NULL));
}

void coord_sample(const struct jobspec *s, const float *theta, const unsigned char *eval,
		  size_t eval_len, uint64_t version, char *out, size_t cap)
{
	size_t plen = eval_len < COORD_SAMPLE_PROMPT ? eval_len : COORD_SAMPLE_PROMPT;

	out[0] = '\0';
	if (plen < 1 || cap < COORD_SAMPLE_BYTES + 1 ||
	    merge_sample(s->cfg, theta, eval, plen, COORD_SAMPLE_BYTES, 0.8, s->seed + version, out,
			 cap, NULL) < 0)
		out[0] = '\0';
}

/* ---- validation ---- */

struct coord_rep {
	int64_t replica, host, result;
	char output[HASH_HEX_LEN + 1];
	int pending;
	enum validate_reason reason;
	int valid;
};

static const char coord_sql_pending_units[] =
    "SELECT DISTINCT r.unit FROM replicas r JOIN units u ON u.id = r.unit"
    " WHERE u.state IN ('active', 'validated') AND r.state = 'over'"
    " AND r.outcome = 'success' AND r.validation = 'pending' LIMIT 64";
static const char coord_sql_unit_job[] = "SELECT job FROM units WHERE id = ?1";
static const char coord_sql_unit_validated[] =
    "SELECT state = 'validated' FROM units WHERE id = ?1";
static const char coord_sql_unit_reps[] =
    "SELECT r.id, r.host, s.id, r.result_hash, r.validation FROM replicas r"
    " JOIN results s ON s.replica = r.id WHERE r.unit = ?1 AND r.state = 'over'"
    " AND r.outcome = 'success' AND r.validation IN ('pending', 'inconclusive')"
    " ORDER BY s.id";
static const char coord_sql_mark[] =
    "UPDATE replicas SET validation = ?2, reason = ?3 WHERE id = ?1";
static const char coord_sql_host_bad[] =
    "UPDATE hosts SET reputation = reputation - 1, invalid = invalid + 1,"
    " blocked = CASE WHEN invalid + 1 >= ?2 THEN 1 ELSE blocked END WHERE id = ?1";
static const char coord_sql_host_good[] =
    "UPDATE hosts SET reputation = reputation + 1, credit = credit + ?2 WHERE id = ?1";
static const char coord_sql_outstanding[] =
    "SELECT count(*) FROM replicas WHERE unit = ?1 AND state <> 'over'";
static const char coord_sql_total[] = "SELECT count(*) FROM replicas WHERE unit = ?1";
static const char coord_sql_replica_add[] = "INSERT INTO replicas (unit) VALUES (?1)";
static const char coord_sql_unit_fail[] =
    "UPDATE units SET state = 'failed' WHERE id = ?1 AND state = 'active'";
static const char coord_sql_unit_valid[] =
    "UPDATE units SET state = 'validated', canonical = ?2 WHERE id = ?1 AND state = 'active'";
static const char coord_sql_unit_flops[] = "SELECT flops FROM units WHERE id = ?1";

/* Runs one statement bound with ?1 = a and, when it has a ?2, b (or d
 * when d is not 0), under the lock held by the caller. */
int coord_exec(struct coord *c, const char *sql, int64_t a, int64_t b, double d)
{
	sqlite3_stmt *st = db_stmt_cached(c->db, sql);

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2) {
		if (d != 0)
			sqlite3_bind_double(st, 2, d);
		else
			sqlite3_bind_int64(st, 2, b);
	}
	return db_step(c->db, st);
}

/* Reads the results of unit not yet decided (at most max). */
static int coord_unit_reps(struct coord *c, int64_t unit, struct coord_rep *reps, int max)
{
	sqlite3_stmt *st;
	char v[16];
	int n = 0;

	db_lock(c->db);
	st = db_stmt_cached(c->db, coord_sql_unit_reps);
	if (!st) {
		db_unlock(c->db);
		return ERROR_DB;
	}
	sqlite3_bind_int64(st, 1, unit);
	while (n < max && sqlite3_step(st) == SQLITE_ROW) {
		memset(&reps[n], 0, sizeof(reps[n]));
		reps[n].replica = sqlite3_column_int64(st, 0);
		reps[n].host = sqlite3_column_int64(st, 1);
		reps[n].result = sqlite3_column_int64(st, 2);
		coord_text(st, 3, reps[n].output, sizeof(reps[n].output));
		coord_text(st, 4, v, sizeof(v));
		reps[n].pending = strcmp(v, "pending") == 0;
		n++;
	}
	sqlite3_reset(st);
	db_unlock(c->db);
	return n;
}

/* Checks each pending result on its own (outside the lock). */
static void coord_check_alone(struct coord *c, const struct validate_params *p,
			      struct coord_rep *reps, int n)
{
	unsigned char *raw;
	struct hash h;
	struct error err;
	size_t len;
	int i, rc;

	for (i = 0; i < n; i++) {
		if (!reps[i].pending)
			continue;
		if (hash_from_hex(&h, reps[i].output, &err) < 0) {
			reps[i].reason = VALIDATE_UNDECODABLE;
			continue;
		}
		rc = merge_blob_read(c->bs, &h, p->n_params * sizeof(float), &raw, &len, &err);
		if (rc == ERROR_RANGE) {
			reps[i].reason = VALIDATE_WRONG_SHAPE;
			continue;
		}
		if (rc < 0) {
			reps[i].reason = VALIDATE_UNDECODABLE;
			continue;
		}
		reps[i].reason = validate_delta(p, &h, raw, len);
		free(raw);
	}
}

/* Sets a replica's validation and reason (NULL: none); lock held. */
static int coord_mark(struct coord *c, int64_t replica, const char *validation, const char *reason)
{
	sqlite3_stmt *st = db_stmt_cached(c->db, coord_sql_mark);

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	sqlite3_bind_text(st, 2, validation, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	return db_step(c->db, st);
}

/* Marks a replica judged invalid (reason) and costs its host; lock held. */
static int coord_mark_invalid(struct coord *c, const struct coord_rep *r)
{
	int rc = coord_mark(c, r->replica, "invalid", validate_reason_name(r->reason));

	if (rc == 0)
		rc = coord_exec(c, coord_sql_host_bad, r->host, COORD_BLOCK_AFTER, 0);
	log_info("result of replica %" PRId64 " from host %" PRId64 " is invalid: %s", r->replica,
		 r->host, validate_reason_name(r->reason));
	return rc;
}

/* Records the per-result verdicts: invalid ones, the others
 * 'inconclusive' (valid on their own, waiting for agreement). */
static int coord_record_alone(struct coord *c, const struct coord_rep *reps, int n)
{
	int i, rc;

	db_lock(c->db);
	rc = db_begin(c->db);
	for (i = 0; i < n && rc == 0; i++) {
		if (!reps[i].pending)
			continue;
		if (reps[i].reason != VALIDATE_REASON_NONE)
			rc = coord_mark_invalid(c, &reps[i]);
		else
			rc = coord_mark(c, reps[i].replica, "inconclusive", NULL);
	}
	rc = rc == 0 ? db_commit(c->db) : rc;
	if (rc < 0)
		db_rollback(c->db);
	db_unlock(c->db);
	return rc;
}

/* No agreement yet: one more replica while none is outstanding and the
 * job's cap allows, else the unit fails. */
static int coord_need_more(struct coord *c, int64_t unit, int max_replicas)
{
	int64_t out = coord_query_int(c, coord_sql_outstanding, unit, 0);
	int64_t total = coord_query_int(c, coord_sql_total, unit, 0);
	int rc;

	if (out < 0 || total < 0)
		return ERROR_DB;
	if (out > 0)
		return 0;
	db_lock(c->db);
	if (total < max_replicas) {
		rc = coord_exec(c, coord_sql_replica_add, unit, 0, 0);
	} else {
		rc = coord_exec(c, coord_sql_unit_fail, unit, 0, 0);
		log_warn("unit %" PRId64 " failed: no majority after %" PRId64 " replicas", unit,
			 total);
	}
	db_unlock(c->db);
	return rc;
}

/* Appends the ledger entry of a valid result (a duplicate is fine). */
static void coord_credit(struct coord *c, int64_t unit, const struct coord_rep *r, double flops)
{
	struct ledger_entry e;
	struct error err;
	sqlite3_stmt *st;
	char uid[HASH_HEX_LEN + 1] = "";
	int ok = 0;

	memset(&e, 0, sizeof(e));
	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT h.public_key, h.account, u.uid FROM hosts h, units u"
				   " WHERE h.id = ?1 AND u.id = ?2");
	if (st) {
		sqlite3_bind_int64(st, 1, r->host);
		sqlite3_bind_int64(st, 2, unit);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_bytes(st, 0) == (int)sizeof(e.host_key.bytes)) {
			memcpy(e.host_key.bytes, sqlite3_column_blob(st, 0),
			       sizeof(e.host_key.bytes));
			coord_text(st, 1, e.account, sizeof(e.account));
			coord_text(st, 2, uid, sizeof(uid));
			ok = 1;
		}
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	if (!ok || hash_from_hex(&e.unit_id, uid, &err) < 0 ||
	    hash_from_hex(&e.result, r->output, &err) < 0)
		return;
	e.time = (int64_t)time(NULL);
	e.host = (uint64_t)r->host;
	e.flops = (uint64_t)flops;
	if (ledger_append(c->ledger, &e, NULL, &err) < 0 && err.code != ERROR_DUPLICATE)
		log_error("cannot credit result %" PRId64 ": %s", r->result, err.msg);
}

/* A majority agreed: canonical, valid and invalid results, credit. */
static int coord_decide(struct coord *c, int64_t unit, struct coord_rep *reps, int n, size_t canon,
			const struct validate_replica *vr)
{
	double flops = 0;
	int i, rc;

	db_lock(c->db);
	rc = db_begin(c->db);
	for (i = 0; i < n && rc == 0; i++) {
		reps[i].valid = vr[i].valid;
		reps[i].reason = vr[i].reason;
		if (!vr[i].valid) {
			rc = coord_mark_invalid(c, &reps[i]);
			continue;
		}
		rc = coord_mark(c, reps[i].replica, "valid", NULL);
	}
	if (rc == 0) {
		sqlite3_stmt *st = db_stmt_cached(c->db, coord_sql_unit_flops);
		if (st) {
			sqlite3_bind_int64(st, 1, unit);
			if (sqlite3_step(st) == SQLITE_ROW)
				flops = sqlite3_column_double(st, 0);
			sqlite3_reset(st);
		}
	}
	for (i = 0; i < n && rc == 0; i++)
		if (reps[i].valid)
			rc = coord_exec(c, coord_sql_host_good, reps[i].host, 0, flops);
	if (rc == 0)
		rc = coord_exec(c, coord_sql_unit_valid, unit, reps[canon].result, 0);
	rc = rc == 0 ? db_commit(c->db) : rc;
	if (rc < 0)
		db_rollback(c->db);
	db_unlock(c->db);
	for (i = 0; i < n && rc == 0; i++)
		if (reps[i].valid)
			coord_credit(c, unit, &reps[i], flops);
	return rc;
}

/* Results that came in after their unit was validated (replicas that
 * were out when the majority formed): each is compared with the canonical
 * result alone; agreeing earns credit, the others are invalid. Once the
 * unit's round is merged, its canonical Δ is public (the manifest names
 * it and blobs are served to anyone), so an agreeing result may be a copy:
 * it is still marked valid, but earns neither credit nor reputation. */
static int coord_validate_late(struct coord *c, int64_t unit, const struct validate_params *vp,
			       struct coord_rep *reps, int n)
{
	struct validate_params p = *vp;
	struct validate_replica vr[2];
	struct validate_outcome out;
	char canon[HASH_HEX_LEN + 1] = "";
	struct error err;
	sqlite3_stmt *st;
	double flops = 0;
	int i, rc = 0, merged = 0;

	db_lock(c->db);
	st = db_stmt_cached(c->db,
			    "SELECT s.blob, s.id, u.flops, EXISTS (SELECT 1 FROM rounds r"
			    " WHERE r.job = u.job AND r.round = u.round AND r.state = 'done')"
			    " FROM units u JOIN results s ON s.id = u.canonical WHERE u.id = ?1");
	if (st) {
		sqlite3_bind_int64(st, 1, unit);
		if (sqlite3_step(st) == SQLITE_ROW) {
			coord_text(st, 0, canon, sizeof(canon));
			flops = sqlite3_column_double(st, 2);
			merged = sqlite3_column_int(st, 3);
		}
		sqlite3_reset(st);
	}
	db_unlock(c->db);
	p.min_agree = 2;
	p.max_replicas = 3;
	for (i = 0; i < n && rc == 0; i++) {
		if (!reps[i].pending || reps[i].reason != VALIDATE_REASON_NONE)
			continue;
		memset(vr, 0, sizeof(vr));
		vr[0].result_id = 0;
		vr[1].result_id = reps[i].result;
		if (hash_from_hex(&vr[0].output, canon, &err) < 0 ||
		    hash_from_hex(&vr[1].output, reps[i].output, &err) < 0 ||
		    validate_unit_blobs(c->bs, &p, vr, 2, &out, &err) < 0)
			return ERROR_FORMAT;
		reps[i].valid = out.verdict == VALIDATE_CANONICAL && vr[1].valid;
		reps[i].reason = reps[i].valid ? VALIDATE_REASON_NONE : VALIDATE_DISAGREE;
		db_lock(c->db);
		if (reps[i].valid) {
			rc = coord_mark(c, reps[i].replica, "valid", NULL);
			if (rc == 0 && !merged)
				rc = coord_exec(c, coord_sql_host_good, reps[i].host, 0, flops);
		} else {
			rc = coord_mark_invalid(c, &reps[i]);
		}
		db_unlock(c->db);
		if (rc == 0 && reps[i].valid && !merged)
			coord_credit(c, unit, &reps[i], flops);
	}
	return rc < 0 ? rc : 1;
}

/* Judges the results of one unit. Returns 1 when something changed. */
static int coord_validate_unit(struct coord *c, int64_t unit)
{
	struct coord_rep reps[JOBSPEC_REPLICAS_MAX], ok[JOBSPEC_REPLICAS_MAX];
	struct validate_replica vr[JOBSPEC_REPLICAS_MAX];
	struct validate_params p;
	struct validate_outcome out;
	struct coord_job j;
	struct error err;
	int n, i, k = 0, rc;

	rc = coord_job_load(c, coord_query_int(c, coord_sql_unit_job, unit, 0), &j);
	if (rc < 0 && rc != ERROR_NOT_FOUND && rc != ERROR_DB && rc != ERROR_NOMEM)
		/* a job made without a spec of ours: compare hashes only */
		return sched_validate(c->db, unit) < 0 ? ERROR_DB : 1;
	if (rc < 0)
		return rc;
	memset(&p, 0, sizeof(p));
	p.mode = j.spec.tolerance_mode ? VALIDATE_TOLERANCE : VALIDATE_EXACT;
	p.tolerance = j.spec.threshold;
	p.n_params = model_param_count(j.spec.cfg);
	p.min_agree = (unsigned)j.spec.quorum;
	p.max_replicas = JOBSPEC_REPLICAS_MAX + 1; /* the cap is applied below */
	n = coord_unit_reps(c, unit, reps, JOBSPEC_REPLICAS_MAX);
	if (n <= 0)
		return n;
	coord_check_alone(c, &p, reps, n);
	if (coord_query_int(c, coord_sql_unit_validated, unit, 0) == 1) {
		for (i = 0; i < n; i++)
			if (reps[i].pending && reps[i].reason != VALIDATE_REASON_NONE)
				rc = rc < 0 ? rc : coord_record_alone(c, &reps[i], 1);
		return rc < 0 ? rc : coord_validate_late(c, unit, &p, reps, n);
	}
	rc = coord_record_alone(c, reps, n);
	if (rc < 0)
		return rc;
	for (i = 0; i < n; i++)
		if (reps[i].reason == VALIDATE_REASON_NONE)
			ok[k++] = reps[i];
	if (k >= j.spec.quorum) {
		memset(vr, 0, sizeof(vr));
		for (i = 0; i < k; i++) {
			vr[i].result_id = ok[i].result;
			if (hash_from_hex(&vr[i].output, ok[i].output, &err) < 0)
				return ERROR_FORMAT;
		}
		rc = validate_unit_blobs(c->bs, &p, vr, (size_t)k, &out, &err);
		if (rc < 0) {
			log_error("cannot validate unit %" PRId64 ": %s", unit, err.msg);
			return rc;
		}
		if (out.verdict == VALIDATE_CANONICAL)
			return coord_decide(c, unit, ok, k, out.canonical, vr) < 0 ? ERROR_DB : 1;
	}
	rc = coord_need_more(c, unit, j.spec.max_replicas);
	return rc < 0 ? rc : 1;
}

static int coord_validate_pass(struct coord *c)
{
	int64_t units[64];
	sqlite3_stmt *st;
	int n = 0, i, did = 0;

	db_lock(c->db);
	st = db_stmt_cached(c->db, coord_sql_pending_units);
	while (st && n < 64 && sqlite3_step(st) == SQLITE_ROW)
		units[n++] = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	db_unlock(c->db);
	for (i = 0; i < n; i++)
		if (coord_validate_unit(c, units[i]) > 0)
			did++;
	return did;
}

/* The open round of each running job: make missing units, or merge once
 * every unit is settled. A unit that failed (too many errors, or no
 * agreement within max_replicas) is left out: the round merges the units
 * that validated, and its manifest lists just those (audit re-derives the
 * same average). When every unit of a round failed there is nothing to
 * merge: the job is paused, with the reason in its status and the log,
 * for an admin (resuming it is refused: coord_job_set_state()). */
static int coord_round_pass(struct coord *c)
{
	int64_t jobs[64], round, units, validated, failed;
	struct coord_job j;
	sqlite3_stmt *st;
	int n = 0, i, did = 0, rc;

	db_lock(c->db);
	st = db_stmt_cached(c->db, "SELECT id FROM jobs WHERE state = 'running' ORDER BY id");
	while (st && n < 64 && sqlite3_step(st) == SQLITE_ROW)
		jobs[n++] = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	db_unlock(c->db);
	for (i = 0; i < n; i++) {
		if (coord_job_load(c, jobs[i], &j) < 0)
			continue;
		round = coord_query_int(c, "SELECT max(round) FROM rounds WHERE job = ?1", j.id, 0);
		if (round < 0 || round >= j.spec.rounds)
			continue;
		units = coord_query_int(
		    c, "SELECT count(*) FROM units WHERE job = ?1 AND round = ?2", j.id, round);
		validated = coord_query_int(c,
					    "SELECT count(*) FROM units WHERE job = ?1 AND"
					    " round = ?2 AND state = 'validated'",
					    j.id, round);
		failed = coord_query_int(c,
					 "SELECT count(*) FROM units WHERE job = ?1 AND"
					 " round = ?2 AND state = 'failed'",
					 j.id, round);
		if (units < j.spec.units_per_round) {
			rc = coord_round_generate(c, &j, round);
			did += rc > 0 ? 1 : 0;
		} else if (validated > 0 && validated + failed == j.spec.units_per_round) {
			if (failed > 0)
				log_warn("job '%s': round %" PRId64 ": %" PRId64 " of %" PRId64
					 " units failed; merging the %" PRId64 " that validated",
					 j.spec.name, round, failed, units, validated);
			did += coord_merge(c, &j, round, (size_t)validated) == 0 ? 1 : 0;
		} else if (failed == j.spec.units_per_round) {
			char why[128];

			snprintf(why, sizeof(why),
				 "every unit of round %" PRId64 " failed: nothing to merge", round);
			log_error("job '%s': %s; job paused (the hosts' errors are in its "
				  "replicas; cancel it)",
				  j.spec.name, why);
			did += sched_job_set_state(c->db, j.id, "paused", why) == 0 ? 1 : 0;
		}
	}
	return did;
}

/* Credits every valid result (idempotent: duplicates are refused). */
static void coord_ledger_sweep(struct coord *c)
{
	struct coord_rep r;
	sqlite3_stmt *st;
	int64_t units[256];
	struct coord_rep reps[256];
	double flops[256];
	int n, i;
	int64_t after = 0;

	do {
		n = 0;
		db_lock(c->db);
		st = db_stmt_cached(c->db, "SELECT r.id, r.host, r.result_hash, r.unit, u.flops"
					   " FROM replicas r JOIN units u ON u.id = r.unit"
					   " WHERE r.validation = 'valid' AND r.id > ?1"
					   " ORDER BY r.id LIMIT 256");
		if (st) {
			sqlite3_bind_int64(st, 1, after);
			while (n < 256 && sqlite3_step(st) == SQLITE_ROW) {
				memset(&r, 0, sizeof(r));
				r.replica = sqlite3_column_int64(st, 0);
				r.host = sqlite3_column_int64(st, 1);
				coord_text(st, 2, r.output, sizeof(r.output));
				units[n] = sqlite3_column_int64(st, 3);
				flops[n] = sqlite3_column_double(st, 4);
				reps[n++] = r;
			}
			sqlite3_reset(st);
		}
		db_unlock(c->db);
		for (i = 0; i < n; i++) {
			coord_credit(c, units[i], &reps[i], flops[i]);
			after = reps[i].replica;
		}
	} while (n == 256);
}

int coord_step(struct coord *c)
{
	int did;

	pthread_mutex_lock(&c->step_lock);
	sched_expire(c->db, (int64_t)time(NULL));
	did = coord_validate_pass(c);
	did += coord_round_pass(c);
	pthread_mutex_unlock(&c->step_lock);
	return did;
}

/* ---- the worker thread ---- */

static void *coord_main(void *arg)
{
	struct coord *c = arg;
	struct timespec ts;
	int did;

	coord_ledger_sweep(c);
	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		c->kicked = 0;
		c->busy = 1;
		pthread_mutex_unlock(&c->lock);
		did = coord_step(c);
		pthread_mutex_lock(&c->lock);
		c->busy = 0;
		c->last_did = did;
		pthread_cond_broadcast(&c->cond);
		if (did > 0 || c->kicked || c->stop)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += COORD_POLL_S;
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void coord_kick(struct coord *c)
{
	pthread_mutex_lock(&c->lock);
	c->kicked = 1;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

int coord_wait_idle(struct coord *c, int timeout_ms)
{
	struct timespec end, now;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->lock);
	/* Idle: a whole pass started after the last kick did nothing. */
	while (c->busy || c->kicked || c->last_did > 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec)) {
			rc = ERROR_STATE;
			break;
		}
		if (!c->busy && !c->kicked)
			c->kicked = 1, pthread_cond_broadcast(&c->cond);
		pthread_cond_timedwait(&c->cond, &c->lock, &end);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void coord_result_added(void *ctx, int64_t unit)
{
	(void)unit;
	coord_kick(ctx);
}

int coord_new(struct coord **out, struct server *s, struct error *err)
{
	struct server_hooks hooks;
	char path[COORD_PATH_MAX];
	struct coord *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ERROR_NOMEM, "out of memory");
	c->server = s;
	c->db = server_db(s);
	c->bs = server_blobstore(s);
	c->sk = server_secret_key(s);
	key_public_of(&c->pk, c->sk);
	c->last_did = 1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->step_lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (snprintf(path, sizeof(path), "%s/ledger.log", server_state_path(s)) >=
	    (int)sizeof(path)) {
		rc = error_set(err, ERROR_TOO_BIG, "state path too long");
		goto fail;
	}
	rc = ledger_open(&c->ledger, path, c->sk, err);
	if (rc < 0)
		goto fail;
	memset(&hooks, 0, sizeof(hooks));
	hooks.routes = coord_admin_routes(&hooks.n_routes);
	hooks.result_added = coord_result_added;
	hooks.ctx = c;
	server_set_hooks(s, &hooks);
	if (pthread_create(&c->thread, NULL, coord_main, c) != 0) {
		rc = error_set(err, ERROR_NOMEM, "cannot start the coordinator's worker");
		goto fail;
	}
	c->started = 1;
	*out = c;
	return 0;
fail:
	coord_free(c);
	return rc;
}

void coord_free(struct coord *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stop = 1;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	ledger_free(c->ledger);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->step_lock);
	free(c);
}

struct server *coord_server(struct coord *c)
{
	return c->server;
}
