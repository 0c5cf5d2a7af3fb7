/*
 * cli.c - attach, detach, run and status (see cli.h and docs/CLIENT.md).
 * Options are parsed by hand (every command also takes --state DIR);
 * numbers with strtol and range checks.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/blobcache.h"
#include "client/cli.h"
#include "client/idle.h"
#include "client/prefs.h"
#include "client/net.h"
#include "client/runner.h"
#include "client/state.h"
#include "client/status.h"
#include "common/log.h"

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		log_error("bad %s '%s': want %ld..%ld", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static void trim_url(const char *in, char *out)
{
	size_t len = strlen(in);

	while (len > 0 && in[len - 1] == '/')
		len--;
	memcpy(out, in, len);
	out[len] = '\0';
}

static int account_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > STATE_ACCOUNT_MAX)
		return 0;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-",
			    *s))
			return 0;
	return 1;
}

/* GET URL/api/v1/project: fills p->name and p->server_key. */
static int fetch_project(struct net *n, struct project *p, struct error *err)
{
	char url[STATE_URL_MAX + 32];
	struct net_response r;
	const char *key, *name;
	json_t *o;
	int ret;

	snprintf(url, sizeof(url), "%s/api/v1/project", p->url);
	if ((ret = net_request(n, "GET", url, NULL, NULL, 0, NET_CONTROL_MAX, &r, err)) < 0)
		return ret;
	o = json_loadb((const char *)r.body, r.len, 0, NULL);
	key = json_string_value(json_object_get(o, "public_key"));
	name = json_string_value(json_object_get(o, "name"));
	if (r.status != 200 || !key || !name)
		ret = error_set(err, ERROR_FORMAT, "'%s' is not an agora coordinator (status %ld)",
				url, r.status);
	else if (json_integer_value(json_object_get(o, "kernel_abi")) != 1)
		ret = error_set(err, ERROR_VERSION, "'%s' wants kernel abi %lld, this client has 1",
				p->url,
				(long long)json_integer_value(json_object_get(o, "kernel_abi")));
	else if ((ret = key_public_from_hex(&p->server_key, key, err)) == 0) {
		json_int_t t = json_integer_value(json_object_get(o, "server_time"));
		long long skew = t > 0 ? (long long)t - (long long)time(NULL) : 0;

		snprintf(p->name, sizeof(p->name), "%s", name);
		if (llabs(skew) >= 60 && llabs(skew) <= STATE_SKEW_MAX) { /* sign with its time */
			log_warn("this machine's clock is %+llds off the clock of '%s'", -skew,
				 p->url);
			p->clock_skew = (int64_t)skew;
		}
	}
	json_decref(o);
	net_response_release(&r);
	return ret;
}

/* Creates the host key if needed and registers it; fills p->host_id. */
static int register_host(struct net *n, const char *state, struct project *p, struct error *err)
{
	char dir[FILEIO_PATH_MAX], path[FILEIO_PATH_MAX], hex[KEY_PUBLIC_HEX_LEN + 1], body[512];
	struct key_public pk;
	struct key_secret sk;
	struct net_response r;
	json_t *o;
	int ret;

	if (state_project_path(state, p->slug, NULL, dir) < 0 || state_mkdirs(dir, 0700, err) < 0)
		return ERROR_IO;
	state_project_path(state, p->slug, "host.key", path);
	if (access(path, F_OK) != 0) {
		if ((ret = key_generate(&pk, &sk)) < 0 ||
		    (ret = key_write_pair(dir, "host", &pk, &sk, err)) < 0)
			return error_set(err, ret, "cannot make a host key: %s",
					 err ? err->msg : "");
	} else if ((ret = key_load_secret(&sk, path, err)) < 0) {
		return ret;
	}
	key_public_of(&pk, &sk);
	key_public_to_hex(&pk, hex);
	snprintf(
	    body, sizeof(body),
	    "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"agora-client " PACKAGE_VERSION
	    "\"}",
	    hex, p->account);
	n->skew = p->clock_skew;
	ret = net_signed(n, &sk, 0, "POST", p->url, "/api/v1/hosts", NULL, body, strlen(body),
			 NET_CONTROL_MAX, &r, err);
	memset(&sk, 0, sizeof(sk));
	if (ret < 0)
		return ret;
	o = json_loadb((const char *)r.body, r.len, 0, NULL);
	p->host_id = json_integer_value(json_object_get(o, "host_id"));
	if ((r.status != 200 && r.status != 201) || p->host_id <= 0) {
		char why[300];
		net_describe(&r, why, sizeof(why));
		ret = error_set(err, ERROR_NET, "registration refused: %s", why);
	}
	json_decref(o);
	net_response_release(&r);
	return ret;
}

static int attach_usage(void)
{
	fprintf(stderr, "usage: agora-client attach URL [--fingerprint FP] [--account NAME] "
			"[--share N] [--state DIR] [--cacert FILE]\n");
	return 2;
}

struct attach_args {
	const char *url, *fp_want, *account, *sdir, *cacert;
	long share;
};

/* Parses attach's arguments; 0, or the usage exit status 2. */
static int attach_parse(int argc, char **argv, struct attach_args *a)
{
	memset(a, 0, sizeof(*a));
	a->share = 100;
	a->account = "volunteer";
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(s, "--fingerprint") == 0 && v)
			a->fp_want = argv[++i];
		else if (strcmp(s, "--account") == 0 && v)
			a->account = argv[++i];
		else if (strcmp(s, "--state") == 0 && v)
			a->sdir = argv[++i];
		else if (strcmp(s, "--cacert") == 0 && v)
			a->cacert = argv[++i];
		else if (strcmp(s, "--share") == 0 && v) {
			if (parse_long("--share", argv[++i], 1, STATE_SHARE_MAX, &a->share) < 0)
				return 2;
		} else if (s[0] != '-' && !a->url)
			a->url = s;
		else
			return attach_usage();
	}
	if (!a->url || strlen(a->url) >= STATE_URL_MAX ||
	    (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0))
		return attach_usage();
	if (!account_ok(a->account)) {
		log_error("bad --account '%s': 1..64 of A-Z a-z 0-9 . _ @ + -", a->account);
		return 2;
	}
	return 0;
}

int cli_attach(int argc, char **argv)
{
	struct attach_args a;
	char state[FILEIO_PATH_MAX], fp[KEY_FINGERPRINT_LEN + 1];
	struct project p, old;
	struct error err;
	struct net n = {0};
	const char *fp_want, *sdir, *cacert;
	int ret = 1;

	if ((ret = attach_parse(argc, argv, &a)) != 0)
		return ret;
	ret = 1;
	fp_want = a.fp_want;
	sdir = a.sdir;
	cacert = a.cacert;
	error_clear(&err);
	memset(&p, 0, sizeof(p));
	trim_url(a.url, p.url);
	state_slug(p.url, p.slug);
	snprintf(p.account, sizeof(p.account), "%s", a.account);
	p.share = (unsigned)a.share;
	if (cacert) { /* remembered (absolute) for `run` */
		char *abs = realpath(cacert, NULL);

		if (!abs || strlen(abs) >= sizeof(p.cacert)) {
			log_error("cannot use --cacert '%s': %s", cacert,
				  abs ? "path too long" : strerror(errno));
			free(abs);
			return 1;
		}
		memcpy(p.cacert, abs, strlen(abs) + 1);
		free(abs);
	}
	if (state_dir_resolve(sdir, state, &err) < 0 || net_global_init() < 0 ||
	    net_init(&n, cacert, &err) < 0 || fetch_project(&n, &p, &err) < 0) {
		log_error("cannot attach to '%s': %s", p.url,
			  err.msg[0] ? err.msg : "setup failed");
		goto out;
	}
	key_fingerprint(&p.server_key, fp);
	printf("project '%s' at %s\ncoordinator key fingerprint: %s\n", p.name, p.url, fp);
	if (fp_want && strcmp(fp_want, fp) != 0) {
		log_error("fingerprint mismatch for '%s': expected %s, the server's key has %s; "
			  "refusing to attach",
			  p.url, fp_want, fp);
		goto out;
	}
	if (state_project_load(state, p.slug, &old, &err) == 0) {
		if (!key_public_equal(&old.server_key, &p.server_key)) {
			log_error(
			    "the coordinator key of '%s' changed since it was pinned; refusing "
			    "(detach first if the change is expected)",
			    p.url);
			goto out;
		}
		p.compute_s = old.compute_s;
		p.units_done = old.units_done;
		p.credit = old.credit;
	}
	error_clear(&err);
	if (register_host(&n, state, &p, &err) < 0 || state_project_save(state, &p, &err) < 0) {
		log_error("cannot attach to '%s': %s", p.url, err.msg);
		goto out;
	}
	printf("attached to %s as host %lld (account '%s', share %u)\n", p.url,
	       (long long)p.host_id, p.account, p.share);
	ret = 0;
out:
	net_release(&n);
	return ret;
}

int cli_detach(int argc, char **argv)
{
	const char *url = NULL, *sdir = NULL;
	char state[FILEIO_PATH_MAX], dir[FILEIO_PATH_MAX], u[STATE_URL_MAX],
	    slug[STATE_SLUG_MAX + 1];
	struct project p;
	struct error err;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			sdir = argv[++i];
		else if (argv[i][0] != '-' && !url && strlen(argv[i]) < STATE_URL_MAX)
			url = argv[i];
		else
			url = NULL, i = argc;
	}
	if (!url) {
		fprintf(stderr, "usage: agora-client detach URL [--state DIR]\n");
		return 2;
	}
	error_clear(&err);
	trim_url(url, u);
	state_slug(u, slug);
	if (state_dir_resolve(sdir, state, &err) < 0 ||
	    state_project_load(state, slug, &p, &err) < 0) {
		log_error("not attached to '%s': %s", u, err.msg);
		return 1;
	}
	state_project_path(state, slug, NULL, dir);
	if (state_remove_tree(dir) < 0) {
		log_error("cannot remove '%s'", dir);
		return 1;
	}
	printf("detached from %s\n", u);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	runner_stop = 1;
}

static int run_usage(void)
{
	fprintf(stderr, "usage: agora-client run [--device N|NAME|ref] [--once] [--max-units N] "
			"[--checkpoint-interval S] [--state DIR] [--cacert FILE] [--idle-max S] "
			"[--stall S] [--upload-limit BYTES_PER_S]\n"
			"       preferences (docs/DESKTOP.md): [--idle-minutes M] [--idle-only yes|no] "
			"[--use-gpu yes|no] [--use-cpu yes|no] [--cpu-percent N] [--pause-on-battery "
			"yes|no] [--max-temp-c N] [--hours HH-HH] [--max-disk-mb N] [--max-memory-mb N]\n");
	return 2;
}

int cli_run(int argc, char **argv)
{
	struct runner_opts o = {.ckpt_interval = 60, .idle_max = RUNNER_IDLE_MAX, .stall_s = 60};
	char state[FILEIO_PATH_MAX];
	const char *sdir = NULL;
	struct sigaction sa;
	struct error err;
	struct prefs prefs; /* desktop preferences: flags here, then STATE/prefs.conf */
	long v;
	int ret, pf;

	prefs_defaults(&prefs);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;

		if ((pf = prefs_take_flag(&prefs, argc, argv, &i)) != 0) {
			if (pf < 0)
				return 2;
		} else if (strcmp(a, "--once") == 0)
			o.once = 1;
		else if (strcmp(a, "--device") == 0 && has)
			o.device = argv[++i];
		else if (strcmp(a, "--state") == 0 && has)
			sdir = argv[++i];
		else if (strcmp(a, "--cacert") == 0 && has)
			o.cacert = argv[++i];
		else if (strcmp(a, "--max-units") == 0 && has) {
			if (parse_long(a, argv[++i], 1, 1000000000, &o.max_units) < 0)
				return 2;
		} else if (strcmp(a, "--checkpoint-interval") == 0 && has) {
			if (parse_long(a, argv[++i], 0, 86400, &v) < 0)
				return 2;
			o.ckpt_interval = (double)v;
		} else if (strcmp(a, "--idle-max") == 0 && has) {
			if (parse_long(a, argv[++i], 1, 86400, &o.idle_max) < 0)
				return 2;
		} else if (strcmp(a, "--upload-limit") == 0 && has) {
			if (parse_long(a, argv[++i], 1024, 1L << 40, &o.upload_limit) < 0)
				return 2;
		} else if (strcmp(a, "--stall") == 0 && has) {
			if (parse_long(a, argv[++i], 1, 3600, &o.stall_s) < 0)
				return 2;
		} else
			return run_usage();
	}
	error_clear(&err);
	if (state_dir_resolve(sdir, state, &err) < 0) {
		log_error("%s", err.msg);
		return 1;
	}
	o.state = state;
	/* desktop (client/prefs.h, client/idle.h): file under flags, the gate */
	if (prefs_load(&prefs, state, &err) < 0) {
		log_error("%s", err.msg);
		return 2;
	}
	if (!o.device && !prefs.use_gpu && prefs.use_cpu)
		o.device = "ref";
	idle_gate_setup(&prefs, o.device, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (net_global_init() < 0) {
		log_error("cannot initialise libcurl or libsodium");
		return 1;
	}
	ret = runner_run(&o);
	net_global_cleanup();
	return ret;
}

static json_t *project_json(const struct project *p)
{
	char fp[KEY_FINGERPRINT_LEN + 1];

	key_fingerprint(&p->server_key, fp);
	return json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:I, s:f, s:f}", "url", p->url, "name",
			 p->name, "fingerprint", fp, "host_id", (json_int_t)p->host_id, "account",
			 p->account, "share", (int)p->share, "units_done",
			 (json_int_t)p->units_done, "compute_s", p->compute_s, "credit", p->credit);
}

static int running(const struct status *st)
{
	return st->pid > 0 && kill((pid_t)st->pid, 0) == 0 && strcmp(st->state, "stopped") != 0;
}

/* The blob cache as `status` shows it. */
struct cache_view {
	struct blobcache_usage u; /* counted now */
	uint64_t budget;          /* bytes */
};

/* Counts STATE/blobs now; the budget is the running client's (its flags
 * may differ from the file), else STATE/prefs.conf's or the default. */
static void cache_view_get(struct cache_view *cv, const char *state, const struct status *st,
			   int live)
{
	char dir[FILEIO_PATH_MAX];
	struct prefs p;

	memset(cv, 0, sizeof(*cv));
	prefs_defaults(&p);
	if (prefs_load(&p, state, NULL) < 0)
		prefs_defaults(&p);
	cv->budget = live && st->cache_budget ? st->cache_budget : (uint64_t)p.max_disk_mb << 20;
	if (snprintf(dir, sizeof(dir), "%s/blobs", state) < (int)sizeof(dir) &&
	    blobcache_usage(dir, &cv->u, NULL) < 0)
		memset(&cv->u, 0, sizeof(cv->u));
}

static void cache_view_print(const struct cache_view *cv)
{
	printf("blob cache: %.1f MiB of %.1f MiB (%.0f%%), %llu blob%s",
	       (double)cv->u.bytes / 1048576.0, (double)cv->budget / 1048576.0,
	       cv->budget ? 100.0 * (double)cv->u.bytes / (double)cv->budget : 0.0,
	       (unsigned long long)cv->u.blobs, cv->u.blobs == 1 ? "" : "s");
	if (cv->u.parts)
		printf(", %llu partial download%s (%.1f MiB)", (unsigned long long)cv->u.parts,
		       cv->u.parts == 1 ? "" : "s", (double)cv->u.part_bytes / 1048576.0);
	if (cv->u.tmps)
		printf(", %llu temporary file%s", (unsigned long long)cv->u.tmps,
		       cv->u.tmps == 1 ? "" : "s");
	printf("\n");
}

static json_t *cache_view_json(const struct cache_view *cv)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "bytes",
			 (json_int_t)cv->u.bytes, "budget", (json_int_t)cv->budget, "blobs",
			 (json_int_t)cv->u.blobs, "blob_bytes", (json_int_t)cv->u.blob_bytes,
			 "parts", (json_int_t)cv->u.parts, "part_bytes",
			 (json_int_t)cv->u.part_bytes, "tmps", (json_int_t)cv->u.tmps, "tmp_bytes",
			 (json_int_t)cv->u.tmp_bytes);
}

static void status_text(const struct project *ps, int n, const struct status *st, int have,
			const struct cache_view *cv)
{
	double credit = 0;

	for (int i = 0; i < n; i++) {
		char fp[KEY_FINGERPRINT_LEN + 1];

		key_fingerprint(&ps[i].server_key, fp);
		printf("project %s ('%s'), host %lld, account '%s', share %u\n", ps[i].url,
		       ps[i].name, (long long)ps[i].host_id, ps[i].account, ps[i].share);
		printf("  key %s, units done %llu, compute %.1fs, credit %.2f\n", fp,
		       (unsigned long long)ps[i].units_done, ps[i].compute_s, ps[i].credit);
		credit += ps[i].credit;
	}
	if (n == 0)
		printf("no project attached\n");
	if (!have || !running(st)) {
		printf("client: not running\n");
	} else {
		printf("client: %s (pid %ld)", st->state, st->pid);
		if (st->unit[0])
			printf(", unit %.16s of job '%s' on %s", st->unit, st->job, st->device);
		printf("\n");
		if (st->unit[0] && st->steps) {
			if (isatty(STDOUT_FILENO)) {
				status_progress(stdout, 1, st);
				if (st->step < st->steps)
					printf("\n");
			} else
				printf("progress: step %llu/%llu, loss %.4f, eta %.0fs\n",
				       (unsigned long long)st->step, (unsigned long long)st->steps,
				       st->loss, st->eta_s);
		}
	}
	printf("credit: %.2f\n", credit);
	cache_view_print(cv);
}

int cli_status(int argc, char **argv)
{
	const char *sdir = NULL;
	char state[FILEIO_PATH_MAX], path[FILEIO_PATH_MAX];
	struct project *ps = calloc(STATE_PROJECTS_MAX, sizeof(*ps));
	struct status st;
	struct cache_view cv;
	struct error err;
	int as_json = 0, n, have;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			as_json = 1;
		else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			sdir = argv[++i];
		else {
			fprintf(stderr, "usage: agora-client status [--json] [--state DIR]\n");
			free(ps);
			return 2;
		}
	}
	error_clear(&err);
	if (!ps || state_dir_resolve(sdir, state, &err) < 0) {
		log_error("%s", err.msg);
		free(ps);
		return 1;
	}
	n = state_projects(state, ps, STATE_PROJECTS_MAX, &err);
	n = n < 0 ? 0 : n;
	have = snprintf(path, sizeof(path), "%s/status.json", state) < (int)sizeof(path) &&
	       status_read(path, &st, NULL) == 0;
	cache_view_get(&cv, state, &st, have && running(&st));
	if (as_json) {
		json_t *o = json_object(), *arr = json_array(), *cur = json_null();
		char *text;

		for (int i = 0; i < n; i++)
			json_array_append_new(arr, project_json(&ps[i]));
		if (have)
			cur = json_pack(
			    "{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:s, s:f, s:I, s:I}", "state",
			    st.state, "project", st.project, "job", st.job, "unit", st.unit,
			    "round", (json_int_t)st.round, "step", (json_int_t)st.step, "steps",
			    (json_int_t)st.steps, "loss", st.loss, "device", st.device, "eta_s",
			    st.eta_s, "units_done", (json_int_t)st.units_done, "updated",
			    (json_int_t)st.updated);
		json_object_set_new(o, "projects", arr);
		json_object_set_new(o, "running", json_boolean(have && running(&st)));
		json_object_set_new(o, "current", cur ? cur : json_null());
		json_object_set_new(o, "cache", cache_view_json(&cv));
		text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text)
			printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		status_text(ps, n, &st, have, &cv);
	}
	free(ps);
	return 0;
}
