/*
 * cluster.c - real server and client processes for the client tests (see
 * cluster.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/fileio.h"
#include "kernels/model.h"
#include "server-tools/blobstore.h"
#include "server-tools/db.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "tests/tap.h"
#include "tests/unit/client/cluster.h"
#include "workunits/unit.h"

#define CLUSTER_PREFS "idle-only = no\npause-on-battery = no\nmax-temp-c = 0\n"

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

void cluster_bin(const char *name, char *out, size_t size)
{
	const char *top = getenv("top_builddir");

	snprintf(out, size, "%s/%s", top && *top ? top : ".", name);
}

int cluster_open(struct cluster *c, const char *preset)
{
	struct server_options opt = {.listen = "127.0.0.1:0", .threads = 1};
	const struct model_config *cfg = model_preset_find(preset);
	struct server *srv = NULL;
	struct error err;
	size_t n = model_param_count(cfg);
	float *theta = malloc(n * sizeof(float));
	unsigned char *text;
	char path[400], hex[HASH_HEX_LEN + 1];
	struct sched_job job = {.name = "test-job",
				.dataset = 1,
				.spec = "{}",
				.quorum = 1,
				.rounds = 1,
				.inner_steps = 1,
				.seed = 1};
	int64_t id;
	int ret = -1;

	memset(c, 0, sizeof(*c));
	c->preset = preset;
	c->shard_len = 64 * 1024;
	text = malloc(c->shard_len);
	if (!theta || !text || tap_tmpdir(c->root, sizeof(c->root)) < 0)
		goto out;
	snprintf(c->sstate, sizeof(c->sstate), "%s/server", c->root);
	opt.state_dir = c->sstate;
	if (server_open(&srv, &opt, &err) < 0) {
		tap_diag("server_open: %s", err.msg);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/keys/coordinator.key", c->sstate);
	if (key_load_secret(&c->coord_sk, path, &err) < 0)
		goto out;
	key_public_of(&c->coord_pk, &c->coord_sk);
	model_init_params(cfg, 7, theta);
	for (size_t i = 0; i < c->shard_len; i++) /* text-like bytes */
		text[i] = (unsigned char)(' ' + model_rng_u64(99, i) % 95);
	if (blobstore_put_mem(server_blobstore(srv), theta, n * sizeof(float), BLOB_CODEC_ZLIB,
			      &c->model, NULL, &err) < 0 ||
	    blobstore_put_mem(server_blobstore(srv), text, c->shard_len, BLOB_CODEC_ZLIB, &c->shard,
			      NULL, &err) < 0)
		goto out;
	hash_to_hex(&c->model, hex);
	if (db_blob_add(server_db(srv), hex, (int64_t)(n * sizeof(float)), 0, time(NULL)) < 0)
		goto out;
	hash_to_hex(&c->shard, hex);
	if (db_blob_add(server_db(srv), hex, (int64_t)c->shard_len, 0, time(NULL)) < 0)
		goto out;
	hash_to_hex(&c->model, hex);
	if (sched_dataset_add(server_db(srv), "test-data", "tests", "cc0", "generated", time(NULL),
			      &id) < 0 ||
	    sched_job_add(server_db(srv), &job, time(NULL), &id) < 0 ||
	    sched_job_set_state(server_db(srv), id, "running", NULL) < 0 ||
	    sched_round_add(server_db(srv), id, 0, hex, time(NULL)) < 0)
		goto out;
	ret = 0;
out:
	server_free(srv);
	free(theta);
	free(text);
	return ret;
}

int cluster_unit(struct cluster *c, const struct cluster_unit_opts *o, struct hash *uid)
{
	const char *preset = o->preset ? o->preset : c->preset;
	const struct model_config *cfg = model_preset_find(c->preset);
	struct server_options opt = {.state_dir = c->sstate, .listen = "127.0.0.1:0"};
	struct server *srv = NULL;
	struct error err;
	struct unit u;
	unsigned char *env = NULL;
	size_t env_len;
	char hex[HASH_HEX_LEN + 1];
	int64_t row;
	int ret = -1;

	unit_init(&u);
	snprintf(u.job, sizeof(u.job), "test-job");
	u.round = 0;
	u.index = (uint64_t)c->next_index;
	u.model = c->model;
	snprintf(u.preset, sizeof(u.preset), "%s", preset);
	u.n_data = 2;
	u.data[0].shard = c->shard;
	u.data[0].offset = 1000 + (uint64_t)c->next_index * 512;
	u.data[0].length = 8192;
	u.data[1].shard = c->shard;
	u.data[1].offset = 30000;
	u.data[1].length = 4096;
	u.hyper.lr = 1e-3;
	u.hyper.beta1 = 0.9;
	u.hyper.beta2 = 0.95;
	u.hyper.eps = 1e-8;
	u.hyper.weight_decay = 0.1;
	u.hyper.clip = 1.0;
	u.hyper.batch = (uint32_t)o->batch;
	u.hyper.context = (uint32_t)cfg->n_ctx;
	u.steps = (uint32_t)o->steps;
	u.seed = 42;
	u.kernel_abi = o->kernel_abi ? o->kernel_abi : 1;
	u.deadline = time(NULL) + 3600;
	u.flops = 1e6;
	if (unit_seal(&u, o->signer ? o->signer : &c->coord_sk, &env, &env_len, uid, &err) < 0) {
		tap_diag("unit_seal: %s", err.msg);
		return -1;
	}
	hash_to_hex(uid, hex);
	if (server_open(&srv, &opt, &err) == 0) {
		struct sched_unit su = {.job = 1,
					.round = 0,
					.index = c->next_index,
					.envelope = env,
					.envelope_len = env_len,
					.uid = hex,
					.quorum = o->quorum,
					.deadline_s = 3600,
					.flops = 1e6};
		ret = sched_unit_add(server_db(srv), &su, time(NULL), &row) < 0 ? -1 : 0;
	} else {
		tap_diag("server_open: %s", err.msg);
	}
	server_free(srv);
	free(env);
	c->next_index++;
	return ret;
}

static int read_port(const char *log, unsigned *port)
{
	unsigned char *buf = NULL;
	size_t len;
	const char *p;
	int ok = 0;

	if (fileio_read_all(log, 1 << 20, &buf, &len, NULL) < 0)
		return 0;
	p = strstr((char *)buf, "(port ");
	if (p) {
		*port = (unsigned)strtoul(p + 6, NULL, 10);
		ok = *port > 0;
	}
	free(buf);
	return ok;
}

int cluster_server_start(struct cluster *c, unsigned port)
{
	char bin[512], listen[64], log[400], beat[16];
	const char *argv[16];
	int n = 0;
	pid_t pid;

	cluster_bin("agora-server", bin, sizeof(bin));
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	snprintf(log, sizeof(log), "%s/server-%d.log", c->root, ++c->server_runs);
	snprintf(beat, sizeof(beat), "%u", c->heartbeat_s);
	argv[n++] = bin;
	argv[n++] = "--state";
	argv[n++] = c->sstate;
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--threads";
	argv[n++] = "2";
	if (c->tls_cert) {
		argv[n++] = "--tls-cert";
		argv[n++] = c->tls_cert;
		argv[n++] = "--tls-key";
		argv[n++] = c->tls_key;
	}
	if (c->heartbeat_s) {
		argv[n++] = "--heartbeat";
		argv[n++] = beat;
	}
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	c->server = pid;
	for (double end = mono() + 20; mono() < end; msleep(20)) {
		if (read_port(log, &c->port)) {
			snprintf(c->url, sizeof(c->url), "%s://127.0.0.1:%u",
				 c->tls_cert ? "https" : "http", c->port);
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			c->server = 0;
			break;
		}
	}
	tap_diag("agora-server did not start (see %s)", log);
	return -1;
}

void cluster_server_signal(struct cluster *c, int sig)
{
	if (c->server > 0)
		kill(c->server, sig);
}

void cluster_server_reap(struct cluster *c)
{
	if (c->server > 0 && cluster_wait(c->server, 20) == -1)
		tap_diag("the server had to be killed");
	c->server = 0;
}

pid_t cluster_client(struct cluster *c, const char *name, const char *const *args)
{
	char bin[512], state[400], log[400];
	const char *argv[32];
	int n = 0;
	pid_t pid;

	cluster_bin("agora-client", bin, sizeof(bin));
	snprintf(state, sizeof(state), "%s/%s", c->root, name);
	snprintf(log, sizeof(log), "%s/%s.log", c->root, name);
	argv[n++] = bin;
	for (; *args && n < 28; args++)
		argv[n++] = *args;
	argv[n++] = "--state";
	argv[n++] = state;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		char prefs[400];

		/* compute whether or not someone uses the machine (make check sets
		 * the same through AGORA_PREFS_FILE; this covers a run by hand) */
		snprintf(prefs, sizeof(prefs), "%s/prefs-compute.conf", c->root);
		if (!getenv("AGORA_PREFS_FILE") &&
		    fileio_write_atomic(prefs, CLUSTER_PREFS, strlen(CLUSTER_PREFS), 0600, 0,
					NULL) == 0)
			setenv("AGORA_PREFS_FILE", prefs, 1);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int cluster_wait(pid_t pid, double timeout_s)
{
	int st;

	for (double end = mono() + timeout_s; mono() < end; msleep(20)) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0 && errno != EINTR)
			return -1;
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

long long cluster_sql(struct cluster *c, const char *sql)
{
	char path[400];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/state.db", c->sstate);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		tap_diag("sql '%s': %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

int cluster_log_has(struct cluster *c, const char *name, const char *text)
{
	char log[400];
	unsigned char *buf = NULL;
	size_t len;
	int has;

	snprintf(log, sizeof(log), "%s/%s.log", c->root, name);
	if (fileio_read_all(log, 16 << 20, &buf, &len, NULL) < 0)
		return 0;
	has = strstr((char *)buf, text) != NULL;
	free(buf);
	return has;
}

void cluster_client_path(struct cluster *c, const char *name, const char *rest, char *out,
			 size_t size)
{
	snprintf(out, size, "%s/%s/%s", c->root, name, rest);
}

void cluster_close(struct cluster *c)
{
	char cmd[400];

	if (c->server > 0) {
		kill(c->server, SIGTERM);
		cluster_server_reap(c);
	}
	if (getenv("AGORA_KEEP_TMP")) {
		tap_diag("kept %s", c->root);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->root);
	if (c->root[0] && system(cmd) != 0)
		tap_diag("cannot remove %s", c->root);
}
