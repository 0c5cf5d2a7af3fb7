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
static const char UID[] = "2222222222222222222222222222222222222222222222222222222222222222";
static const char *OUT = "3333333333333333333333333333333333333333333333333333333333333333";

/* The first unit: quorum 2, 100 s per replica. */
static const struct sched_unit unit0 = {.job = 1,
					.round = 0,
					.index = 0,
					.envelope = (const unsigned char *)"env",
					.envelope_len = 3,
					.uid = UID,
					.quorum = 2,
					.deadline_s = 100,
					.flops = 1e9};

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

static const char *unit_state(struct db *db, int64_t unit)
{
	static char buf[32];
	sqlite3_stmt *st;

	buf[0] = '\0';
	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), "SELECT state FROM units WHERE id = ?1", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, unit);
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(buf, sizeof(buf), "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return buf;
}

static double host_column(struct db *db, int64_t host, const char *sql)
{
	sqlite3_stmt *st;
	double v = -1e300;

	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, host);
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return v;
}

static double host_credit(struct db *db, int64_t host)
{
	return host_column(db, host, "SELECT credit FROM hosts WHERE id = ?1");
}

/* Quorum 2, the two results disagree: a third replica goes out, and the
 * majority wins. */
static void test_disagreement(struct db *db, int64_t h1, int64_t h3, int64_t h4, int64_t now)
{
	static const char *OTHER =
	    "4444444444444444444444444444444444444444444444444444444444444444";
	static const char *UID2 =
	    "5555555555555555555555555555555555555555555555555555555555555555";
	struct sched_unit u = {.job = 1,
			       .round = 0,
			       .index = 1,
			       .envelope = (const unsigned char *)"env2",
			       .envelope_len = 4,
			       .uid = UID2,
			       .quorum = 2,
			       .deadline_s = 100,
			       .flops = 5};
	struct sched_assignment x, y, z;
	double rep3 = host_column(db, h3, "SELECT reputation FROM hosts WHERE id = ?1");
	int64_t unit = 0, res = 0;

	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "second unit");
	TAP_IS(sched_assign(db, h1, "ann", NULL, 0, now, &x), 0, "ann takes a replica");
	TAP_IS(sched_assign(db, h3, "bob", NULL, 0, now, &y), 0, "bob takes a replica");
	TAP_IS(sched_result_add(db, x.replica, h1, OUT, 10, 20, "d", 1, now, &res), 0, "ann: OUT");
	TAP_IS(sched_result_add(db, y.replica, h3, OTHER, 10, 20, "d", 1, now, &res), 0,
	       "bob: another output");
	TAP_OK(strcmp(unit_state(db, unit), "active") == 0, "disagreement: the unit stays active");
	TAP_IS(sched_replica_count(db, "unsent"), 1, "and one more replica goes out");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 0, now, &z), 0, "carol takes it");
	TAP_IS(z.unit, unit, "for the disputed unit");
	TAP_IS(sched_result_add(db, z.replica, h4, OUT, 10, 20, "d", 1, now, &res), 0,
	       "carol: OUT");
	TAP_OK(strcmp(unit_state(db, unit), "validated") == 0, "the majority validates the unit");
	TAP_OK(host_column(db, h3, "SELECT reputation FROM hosts WHERE id = ?1") == rep3 - 1,
	       "the minority host loses reputation");
	TAP_IS(sched_replica_get(db, y.replica, &(struct sched_replica){0}), 0, "replica get");
	sched_assignment_release(&x);
	sched_assignment_release(&y);
	sched_assignment_release(&z);
}

/* Dataset, job, round: refusals, then a running job 1 with round 0. */
static void test_setup(struct db *db, const struct sched_unit *u, int64_t h1, int64_t now)
{
	struct sched_assignment a1;
	int64_t unit = 0;
	struct sched_job job = {
	    .name = "j", .spec = "{}", .quorum = 2, .rounds = 1, .inner_steps = 10, .seed = 42};
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
	TAP_IS(sched_job_set_state(db, jid, "sleeping", NULL), ERROR_RANGE,
	       "unknown state refused");
	TAP_IS(sched_job_set_state(db, 99, "running", NULL), ERROR_NOT_FOUND, "unknown job");
	TAP_IS(sched_unit_add(db, u, now, &unit), 0, "a unit of a draft job is stored");
	TAP_IS(sched_assign(db, h1, "ann", NULL, 0, now, &a1), ERROR_NOT_FOUND,
	       "but a draft job hands out nothing");
	TAP_IS(exec_sql(db, "DELETE FROM replicas; DELETE FROM units"), SQLITE_OK, "reset");
	TAP_IS(sched_job_set_state(db, jid, "running", NULL), 0, "job running");
}

/* An assignment request's nonce is kept even without work. */
static void test_nonce(struct db *db, int64_t h4, int64_t now)
{
	struct sched_assignment a;
	unsigned char nonce[DB_NONCE_BYTES];
	int64_t before = db_nonce_count(db);
	memset(nonce, 0x42, sizeof(nonce));
	TAP_IS(sched_assign(db, h4, "carol", nonce, 0, now + 103, &a), ERROR_NOT_FOUND,
	       "assignment with a nonce, no work");
	TAP_IS(db_nonce_count(db), before + 1, "the nonce is kept without work");
	TAP_IS(sched_assign(db, h4, "carol", nonce, 0, now + 104, &a), ERROR_DUPLICATE,
	       "the same nonce again is a replay");
}

/* A host holding max_in_progress replicas gets no more. */
static void test_limit(struct db *db, int64_t h4, int64_t now)
{
	struct sched_unit u = unit0;
	struct sched_assignment a, b;
	int64_t unit;

	u.quorum = 1;
	u.index = 2;
	u.uid = "6666666666666666666666666666666666666666666666666666666666666666";
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "third unit");
	u.index = 3;
	u.uid = "7777777777777777777777777777777777777777777777777777777777777777";
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "fourth unit");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 1, now, &a), 0, "carol takes one (limit 1)");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 1, now, &b), ERROR_STATE,
	       "and no second while it is in progress");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 2, now, &b), 0, "a limit of 2 gives another");
	sched_assignment_release(&a);
	sched_assignment_release(&b);
}

/* Abandoned replicas: only by their host, once; each gets a replacement
 * until 2 * quorum + 1 errors fail the unit. */
static void test_abandon(struct db *db, int64_t h1, int64_t h3, int64_t h4, int64_t now)
{
	struct sched_unit u = unit0;
	struct sched_assignment a;
	int64_t unit, unsent;

	u.quorum = 1;
	u.index = 4;
	u.uid = "8888888888888888888888888888888888888888888888888888888888888888";
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "a unit to abandon");
	TAP_IS(sched_assign(db, h1, "ann", NULL, 0, now, &a), 0, "ann takes it");
	unsent = sched_replica_count(db, "unsent");
	TAP_IS(sched_abandon(db, a.replica, h3, NULL, now), ERROR_PERM,
	       "another host cannot abandon it");
	TAP_IS(sched_abandon(db, a.replica, h1, NULL, now), 0, "ann abandons it");
	TAP_IS(sched_abandon(db, a.replica, h1, NULL, now), ERROR_STATE, "only once");
	TAP_IS(sched_abandon(db, 99999, h1, NULL, now), ERROR_NOT_FOUND, "unknown replica");
	TAP_IS(sched_replica_count(db, "unsent"), unsent + 1, "a replacement goes out");
	sched_assignment_release(&a);
	TAP_IS(sched_assign(db, h3, "bob", NULL, 0, now, &a), 0, "bob takes the replacement");
	TAP_IS(a.unit, unit, "of that unit");
	TAP_IS(sched_abandon(db, a.replica, h3, NULL, now), 0, "bob abandons it too");
	sched_assignment_release(&a);
	TAP_IS(sched_assign(db, h4, "carol", NULL, 0, now, &a), 0, "carol takes the next");
	TAP_IS(sched_abandon(db, a.replica, h4, NULL, now), 0, "carol abandons it too");
	sched_assignment_release(&a);
	TAP_OK(strcmp(unit_state(db, unit), "failed") == 0, "three errors fail the unit");
	TAP_IS(sched_replica_count(db, "unsent"), unsent, "and no replacement goes out");
}

/* Timeouts count as errors: after 2q+1 of them the unit fails. */
static void test_timeouts(struct db *db, int64_t h1, int64_t h3, int64_t h4, int64_t now)
{
	struct sched_unit u = unit0;
	struct sched_assignment a;
	int64_t unit, hosts[3] = {h1, h3, h4};
	const char *acc[3] = {"ann", "bob", "carol"};
	int i, ok = 1;

	exec_sql(db, "UPDATE units SET state = 'failed'");
	u.quorum = 1;
	u.index = 7;
	u.deadline_s = 10;
	u.uid = "aaaa999999999999999999999999999999999999999999999999999999999999";
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "a unit whose replicas time out");
	for (i = 0; i < 3; i++) {
		ok &= sched_assign(db, hosts[i], acc[i], NULL, 0, now + 20 * i, &a) == 0 &&
		      a.unit == unit;
		sched_assignment_release(&a);
	}
	tap_ok(ok, "three hosts take it in turn as each one times out");
	TAP_IS(sched_expire(db, now + 100), 1, "the third one times out too");
	TAP_OK(strcmp(unit_state(db, unit), "failed") == 0, "after 2q+1 timeouts the unit fails");
	TAP_IS(sched_replica_count(db, "unsent"), 0, "  ... and no replacement goes out");
}

/* --distinct-netblock: never two replicas of a unit to one address block. */
static void test_netblock(struct db *db, int64_t now)
{
	struct sched_unit u = unit0;
	struct sched_assignment a, b;
	int64_t unit, h5 = add_host(db, 5, "dan"), h6 = add_host(db, 6, "eve");
	char block[80];

	TAP_IS(sched_netblock("192.0.2.77", 24, 48, block, sizeof(block)), 0, "netblock of IPv4");
	TAP_OK(strcmp(block, "192.0.2.0/24") == 0, "  ... is 192.0.2.0/24");
	TAP_IS(sched_netblock("2001:db8:1:2::5", 24, 48, block, sizeof(block)), 0,
	       "netblock of IPv6");
	TAP_OK(strcmp(block, "2001:db8:1::/48") == 0, "  ... is 2001:db8:1::/48");
	TAP_IS(sched_netblock("10.1.2.3", 20, 48, block, sizeof(block)), 0, "a /20");
	TAP_OK(strcmp(block, "10.1.0.0/20") == 0, "  ... is 10.1.0.0/20");
	TAP_IS(sched_netblock("example.org", 24, 48, block, sizeof(block)), ERROR_FORMAT,
	       "a name is not an address");
	exec_sql(db, "UPDATE units SET state = 'failed'");
	u.index = 6;
	u.uid = "9999999999999999999999999999999999999999999999999999999999999999";
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "a unit for the address-block rule");
	TAP_IS(sched_assign_from(db, h5, "dan", "192.0.2.0/24", NULL, 0, now, &a), 0,
	       "dan (192.0.2.0/24) takes a replica");
	TAP_IS(sched_assign_from(db, h6, "eve", "192.0.2.0/24", NULL, 0, now, &b), ERROR_NOT_FOUND,
	       "eve from the same block gets none of that unit");
	TAP_IS(sched_assign_from(db, h6, "eve", "198.51.100.0/24", NULL, 0, now, &b), 0,
	       "eve from another block gets the second replica");
	TAP_IS(b.unit, unit, "  ... of that unit");
	sched_assignment_release(&a);
	sched_assignment_release(&b);
}

int main(void)
{
	char dir[256], path[300], cmd[300];
	struct sched_unit u = unit0;
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
	test_setup(db, &u, h1, now);
	TAP_IS(sched_unit_add(db, &u, now, &unit), 0, "unit added");
	TAP_IS(sched_replica_count(db, "unsent"), 2, "with two unsent replicas");
	TAP_IS(sched_unit_add(db, &u, now, &unit), ERROR_DUPLICATE, "same unit twice refused");
	TAP_IS(sched_replica_count(db, "unsent"), 2, "and nothing added");

	TAP_IS(sched_assign(db, h1, "ann", NULL, 0, now, &a1), 0, "host 1 gets work");
	TAP_OK(a1.envelope_len == 3 && memcmp(a1.envelope, "env", 3) == 0 &&
		   strcmp(a1.uid, UID) == 0 && a1.deadline == now + 100,
	       "assignment carries envelope, unit id, deadline");
	TAP_IS(sched_assign(db, h1, "ann", NULL, 0, now, &a), ERROR_NOT_FOUND,
	       "never two replicas of a unit to one host");
	TAP_IS(sched_assign(db, h2, "ann", NULL, 0, now, &a), ERROR_NOT_FOUND,
	       "never two replicas of a unit to one account");
	TAP_IS(sched_assign(db, h3, "bob", NULL, 0, now, &a2), 0,
	       "another account gets the second");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 0, now, &a), ERROR_NOT_FOUND,
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
	TAP_IS(sched_assign(db, h3, "bob", NULL, 0, now + 102, &a), ERROR_NOT_FOUND,
	       "the host that timed out does not get the unit again");
	TAP_IS(exec_sql(db, "UPDATE jobs SET state = 'paused'"), SQLITE_OK, "pause the job");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 0, now + 102, &a), ERROR_NOT_FOUND,
	       "a paused job hands out nothing");
	TAP_IS(exec_sql(db, "UPDATE jobs SET state = 'running'"), SQLITE_OK, "resume");
	TAP_IS(sched_assign(db, h4, "carol", NULL, 0, now + 102, &a), 0,
	       "a new host gets the replacement");
	TAP_IS(sched_result_add(db, a.replica, h4, OUT, 10, 20, "d", 1, now + 110, &res), 0,
	       "the replacement's result agrees");
	TAP_OK(strcmp(unit_state(db, unit), "validated") == 0, "the unit is validated");
	TAP_OK(host_credit(db, h1) == 1e9 && host_credit(db, h4) == 1e9 && host_credit(db, h3) == 0,
	       "the agreeing hosts get the unit's flops as credit");
	sched_assignment_release(&a);
	sched_assignment_release(&a1);
	sched_assignment_release(&a2);
	test_disagreement(db, h1, h3, h4, now + 200);
	test_limit(db, h4, now + 300);
	test_abandon(db, h1, h3, h4, now + 400);
	TAP_IS(sched_replica_get(db, 9999, &r), ERROR_NOT_FOUND, "unknown replica");
	test_nonce(db, h4, now);
	test_netblock(db, now + 500);
	test_timeouts(db, h1, h3, h4, now + 600);

	db_free(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
