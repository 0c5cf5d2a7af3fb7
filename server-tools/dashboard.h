/*
 * dashboard.h - the pages anyone can read, served by agora-server itself:
 *
 *   GET /              overview: hosts, units, results, throughput, jobs
 *   GET /jobs/ID       one job: eval loss chart, rounds and their
 *                      durations, unit states, validation outcomes with
 *                      reasons, lineage (manifest hashes, linked), sample
 *   GET /volunteers    leaderboards by credit: accounts and hosts
 *
 * and their JSON twins GET /api/v1/jobs/ID and GET /api/v1/volunteers
 * (GET /api/v1/stats is api.c's, built by stats_api_json()), and
 * GET /metrics (metrics.h). Pages are server-rendered HTML with inline CSS
 * and inline SVG, no script, sent with a Content-Security-Policy that
 * forbids everything else (HTML_CSP); they refresh themselves. Every
 * figure comes from the stats layer (stats.h), so pages and JSON agree.
 * Documented in docs/DASHBOARD.md.
 *
 * The routes' ctx is the server's struct api (api.h): api.c lists
 * DASHBOARD_ROUTES in its route table.
 */
#ifndef AGORA_SERVER_DASHBOARD_H
#define AGORA_SERVER_DASHBOARD_H

#include <stdint.h>

#include "server-tools/http.h"

struct db;
struct html;

void dashboard_page_overview(struct http_request *req, void *ctx);
void dashboard_page_job(struct http_request *req, void *ctx);
void dashboard_page_volunteers(struct http_request *req, void *ctx);
void dashboard_api_job(struct http_request *req, void *ctx);
void dashboard_api_volunteers(struct http_request *req, void *ctx);
void dashboard_metrics(struct http_request *req, void *ctx);

/* Route table entries, for api.c's table. */
/* clang-format off */
#define DASHBOARD_ROUTES                                                                           \
	{"GET", "/", 0, 0, dashboard_page_overview, NULL, "page_overview"},                        \
	{"GET", "/jobs/", HTTP_ROUTE_PREFIX, 0, dashboard_page_job, NULL, "page_job"},             \
	{"GET", "/volunteers", 0, 0, dashboard_page_volunteers, NULL, "page_volunteers"},          \
	{"GET", "/api/v1/jobs/", HTTP_ROUTE_PREFIX, 0, dashboard_api_job, NULL, "job"},            \
	{"GET", "/api/v1/volunteers", 0, 0, dashboard_api_volunteers, NULL, "volunteers"},         \
	{"GET", "/metrics", 0, 0, dashboard_metrics, NULL, "metrics"}
/* clang-format on */

/* Renders the page at path ("/", "/jobs/ID", "/volunteers") into h, as
 * the server does (for tests and bench/dashboard-bench). Returns the HTTP
 * status: 200, 404 (no such page or job) or 500. */
unsigned dashboard_render(struct db *db, const char *path, int64_t now, struct html *h);

/* Parses a job id in a path suffix: 1..2^62 in plain decimal; -1 when
 * it is not one. */
int64_t dashboard_parse_id(const char *s);

#endif
