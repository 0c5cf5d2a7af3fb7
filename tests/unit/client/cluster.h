/*
 * cluster.h - a coordinator and clients as real processes on 127.0.0.1,
 * for the client's fault tests and the end-to-end test.
 *
 * cluster_open() makes a server state directory in-process (server_open,
 * which creates the coordinator key), stores θ_0 (a model blob) and one
 * data shard, and records a dataset, a running job and round 0; units are
 * added with cluster_unit() before the server process is started with
 * cluster_server_start() (agora-server from the build tree, listening on
 * 127.0.0.1 on a free port, stopped by cluster_close()). Clients are
 * agora-client processes with their own state directories and log files.
 * Every wait is bounded.
 */
#ifndef AGORA_TESTS_CLIENT_CLUSTER_H
#define AGORA_TESTS_CLIENT_CLUSTER_H

#include <stdint.h>
#include <sys/types.h>

#include "workunits/hash.h"
#include "workunits/key.h"

struct cluster {
	char root[256];   /* scratch directory */
	char sstate[300]; /* the server's state directory */
	char url[64];     /* http://127.0.0.1:PORT */
	unsigned port;
	pid_t server;
	int server_runs; /* starts so far (log file per start) */
	struct key_secret coord_sk;
	struct key_public coord_pk;
	struct hash model, shard;
	uint64_t shard_len;
	const char *preset;
	int64_t next_index;
	const char *tls_cert, *tls_key; /* set before cluster_server_start: https */
	unsigned heartbeat_s;           /* likewise: --heartbeat (0: the default) */
};

struct cluster_unit_opts {
	int steps, batch, quorum;
	uint32_t kernel_abi;             /* 0: 1 */
	const char *preset;              /* NULL: the cluster's */
	const struct key_secret *signer; /* NULL: the coordinator */
};

/* Makes the scratch directory and the server state (see above). */
int cluster_open(struct cluster *c, const char *preset);
/* Adds a unit of job 1, round 0 (the server must not be running). */
int cluster_unit(struct cluster *c, const struct cluster_unit_opts *o, struct hash *uid);
/* Starts agora-server (port 0: any free port, else that one). */
int cluster_server_start(struct cluster *c, unsigned port);
void cluster_server_signal(struct cluster *c, int sig);
/* Waits for the server to exit (after a signal). */
void cluster_server_reap(struct cluster *c);
/* Spawns agora-client ARGS... with --state ROOT/<name> appended, output
 * to ROOT/<name>.log (appended). */
pid_t cluster_client(struct cluster *c, const char *name, const char *const *args);
/* Waits up to timeout_s for pid; returns its exit status, -1 on timeout
 * (the process is then killed). */
int cluster_wait(pid_t pid, double timeout_s);
/* A scalar from the server database (read through a separate handle). */
long long cluster_sql(struct cluster *c, const char *sql);
/* 1 when client name's log contains text. */
int cluster_log_has(struct cluster *c, const char *name, const char *text);
/* Path of a client's file: ROOT/<name>/<rest>. */
void cluster_client_path(struct cluster *c, const char *name, const char *rest, char *out,
			 size_t size);
/* Removes the scratch directory and stops the server. */
void cluster_close(struct cluster *c);
/* The program path of a built binary ("agora-server"). */
void cluster_bin(const char *name, char *out, size_t size);

#endif
