/*
 * runner_impl.h - what the run loop's files share (runner.c: the loop,
 * work requests, computing, uploads; runner_cache.c: the blob cache as
 * the loop uses it). Not for other modules: use runner.h.
 */
#ifndef AGORA_CLIENT_RUNNER_IMPL_H
#define AGORA_CLIENT_RUNNER_IMPL_H

#include <stdint.h>
#include <time.h>

#include "client/blobcache.h"
#include "client/net.h"
#include "client/runner.h"
#include "client/state.h"
#include "client/status.h"
#include "common/error.h"
#include "workunits/envelope.h"
#include "workunits/hash.h"
#include "workunits/unit.h"

#define ASSIGNMENT_MAX (ENVELOPE_MAX * 7 + 4096) /* JSON-escaped envelope */
/* Units on disk whose blobs are pinned in the cache (normally one). */
#define PIN_UNITS_MAX 16
#define PINS_MAX      (PIN_UNITS_MAX * (1 + UNIT_DATA_MAX))

/* What happened to one unit. */
enum outcome { UNIT_DONE, UNIT_DROPPED, UNIT_RETRY, UNIT_STOPPED };

struct runner {
	const struct runner_opts *o;
	struct net net;
	struct blobcache cache;
	struct status st;
	char status_path[FILEIO_PATH_MAX];
	double last_status, last_line;
	int tty;
	long units;
	unsigned fetch_fails; /* blob fetches failed in a row */
	unsigned ask_fails;   /* work requests without an answer in a row */
	time_t next_try[STATE_PROJECTS_MAX];
	char next_url[STATE_PROJECTS_MAX][STATE_URL_MAX];
	struct hash pins[PINS_MAX]; /* lent to cache (blobcache_pin()) */
	size_t n_pins;
	struct job *cur;  /* the unit computing (borrowed), for its heartbeats */
	double last_beat; /* when the last heartbeat went out (mono()) */
};

/* One unit on disk. */
struct job {
	struct project p;
	char dir[FILEIO_PATH_MAX];
	int64_t replica;
	int64_t deadline;
	unsigned beat_s; /* heartbeat period while computing (the server's) */
	struct unit u;
	struct hash id;
	char id_hex[HASH_HEX_LEN + 1];
};

/* runner.c */
/* The network handle for a request to p (its CA file applied). */
struct net *runner_net_for(struct runner *r, const struct project *p);
/* Sets the status file's state and rewrites it. */
void runner_status_set(struct runner *r, const char *state);
/* Reads j->dir's assignment and opens its envelope with the pinned key
 * (0, or why not in err). */
int runner_job_open(struct job *j, struct error *err);

/* runner_cache.c */
/* Calls fn for each unit directory of the n projects ps (STATE/projects/
 * <slug>/units/<replica>), with j filled with its project, replica and
 * directory (nothing opened); stops at the first fn that returns
 * nonzero and returns that, else 0. */
int runner_units_on_disk(struct runner *r, const struct project *ps, int n, struct job *j,
			 int (*fn)(struct runner *r, struct job *j));
/* Trims the cache to BLOBCACHE_TRIM_PERCENT of its budget, keeping what
 * the units on disk need (after a unit, and at start). */
void runner_cache_trim(struct runner *r);
/* Fetches the blobs of j into the cache, pinning what the units on disk
 * need first; status "downloading". */
int runner_fetch_blobs(struct runner *r, struct job *j, struct error *err)
    __attribute__((warn_unused_result));

#endif
