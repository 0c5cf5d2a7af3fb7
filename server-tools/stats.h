/*
 * stats.h - the figures of the dashboard, read from the state database:
 * one query layer that the HTML pages (dashboard.c), their JSON twins
 * (/api/v1/stats, /api/v1/jobs/ID, /api/v1/volunteers) and /metrics all
 * read, so every view shows the same numbers.
 *
 *   stats_overview_get()    hosts, units, results, throughput, jobs
 *   stats_job_get()         one job: rounds, eval loss series, unit
 *                           states, replica outcomes, validation outcomes
 *                           with reasons, lineage
 *   stats_volunteers_get()  the leaderboards by credit (hosts, accounts)
 *
 * Each function takes the database lock once, runs read-only prepared
 * statements (db_stmt_cached) and fills a caller-owned struct; lists are
 * capped (STATS_*_MAX) so the cost and the size of a page are bounded
 * whatever the grid's size. The *_json() functions turn the same structs
 * into JSON (new references; NULL when out of memory); field names are
 * documented in docs/DASHBOARD.md.
 *
 * Definitions (docs/DASHBOARD.md says the same):
 *   active host       last seen (any signed request) in the last hour
 *   in flight         replicas handed out and not returned (in progress)
 *   rejected          results judged invalid (any reason)
 *   throughput        units whose canonical result arrived in the last
 *                     hour; FLOP/s = the FLOPs of every valid result that
 *                     arrived in the last hour / 3600 (the credited work)
 */
#ifndef AGORA_SERVER_STATS_H
#define AGORA_SERVER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "server-tools/db.h"

#define STATS_WINDOW_S    3600 /* "last hour" */
#define STATS_JOBS_MAX    100  /* jobs listed on the overview */
#define STATS_ROUNDS_MAX  200  /* rounds in a job's table (the newest) */
#define STATS_SERIES_MAX  500  /* eval loss points (downsampled) */
#define STATS_REASONS_MAX 16   /* invalid reasons listed */
#define STATS_INVALID_MAX 20   /* invalid results listed (the newest) */
#define STATS_TOP_MAX     100  /* leaderboard rows */
#define STATS_NAME_MAX    64
#define STATS_SAMPLE_MAX  256 /* bytes of a model's text sample shown */
#define STATS_DEVICE_MAX  256
#define STATS_STATE_MAX   16
#define STATS_PRESET_MAX  32
#define STATS_REASON_MAX  160 /* bytes of a job's state reason shown */

/* A job as listed on the overview. eval_loss is NaN when none yet. */
struct stats_job_row {
	int64_t id;
	char name[STATS_NAME_MAX + 1];
	char state[STATS_STATE_MAX];
	char reason[STATS_REASON_MAX]; /* why it is in that state; "" when nothing to say */
	char preset[STATS_PRESET_MAX];
	int64_t rounds;      /* rounds asked for */
	int64_t rounds_done; /* rounds merged */
	double eval_loss;    /* of the newest model version */
	int64_t units_active, units_validated, units_failed;
};

struct stats_overview {
	int64_t now;
	int64_t hosts_registered, hosts_active, accounts;
	int64_t replicas_unsent, replicas_in_progress, replicas_over;
	int64_t outcome_success, outcome_error, outcome_timeout, outcome_abandoned;
	int64_t units_active, units_validated, units_failed;
	int64_t results_valid, results_invalid, results_inconclusive, results_pending;
	int64_t units_last_hour; /* = units/hour */
	double flops_last_hour;  /* FLOPs of valid results in the last hour */
	double flop_per_s;       /* flops_last_hour / STATS_WINDOW_S */
	int64_t blobs;
	int64_t jobs_total; /* jobs[] holds the first STATS_JOBS_MAX by id */
	size_t n_jobs;
	struct stats_job_row jobs[STATS_JOBS_MAX];
	/* the newest running job (else the newest; 0: none) and its eval
	 * loss by round, downsampled as a job's */
	int64_t featured;
	char featured_name[STATS_NAME_MAX + 1];
	size_t n_series;
	double series_round[STATS_SERIES_MAX], series_loss[STATS_SERIES_MAX];
};

/* Model version r of a job (a rounds row): θ_r, its manifest and eval
 * loss; created/finished bracket the round that trains from it. */
struct stats_round {
	int64_t round;
	char state[STATS_STATE_MAX];
	double eval_loss;          /* NaN when none */
	int64_t created, finished; /* finished 0 while open */
	char model[DB_HASH_HEX + 1];
	char manifest[DB_HASH_HEX + 1]; /* blob hash of the signed envelope, "" if none */
};

struct stats_count {
	char key[32];
	int64_t n;
};

struct stats_invalid {
	int64_t replica, host, round, unit;
	char reason[32];
};

struct stats_job {
	struct stats_job_row job;
	char dataset[STATS_NAME_MAX + 1];
	int64_t quorum, units_per_round, created;
	/* rounds: the newest STATS_ROUNDS_MAX rows, oldest first. */
	int64_t n_rounds;
	size_t n_shown;
	struct stats_round rounds[STATS_ROUNDS_MAX];
	/* eval loss by round, downsampled to at most STATS_SERIES_MAX. */
	size_t n_series;
	double series_round[STATS_SERIES_MAX], series_loss[STATS_SERIES_MAX];
	/* merged rounds: duration = finished - created */
	int64_t durations_n, duration_last_s, duration_max_s;
	double duration_mean_s;
	/* replicas of the job's units: by state / outcome */
	int64_t replicas_unsent, replicas_in_progress;
	int64_t outcome_success, outcome_error, outcome_timeout, outcome_abandoned;
	/* validation: agreed = valid, disagreed = invalid 'disagree', invalid
	 * = invalid for another reason (listed in reasons) */
	int64_t agreed, disagreed, invalid, inconclusive, pending;
	size_t n_reasons;
	struct stats_count reasons[STATS_REASONS_MAX]; /* every invalid reason */
	size_t n_invalid;
	struct stats_invalid invalid_list[STATS_INVALID_MAX];
	/* the newest model version's text sample (coord.c writes one per
	 * merge: printable ASCII and newlines); sample_round -1 when none */
	int64_t sample_round;
	char sample[STATS_SAMPLE_MAX + 1];
};

struct stats_volunteer {
	int64_t host; /* host id; 0 in the accounts board */
	char account[STATS_NAME_MAX + 1];
	char device[STATS_DEVICE_MAX + 1]; /* "" in the accounts board */
	int64_t hosts;                     /* 1 for a host */
	double credit;                     /* FLOPs */
	int64_t valid, invalid;            /* results */
	int64_t last_seen;
};

struct stats_volunteers {
	int64_t now, hosts_total, accounts_total;
	size_t n_hosts, n_accounts;
	struct stats_volunteer hosts[STATS_TOP_MAX];
	struct stats_volunteer accounts[STATS_TOP_MAX];
};

/* Counts for /metrics beyond the overview. */
struct stats_metrics {
	int64_t jobs_running, jobs_paused, jobs_done, jobs_cancelled;
	int64_t rounds_merged;
	double round_seconds_sum; /* over merged rounds: finished - created */
};

/* Each returns 0, or ERROR_DB; stats_job_get() ERROR_NOT_FOUND for no
 * such job. now is the current unix time. The structs are large: put
 * them on the heap. */
int stats_overview_get(struct db *db, int64_t now, struct stats_overview *out);
int stats_job_get(struct db *db, int64_t job, struct stats_job *out);
int stats_volunteers_get(struct db *db, int64_t now, struct stats_volunteers *out);
int stats_metrics_get(struct db *db, struct stats_metrics *out);

/* The project's name ("agora" when unknown) into buf. */
void stats_project_name(struct db *db, char *buf, size_t size);

json_t *stats_overview_json(const struct stats_overview *o);
/* The whole answer of GET /api/v1/stats: the overview plus "endpoints",
 * the per-route counters of http (may be NULL). NULL on failure. */
struct http_server;
json_t *stats_api_json(struct db *db, struct http_server *http, int64_t now);
json_t *stats_job_json(const struct stats_job *j);
json_t *stats_volunteers_json(const struct stats_volunteers *v);

/* Credit shown to people: GFLOP (as in the admin API's host list). */
static inline double stats_gflop(double flops)
{
	return flops / 1e9;
}

#endif
