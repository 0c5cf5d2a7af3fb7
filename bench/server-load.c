/*
 * server-load.c - a load generator: HOSTS simulated hosts against an
 * agora-server started in-process on 127.0.0.1, all driven from one
 * libcurl multi loop (one keep-alive connection per host).
 *
 * Each host has its own Ed25519 key and runs the client's cycle:
 *
 *   register  signed POST /api/v1/hosts (the key being registered)
 *   work      signed POST /api/v1/work (an assignment: replica + unit id)
 *   result    signed PUT /api/v1/results/<replica>: a result envelope
 *             sealed by the host's key for that unit, then a 256-byte
 *             zlib blob (unique per upload)
 *
 * then work, result, ... for SECONDS. It prints units dispatched per
 * second and p50/p99 latency per request kind beside BOINC's published
 * dispatch rate and Agora's targets. Then the memory figure: a fresh
 * server whose database holds DB_HOSTS hosts and DB_UNITS units (bulk
 * SQL, one transaction), its VmRSS once started and after serving the
 * same load for a while. The client shares the process and the cores, so
 * throughput is a lower bound and the RSS includes the client (about a
 * key, a curl handle and a connection per simulated host).
 *
 * Usage: bench/server-load [HOSTS [SECONDS [DB_HOSTS DB_UNITS [THREADS]]]]
 * (defaults 1000 10 100000 1000000 0; THREADS 0: the server's default, 8 per CPU, 16..64; DB_UNITS 0
 * skips the memory figure).
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "server-tools/auth.h"
#include "server-tools/db.h"
#include "server-tools/server.h"
#include "workunits/blob.h"
#include "workunits/result.h"

#define LOAD_BOINC_PER_S (8.8e6 / 86400.0) /* see bench/server-dispatch.c */
#define LOAD_TARGET_PER_S 5000.0
#define LOAD_TARGET_P99_MS 20.0
#define LOAD_RAW 256

enum kind { K_REGISTER, K_WORK, K_RESULT, K_N };
static const char *const kind_names[K_N] = {"register", "work", "result"};

struct sim {
	CURL *c;
	struct key_public pk;
	struct key_secret sk;
	int64_t id, replica;
	struct hash unit;
	enum kind kind;
	struct curl_slist *hdrs;
	unsigned char *body;
	size_t body_len;
	char *resp;
	size_t resp_len;
	double t0;
};

struct lat {
	double *v;
	size_t n, cap;
	long bad;
};

struct load {
	struct sim *sims;
	int n;
	char base[64];
	struct lat lat[K_N];
	long dispatched, no_work, results;
	double first_dispatch;
	unsigned counter;
	int work_only; /* AGORA_LOAD_WORK_ONLY set: no uploads */
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t on_body(char *p, size_t s, size_t n, void *c)
{
	struct sim *h = c;
	char *r = realloc(h->resp, h->resp_len + s * n + 1);

	if (!r)
		return 0;
	memcpy(r + h->resp_len, p, s * n);
	h->resp = r;
	h->resp_len += s * n;
	r[h->resp_len] = '\0';
	return s * n;
}

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		double *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double lat_pct(struct lat *l, double p)
{
	size_t i;

	if (!l->n)
		return 0;
	i = (size_t)(p * (double)(l->n - 1) + 0.5);
	return l->v[i];
}

/* Envelope || blob for h's replica; returns the envelope's length. */
static size_t make_upload(struct load *ld, struct sim *h)
{
	unsigned char raw[LOAD_RAW], *blob = NULL, *env = NULL;
	size_t blob_len = 0, env_len = 0, i;
	struct blob_header hdr;
	struct result r;
	struct error err;
	unsigned x = ++ld->counter;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i < sizeof(x) ? x >> (8 * i) : i % 7);
	if (blob_encode_mem(raw, sizeof(raw), BLOB_CODEC_ZLIB, &blob, &blob_len, &hdr, &err) < 0)
		goto fail;
	result_init(&r);
	r.unit_id = h->unit;
	r.host = h->pk;
	r.output = hdr.hash;
	r.output_size = sizeof(raw);
	r.metrics.loss_first = 4.0;
	r.metrics.loss_last = 3.5;
	snprintf(r.compute.device, sizeof(r.compute.device), "server-load");
	r.compute.seconds = 1;
	r.compute.steps = 1;
	if (result_seal(&r, &h->sk, &env, &env_len, &err) < 0)
		goto fail;
	free(h->body);
	h->body_len = env_len + blob_len;
	h->body = malloc(h->body_len);
	if (!h->body)
		goto fail;
	memcpy(h->body, env, env_len);
	memcpy(h->body + env_len, blob, blob_len);
	free(blob);
	free(env);
	return env_len;
fail:
	fprintf(stderr, "server-load: cannot build a result: %s\n", err.msg);
	free(blob);
	free(env);
	return 0;
}

/* Arms h for its next request (h->kind). */
static int arm(struct load *ld, struct sim *h)
{
	char path[64], url[160], line[200], pkhex[KEY_PUBLIC_HEX_LEN + 1];
	const char *method = "POST";
	struct auth_headers ah;
	struct hash bh;
	struct error err;
	size_t env_len = 0;

	free(h->body);
	h->body = NULL;
	h->body_len = 0;
	if (h->kind == K_REGISTER) {
		snprintf(path, sizeof(path), "/api/v1/hosts");
		key_public_to_hex(&h->pk, pkhex);
		h->body = malloc(200);
		if (!h->body)
			return -1;
		h->body_len = (size_t)snprintf(
		    (char *)h->body, 200,
		    "{\"public_key\":\"%s\",\"account\":\"load%d\",\"device\":\"sim\"}", pkhex,
		    (int)(h - ld->sims));
	} else if (h->kind == K_WORK) {
		snprintf(path, sizeof(path), "/api/v1/work");
	} else {
		method = "PUT";
		snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)h->replica);
		env_len = make_upload(ld, h);
		if (!env_len)
			return -1;
	}
	hash_buf(&bh, h->body ? (const void *)h->body : "", h->body_len);
	if (auth_sign_request(&h->sk, method, path, h->kind == K_REGISTER ? 0 : h->id,
			      (int64_t)time(NULL), &bh, &ah, &err) < 0) {
		fprintf(stderr, "server-load: %s\n", err.msg);
		return -1;
	}
	curl_slist_free_all(h->hdrs);
	h->hdrs = NULL;
	snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_TIME, ah.time);
	h->hdrs = curl_slist_append(h->hdrs, line);
	snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_NONCE, ah.nonce);
	h->hdrs = curl_slist_append(h->hdrs, line);
	snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_SIGNATURE, ah.signature);
	h->hdrs = curl_slist_append(h->hdrs, line);
	if (h->kind != K_REGISTER) {
		snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_HOST, ah.host);
		h->hdrs = curl_slist_append(h->hdrs, line);
	}
	if (env_len) {
		snprintf(line, sizeof(line), "X-Agora-Envelope-Length: %zu", env_len);
		h->hdrs = curl_slist_append(h->hdrs, line);
	}
	h->hdrs = curl_slist_append(h->hdrs, "Expect:");
	snprintf(url, sizeof(url), "%s%s", ld->base, path);
	curl_easy_setopt(h->c, CURLOPT_URL, url);
	curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE, (long)h->body_len);
	curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, h->body ? (const char *)h->body : "");
	h->resp_len = 0;
	h->t0 = now_s();
	return 0;
}

/* Records h's answer and picks its next request. */
static void answer(struct load *ld, struct sim *h, long code, double t)
{
	json_t *j = h->resp_len ? json_loadb(h->resp, h->resp_len, 0, NULL) : NULL;
	struct lat *l = &ld->lat[h->kind];
	int ok = 0;

	if (h->kind == K_REGISTER && (code == 200 || code == 201)) {
		h->id = json_integer_value(json_object_get(j, "host_id"));
		ok = h->id > 0;
		h->kind = ok ? K_WORK : K_REGISTER;
	} else if (h->kind == K_WORK && code == 200) {
		const char *u = json_string_value(json_object_get(j, "unit_id"));
		struct error err;
		ok = 1;
		if (u && hash_from_hex(&h->unit, u, &err) == 0) {
			h->replica = json_integer_value(json_object_get(j, "replica"));
			if (!ld->dispatched++)
				ld->first_dispatch = t;
			h->kind = ld->work_only ? K_WORK : K_RESULT;
		} else {
			ld->no_work++;
		}
	} else if (h->kind == K_RESULT && code == 201) {
		ld->results++;
		ok = 1;
		h->kind = K_WORK;
	} else {
		if (l->bad++ < 3)
			fprintf(stderr, "server-load: %s: %ld %.*s\n", kind_names[h->kind], code,
				(int)(h->resp_len > 200 ? 200 : h->resp_len),
				h->resp ? h->resp : "");
		if (h->kind == K_RESULT)
			h->kind = K_WORK;
	}
	if (ok)
		lat_add(l, (t - h->t0) * 1e3);
	json_decref(j);
}

/* Runs the cycle for secs (new hosts register first); returns elapsed. */
static double run(struct load *ld, double secs)
{
	CURLM *m = curl_multi_init();
	double t0 = now_s(), t;
	int i, running = 1, q, inflight = 0;

	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)ld->n + 16);
	for (i = 0; i < ld->n; i++)
		if (arm(ld, &ld->sims[i]) == 0) {
			curl_multi_add_handle(m, ld->sims[i].c);
			inflight++;
		}
	while (inflight > 0) {
		CURLMsg *msg;
		curl_multi_perform(m, &running);
		t = now_s();
		while ((msg = curl_multi_info_read(m, &q))) {
			long code = 0;
			char *priv;
			struct sim *h;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			h = (struct sim *)priv;
			curl_multi_remove_handle(m, h->c);
			inflight--;
			answer(ld, h, msg->data.result == CURLE_OK ? code : -1, t);
			if (t - t0 < secs && arm(ld, h) == 0) {
				curl_multi_add_handle(m, h->c);
				inflight++;
			}
		}
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	curl_multi_cleanup(m);
	return now_s() - t0;
}

static void report(struct load *ld, double elapsed, double end)
{
	double span = end - ld->first_dispatch, rate;
	int k;

	rate = ld->dispatched && span > 0 ? (double)ld->dispatched / span : 0;
	printf("%-9s %9s %9s %9s %6s\n", "request", "count", "p50 ms", "p99 ms", "failed");
	for (k = 0; k < K_N; k++) {
		struct lat *l = &ld->lat[k];
		qsort(l->v, l->n, sizeof(double), cmp_double);
		printf("%-9s %9zu %9.2f %9.2f %6ld%s\n", kind_names[k], l->n, lat_pct(l, 0.5),
		       lat_pct(l, 0.99), l->bad,
		       k != K_REGISTER && lat_pct(l, 0.99) >= LOAD_TARGET_P99_MS
			   ? "  (target p99 < 20 ms: not met)"
			   : "");
	}
	printf("units dispatched: %ld in %.1f s = %.0f units/s (results stored: %ld, "
	       "no-work answers: %ld; run %.1f s)\n",
	       ld->dispatched, span, rate, ld->results, ld->no_work, elapsed);
	printf("target: >= %.0f units/s: %s; peer: BOINC scheduler, published: %.0f/s\n",
	       LOAD_TARGET_PER_S, rate >= LOAD_TARGET_PER_S ? "met" : "NOT met", LOAD_BOINC_PER_S);
}

/* Bulk rows: a running job with units units of quorum 1 (one replica
 * each) and hosts extra hosts, in one transaction. */
static int fill(struct server *s, long hosts, long units)
{
	static const char model[] =
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	struct db *db = server_db(s);
	char sql[2000];
	int rc;

	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "INSERT INTO blobs VALUES ('%s', 1, 1, 1);"
		 "INSERT INTO datasets (id, name, owner, licence, source, created)"
		 " VALUES (1, 'd', 'o', 'l', 's', 1);"
		 "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed,"
		 " state, created) VALUES (1, 'j', 1, '{}', 1, 1, 1, 1, 'running', 1);"
		 "INSERT INTO rounds (job, round, model, created) VALUES (1, 0, '%s', 1);"
		 "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
		 " INSERT INTO units (job, round, idx, envelope, quorum, deadline_s, created, uid)"
		 " SELECT 1, 0, i, CAST(printf('%%.700c', 'x') AS BLOB), 1, 3600, 1,"
		 " lower(hex(randomblob(32))) FROM c;"
		 "INSERT INTO replicas (unit) SELECT id FROM units;"
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
		 " INSERT INTO hosts (public_key, account, device, created, last_seen)"
		 " SELECT randomblob(32), 'bulk' || i, 'pocl cpu', 1, 1 FROM c;"
		 "COMMIT;",
		 model, model, units - 1, hosts);
	db_lock(db);
	rc = sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	if (rc < 0)
		fprintf(stderr, "server-load: %s\n", sqlite3_errmsg(db_sqlite(db)));
	db_unlock(db);
	return rc;
}

static long vm_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static struct load *load_new(int n)
{
	struct load *ld = calloc(1, sizeof(*ld));
	int i;

	if (!ld || !(ld->sims = calloc((size_t)n, sizeof(*ld->sims))))
		return NULL;
	ld->n = n;
	ld->work_only = getenv("AGORA_LOAD_WORK_ONLY") != NULL;
	for (i = 0; i < n; i++) {
		struct sim *h = &ld->sims[i];
		if (key_generate(&h->pk, &h->sk) < 0 || !(h->c = curl_easy_init()))
			return NULL;
		curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h->c, CURLOPT_WRITEDATA, (void *)h);
		curl_easy_setopt(h->c, CURLOPT_PRIVATE, (void *)h);
		curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 60L);
	}
	return ld;
}

static void load_free(struct load *ld)
{
	int i, k;

	for (i = 0; i < ld->n; i++) {
		curl_easy_cleanup(ld->sims[i].c);
		curl_slist_free_all(ld->sims[i].hdrs);
		free(ld->sims[i].body);
		free(ld->sims[i].resp);
	}
	for (k = 0; k < K_N; k++)
		free(ld->lat[k].v);
	free(ld->sims);
	free(ld);
}

/* One server with db_hosts/units bulk rows, the load for secs. */
static int phase(int n, double secs, long db_hosts, long units, unsigned threads, int memory)
{
	struct server_options opt = {.listen = "127.0.0.1:0",
				     .threads = threads,
				     .max_in_progress = -1,
				     .register_burst = 1u << 30,
				     .register_every_s = 1};
	char dir[] = "/tmp/agora-load-XXXXXX", state[64], cmd[128];
	struct server *s = NULL;
	struct load *ld;
	struct error err;
	double t0, elapsed;
	uint64_t commits0, writes0, commits, writes;
	long rss0 = 0;

	if (!mkdtemp(dir))
		return -1;
	snprintf(state, sizeof(state), "%s/state", dir);
	opt.state_dir = state;
	if (server_open(&s, &opt, &err) < 0) {
		fprintf(stderr, "server-load: cannot open: %s\n", err.msg);
		return -1;
	}
	t0 = now_s();
	if (fill(s, db_hosts, units) < 0 || server_start(s, &err) < 0) {
		fprintf(stderr, "server-load: cannot start\n");
		return -1;
	}
	if (memory) {
		rss0 = vm_rss_kib();
		printf("database: %ld bulk hosts + %ld units (%ld replicas) in %.1f s; "
		       "VmRSS, server started: %.1f MiB\n",
		       db_hosts, units, units, now_s() - t0, (double)rss0 / 1024);
	}
	if (!(ld = load_new(n)))
		return -1;
	snprintf(ld->base, sizeof(ld->base), "http://127.0.0.1:%u", server_port(s));
	db_commit_counts(server_db(s), &commits0, &writes0);
	elapsed = run(ld, secs);
	report(ld, elapsed, now_s());
	db_commit_counts(server_db(s), &commits, &writes);
	commits -= commits0;
	writes -= writes0;
	printf("database: %" PRIu64 " writes in %" PRIu64 " group commits (one WAL fsync each):"
	       " %.1f writes per commit, %.2f commits per unit dispatched\n",
	       writes, commits, commits ? (double)writes / (double)commits : 0.0,
	       ld->dispatched ? (double)commits / (double)ld->dispatched : 0.0);
	if (memory) {
		long rss = vm_rss_kib();
		printf("VmRSS after serving %d hosts for %.0f s: %.1f MiB "
		       "(server + this client; target < 200 MB: %s)\n",
		       n, secs, (double)rss / 1024, rss * 1024.0 < 200e6 ? "met" : "NOT met");
	}
	load_free(ld);
	server_free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "server-load: cannot remove '%s'\n", dir);
	return 0;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	double secs = argc > 2 ? strtod(argv[2], NULL) : 10;
	long db_hosts = argc > 3 ? strtol(argv[3], NULL, 10) : 100000;
	long db_units = argc > 4 ? strtol(argv[4], NULL, 10) : 1000000;
	long threads = argc > 5 ? strtol(argv[5], NULL, 10) : 0;
	struct rlimit rl;

	if (n < 1 || n > 20000 || secs <= 0 || secs > 3600 || db_hosts < 0 || db_units < 0 ||
	    threads < 0 || threads > 64) {
		fprintf(stderr, "usage: server-load [HOSTS [SECONDS [DB_HOSTS DB_UNITS "
				"[THREADS]]]]\n");
		return 2;
	}
	/* Two descriptors per simulated host (both ends are in this process). */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("agora-server load: %ld simulated hosts, %.0f s, HTTP threads %ld (0: default, "
	       "8 per CPU)\n",
	       n, secs, threads);
	if (phase((int)n, secs, 0, 100000, (unsigned)threads, 0) < 0)
		return 1;
	if (db_units > 0) {
		printf("\nmemory:\n");
		if (phase((int)n, secs, db_hosts, db_units, (unsigned)threads, 1) < 0)
			return 1;
	}
	curl_global_cleanup();
	return 0;
}
