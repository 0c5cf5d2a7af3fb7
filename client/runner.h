/*
 * runner.h - the client's run loop: pick a project, get a unit, verify it,
 * fetch its blobs, compute, upload, repeat.
 *
 * Per unit, in this order: the envelope is opened with the project's
 * PINNED coordinator key (unit_open) before anything else is looked at;
 * the kernel ABI, preset, context and batch are checked; the blobs are
 * fetched into the verified cache; the unit is computed with checkpoints
 * in STATE/projects/<slug>/units/<replica>/; the result (signed with the
 * host key) is written there and uploaded with retries; an "uploaded"
 * marker is written (fsynced) before the directory is removed, so a result
 * is never uploaded twice, and a unit found on disk at start is resumed
 * from its checkpoint or upload. A bad unit is logged and dropped; a blob
 * that cannot be fetched is retried with backoff and dropped after
 * RUNNER_FETCH_TRIES tries or past its deadline. Projects are picked by
 * the least compute seconds per share among those not waiting out a
 * retry_after. One run loop per state directory: STATE/lock is flock'ed.
 *
 * Heartbeats: one after each upload, and one every next_heartbeat_s (the
 * work answer's; RUNNER_HEARTBEAT_S when it has none) while a unit
 * computes, between two steps, so that the coordinator sees a host busy
 * with a long unit as alive. Such a heartbeat waits at most
 * RUNNER_BEAT_CONNECT_S to connect and RUNNER_BEAT_STALL_S on a stalled
 * transfer, and a failed one is not retried before the next period: an
 * unreachable server costs the computation little.
 */
#ifndef AGORA_CLIENT_RUNNER_H
#define AGORA_CLIENT_RUNNER_H

#include <signal.h>

#define RUNNER_FETCH_TRIES     5
#define RUNNER_UPLOAD_TRIES    8
#define RUNNER_BACKOFF_BASE    1.0   /* seconds */
#define RUNNER_BACKOFF_CAP     60.0  /* seconds */
#define RUNNER_IDLE_MAX        600   /* longest sleep when no project has work */
#define RUNNER_HEARTBEAT_S     600   /* heartbeat period when the server names none */
#define RUNNER_HEARTBEAT_MAX_S 86400 /* a longer period named is not believed */
#define RUNNER_BEAT_CONNECT_S  5     /* limits of a heartbeat while computing */
#define RUNNER_BEAT_STALL_S    10

struct runner_opts {
	const char *state;    /* resolved state directory */
	const char *device;   /* compute_opts.device */
	const char *cacert;   /* may be NULL */
	int once;             /* one unit (or one round of asking) and exit */
	long max_units;       /* stop after this many units (0: no limit) */
	double ckpt_interval; /* seconds */
	long idle_max;        /* cap on a no-work sleep (seconds) */
	long stall_s;         /* network stall limit (seconds) */
	long upload_limit;    /* upload bandwidth cap, bytes/s (0: none) */
};

/* Runs until stopped (SIGTERM/SIGINT: checkpoint and return 0), --once
 * or --max-units is satisfied. Returns a process exit status. */
int runner_run(const struct runner_opts *o);

/* The stop flag the signal handlers set. */
extern volatile sig_atomic_t runner_stop;

#endif
