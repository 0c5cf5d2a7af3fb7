/*
 * db.c - the coordinator's state database (see db.h).
 *
 * Durability: journal_mode=WAL with synchronous=FULL. NORMAL would already
 * survive kill -9 (committed transactions sit in the WAL, in the OS page
 * cache), but a power cut or kernel crash could roll back the last
 * commits. The coordinator acknowledges uploads: once a host is told its
 * result is stored it forgets it and never uploads it again, so an
 * acknowledged row must reach the disk before the answer leaves. In WAL
 * mode FULL costs one fsync of the WAL per commit, the same price the
 * blob store pays per blob; each request writes once, and concurrent
 * requests share commits (group commit, db_txn.c), so the fsync is paid
 * per batch of requests, never before a request's rows are on disk.
 *
 * Concurrency: one connection behind a mutex (db_txn.c: db_lock(),
 * db_lock_group()). SQLite serialises writers anyway, and the
 * coordinator's statements are short (microseconds), so a second
 * connection per HTTP thread would buy little on two cores and cost a
 * statement cache per thread. The hot-path lookups below (hosts, blobs)
 * take db_lock_group(): db_txn.c says why they may read the open
 * generation.
 *
 * Migrations: db_migrations[i] brings the schema from version i to i + 1.
 * They only ever get appended; an applied migration is never edited.
 */
#include "config.h"

#include "server-tools/db.h"
#include "server-tools/db_impl.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

static const char *const db_migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE project ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 64),"
    " created INTEGER NOT NULL);"

    "CREATE TABLE hosts ("
    " id INTEGER PRIMARY KEY,"
    " public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),"
    " account TEXT NOT NULL CHECK (length(account) BETWEEN 1 AND 64),"
    " device TEXT NOT NULL CHECK (length(device) <= 256),"
    " created INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL,"
    " banned INTEGER NOT NULL DEFAULT 0 CHECK (banned IN (0, 1)),"
    " credit REAL NOT NULL DEFAULT 0,"
    " reputation REAL NOT NULL DEFAULT 0);"
    "CREATE INDEX hosts_account ON hosts (account);"

    /* Nonces are 128 random bits chosen by the signer: globally unique,
     * so the nonce alone is the key. host is NULL for registrations. */
    "CREATE TABLE nonces ("
    " nonce BLOB PRIMARY KEY CHECK (length(nonce) = 16),"
    " host INTEGER REFERENCES hosts (id) ON DELETE CASCADE,"
    " time INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX nonces_time ON nonces (time);"

    "CREATE TABLE blobs ("
    " hash TEXT PRIMARY KEY"
    "  CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " stored_size INTEGER NOT NULL CHECK (stored_size >= 0),"
    " created INTEGER NOT NULL) WITHOUT ROWID;"

    /* Signed manifests (dataset or model version); the bytes are a blob. */
    "CREATE TABLE manifests ("
    " hash TEXT PRIMARY KEY REFERENCES blobs (hash),"
    " kind TEXT NOT NULL CHECK (kind IN ('dataset', 'model')),"
    " signer BLOB NOT NULL CHECK (length(signer) = 32),"
    " created INTEGER NOT NULL) WITHOUT ROWID;"

    "CREATE TABLE datasets ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " owner TEXT NOT NULL,"
    " licence TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " manifest TEXT REFERENCES manifests (hash),"
    " created INTEGER NOT NULL);"

    "CREATE TABLE shards ("
    " dataset INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,"
    " idx INTEGER NOT NULL CHECK (idx >= 0),"
    " blob TEXT NOT NULL REFERENCES blobs (hash),"
    " size INTEGER NOT NULL CHECK (size >= 0),"
    " PRIMARY KEY (dataset, idx)) WITHOUT ROWID;"

    /* spec: the job definition as JSON (architecture, optimizer, ...). */
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " dataset INTEGER NOT NULL REFERENCES datasets (id),"
    " spec TEXT NOT NULL,"
    " quorum INTEGER NOT NULL CHECK (quorum >= 1),"
    " rounds INTEGER NOT NULL CHECK (rounds >= 1),"
    " inner_steps INTEGER NOT NULL CHECK (inner_steps >= 1),"
    " seed INTEGER NOT NULL,"
    " state TEXT NOT NULL DEFAULT 'draft' CHECK (state IN"
    "  ('draft', 'running', 'paused', 'done', 'cancelled')),"
    " created INTEGER NOT NULL);"

    /* Round r trains from model (theta_r) and publishes next_model. */
    "CREATE TABLE rounds ("
    " job INTEGER NOT NULL REFERENCES jobs (id),"
    " round INTEGER NOT NULL CHECK (round >= 0),"
    " model TEXT NOT NULL REFERENCES blobs (hash),"
    " next_model TEXT REFERENCES blobs (hash),"
    " manifest TEXT REFERENCES manifests (hash),"
    " eval_loss REAL,"
    " state TEXT NOT NULL DEFAULT 'open' CHECK (state IN"
    "  ('open', 'merging', 'done')),"
    " created INTEGER NOT NULL,"
    " finished INTEGER,"
    " PRIMARY KEY (job, round)) WITHOUT ROWID;"

    /* envelope: the signed descriptor, signed once at generation. */
    "CREATE TABLE units ("
    " id INTEGER PRIMARY KEY,"
    " job INTEGER NOT NULL,"
    " round INTEGER NOT NULL,"
    " idx INTEGER NOT NULL CHECK (idx >= 0),"
    " envelope BLOB NOT NULL,"
    " flops REAL NOT NULL DEFAULT 0,"
    " quorum INTEGER NOT NULL CHECK (quorum >= 1),"
    " deadline_s INTEGER NOT NULL CHECK (deadline_s > 0),"
    " state TEXT NOT NULL DEFAULT 'active' CHECK (state IN"
    "  ('active', 'validated', 'failed')),"
    " canonical INTEGER REFERENCES results (id),"
    " created INTEGER NOT NULL,"
    " UNIQUE (job, round, idx),"
    " FOREIGN KEY (job, round) REFERENCES rounds (job, round));"

    /* The database itself refuses two replicas of a unit to one host
     * or one account (partial unique indexes below). */
    "CREATE TABLE replicas ("
    " id INTEGER PRIMARY KEY,"
    " unit INTEGER NOT NULL REFERENCES units (id),"
    " host INTEGER REFERENCES hosts (id),"
    " account TEXT,"
    " state TEXT NOT NULL DEFAULT 'unsent' CHECK (state IN"
    "  ('unsent', 'in_progress', 'over')),"
    " outcome TEXT CHECK (outcome IN"
    "  ('success', 'error', 'timeout', 'abandoned')),"
    " validation TEXT NOT NULL DEFAULT 'pending' CHECK (validation IN"
    "  ('pending', 'valid', 'invalid', 'inconclusive')),"
    " sent INTEGER,"
    " deadline INTEGER,"
    " received INTEGER,"
    " result_hash TEXT REFERENCES blobs (hash),"
    " CHECK ((state = 'over') = (outcome IS NOT NULL)),"
    " CHECK (state = 'unsent' OR host IS NOT NULL));"
    "CREATE UNIQUE INDEX replicas_unit_host ON replicas (unit, host)"
    " WHERE host IS NOT NULL;"
    "CREATE UNIQUE INDEX replicas_unit_account ON replicas (unit, account)"
    " WHERE account IS NOT NULL;"
    "CREATE INDEX replicas_unsent ON replicas (unit) WHERE state = 'unsent';"
    "CREATE INDEX replicas_deadline ON replicas (deadline)"
    " WHERE state = 'in_progress';"
    "CREATE INDEX replicas_host ON replicas (host);"

    /* descriptor: the host-signed result descriptor bytes. */
    "CREATE TABLE results ("
    " id INTEGER PRIMARY KEY,"
    " replica INTEGER NOT NULL UNIQUE REFERENCES replicas (id),"
    " host INTEGER NOT NULL REFERENCES hosts (id),"
    " blob TEXT NOT NULL REFERENCES blobs (hash),"
    " descriptor BLOB NOT NULL,"
    " received INTEGER NOT NULL);",

    /* 2: a unit's id (BLAKE2b-256 of its signed payload), which result
     * descriptors name. */
    "ALTER TABLE units ADD COLUMN uid TEXT"
    " CHECK (uid IS NULL OR (length(uid) = 64 AND uid NOT GLOB '*[^0-9a-f]*'));"
    "CREATE UNIQUE INDEX units_uid ON units (uid);",

    /* 3: the training loop (coord.c). A round's manifest id (the parent
     * of the next one) and momentum blob; why a replica was judged
     * invalid; a host's invalid results and whether that blocked it from
     * work (cleared by an admin); a dataset's size and a job's held-out
     * eval blob. */
    "ALTER TABLE rounds ADD COLUMN manifest_id TEXT;"
    "ALTER TABLE rounds ADD COLUMN momentum TEXT;"
    "ALTER TABLE replicas ADD COLUMN reason TEXT;"
    "ALTER TABLE hosts ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE hosts ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0"
    " CHECK (blocked IN (0, 1));"
    "ALTER TABLE datasets ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN eval_blob TEXT;"
    "CREATE INDEX units_job_round ON units (job, round, state);",

    /* 4: the address block a replica went to (--distinct-netblock): two
     * replicas of a unit never go to one block. */
    "ALTER TABLE replicas ADD COLUMN netblock TEXT;"
    "CREATE UNIQUE INDEX replicas_unit_netblock ON replicas (unit, netblock)"
    " WHERE netblock IS NOT NULL;",

    /* 5: a text sample of each model version (coord.c): printable ASCII
     * and newlines, at most COORD_SAMPLE_BYTES bytes after its prompt. */
    "ALTER TABLE rounds ADD COLUMN sample TEXT;",

    /* 6: every replica of a unit, for validation's per-unit queries
     * (sched.c, coord.c), which filter on the unit alone: the other
     * indexes on replicas (unit, ...) are partial and do not apply, so
     * each result cost several scans of the whole table
     * (bench/server-load, docs/PERFORMANCE.md). */
    "CREATE INDEX replicas_unit ON replicas (unit);",

    /* 7: why a job is in its state, when something other than its own
     * progress put it there (coord.c pauses a job whose round cannot be
     * merged; an admin's action says who did it); NULL otherwise. */
    "ALTER TABLE jobs ADD COLUMN reason TEXT;",
};

#define DB_MIGRATION_COUNT (sizeof(db_migrations) / sizeof(db_migrations[0]))
_Static_assert(DB_MIGRATION_COUNT == DB_SCHEMA_VERSION, "one migration per version");

#define DB_HOST_COLUMNS "id, public_key, account, device, created, last_seen, banned, credit"

static const char *const db_sql[DB_STMT_COUNT] = {
    [DB_PROJECT_INSERT] = "INSERT OR IGNORE INTO project (id, name, created) VALUES (1, ?1, ?2)",
    [DB_PROJECT_GET] = "SELECT name, created FROM project WHERE id = 1",
    [DB_HOST_INSERT] = "INSERT INTO hosts (public_key, account, device, created, last_seen)"
		       " VALUES (?1, ?2, ?3, ?4, ?4)",
    [DB_HOST_BY_ID] = "SELECT " DB_HOST_COLUMNS " FROM hosts WHERE id = ?1",
    [DB_HOST_BY_KEY] = "SELECT " DB_HOST_COLUMNS " FROM hosts WHERE public_key = ?1",
    [DB_HOST_TOUCH] = "UPDATE hosts SET last_seen = max(last_seen, ?2) WHERE id = ?1",
    [DB_HOST_BAN] = "UPDATE hosts SET banned = ?2 WHERE id = ?1",
    [DB_HOST_COUNT] = "SELECT count(*) FROM hosts",
    [DB_NONCE_INSERT] = "INSERT OR IGNORE INTO nonces (nonce, host, time) VALUES (?1, ?2, ?3)",
    [DB_NONCE_PRUNE] = "DELETE FROM nonces WHERE time < ?1",
    [DB_NONCE_COUNT] = "SELECT count(*) FROM nonces",
    [DB_BLOB_INSERT] = "INSERT OR IGNORE INTO blobs (hash, size, stored_size, created)"
		       " VALUES (?1, ?2, ?3, ?4)",
    [DB_BLOB_GET] = "SELECT hash, size, stored_size, created FROM blobs WHERE hash = ?1",
    [DB_BLOB_COUNT] = "SELECT count(*) FROM blobs",
    [DB_VERSION_GET] = "SELECT coalesce(max(version), 0) FROM schema_version",
};

sqlite3 *db_sqlite(struct db *db)
{
	return db->sql;
}

/* Returns the cached statement, reset and unbound; NULL on failure. The
 * caller holds the lock. */
static sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id)
{
	sqlite3_stmt *st = db->stmts[id];

	assert(id < DB_STMT_COUNT);
	if (!st) {
		if (sqlite3_prepare_v3(db->sql, db_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
				       NULL) != SQLITE_OK) {
			log_error("cannot prepare statement %d: %s", (int)id,
				  sqlite3_errmsg(db->sql));
			return NULL;
		}
		db->stmts[id] = st;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* Runs a statement that returns no rows (or ignores them); maps SQLite's
 * constraint failures to ERROR_DUPLICATE / ERROR_RANGE. */
static int db_step_done(struct db *db, sqlite3_stmt *st)
{
	int rc, ext;

	assert(db_write_ok(db, st));
	rc = sqlite3_step(st);
	ext = sqlite3_extended_errcode(db->sql);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return ERROR_DUPLICATE;
	if (ext == SQLITE_CONSTRAINT_CHECK || ext == SQLITE_CONSTRAINT_NOTNULL)
		return ERROR_RANGE;
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return ERROR_NOT_FOUND;
	log_error("database statement failed: %s", sqlite3_errmsg(db->sql));
	return ERROR_DB;
}

static int64_t db_count(struct db *db, enum db_stmt_id id)
{
	sqlite3_stmt *st;
	int64_t n = ERROR_DB;

	db_lock(db);
	st = db_stmt(db, id);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	db_unlock(db);
	return n;
}

static int db_exec(sqlite3 *sql, const char *text, struct error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(sql, text, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	error_set(err, ERROR_DB, "database error: %s", msg ? msg : sqlite3_errmsg(sql));
	sqlite3_free(msg);
	return ERROR_DB;
}

/* Applies the missing migrations inside one IMMEDIATE transaction, so two
 * processes opening a fresh database cannot both migrate it. */
static int db_migrate(struct db *db, int target, struct error *err)
{
	sqlite3_stmt *st;
	int version, rc;

	rc = db_exec(db->sql,
		     "BEGIN IMMEDIATE;"
		     "CREATE TABLE IF NOT EXISTS schema_version ("
		     " version INTEGER PRIMARY KEY, applied INTEGER NOT NULL);",
		     err);
	if (rc < 0)
		return rc;
	version = db_schema_version(db);
	if (version < 0) {
		rc = error_set(err, ERROR_DB, "cannot read the schema version");
		goto out;
	}
	if (version > DB_SCHEMA_VERSION) {
		rc = error_set(err, ERROR_VERSION,
			       "database schema version %d is newer than this agora (%d)", version,
			       DB_SCHEMA_VERSION);
		goto out;
	}
	for (; version < target; version++) {
		rc = db_exec(db->sql, db_migrations[version], err);
		if (rc < 0)
			goto out;
		if (sqlite3_prepare_v2(db->sql,
				       "INSERT INTO schema_version (version, applied)"
				       " VALUES (?1, strftime('%s', 'now'))",
				       -1, &st, NULL) != SQLITE_OK) {
			rc =
			    error_set(err, ERROR_DB, "database error: %s", sqlite3_errmsg(db->sql));
			goto out;
		}
		sqlite3_bind_int(st, 1, version + 1);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : ERROR_DB;
		sqlite3_finalize(st);
		if (rc < 0) {
			error_set(err, rc, "cannot record schema version %d", version + 1);
			goto out;
		}
		log_info("database schema migrated to version %d", version + 1);
	}
	rc = db_exec(db->sql, "COMMIT", err);
out:
	if (rc < 0)
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int db_configure(struct db *db, const char *path, struct error *err)
{
	sqlite3_stmt *st = NULL;
	int wal = 0;

	sqlite3_extended_result_codes(db->sql, 1);
	sqlite3_busy_timeout(db->sql, DB_BUSY_TIMEOUT_MS);
	if (sqlite3_prepare_v2(db->sql, "PRAGMA journal_mode = WAL", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		const unsigned char *mode = sqlite3_column_text(st, 0);
		wal = mode && strcmp((const char *)mode, "wal") == 0;
	}
	sqlite3_finalize(st);
	if (!wal)
		return error_set(err, ERROR_DB, "cannot switch '%s' to WAL mode: %s", path,
				 sqlite3_errmsg(db->sql));
	return db_exec(db->sql,
		       "PRAGMA synchronous = FULL;"
		       "PRAGMA foreign_keys = ON;",
		       err);
}

int db_open(struct db **out, const char *path, struct error *err)
{
	return db_open_at(out, path, DB_SCHEMA_VERSION, err);
}

int db_open_at(struct db **out, const char *path, int version, struct error *err)
{
	struct db *db;
	int rc, fd;

	*out = NULL;
	/* Create the file ourselves so it starts 0600, whatever the umask. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return error_set(err, ERROR_IO, "cannot open '%s': %s", path, strerror(errno));
	close(fd);

	db = calloc(1, sizeof(*db));
	if (!db)
		return error_set(err, ERROR_NOMEM, "cannot open '%s': out of memory", path);
	if (db_txn_init(db) < 0) {
		free(db);
		return error_set(err, ERROR_NOMEM, "cannot open '%s': out of resources", path);
	}
	if (sqlite3_open_v2(path, &db->sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = error_set(err, ERROR_DB, "cannot open '%s': %s", path,
			       db->sql ? sqlite3_errmsg(db->sql) : "out of memory");
		goto out;
	}
	rc = db_configure(db, path, err);
	if (rc < 0)
		goto out;
	rc = db_migrate(db, version, err);
out:
	if (rc < 0) {
		db_free(db);
		return rc;
	}
	*out = db;
	return 0;
}

void db_free(struct db *db)
{
	size_t i;

	if (!db)
		return;
	for (i = 0; i < DB_STMT_COUNT; i++)
		sqlite3_finalize(db->stmts[i]);
	for (i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].stmt);
	db_txn_release(db);
	sqlite3_close(db->sql);
	free(db);
}

int db_schema_version(struct db *db)
{
	return (int)db_count(db, DB_VERSION_GET);
}

int db_project_init(struct db *db, const char *name, int64_t now)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	if (!name || !*name || strlen(name) > DB_NAME_MAX)
		return ERROR_RANGE;
	db_lock(db);
	st = db_stmt(db, DB_PROJECT_INSERT);
	if (st) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		rc = db_step_done(db, st);
	}
	db_unlock(db);
	return rc;
}

/* Copies a text column into a bounded buffer (truncating never happens
 * for rows that passed the schema's CHECKs). */
static void db_column_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *text = sqlite3_column_text(st, col);
	size_t len = text ? (size_t)sqlite3_column_bytes(st, col) : 0;

	if (len >= size)
		len = size - 1;
	if (len)
		memcpy(buf, text, len);
	buf[len] = '\0';
}

int db_project_get(struct db *db, struct db_project *out)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock(db);
	st = db_stmt(db, DB_PROJECT_GET);
	if (st) {
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			db_column_text(st, 0, out->name, sizeof(out->name));
			out->created = sqlite3_column_int64(st, 1);
			rc = 0;
		} else {
			rc = step == SQLITE_DONE ? ERROR_NOT_FOUND : ERROR_DB;
		}
		sqlite3_reset(st);
	}
	db_unlock(db);
	return rc;
}

static void db_host_read(sqlite3_stmt *st, struct db_host *h)
{
	const void *key = sqlite3_column_blob(st, 1);

	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(st, 0);
	if (key && sqlite3_column_bytes(st, 1) == DB_KEY_BYTES)
		memcpy(h->public_key, key, DB_KEY_BYTES);
	db_column_text(st, 2, h->account, sizeof(h->account));
	db_column_text(st, 3, h->device, sizeof(h->device));
	h->created = sqlite3_column_int64(st, 4);
	h->last_seen = sqlite3_column_int64(st, 5);
	h->banned = sqlite3_column_int(st, 6);
	h->credit_flops = sqlite3_column_double(st, 7);
}

/* Runs a host SELECT whose parameters are bound; the lock is held. */
static int db_host_fetch(sqlite3_stmt *st, struct db_host *out)
{
	int step = sqlite3_step(st), rc;

	if (step == SQLITE_ROW) {
		if (out)
			db_host_read(st, out);
		rc = 0;
	} else {
		rc = step == SQLITE_DONE ? ERROR_NOT_FOUND : ERROR_DB;
	}
	sqlite3_reset(st);
	return rc;
}

int db_host_add(struct db *db, const unsigned char public_key[DB_KEY_BYTES], const char *account,
		const char *device, int64_t now, int64_t *id)
{
	sqlite3_stmt *st;
	struct db_host h;
	int rc;

	if (!account || !*account || strlen(account) > DB_ACCOUNT_MAX || !device ||
	    strlen(device) > DB_DEVICE_MAX)
		return ERROR_RANGE;
	db_lock_group(db);
	rc = db_begin(db);
	if (rc < 0)
		goto out;
	st = db_stmt(db, DB_HOST_INSERT);
	rc = ERROR_DB;
	if (st) {
		sqlite3_bind_blob(st, 1, public_key, DB_KEY_BYTES, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, account, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, device, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		rc = db_step_done(db, st);
	}
	if (rc == 0) {
		*id = sqlite3_last_insert_rowid(db->sql);
		rc = db_commit(db);
		goto out;
	}
	db_rollback(db);
	if (rc == ERROR_DUPLICATE) {
		st = db_stmt(db, DB_HOST_BY_KEY);
		if (!st) {
			rc = ERROR_DB;
			goto out;
		}
		sqlite3_bind_blob(st, 1, public_key, DB_KEY_BYTES, SQLITE_STATIC);
		if (db_host_fetch(st, &h) == 0)
			*id = h.id;
	}
out:
	db_unlock(db);
	return rc;
}

int db_host_get(struct db *db, int64_t id, struct db_host *out)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock_group(db);
	st = db_stmt(db, DB_HOST_BY_ID);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		rc = db_host_fetch(st, out);
	}
	db_unlock(db);
	return rc;
}

int db_host_find_key(struct db *db, const unsigned char public_key[DB_KEY_BYTES],
		     struct db_host *out)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock_group(db);
	st = db_stmt(db, DB_HOST_BY_KEY);
	if (st) {
		sqlite3_bind_blob(st, 1, public_key, DB_KEY_BYTES, SQLITE_STATIC);
		rc = db_host_fetch(st, out);
	}
	db_unlock(db);
	return rc;
}

/* Runs an UPDATE of one host bound with (id, value); ERROR_NOT_FOUND when
 * no row changed. */
static int db_host_update(struct db *db, enum db_stmt_id id_stmt, int64_t id, int64_t value)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock(db);
	st = db_stmt(db, id_stmt);
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, value);
		rc = db_step_done(db, st);
		if (rc == 0 && sqlite3_changes(db->sql) == 0)
			rc = ERROR_NOT_FOUND;
	}
	db_unlock(db);
	return rc;
}

int db_host_touch(struct db *db, int64_t id, int64_t now)
{
	return db_host_update(db, DB_HOST_TOUCH, id, now);
}

int db_host_set_banned(struct db *db, int64_t id, int banned)
{
	return db_host_update(db, DB_HOST_BAN, id, banned ? 1 : 0);
}

int64_t db_host_count(struct db *db)
{
	return db_count(db, DB_HOST_COUNT);
}

/* With the lock held: inserts the nonce; ERROR_DUPLICATE when present. */
static int db_nonce_insert(struct db *db, const unsigned char nonce[DB_NONCE_BYTES], int64_t host,
			   int64_t now)
{
	sqlite3_stmt *st = db_stmt(db, DB_NONCE_INSERT);
	int rc;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_blob(st, 1, nonce, DB_NONCE_BYTES, SQLITE_STATIC);
	if (host > 0)
		sqlite3_bind_int64(st, 2, host);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, now);
	rc = db_step_done(db, st);
	/* INSERT OR IGNORE: no change means the nonce was there. */
	if (rc == 0 && sqlite3_changes(db->sql) == 0)
		rc = ERROR_DUPLICATE;
	return rc;
}

int db_nonce_record_locked(struct db *db, const unsigned char nonce[DB_NONCE_BYTES], int64_t host,
			   int64_t now)
{
	sqlite3_stmt *st;
	int rc = db_nonce_insert(db, nonce, host, now);

	if (rc < 0 || host <= 0)
		return rc;
	st = db_stmt(db, DB_HOST_TOUCH);
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, host);
	sqlite3_bind_int64(st, 2, now);
	return db_step_done(db, st);
}

int db_nonce_use(struct db *db, const unsigned char nonce[DB_NONCE_BYTES], int64_t host,
		 int64_t now)
{
	int rc;

	db_lock_group(db);
	/* One transaction, one commit (one WAL fsync) per request. */
	rc = db_begin(db);
	if (rc == 0)
		rc = db_nonce_record_locked(db, nonce, host, now);
	if (rc == 0)
		rc = db_commit(db);
	else
		db_rollback(db);
	db_unlock(db);
	return rc;
}

int db_nonce_prune(struct db *db, int64_t before)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	db_lock(db);
	st = db_stmt(db, DB_NONCE_PRUNE);
	if (st) {
		sqlite3_bind_int64(st, 1, before);
		rc = db_step_done(db, st);
		if (rc == 0)
			rc = sqlite3_changes(db->sql);
	}
	db_unlock(db);
	return rc;
}

int64_t db_nonce_count(struct db *db)
{
	return db_count(db, DB_NONCE_COUNT);
}

static int db_hash_ok(const char *hash)
{
	size_t i;

	for (i = 0; i < DB_HASH_HEX; i++)
		if (!((hash[i] >= '0' && hash[i] <= '9') || (hash[i] >= 'a' && hash[i] <= 'f')))
			return 0;
	return hash[DB_HASH_HEX] == '\0';
}

int db_blob_add(struct db *db, const char *hash, int64_t size, int64_t stored_size, int64_t now)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	if (!db_hash_ok(hash) || size < 0 || stored_size < 0)
		return ERROR_RANGE;
	db_lock(db);
	st = db_stmt(db, DB_BLOB_INSERT);
	if (st) {
		sqlite3_bind_text(st, 1, hash, DB_HASH_HEX, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, size);
		sqlite3_bind_int64(st, 3, stored_size);
		sqlite3_bind_int64(st, 4, now);
		rc = db_step_done(db, st);
	}
	db_unlock(db);
	return rc;
}

int db_blob_get(struct db *db, const char *hash, struct db_blob *out)
{
	sqlite3_stmt *st;
	int rc = ERROR_DB, step;

	if (!db_hash_ok(hash))
		return ERROR_RANGE;
	db_lock_group(db);
	st = db_stmt(db, DB_BLOB_GET);
	if (st) {
		sqlite3_bind_text(st, 1, hash, DB_HASH_HEX, SQLITE_STATIC);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			if (out) {
				db_column_text(st, 0, out->hash, sizeof(out->hash));
				out->size = sqlite3_column_int64(st, 1);
				out->stored_size = sqlite3_column_int64(st, 2);
				out->created = sqlite3_column_int64(st, 3);
			}
			rc = 0;
		} else {
			rc = step == SQLITE_DONE ? ERROR_NOT_FOUND : ERROR_DB;
		}
		sqlite3_reset(st);
	}
	db_unlock(db);
	return rc;
}

int64_t db_blob_count(struct db *db)
{
	return db_count(db, DB_BLOB_COUNT);
}

sqlite3_stmt *db_stmt_cached(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	size_t i;

	for (i = 0; i < db->ncache; i++) {
		if (db->cache[i].sql == sql) {
			st = db->cache[i].stmt;
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	if (db->ncache == DB_STMT_CACHE_MAX) {
		log_error("statement cache full (%d statements)", DB_STMT_CACHE_MAX);
		return NULL;
	}
	if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		log_error("cannot prepare '%.60s': %s", sql, sqlite3_errmsg(db->sql));
		return NULL;
	}
	db->cache[db->ncache].sql = sql;
	db->cache[db->ncache].stmt = st;
	db->ncache++;
	return st;
}

int db_step(struct db *db, sqlite3_stmt *st)
{
	return db_step_done(db, st);
}
