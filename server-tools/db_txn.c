/*
 * db_txn.c - the state database's lock and transactions, with group
 * commit (see db.h).
 *
 * Why. Under synchronous=FULL (db.c says why it stays) every COMMIT costs
 * one fsync of the WAL, and with one connection behind one lock the
 * fsync was paid inside the lock: the server dispatched at most one unit
 * per fsync whatever the number of hosts asking (docs/PERFORMANCE.md).
 *
 * How. Writers share commits. The first db_begin() of a generation opens
 * a transaction (BEGIN IMMEDIATE) that later writers join; each writer's
 * statements run inside SAVEPOINT db_w, so a failed writer rolls back its
 * own statements only (db_rollback: ROLLBACK TO). db_commit() RELEASEs
 * the savepoint -- the writes now belong to the generation -- and does
 * not return before the generation is COMMITted, i.e. in the WAL and
 * fsynced: the HTTP handler answers only after db_commit() returned 0, so
 * no host is told "you have replica R" or "your result is stored" before
 * that fact is on disk, exactly as with one commit per request.
 *
 * Who commits. A writer in db_commit() commits the generation itself when
 * nobody is queued for the lock (it is the last of the batch), when the
 * generation holds DB_GROUP_MAX writes, or when it has waited
 * DB_GROUP_WAIT_US; otherwise it waits on `settled` with the lock
 * released, and the threads queued behind it add their writes. Since the
 * COMMIT runs inside the lock, the threads that arrive during one fsync
 * make up the next batch: the batch grows with the load by itself. The
 * last one to leave the lock (db_unlock with nobody queued) wakes the
 * waiters, so a batch never waits for the timeout when the queue drains.
 *
 * Failure. A COMMIT that fails, or a statement error that makes SQLite
 * roll the whole transaction back (I/O error, disk full), fails the
 * generation: every db_commit() of it returns ERROR_DB, and so the
 * request answers 500 and tells nothing. Generations resolve in order;
 * the outcome of the last 64 is kept (db->failed), an older one reads as
 * failed (a waiter cannot be 64 generations late in practice; if it is,
 * the answer errs on the safe side).
 *
 * What readers may see. All writers of a generation run one after the
 * other on one connection under the lock, so SQLite sees the same serial
 * history as with one transaction per request, and every invariant the
 * schema and the statements keep (one replica per host and unit, a
 * replica sent once, a nonce used once) holds as before. What changes is
 * the point at which the history is durable: a crash loses the open
 * generation -- a suffix of the history whose writers all still wait in
 * db_commit() and have answered nothing. A holder of db_lock_group() may
 * read rows of the open generation before they are durable. That is safe
 * for what it is used for: (1) a write that depends on what it read joins
 * the same or a later generation, and generations commit in order, so it
 * cannot become durable without what it depended on; (2) the lookups
 * done outside a transaction (the requesting host's row, a replica at the
 * start of an upload, a blob row whose file the blob store has already
 * fsynced) answer nothing a crash could contradict: a row not yet
 * durable was written by a request still unanswered, whose sender cannot
 * rely on it. Refusals based on such rows (a nonce seen in the open
 * generation) are harmless for the same reason: the refused sender can
 * retry. Holders of db_lock() see only durable rows: taking it commits
 * the open generation first, so the admin, the coordinator's worker and
 * the dashboard keep the old semantics, autocommit statements included.
 *
 * Cost. Per write: SAVEPOINT and RELEASE (prepared once, microseconds);
 * per generation one COMMIT (one fsync). Statements stay serialised by the
 * lock; what is gone is the fsync per request inside it.
 */
#include "config.h"

#include "server-tools/db_impl.h"

#include <assert.h>
#include <errno.h>
#include <time.h>

#include "common/log.h"

/* A generation commits once it holds this many writes... */
#define DB_GROUP_MAX 64
/* ...or once a writer of it has waited this long for others to join. */
#define DB_GROUP_WAIT_US 2000

static const char *const db_txn_sql[DB_TXN_COUNT] = {
    [DB_TXN_BEGIN] = "BEGIN IMMEDIATE",
    [DB_TXN_COMMIT] = "COMMIT",
    [DB_TXN_ROLLBACK] = "ROLLBACK",
    [DB_TXN_SAVEPOINT] = "SAVEPOINT db_w",
    [DB_TXN_RELEASE] = "RELEASE db_w",
    [DB_TXN_ROLLBACK_TO] = "ROLLBACK TO db_w",
};

/* Set when a thread's db_commit() gave the lock of db up (it waited for
 * its generation without it): its db_rollback() and db_unlock() that
 * follow are then no-ops. One pointer per thread: a thread holds at most
 * one database lock at a time. */
static _Thread_local struct db *db_given_up;

int db_txn_init(struct db *db)
{
	pthread_condattr_t attr;
	int rc = ERROR_NOMEM;

	if (pthread_mutex_init(&db->lock, NULL) != 0)
		return ERROR_NOMEM;
	if (pthread_mutex_init(&db->gen_lock, NULL) != 0)
		goto out_lock;
	if (pthread_condattr_init(&attr) != 0)
		goto out_gen;
	if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&db->settled, &attr) == 0)
		rc = 0;
	pthread_condattr_destroy(&attr);
	if (rc == 0) {
		atomic_init(&db->queued, 0);
		return 0;
	}
out_gen:
	pthread_mutex_destroy(&db->gen_lock);
out_lock:
	pthread_mutex_destroy(&db->lock);
	return rc;
}

void db_txn_release(struct db *db)
{
	size_t i;

	for (i = 0; i < DB_TXN_COUNT; i++)
		sqlite3_finalize(db->txn[i]);
	pthread_cond_destroy(&db->settled);
	pthread_mutex_destroy(&db->gen_lock);
	pthread_mutex_destroy(&db->lock);
}

/* Runs one transaction control statement; 0 or ERROR_DB. Lock held. */
static int db_txn_exec(struct db *db, enum db_txn_id id)
{
	sqlite3_stmt *st = db->txn[id];
	int rc;

	if (!st) {
		if (sqlite3_prepare_v3(db->sql, db_txn_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
				       NULL) != SQLITE_OK) {
			log_error("cannot prepare '%s': %s", db_txn_sql[id],
				  sqlite3_errmsg(db->sql));
			return ERROR_DB;
		}
		db->txn[id] = st;
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : ERROR_DB;
}

/* Records the outcome of the open generation and wakes its waiters. The
 * lock is held; gen_lock is taken here. */
static void db_resolve(struct db *db, int ok)
{
	uint64_t g = db->open, bit = (uint64_t)1 << (g % 64);

	pthread_mutex_lock(&db->gen_lock);
	assert(g == db->resolved + 1);
	if (ok) {
		db->failed &= ~bit;
		db->commits++;
		db->writes += (uint64_t)db->members;
	} else {
		db->failed |= bit;
	}
	db->resolved = g;
	pthread_cond_broadcast(&db->settled);
	pthread_mutex_unlock(&db->gen_lock);
	db->open = 0;
	db->members = 0;
}

/* A statement error can make SQLite roll the whole transaction back
 * (I/O error, disk full, out of memory): then the open generation is
 * gone and fails. Lock held. */
static void db_check_open(struct db *db)
{
	if (db->open && sqlite3_get_autocommit(db->sql)) {
		log_error("the shared transaction was rolled back: %s", sqlite3_errmsg(db->sql));
		db_resolve(db, 0);
	}
}

/* COMMITs the open generation (one fsync). Lock held. */
static void db_group_commit(struct db *db)
{
	int ok;

	assert(db->open);
	ok = db_txn_exec(db, DB_TXN_COMMIT) == 0;
	if (!ok) {
		log_error("cannot commit: %s", sqlite3_errmsg(db->sql));
		if (!sqlite3_get_autocommit(db->sql))
			db_txn_exec(db, DB_TXN_ROLLBACK);
	}
	db_resolve(db, ok);
}

/* 0 when generation g committed, ERROR_DB when it failed (or is too old
 * to tell). gen_lock held, g resolved. */
static int db_outcome(const struct db *db, uint64_t g)
{
	assert(g <= db->resolved);
	if (db->resolved - g >= 64)
		return ERROR_DB;
	return db->failed & ((uint64_t)1 << (g % 64)) ? ERROR_DB : 0;
}

/* Takes the lock, counting this thread as queued while it waits (the
 * committers look at the count). */
static void db_acquire(struct db *db)
{
	assert(db_given_up != db);
	atomic_fetch_add(&db->queued, 1);
	pthread_mutex_lock(&db->lock);
	atomic_fetch_sub(&db->queued, 1);
}

/* Leaves the lock. The last one out (nobody queued) commits the open
 * generation: its writers, waiting in db_settle(), need no more company.
 * Lock held. */
static void db_leave(struct db *db)
{
	db_check_open(db);
	if (db->open && atomic_load(&db->queued) == 0)
		db_group_commit(db);
	db->holder_group = 0;
	pthread_mutex_unlock(&db->lock);
}

/* Waits, without the lock, until generation g is resolved; after
 * DB_GROUP_WAIT_US takes the lock and commits g itself if it is still
 * open (arrivals never stopped). */
static int db_settle(struct db *db, uint64_t g)
{
	struct timespec deadline;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_nsec += DB_GROUP_WAIT_US * 1000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&db->gen_lock);
	while (db->resolved < g) {
		if (pthread_cond_timedwait(&db->settled, &db->gen_lock, &deadline) != ETIMEDOUT)
			continue;
		if (db->claimed >= g) {
			/* Another waiter of g went to commit it: wait for it. */
			deadline.tv_sec += 1;
			continue;
		}
		db->claimed = g;
		pthread_mutex_unlock(&db->gen_lock);
		db_acquire(db);
		if (db->open == g)
			db_group_commit(db);
		db_leave(db);
		pthread_mutex_lock(&db->gen_lock);
	}
	rc = db_outcome(db, g);
	pthread_mutex_unlock(&db->gen_lock);
	return rc;
}

void db_lock(struct db *db)
{
	db_acquire(db);
	db->holder_group = 0;
	/* This holder sees only durable rows, and its autocommit statements
	 * commit on their own: commit what the writers before it left. */
	db_check_open(db);
	if (db->open)
		db_group_commit(db);
}

void db_lock_group(struct db *db)
{
	db_acquire(db);
	db->holder_group = 1;
}

void db_unlock(struct db *db)
{
	if (db_given_up == db) {
		db_given_up = NULL;
		return;
	}
	if (db->holder_savepoint) {
		/* A caller bug: db_begin() without db_commit()/db_rollback(). */
		assert(!"db_unlock inside a write");
		db_rollback(db);
	}
	db_leave(db);
}

int db_begin(struct db *db)
{
	assert(db_given_up != db && !db->holder_savepoint);
	db_check_open(db);
	if (!db->open) {
		if (db_txn_exec(db, DB_TXN_BEGIN) < 0) {
			log_error("cannot begin a transaction: %s", sqlite3_errmsg(db->sql));
			return ERROR_DB;
		}
		db->open = db->resolved + 1;
	}
	if (db_txn_exec(db, DB_TXN_SAVEPOINT) < 0) {
		log_error("cannot open a savepoint: %s", sqlite3_errmsg(db->sql));
		/* An empty generation we opened is committed by db_unlock(). */
		return ERROR_DB;
	}
	db->holder_savepoint = 1;
	return 0;
}

int db_commit(struct db *db)
{
	uint64_t g = db->open;
	int rc;

	assert(db->holder_savepoint && g);
	if (db_txn_exec(db, DB_TXN_RELEASE) < 0) {
		log_error("cannot release a savepoint: %s", sqlite3_errmsg(db->sql));
		db_rollback(db);
		return ERROR_DB;
	}
	db->holder_savepoint = 0;
	db->members++;
	if (db->members >= DB_GROUP_MAX)
		db_group_commit(db);
	/* Give the lock up (committing when last out) and wait for g. */
	db_leave(db);
	rc = db_settle(db, g);
	db_given_up = db;
	return rc;
}

void db_rollback(struct db *db)
{
	if (db_given_up == db || !db->holder_savepoint)
		return;
	db->holder_savepoint = 0;
	db_check_open(db);
	if (!db->open)
		return;
	/* Undo this writer's statements only; the savepoint itself goes. */
	if (db_txn_exec(db, DB_TXN_ROLLBACK_TO) < 0 || db_txn_exec(db, DB_TXN_RELEASE) < 0) {
		log_error("cannot roll back a savepoint: %s", sqlite3_errmsg(db->sql));
		db_check_open(db);
	}
}

int db_write_ok(const struct db *db, sqlite3_stmt *st)
{
	if (db_given_up == db)
		return 0; /* a statement after db_commit(), without the lock */
	return !db->holder_group || db->holder_savepoint || sqlite3_stmt_readonly(st);
}

void db_commit_counts(struct db *db, uint64_t *commits, uint64_t *writes)
{
	pthread_mutex_lock(&db->gen_lock);
	*commits = db->commits;
	*writes = db->writes;
	pthread_mutex_unlock(&db->gen_lock);
}
