/*
 * coord.h - the coordinator's training side: jobs, the work generator,
 * validation of results, the merge of each round into the next model
 * version, and the credit ledger, on top of the bare server (server.h).
 *
 *   coord_new()          opens STATE/ledger.log, installs the server hooks
 *                        (the admin routes of api_admin.c, a call after
 *                        every recorded result) and starts the worker
 *                        thread; call it between server_open() and
 *                        server_start()
 *   coord_job_create()   a job from its SPEC.json: θ_0, the held-out eval
 *                        blob, round 0's signed manifest and round 0's units
 *   the worker           validates results (validate.h), marks invalid
 *                        ones with their reason, sends extra replicas,
 *                        fails units past the job's cap, credits valid
 *                        results in the ledger, merges a round whose units
 *                        are all validated (merge.h), publishes the signed
 *                        manifest and generates the next round.
 *
 * Crash safety: every blob is stored before the one transaction that
 * publishes a round (manifest row, next round row, job state), so after
 * kill -9 a round's merge either happened or is redone from the same
 * inputs; ledger appends are idempotent and the worker re-appends every
 * valid result at start; missing units of an open round are generated
 * again (they are a deterministic function of the job).
 *
 * Threads: HTTP handlers call coord_* functions concurrently; the worker
 * runs the slow parts (blob reads, the merge, evaluation) outside the
 * database lock.
 */
#ifndef AGORA_SERVER_COORD_H
#define AGORA_SERVER_COORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "server-tools/http.h"

/* A host with this many invalid results gets no more work until an admin
 * clears it (agora-admin host clear). */
#define COORD_BLOCK_AFTER 3
/* Each model version's text sample (job status, dashboard). */
#define COORD_SAMPLE_BYTES  64
#define COORD_SAMPLE_PROMPT 32
/* The worker's idle poll (seconds): timeouts and missed wake-ups. */
#define COORD_POLL_S 2

struct coord;
struct server;

int coord_new(struct coord **out, struct server *s, struct error *err)
    __attribute__((warn_unused_result));
/* Stops the worker and closes the ledger. Call after server_stop() and
 * before server_free(). NULL is a no-op. */
void coord_free(struct coord *c);
struct server *coord_server(struct coord *c);

/* Wakes the worker (a result came in, a job changed). */
void coord_kick(struct coord *c);
/* Runs the worker's pass once in the calling thread (tests); returns
 * the number of things it did (validations, merges, units made). */
int coord_step(struct coord *c);
/* Waits until the worker is idle: nothing was done by the last pass.
 * At most timeout_ms; 0 when idle, ERROR_STATE on timeout. */
int coord_wait_idle(struct coord *c, int timeout_ms);

/* Datasets: a sealed dataset manifest (dataset.h) signed by an admin. */
int coord_dataset_add(struct coord *c, const void *env, size_t env_len, int64_t *id,
		      struct error *err) __attribute__((warn_unused_result));

/* Jobs. coord_job_create(): ERROR_FORMAT etc. with a message naming the
 * spec field, ERROR_NOT_FOUND for an unknown dataset, ERROR_DUPLICATE for
 * a job name in use. coord_job_set_state(): "pause", "resume", "cancel";
 * ERROR_STATE when the job's state does not allow it. */
int coord_job_create(struct coord *c, const void *spec, size_t len, int64_t *id, struct error *err)
    __attribute__((warn_unused_result));
int coord_job_set_state(struct coord *c, int64_t job, const char *verb, struct error *err)
    __attribute__((warn_unused_result));

/* JSON views for the admin API (new references; NULL on failure). */
json_t *coord_job_list(struct coord *c);
json_t *coord_job_status(struct coord *c, int64_t job); /* NULL: no such job */
json_t *coord_job_export(struct coord *c, int64_t job);
json_t *coord_dataset_list(struct coord *c);
json_t *coord_host_list(struct coord *c);
/* "ban", "unban", "clear" (the reputation block); ERROR_NOT_FOUND. */
int coord_host_set(struct coord *c, int64_t host, const char *verb);

/* The admin routes (api_admin.c); ctx of each is the struct api. */
const struct http_route *coord_admin_routes(size_t *n);

#endif
