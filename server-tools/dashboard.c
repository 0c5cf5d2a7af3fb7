/*
 * dashboard.c - the dashboard's pages and JSON routes (see dashboard.h).
 *
 * Each page is one pass: the stats layer fills a struct under the
 * database lock, then the page is written into a capped buffer (html.h)
 * without any lock and sent with HTML_CSP. Rendered pages are kept for
 * DASH_CACHE_MS, so many viewers cost one render per page and period. Every user-controlled string
 * (account names, host devices, job and dataset names, the project name)
 * goes through html_text(); everything else written raw is a literal or
 * a number. Each headline figure carries its exact value in a data-value
 * attribute (id = the figure's name), which the tests compare with the
 * JSON.
 */
#include "config.h"

#include "server-tools/dashboard.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "server-tools/api.h"
#include "server-tools/chart.h"
#include "server-tools/html.h"
#include "server-tools/metrics.h"
#include "server-tools/server.h"
#include "server-tools/stats.h"

/* ---- small pieces ---- */

/* A headline figure: <div class="fig" id=ID data-value=V><b>V</b>label. */
static void dash_fig(struct html *h, const char *id, int64_t v, const char *label)
{
	html_printf(h, "<div class=\"fig\" id=\"%s\" data-value=\"%lld\"><b>", id, (long long)v);
	html_int(h, v);
	html_printf(h, "</b><span>%s</span></div>", label);
}

/* A headline figure with a real value shown with an SI prefix. */
static void dash_fig_si(struct html *h, const char *id, double v, const char *unit,
			const char *label)
{
	html_printf(h, "<div class=\"fig\" id=\"%s\" data-value=\"%.6g\"><b>", id, v);
	html_si(h, v);
	html_printf(h, "%s</b><span>%s</span></div>", unit, label);
}

static void dash_loss(struct html *h, double v)
{
	if (isfinite(v))
		html_printf(h, "%.4f", v);
	else
		html_lit(h, "-");
}

/* A state badge; reason (NULL or "": none) goes into its tooltip. */
static void dash_state(struct html *h, const char *state, const char *reason)
{
	html_lit(h, "<span class=\"st st-");
	html_text(h, state);
	if (reason && *reason) {
		html_lit(h, "\" title=\"");
		html_text(h, reason);
	}
	html_lit(h, "\">");
	html_text(h, state);
	html_lit(h, "</span>");
}

/* A hash linked to its blob: the first 16 digits shown, all in title. */
static void dash_hash(struct html *h, const char *hex)
{
	if (!*hex) {
		html_lit(h, "-");
		return;
	}
	html_lit(h, "<a href=\"/api/v1/blobs/");
	html_text(h, hex);
	html_lit(h, "\" title=\"");
	html_text(h, hex);
	html_lit(h, "\"><code>");
	html_raw(h, hex, strnlen(hex, 16));
	html_lit(h, "\xe2\x80\xa6</code></a>");
}

static void dash_td_int(struct html *h, int64_t v)
{
	html_lit(h, "<td class=\"n\">");
	html_int(h, v);
	html_lit(h, "</td>");
}

/* ---- overview ---- */

static void dash_jobs_table(struct html *h, const struct stats_overview *o)
{
	size_t i;

	html_lit(h, "<section><h2>Jobs</h2>");
	if (!o->n_jobs) {
		html_lit(h, "<p class=\"muted\">No job yet.</p></section>");
		return;
	}
	html_lit(h, "<div class=\"scroll\"><table id=\"jobs\"><tr><th>job</th><th>state</th>"
		    "<th>preset</th><th class=\"n\">rounds</th><th class=\"n\">eval loss</th>"
		    "<th class=\"n\">units active</th><th class=\"n\">validated</th>"
		    "<th class=\"n\">failed</th></tr>");
	for (i = 0; i < o->n_jobs; i++) {
		const struct stats_job_row *j = &o->jobs[i];
		html_printf(h, "<tr id=\"job-%lld\"><td class=\"wrap\"><a href=\"/jobs/%lld\">",
			    (long long)j->id, (long long)j->id);
		html_text(h, j->name);
		html_lit(h, "</a></td><td>");
		dash_state(h, j->state, j->reason);
		html_lit(h, "</td><td>");
		html_text(h, j->preset);
		html_printf(h, "</td><td class=\"n\">%lld / %lld</td><td class=\"n\">",
			    (long long)j->rounds_done, (long long)j->rounds);
		dash_loss(h, j->eval_loss);
		html_lit(h, "</td>");
		dash_td_int(h, j->units_active);
		dash_td_int(h, j->units_validated);
		dash_td_int(h, j->units_failed);
		html_lit(h, "</tr>");
	}
	html_lit(h, "</table></div>");
	if (o->jobs_total > (int64_t)o->n_jobs)
		html_printf(h, "<p class=\"muted\">The first %zu of %lld jobs.</p>", o->n_jobs,
			    (long long)o->jobs_total);
	html_lit(h, "</section>");
}

static void dash_overview_chart(struct html *h, const struct stats_overview *o)
{
	struct chart c = {.title = "eval loss per round",
			  .x_label = "round (model version)",
			  .y_label = "eval loss",
			  .x = o->series_round,
			  .y = o->series_loss,
			  .n = o->n_series};

	if (!o->featured)
		return;
	html_printf(h,
		    "<section id=\"featured\" data-value=\"%lld\"><h2>Eval loss of "
		    "<a href=\"/jobs/%lld\">",
		    (long long)o->featured, (long long)o->featured);
	html_text(h, o->featured_name);
	html_lit(h, "</a></h2>");
	chart_line_svg(h, &c);
	html_lit(h, "</section>");
}

static void dash_overview(struct html *h, const char *project, const struct stats_overview *o)
{
	html_page_begin(h, project, "Overview", 1);
	html_lit(h, "<div class=\"grid\">");
	dash_fig(h, "hosts-active", o->hosts_active, "hosts active (last hour)");
	dash_fig(h, "hosts-registered", o->hosts_registered, "hosts registered");
	dash_fig(h, "accounts", o->accounts, "accounts");
	dash_fig(h, "in-flight", o->replicas_in_progress, "units in flight (replicas computing)");
	dash_fig(h, "units-validated", o->units_validated, "units validated");
	dash_fig(h, "results-rejected", o->results_invalid, "results rejected");
	dash_fig(h, "units-per-hour", o->units_last_hour, "units/hour (validated, last hour)");
	dash_fig_si(h, "flop-per-s", o->flop_per_s, "FLOP/s", "validated work, last hour");
	html_lit(h, "</div><div class=\"cols\">");
	dash_overview_chart(h, o);
	dash_jobs_table(h, o);
	html_lit(h, "<section><h2>Work</h2><div class=\"scroll\"><table id=\"work\">"
		    "<tr><th>units</th><th class=\"n\">count</th><th>results</th>"
		    "<th class=\"n\">count</th></tr><tr><td>active</td>");
	dash_td_int(h, o->units_active);
	html_lit(h, "<td>valid</td>");
	dash_td_int(h, o->results_valid);
	html_lit(h, "</tr><tr><td>validated</td>");
	dash_td_int(h, o->units_validated);
	html_lit(h, "<td>invalid</td>");
	dash_td_int(h, o->results_invalid);
	html_lit(h, "</tr><tr><td>failed</td>");
	dash_td_int(h, o->units_failed);
	html_lit(h, "<td>awaiting agreement</td>");
	dash_td_int(h, o->results_inconclusive + o->results_pending);
	html_lit(h, "</tr><tr><td>replicas waiting</td>");
	dash_td_int(h, o->replicas_unsent);
	html_lit(h, "<td>timed out / given up</td>");
	dash_td_int(h, o->outcome_timeout + o->outcome_error + o->outcome_abandoned);
	html_lit(h, "</tr></table></div></section></div>");
	html_page_end(h, o->now);
}

/* ---- job ---- */

static void dash_job_figs(struct html *h, const struct stats_job *j)
{
	html_lit(h, "<div class=\"grid\">");
	html_printf(h, "<div class=\"fig\" id=\"job-state\" data-value=\"%s\"><b>", j->job.state);
	dash_state(h, j->job.state, j->job.reason);
	html_lit(h, "</b><span>state</span></div>");
	dash_fig(h, "rounds-done", j->job.rounds_done, "rounds merged");
	dash_fig(h, "rounds", j->job.rounds, "rounds planned");
	html_printf(h, "<div class=\"fig\" id=\"eval-loss\" data-value=\"%.4f\"><b>",
		    isfinite(j->job.eval_loss) ? j->job.eval_loss : 0.0);
	dash_loss(h, j->job.eval_loss);
	html_lit(h, "</b><span>eval loss (newest model)</span></div>");
	dash_fig(h, "units-active", j->job.units_active, "units active");
	dash_fig(h, "units-validated", j->job.units_validated, "units validated");
	dash_fig(h, "units-failed", j->job.units_failed, "units failed");
	dash_fig(h, "in-flight", j->replicas_in_progress, "replicas computing");
	html_printf(h, "<div class=\"fig\" id=\"round-mean\" data-value=\"%.1f\"><b>",
		    j->duration_mean_s);
	html_duration(h, (int64_t)(j->duration_mean_s + 0.5));
	html_lit(h, "</b><span>mean round duration</span></div>");
	html_printf(h, "<div class=\"fig\" id=\"round-last\" data-value=\"%lld\"><b>",
		    (long long)j->duration_last_s);
	html_duration(h, j->duration_last_s);
	html_lit(h, "</b><span>last round duration</span></div></div>");
}

static void dash_job_chart(struct html *h, const struct stats_job *j)
{
	struct chart c = {.title = "eval loss per round",
			  .x_label = "round (model version)",
			  .y_label = "eval loss",
			  .x = j->series_round,
			  .y = j->series_loss,
			  .n = j->n_series};

	html_lit(h, "<section><h2>Eval loss</h2>");
	chart_line_svg(h, &c);
	if (j->n_series < (size_t)j->n_rounds)
		html_printf(h, "<p class=\"muted\">%zu of %lld model versions drawn.</p>",
			    j->n_series, (long long)j->n_rounds);
	html_lit(h, "</section>");
}

static void dash_row2(struct html *h, const char *id, const char *label, int64_t v)
{
	html_printf(h, "<tr id=\"%s\" data-value=\"%lld\"><td>%s</td>", id, (long long)v, label);
	dash_td_int(h, v);
	html_lit(h, "</tr>");
}

static void dash_job_validation(struct html *h, const struct stats_job *j)
{
	size_t i;

	html_lit(h, "<section><h2>Validation</h2><div class=\"scroll\"><table id=\"validation\">"
		    "<tr><th>results</th><th class=\"n\">count</th></tr>");
	dash_row2(h, "v-agreed", "agreed (valid)", j->agreed);
	dash_row2(h, "v-disagreed", "disagreed with the majority", j->disagreed);
	dash_row2(h, "v-invalid", "invalid on their own", j->invalid);
	dash_row2(h, "v-inconclusive", "awaiting agreement", j->inconclusive + j->pending);
	html_lit(h, "</table></div>");
	if (j->n_reasons) {
		html_lit(h, "<h2>Why results were rejected</h2><div class=\"scroll\">"
			    "<table id=\"reasons\"><tr><th>reason</th><th class=\"n\">results</th>"
			    "</tr>");
		for (i = 0; i < j->n_reasons; i++) {
			html_lit(h, "<tr><td>");
			html_text(h, j->reasons[i].key);
			html_lit(h, "</td>");
			dash_td_int(h, j->reasons[i].n);
			html_lit(h, "</tr>");
		}
		html_lit(h, "</table></div><h2>Newest rejected results</h2><div class=\"scroll\">"
			    "<table><tr><th>replica</th><th>host</th><th>round</th><th>unit</th>"
			    "<th>reason</th></tr>");
		for (i = 0; i < j->n_invalid; i++) {
			const struct stats_invalid *v = &j->invalid_list[i];
			html_printf(h,
				    "<tr><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
				    (long long)v->replica, (long long)v->host, (long long)v->round,
				    (long long)v->unit);
			html_text(h, v->reason);
			html_lit(h, "</td></tr>");
		}
		html_lit(h, "</table></div>");
	}
	html_lit(h, "</section>");
}

static void dash_job_units(struct html *h, const struct stats_job *j)
{
	html_lit(h, "<section><h2>Units and replicas</h2><div class=\"scroll\">"
		    "<table id=\"units\"><tr><th>state</th><th class=\"n\">count</th></tr>");
	dash_row2(h, "u-active", "units active", j->job.units_active);
	dash_row2(h, "u-validated", "units validated", j->job.units_validated);
	dash_row2(h, "u-failed", "units failed", j->job.units_failed);
	dash_row2(h, "r-unsent", "replicas waiting", j->replicas_unsent);
	dash_row2(h, "r-in-progress", "replicas computing", j->replicas_in_progress);
	dash_row2(h, "r-success", "replicas returned", j->outcome_success);
	dash_row2(h, "r-error", "replicas given up (error)", j->outcome_error);
	dash_row2(h, "r-timeout", "replicas timed out", j->outcome_timeout);
	html_lit(h, "</table></div></section>");
}

static void dash_job_rounds(struct html *h, const struct stats_job *j)
{
	size_t i;

	html_lit(h, "<section><h2>Rounds and lineage</h2><div class=\"scroll\">"
		    "<table id=\"rounds\"><tr><th class=\"n\">version</th><th>state</th>"
		    "<th class=\"n\">eval loss</th><th>started (UTC)</th><th>duration</th>"
		    "<th>model</th><th>manifest</th></tr>");
	for (i = j->n_shown; i-- > 0;) { /* newest first */
		const struct stats_round *r = &j->rounds[i];
		html_printf(h, "<tr id=\"round-%lld\"><td class=\"n\">%lld</td><td>",
			    (long long)r->round, (long long)r->round);
		dash_state(h, r->state, NULL);
		html_lit(h, "</td><td class=\"n\">");
		dash_loss(h, r->eval_loss);
		html_lit(h, "</td><td>");
		html_time(h, r->created);
		html_lit(h, "</td><td>");
		if (r->finished)
			html_duration(h, r->finished - r->created);
		else
			html_lit(h, "-");
		html_lit(h, "</td><td>");
		dash_hash(h, r->model);
		html_lit(h, "</td><td>");
		dash_hash(h, r->manifest);
		html_lit(h, "</td></tr>");
	}
	html_lit(h, "</table></div>");
	if (j->n_rounds > (int64_t)j->n_shown)
		html_printf(h, "<p class=\"muted\">The newest %zu of %lld model versions.</p>",
			    j->n_shown, (long long)j->n_rounds);
	html_lit(h, "<p class=\"muted\">Each manifest is signed by the coordinator and names "
		    "its parent, the merged results and the eval loss; "
		    "<code>agora-admin audit</code> re-derives the chain.</p></section>");
}

static void dash_job(struct html *h, const char *project, const struct stats_job *j, int64_t now)
{
	html_page_begin(h, project, j->job.name, 1);
	html_lit(h, "<section><h2>Job ");
	html_text(h, j->job.name);
	html_printf(h, " <span class=\"muted\">#%lld</span></h2><p>", (long long)j->job.id);
	html_text(h, j->job.preset);
	html_lit(h, " on dataset <b>");
	html_text(h, j->dataset);
	html_printf(h,
		    "</b>; %lld units per round, quorum %lld. <a href=\"/api/v1/jobs/%lld\">"
		    "JSON</a></p>",
		    (long long)j->units_per_round, (long long)j->quorum, (long long)j->job.id);
	if (*j->job.reason) {
		html_lit(h, "<p id=\"job-reason\"><b>");
		html_text(h, j->job.state);
		html_lit(h, "</b>: ");
		html_text(h, j->job.reason);
		html_lit(h, "</p>");
	}
	html_lit(h, "</section>");
	dash_job_figs(h, j);
	html_lit(h, "<div class=\"cols\">");
	dash_job_chart(h, j);
	dash_job_validation(h, j);
	dash_job_units(h, j);
	html_lit(h, "<section><h2>Text sample from the newest model</h2>");
	if (j->sample_round < 0) {
		html_lit(h, "<p class=\"muted\" id=\"sample\">None yet: no model version has "
			    "been merged.</p>");
	} else {
		html_printf(h,
			    "<p class=\"muted\">model version %lld writes:</p><pre id=\"sample\">",
			    (long long)j->sample_round);
		html_text(h, j->sample);
		html_lit(h, "</pre>");
	}
	html_lit(h, "</section></div>");
	dash_job_rounds(h, j);
	html_page_end(h, now);
}

/* ---- volunteers ---- */

static void dash_board(struct html *h, const char *id, const struct stats_volunteer *b, size_t n,
		       int accounts)
{
	size_t i;

	html_printf(h, "<div class=\"scroll\"><table id=\"%s\"><tr><th class=\"n\">#</th>", id);
	html_lit(h, accounts ? "<th>account</th><th class=\"n\">hosts</th>"
			     : "<th class=\"n\">host</th><th>account</th><th>device</th>");
	html_lit(h, "<th class=\"n\">credit (GFLOP)</th><th class=\"n\">valid</th>"
		    "<th class=\"n\">invalid</th><th>last seen (UTC)</th></tr>");
	for (i = 0; i < n; i++) {
		html_printf(h, "<tr><td class=\"n\">%zu</td>", i + 1);
		if (!accounts)
			html_printf(h, "<td class=\"n\">%lld</td>", (long long)b[i].host);
		html_lit(h, "<td class=\"wrap\">");
		html_text(h, b[i].account);
		html_lit(h, "</td>");
		if (accounts) {
			dash_td_int(h, b[i].hosts);
		} else {
			html_lit(h, "<td class=\"wrap\">");
			html_text(h, b[i].device);
			html_lit(h, "</td>");
		}
		html_printf(h, "<td class=\"n\">%.3f</td>", stats_gflop(b[i].credit));
		dash_td_int(h, b[i].valid);
		dash_td_int(h, b[i].invalid);
		html_lit(h, "<td>");
		html_time(h, b[i].last_seen);
		html_lit(h, "</td></tr>");
	}
	html_lit(h, "</table></div>");
}

static void dash_volunteers(struct html *h, const char *project, const struct stats_volunteers *v)
{
	html_page_begin(h, project, "Volunteers", 1);
	html_lit(h, "<div class=\"grid\">");
	dash_fig(h, "accounts-total", v->accounts_total, "accounts");
	dash_fig(h, "hosts-total", v->hosts_total, "hosts");
	html_lit(h, "</div><div class=\"cols\"><section><h2>Accounts by credit</h2>");
	dash_board(h, "board-accounts", v->accounts, v->n_accounts, 1);
	if (v->accounts_total > (int64_t)v->n_accounts)
		html_printf(h, "<p class=\"muted\">Top %zu of %lld.</p>", v->n_accounts,
			    (long long)v->accounts_total);
	html_lit(h, "</section><section><h2>Hosts by credit</h2>");
	dash_board(h, "board-hosts", v->hosts, v->n_hosts, 0);
	if (v->hosts_total > (int64_t)v->n_hosts)
		html_printf(h, "<p class=\"muted\">Top %zu of %lld.</p>", v->n_hosts,
			    (long long)v->hosts_total);
	html_lit(h, "</section></div><p class=\"muted\">Credit is the FLOPs of validated "
		    "results (GFLOP); each is also an entry in the signed credit ledger.</p>");
	html_page_end(h, v->now);
}

/* ---- rendering and routes ---- */

int64_t dashboard_parse_id(const char *s)
{
	long long v;
	char *end;

	if (!s || *s < '1' || *s > '9' || strlen(s) > 19)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 1 || v > (1LL << 62))
		return -1;
	return (int64_t)v;
}

static void dash_not_found(struct html *h, const char *project, int64_t now)
{
	html_page_begin(h, project, "Not found", 0);
	html_lit(h, "<section><h2>Not found</h2><p>No such page or job. "
		    "<a href=\"/\">Overview</a></p></section>");
	html_page_end(h, now);
}

static unsigned dash_render_job(struct db *db, const char *project, const char *id, int64_t now,
				struct html *h)
{
	struct stats_job *j = malloc(sizeof(*j));
	int64_t job = dashboard_parse_id(id);
	int rc = j ? 0 : ERROR_NOMEM;

	if (rc == 0)
		rc = job < 0 ? ERROR_NOT_FOUND : stats_job_get(db, job, j);
	if (rc == 0)
		dash_job(h, project, j, now);
	else if (rc == ERROR_NOT_FOUND)
		dash_not_found(h, project, now);
	free(j);
	return rc == 0 ? 200 : rc == ERROR_NOT_FOUND ? 404 : 500;
}

unsigned dashboard_render(struct db *db, const char *path, int64_t now, struct html *h)
{
	char project[DB_NAME_MAX + 1];
	unsigned status = 500;
	int rc = 0;

	stats_project_name(db, project, sizeof(project));
	if (strcmp(path, "/") == 0) {
		struct stats_overview *o = malloc(sizeof(*o));
		if (o && (rc = stats_overview_get(db, now, o)) == 0) {
			dash_overview(h, project, o);
			status = 200;
		}
		free(o);
	} else if (strcmp(path, "/volunteers") == 0) {
		struct stats_volunteers *v = malloc(sizeof(*v));
		if (v && (rc = stats_volunteers_get(db, now, v)) == 0) {
			dash_volunteers(h, project, v);
			status = 200;
		}
		free(v);
	} else if (strncmp(path, "/jobs/", 6) == 0) {
		status = dash_render_job(db, project, path + 6, now, h);
	} else {
		dash_not_found(h, project, now);
		status = 404;
	}
	if (rc < 0)
		log_error("cannot read the dashboard's figures for '%s'", path);
	return html_failed(h) ? 500 : status;
}

static struct db *dash_db(void *ctx)
{
	return server_db(api_server(ctx));
}

/* Sends body (taken over; NULL or status 500: a JSON 500) with the
 * page headers. */
static void dash_send(struct http_request *req, unsigned status, char *body, size_t len,
		      const char *type)
{
	if (!body || status == 500) {
		free(body);
		http_respond_error(req, 500, "internal", "cannot render the page");
		return;
	}
	http_request_add_header(req, "Content-Security-Policy", HTML_CSP);
	http_request_add_header(req, "X-Content-Type-Options", "nosniff");
	http_request_add_header(req, "Referrer-Policy", "no-referrer");
	http_request_add_header(req, "Cache-Control", "no-cache");
	http_respond_buffer(req, status, body, len, type);
}

/* A short-lived cache of rendered pages: however many people keep a page
 * open (each refreshes it every HTML_REFRESH_S seconds), it is rendered,
 * and the database lock taken for it, at most once per DASH_CACHE_MS per
 * path. Bounded: DASH_CACHE_SLOTS pages, the oldest replaced. */
#define DASH_CACHE_SLOTS 8
#define DASH_CACHE_MS    2000
#define DASH_PATH_MAX    48

struct dash_cached {
	const struct db *db;
	char path[DASH_PATH_MAX];
	unsigned status;
	char *body; /* NUL-terminated, len bytes before the NUL */
	size_t len;
	int64_t at_ms;
};

static struct dash_cached dash_cache[DASH_CACHE_SLOTS];
static pthread_mutex_t dash_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t dash_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A malloc'd copy of a fresh cached page for (db, path), or NULL. */
static char *dash_cache_get(const struct db *db, const char *path, unsigned *status, size_t *len)
{
	int64_t now = dash_ms();
	char *out = NULL;
	size_t i;

	pthread_mutex_lock(&dash_cache_lock);
	for (i = 0; i < DASH_CACHE_SLOTS; i++) {
		struct dash_cached *c = &dash_cache[i];
		if (!c->body || c->db != db || strcmp(c->path, path) != 0 ||
		    now - c->at_ms >= DASH_CACHE_MS)
			continue;
		out = malloc(c->len + 1);
		if (out) {
			memcpy(out, c->body, c->len + 1);
			*len = c->len;
			*status = c->status;
		}
		break;
	}
	pthread_mutex_unlock(&dash_cache_lock);
	return out;
}

/* Keeps a copy of a rendered page (its slot, or the oldest one). */
static void dash_cache_put(const struct db *db, const char *path, unsigned status, const char *body,
			   size_t len)
{
	struct dash_cached *slot = &dash_cache[0];
	char *copy;
	size_t i;

	if (strlen(path) >= DASH_PATH_MAX || status == 500 || !(copy = malloc(len + 1)))
		return;
	memcpy(copy, body, len);
	copy[len] = '\0';
	pthread_mutex_lock(&dash_cache_lock);
	for (i = 0; i < DASH_CACHE_SLOTS; i++) {
		struct dash_cached *c = &dash_cache[i];
		if (c->body && c->db == db && strcmp(c->path, path) == 0) {
			slot = c;
			break;
		}
		if (!c->body || c->at_ms < slot->at_ms)
			slot = c;
		if (!c->body)
			break;
	}
	free(slot->body);
	slot->db = db;
	snprintf(slot->path, sizeof(slot->path), "%s", path);
	slot->status = status;
	slot->body = copy;
	slot->len = len;
	slot->at_ms = dash_ms();
	pthread_mutex_unlock(&dash_cache_lock);
}

static void dash_page(struct http_request *req, void *ctx)
{
	const char *path = http_request_path(req);
	struct db *db = dash_db(ctx);
	unsigned status = 500;
	struct html h;
	size_t len = 0;
	char *body = dash_cache_get(db, path, &status, &len);

	if (!body) {
		html_init(&h, 0);
		status = dashboard_render(db, path, (int64_t)time(NULL), &h);
		body = html_take(&h, &len);
		html_release(&h);
		if (body)
			dash_cache_put(db, path, status, body, len);
	}
	dash_send(req, status, body, len, "text/html; charset=utf-8");
}

void dashboard_page_overview(struct http_request *req, void *ctx)
{
	dash_page(req, ctx);
}

void dashboard_page_job(struct http_request *req, void *ctx)
{
	dash_page(req, ctx);
}

void dashboard_page_volunteers(struct http_request *req, void *ctx)
{
	dash_page(req, ctx);
}

void dashboard_api_job(struct http_request *req, void *ctx)
{
	struct stats_job *j = malloc(sizeof(*j));
	int64_t id = dashboard_parse_id(http_request_suffix(req));
	int rc = !j ? ERROR_NOMEM : id < 0 ? ERROR_NOT_FOUND : stats_job_get(dash_db(ctx), id, j);
	json_t *o = rc == 0 ? stats_job_json(j) : NULL;

	free(j);
	if (rc == ERROR_NOT_FOUND)
		http_respond_error(req, 404, "not_found", "no such job");
	else if (!o)
		http_respond_error(req, 500, "internal", "cannot read the job");
	else
		http_respond_json(req, 200, o);
}

void dashboard_api_volunteers(struct http_request *req, void *ctx)
{
	struct stats_volunteers *v = malloc(sizeof(*v));
	json_t *o = NULL;

	if (v && stats_volunteers_get(dash_db(ctx), (int64_t)time(NULL), v) == 0)
		o = stats_volunteers_json(v);
	free(v);
	if (!o)
		http_respond_error(req, 500, "internal", "cannot read the volunteers");
	else
		http_respond_json(req, 200, o);
}

void dashboard_metrics(struct http_request *req, void *ctx)
{
	struct html h;
	int rc;

	char *body;
	size_t len;

	html_init(&h, 0);
	rc = metrics_collect(&h, dash_db(ctx), api_http(ctx), (int64_t)time(NULL));
	body = html_take(&h, &len);
	html_release(&h);
	dash_send(req, rc == 0 ? 200 : 500, body, len, METRICS_CONTENT_TYPE);
}
