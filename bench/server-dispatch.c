/*
 * server-dispatch.c - request throughput of agora-server's HTTP API for
 * each HTTP thread count, beside BOINC's published dispatch rate.
 *
 * For threads = 1, 2, 4 it starts a coordinator in-process on 127.0.0.1
 * (a fresh state directory with UNITS units of quorum 1 and one host),
 * then drives it for SECONDS per endpoint over CONNS keep-alive
 * connections from one libcurl multi loop in this same process:
 *
 *   project    GET /api/v1/project (no database write)
 *   heartbeat  signed POST /api/v1/heartbeat (signature check, one commit)
 *   work       signed POST /api/v1/work (signature, nonce commit, one
 *              assignment transaction)
 *
 * The client shares the machine's cores with the server, so the figures
 * are lower bounds. Usage: bench/server-dispatch [SECONDS [CONNS]].
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "server-tools/auth.h"
#include "server-tools/db.h"
#include "server-tools/server.h"

#define BENCH_CONNS_MAX 64
#define BENCH_UNITS     100000
/* "a BOINC server can dispatch about 8.8 million tasks per day"
 * (Anderson, Korpela, Walton: High-Performance Task Distribution for
 * Volunteer Computing, e-Science 2005): about 100 per second. */
#define BENCH_BOINC_PER_S (8.8e6 / 86400.0)

struct bench {
	char base[64];
	const char *path; /* endpoint */
	int sign;         /* signed POST */
	struct key_secret sk;
	int64_t host;
	struct curl_slist *hdrs[BENCH_CONNS_MAX];
};

static double bench_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t bench_sink(char *p, size_t s, size_t n, void *c)
{
	(void)p;
	(void)c;
	return s * n;
}

/* (Re)arms handle i for one more request. */
static int bench_arm(struct bench *b, CURL *c, int i)
{
	static const char *const names[] = {AUTH_HEADER_HOST, AUTH_HEADER_TIME, AUTH_HEADER_NONCE,
					    AUTH_HEADER_SIGNATURE};
	struct auth_headers h;
	struct error err;
	struct hash empty;
	char line[200], url[160];
	const char *values[4];
	int k;

	snprintf(url, sizeof(url), "%s%s", b->base, b->path);
	curl_easy_setopt(c, CURLOPT_URL, url); /* libcurl copies it */
	if (!b->sign)
		return 0;
	hash_buf(&empty, "", 0);
	if (auth_sign_request(&b->sk, "POST", b->path, b->host, (int64_t)time(NULL), &empty, &h,
			      &err) < 0) {
		fprintf(stderr, "server-dispatch: %s\n", err.msg);
		return -1;
	}
	values[0] = h.host;
	values[1] = h.time;
	values[2] = h.nonce;
	values[3] = h.signature;
	curl_slist_free_all(b->hdrs[i]);
	b->hdrs[i] = NULL;
	for (k = 0; k < 4; k++) {
		snprintf(line, sizeof(line), "%s: %s", names[k], values[k]);
		b->hdrs[i] = curl_slist_append(b->hdrs[i], line);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, b->hdrs[i]);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	return 0;
}

/* Runs one endpoint for secs over conns connections; returns req/s. */
static double bench_run(struct bench *b, int conns, double secs, long *bad)
{
	CURL *h[BENCH_CONNS_MAX];
	CURLM *m = curl_multi_init();
	long done = 0;
	double t0;
	int i, running, q;

	*bad = 0;
	for (i = 0; i < conns; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, bench_sink);
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
		bench_arm(b, h[i], i);
		curl_multi_add_handle(m, h[i]);
	}
	t0 = bench_now();
	while (bench_now() - t0 < secs) {
		CURLMsg *msg;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &q))) {
			long code = 0;
			char *priv;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			if (code == 200)
				done++;
			else
				(*bad)++;
			i = (int)(intptr_t)priv;
			curl_multi_remove_handle(m, msg->easy_handle);
			bench_arm(b, msg->easy_handle, i);
			curl_multi_add_handle(m, msg->easy_handle);
		}
		curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	secs = bench_now() - t0;
	for (i = 0; i < conns; i++) {
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_multi_cleanup(m);
	return (double)done / secs;
}

/* A running job with BENCH_UNITS units of quorum 1 (bulk SQL: one
 * transaction) and one host. */
static int bench_fill(struct server *s, struct bench *b)
{
	static const char model[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct db *db = server_db(s);
	struct key_public pk;
	char sql[1600];
	int rc;

	if (key_generate(&pk, &b->sk) < 0 ||
	    db_host_add(db, pk.bytes, "bench", "", 1, &b->host) < 0)
		return -1;
	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "INSERT INTO blobs VALUES ('%s', 1, 1, 1);"
		 "INSERT INTO datasets (id, name, owner, licence, source, created)"
		 " VALUES (1, 'd', 'o', 'l', 's', 1);"
		 "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed,"
		 " state, created) VALUES (1, 'j', 1, '{}', 1, 1, 1, 1, 'running', 1);"
		 "INSERT INTO rounds (job, round, model, created) VALUES (1, 0, '%s', 1);"
		 "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		 " INSERT INTO units (job, round, idx, envelope, quorum, deadline_s, created, uid)"
		 " SELECT 1, 0, i, CAST(printf('%%.700c', 'x') AS BLOB), 1, 3600, 1,"
		 " lower(hex(randomblob(32))) FROM c;"
		 "INSERT INTO replicas (unit) SELECT id FROM units;"
		 "COMMIT;",
		 model, model, BENCH_UNITS - 1);
	db_lock(db);
	rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "server-dispatch: %s\n", sqlite3_errmsg(db_sqlite(db)));
	db_unlock(db);
	return rc;
}

int main(int argc, char **argv)
{
	static const char *const paths[] = {"/api/v1/project", "/api/v1/heartbeat", "/api/v1/work"};
	static const unsigned thread_counts[] = {1, 2, 4};
	double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0, rate;
	long conns = argc > 2 ? strtol(argv[2], NULL, 10) : 16, bad;
	char dir[] = "/tmp/agora-bench-XXXXXX", state[64], cmd[128];
	struct bench b;
	struct error err;
	size_t t, p;

	if (secs <= 0 || secs > 600 || conns < 1 || conns > BENCH_CONNS_MAX) {
		fprintf(stderr, "usage: server-dispatch [SECONDS [CONNS (1..64)]]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("agora-server dispatch, %ld keep-alive connections, %.0f s per figure\n", conns,
	       secs);
	printf("%-8s %-10s %12s\n", "threads", "endpoint", "requests/s");
	for (t = 0; t < sizeof(thread_counts) / sizeof(thread_counts[0]); t++) {
		struct server_options opt = {
		    .listen = "127.0.0.1:0", .threads = thread_counts[t], .max_in_progress = -1};
		struct server *s = NULL;

		if (!mkdtemp(dir))
			return 1;
		snprintf(state, sizeof(state), "%s/state", dir);
		opt.state_dir = state;
		memset(&b, 0, sizeof(b));
		if (server_open(&s, &opt, &err) < 0 || bench_fill(s, &b) < 0 ||
		    server_start(s, &err) < 0) {
			fprintf(stderr, "server-dispatch: cannot start: %s\n", err.msg);
			return 1;
		}
		snprintf(b.base, sizeof(b.base), "http://127.0.0.1:%u", server_port(s));
		for (p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
			b.path = paths[p];
			b.sign = p > 0;
			rate = bench_run(&b, (int)conns, secs, &bad);
			printf("%-8u %-10s %12.0f%s\n", thread_counts[t],
			       strrchr(paths[p], '/') + 1, rate,
			       bad ? " (some requests failed)" : "");
		}
		server_free(s);
		for (p = 0; p < BENCH_CONNS_MAX; p++)
			curl_slist_free_all(b.hdrs[p]);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "server-dispatch: cannot remove '%s'\n", dir);
		memcpy(dir + strlen(dir) - 6, "XXXXXX", 6);
	}
	printf("peer: BOINC scheduler, published: %.0f dispatches/s (8.8 million/day)\n",
	       BENCH_BOINC_PER_S);
	curl_global_cleanup();
	return 0;
}
