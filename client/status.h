/*
 * status.h - the run loop's status file, STATE/status.json, and the
 * progress display.
 *
 * The run loop rewrites the file atomically (temporary file + rename) on
 * every state change and every STATUS_PERIOD_S seconds while it computes,
 * waits or transfers; the screensaver and `agora-client status` read it. Fields
 * (docs/CLIENT.md): state ("computing", "downloading", "uploading",
 * "idle", "paused", "stopped"), project, job, unit (id), replica, round,
 * step, steps (H), loss, device, eta_s, units_done, pid, updated (unix
 * seconds), reason (why paused: "user active", "on battery", ...),
 * cache_bytes and cache_budget (the blob cache's size and max-disk-mb in
 * bytes, as of the last fetch or trim).
 */
#ifndef AGORA_CLIENT_STATUS_H
#define AGORA_CLIENT_STATUS_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/fileio.h"
#include "workunits/hash.h"

#define STATUS_PERIOD_S 2.0
#define STATUS_JSON_MAX (64u * 1024)

struct status {
	char state[16];
	char project[512];
	char job[72];
	char unit[HASH_HEX_LEN + 1];
	int64_t replica;
	uint64_t round;
	uint64_t step, steps;
	double loss;
	char device[72];
	double eta_s;
	uint64_t units_done;
	int64_t updated;
	long pid;
	char reason[96];                    /* why "paused" (client/idle.h), "" otherwise */
	uint64_t cache_bytes, cache_budget; /* client/blobcache.h */
};

/* Writes st to path atomically (sets st->updated). */
int status_write(const char *path, struct status *st, struct error *err)
    __attribute__((warn_unused_result));
/* Reads path into st (missing fields stay zero). */
int status_read(const char *path, struct status *st, struct error *err)
    __attribute__((warn_unused_result));

/* One progress line: a bar with \r on a terminal, else a plain line. */
void status_progress(FILE *f, int tty, const struct status *st);

#endif
