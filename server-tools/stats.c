/*
 * stats.c - the dashboard's figures from the state database (see
 * stats.h). Every query is a read-only prepared statement (cached by
 * db_stmt_cached()), bound with parameters, run under the database lock;
 * every list has a LIMIT. Correlated counts run in an outer query over an
 * already limited inner one, so they cost per listed row, not per row of
 * the table.
 */
#include "config.h"

#include "server-tools/stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "server-tools/chart.h"
#include "server-tools/http.h"

_Static_assert(STATS_SERIES_MAX == CHART_POINTS_MAX, "the series is what the chart draws");

/* Column text into buf ("" for NULL). */
static void stats_text(sqlite3_stmt *st, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(buf, size, "%s", t ? (const char *)t : "");
}

static double stats_real_or_nan(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* One int64 from sql bound with ?1 = a (and ?2 = b when it has two);
 * negative ERROR_DB on failure. Lock held. */
static int64_t stats_int(struct db *db, const char *sql, int64_t a, int64_t b)
{
	sqlite3_stmt *st = db_stmt_cached(db, sql);
	int64_t v = ERROR_DB;

	if (!st)
		return ERROR_DB;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

void stats_project_name(struct db *db, char *buf, size_t size)
{
	struct db_project p;

	if (db_project_get(db, &p) == 0)
		snprintf(buf, size, "%s", p.name);
	else
		snprintf(buf, size, "agora");
}

static int stats_series(struct db *db, int64_t job, double *rounds, double *loss, size_t *n);

/* ---- jobs ---- */

static const char stats_job_sql[] =
    "SELECT j.id, j.name, j.state, coalesce(json_extract(j.spec, '$.preset'), ''), j.rounds,"
    " (SELECT max(count(*) - 1, 0) FROM rounds WHERE job = j.id),"
    " (SELECT eval_loss FROM rounds WHERE job = j.id ORDER BY round DESC LIMIT 1),"
    " (SELECT count(*) FROM units WHERE job = j.id AND state = 'active'),"
    " (SELECT count(*) FROM units WHERE job = j.id AND state = 'validated'),"
    " (SELECT count(*) FROM units WHERE job = j.id AND state = 'failed'),"
    " coalesce(j.reason, '')"
    " FROM jobs j WHERE j.id BETWEEN ?1 AND ?2 ORDER BY j.id LIMIT ?3";

/* Job rows with ids in [lo, hi], at most max; returns how many. */
static int stats_job_rows(struct db *db, int64_t lo, int64_t hi, struct stats_job_row *out,
			  size_t max)
{
	sqlite3_stmt *st = db_stmt_cached(db, stats_job_sql);
	size_t n = 0;
	int rc;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct stats_job_row *r = &out[n++];
		r->id = sqlite3_column_int64(st, 0);
		stats_text(st, 1, r->name, sizeof(r->name));
		stats_text(st, 2, r->state, sizeof(r->state));
		stats_text(st, 3, r->preset, sizeof(r->preset));
		r->rounds = sqlite3_column_int64(st, 4);
		r->rounds_done = sqlite3_column_int64(st, 5);
		r->eval_loss = stats_real_or_nan(st, 6);
		r->units_active = sqlite3_column_int64(st, 7);
		r->units_validated = sqlite3_column_int64(st, 8);
		r->units_failed = sqlite3_column_int64(st, 9);
		stats_text(st, 10, r->reason, sizeof(r->reason));
	}
	sqlite3_reset(st);
	return (int)n;
}

/* ---- overview ---- */

/* Replicas by state, outcome and validation (one scan). Lock held. */
static int stats_replica_counts(struct db *db, struct stats_overview *o)
{
	sqlite3_stmt *st = db_stmt_cached(db, "SELECT state, coalesce(outcome, ''), validation,"
					      " count(*) FROM replicas GROUP BY 1, 2, 3");
	char state[16], outcome[16], validation[16];
	int64_t n;

	if (!st)
		return ERROR_DB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		stats_text(st, 0, state, sizeof(state));
		stats_text(st, 1, outcome, sizeof(outcome));
		stats_text(st, 2, validation, sizeof(validation));
		n = sqlite3_column_int64(st, 3);
		if (strcmp(state, "unsent") == 0)
			o->replicas_unsent += n;
		else if (strcmp(state, "in_progress") == 0)
			o->replicas_in_progress += n;
		else
			o->replicas_over += n;
		if (strcmp(outcome, "success") == 0)
			o->outcome_success += n;
		else if (strcmp(outcome, "error") == 0)
			o->outcome_error += n;
		else if (strcmp(outcome, "timeout") == 0)
			o->outcome_timeout += n;
		else if (strcmp(outcome, "abandoned") == 0)
			o->outcome_abandoned += n;
		if (strcmp(outcome, "success") != 0)
			continue;
		if (strcmp(validation, "valid") == 0)
			o->results_valid += n;
		else if (strcmp(validation, "invalid") == 0)
			o->results_invalid += n;
		else if (strcmp(validation, "inconclusive") == 0)
			o->results_inconclusive += n;
		else
			o->results_pending += n;
	}
	sqlite3_reset(st);
	return 0;
}

static int stats_unit_counts(struct db *db, const char *sql, int64_t job, int64_t *active,
			     int64_t *validated, int64_t *failed)
{
	sqlite3_stmt *st = db_stmt_cached(db, sql);
	char state[16];

	if (!st)
		return ERROR_DB;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, job);
	while (sqlite3_step(st) == SQLITE_ROW) {
		stats_text(st, 0, state, sizeof(state));
		if (strcmp(state, "active") == 0)
			*active = sqlite3_column_int64(st, 1);
		else if (strcmp(state, "validated") == 0)
			*validated = sqlite3_column_int64(st, 1);
		else if (strcmp(state, "failed") == 0)
			*failed = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return 0;
}

static int stats_throughput(struct db *db, int64_t since, struct stats_overview *o)
{
	sqlite3_stmt *st;

	o->units_last_hour = stats_int(db,
				       "SELECT count(*) FROM units u JOIN results r"
				       " ON r.id = u.canonical WHERE r.received >= ?1",
				       since, 0);
	st = db_stmt_cached(db,
			    "SELECT total(u.flops) FROM replicas p JOIN units u"
			    " ON u.id = p.unit WHERE p.validation = 'valid' AND p.received >= ?1");
	if (!st || o->units_last_hour < 0)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, since);
	if (sqlite3_step(st) == SQLITE_ROW)
		o->flops_last_hour = sqlite3_column_double(st, 0);
	sqlite3_reset(st);
	o->flop_per_s = o->flops_last_hour / STATS_WINDOW_S;
	return 0;
}

/* The job whose loss the overview draws: the newest running one, else
 * the newest. Lock held. */
static int stats_featured(struct db *db, struct stats_overview *o)
{
	sqlite3_stmt *st = db_stmt_cached(db, "SELECT id, name FROM jobs"
					      " ORDER BY state = 'running' DESC, id DESC LIMIT 1");

	if (!st)
		return ERROR_DB;
	if (sqlite3_step(st) == SQLITE_ROW) {
		o->featured = sqlite3_column_int64(st, 0);
		stats_text(st, 1, o->featured_name, sizeof(o->featured_name));
	}
	sqlite3_reset(st);
	return o->featured
		   ? stats_series(db, o->featured, o->series_round, o->series_loss, &o->n_series)
		   : 0;
}

int stats_overview_get(struct db *db, int64_t now, struct stats_overview *o)
{
	int rc;

	memset(o, 0, sizeof(*o));
	o->now = now;
	db_lock(db);
	o->hosts_registered = stats_int(db, "SELECT count(*) FROM hosts", 0, 0);
	o->hosts_active = stats_int(db, "SELECT count(*) FROM hosts WHERE last_seen >= ?1",
				    now - STATS_WINDOW_S, 0);
	o->accounts = stats_int(db, "SELECT count(DISTINCT account) FROM hosts", 0, 0);
	o->blobs = stats_int(db, "SELECT count(*) FROM blobs", 0, 0);
	o->jobs_total = stats_int(db, "SELECT count(*) FROM jobs", 0, 0);
	rc = o->hosts_registered < 0 || o->hosts_active < 0 || o->accounts < 0 || o->blobs < 0 ||
		     o->jobs_total < 0
		 ? ERROR_DB
		 : 0;
	if (rc == 0)
		rc = stats_replica_counts(db, o);
	if (rc == 0)
		rc = stats_unit_counts(db, "SELECT state, count(*) FROM units GROUP BY state", 0,
				       &o->units_active, &o->units_validated, &o->units_failed);
	if (rc == 0)
		rc = stats_throughput(db, now - STATS_WINDOW_S, o);
	if (rc == 0) {
		rc = stats_job_rows(db, 1, INT64_MAX, o->jobs, STATS_JOBS_MAX);
		o->n_jobs = rc > 0 ? (size_t)rc : 0;
		rc = rc < 0 ? rc : 0;
	}
	if (rc == 0)
		rc = stats_featured(db, o);
	db_unlock(db);
	return rc;
}

/* ---- one job ---- */

/* The newest STATS_ROUNDS_MAX rounds, oldest first. Lock held. */
static int stats_job_rounds(struct db *db, struct stats_job *j)
{
	sqlite3_stmt *st = db_stmt_cached(
	    db, "SELECT round, state, eval_loss, created, coalesce(finished, 0), model,"
		" coalesce(manifest, '') FROM rounds WHERE job = ?1 ORDER BY round DESC LIMIT ?2");
	size_t n = 0, i;

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	sqlite3_bind_int64(st, 2, STATS_ROUNDS_MAX);
	while (n < STATS_ROUNDS_MAX && sqlite3_step(st) == SQLITE_ROW) {
		struct stats_round *r = &j->rounds[n++];
		r->round = sqlite3_column_int64(st, 0);
		stats_text(st, 1, r->state, sizeof(r->state));
		r->eval_loss = stats_real_or_nan(st, 2);
		r->created = sqlite3_column_int64(st, 3);
		r->finished = sqlite3_column_int64(st, 4);
		stats_text(st, 5, r->model, sizeof(r->model));
		stats_text(st, 6, r->manifest, sizeof(r->manifest));
	}
	sqlite3_reset(st);
	for (i = 0; i < n / 2; i++) { /* oldest first */
		struct stats_round t = j->rounds[i];
		j->rounds[i] = j->rounds[n - 1 - i];
		j->rounds[n - 1 - i] = t;
	}
	j->n_shown = n;
	return 0;
}

/* A job's eval loss by round: every round's when it fits, else evenly
 * downsampled (chart_pick()). Lock held. */
static int stats_series(struct db *db, int64_t job, double *rounds, double *loss, size_t *n)
{
	int64_t total = stats_int(db,
				  "SELECT count(*) FROM rounds WHERE job = ?1"
				  " AND eval_loss IS NOT NULL",
				  job, 0);
	sqlite3_stmt *st = db_stmt_cached(db, "SELECT round, eval_loss FROM rounds WHERE job = ?1"
					      " AND eval_loss IS NOT NULL ORDER BY round");
	size_t idx = 0, kept, next;

	*n = 0;
	if (total < 0 || !st)
		return ERROR_DB;
	kept = chart_kept((size_t)total);
	next = kept ? chart_pick((size_t)total, 0) : 0;
	sqlite3_bind_int64(st, 1, job);
	while (*n < kept && sqlite3_step(st) == SQLITE_ROW) {
		if (idx++ != next)
			continue;
		rounds[*n] = (double)sqlite3_column_int64(st, 0);
		loss[*n] = sqlite3_column_double(st, 1);
		(*n)++;
		if (*n < kept)
			next = chart_pick((size_t)total, *n);
	}
	sqlite3_reset(st);
	return 0;
}

static int stats_job_series(struct db *db, struct stats_job *j)
{
	return stats_series(db, j->job.id, j->series_round, j->series_loss, &j->n_series);
}

static int stats_job_durations(struct db *db, struct stats_job *j)
{
	sqlite3_stmt *st = db_stmt_cached(db, "SELECT count(*), total(finished - created),"
					      " coalesce(max(finished - created), 0) FROM rounds"
					      " WHERE job = ?1 AND finished IS NOT NULL");

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->durations_n = sqlite3_column_int64(st, 0);
		j->duration_mean_s =
		    j->durations_n ? sqlite3_column_double(st, 1) / (double)j->durations_n : 0;
		j->duration_max_s = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	j->duration_last_s = j->durations_n ? stats_int(db,
							"SELECT finished - created FROM rounds"
							" WHERE job = ?1 AND finished IS NOT NULL"
							" ORDER BY round DESC LIMIT 1",
							j->job.id, 0)
					    : 0;
	return j->duration_last_s < 0 ? ERROR_DB : 0;
}

/* Adds n to the reason's count (reasons are few: a linear scan). */
static void stats_reason_add(struct stats_job *j, const char *reason, int64_t n)
{
	size_t i;

	for (i = 0; i < j->n_reasons; i++)
		if (strcmp(j->reasons[i].key, reason) == 0)
			break;
	if (i == j->n_reasons) {
		if (i == STATS_REASONS_MAX)
			return;
		snprintf(j->reasons[i].key, sizeof(j->reasons[i].key), "%s", reason);
		j->n_reasons++;
	}
	j->reasons[i].n += n;
}

static void stats_job_tally(struct stats_job *j, const char *state, const char *outcome,
			    const char *validation, const char *reason, int64_t n)
{
	if (strcmp(state, "unsent") == 0)
		j->replicas_unsent += n;
	else if (strcmp(state, "in_progress") == 0)
		j->replicas_in_progress += n;
	if (strcmp(outcome, "error") == 0)
		j->outcome_error += n;
	else if (strcmp(outcome, "timeout") == 0)
		j->outcome_timeout += n;
	else if (strcmp(outcome, "abandoned") == 0)
		j->outcome_abandoned += n;
	if (strcmp(outcome, "success") != 0)
		return;
	j->outcome_success += n;
	if (strcmp(validation, "valid") == 0) {
		j->agreed += n;
	} else if (strcmp(validation, "invalid") == 0) {
		if (strcmp(reason, "disagree") == 0)
			j->disagreed += n;
		else
			j->invalid += n;
		stats_reason_add(j, *reason ? reason : "unknown", n);
	} else if (strcmp(validation, "inconclusive") == 0) {
		j->inconclusive += n;
	} else {
		j->pending += n;
	}
}

/* Replicas of the job's units by state, outcome, validation, reason;
 * the newest invalid results. Lock held. */
static int stats_job_replicas(struct db *db, struct stats_job *j)
{
	sqlite3_stmt *st = db_stmt_cached(
	    db, "SELECT p.state, coalesce(p.outcome, ''), p.validation, coalesce(p.reason, ''),"
		" count(*) FROM units u JOIN replicas p ON p.unit = u.id WHERE u.job = ?1"
		" GROUP BY 1, 2, 3, 4");
	char state[16], outcome[16], validation[16], reason[32];

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		stats_text(st, 0, state, sizeof(state));
		stats_text(st, 1, outcome, sizeof(outcome));
		stats_text(st, 2, validation, sizeof(validation));
		stats_text(st, 3, reason, sizeof(reason));
		stats_job_tally(j, state, outcome, validation, reason, sqlite3_column_int64(st, 4));
	}
	sqlite3_reset(st);
	st = db_stmt_cached(db,
			    "SELECT p.id, coalesce(p.host, 0), u.round, u.idx,"
			    " coalesce(p.reason, '') FROM units u JOIN replicas p ON p.unit = u.id"
			    " WHERE u.job = ?1 AND p.validation = 'invalid'"
			    " ORDER BY p.id DESC LIMIT ?2");
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	sqlite3_bind_int64(st, 2, STATS_INVALID_MAX);
	while (j->n_invalid < STATS_INVALID_MAX && sqlite3_step(st) == SQLITE_ROW) {
		struct stats_invalid *v = &j->invalid_list[j->n_invalid++];
		v->replica = sqlite3_column_int64(st, 0);
		v->host = sqlite3_column_int64(st, 1);
		v->round = sqlite3_column_int64(st, 2);
		v->unit = sqlite3_column_int64(st, 3);
		stats_text(st, 4, v->reason, sizeof(v->reason));
	}
	sqlite3_reset(st);
	return 0;
}

static int stats_job_head(struct db *db, struct stats_job *j)
{
	sqlite3_stmt *st = db_stmt_cached(
	    db, "SELECT j.quorum, coalesce(json_extract(j.spec, '$.units_per_round'), 0),"
		" j.created, coalesce(d.name, '') FROM jobs j LEFT JOIN datasets d"
		" ON d.id = j.dataset WHERE j.id = ?1");

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		j->quorum = sqlite3_column_int64(st, 0);
		j->units_per_round = sqlite3_column_int64(st, 1);
		j->created = sqlite3_column_int64(st, 2);
		stats_text(st, 3, j->dataset, sizeof(j->dataset));
	}
	sqlite3_reset(st);
	j->n_rounds = stats_int(db, "SELECT count(*) FROM rounds WHERE job = ?1", j->job.id, 0);
	return j->n_rounds < 0 ? ERROR_DB : 0;
}

/* The newest stored text sample of the job's model versions. */
static int stats_job_sample(struct db *db, struct stats_job *j)
{
	sqlite3_stmt *st =
	    db_stmt_cached(db, "SELECT round, sample FROM rounds WHERE job = ?1"
			       " AND sample IS NOT NULL ORDER BY round DESC LIMIT 1");
	int step;

	j->sample_round = -1;
	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, j->job.id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		j->sample_round = sqlite3_column_int64(st, 0);
		stats_text(st, 1, j->sample, sizeof(j->sample));
	}
	sqlite3_reset(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : ERROR_DB;
}

int stats_job_get(struct db *db, int64_t job, struct stats_job *j)
{
	int rc;

	memset(j, 0, sizeof(*j));
	db_lock(db);
	rc = stats_job_rows(db, job, job, &j->job, 1);
	if (rc == 0)
		rc = ERROR_NOT_FOUND;
	if (rc > 0)
		rc = stats_job_head(db, j);
	if (rc == 0)
		rc = stats_job_rounds(db, j);
	if (rc == 0)
		rc = stats_job_series(db, j);
	if (rc == 0)
		rc = stats_job_durations(db, j);
	if (rc == 0)
		rc = stats_job_replicas(db, j);
	if (rc == 0)
		rc = stats_job_sample(db, j);
	db_unlock(db);
	return rc;
}

/* ---- volunteers ---- */

static int stats_board(struct db *db, const char *sql, int accounts, struct stats_volunteer *out,
		       size_t *n)
{
	sqlite3_stmt *st = db_stmt_cached(db, sql);

	if (!st)
		return ERROR_DB;
	sqlite3_bind_int64(st, 1, STATS_TOP_MAX);
	while (*n < STATS_TOP_MAX && sqlite3_step(st) == SQLITE_ROW) {
		struct stats_volunteer *v = &out[(*n)++];
		memset(v, 0, sizeof(*v));
		v->host = accounts ? 0 : sqlite3_column_int64(st, 0);
		stats_text(st, 1, v->account, sizeof(v->account));
		stats_text(st, 2, v->device, sizeof(v->device));
		v->hosts = sqlite3_column_int64(st, 3);
		v->credit = sqlite3_column_double(st, 4);
		v->last_seen = sqlite3_column_int64(st, 5);
		v->valid = sqlite3_column_int64(st, 6);
		v->invalid = sqlite3_column_int64(st, 7);
	}
	sqlite3_reset(st);
	return 0;
}

int stats_volunteers_get(struct db *db, int64_t now, struct stats_volunteers *v)
{
	int rc;

	memset(v, 0, sizeof(*v));
	v->now = now;
	db_lock(db);
	v->hosts_total = stats_int(db, "SELECT count(*) FROM hosts", 0, 0);
	v->accounts_total = stats_int(db, "SELECT count(DISTINCT account) FROM hosts", 0, 0);
	rc = v->hosts_total < 0 || v->accounts_total < 0 ? ERROR_DB : 0;
	if (rc == 0)
		rc = stats_board(
		    db,
		    "SELECT t.id, t.account, t.device, 1, t.credit, t.last_seen,"
		    " (SELECT count(*) FROM replicas WHERE host = t.id AND validation = 'valid'),"
		    " (SELECT count(*) FROM replicas WHERE host = t.id AND validation = 'invalid')"
		    " FROM (SELECT id, account, device, credit, last_seen FROM hosts"
		    " ORDER BY credit DESC, id LIMIT ?1) t ORDER BY t.credit DESC, t.id",
		    0, v->hosts, &v->n_hosts);
	if (rc == 0)
		rc = stats_board(
		    db,
		    "SELECT 0, t.account, '', t.hosts, t.credit, t.last_seen,"
		    " (SELECT count(*) FROM hosts h JOIN replicas p ON p.host = h.id"
		    "  WHERE h.account = t.account AND p.validation = 'valid'),"
		    " (SELECT count(*) FROM hosts h JOIN replicas p ON p.host = h.id"
		    "  WHERE h.account = t.account AND p.validation = 'invalid')"
		    " FROM (SELECT account, count(*) AS hosts, total(credit) AS credit,"
		    " max(last_seen) AS last_seen FROM hosts GROUP BY account"
		    " ORDER BY credit DESC, account LIMIT ?1) t ORDER BY t.credit DESC, t.account",
		    1, v->accounts, &v->n_accounts);
	db_unlock(db);
	return rc;
}

/* ---- /metrics extras ---- */

int stats_metrics_get(struct db *db, struct stats_metrics *m)
{
	sqlite3_stmt *st;
	char state[16];
	int rc = 0;

	memset(m, 0, sizeof(*m));
	db_lock(db);
	st = db_stmt_cached(db, "SELECT state, count(*) FROM jobs GROUP BY state");
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		int64_t n = sqlite3_column_int64(st, 1);
		stats_text(st, 0, state, sizeof(state));
		if (strcmp(state, "running") == 0)
			m->jobs_running = n;
		else if (strcmp(state, "paused") == 0)
			m->jobs_paused = n;
		else if (strcmp(state, "done") == 0)
			m->jobs_done = n;
		else if (strcmp(state, "cancelled") == 0)
			m->jobs_cancelled = n;
	}
	if (st)
		sqlite3_reset(st);
	st = st ? db_stmt_cached(db, "SELECT count(*), total(finished - created) FROM rounds"
				     " WHERE finished IS NOT NULL")
		: NULL;
	if (st && sqlite3_step(st) == SQLITE_ROW) {
		m->rounds_merged = sqlite3_column_int64(st, 0);
		m->round_seconds_sum = sqlite3_column_double(st, 1);
	}
	if (st)
		sqlite3_reset(st);
	else
		rc = ERROR_DB;
	db_unlock(db);
	return rc;
}

/* ---- JSON ---- */

/* A real, or null for NaN (JSON has no NaN). */
static json_t *stats_real(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* [[round, loss], ...] */
static json_t *stats_pairs_json(const double *rounds, const double *loss, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, json_pack("[I, f]", (json_int_t)rounds[i], loss[i]));
	return arr;
}

static json_t *stats_job_row_json(const struct stats_job_row *r)
{
	return json_pack(
	    "{s:I, s:s, s:s, s:s?, s:s, s:I, s:I, s:o, s:{s:I, s:I, s:I}}", "id", (json_int_t)r->id,
	    "name", r->name, "state", r->state, "reason", *r->reason ? r->reason : NULL, "preset",
	    r->preset, "rounds", (json_int_t)r->rounds, "rounds_done", (json_int_t)r->rounds_done,
	    "eval_loss", stats_real(r->eval_loss), "units", "active", (json_int_t)r->units_active,
	    "validated", (json_int_t)r->units_validated, "failed", (json_int_t)r->units_failed);
}

json_t *stats_overview_json(const struct stats_overview *o)
{
	json_t *jobs = json_array(), *featured = json_null();
	size_t i;

	for (i = 0; jobs && i < o->n_jobs; i++)
		json_array_append_new(jobs, stats_job_row_json(&o->jobs[i]));
	if (o->featured)
		featured =
		    json_pack("{s:I, s:s, s:o}", "id", (json_int_t)o->featured, "name",
			      o->featured_name, "eval_loss_series",
			      stats_pairs_json(o->series_round, o->series_loss, o->n_series));
	return json_pack(
	    "{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I},"
	    " s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I},"
	    " s:{s:I, s:f, s:f}, s:I, s:o, s:o}",
	    "server_time", (json_int_t)o->now, "hosts", (json_int_t)o->hosts_registered,
	    "hosts_active", (json_int_t)o->hosts_active, "accounts", (json_int_t)o->accounts,
	    "blobs", (json_int_t)o->blobs, "replicas", "unsent", (json_int_t)o->replicas_unsent,
	    "in_progress", (json_int_t)o->replicas_in_progress, "over",
	    (json_int_t)o->replicas_over, "units", "active", (json_int_t)o->units_active,
	    "validated", (json_int_t)o->units_validated, "failed", (json_int_t)o->units_failed,
	    "outcomes", "success", (json_int_t)o->outcome_success, "error",
	    (json_int_t)o->outcome_error, "timeout", (json_int_t)o->outcome_timeout, "abandoned",
	    (json_int_t)o->outcome_abandoned, "results", "valid", (json_int_t)o->results_valid,
	    "invalid", (json_int_t)o->results_invalid, "inconclusive",
	    (json_int_t)o->results_inconclusive, "pending", (json_int_t)o->results_pending,
	    "throughput", "units_per_hour", (json_int_t)o->units_last_hour, "flop_per_s",
	    o->flop_per_s, "flops_last_hour", o->flops_last_hour, "jobs_total",
	    (json_int_t)o->jobs_total, "jobs", jobs, "featured_job", featured);
}

static json_t *stats_rounds_json(const struct stats_job *j)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; arr && i < j->n_shown; i++) {
		const struct stats_round *r = &j->rounds[i];
		json_array_append_new(
		    arr,
		    json_pack("{s:I, s:s, s:o, s:I, s:o, s:o, s:s, s:o}", "round",
			      (json_int_t)r->round, "state", r->state, "eval_loss",
			      stats_real(r->eval_loss), "created", (json_int_t)r->created,
			      "finished", r->finished ? json_integer(r->finished) : json_null(),
			      "duration_s",
			      r->finished ? json_integer(r->finished - r->created) : json_null(),
			      "model", r->model, "manifest",
			      *r->manifest ? json_string(r->manifest) : json_null()));
	}
	return arr;
}

static json_t *stats_validation_json(const struct stats_job *j)
{
	json_t *reasons = json_object(), *list = json_array();
	size_t i;

	for (i = 0; reasons && i < j->n_reasons; i++)
		json_object_set_new(reasons, j->reasons[i].key, json_integer(j->reasons[i].n));
	for (i = 0; list && i < j->n_invalid; i++) {
		const struct stats_invalid *v = &j->invalid_list[i];
		json_array_append_new(
		    list, json_pack("{s:I, s:I, s:I, s:I, s:s}", "replica", (json_int_t)v->replica,
				    "host", (json_int_t)v->host, "round", (json_int_t)v->round,
				    "unit", (json_int_t)v->unit, "reason", v->reason));
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "agreed", (json_int_t)j->agreed,
			 "disagreed", (json_int_t)j->disagreed, "invalid", (json_int_t)j->invalid,
			 "inconclusive", (json_int_t)j->inconclusive, "pending",
			 (json_int_t)j->pending, "reasons", reasons, "invalid_results", list);
}

json_t *stats_job_json(const struct stats_job *j)
{
	json_t *o = stats_job_row_json(&j->job);

	if (!o)
		return NULL;
	json_object_set_new(o, "dataset", json_string(j->dataset));
	json_object_set_new(o, "quorum", json_integer(j->quorum));
	json_object_set_new(o, "units_per_round", json_integer(j->units_per_round));
	json_object_set_new(o, "created", json_integer(j->created));
	json_object_set_new(o, "model_versions", json_integer(j->n_rounds));
	json_object_set_new(o, "round_list", stats_rounds_json(j));
	json_object_set_new(o, "eval_loss_series",
			    stats_pairs_json(j->series_round, j->series_loss, j->n_series));
	json_object_set_new(o, "round_durations",
			    json_pack("{s:I, s:f, s:I, s:I}", "merged", (json_int_t)j->durations_n,
				      "mean_s", j->duration_mean_s, "last_s",
				      (json_int_t)j->duration_last_s, "max_s",
				      (json_int_t)j->duration_max_s));
	json_object_set_new(
	    o, "replicas",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "unsent", (json_int_t)j->replicas_unsent,
		      "in_progress", (json_int_t)j->replicas_in_progress, "success",
		      (json_int_t)j->outcome_success, "error", (json_int_t)j->outcome_error,
		      "timeout", (json_int_t)j->outcome_timeout, "abandoned",
		      (json_int_t)j->outcome_abandoned));
	json_object_set_new(o, "validation", stats_validation_json(j));
	json_object_set_new(o, "sample",
			    j->sample_round < 0
				? json_null()
				: json_pack("{s:I, s:s}", "model_version",
					    (json_int_t)j->sample_round, "text", j->sample));
	return o;
}

static json_t *stats_board_json(const struct stats_volunteer *b, size_t n, int accounts)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; arr && i < n; i++) {
		o = json_pack("{s:s, s:f, s:I, s:I, s:I}", "account", b[i].account, "credit",
			      stats_gflop(b[i].credit), "valid", (json_int_t)b[i].valid, "invalid",
			      (json_int_t)b[i].invalid, "last_seen", (json_int_t)b[i].last_seen);
		if (o && accounts) {
			json_object_set_new(o, "hosts", json_integer(b[i].hosts));
		} else if (o) {
			json_object_set_new(o, "host", json_integer(b[i].host));
			json_object_set_new(o, "device", json_string(b[i].device));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *stats_volunteers_json(const struct stats_volunteers *v)
{
	return json_pack("{s:I, s:I, s:I, s:o, s:o}", "server_time", (json_int_t)v->now,
			 "hosts_total", (json_int_t)v->hosts_total, "accounts_total",
			 (json_int_t)v->accounts_total, "hosts",
			 stats_board_json(v->hosts, v->n_hosts, 0), "accounts",
			 stats_board_json(v->accounts, v->n_accounts, 1));
}

/* Routes counted in "endpoints" (the server has about 30). */
#define STATS_ROUTES_MAX 64

json_t *stats_api_json(struct db *db, struct http_server *http, int64_t now)
{
	struct http_route_stats st[STATS_ROUTES_MAX];
	struct stats_overview *o = malloc(sizeof(*o));
	size_t i, n = http ? http_server_stats(http, st, STATS_ROUTES_MAX) : 0;
	json_t *out = NULL, *eps = json_array();

	if (o && eps && stats_overview_get(db, now, o) == 0)
		out = stats_overview_json(o);
	free(o);
	for (i = 0; out && i < n; i++)
		json_array_append_new(
		    eps, json_pack("{s:s, s:I, s:I, s:I, s:f}", "name", st[i].name, "requests",
				   (json_int_t)st[i].requests, "client_errors",
				   (json_int_t)st[i].client_errors, "server_errors",
				   (json_int_t)st[i].server_errors, "mean_ms",
				   st[i].requests
				       ? (double)st[i].latency_ns / 1e6 / (double)st[i].requests
				       : 0.0));
	if (out)
		json_object_set_new(out, "endpoints", eps);
	else
		json_decref(eps);
	return out;
}
