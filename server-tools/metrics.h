/*
 * metrics.h - GET /metrics: the coordinator's figures in the Prometheus
 * text exposition format, version 0.0.4 (Content-Type
 * METRICS_CONTENT_TYPE). Every family has a HELP and a TYPE line before
 * its samples; names and labels are listed in docs/DASHBOARD.md.
 *
 * The figures come from the HTTP layer's per-route counters (requests,
 * errors, summed latency), from the stats layer (stats.h: hosts, units,
 * replicas, results, jobs, rounds) and from the merge-duration histogram
 * below, which the merger feeds through metrics_merge_observe() (a
 * process-wide, lock-free hook: call it with the wall time of each merge).
 */
#ifndef AGORA_SERVER_METRICS_H
#define AGORA_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "server-tools/http.h"
#include "server-tools/stats.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Upper bounds (seconds) of the merge-duration histogram's buckets;
 * +Inf follows. */
#define METRICS_MERGE_BUCKETS 9

struct html;

/* What one exposition shows. Everything is copied by the caller first,
 * so rendering runs without any lock. */
struct metrics_input {
	const struct http_route_stats *routes;
	size_t n_routes;
	const struct stats_overview *overview;
	const struct stats_metrics *extra;
	/* merge durations: cumulative bucket counts, sum and count */
	uint64_t merge_buckets[METRICS_MERGE_BUCKETS];
	double merge_sum;
	uint64_t merge_count;
};

/* Records one merge that took seconds (>= 0). Thread-safe. */
void metrics_merge_observe(double seconds);
/* Copies the merge histogram into in. */
void metrics_merge_read(struct metrics_input *in);
/* The bucket bounds, METRICS_MERGE_BUCKETS of them, ascending. */
const double *metrics_merge_bounds(void);

/* Writes the exposition of in into h. */
void metrics_render(struct html *h, const struct metrics_input *in);

/* Gathers everything (http may be NULL) and renders it into h; 0 or a
 * negative error (ERROR_DB, ERROR_NOMEM). */
int metrics_collect(struct html *h, struct db *db, struct http_server *http, int64_t now);

/* Writes v as a label value, escaped as the format wants (\\, \", \n). */
void metrics_label_value(struct html *h, const char *v);

#endif
