/*
 * db_impl.h - what the state database's files share (db.c: schema,
 * statements, the host/nonce/blob tables; db_txn.c: the lock and group
 * commit). Not for other modules: use db.h.
 */
#ifndef AGORA_SERVER_DB_IMPL_H
#define AGORA_SERVER_DB_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <sqlite3.h>

#include "server-tools/db.h"

/* Fixed statements of db.c, prepared on first use. */
enum db_stmt_id {
	DB_PROJECT_INSERT,
	DB_PROJECT_GET,
	DB_HOST_INSERT,
	DB_HOST_BY_ID,
	DB_HOST_BY_KEY,
	DB_HOST_TOUCH,
	DB_HOST_BAN,
	DB_HOST_COUNT,
	DB_NONCE_INSERT,
	DB_NONCE_PRUNE,
	DB_NONCE_COUNT,
	DB_BLOB_INSERT,
	DB_BLOB_GET,
	DB_BLOB_COUNT,
	DB_VERSION_GET,
	DB_STMT_COUNT,
};

/* Transaction control statements of db_txn.c, prepared on first use. */
enum db_txn_id {
	DB_TXN_BEGIN,
	DB_TXN_COMMIT,
	DB_TXN_ROLLBACK,
	DB_TXN_SAVEPOINT,
	DB_TXN_RELEASE,
	DB_TXN_ROLLBACK_TO,
	DB_TXN_COUNT,
};

struct db_cached {
	const char *sql; /* the caller's static string: the key */
	sqlite3_stmt *stmt;
};

struct db {
	sqlite3 *sql;
	pthread_mutex_t lock; /* guards everything below but `queued` */
	sqlite3_stmt *stmts[DB_STMT_COUNT];
	struct db_cached cache[DB_STMT_CACHE_MAX]; /* db_stmt_cached() */
	size_t ncache;

	/* Group commit (db_txn.c). Generations are numbered 1, 2, ...; at
	 * most one is open (a shared BEGIN IMMEDIATE transaction), and they
	 * are resolved (committed or failed) in order. Under `lock`: */
	sqlite3_stmt *txn[DB_TXN_COUNT];
	atomic_int queued;    /* threads blocked in db_lock*() (atomic) */
	uint64_t open;        /* the open generation; 0: none */
	int members;          /* writes released into the open generation */
	int holder_group;     /* the holder took db_lock_group() */
	int holder_savepoint; /* the holder is between db_begin and db_commit */
	/* Under gen_lock (taken inside `lock`, never the other way round):
	 * what waiters in db_commit() look at, without the connection. */
	pthread_mutex_t gen_lock;
	pthread_cond_t settled; /* broadcast when a generation is resolved */
	uint64_t resolved;      /* the last generation resolved */
	uint64_t failed;        /* bit g % 64 set: generation g failed */
	uint64_t claimed;       /* a timed-out waiter went to commit this one */
	uint64_t commits;       /* generations committed (one fsync each) */
	uint64_t writes;        /* writes in committed generations */
};

/* db_txn.c: sets up and tears down the fields above (lock included). */
int db_txn_init(struct db *db);
void db_txn_release(struct db *db);
/* Whether the holder may run st now: a holder of db_lock_group() writes
 * only between db_begin() and db_commit() (see db_txn.c). */
int db_write_ok(const struct db *db, sqlite3_stmt *st);

#endif
