/*
 * stats-test.c - the dashboard's query layer and pages on a small state
 * database written here with SQL (a 2-round job with agreeing, disagreeing
 * and zero results; a second job just started; three hosts on two
 * accounts, one named <script>alert(1)</script>): every figure of the
 * overview, the job and the leaderboards against hand-counted values, the
 * JSON built from the same structs, and the rendered pages: figures in
 * data-value attributes, user-controlled names escaped, no <script>
 * anywhere, lineage links, a chart, 404 for unknown pages and jobs.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server-tools/dashboard.h"
#include "server-tools/db.h"
#include "server-tools/html.h"
#include "server-tools/stats.h"
#include "tests/tap.h"

#define T    1800000000LL
#define H(n) "printf('%064x', " #n ")"

/* 3 hosts; job 1 "tiny": rounds 0 and 1 merged (400 s, 500 s), version
 * 2 published; 4 units, 10 replicas: 8 valid, 1 disagree, 1 zero_delta.
 * Job 2 "fresh": one active unit, one replica computing, one waiting. */
static const char fixture[] =
    "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 40)"
    " INSERT INTO blobs SELECT printf('%064x', v), 1, 1, 1 FROM s;"
    "INSERT INTO hosts (id, public_key, account, device, created, last_seen, credit) VALUES"
    " (1, randomblob(32), '<script>alert(1)</script>', 'gpu \"fast\" & <b>', 1, 1799999990, 3e9),"
    " (2, randomblob(32), 'ann', 'cpu', 1, 1799992800, 5e9),"
    " (3, randomblob(32), 'ann', 'cpu2', 1, 1799999900, 1e9);"
    "INSERT INTO datasets (id, name, owner, licence, source, created)"
    " VALUES (1, 'words & <more>', 'o', 'l', 's', 1);"
    "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed, state, created)"
    " VALUES (1, 'tiny', 1, '{\"preset\":\"gpt-test\",\"units_per_round\":2}', 2, 2, 6, 7, 'done', "
    "1),"
    " (2, 'fresh', 1, '{\"preset\":\"gpt-test\",\"units_per_round\":1}', 1, 5, 1, 1, 'running', 2);"
    "WITH RECURSIVE s(v) AS (SELECT 30 UNION ALL SELECT v + 1 FROM s WHERE v < 32)"
    " INSERT INTO manifests SELECT printf('%064x', v), 'model', zeroblob(32), 1 FROM s;"
    "INSERT INTO rounds (job, round, model, next_model, manifest, eval_loss, state, created,"
    " finished) VALUES"
    " (1, 0, " H(20) ", " H(21) ", " H(
	30) ", 5.5, 'done', 1799999000, 1799999400),"
	    " (1, 1, " H(21) ", " H(22) ", " H(
		31) ", 5.0, 'done', 1799999400, 1799999900),"
		    " (1, 2, " H(22) ", NULL, " H(
			32) ", 4.5, 'done', 1799999900, NULL),"
			    " (2, 0, " H(
				23) ", NULL, NULL, NULL, 'open', 1799999950, NULL);"
				    "INSERT INTO units (id, job, round, idx, envelope, flops, "
				    "quorum, deadline_s, state, created)"
				    " VALUES (1, 1, 0, 0, x'00', 1e9, 2, 60, 'validated', 1),"
				    " (2, 1, 0, 1, x'00', 1e9, 2, 60, 'validated', 1),"
				    " (3, 1, 1, 0, x'00', 1e9, 2, 60, 'validated', 1),"
				    " (4, 1, 1, 1, x'00', 1e9, 2, 60, 'validated', 1),"
				    " (5, 2, 0, 0, x'00', 2e9, 1, 60, 'active', 1);"
				    "INSERT INTO replicas (id, unit, host, state, outcome, "
				    "validation, reason, received,"
				    " result_hash) VALUES"
				    " (1, 1, 1, 'over', 'success', 'valid', NULL, 1799996000, " H(
					1) "),"
					   " (2, 1, 2, 'over', 'success', 'valid', NULL, "
					   "1799996000, " H(
					       1) "),"
						  " (3, 2, 1, 'over', 'success', 'valid', NULL, "
						  "1799999300, " H(
						      2) "),"
							 " (4, 2, 3, 'over', 'success', 'invalid', "
							 "'disagree', 1799999300, " H(
							     3) "),"
								" (5, 2, 2, 'over', 'success', "
								"'valid', NULL, 1799999350, " H(
								    2) "),"
								       " (6, 3, 1, 'over', "
								       "'success', 'valid', NULL, "
								       "1799999800, " H(
									   4) "),"
									      " (7, 3, 3, 'over', "
									      "'success', 'valid', "
									      "NULL, "
									      "1799999800, " H(
										  4) "),"
										     " (8, 4, 1, "
										     "'over', "
										     "'success', "
										     "'valid', "
										     "NULL, "
										     "1799999850,"
										     " " H(
											 5) "),"
											    " (9, "
											    "4, 2, "
											    "'over'"
											    ", "
											    "'succe"
											    "ss', "
											    "'inval"
											    "id', "
											    "'zero_"
											    "delta'"
											    ", "
											    "179999"
											    "9850,"
											    " " H(
												6) "),"
												   " (10, 4, 3, 'over', 'success', 'valid', NULL, 1799999860, " H(
												       5) "),"
													  " (11, 5, 1, 'in_progress', NULL, 'pending', NULL, NULL, NULL),"
													  " (12, 5, NULL, 'unsent', NULL, 'pending', NULL, NULL, NULL);"
													  "INSERT INTO results (id, replica, host, blob, descriptor, received)"
													  " SELECT id, id, host, result_hash, x'00', received FROM replicas WHERE outcome = 'success';"
													  "UPDATE units SET canonical = CASE id WHEN 1 THEN 1 WHEN 2 THEN 3 WHEN 3 THEN 6"
													  " WHEN 4 THEN 8 END WHERE job = 1;";

static struct db *open_fixture(char *dir, size_t size)
{
	char path[512], *msg = NULL;
	struct error err;
	struct db *db = NULL;

	if (tap_tmpdir(dir, size) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (db_open(&db, path, &err) < 0) {
		tap_diag("%s", err.msg);
		return NULL;
	}
	if (db_project_init(db, "proj & <co>", 1) < 0)
		tap_diag("cannot set the project");
	db_lock(db);
	if (sqlite3_exec(db_sqlite(db), fixture, NULL, NULL, &msg) != SQLITE_OK)
		tap_diag("fixture: %s", msg ? msg : "?");
	sqlite3_free(msg);
	db_unlock(db);
	return db;
}

static void test_overview(struct db *db)
{
	struct stats_overview *o = calloc(1, sizeof(*o));
	json_t *j;

	TAP_IS(stats_overview_get(db, T, o), 0, "overview: read");
	TAP_IS(o->hosts_registered, 3, "overview: 3 hosts registered");
	TAP_IS(o->hosts_active, 2, "overview: 2 active in the last hour");
	TAP_IS(o->accounts, 2, "overview: 2 accounts");
	TAP_IS(o->replicas_in_progress, 1, "overview: 1 in flight");
	TAP_IS(o->replicas_unsent, 1, "overview: 1 waiting");
	TAP_IS(o->units_validated, 4, "overview: 4 units validated");
	TAP_IS(o->units_active, 1, "overview: 1 unit active");
	TAP_IS(o->results_valid, 8, "overview: 8 valid results");
	TAP_IS(o->results_invalid, 2, "overview: 2 rejected");
	TAP_IS(o->units_last_hour, 3, "overview: 3 units validated in the last hour");
	tap_ok(o->flops_last_hour == 6e9 && fabs(o->flop_per_s - 6e9 / 3600) < 1e-6,
	       "overview: 6 valid results in the last hour: 6 GFLOP, %.1f FLOP/s", o->flop_per_s);
	tap_ok(o->n_jobs == 2 && strcmp(o->jobs[0].name, "tiny") == 0 &&
		   o->jobs[0].rounds_done == 2 && o->jobs[0].eval_loss == 4.5 &&
		   isnan(o->jobs[1].eval_loss) && o->jobs[1].units_active == 1,
	       "overview: jobs with rounds done, newest eval loss, units");
	tap_ok(o->featured == 2 && strcmp(o->featured_name, "fresh") == 0 && o->n_series == 0,
	       "overview: the running job is featured (no loss yet)");
	j = stats_overview_json(o);
	tap_ok(j &&
		   json_integer_value(json_object_get(json_object_get(j, "units"), "validated")) ==
		       4 &&
		   json_integer_value(json_object_get(j, "hosts_active")) == 2 &&
		   json_is_null(
		       json_object_get(json_array_get(json_object_get(j, "jobs"), 1), "eval_loss")),
	       "overview JSON: the same figures; no loss is null");
	json_decref(j);
	free(o);
}

static void test_job(struct db *db)
{
	struct stats_job *j = calloc(1, sizeof(*j));
	json_t *o;

	TAP_IS(stats_job_get(db, 1, j), 0, "job: read");
	TAP_IS(stats_job_get(db, 99, j), ERROR_NOT_FOUND, "job: unknown id");
	stats_job_get(db, 1, j);
	tap_ok(j->n_rounds == 3 && j->n_shown == 3 && j->rounds[0].round == 0 &&
		   j->rounds[2].round == 2,
	       "job: 3 model versions, oldest first");
	tap_ok(j->n_series == 3 && j->series_loss[0] == 5.5 && j->series_loss[2] == 4.5,
	       "job: eval loss series");
	tap_ok(j->durations_n == 2 && j->duration_mean_s == 450 && j->duration_last_s == 500 &&
		   j->duration_max_s == 500,
	       "job: round durations (400 s, 500 s)");
	tap_ok(j->agreed == 8 && j->disagreed == 1 && j->invalid == 1 && j->pending == 0,
	       "job: 8 agreed, 1 disagreed, 1 invalid");
	tap_ok(j->n_reasons == 2 && j->n_invalid == 2 && j->invalid_list[0].replica == 9 &&
		   strcmp(j->invalid_list[0].reason, "zero_delta") == 0,
	       "job: reasons and the newest rejected result first");
	tap_ok(strcmp(j->dataset, "words & <more>") == 0 && j->quorum == 2 &&
		   j->units_per_round == 2,
	       "job: dataset, quorum, units per round");
	o = stats_job_json(j);
	tap_ok(o &&
		   json_integer_value(
		       json_object_get(json_object_get(o, "validation"), "agreed")) == 8 &&
		   json_integer_value(json_object_get(
		       json_object_get(json_object_get(o, "validation"), "reasons"), "disagree")) ==
		       1 &&
		   json_array_size(json_object_get(o, "round_list")) == 3 &&
		   json_is_null(json_object_get(o, "sample")),
	       "job JSON: the same figures");
	json_decref(o);
	stats_job_get(db, 2, j);
	tap_ok(j->replicas_in_progress == 1 && j->replicas_unsent == 1 && j->n_series == 0 &&
		   j->durations_n == 0,
	       "job 2: just started, no loss yet");
	free(j);
}

static void test_volunteers(struct db *db)
{
	struct stats_volunteers *v = calloc(1, sizeof(*v));
	json_t *o;

	TAP_IS(stats_volunteers_get(db, T, v), 0, "volunteers: read");
	tap_ok(v->n_hosts == 3 && v->hosts[0].host == 2 && v->hosts[1].host == 1 &&
		   v->hosts[2].host == 3,
	       "volunteers: hosts by credit");
	tap_ok(v->hosts[1].valid == 4 && v->hosts[1].invalid == 0 && v->hosts[0].valid == 2 &&
		   v->hosts[0].invalid == 1,
	       "volunteers: valid and invalid per host");
	tap_ok(v->n_accounts == 2 && strcmp(v->accounts[0].account, "ann") == 0 &&
		   v->accounts[0].hosts == 2 && v->accounts[0].credit == 6e9 &&
		   v->accounts[0].valid == 4 && v->accounts[0].invalid == 2,
	       "volunteers: accounts by credit, with hosts and results");
	o = stats_volunteers_json(v);
	tap_ok(o && json_real_value(json_object_get(
			json_array_get(json_object_get(o, "accounts"), 0), "credit")) == 6.0,
	       "volunteers JSON: credit in GFLOP");
	json_decref(o);
	free(v);
}

static char *page(struct db *db, const char *path, unsigned *status)
{
	struct html h;
	size_t len;

	html_init(&h, 0);
	*status = dashboard_render(db, path, T, &h);
	return html_take(&h, &len);
}

/* A stored text sample shows in the JSON and, escaped, on the page. */
static void test_sample(struct db *db)
{
	struct stats_job *j = calloc(1, sizeof(*j));
	unsigned st;
	json_t *o;
	char *p;

	db_lock(db);
	sqlite3_exec(db_sqlite(db), "UPDATE rounds SET sample = 'to <b>be</b> & not' WHERE job = 1",
		     NULL, NULL, NULL);
	db_unlock(db);
	o = stats_job_get(db, 1, j) == 0 ? stats_job_json(j) : NULL;
	tap_ok(o &&
		   strcmp(json_string_value(json_object_get(json_object_get(o, "sample"), "text")),
			  "to <b>be</b> & not") == 0 &&
		   json_integer_value(json_object_get(json_object_get(o, "sample"),
						      "model_version")) == j->sample_round &&
		   j->sample_round >= 0,
	       "job JSON: the newest model version's text sample");
	json_decref(o);
	p = page(db, "/jobs/1", &st);
	tap_ok(p && strstr(p, "<pre id=\"sample\">to &lt;b&gt;be&lt;/b&gt; &amp; not</pre>") &&
		   !strstr(p, "None yet"),
	       "job page: the text sample, escaped");
	free(p);
	free(j);
}

static void test_pages(struct db *db)
{
	char link[128];
	unsigned st;
	char *p;

	snprintf(link, sizeof(link), "/api/v1/blobs/%064x\"", 31);
	p = page(db, "/", &st);
	tap_ok(st == 200 && p && strstr(p, "id=\"units-validated\" data-value=\"4\"") &&
		   strstr(p, "id=\"in-flight\" data-value=\"1\"") &&
		   strstr(p, "id=\"results-rejected\" data-value=\"2\"") &&
		   strstr(p, "<meta http-equiv=\"refresh\" content=\"10\">") &&
		   strstr(p, "name=\"viewport\""),
	       "overview page: figures, refresh, viewport");
	tap_ok(p && strstr(p, "proj &amp; &lt;co&gt;") && !strstr(p, "<co>"),
	       "overview page: the project name is escaped");
	tap_ok(p && !strstr(p, "<script") && !strstr(p, "http://") && !strstr(p, "https://") &&
		   !strstr(p, "src="),
	       "overview page: no script, nothing fetched from elsewhere");
	free(p);
	p = page(db, "/volunteers", &st);
	tap_ok(st == 200 && p && strstr(p, "&lt;script&gt;alert(1)&lt;/script&gt;") &&
		   !strstr(p, "<script"),
	       "volunteers page: the script account shows as text");
	tap_ok(p && strstr(p, "gpu &quot;fast&quot; &amp; &lt;b&gt;"),
	       "volunteers page: the device string is escaped");
	free(p);
	p = page(db, "/jobs/1", &st);
	tap_ok(st == 200 && p && strstr(p, "<svg") && strstr(p, "<polyline") && strstr(p, link) &&
		   strstr(p, "words &amp; &lt;more&gt;") && strstr(p, "None yet"),
	       "job page: chart, lineage links, dataset escaped, no sample yet");
	tap_ok(p && strstr(p, "id=\"v-disagreed\" data-value=\"1\"") && strstr(p, "zero_delta"),
	       "job page: validation outcomes with reasons");
	free(p);
	p = page(db, "/jobs/99", &st);
	TAP_IS(st, 404, "job page: unknown job is 404");
	free(p);
	p = page(db, "/jobs/1x", &st);
	TAP_IS(st, 404, "job page: a bad id is 404");
	free(p);
	p = page(db, "/elsewhere", &st);
	TAP_IS(st, 404, "an unknown page is 404");
	free(p);
}

/* A job paused by the coordinator says why, escaped, on both pages. */
static void test_reason(struct db *db)
{
	struct stats_job *j;
	unsigned st;
	json_t *o;
	char *p;

	sqlite3_exec(db_sqlite(db),
		     "UPDATE jobs SET state = 'paused', reason = 'every unit <of> round 3 failed & "
		     "\"more\"' WHERE id = 2",
		     NULL, NULL, NULL);
	p = page(db, "/jobs/2", &st);
	tap_ok(st == 200 && p &&
		   strstr(p, "<p id=\"job-reason\"><b>paused</b>: every unit &lt;of&gt; round 3 "
			     "failed &amp; &quot;more&quot;</p>") &&
		   !strstr(p, "<of>"),
	       "job page: why the job is paused, escaped");
	free(p);
	p = page(db, "/", &st);
	tap_ok(st == 200 && p &&
		   strstr(p, "<span class=\"st st-paused\" title=\"every unit &lt;of&gt; round 3 "
			     "failed &amp; &quot;more&quot;\">paused</span>"),
	       "overview page: the reason is the state's tooltip");
	free(p);
	j = malloc(sizeof(*j));
	o = j && stats_job_get(db, 2, j) == 0 ? stats_job_json(j) : NULL;
	TAP_IS_STR(json_string_value(json_object_get(o, "reason")),
		   "every unit <of> round 3 failed & \"more\"", "job JSON: the reason");
	json_decref(o);
	free(j);
	p = page(db, "/jobs/1", &st);
	tap_ok(p && !strstr(p, "job-reason"),
	       "job page: a job with nothing to say shows no reason");
	free(p);
	sqlite3_exec(db_sqlite(db), "UPDATE jobs SET state = 'running', reason = NULL WHERE id = 2",
		     NULL, NULL, NULL);
}

static void test_parse_id(void)
{
	tap_ok(dashboard_parse_id("1") == 1 &&
		   dashboard_parse_id("4611686018427387904") == 4611686018427387904LL,
	       "parse id: 1 and 2^62");
	tap_ok(dashboard_parse_id("0") < 0 && dashboard_parse_id("01") < 0 &&
		   dashboard_parse_id("-1") < 0 && dashboard_parse_id("") < 0 &&
		   dashboard_parse_id("1 ") < 0 && dashboard_parse_id("9999999999999999999") < 0,
	       "parse id: 0, leading zero, sign, empty, trailing, overflow refused");
}

int main(void)
{
	char dir[256], cmd[300];
	struct db *db = open_fixture(dir, sizeof(dir));

	if (!tap_ok(db != NULL, "fixture database"))
		return tap_done();
	test_overview(db);
	test_job(db);
	test_volunteers(db);
	test_pages(db);
	test_reason(db);
	test_sample(db);
	test_parse_id();
	db_free(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}
