/*
 * coord_impl.h - what the coordinator's files (coord.c: worker,
 * validation, merge; coord_job.c: datasets, jobs, the work generator;
 * coord_view.c: JSON views) share. Not for other modules: use coord.h.
 */
#ifndef AGORA_SERVER_COORD_IMPL_H
#define AGORA_SERVER_COORD_IMPL_H

#include <pthread.h>
#include <sqlite3.h>

#include "server-tools/coord.h"
#include "server-tools/db.h"
#include "server-tools/jobspec.h"
#include "workunits/hash.h"
#include "workunits/key.h"

struct blobstore;
struct ledger;

struct coord {
	struct server *server;
	struct db *db;
	struct blobstore *bs;
	const struct key_secret *sk;
	struct key_public pk;
	struct ledger *ledger;
	pthread_t thread;
	int started;
	pthread_mutex_t lock; /* guards the fields below */
	pthread_cond_t cond;
	int stop, kicked, busy, last_did;
	pthread_mutex_t step_lock; /* one pass at a time (worker or test) */
};

/* A job row, its spec parsed. */
struct coord_job {
	int64_t id;
	char state[16];
	int64_t dataset;
	char eval_blob[HASH_HEX_LEN + 1];
	struct jobspec spec;
};

/* Loads job id (ERROR_NOT_FOUND); the spec is re-parsed from its row. */
int coord_job_load(struct coord *c, int64_t id, struct coord_job *j);
/* Makes the units of round r that are not there yet (all of them for a
 * new round): each sealed once with the coordinator key and added with
 * its quorum of replicas. Returns how many were made. */
int coord_round_generate(struct coord *c, const struct coord_job *j, int64_t round);
/* Records a stored blob (its stored size read from the store). */
int coord_blob_record(struct coord *c, const struct hash *h, uint64_t raw_size);
/* The text sample of a model version: COORD_SAMPLE_BYTES bytes after a
 * prompt of the first COORD_SAMPLE_PROMPT bytes of the held-out eval data,
 * temperature 0.8, seed = job seed + version (merge_sample()). out holds
 * at least COORD_SAMPLE_BYTES + 1 bytes; "" when it cannot be made. */
void coord_sample(const struct jobspec *s, const float *theta, const unsigned char *eval,
		  size_t eval_len, uint64_t version, char *out, size_t cap);
/* Merges round `round` of job j (coord_merge.c) from its n_valid
 * validated units (the others failed); 0 or an error. */
int coord_merge(struct coord *c, const struct coord_job *j, int64_t round, size_t n_valid);
/* Runs one statement bound with ?1 = a and, when it has a ?2, b (or d
 * when d is not 0); the caller holds the db lock. */
int coord_exec(struct coord *c, const char *sql, int64_t a, int64_t b, double d);
/* Column text into buf. */
void coord_text(sqlite3_stmt *st, int col, char *buf, size_t size);
/* One int64 from a query bound with up to two int64 parameters. */
int64_t coord_query_int(struct coord *c, const char *sql, int64_t a, int64_t b);

#endif
