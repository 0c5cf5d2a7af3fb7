/*
 * db-sched-test.c - tests for server-tools/sched.c: units enter with
 * `quorum` unsent replicas; assignment never gives two replicas of a unit
 * to one host or one account; overdue replicas time out and get a
 * replacement; results are accepted once, only from the assigned host,
 * only while the replica is in progress; paused jobs hand out nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-tools/sched.h"
#include "tests/tap.h"

static const char *H1 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *UID = "2222222222222222222222222222222222222222222222222222222222222222";
static const char *OUT = "3333333333333333333333333333333333333333333333333333333333333333";

static int exec_sql(struct db *db, const char *sql)
{
	int rc;

	db_lock(db);
	rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL);
	db_unlock(db);
	return rc;
}

static int64_t add_host(struct db *db, int n, const char *account)
{
	unsigned char key[DB_KEY_BYTES];
	int64_t id = 0;

	memset(key, n, sizeof(key));
	if (db_host_add(db, key, account, "", 1, &id) < 0)
		tap_diag("cannot add host %d", n);
	return id;
}

int main(void)
{
	char dir[256], path[300], cmd[300];
	struct sched_unit u = {.job = 1,
			       .round = 0,
			       .index = 0,
			       .envelope = (const unsigned char *)"env",
			       .envelope_len = 3,
			       .uid = UID,
			       .quorum = 2,
			       .deadline_s = 100,
			       .flops = 1e9};
	struct sched_assignment a1, a2, a;
	struct sched_replica r;
	struct error err;
	struct db *db = NULL;
	int64_t unit = 0, res = 0, h1, h2, h3, h4;
	const int64_t now = 10000;

	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (db_open(&db, path, &err) < 0)
		tap_skip_all("cannot open: %s", err.msg);
	h1 = add_host(db, 1, "ann");
	h2 = add_host(db, 2, "ann");
	h3 = add_host(db, 3, "bob");
	h4 = add_host(db, 4, "carol");

	TAP_IS(sched_unit_add(db, &u, now, &unit), ERROR_NOT_FOUND,
	       "unit of a missing job refused");
	{
		struct sched_job job = {.name = "j",
					.spec = "{}",
					.quorum = 2,
					.rounds = 1,
					.inner_steps = 10,
					.seed = 42};
		int64_t ds = 0, jid = 0;
		TAP_IS(db_blob_add(db, H1, 1, 1, 1), 0, "model blob");
		TAP_IS(sched_dataset_add(db, "d", "o", "cc0", "s", 1, &ds), 0, "dataset");
		TAP_IS(sched_dataset_add(db, "d", "o", "cc0", "s", 1, &ds), ERROR_DUPLICATE,
		       "dataset names are unique");
		job.dataset = ds + 100;
		TAP_IS(sched_job_add(db, &job, 1, &jid), ERROR_NOT_FOUND,
		       "job of a missing dataset refused");
		job.dataset = ds;
		job.quorum = 0;
		TAP_IS(sched_job_add(db, &job, 1, &jid), ERROR_RANGE, "quorum 0 refused");
		job.quorum = 2;
		TAP_IS(sched_job_add(db, &job, 1, &jid), 0, "job");
		TAP_IS(jid, 1, "first job id");
		TAP_IS(sched_round_add(db, jid, 0, UID, 1), ERROR_NOT_FOUND,
		       "round of an unknown model blob refused");
		TAP_IS(sched_round_add(db, jid, 0, H1, 1), 0, "round 0");
		TAP_IS(sched_job_set_state(db, jid, "sleeping"), ERROR_RANGE,
		       "unknown state refused");
		TAP_IS(sched_job_set_state(db, 99, "running"), ERROR_NOT_FOUND, "unknown job");
		TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "a unit of a draft job is stored");
		TAP_IS(sched_assign(db, h1, "ann", NULL, now, &a1), ERROR_NOT_FOUND,
		       "but a draft job hands out nothing");
		TAP_IS(exec_sql(db, "DELETE FROM replicas; DELETE FROM units"), SQLITE_OK, "reset");
		TAP_IS(sched_job_set_state(db, jid, "running"), 0, "job running");
	}
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "unit added");
	TAP_IS(sched_replica_count(db, "unsent"), 2, "with two unsent replicas");
	TAP_IS(sched_unit_add(db, &u, now, &unit), ERROR_DUPLICATE, "same unit twice refused");
	TAP_IS(sched_replica_count(db, "unsent"), 2, "and nothing added");

	TAP_IS(sched_assign(db, h1, "ann", NULL, now, &a1), 0, "host 1 gets work");
	TAP_OK(a1.envelope_len == 3 && memcmp(a1.envelope, "env", 3) == 0 &&
		   strcmp(a1.uid, UID) == 0 && a1.deadline == now + 100,
	       "assignment carries envelope, unit id, deadline");
	TAP_IS(sched_assign(db, h1, "ann", NULL, now, &a), ERROR_NOT_FOUND,
	       "never two replicas of a unit to one host");
	TAP_IS(sched_assign(db, h2, "ann", NULL, now, &a), ERROR_NOT_FOUND,
	       "never two replicas of a unit to one account");
	TAP_IS(sched_assign(db, h3, "bob", NULL, now, &a2), 0, "another account gets the second");
	TAP_IS(sched_assign(db, h4, "carol", NULL, now, &a), ERROR_NOT_FOUND,
	       "then no work is left");
	TAP_IS(sched_replica_count(db, "in_progress"), 2, "two in progress");

	TAP_IS(sched_result_add(db, a1.replica, h3, OUT, 10, 20, "d", 1, now, &res), ERROR_STATE,
	       "result from another host refused");
	TAP_IS(sched_result_add(db, a1.replica, h1, OUT, 10, 20, "d", 1, now + 5, &res), 0,
	       "result from the assigned host");
	TAP_IS(sched_replica_get(db, a1.replica, &r), 0, "replica get");
	TAP_OK(strcmp(r.state, "over") == 0 && strcmp(r.outcome, "success") == 0 && r.host == h1,
	       "replica over, success");
	TAP_IS(sched_result_add(db, a1.replica, h1, OUT, 10, 20, "d", 1, now + 6, &res),
	       ERROR_STATE, "a second result for it refused");

	TAP_IS(sched_expire(db, now + 100), 0, "nothing overdue at the deadline");
	TAP_IS(sched_expire(db, now + 101), 1, "one replica times out after it");
	TAP_IS(sched_replica_get(db, a2.replica, &r), 0, "replica get");
	TAP_OK(strcmp(r.state, "over") == 0 && strcmp(r.outcome, "timeout") == 0,
	       "replica over, timeout");
	TAP_IS(sched_replica_count(db, "unsent"), 1, "a replacement was created");
	TAP_IS(sched_result_add(db, a2.replica, h3, OUT, 10, 20, "d", 1, now + 102, &res),
	       ERROR_STATE, "late result refused");
	TAP_IS(sched_assign(db, h3, "bob", NULL, now + 102, &a), ERROR_NOT_FOUND,
	       "the host that timed out does not get the unit again");
	TAP_IS(exec_sql(db, "UPDATE jobs SET state = 'paused'"), SQLITE_OK, "pause the job");
	TAP_IS(sched_assign(db, h4, "carol", NULL, now + 102, &a), ERROR_NOT_FOUND,
	       "a paused job hands out nothing");
	TAP_IS(exec_sql(db, "UPDATE jobs SET state = 'running'"), SQLITE_OK, "resume");
	TAP_IS(sched_assign(db, h4, "carol", NULL, now + 102, &a), 0,
	       "a new host gets the replacement");
	sched_assignment_release(&a);
	sched_assignment_release(&a1);
	sched_assignment_release(&a2);
	TAP_IS(sched_replica_get(db, 9999, &r), ERROR_NOT_FOUND, "unknown replica");
	{
		unsigned char nonce[DB_NONCE_BYTES];
		int64_t before = db_nonce_count(db);
		memset(nonce, 0x42, sizeof(nonce));
		TAP_IS(sched_assign(db, h4, "carol", nonce, now + 103, &a), ERROR_NOT_FOUND,
		       "assignment with a nonce, no work");
		TAP_IS(db_nonce_count(db), before + 1, "the nonce is kept without work");
		TAP_IS(sched_assign(db, h4, "carol", nonce, now + 104, &a), ERROR_DUPLICATE,
		       "the same nonce again is a replay");
	}

	db_free(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
