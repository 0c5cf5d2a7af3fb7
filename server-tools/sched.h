/*
 * sched.h - the work life cycle in the state database: units, their
 * replicas and the results that come back (the BOINC model).
 *
 *   sched_unit_add()     a signed unit enters with `quorum` unsent replicas
 *   sched_assign()       an unsent replica goes to a host: in progress,
 *                        with a deadline; never two replicas of a unit to
 *                        one host or one account (the schema enforces it)
 *   sched_expire()       in-progress replicas past their deadline are over
 *                        (outcome timeout) and each gets an unsent
 *                        replacement while its unit is active
 *   sched_result_add()   a verified result for an in-progress replica:
 *                        the replica is over (success) and the result row
 *                        and its blob row are written, and the unit is
 *                        validated, in one transaction:
 *
 * Validation (deterministic kernels: honest replicas give equal bytes):
 * once an active unit has `quorum` successful replicas whose output hashes
 * agree, it is validated, its canonical result is the first of them, the
 * agreeing replicas are valid (their hosts get the unit's flops as credit
 * and +1 reputation), the others invalid (-1 reputation). Successes that
 * disagree are inconclusive and, once nothing is outstanding, one more
 * replica goes out, up to 2 * quorum + 1 replicas; then the unit fails.
 * Merging comes later.
 * Every function takes the db lock and runs in one transaction.
 */
#ifndef AGORA_SERVER_SCHED_H
#define AGORA_SERVER_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "server-tools/db.h"

struct sched_job {
	const char *name; /* unique, 1..64 bytes */
	int64_t dataset;  /* a datasets row */
	const char *spec; /* the job definition as JSON text */
	int quorum;       /* replicas per unit, >= 1 */
	int rounds;       /* >= 1 */
	int inner_steps;  /* H, >= 1 */
	int64_t seed;
};

struct sched_unit {
	int64_t job;
	int64_t round;
	int64_t index;
	const unsigned char *envelope; /* the signed descriptor, as sealed */
	size_t envelope_len;
	const char *uid;    /* unit id: 64 hex (hash of the payload) */
	int quorum;         /* replicas to create, >= 1 */
	int64_t deadline_s; /* seconds a host gets for one replica */
	double flops;
};

struct sched_assignment {
	int64_t replica;
	int64_t unit;
	char uid[DB_HASH_HEX + 1];
	int64_t deadline;        /* unix seconds */
	unsigned char *envelope; /* malloc'd; release with sched_assignment_release() */
	size_t envelope_len;
};

struct sched_replica {
	int64_t id;
	int64_t unit;
	int64_t host;     /* 0 while unsent */
	char state[16];   /* unsent, in_progress, over */
	char outcome[16]; /* "" unless over */
	int64_t deadline;
	char uid[DB_HASH_HEX + 1]; /* its unit's id ("" if none recorded) */
};

/* Set-up for the admin tools. Each returns ERROR_DUPLICATE for a name or
 * key already there, ERROR_NOT_FOUND for a missing referenced row (the
 * dataset of a job, the job or the model blob of a round), ERROR_RANGE for
 * a value the schema refuses. */
int sched_dataset_add(struct db *db, const char *name, const char *owner, const char *licence,
		      const char *source, int64_t now, int64_t *id);
int sched_job_add(struct db *db, const struct sched_job *j, int64_t now, int64_t *id);
/* state: "draft", "running", "paused", "done" or "cancelled"; reason:
 * why, for the job's status (read during the call only; NULL: none,
 * which clears the previous one). */
int sched_job_set_state(struct db *db, int64_t job, const char *state, const char *reason);
/* Round `round` of job trains from model (64 hex, a recorded blob). */
int sched_round_add(struct db *db, int64_t job, int64_t round, const char *model, int64_t now);

/* Adds a unit and its replicas; *unit_id receives its row id. The job and
 * round must exist (ERROR_NOT_FOUND); a unit already there (same job,
 * round, index, or same uid) is ERROR_DUPLICATE. */
int sched_unit_add(struct db *db, const struct sched_unit *u, int64_t now, int64_t *unit_id);

/* Times out overdue replicas first, then gives host (of account) the
 * oldest unsent replica of an active unit of a running job that it may
 * take. ERROR_NOT_FOUND when there is none. When nonce is not NULL, the
 * request's nonce is recorded in the same transaction (db_nonce_use(),
 * one commit for the whole request): ERROR_DUPLICATE for a replay, and
 * the nonce is kept even when there is no work. A host that already has
 * max_in_progress replicas in progress gets nothing (ERROR_STATE; 0 means
 * no limit), so that one host cannot drain the queue and stall a round
 * until the deadlines. A host blocked for repeated invalid results
 * (hosts.blocked, cleared by an admin) gets nothing: ERROR_PERM. */
int sched_assign(struct db *db, int64_t host, const char *account, const unsigned char *nonce,
		 int max_in_progress, int64_t now, struct sched_assignment *out);
void sched_assignment_release(struct sched_assignment *a);
/* The same, and never two replicas of a unit to one address block:
 * netblock (sched_netblock(), NULL: no rule) is recorded with the replica
 * and the schema refuses a second replica of the unit in that block. */
int sched_assign_from(struct db *db, int64_t host, const char *account, const char *netblock,
		      const unsigned char *nonce, int max_in_progress, int64_t now,
		      struct sched_assignment *out);
/* The block of a numeric IPv4 or IPv6 address: the first v4_bits or
 * v6_bits bits, as "192.0.2.0/24" or "2001:db8:1::/48". ERROR_FORMAT for
 * a non-numeric address, ERROR_RANGE for bad prefix lengths. */
int sched_netblock(const char *addr, int v4_bits, int v6_bits, char *out, size_t size);

/* A host gives an in-progress replica up (it cannot verify or compute
 * the unit): the replica is over with outcome error and, while the unit is
 * active and has had fewer than 2 * quorum + 1 errors, a replacement goes
 * out; after that the unit fails. nonce as for sched_assign(). Errors:
 * ERROR_NOT_FOUND (no such replica), ERROR_PERM (not the host's),
 * ERROR_STATE (not in progress), ERROR_DUPLICATE (replayed nonce). */
int sched_abandon(struct db *db, int64_t replica, int64_t host, const unsigned char *nonce,
		  int64_t now);

/* Times out replicas whose deadline is before now; returns how many. */
int sched_expire(struct db *db, int64_t now);

/* Looks a replica up; ERROR_NOT_FOUND when absent. */
int sched_replica_get(struct db *db, int64_t id, struct sched_replica *out);

/* Records a verified result for replica (which must be in progress and
 * assigned to host: ERROR_STATE otherwise). blob is the output's hash
 * (64 hex), size its raw size and stored its container size. */
int sched_result_add(struct db *db, int64_t replica, int64_t host, const char *blob, int64_t size,
		     int64_t stored, const void *descriptor, size_t descriptor_len, int64_t now,
		     int64_t *result_id);

/* The same; with validate 0 the result is only recorded (its replica's
 * validation stays 'pending') and the caller validates it later (the
 * coordinator's validator, coord.h). When nonce is not NULL, the request
 * nonce is recorded in the same write (one commit per upload): a replay
 * gets ERROR_DUPLICATE, and a refused upload (ERROR_STATE) leaves
 * nothing behind, its nonce included. */
int sched_result_record(struct db *db, int64_t replica, int64_t host, const char *blob,
			int64_t size, int64_t stored, const void *descriptor, size_t descriptor_len,
			int64_t now, int validate, const unsigned char *nonce, int64_t *result_id);

/* The hash validation above for one unit, for units whose job has no
 * spec the coordinator's validator can use (jobs made outside
 * coord_job_create(), e.g. by tests); still pending successes become
 * 'inconclusive' so they are not looked at again. */
int sched_validate(struct db *db, int64_t unit);

/* Number of replicas in a state ("unsent", "in_progress", "over"). */
int64_t sched_replica_count(struct db *db, const char *state);

#endif
