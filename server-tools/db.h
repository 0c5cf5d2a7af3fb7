/*
 * db.h - the coordinator's state database (SQLite).
 *
 * One file, STATE/state.db, holds everything the coordinator must not
 * forget: the project, registered hosts, request nonces (replay
 * protection), blobs known to the blob store, datasets with their shards
 * and manifests, and the training life cycle jobs -> rounds -> units ->
 * replicas -> results (the BOINC model: each unit is sent to `quorum`
 * hosts as replicas; a replica is unsent, in progress or over, and an
 * over replica has an outcome: success, error, timeout or abandoned).
 *
 * The database runs in WAL mode with synchronous=FULL (see db.c for why),
 * foreign keys on and a busy timeout. The schema is versioned: db_open()
 * applies the missing migrations, in order, in one transaction, and
 * refuses a database written by a newer Agora.
 *
 * A `struct db` is one connection guarded by a mutex: every db_*()
 * function may be called from any thread. Concurrent writers share
 * commits (group commit, db_txn.c): a write function returns once its
 * rows are durable, and one fsync covers every writer that queued for
 * the lock meanwhile. Every statement is prepared
 * once and bound with parameters; no SQL is built from data.
 */
#ifndef AGORA_SERVER_DB_H
#define AGORA_SERVER_DB_H

#include <stdint.h>

#include <sqlite3.h>

#include "common/error.h"

/* The schema version this build writes (the number of migrations). */
#define DB_SCHEMA_VERSION 7

/* Length caps, enforced by the schema too (CHECK constraints). */
#define DB_NAME_MAX    64  /* project name */
#define DB_ACCOUNT_MAX 64  /* account name of a host */
#define DB_DEVICE_MAX  256 /* free-form device description */
#define DB_KEY_BYTES   32  /* Ed25519 public key */
#define DB_NONCE_BYTES 16  /* request nonce */
#define DB_HASH_HEX    64  /* BLAKE2b-256 as lowercase hex */

/* How long db_open() and every statement wait for a lock. */
#define DB_BUSY_TIMEOUT_MS 5000

struct db;

struct db_project {
	char name[DB_NAME_MAX + 1];
	int64_t created;
};

struct db_host {
	int64_t id;
	unsigned char public_key[DB_KEY_BYTES];
	char account[DB_ACCOUNT_MAX + 1];
	char device[DB_DEVICE_MAX + 1];
	int64_t created;
	int64_t last_seen;
	int banned;
	double credit_flops; /* FLOPs of this host's validated results */
};

struct db_blob {
	char hash[DB_HASH_HEX + 1];
	int64_t size;        /* raw (decoded) size */
	int64_t stored_size; /* size of the container file on disk */
	int64_t created;
};

/* Opens (creating when absent, mode 0600) the database at path and brings
 * its schema up to DB_SCHEMA_VERSION. On success *out owns the connection;
 * release it with db_free(). Fails with ERROR_VERSION for a database from
 * a newer Agora, ERROR_DB otherwise. */
int db_open(struct db **out, const char *path, struct error *err)
    __attribute__((warn_unused_result));
/* For tests of migrations: like db_open() but migrates only up to version
 * (1..DB_SCHEMA_VERSION). */
int db_open_at(struct db **out, const char *path, int version, struct error *err)
    __attribute__((warn_unused_result));
/* Finalizes every statement and closes the connection. NULL is a no-op. */
void db_free(struct db *db);

/* The version recorded in schema_version (>= 0), or a negative error. */
int db_schema_version(struct db *db);

/* The project row. db_project_init() inserts it when absent and leaves an
 * existing one alone (the first name wins); name is 1..DB_NAME_MAX bytes. */
int db_project_init(struct db *db, const char *name, int64_t now);
int db_project_get(struct db *db, struct db_project *out);

/* Registers a host. On success *id receives the new id. When the key is
 * already registered, returns ERROR_DUPLICATE and *id is the existing id.
 * account and device are bounded (ERROR_RANGE beyond the caps). */
int db_host_add(struct db *db, const unsigned char public_key[DB_KEY_BYTES], const char *account,
		const char *device, int64_t now, int64_t *id);
/* Looks a host up by id or key; ERROR_NOT_FOUND when absent. */
int db_host_get(struct db *db, int64_t id, struct db_host *out);
int db_host_find_key(struct db *db, const unsigned char public_key[DB_KEY_BYTES],
		     struct db_host *out);
/* Records that the host was seen at `now`. */
int db_host_touch(struct db *db, int64_t id, int64_t now);
int db_host_set_banned(struct db *db, int64_t id, int banned);
/* Number of registered hosts (>= 0) or a negative error. */
int64_t db_host_count(struct db *db);

/* Records a request nonce, first use wins: returns 0 the first time and
 * ERROR_DUPLICATE when the nonce was seen before (a replay). host is the
 * sender's id, or 0 for a request from a host not yet registered; for a
 * registered host the same transaction (one commit) also records that it
 * was seen at `now`, as db_host_touch() does. */
int db_nonce_use(struct db *db, const unsigned char nonce[DB_NONCE_BYTES], int64_t host,
		 int64_t now);
/* The same, for callers that fold it into a transaction of their own
 * (the lock held, a transaction open). */
int db_nonce_record_locked(struct db *db, const unsigned char nonce[DB_NONCE_BYTES], int64_t host,
			   int64_t now);
/* Deletes nonces recorded before `before`; returns how many (>= 0). */
int db_nonce_prune(struct db *db, int64_t before);
int64_t db_nonce_count(struct db *db);

/* Records a blob; recording a known hash again is a no-op (returns 0).
 * hash must be 64 lowercase hex characters. */
int db_blob_add(struct db *db, const char *hash, int64_t size, int64_t stored_size, int64_t now);
int db_blob_get(struct db *db, const char *hash, struct db_blob *out);
int64_t db_blob_count(struct db *db);

/* For modules with queries of their own (scheduler, admin): the raw
 * connection. The caller holds the lock for as long as it uses it and
 * prepares its own statements (bound parameters only).
 *
 * Two ways to hold the lock (db_txn.c explains the group commit):
 * - db_lock(): first commits what writers left open, so the holder sees
 *   only durable rows and its autocommit statements commit (and fsync)
 *   on their own, as with a plain connection. For the admin, the
 *   coordinator's worker, the dashboard: anything off the hot path.
 * - db_lock_group(): joins the open generation. The holder may read rows
 *   written by requests that are not durable yet (safe for lookups whose
 *   answer promises nothing, and for writes, which commit after what they
 *   read), and writes only between db_begin() and db_commit().
 * Either way, db_unlock() releases it. */
void db_lock(struct db *db);
void db_lock_group(struct db *db);
void db_unlock(struct db *db);
sqlite3 *db_sqlite(struct db *db);

/* With the lock held: the prepared statement for sql, reset and unbound,
 * prepared on first use and cached by the ADDRESS of sql (pass a static
 * string; at most DB_STMT_CACHE_MAX of them). NULL (logged) on error. */
#define DB_STMT_CACHE_MAX 160
sqlite3_stmt *db_stmt_cached(struct db *db, const char *sql);
/* With the lock held: steps a statement returning no rows and resets it;
 * constraint failures map to ERROR_DUPLICATE (unique), ERROR_RANGE
 * (check, not null), ERROR_NOT_FOUND (foreign key); else ERROR_DB. */
int db_step(struct db *db, sqlite3_stmt *st);
/* With the lock held, a write of a few statements: db_begin() opens it
 * (a SAVEPOINT inside the shared transaction of the open generation,
 * BEGIN IMMEDIATE when none is open); db_rollback() undoes it (and only
 * it; a no-op when no write is open, e.g. after db_commit() failed);
 * db_commit() adds it to the generation and returns once that generation
 * is COMMITted and fsynced (0), or failed as a whole (ERROR_DB, nothing of
 * it stored). db_commit() gives the lock up (it waits for its generation
 * without it, so that others can join): after it the caller may only call
 * db_rollback() and db_unlock(), which are then no-ops; no statement, no
 * db_begin(). For callers the pattern is unchanged: lock, begin,
 * statements, commit (or rollback), unlock. */
int db_begin(struct db *db);
int db_commit(struct db *db);
void db_rollback(struct db *db);

/* Counters since db_open(): generations committed (one WAL fsync each)
 * and writes committed through db_commit(). writes / commits is the
 * mean batch. Takes the lock. */
void db_commit_counts(struct db *db, uint64_t *commits, uint64_t *writes);

#endif
