/*
 * metrics.c - the Prometheus exposition of /metrics (see metrics.h).
 *
 * Families (all prefixed agora_): per-endpoint requests, errors and a
 * latency summary (sum and count; http.c keeps no quantiles), gauges of
 * hosts, units, replicas, results and jobs read through the stats layer,
 * a counter of merged rounds with a summary of their wall time from
 * creation to merge, the newest eval loss per job, and the merge-duration
 * histogram fed by metrics_merge_observe().
 */
#include "config.h"

#include "server-tools/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "server-tools/html.h"

#define METRICS_ROUTES_MAX 64

static const double metrics_bounds[METRICS_MERGE_BUCKETS] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
static _Atomic uint64_t metrics_merge_counts[METRICS_MERGE_BUCKETS + 1];
static _Atomic uint64_t metrics_merge_ns;

const double *metrics_merge_bounds(void)
{
	return metrics_bounds;
}

void metrics_merge_observe(double seconds)
{
	size_t i = 0;

	if (!(seconds >= 0) || !isfinite(seconds))
		seconds = 0;
	while (i < METRICS_MERGE_BUCKETS && seconds > metrics_bounds[i])
		i++;
	atomic_fetch_add_explicit(&metrics_merge_counts[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&metrics_merge_ns,
				  seconds < 1e9 ? (uint64_t)(seconds * 1e9) : UINT64_C(1) << 62,
				  memory_order_relaxed);
}

void metrics_merge_read(struct metrics_input *in)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i <= METRICS_MERGE_BUCKETS; i++) {
		cum += atomic_load_explicit(&metrics_merge_counts[i], memory_order_relaxed);
		if (i < METRICS_MERGE_BUCKETS)
			in->merge_buckets[i] = cum;
	}
	in->merge_count = cum;
	in->merge_sum = (double)atomic_load_explicit(&metrics_merge_ns, memory_order_relaxed) / 1e9;
}

void metrics_label_value(struct html *h, const char *v)
{
	const char *run = v;

	for (; *v; v++) {
		const char *e = *v == '\\'   ? "\\\\"
				: *v == '"'  ? "\\\""
				: *v == '\n' ? "\\n"
					     : NULL;
		if (!e)
			continue;
		html_raw(h, run, (size_t)(v - run));
		html_lit(h, e);
		run = v + 1;
	}
	html_raw(h, run, (size_t)(v - run));
}

static void metrics_family(struct html *h, const char *name, const char *type, const char *help)
{
	html_printf(h, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{label="value"} v (label NULL: no braces). */
static void metrics_sample(struct html *h, const char *name, const char *label, const char *value,
			   double v)
{
	html_lit(h, name);
	if (label) {
		html_printf(h, "{%s=\"", label);
		metrics_label_value(h, value);
		html_lit(h, "\"}");
	}
	if (isnan(v))
		html_lit(h, " NaN\n");
	else if (isinf(v))
		html_lit(h, v > 0 ? " +Inf\n" : " -Inf\n");
	else if (v > -9e15 && v < 9e15 && v == (double)(int64_t)v)
		html_printf(h, " %.0f\n", v);
	else
		html_printf(h, " %.9g\n", v);
}

static void metrics_http(struct html *h, const struct metrics_input *in)
{
	size_t i;

	metrics_family(h, "agora_http_requests_total", "counter",
		       "HTTP requests answered since the server started, by endpoint.");
	for (i = 0; i < in->n_routes; i++)
		metrics_sample(h, "agora_http_requests_total", "endpoint", in->routes[i].name,
			       (double)in->routes[i].requests);
	metrics_family(h, "agora_http_client_errors_total", "counter",
		       "HTTP answers with a 4xx status, by endpoint.");
	for (i = 0; i < in->n_routes; i++)
		metrics_sample(h, "agora_http_client_errors_total", "endpoint", in->routes[i].name,
			       (double)in->routes[i].client_errors);
	metrics_family(h, "agora_http_server_errors_total", "counter",
		       "HTTP answers with a 5xx status (or none), by endpoint.");
	for (i = 0; i < in->n_routes; i++)
		metrics_sample(h, "agora_http_server_errors_total", "endpoint", in->routes[i].name,
			       (double)in->routes[i].server_errors);
	metrics_family(h, "agora_http_request_duration_seconds", "summary",
		       "Time from the request's headers to its end, by endpoint.");
	for (i = 0; i < in->n_routes; i++) {
		metrics_sample(h, "agora_http_request_duration_seconds_sum", "endpoint",
			       in->routes[i].name, (double)in->routes[i].latency_ns / 1e9);
		metrics_sample(h, "agora_http_request_duration_seconds_count", "endpoint",
			       in->routes[i].name, (double)in->routes[i].requests);
	}
}

/* One gauge family with a label over (value, count) pairs. */
static void metrics_gauges(struct html *h, const char *name, const char *help, const char *label,
			   const char *const *keys, const int64_t *values, size_t n)
{
	size_t i;

	metrics_family(h, name, "gauge", help);
	for (i = 0; i < n; i++)
		metrics_sample(h, name, label, keys[i], (double)values[i]);
}

static void metrics_work(struct html *h, const struct stats_overview *o,
			 const struct stats_metrics *m)
{
	static const char *const units[] = {"active", "validated", "failed"};
	static const char *const replicas[] = {"unsent", "in_progress", "over"};
	static const char *const outcomes[] = {"success", "error", "timeout", "abandoned"};
	static const char *const validations[] = {"valid", "invalid", "inconclusive", "pending"};
	static const char *const jobs[] = {"running", "paused", "done", "cancelled"};
	const int64_t u[] = {o->units_active, o->units_validated, o->units_failed};
	const int64_t r[] = {o->replicas_unsent, o->replicas_in_progress, o->replicas_over};
	const int64_t oc[] = {o->outcome_success, o->outcome_error, o->outcome_timeout,
			      o->outcome_abandoned};
	const int64_t v[] = {o->results_valid, o->results_invalid, o->results_inconclusive,
			     o->results_pending};
	const int64_t j[] = {m->jobs_running, m->jobs_paused, m->jobs_done, m->jobs_cancelled};

	metrics_family(h, "agora_hosts_registered", "gauge", "Hosts registered.");
	metrics_sample(h, "agora_hosts_registered", NULL, NULL, (double)o->hosts_registered);
	metrics_family(h, "agora_hosts_active", "gauge", "Hosts seen in the last hour.");
	metrics_sample(h, "agora_hosts_active", NULL, NULL, (double)o->hosts_active);
	metrics_gauges(h, "agora_units", "Work units by state.", "state", units, u, 3);
	metrics_gauges(h, "agora_replicas", "Replicas of work units by state.", "state", replicas,
		       r, 3);
	metrics_gauges(h, "agora_replicas_over", "Replicas that are over, by outcome.", "outcome",
		       outcomes, oc, 4);
	metrics_gauges(h, "agora_results", "Uploaded results by validation outcome.", "validation",
		       validations, v, 4);
	metrics_gauges(h, "agora_jobs", "Training jobs by state.", "state", jobs, j, 4);
	metrics_family(h, "agora_validated_flops_last_hour", "gauge",
		       "FLOPs of the valid results that arrived in the last hour.");
	metrics_sample(h, "agora_validated_flops_last_hour", NULL, NULL, o->flops_last_hour);
	metrics_family(h, "agora_rounds_merged_total", "counter",
		       "Rounds merged into a new model version.");
	metrics_sample(h, "agora_rounds_merged_total", NULL, NULL, (double)m->rounds_merged);
	metrics_family(h, "agora_round_duration_seconds", "summary",
		       "Wall time of merged rounds, from the round's start to its merge.");
	metrics_sample(h, "agora_round_duration_seconds_sum", NULL, NULL, m->round_seconds_sum);
	metrics_sample(h, "agora_round_duration_seconds_count", NULL, NULL,
		       (double)m->rounds_merged);
}

static void metrics_jobs_loss(struct html *h, const struct stats_overview *o)
{
	size_t i;

	metrics_family(h, "agora_eval_loss", "gauge",
		       "Eval loss of the newest model version, by job.");
	for (i = 0; i < o->n_jobs; i++)
		if (isfinite(o->jobs[i].eval_loss))
			metrics_sample(h, "agora_eval_loss", "job", o->jobs[i].name,
				       o->jobs[i].eval_loss);
}

static void metrics_merges(struct html *h, const struct metrics_input *in)
{
	size_t i;

	metrics_family(h, "agora_merge_duration_seconds", "histogram",
		       "Wall time of each merge (outer step, evaluation, manifest).");
	for (i = 0; i < METRICS_MERGE_BUCKETS; i++)
		html_printf(h, "agora_merge_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    metrics_bounds[i], (unsigned long long)in->merge_buckets[i]);
	html_printf(h, "agora_merge_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		    (unsigned long long)in->merge_count);
	metrics_sample(h, "agora_merge_duration_seconds_sum", NULL, NULL, in->merge_sum);
	metrics_sample(h, "agora_merge_duration_seconds_count", NULL, NULL,
		       (double)in->merge_count);
}

/* Routes that share a name (the admin routes are all "admin") are one
 * series: their counters are summed into out (at most max names). */
static size_t metrics_merge_routes(const struct http_route_stats *in, size_t n,
				   struct http_route_stats *out, size_t max)
{
	size_t i, k, m = 0;

	for (i = 0; i < n; i++) {
		for (k = 0; k < m && strcmp(out[k].name, in[i].name) != 0; k++)
			;
		if (k == m) {
			if (m == max)
				continue;
			out[m] = in[i];
			m++;
			continue;
		}
		out[k].requests += in[i].requests;
		out[k].client_errors += in[i].client_errors;
		out[k].server_errors += in[i].server_errors;
		out[k].latency_ns += in[i].latency_ns;
	}
	return m;
}

void metrics_render(struct html *h, const struct metrics_input *in)
{
	struct http_route_stats routes[METRICS_ROUTES_MAX];
	struct metrics_input merged = *in;

	merged.routes = routes;
	merged.n_routes =
	    metrics_merge_routes(in->routes, in->n_routes, routes, METRICS_ROUTES_MAX);
	metrics_http(h, &merged);
	if (in->overview && in->extra) {
		metrics_work(h, in->overview, in->extra);
		metrics_jobs_loss(h, in->overview);
	}
	metrics_merges(h, in);
}

int metrics_collect(struct html *h, struct db *db, struct http_server *http, int64_t now)
{
	struct http_route_stats routes[METRICS_ROUTES_MAX];
	struct stats_overview *o = malloc(sizeof(*o));
	struct stats_metrics m;
	struct metrics_input in;
	int rc = o ? 0 : ERROR_NOMEM;

	memset(&in, 0, sizeof(in));
	if (rc == 0)
		rc = stats_overview_get(db, now, o);
	if (rc == 0)
		rc = stats_metrics_get(db, &m);
	if (rc == 0) {
		in.routes = routes;
		in.n_routes = http ? http_server_stats(http, routes, METRICS_ROUTES_MAX) : 0;
		in.overview = o;
		in.extra = &m;
		metrics_merge_read(&in);
		metrics_render(h, &in);
		rc = html_failed(h) ? ERROR_NOMEM : 0;
	}
	free(o);
	return rc;
}
