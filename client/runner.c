/*
 * runner.c - the run loop (see runner.h). Every failure that concerns one
 * unit or one project is logged in one line and the loop carries on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/blobcache.h"
#include "client/compute.h"
#include "client/idle.h"
#include "client/net.h"
#include "client/runner.h"
#include "client/runner_impl.h"
#include "client/state.h"
#include "client/status.h"
#include "common/log.h"
#include "kernels/model.h"
#include "workunits/envelope.h"
#include "workunits/result.h"
#include "workunits/unit.h"

volatile sig_atomic_t runner_stop;
static volatile sig_atomic_t runner_halt; /* stop, or pause (client/idle.h) */
static int runner_failed;                 /* a device failure ended the run: exit 1 */

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The network handle for a request to p: its CA file is --cacert when
 * given, else the one the project was attached with, else the system's. */
struct net *runner_net_for(struct runner *r, const struct project *p)
{
	r->net.cacert = r->o->cacert ? r->o->cacert : (p->cacert[0] ? p->cacert : NULL);
	return &r->net;
}

/* Measures the clock offset to p's server (GET /api/v1/project, its
 * server_time) and keeps it for signing, in memory and in project.json. */
static int clock_sync(struct runner *r, struct project *p)
{
	char url[STATE_URL_MAX + 32];
	struct net_response resp;
	struct project disk;
	struct error err;
	json_t *o;
	json_int_t t;

	error_clear(&err);
	snprintf(url, sizeof(url), "%s/api/v1/project", p->url);
	if (net_request(runner_net_for(r, p), "GET", url, NULL, NULL, 0, NET_CONTROL_MAX, &resp,
			&err) < 0)
		return -1;
	o = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	t = json_integer_value(json_object_get(o, "server_time"));
	json_decref(o);
	net_response_release(&resp);
	if (resp.status != 200 || t <= 0 || llabs((long long)(t - time(NULL))) > STATE_SKEW_MAX)
		return -1;
	p->clock_skew = (int64_t)t - (int64_t)time(NULL);
	log_warn("'%s' refused a request as stale: its clock is %+llds from this machine's, "
		 "signing with its time from now on",
		 p->url, (long long)p->clock_skew);
	if (state_project_load(r->o->state, p->slug, &disk, &err) == 0) {
		disk.clock_skew = p->clock_skew;
		if (state_project_save(r->o->state, &disk, &err) < 0)
			log_warn("cannot update project '%s': %s", p->url, err.msg);
	}
	return 0;
}

static int is_stale(const struct net_response *resp)
{
	json_t *o = json_loadb((const char *)resp->body, resp->len, 0, NULL);
	const char *code = json_string_value(json_object_get(o, "error"));
	int stale = resp->status == 401 && code && strcmp(code, "stale_request") == 0;

	json_decref(o);
	return stale;
}

/* A signed request to p with p's clock offset; a request refused as stale
 * re-measures the offset and is sent once more. As net_signed(). */
static int signed_req(struct runner *r, struct project *p, const struct key_secret *sk,
		      const char *method, const char *path, const char *extra, const void *body,
		      size_t len, size_t max, struct net_response *resp, struct error *err)
{
	for (int attempt = 0;; attempt++) {
		struct net *n = runner_net_for(r, p);
		int ret;

		n->skew = p->clock_skew;
		ret = net_signed(n, sk, p->host_id, method, p->url, path, extra, body, len, max,
				 resp, err);
		if (ret < 0 || attempt > 0 || !is_stale(resp) || clock_sync(r, p) < 0)
			return ret;
		net_response_release(resp);
	}
}

void runner_status_set(struct runner *r, const char *state)
{
	struct error err;

	snprintf(r->st.state, sizeof(r->st.state), "%s", state);
	r->st.units_done = (uint64_t)r->units;
	error_clear(&err);
	if (status_write(r->status_path, &r->st, &err) < 0)
		log_warn("cannot write the status file: %s", err.msg);
	r->last_status = mono();
}

/* Rewrites the status file when it is STATUS_PERIOD_S old (the
 * screensaver tells a live client from a dead one by "updated"). */
static void status_tick(void *ctx)
{
	struct runner *r = ctx;
	char state[sizeof(r->st.state)];

	if (mono() - r->last_status < STATUS_PERIOD_S)
		return;
	memcpy(state, r->st.state, sizeof(state));
	runner_status_set(r, state);
}

/* Sleeps s seconds in short slices, keeping the status file fresh;
 * returns early when stopped. */
static void nap(struct runner *r, double s)
{
	double end = mono() + s;

	while (!runner_stop && mono() < end) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		status_tick(r);
	}
}

static void heartbeat_computing(struct runner *r);

static void on_progress(void *ctx, const struct compute_progress *p)
{
	struct runner *r = ctx;
	double now = mono();
	double per = p->step ? p->seconds / (double)p->step : 0;

	r->st.step = p->step;
	r->st.steps = p->steps;
	r->st.loss = p->loss;
	r->st.eta_s = per * (double)(p->steps - p->step);
	if (now - r->last_status >= STATUS_PERIOD_S || p->step == p->steps)
		runner_status_set(r, "computing");
	if (r->tty || now - r->last_line >= 10.0 || p->step == p->steps) {
		status_progress(r->tty ? stdout : stderr, r->tty, &r->st);
		r->last_line = now;
	}
	heartbeat_computing(r);
	/* desktop (client/idle.h): the duty cycle, a pause when the user is back */
	if (runner_stop || !idle_gate_step(&runner_stop, r->st.reason, sizeof(r->st.reason)))
		runner_halt = 1;
}

/* Desktop (client/idle.h): waits, with status "paused" and the reason,
 * until the preferences allow computing; 0 when stopped meanwhile. */
static void on_paused(void *ctx, const char *why)
{
	struct runner *r = ctx;

	snprintf(r->st.reason, sizeof(r->st.reason), "%s", why);
	runner_status_set(r, "paused");
}

static int desk_wait(struct runner *r)
{
	int go = idle_gate_wait(&runner_stop, on_paused, r);

	r->st.reason[0] = '\0';
	runner_halt = runner_stop;
	return go;
}

/* Tells the server this host gives the replica up (POST /api/v1/abandon),
 * so that a replacement goes out at once instead of after the deadline.
 * Best effort: one try; the deadline covers a lost request. */
static void abandon(struct runner *r, struct job *j, const char *why)
{
	char reason[201];
	size_t len = strlen(why);
	struct net_response resp;
	struct key_secret sk;
	struct error err;
	json_t *o;
	char *body;
	int ret;

	if (len > 200)
		len = 200;
	while (len > 0 && len < strlen(why) && ((unsigned char)why[len] & 0xc0) == 0x80)
		len--; /* do not cut a UTF-8 sequence */
	for (size_t i = 0; i < len; i++)
		reason[i] = (unsigned char)why[i] < 32 || why[i] == 127 ? ' ' : why[i];
	reason[len] = '\0';
	o = json_pack("{s:I, s:s}", "replica", (json_int_t)j->replica, "reason", reason);
	if (!o)
		o = json_pack("{s:I, s:s}", "replica", (json_int_t)j->replica, "reason", "refused");
	body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	error_clear(&err);
	if (!body || state_host_key(r->o->state, &j->p, &sk, &err) < 0) {
		free(body);
		return;
	}
	ret = signed_req(r, &j->p, &sk, "POST", "/api/v1/abandon", NULL, body, strlen(body),
			 NET_CONTROL_MAX, &resp, &err);
	sodium_memzero(&sk, sizeof(sk));
	free(body);
	if (ret < 0) {
		log_warn("cannot tell '%s' that replica %lld is given up: %s", j->p.url,
			 (long long)j->replica, err.msg);
		return;
	}
	if (resp.status != 200 && resp.status != 409) {
		char d[300];
		net_describe(&resp, d, sizeof(d));
		log_warn("giving up replica %lld: '%s' answered %s", (long long)j->replica,
			 j->p.url, d);
	}
	net_response_release(&resp);
}

/* Gives the unit up: tells the server, removes its directory. */
static void forget(struct runner *r, struct job *j, const char *why)
{
	abandon(r, j, why);
	if (state_remove_tree(j->dir) < 0)
		log_warn("cannot remove '%s'", j->dir);
}

static void drop(struct runner *r, struct job *j, const char *why)
{
	log_warn("dropping unit %.16s (replica %lld) from '%s': %s", j->id_hex[0] ? j->id_hex : "?",
		 (long long)j->replica, j->p.url, why);
	forget(r, j, why);
}

/* dir/name into out (FILEIO_PATH_MAX); a name that does not fit becomes
 * "" (every open of it then fails cleanly). */
static void path_in(char *out, const char *dir, const char *name)
{
	if (snprintf(out, FILEIO_PATH_MAX, "%s/%s", dir, name) >= FILEIO_PATH_MAX)
		out[0] = '\0';
}

/* Reads the assignment and opens the envelope with the pinned key. */
int runner_job_open(struct job *j, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	unsigned char *buf = NULL;
	const char *env;
	json_int_t beat;
	size_t len;
	json_t *o;
	int ret;

	path_in(path, j->dir, "assignment.json");
	if ((ret = fileio_read_all(path, ASSIGNMENT_MAX, &buf, &len, err)) < 0)
		return ret;
	o = json_loadb((const char *)buf, len, 0, NULL);
	free(buf);
	env = json_string_value(json_object_get(o, "envelope"));
	j->replica = json_integer_value(json_object_get(o, "replica"));
	j->deadline = json_integer_value(json_object_get(o, "deadline"));
	beat = json_integer_value(json_object_get(o, "next_heartbeat_s"));
	j->beat_s =
	    beat >= 1 && beat <= RUNNER_HEARTBEAT_MAX_S ? (unsigned)beat : RUNNER_HEARTBEAT_S;
	if (!env) {
		json_decref(o);
		return error_set(err, ERROR_FORMAT, "no envelope in '%s'", path);
	}
	ret = unit_open(&j->u, &j->id, env, strlen(env), &j->p.server_key, err);
	json_decref(o);
	if (ret < 0)
		return ret;
	hash_to_hex(&j->id, j->id_hex);
	return compute_check_unit(&j->u, err);
}

/* Loads θ_r and the concatenated data ranges (sizes checked first). */
static int load_inputs(struct runner *r, struct job *j, unsigned char **theta, size_t *theta_len,
		       unsigned char **data, size_t *data_len, struct error *err)
{
	const struct model_config *cfg = model_preset_find(j->u.preset);
	size_t want = model_param_count(cfg) * sizeof(float), total = 0, at = 0;
	uint64_t size;
	int ret;

	if ((ret = blobcache_size(&r->cache, &j->u.model, &size, err)) < 0)
		return ret;
	if (size != want)
		return error_set(err, ERROR_FORMAT, "model blob has %llu bytes, '%s' needs %zu",
				 (unsigned long long)size, j->u.preset, want);
	for (size_t i = 0; i < j->u.n_data; i++)
		total += (size_t)j->u.data[i].length; /* capped by compute_check_unit */
	*theta = malloc(want);
	*data = malloc(total);
	if (!*theta || !*data)
		return error_set(err, ERROR_NOMEM, "out of memory for the unit's inputs");
	if ((ret = blobcache_read(&r->cache, &j->u.model, 0, *theta, want, err)) < 0)
		return ret;
	for (size_t i = 0; i < j->u.n_data; i++) {
		const struct unit_data *d = &j->u.data[i];

		ret = blobcache_read(&r->cache, &d->shard, d->offset, *data + at, (size_t)d->length,
				     err);
		if (ret < 0)
			return ret;
		at += (size_t)d->length;
	}
	*theta_len = want;
	*data_len = total;
	return 0;
}

/* Seals the result and writes result.blob, then result.env (its presence
 * means "computed"). */
static int save_result(struct runner *r, struct job *j, const struct compute_output *c,
		       struct error *err)
{
	char path[FILEIO_PATH_MAX];
	struct key_secret sk;
	unsigned char *env = NULL;
	size_t env_len;
	int ret;

	if ((ret = state_host_key(r->o->state, &j->p, &sk, err)) < 0)
		return ret;
	ret = compute_seal_result(&j->id, c, &sk, &env, &env_len, err);
	sodium_memzero(&sk, sizeof(sk));
	if (ret < 0)
		return ret;
	path_in(path, j->dir, "result.blob");
	ret = fileio_write_atomic(path, c->blob, c->blob_len, 0600, 0, err);
	path_in(path, j->dir, "result.env");
	if (ret == 0)
		ret = fileio_write_atomic(path, env, env_len, 0600, 0, err);
	free(env);
	return ret;
}

static enum outcome compute_job(struct runner *r, struct job *j)
{
	struct compute_opts co = {r->o->device, j->dir,      r->o->ckpt_interval,
				  &runner_halt, on_progress, r};
	struct compute_output c;
	unsigned char *theta = NULL, *data = NULL;
	size_t theta_len = 0, data_len = 0;
	uint64_t resume = compute_ckpt_step(j->dir);
	struct error err;
	enum outcome res = UNIT_DROPPED;
	int ret;

	error_clear(&err);
	if (!desk_wait(r)) /* desktop: idle, hours, battery, heat (client/idle.h) */
		return UNIT_STOPPED;
	if (!idle_gate_unit_fits(j->u.preset, j->u.hyper.batch, err.msg, sizeof(err.msg))) {
		drop(r, j, err.msg);
		return UNIT_DROPPED;
	}
	if ((ret = runner_fetch_blobs(r, j, &err)) < 0) {
		log_warn("cannot fetch the blobs of unit %.16s from '%s': %s", j->id_hex, j->p.url,
			 err.msg);
		return ++r->fetch_fails >= RUNNER_FETCH_TRIES || time(NULL) > j->deadline
			   ? (drop(r, j, "blobs unavailable"), UNIT_DROPPED)
			   : UNIT_RETRY;
	}
	r->fetch_fails = 0;
	if ((ret = load_inputs(r, j, &theta, &theta_len, &data, &data_len, &err)) < 0)
		goto out;
	if (resume)
		log_info("resuming unit %.16s from its checkpoint at step %llu of %u", j->id_hex,
			 (unsigned long long)resume, (unsigned)j->u.steps);
	else
		log_info("computing unit %.16s (job '%s' round %llu, replica %lld): %u steps",
			 j->id_hex, j->u.job, (unsigned long long)j->u.round, (long long)j->replica,
			 (unsigned)j->u.steps);
	r->st.step = resume;
	r->st.steps = j->u.steps;
	runner_status_set(r, "computing");
	r->cur = j;
	r->last_beat = mono();
	ret = compute_unit(&j->u, theta, theta_len, data, data_len, &co, &c, &err);
	r->cur = NULL;
	if (ret == ERROR_DEVICE) {
		log_error(
		    "unit %.16s: device failure, stopping (the unit stays for the next run): %s",
		    j->id_hex, err.msg);
		runner_failed = 1;
		res = UNIT_STOPPED;
		goto out;
	}
	if (ret == ERROR_STATE && runner_stop) {
		log_info("unit %.16s: %s, checkpoint saved", j->id_hex, err.msg);
		res = UNIT_STOPPED;
		goto out;
	}
	if (ret == ERROR_STATE && runner_halt) { /* desktop: paused (client/idle.h) */
		log_info("unit %.16s: paused (%s), %s, checkpoint saved", j->id_hex, r->st.reason,
			 err.msg);
		runner_status_set(r, "paused");
		res = UNIT_RETRY;
		goto out;
	}
	if (ret == 0) {
		snprintf(r->st.device, sizeof(r->st.device), "%s", c.device);
		log_info("unit %.16s computed on '%s' in %.2fs (steps %llu..%u, loss %.4f -> %.4f)",
			 j->id_hex, c.device, c.seconds, (unsigned long long)c.resumed_from,
			 (unsigned)c.steps, c.loss_first, c.loss_last);
		ret = save_result(r, j, &c, &err);
		free(c.blob);
		res = ret == 0 ? UNIT_DONE : UNIT_DROPPED;
	}
out:
	if (ret < 0 && res == UNIT_DROPPED)
		drop(r, j, err.msg);
	free(theta);
	free(data);
	return res;
}

/* Sends a heartbeat to p; takes the host's credit from the answer when
 * the coordinator reports one ("credit", a number), else leaves it. */
static void heartbeat(struct runner *r, struct project *p)
{
	struct net_response resp;
	struct key_secret sk;
	struct error err;
	json_t *o, *credit;
	int ret;

	error_clear(&err);
	if (state_host_key(r->o->state, p, &sk, &err) < 0)
		return;
	ret = signed_req(r, p, &sk, "POST", "/api/v1/heartbeat", NULL, "{}", 2, NET_CONTROL_MAX,
			 &resp, &err);
	sodium_memzero(&sk, sizeof(sk));
	if (ret < 0) {
		log_debug("heartbeat to '%s' failed: %s", p->url, err.msg);
		return;
	}
	o = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	credit = json_object_get(o, "credit");
	if (resp.status == 200 && json_is_number(credit) && json_number_value(credit) >= 0)
		p->credit = json_number_value(credit);
	json_decref(o);
	net_response_release(&resp);
}

/* While the unit computes (from on_progress): a heartbeat once per the
 * server's period, with short network limits (runner.h). */
static void heartbeat_computing(struct runner *r)
{
	long connect = r->net.connect_timeout_s, stall = r->net.stall_s;

	if (!r->cur || mono() - r->last_beat < (double)r->cur->beat_s)
		return;
	r->last_beat = mono();
	r->net.connect_timeout_s = RUNNER_BEAT_CONNECT_S;
	r->net.stall_s = stall < RUNNER_BEAT_STALL_S ? stall : RUNNER_BEAT_STALL_S;
	heartbeat(r, &r->cur->p);
	r->net.connect_timeout_s = connect;
	r->net.stall_s = stall;
}

/* Marks the unit uploaded (durably), counts it, removes its directory. */
static void job_finish(struct runner *r, struct job *j, double seconds)
{
	char path[FILEIO_PATH_MAX];
	struct project p;
	struct error err;

	error_clear(&err);
	path_in(path, j->dir, "uploaded");
	if (fileio_write_atomic(path, "1\n", 2, 0600, 0, &err) < 0)
		log_warn("cannot mark a unit uploaded: %s", err.msg);
	if (state_project_load(r->o->state, j->p.slug, &p, &err) == 0) {
		p.compute_s += seconds;
		p.units_done++;
		heartbeat(r, &p);
		if (state_project_save(r->o->state, &p, &err) < 0)
			log_warn("cannot update project '%s': %s", p.url, err.msg);
	}
	if (state_remove_tree(j->dir) < 0)
		log_warn("cannot remove '%s'", j->dir);
	r->units++;
	runner_cache_trim(r); /* its blobs are no longer pinned */
}

/* Reads the seconds a stored result says it took. */
static double result_seconds(const unsigned char *env, size_t len)
{
	struct envelope_info info;
	struct result res;

	if (envelope_peek(&info, env, len, NULL) < 0 ||
	    result_parse(&res, info.payload, info.payload_len, NULL) < 0)
		return 0;
	return res.compute.seconds;
}

/* One PUT of envelope || blob. 1: done (201 or 409), 0: retry, -1: give up. */
static int upload_once(struct runner *r, struct job *j, const struct key_secret *sk,
		       const unsigned char *body, size_t len, size_t env_len)
{
	char path[64], extra[64], why[300];
	struct net_response resp;
	struct error err;

	snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)j->replica);
	snprintf(extra, sizeof(extra), "X-Agora-Envelope-Length: %zu", env_len);
	error_clear(&err);
	if (signed_req(r, &j->p, sk, "PUT", path, extra, body, len, NET_CONTROL_MAX, &resp, &err) <
	    0) {
		log_warn("cannot upload unit %.16s to '%s': %s", j->id_hex, j->p.url, err.msg);
		return 0;
	}
	net_describe(&resp, why, sizeof(why));
	net_response_release(&resp);
	if (resp.status == 201) {
		log_info("uploaded the result of unit %.16s (replica %lld)", j->id_hex,
			 (long long)j->replica);
		return 1;
	}
	if (resp.status == 409) {
		log_warn("unit %.16s: replica %lld is over (%s), forgetting the result", j->id_hex,
			 (long long)j->replica, why);
		return 1;
	}
	log_warn("upload of unit %.16s refused: %s", j->id_hex, why);
	return resp.status >= 400 && resp.status < 500 && resp.status != 401 &&
		       resp.status != 408 && resp.status != 429
		   ? -1
		   : 0;
}

static enum outcome upload_job(struct runner *r, struct job *j)
{
	char path[FILEIO_PATH_MAX];
	unsigned char *env = NULL, *blob = NULL, *body = NULL;
	size_t env_len = 0, blob_len = 0;
	struct key_secret sk;
	struct error err;
	enum outcome res = UNIT_RETRY;
	int got = 0;

	error_clear(&err);
	path_in(path, j->dir, "result.env");
	if (fileio_read_all(path, ENVELOPE_MAX, &env, &env_len, &err) < 0)
		goto bad;
	path_in(path, j->dir, "result.blob");
	if (fileio_read_all(path, (size_t)1 << 30, &blob, &blob_len, &err) < 0 ||
	    state_host_key(r->o->state, &j->p, &sk, &err) < 0)
		goto bad;
	body = malloc(env_len + blob_len);
	if (!body) {
		error_set(&err, ERROR_NOMEM, "out of memory for an upload");
		goto bad;
	}
	memcpy(body, env, env_len);
	memcpy(body + env_len, blob, blob_len);
	runner_status_set(r, "uploading");
	for (unsigned a = 0; a < RUNNER_UPLOAD_TRIES && !runner_stop; a++) {
		got = upload_once(r, j, &sk, body, env_len + blob_len, env_len);
		if (got != 0)
			break;
		nap(r, net_backoff(a, RUNNER_BACKOFF_BASE, RUNNER_BACKOFF_CAP));
	}
	sodium_memzero(&sk, sizeof(sk));
	if (got == 1) {
		job_finish(r, j, result_seconds(env, env_len));
		res = UNIT_DONE;
	} else if (got < 0) {
		drop(r, j, "the server refused the result");
		res = UNIT_DROPPED;
	} else if (runner_stop) {
		res = UNIT_STOPPED;
	}
	goto out;
bad:
	drop(r, j, err.msg);
	res = UNIT_DROPPED;
out:
	free(env);
	free(blob);
	free(body);
	return res;
}

/* Works on the unit in directory j->dir (project j->p). */
static enum outcome job_process(struct runner *r, struct job *j)
{
	char path[FILEIO_PATH_MAX];
	struct error err;
	enum outcome res;

	error_clear(&err);
	path_in(path, j->dir, "uploaded");
	if (access(path, F_OK) == 0) { /* uploaded before a crash: only forget it */
		if (state_remove_tree(j->dir) < 0)
			log_warn("cannot remove '%s'", j->dir);
		return UNIT_DONE;
	}
	if (runner_job_open(j, &err) < 0) {
		log_warn("refusing unit (replica %lld) from '%s': %s", (long long)j->replica,
			 j->p.url, err.msg);
		forget(r, j, err.msg);
		return UNIT_DROPPED;
	}
	snprintf(r->st.project, sizeof(r->st.project), "%s", j->p.url);
	snprintf(r->st.job, sizeof(r->st.job), "%s", j->u.job);
	memcpy(r->st.unit, j->id_hex, sizeof(r->st.unit));
	r->st.replica = j->replica;
	r->st.round = j->u.round;
	path_in(path, j->dir, "result.env");
	if (access(path, F_OK) != 0) {
		if (j->deadline > 0 && (int64_t)time(NULL) > j->deadline) {
			drop(r, j, "its deadline has passed");
			return UNIT_DROPPED;
		}
		res = compute_job(r, j);
		if (res != UNIT_DONE)
			return res;
	}
	return upload_job(r, j);
}

static int found_unit(struct runner *r, struct job *j)
{
	(void)r;
	(void)j;
	return 1;
}

/* Finds a unit directory left on disk; 1 when found (j filled). */
static int pending_find(struct runner *r, const struct project *ps, int n, struct job *j)
{
	return runner_units_on_disk(r, ps, n, j, found_unit);
}

static time_t *next_try_of(struct runner *r, const struct project *p)
{
	int free_slot = -1;

	for (int i = 0; i < STATE_PROJECTS_MAX; i++) {
		if (strcmp(r->next_url[i], p->url) == 0)
			return &r->next_try[i];
		if (free_slot < 0 && !r->next_url[i][0])
			free_slot = i;
	}
	if (free_slot < 0)
		free_slot = 0;
	snprintf(r->next_url[free_slot], STATE_URL_MAX, "%s", p->url);
	r->next_try[free_slot] = 0;
	return &r->next_try[free_slot];
}

/* The project to ask (state_pick_project() over this run's waits). */
static int pick_project(struct runner *r, const struct project *ps, int n, time_t *wake)
{
	time_t next[STATE_PROJECTS_MAX];

	for (int i = 0; i < n && i < STATE_PROJECTS_MAX; i++)
		next[i] = *next_try_of(r, &ps[i]);
	return state_pick_project(ps, n, next, time(NULL), wake);
}

/* Writes the assignment of a new unit into its directory. */
static int job_store(struct runner *r, const struct project *p, json_t *o, struct job *j,
		     struct error *err)
{
	char units[FILEIO_PATH_MAX], path[FILEIO_PATH_MAX];
	json_int_t rep = json_integer_value(json_object_get(o, "replica"));
	char *text;
	int ret;

	if (rep <= 0 || !json_is_string(json_object_get(o, "envelope")))
		return error_set(err, ERROR_FORMAT, "bad work answer");
	if (state_project_path(r->o->state, p->slug, "units", units) < 0 ||
	    state_mkdirs(units, 0700, err) < 0)
		return error_set(err, ERROR_IO, "cannot make the units directory");
	memset(j, 0, sizeof(*j));
	j->p = *p;
	j->replica = rep;
	if (snprintf(j->dir, sizeof(j->dir), "%s/%lld", units, (long long)rep) >=
	    (int)sizeof(j->dir))
		return error_set(err, ERROR_TOO_BIG, "unit path too long");
	if ((ret = state_mkdirs(j->dir, 0700, err)) < 0)
		return ret;
	text = json_dumps(o, JSON_COMPACT);
	if (!text)
		return error_set(err, ERROR_NOMEM, "out of memory");
	path_in(path, j->dir, "assignment.json");
	ret = fileio_write_atomic(path, text, strlen(text), 0600, 0, err);
	free(text);
	return ret;
}

/* A "no work" answer: logs its reason, returns the seconds to wait. */
static long no_work(struct runner *r, const struct project *p, json_t *o,
		    const struct net_response *resp)
{
	json_int_t ra = json_integer_value(json_object_get(o, "retry_after"));
	const char *reason = json_string_value(json_object_get(o, "reason"));
	int printable = reason && strlen(reason) <= 64;
	long wait;

	for (const char *q = reason; printable && *q; q++)
		printable = *q > 32 && *q < 127;
	wait = ra > 0 ? (long)ra : (resp->retry_after > 0 ? resp->retry_after : 60);
	log_info("no work from '%s' (%s), asking again in %lds", p->url,
		 printable ? reason : "no reason given",
		 wait < r->o->idle_max ? wait : r->o->idle_max);
	if (printable && strcmp(reason, "blocked") == 0)
		log_warn("'%s' blocked this host after invalid results: ask its admin", p->url);
	return wait;
}

/* Asks p for work: 1 (a unit stored in j), 0 (none: *wait seconds). */
static int ask_work(struct runner *r, struct project *p, struct job *j, long *wait)
{
	static const char body[] = "{\"kernel_abi\":1}";
	struct net_response resp;
	struct key_secret sk;
	struct error err;
	json_t *o = NULL;
	int ret = 0;
	char why[300];

	error_clear(&err);
	*wait = 60;
	if (state_host_key(r->o->state, p, &sk, &err) < 0) {
		log_error("project '%s': %s", p->url, err.msg);
		*wait = r->o->idle_max;
		return 0;
	}
	ret = signed_req(r, p, &sk, "POST", "/api/v1/work", NULL, body, sizeof(body) - 1,
			 NET_CONTROL_MAX + ASSIGNMENT_MAX, &resp, &err);
	sodium_memzero(&sk, sizeof(sk));
	if (ret < 0) {
		log_warn("cannot ask '%s' for work: %s", p->url, err.msg);
		*wait = (long)net_backoff(r->ask_fails++, 5, 300);
		return 0;
	}
	r->ask_fails = 0;
	o = json_loadb((const char *)resp.body, resp.len, 0, NULL);
	if (resp.status == 200 && json_object_get(o, "replica")) {
		ret = job_store(r, p, o, j, &err) < 0 ? 0 : 1;
		if (!ret)
			log_warn("cannot store work from '%s': %s", p->url, err.msg);
	} else if (resp.status == 200) {
		*wait = no_work(r, p, o, &resp);
		ret = 0;
	} else {
		net_describe(&resp, why, sizeof(why));
		log_warn("'%s' refused a work request: %s", p->url, why);
		*wait = resp.status == 409 ? r->o->idle_max : 60;
		ret = 0;
	}
	if (*wait > r->o->idle_max)
		*wait = r->o->idle_max;
	json_decref(o);
	net_response_release(&resp);
	return ret;
}

/* One turn of the loop: 1 to go on, 0 to stop. */
static int runner_turn(struct runner *r, struct project *ps)
{
	struct job j;
	time_t wake;
	long wait;
	int n = state_projects(r->o->state, ps, STATE_PROJECTS_MAX, NULL), i;

	if (n <= 0) {
		log_error("no project attached (agora-client attach URL)");
		return 0;
	}
	if (pending_find(r, ps, n, &j)) {
		enum outcome res = job_process(r, &j);

		if (res == UNIT_STOPPED)
			return 0;
		if (res == UNIT_RETRY)
			nap(r,
			    net_backoff(r->fetch_fails, RUNNER_BACKOFF_BASE, RUNNER_BACKOFF_CAP));
		return !(r->o->once && res == UNIT_DONE);
	}
	if (!desk_wait(r)) /* desktop: no new work while computing is not allowed */
		return 0;
	i = pick_project(r, ps, n, &wake);
	if (i < 0) {
		if (r->o->once)
			return 0;
		runner_status_set(r, "idle");
		nap(r, (double)(wake - time(NULL)));
		return 1;
	}
	if (ask_work(r, &ps[i], &j, &wait))
		return 1;
	*next_try_of(r, &ps[i]) = time(NULL) + wait;
	return 1;
}

/* Takes STATE/lock (flock, held while the process lives): two run loops
 * on one state directory would compute and upload the same units. Returns
 * the descriptor, or -1 with the reason logged. */
static int runner_lock(const char *state)
{
	char path[FILEIO_PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/lock", state) >= (int)sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		log_error("another agora-client is already running on '%s'", state);
		close(fd);
		return -1;
	}
	return fd;
}

int runner_run(const struct runner_opts *o)
{
	struct runner *r = calloc(1, sizeof(*r));
	struct project *ps = calloc(STATE_PROJECTS_MAX, sizeof(*ps));
	char dir[FILEIO_PATH_MAX];
	struct error err;
	int ret = 1, lock = runner_lock(o->state);

	error_clear(&err);
	if (!r || !ps || lock < 0)
		goto out;
	r->o = o;
	r->tty = isatty(STDOUT_FILENO);
	r->st.pid = (long)getpid();
	snprintf(r->st.device, sizeof(r->st.device), "%s", o->device ? o->device : "auto");
	snprintf(r->status_path, sizeof(r->status_path), "%s/status.json", o->state);
	snprintf(dir, sizeof(dir), "%s/blobs", o->state);
	if (blobcache_init(&r->cache, dir, idle_gate_max_blob(), &err) < 0 ||
	    net_init(&r->net, o->cacert, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	r->net.stall_s = o->stall_s;
	r->net.upload_limit = o->upload_limit;
	r->net.stop = &runner_stop;
	r->net.tick = status_tick;
	r->net.tick_ctx = r;
	runner_cache_trim(r); /* max-disk-mb may have been lowered */
	runner_status_set(r, "idle");
	while (!runner_stop && (o->max_units <= 0 || r->units < o->max_units))
		if (!runner_turn(r, ps))
			break;
	memset(&r->st.unit, 0, sizeof(r->st.unit));
	runner_status_set(r, "stopped");
	log_info("stopped after %ld unit%s", r->units, r->units == 1 ? "" : "s");
	ret = runner_failed ? 1 : 0;
out:
	if (r)
		net_release(&r->net);
	if (lock >= 0)
		close(lock);
	free(r);
	free(ps);
	return ret;
}
