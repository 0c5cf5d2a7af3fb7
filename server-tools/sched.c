/*
 * sched.c - units, replicas and results in the state database (see
 * sched.h).
 *
 * Cost: an assignment is one write of a few short statements (the
 * expiry sweep uses the partial index on in-progress deadlines, the pick
 * the partial index on unsent replicas). Writes share commits with the
 * requests around them (group commit, db_txn.c), so dispatch is no longer
 * bounded by one WAL fsync per request but by the statements under the
 * lock. The request paths (assign, abandon, result, replica lookup) take
 * db_lock_group(); the rest takes db_lock().
 */
#include "config.h"

#include "server-tools/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "common/log.h"

static const char sched_sql_unit_insert[] =
    "INSERT INTO units (job, round, idx, envelope, flops, quorum, deadline_s, created, uid)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char sched_sql_replica_insert[] = "INSERT INTO replicas (unit) VALUES (?1)";
/* Timeouts count as errors (BOINC's "no reply"): a replacement goes out
 * while the unit has had fewer than 2 * quorum + 1 of them, counting this
 * one; then the unit fails. */
static const char sched_sql_expire_replace[] =
    "INSERT INTO replicas (unit) SELECT r.unit FROM replicas r JOIN units u ON u.id = r.unit"
    " WHERE r.state = 'in_progress' AND r.deadline < ?1 AND u.state = 'active'"
    " AND (SELECT count(*) FROM replicas e WHERE e.unit = r.unit"
    "  AND e.outcome IN ('error', 'timeout')) + 1 < 2 * u.quorum + 1";
static const char sched_sql_expire_fail[] =
    "UPDATE units SET state = 'failed' WHERE state = 'active' AND id IN"
    " (SELECT r.unit FROM replicas r WHERE r.state = 'in_progress' AND r.deadline < ?1)"
    " AND (SELECT count(*) FROM replicas e WHERE e.unit = units.id"
    "  AND (e.outcome IN ('error', 'timeout') OR (e.state = 'in_progress' AND"
    "  e.deadline < ?1))) >= 2 * quorum + 1";
static const char sched_sql_expire[] = "UPDATE replicas SET state = 'over', outcome = 'timeout'"
				       " WHERE state = 'in_progress' AND deadline < ?1";
static const char sched_sql_pick[] =
    "SELECT r.id, u.id, u.uid, u.deadline_s, u.envelope FROM replicas r"
    " JOIN units u ON u.id = r.unit JOIN jobs j ON j.id = u.job"
    " WHERE r.state = 'unsent' AND u.state = 'active' AND j.state = 'running'"
    " AND NOT EXISTS (SELECT 1 FROM replicas o WHERE o.unit = r.unit"
    "  AND (o.host = ?1 OR o.account = ?2 OR o.netblock = ?3))"
    " ORDER BY r.unit, r.id LIMIT 1";
static const char sched_sql_send[] =
    "UPDATE replicas SET state = 'in_progress', host = ?2, account = ?3, sent = ?4,"
    " deadline = ?5, netblock = ?6 WHERE id = ?1 AND state = 'unsent'";
static const char sched_sql_replica_get[] =
    "SELECT r.id, r.unit, coalesce(r.host, 0), r.state, coalesce(r.outcome, ''),"
    " coalesce(r.deadline, 0), coalesce(u.uid, '') FROM replicas r"
    " JOIN units u ON u.id = r.unit WHERE r.id = ?1";
static const char sched_sql_blob_insert[] =
    "INSERT OR IGNORE INTO blobs (hash, size, stored_size, created) VALUES (?1, ?2, ?3, ?4)";
static const char sched_sql_result_insert[] =
    "INSERT INTO results (replica, host, blob, descriptor, received)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sched_sql_replica_over[] =
    "UPDATE replicas SET state = 'over', outcome = 'success', received = ?3,"
    " result_hash = ?4 WHERE id = ?1 AND host = ?2 AND state = 'in_progress'";
static const char sched_sql_host_in_progress[] =
    "SELECT count(*) FROM replicas WHERE host = ?1 AND state = 'in_progress'";
static const char sched_sql_abandon[] =
    "UPDATE replicas SET state = 'over', outcome = 'error', received = ?3"
    " WHERE id = ?1 AND host = ?2 AND state = 'in_progress'";
static const char sched_sql_replace_error[] =
    "INSERT INTO replicas (unit) SELECT u.id FROM units u WHERE u.id = ?1 AND u.state = 'active'"
    " AND (SELECT count(*) FROM replicas WHERE unit = ?1"
    "  AND outcome IN ('error', 'timeout')) < 2 * u.quorum + 1";
static const char sched_sql_fail_errors[] =
    "UPDATE units SET state = 'failed' WHERE id = ?1 AND state = 'active'"
    " AND (SELECT count(*) FROM replicas WHERE unit = ?1"
    "  AND outcome IN ('error', 'timeout')) >= 2 * quorum + 1";
static const char sched_sql_host_blocked[] = "SELECT blocked FROM hosts WHERE id = ?1";
static const char sched_sql_count[] = "SELECT count(*) FROM replicas WHERE state = ?1";
static const char sched_sql_dataset_insert[] =
    "INSERT INTO datasets (name, owner, licence, source, created) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sched_sql_job_insert[] =
    "INSERT INTO jobs (name, dataset, spec, quorum, rounds, inner_steps, seed, created)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char sched_sql_job_state[] = "UPDATE jobs SET state = ?2, reason = ?3 WHERE id = ?1";
static const char sched_sql_round_insert[] =
    "INSERT INTO rounds (job, round, model, created) VALUES (?1, ?2, ?3, ?4)";

static void sched_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

int sched_unit_add(struct db *db, const struct sched_unit *u, int64_t now, int64_t *unit_id)
{
	sqlite3_stmt *st;
	int rc, i;

	if (u->quorum < 1 || u->deadline_s < 1 || !u->envelope || !u->uid)
		return ERROR_INVALID;
	db_lock(db);
	rc = db_begin(db);
	if (rc < 0)
		goto out;
	st = db_stmt_cached(db, sched_sql_unit_insert);
	rc = ERROR_DB;
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, u->job);
	sqlite3_bind_int64(st, 2, u->round);
	sqlite3_bind_int64(st, 3, u->index);
	sqlite3_bind_blob(st, 4, u->envelope, (int)u->envelope_len, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, u->flops);
	sqlite3_bind_int(st, 6, u->quorum);
	sqlite3_bind_int64(st, 7, u->deadline_s);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_bind_text(st, 9, u->uid, -1, SQLITE_STATIC);
	rc = db_step(db, st);
	if (rc < 0)
		goto out;
	*unit_id = sqlite3_last_insert_rowid(db_sqlite(db));
	for (i = 0; i < u->quorum && rc == 0; i++) {
		st = db_stmt_cached(db, sched_sql_replica_insert);
		if (!st) {
			rc = ERROR_DB;
			break;
		}
		sqlite3_bind_int64(st, 1, *unit_id);
		rc = db_step(db, st);
	}
	if (rc == 0)
		rc = db_commit(db);
out:
	if (rc < 0)
		db_rollback(db);
	db_unlock(db);
	return rc;
}

/* Runs one cached statement bound with ?1 = now; lock held. */
static int sched_step_now(struct db *db, const char *sql, int64_t now)
{
	sqlite3_stmt *st = db_stmt_cached(db, sql);

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, now);
	return db_step(db, st);
}

/* With the lock held and a transaction open: overdue replicas get their
 * replacements (or fail their unit), then are timed out. Returns how many
 * timed out. */
static int sched_expire_locked(struct db *db, int64_t now)
{
	int rc = sched_step_now(db, sched_sql_expire_replace, now);

	if (rc >= 0)
		rc = sched_step_now(db, sched_sql_expire_fail, now);
	if (rc >= 0)
		rc = sched_step_now(db, sched_sql_expire, now);
	return rc < 0 ? rc : sqlite3_changes(db_sqlite(db));
}

int sched_expire(struct db *db, int64_t now)
{
	int rc, n;

	db_lock(db);
	rc = db_begin(db);
	if (rc == 0) {
		n = sched_expire_locked(db, now);
		rc = n < 0 ? n : db_commit(db);
		if (rc == 0)
			rc = n;
	}
	if (rc < 0)
		db_rollback(db);
	db_unlock(db);
	if (rc > 0)
		log_info("timed out %d replicas", rc);
	return rc;
}

/* Reads the picked row into out (copying the envelope). */
static int sched_pick_read(sqlite3_stmt *st, int64_t now, struct sched_assignment *out)
{
	const void *env = sqlite3_column_blob(st, 4);
	int len = sqlite3_column_bytes(st, 4);

	out->replica = sqlite3_column_int64(st, 0);
	out->unit = sqlite3_column_int64(st, 1);
	sched_text(st, 2, out->uid, sizeof(out->uid));
	out->deadline = now + sqlite3_column_int64(st, 3);
	out->envelope = malloc(len > 0 ? (size_t)len : 1);
	if (!out->envelope)
		return ERROR_NOMEM;
	if (len > 0)
		memcpy(out->envelope, env, (size_t)len);
	out->envelope_len = (size_t)len;
	return 0;
}

/* ERROR_STATE when host has max replicas in progress; the lock is held. */
static int sched_in_progress_locked(struct db *db, int64_t host, int max)
{
	sqlite3_stmt *st = db_stmt_cached(db, sched_sql_host_in_progress);
	int64_t n;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, host);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return ERROR_DB;
	}
	n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n >= max ? ERROR_STATE : 0;
}

/* ERROR_PERM when the host is blocked for invalid results; lock held. */
static int sched_blocked_locked(struct db *db, int64_t host)
{
	sqlite3_stmt *st = db_stmt_cached(db, sched_sql_host_blocked);
	int blocked;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, host);
	blocked = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return blocked ? ERROR_PERM : 0;
}

/* Picks and sends a replica; the lock is held, a transaction open. */
static int sched_assign_locked(struct db *db, int64_t host, const char *account,
			       const char *netblock, int64_t now, struct sched_assignment *out)
{
	sqlite3_stmt *st = db_stmt_cached(db, sched_sql_pick);
	int rc, step;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, host);
	sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
	if (netblock)
		sqlite3_bind_text(st, 3, netblock, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = sched_pick_read(st, now, out);
	else
		rc = step == SQLITE_DONE ? ERROR_NOT_FOUND : ERROR_DB;
	sqlite3_reset(st);
	if (rc < 0)
		return rc;
	st = db_stmt_cached(db, sched_sql_send);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, out->replica);
	sqlite3_bind_int64(st, 2, host);
	sqlite3_bind_text(st, 3, account, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, out->deadline);
	if (netblock)
		sqlite3_bind_text(st, 6, netblock, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
	return db_step(db, st);
}

int sched_assign(struct db *db, int64_t host, const char *account, const unsigned char *nonce,
		 int max_in_progress, int64_t now, struct sched_assignment *out)
{
	return sched_assign_from(db, host, account, NULL, nonce, max_in_progress, now, out);
}

int sched_assign_from(struct db *db, int64_t host, const char *account, const char *netblock,
		      const unsigned char *nonce, int max_in_progress, int64_t now,
		      struct sched_assignment *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	db_lock_group(db);
	rc = db_begin(db);
	if (rc == 0 && nonce)
		rc = db_nonce_record_locked(db, nonce, host, now);
	if (rc == 0)
		rc = sched_expire_locked(db, now) < 0 ? ERROR_DB : 0;
	if (rc == 0 && max_in_progress > 0)
		rc = sched_in_progress_locked(db, host, max_in_progress);
	if (rc == 0)
		rc = sched_blocked_locked(db, host);
	if (rc == 0)
		rc = sched_assign_locked(db, host, account, netblock, now, out);
	if (rc == 0 || rc == ERROR_NOT_FOUND || rc == ERROR_STATE || rc == ERROR_PERM) {
		/* No work is an answer too: keep the nonce and the expiries. */
		int c = db_commit(db);
		rc = c < 0 ? c : rc;
	}
	if (rc < 0) {
		db_rollback(db);
		sched_assignment_release(out);
	}
	db_unlock(db);
	return rc;
}

void sched_assignment_release(struct sched_assignment *a)
{
	free(a->envelope);
	a->envelope = NULL;
	a->envelope_len = 0;
}

int sched_replica_get(struct db *db, int64_t id, struct sched_replica *out)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB, step;

	memset(out, 0, sizeof(*out));
	db_lock_group(db);
	st = db_stmt_cached(db, sched_sql_replica_get);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			out->id = sqlite3_column_int64(st, 0);
			out->unit = sqlite3_column_int64(st, 1);
			out->host = sqlite3_column_int64(st, 2);
			sched_text(st, 3, out->state, sizeof(out->state));
			sched_text(st, 4, out->outcome, sizeof(out->outcome));
			out->deadline = sqlite3_column_int64(st, 5);
			sched_text(st, 6, out->uid, sizeof(out->uid));
			rc = 0;
		} else {
			rc = step == SQLITE_DONE ? ERROR_NOT_FOUND : ERROR_DB;
		}
		sqlite3_reset(st);
	}
	db_unlock(db);
	return rc;
}

/* ---- validation ---- */

static const char sched_sql_unit_of[] =
    "SELECT u.id, u.quorum, u.state, u.flops FROM replicas r JOIN units u ON u.id = r.unit"
    " WHERE r.id = ?1";
static const char sched_sql_agree[] =
    "SELECT result_hash, count(*), (SELECT count(*) FROM replicas WHERE unit = ?1"
    "  AND state = 'over' AND outcome = 'success'),"
    " (SELECT count(*) FROM replicas WHERE unit = ?1 AND state <> 'over'),"
    " (SELECT count(*) FROM replicas WHERE unit = ?1)"
    " FROM replicas WHERE unit = ?1 AND state = 'over' AND outcome = 'success'"
    " GROUP BY result_hash ORDER BY count(*) DESC, min(id) LIMIT 1";
static const char sched_sql_mark[] =
    "UPDATE replicas SET validation = CASE WHEN result_hash = ?2 THEN 'valid' ELSE 'invalid' END"
    " WHERE unit = ?1 AND state = 'over' AND outcome = 'success'";
static const char sched_sql_validated[] =
    "UPDATE units SET state = 'validated', canonical = (SELECT s.id FROM results s"
    " JOIN replicas r ON r.id = s.replica WHERE r.unit = ?1 AND r.result_hash = ?2"
    " ORDER BY s.id LIMIT 1) WHERE id = ?1";
static const char sched_sql_credit[] =
    "UPDATE hosts SET credit = credit + ?2, reputation = reputation + 1"
    " WHERE id IN (SELECT host FROM replicas WHERE unit = ?1 AND validation = 'valid')";
static const char sched_sql_discredit[] =
    "UPDATE hosts SET reputation = reputation - 1"
    " WHERE id IN (SELECT host FROM replicas WHERE unit = ?1 AND validation = 'invalid')";
static const char sched_sql_inconclusive[] =
    "UPDATE replicas SET validation = 'inconclusive'"
    " WHERE unit = ?1 AND state = 'over' AND outcome = 'success'";
static const char sched_sql_unit_failed[] = "UPDATE units SET state = 'failed' WHERE id = ?1";

/* Runs a statement bound with (unit, text, real); text may be NULL. */
static int sched_unit_stmt(struct db *db, const char *sql, int64_t unit, const char *text,
			   double real)
{
	sqlite3_stmt *st = db_stmt_cached(db, sql);

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, unit);
	if (sqlite3_bind_parameter_count(st) >= 2) {
		if (text)
			sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
		else
			sqlite3_bind_double(st, 2, real);
	}
	return db_step(db, st);
}

/* The unit is decided: hash won. Marks replicas, credits and discredits
 * hosts. */
static int sched_validated(struct db *db, int64_t unit, const char *hash, double flops)
{
	int rc = sched_unit_stmt(db, sched_sql_mark, unit, hash, 0);

	if (rc == 0)
		rc = sched_unit_stmt(db, sched_sql_validated, unit, hash, 0);
	if (rc == 0)
		rc = sched_unit_stmt(db, sched_sql_credit, unit, NULL, flops);
	if (rc == 0)
		rc = sched_unit_stmt(db, sched_sql_discredit, unit, NULL, 0);
	return rc;
}

/* After a result for replica: when its active unit has `quorum`
 * successful replicas that agree (equal output hashes), the unit is
 * validated; when the successes disagree and nothing is outstanding, one
 * more replica goes out, up to 2 * quorum + 1 replicas, after which the
 * unit fails. The lock is held, a transaction open. */
static int sched_validate_locked(struct db *db, int64_t replica)
{
	sqlite3_stmt *st = db_stmt_cached(db, sched_sql_unit_of);
	int64_t unit, quorum, agree, successes, outstanding, total;
	char state[16], hash[DB_HASH_HEX + 1];
	double flops;
	int rc;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : ERROR_DB;
	unit = sqlite3_column_int64(st, 0);
	quorum = sqlite3_column_int64(st, 1);
	sched_text(st, 2, state, sizeof(state));
	flops = sqlite3_column_double(st, 3);
	sqlite3_reset(st);
	if (rc < 0 || strcmp(state, "active") != 0)
		return rc;
	st = db_stmt_cached(db, sched_sql_agree);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, unit);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) { /* no success at all: nothing to decide */
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : ERROR_DB;
	}
	rc = 0;
	sched_text(st, 0, hash, sizeof(hash));
	agree = sqlite3_column_int64(st, 1);
	successes = sqlite3_column_int64(st, 2);
	outstanding = sqlite3_column_int64(st, 3);
	total = sqlite3_column_int64(st, 4);
	sqlite3_reset(st);
	if (rc < 0 || successes < quorum)
		return rc;
	if (agree >= quorum)
		return sched_validated(db, unit, hash, flops);
	rc = sched_unit_stmt(db, sched_sql_inconclusive, unit, NULL, 0);
	if (rc < 0 || outstanding > 0)
		return rc;
	if (total >= 2 * quorum + 1)
		return sched_unit_stmt(db, sched_sql_unit_failed, unit, NULL, 0);
	return sched_unit_stmt(db, sched_sql_replica_insert, unit, NULL, 0);
}

/* The three writes of a result; the lock is held, a transaction open. */
static int sched_result_write(struct db *db, int64_t replica, int64_t host, const char *blob,
			      int64_t size, int64_t stored, const void *descriptor,
			      size_t descriptor_len, int64_t now)
{
	sqlite3_stmt *st = db_stmt_cached(db, sched_sql_replica_over);
	int rc;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	sqlite3_bind_int64(st, 2, host);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_text(st, 4, blob, -1, SQLITE_STATIC);
	/* The blob row must exist first (foreign key): insert it before. */
	{
		sqlite3_stmt *b = db_stmt_cached(db, sched_sql_blob_insert);
		if (!b)
			return ERROR_DB;
		sqlite3_bind_text(b, 1, blob, -1, SQLITE_STATIC);
		sqlite3_bind_int64(b, 2, size);
		sqlite3_bind_int64(b, 3, stored);
		sqlite3_bind_int64(b, 4, now);
		rc = db_step(db, b);
		if (rc < 0)
			return rc;
	}
	rc = db_step(db, st);
	if (rc < 0)
		return rc;
	if (sqlite3_changes(db_sqlite(db)) != 1)
		return ERROR_STATE;
	st = db_stmt_cached(db, sched_sql_result_insert);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	sqlite3_bind_int64(st, 2, host);
	sqlite3_bind_text(st, 3, blob, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, descriptor, (int)descriptor_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	return db_step(db, st);
}

int sched_result_add(struct db *db, int64_t replica, int64_t host, const char *blob, int64_t size,
		     int64_t stored, const void *descriptor, size_t descriptor_len, int64_t now,
		     int64_t *result_id)
{
	return sched_result_record(db, replica, host, blob, size, stored, descriptor,
				   descriptor_len, now, 1, NULL, result_id);
}

int sched_result_record(struct db *db, int64_t replica, int64_t host, const char *blob,
			int64_t size, int64_t stored, const void *descriptor, size_t descriptor_len,
			int64_t now, int validate, const unsigned char *nonce, int64_t *result_id)
{
	int rc;

	db_lock_group(db);
	rc = db_begin(db);
	if (rc == 0 && nonce)
		rc = db_nonce_record_locked(db, nonce, host, now);
	if (rc == 0)
		rc = sched_result_write(db, replica, host, blob, size, stored, descriptor,
					descriptor_len, now);
	if (rc == 0) {
		*result_id = sqlite3_last_insert_rowid(db_sqlite(db));
		rc = validate ? sched_validate_locked(db, replica) : 0;
	}
	if (rc == 0)
		rc = db_commit(db);
	if (rc < 0)
		db_rollback(db);
	db_unlock(db);
	return rc;
}

int sched_validate(struct db *db, int64_t unit)
{
	sqlite3_stmt *st;
	int64_t replica = 0;
	int rc;

	db_lock(db);
	rc = db_begin(db);
	st = rc == 0 ? db_stmt_cached(db, "SELECT id FROM replicas WHERE unit = ?1 AND"
					  " outcome = 'success' LIMIT 1")
		     : NULL;
	if (st) {
		sqlite3_bind_int64(st, 1, unit);
		if (sqlite3_step(st) == SQLITE_ROW)
			replica = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	if (rc == 0 && replica)
		rc = sched_validate_locked(db, replica);
	if (rc == 0 && replica)
		rc = sched_unit_stmt(db,
				     "UPDATE replicas SET validation = 'inconclusive'"
				     " WHERE unit = ?1 AND validation = 'pending'"
				     " AND outcome = 'success'",
				     unit, NULL, 0);
	rc = rc == 0 ? db_commit(db) : rc;
	if (rc < 0)
		db_rollback(db);
	db_unlock(db);
	return rc;
}

int64_t sched_replica_count(struct db *db, const char *state)
{
	sqlite3_stmt *st;
	int64_t n = ERROR_DB;

	db_lock(db);
	st = db_stmt_cached(db, sched_sql_count);
	if (st) {
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	db_unlock(db);
	return n;
}

/* Runs one prepared INSERT/UPDATE under the lock; *id (may be NULL)
 * receives the new row id. bind fills the parameters. */
static int sched_exec(struct db *db, const char *sql, void (*bind)(sqlite3_stmt *, const void *),
		      const void *arg, int64_t *id)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock(db);
	st = db_stmt_cached(db, sql);
	if (st) {
		bind(st, arg);
		rc = db_step(db, st);
		if (rc == 0 && id)
			*id = sqlite3_last_insert_rowid(db_sqlite(db));
		else if (rc == 0 && sqlite3_changes(db_sqlite(db)) == 0)
			rc = ERROR_NOT_FOUND;
	}
	db_unlock(db);
	return rc;
}

struct sched_dataset_args {
	const char *name, *owner, *licence, *source;
	int64_t now;
};

static void sched_bind_dataset(sqlite3_stmt *st, const void *arg)
{
	const struct sched_dataset_args *d = arg;

	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->licence, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, d->now);
}

int sched_dataset_add(struct db *db, const char *name, const char *owner, const char *licence,
		      const char *source, int64_t now, int64_t *id)
{
	struct sched_dataset_args d = {name, owner, licence, source, now};

	if (!name || !*name || !owner || !licence || !source)
		return ERROR_INVALID;
	return sched_exec(db, sched_sql_dataset_insert, sched_bind_dataset, &d, id);
}

struct sched_job_args {
	const struct sched_job *j;
	int64_t now;
};

static void sched_bind_job(sqlite3_stmt *st, const void *arg)
{
	const struct sched_job_args *a = arg;

	sqlite3_bind_text(st, 1, a->j->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->j->dataset);
	sqlite3_bind_text(st, 3, a->j->spec, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, a->j->quorum);
	sqlite3_bind_int(st, 5, a->j->rounds);
	sqlite3_bind_int(st, 6, a->j->inner_steps);
	sqlite3_bind_int64(st, 7, a->j->seed);
	sqlite3_bind_int64(st, 8, a->now);
}

int sched_job_add(struct db *db, const struct sched_job *j, int64_t now, int64_t *id)
{
	struct sched_job_args a = {j, now};

	if (!j->name || !*j->name || strlen(j->name) > 64 || !j->spec)
		return ERROR_INVALID;
	return sched_exec(db, sched_sql_job_insert, sched_bind_job, &a, id);
}

struct sched_state_args {
	int64_t job;
	const char *state, *reason;
};

static void sched_bind_state(sqlite3_stmt *st, const void *arg)
{
	const struct sched_state_args *a = arg;

	sqlite3_bind_int64(st, 1, a->job);
	sqlite3_bind_text(st, 2, a->state, -1, SQLITE_STATIC);
	if (a->reason)
		sqlite3_bind_text(st, 3, a->reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
}

int sched_job_set_state(struct db *db, int64_t job, const char *state, const char *reason)
{
	struct sched_state_args a = {job, state, reason};

	return sched_exec(db, sched_sql_job_state, sched_bind_state, &a, NULL);
}

struct sched_round_args {
	int64_t job, round;
	const char *model;
	int64_t now;
};

static void sched_bind_round(sqlite3_stmt *st, const void *arg)
{
	const struct sched_round_args *a = arg;

	sqlite3_bind_int64(st, 1, a->job);
	sqlite3_bind_int64(st, 2, a->round);
	sqlite3_bind_text(st, 3, a->model, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, a->now);
}

int sched_round_add(struct db *db, int64_t job, int64_t round, const char *model, int64_t now)
{
	struct sched_round_args a = {job, round, model, now};
	int64_t id;

	if (!model)
		return ERROR_INVALID;
	return sched_exec(db, sched_sql_round_insert, sched_bind_round, &a, &id);
}

/* The writes of an abandon; the lock is held, a transaction open. */
static int sched_abandon_locked(struct db *db, int64_t replica, int64_t host, int64_t now)
{
	struct sched_replica r;
	sqlite3_stmt *st;
	int rc;

	st = db_stmt_cached(db, sched_sql_abandon);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	sqlite3_bind_int64(st, 2, host);
	sqlite3_bind_int64(st, 3, now);
	rc = db_step(db, st);
	if (rc < 0)
		return rc;
	if (sqlite3_changes(db_sqlite(db)) == 0) {
		/* Say why: the lookup runs under the lock we hold. */
		st = db_stmt_cached(db, sched_sql_replica_get);
		if (!st)
			return ERROR_DB;
		sqlite3_bind_int64(st, 1, replica);
		rc = sqlite3_step(st);
		r.host = rc == SQLITE_ROW ? sqlite3_column_int64(st, 2) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return ERROR_NOT_FOUND;
		return r.host == host ? ERROR_STATE : ERROR_PERM;
	}
	st = db_stmt_cached(db, sched_sql_unit_of);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, replica);
	rc = sqlite3_step(st) == SQLITE_ROW ? 0 : ERROR_DB;
	r.unit = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == 0)
		rc = sched_unit_stmt(db, sched_sql_replace_error, r.unit, NULL, 0);
	if (rc == 0)
		rc = sched_unit_stmt(db, sched_sql_fail_errors, r.unit, NULL, 0);
	return rc;
}

int sched_abandon(struct db *db, int64_t replica, int64_t host, const unsigned char *nonce,
		  int64_t now)
{
	int rc;

	db_lock_group(db);
	rc = db_begin(db);
	if (rc == 0 && nonce)
		rc = db_nonce_record_locked(db, nonce, host, now);
	if (rc == 0)
		rc = sched_abandon_locked(db, replica, host, now);
	if (rc == 0 || rc == ERROR_NOT_FOUND || rc == ERROR_PERM || rc == ERROR_STATE) {
		/* A refusal still spends the nonce. */
		int c = db_commit(db);
		rc = c < 0 ? c : rc;
	} else {
		db_rollback(db);
	}
	db_unlock(db);
	return rc;
}

int sched_netblock(const char *addr, int v4_bits, int v6_bits, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int family, bytes, bits, i;

	if (inet_pton(AF_INET, addr, a) == 1) {
		family = AF_INET;
		bytes = 4;
		bits = v4_bits;
	} else if (inet_pton(AF_INET6, addr, a) == 1) {
		family = AF_INET6;
		bytes = 16;
		bits = v6_bits;
	} else {
		return ERROR_FORMAT;
	}
	if (bits < 1 || bits > bytes * 8)
		return ERROR_RANGE;
	for (i = 0; i < bytes; i++) {
		int keep = bits - i * 8;
		a[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
	if (!inet_ntop(family, a, text, sizeof(text)) ||
	    snprintf(out, size, "%s/%d", text, bits) >= (int)size)
		return ERROR_TOO_BIG;
	return 0;
}
