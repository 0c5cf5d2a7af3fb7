/*
 * dashboard-bench.c - how long the dashboard takes to render on a big
 * grid: a state database with one job of 1,000 merged rounds (4 units a
 * round, 2 replicas each, 1 in 50 results rejected: 4,000 units, 8,000
 * replicas and results) and 10,000 hosts on 2,500 accounts, written with
 * SQL in one transaction; then each page (/, /jobs/1, /volunteers), its
 * JSON twin and /metrics is rendered N times through the same functions
 * the server calls, and the median and the worst wall time (and the
 * median CPU time of the rendering thread, which a busy machine does not
 * inflate) are printed beside the target (50 ms a page).
 *
 *     bench/dashboard-bench [N] [--keep]     (default N = 50)
 *
 * With --keep the state directory is left in place (its path is
 * printed): `agora-server --state DIR` then serves the big grid's pages.
 *
 * The figures are in docs/PERFORMANCE.md ("Dashboard").
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "server-tools/dashboard.h"
#include "server-tools/db.h"
#include "server-tools/html.h"
#include "server-tools/metrics.h"
#include "server-tools/stats.h"

#define BENCH_TARGET_MS 50.0
#define BENCH_NOW       1800000000LL

static const char bench_fill[] =
    "BEGIN;"
    "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 10000)"
    " INSERT INTO hosts (id, public_key, account, device, created, last_seen, credit)"
    " SELECT v, randomblob(32), 'volunteer-' || (v % 2500), 'pocl cpu, ' || (v % 64) || ' cores',"
    " 0, 1800000000 - (v * 37 % 7200), (v * 7919 % 10007) * 1e9 FROM s;"
    "WITH RECURSIVE s(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM s WHERE v < 7002)"
    " INSERT INTO blobs SELECT printf('%064x', v), 1, 1, 0 FROM s;"
    "INSERT INTO datasets (id, name, owner, licence, source, created)"
    " VALUES (1, 'corpus', 'bench', 'CC0-1.0', 'generated', 0);"
    "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed, state, created)"
    " VALUES (1, 'big', 1, '{\"preset\":\"gpt-tiny\",\"units_per_round\":4}', 2, 1000, 10, 1,"
    " 'done', 0);"
    /* model θ_r = blob r + 1, manifest r = blob 1002 + r, result blobs 2003.. */
    "WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v < 1000)"
    " INSERT INTO manifests SELECT printf('%064x', 1002 + v), 'model', zeroblob(32), 0 FROM s;"
    "WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v < 1000)"
    " INSERT INTO rounds (job, round, model, next_model, manifest, eval_loss, state, created,"
    " finished) SELECT 1, v, printf('%064x', v + 1), CASE WHEN v < 1000 THEN"
    " printf('%064x', v + 2) END, printf('%064x', 1002 + v), 1.0 + 4.5 / (1.0 + v / 50.0),"
    " 'done', 1799000000 + v * 600, CASE WHEN v < 1000 THEN 1799000000 + v * 600 + 590 END"
    " FROM s;"
    "WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v < 3999)"
    " INSERT INTO units (id, job, round, idx, envelope, flops, quorum, deadline_s, state,"
    " created) SELECT v + 1, 1, v / 4, v % 4, x'00', 2.5e12, 2, 3600, 'validated', 0 FROM s;"
    "WITH RECURSIVE s(v) AS (SELECT 0 UNION ALL SELECT v + 1 FROM s WHERE v < 7999)"
    " INSERT INTO replicas (id, unit, host, state, outcome, validation, reason, sent, received,"
    " result_hash) SELECT v + 1, v / 2 + 1, (v * 7 % 10000) + 1, 'over', 'success',"
    " CASE WHEN v % 50 = 49 THEN 'invalid' ELSE 'valid' END,"
    " CASE WHEN v % 50 = 49 THEN 'disagree' END, 0, 1799000000 + (v / 8) * 600 + 300,"
    " printf('%064x', 2003 + v / 2) FROM s;"
    "INSERT INTO results (id, replica, host, blob, descriptor, received)"
    " SELECT id, id, host, result_hash, x'00', received FROM replicas;"
    "UPDATE units SET canonical = 2 * id - 1;"
    "COMMIT;";

struct bench_case {
	const char *name;
	const char *path; /* a page, or NULL for the JSON / metrics cases */
	int kind;         /* 0 page, 1 overview JSON, 2 job JSON, 3 volunteers JSON, 4 metrics */
};

static double clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One render of c; returns the output's size (0 on failure). */
static size_t bench_once(struct db *db, const struct bench_case *c)
{
	struct html h;
	size_t len = 0;
	json_t *j = NULL;
	char *text;
	void *s;

	html_init(&h, 0);
	switch (c->kind) {
	case 0:
		if (dashboard_render(db, c->path, BENCH_NOW, &h) == 200)
			len = h.len;
		break;
	case 1:
		j = stats_api_json(db, NULL, BENCH_NOW);
		break;
	case 2:
		s = malloc(sizeof(struct stats_job));
		if (s && stats_job_get(db, 1, s) == 0)
			j = stats_job_json(s);
		free(s);
		break;
	case 3:
		s = malloc(sizeof(struct stats_volunteers));
		if (s && stats_volunteers_get(db, BENCH_NOW, s) == 0)
			j = stats_volunteers_json(s);
		free(s);
		break;
	default:
		if (metrics_collect(&h, db, NULL, BENCH_NOW) == 0)
			len = h.len;
	}
	if (j) {
		text = json_dumps(j, JSON_COMPACT);
		len = text ? strlen(text) : 0;
		free(text);
		json_decref(j);
	}
	html_release(&h);
	return len;
}

static void bench_run(struct db *db, const struct bench_case *c, int n)
{
	double *t = calloc(2 * (size_t)n, sizeof(double)), *cpu = t + n, t0, c0;
	size_t bytes = 0;
	int i;

	if (!t)
		return;
	for (i = 0; i < n; i++) {
		t0 = now_ms();
		c0 = clock_ms(CLOCK_THREAD_CPUTIME_ID);
		bytes = bench_once(db, c);
		cpu[i] = clock_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
		t[i] = now_ms() - t0;
	}
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	qsort(cpu, (size_t)n, sizeof(double), cmp_double);
	printf("%-22s %9zu %10.2f %10.2f %10.2f %9.0f %s\n", c->name, bytes, t[n / 2], t[n - 1],
	       cpu[n / 2], BENCH_TARGET_MS, t[n / 2] < BENCH_TARGET_MS ? "under" : "OVER");
	free(t);
}

int main(int argc, char **argv)
{
	static const struct bench_case cases[] = {
	    {"page /", "/", 0},
	    {"page /jobs/1", "/jobs/1", 0},
	    {"page /volunteers", "/volunteers", 0},
	    {"json /api/v1/stats", NULL, 1},
	    {"json /api/v1/jobs/1", NULL, 2},
	    {"json /api/v1/volunteers", NULL, 3},
	    {"/metrics", NULL, 4},
	};
	char dir[] = "/tmp/agora-dash-bench-XXXXXX", path[64], cmd[96], *msg = NULL;
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 50;
	int keep = argc > 2 && strcmp(argv[2], "--keep") == 0;
	struct error err;
	struct db *db = NULL;
	double t0;
	size_t i;

	if (n < 1 || n > 100000 || !mkdtemp(dir))
		return 2;
	snprintf(path, sizeof(path), "%s/state.db", dir);
	if (db_open(&db, path, &err) < 0 || db_project_init(db, "bench", 0) < 0) {
		fprintf(stderr, "dashboard-bench: %s\n", err.msg);
		return 1;
	}
	t0 = now_ms();
	db_lock(db);
	if (sqlite3_exec(db_sqlite(db), bench_fill, NULL, NULL, &msg) != SQLITE_OK)
		fprintf(stderr, "dashboard-bench: fill: %s\n", msg ? msg : "?");
	sqlite3_free(msg);
	db_unlock(db);
	printf("state: 1 job, 1000 merged rounds, 4000 units, 8000 replicas and results,\n"
	       "       10000 hosts on 2500 accounts (filled in %.0f ms); %d renders each\n\n",
	       now_ms() - t0, n);
	printf("%-22s %9s %10s %10s %10s %9s\n", "what", "bytes", "median ms", "max ms", "cpu ms",
	       "target");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bench_run(db, &cases[i], n);
	db_free(db);
	if (keep) {
		printf("\nkept: agora-server --state %s\n", dir);
		return 0;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
