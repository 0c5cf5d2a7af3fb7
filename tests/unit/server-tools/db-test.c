/*
 * db-test.c - tests for server-tools/db.c: schema creation and idempotent
 * migration on reopen, WAL mode, foreign keys, hosts, nonces (replays and
 * pruning), blobs, and the constraints that keep the BOINC life cycle
 * consistent (one replica of a unit per host and per account).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server-tools/db.h"
#include "tests/tap.h"

static char dir[256];
static char path[512];

static const char *pragma_text(struct db *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *st;

	buf[0] = '\0';
	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(buf, size, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return buf;
}

static int exec_sql(struct db *db, const char *sql)
{
	int rc;

	db_lock(db);
	rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL);
	db_unlock(db);
	return rc;
}

static void test_open(void)
{
	struct db *db = NULL;
	struct error err;
	struct stat st;
	char buf[64];

	TAP_IS(db_open(&db, path, &err), 0, "db_open creates a fresh database");
	if (!db) {
		tap_diag("%s", err.msg);
		exit(tap_done());
	}
	TAP_IS(db_schema_version(db), DB_SCHEMA_VERSION, "schema at the current version");
	TAP_OK(strcmp(pragma_text(db, "PRAGMA journal_mode", buf, sizeof(buf)), "wal") == 0,
	       "journal mode is wal");
	TAP_OK(strcmp(pragma_text(db, "PRAGMA foreign_keys", buf, sizeof(buf)), "1") == 0,
	       "foreign keys on");
	TAP_OK(strcmp(pragma_text(db, "PRAGMA synchronous", buf, sizeof(buf)), "2") == 0,
	       "synchronous = FULL");
	TAP_OK(stat(path, &st) == 0 && (st.st_mode & 077) == 0, "database file is private");
	db_free(db);
	db_free(NULL);
}

static void test_project_hosts(struct db *db)
{
	unsigned char k1[DB_KEY_BYTES], k2[DB_KEY_BYTES];
	char longname[DB_ACCOUNT_MAX + 2];
	struct db_project p;
	struct db_host h;
	int64_t id1 = 0, id2 = 0, id3 = 0;

	TAP_IS(db_project_get(db, &p), ERROR_NOT_FOUND, "no project before init");
	TAP_IS(db_project_init(db, "alpha", 100), 0, "project init");
	TAP_IS(db_project_init(db, "beta", 200), 0, "project init again is a no-op");
	TAP_IS(db_project_get(db, &p), 0, "project get");
	TAP_OK(strcmp(p.name, "alpha") == 0 && p.created == 100, "the first name wins");
	TAP_IS(db_project_init(db, "", 1), ERROR_RANGE, "empty project name refused");

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	TAP_IS(db_host_add(db, k1, "ann", "cpu", 1000, &id1), 0, "host added");
	TAP_OK(id1 > 0, "host id positive");
	TAP_IS(db_host_add(db, k1, "bob", "gpu", 1001, &id3), ERROR_DUPLICATE,
	       "same key twice is a duplicate");
	TAP_IS(id3, id1, "duplicate reports the existing id");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	TAP_IS(db_host_add(db, k2, longname, "", 1, &id2), ERROR_RANGE, "long account refused");
	TAP_IS(db_host_add(db, k2, "", "", 1, &id2), ERROR_RANGE, "empty account refused");
	TAP_IS(db_host_add(db, k2, "bob", "gpu", 1002, &id2), 0, "second host");
	TAP_IS(db_host_count(db), 2, "two hosts");
	TAP_IS(db_host_get(db, id2, &h), 0, "host get");
	TAP_OK(memcmp(h.public_key, k2, DB_KEY_BYTES) == 0 && strcmp(h.account, "bob") == 0 &&
		   strcmp(h.device, "gpu") == 0 && h.created == 1002 && !h.banned,
	       "host fields round-trip");
	TAP_IS(db_host_find_key(db, k1, &h), 0, "find by key");
	TAP_IS(h.id, id1, "find by key gives the id");
	TAP_IS(db_host_get(db, 9999, &h), ERROR_NOT_FOUND, "unknown host");
	TAP_IS(db_host_touch(db, id1, 5000), 0, "touch");
	TAP_IS(db_host_touch(db, id1, 4000), 0, "touch with an older time");
	TAP_IS(db_host_get(db, id1, &h), 0, "host get after touch");
	TAP_IS(h.last_seen, 5000, "last_seen never goes back");
	TAP_IS(db_host_set_banned(db, id2, 1), 0, "ban");
	TAP_IS(db_host_get(db, id2, &h), 0, "host get after ban");
	TAP_IS(h.banned, 1, "banned");
	TAP_IS(db_host_touch(db, 9999, 1), ERROR_NOT_FOUND, "touch unknown host");
}

static void test_nonces_blobs(struct db *db)
{
	unsigned char n1[DB_NONCE_BYTES], n2[DB_NONCE_BYTES];
	const char *hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	struct db_blob b;

	memset(n1, 0xa1, sizeof(n1));
	memset(n2, 0xb2, sizeof(n2));
	TAP_IS(db_nonce_use(db, n1, 1, 100), 0, "nonce first use");
	TAP_IS(db_nonce_use(db, n1, 1, 101), ERROR_DUPLICATE, "nonce replay detected");
	TAP_IS(db_nonce_use(db, n1, 0, 101), ERROR_DUPLICATE, "replay from anyone detected");
	TAP_IS(db_nonce_use(db, n2, 0, 300), 0, "nonce without a host");
	TAP_IS(db_nonce_use(db, n2, 9999, 300), ERROR_DUPLICATE, "still a replay");
	TAP_IS(db_nonce_count(db), 2, "two nonces");
	TAP_IS(db_nonce_prune(db, 200), 1, "prune removes the old nonce");
	TAP_IS(db_nonce_count(db), 1, "one nonce left");

	TAP_IS(db_blob_add(db, hash, 10, 40, 7), 0, "blob add");
	TAP_IS(db_blob_add(db, hash, 10, 40, 8), 0, "blob add again is a no-op");
	TAP_IS(db_blob_count(db), 1, "one blob");
	TAP_IS(db_blob_get(db, hash, &b), 0, "blob get");
	TAP_OK(strcmp(b.hash, hash) == 0 && b.size == 10 && b.stored_size == 40 && b.created == 7,
	       "blob fields round-trip");
	TAP_IS(db_blob_add(db, "ABCD", 1, 1, 1), ERROR_RANGE, "bad hash refused");
	TAP_IS(
	    db_blob_get(db, "0011223344556677889900112233445566778899001122334455667788990011", &b),
	    ERROR_NOT_FOUND, "unknown blob");
}

static void test_lifecycle(struct db *db)
{
	/* One job, one round, one unit; replicas for hosts 1 and 2. */
	TAP_IS(exec_sql(
		   db,
		   "INSERT INTO blobs VALUES ('"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		   "', 1, 1, 1);"
		   "INSERT INTO datasets (id, name, owner, licence, source, created)"
		   " VALUES (1, 'd', 'o', 'cc0', 's', 1);"
		   "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed,"
		   " created) VALUES (1, 'j', 1, '{}', 2, 3, 10, 42, 1);"
		   "INSERT INTO rounds (job, round, model, created) VALUES (1, 0, '"
		   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 1);"
		   "INSERT INTO units (id, job, round, idx, envelope, quorum, deadline_s, created)"
		   " VALUES (1, 1, 0, 0, x'00', 2, 3600, 1);"
		   "INSERT INTO replicas (unit) VALUES (1), (1);"),
	       SQLITE_OK, "job, round, unit and two unsent replicas");
	TAP_IS(exec_sql(db, "UPDATE replicas SET state = 'in_progress', host = 1, account = 'ann'"
			    " WHERE id = 1"),
	       SQLITE_OK, "replica 1 sent to host 1");
	TAP_OK(exec_sql(db, "UPDATE replicas SET state = 'in_progress', host = 1, account = 'x'"
			    " WHERE id = 2") != SQLITE_OK,
	       "second replica to the same host refused");
	TAP_OK(exec_sql(db, "UPDATE replicas SET state = 'in_progress', host = 2, account = 'ann'"
			    " WHERE id = 2") != SQLITE_OK,
	       "second replica to the same account refused");
	TAP_OK(exec_sql(db, "UPDATE replicas SET state = 'over' WHERE id = 1") != SQLITE_OK,
	       "over without an outcome refused");
	TAP_OK(exec_sql(db, "INSERT INTO replicas (unit) VALUES (77)") != SQLITE_OK,
	       "replica of a missing unit refused (foreign keys)");
	TAP_IS(exec_sql(db, "UPDATE replicas SET state = 'over', outcome = 'timeout' WHERE id = 1"),
	       SQLITE_OK, "replica times out");
}

/* A database left at version 1 with data in it migrates to the current
 * version on open, keeping the data. */
static void test_migration(void)
{
	char old[600], p2[700];
	struct db *db = NULL;
	struct error err;
	struct db_host h;
	unsigned char key[DB_KEY_BYTES];
	int64_t id = 0;

	snprintf(old, sizeof(old), "%s/old.db", dir);
	memset(key, 9, sizeof(key));
	TAP_IS(db_open_at(&db, old, 1, &err), 0, "open a database at schema version 1");
	TAP_IS(db_schema_version(db), 1, "it is at version 1");
	TAP_IS(db_host_add(db, key, "old", "", 1, &id), 0, "data written at version 1");
	db_free(db);
	db = NULL;
	TAP_IS(db_open(&db, old, &err), 0, "reopen migrates");
	TAP_IS(db_schema_version(db), DB_SCHEMA_VERSION, "now at the current version");
	TAP_IS(db_host_get(db, id, &h), 0, "the data survived the migration");
	TAP_IS(exec_sql(db, "SELECT uid FROM units"), SQLITE_OK, "the new column exists");
	db_free(db);
	unlink(old);
	snprintf(p2, sizeof(p2), "%s-wal", old);
	unlink(p2);
	snprintf(p2, sizeof(p2), "%s-shm", old);
	unlink(p2);
}

int main(void)
{
	struct db *db = NULL;
	struct error err;
	struct stat st;

	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(path, sizeof(path), "%s/state.db", dir);

	test_open();
	test_migration();
	TAP_IS(db_open(&db, path, &err), 0, "reopen");
	TAP_IS(db_schema_version(db), DB_SCHEMA_VERSION, "reopen keeps the version");
	test_project_hosts(db);
	test_nonces_blobs(db);
	test_lifecycle(db);
	TAP_IS(exec_sql(db, "INSERT INTO schema_version VALUES (999, 0)"), SQLITE_OK,
	       "pretend a newer agora wrote the database");
	db_free(db);
	db = NULL;
	TAP_IS(db_open(&db, path, &err), ERROR_VERSION, "a newer schema is refused");
	TAP_OK(strstr(err.msg, "newer") != NULL, "the message says why");
	db_free(db);

	TAP_OK(stat(path, &st) == 0, "database still there");
	unlink(path);
	{
		char p2[600];
		snprintf(p2, sizeof(p2), "%s-wal", path);
		unlink(p2);
		snprintf(p2, sizeof(p2), "%s-shm", path);
		unlink(p2);
	}
	rmdir(dir);
	return tap_done();
}
