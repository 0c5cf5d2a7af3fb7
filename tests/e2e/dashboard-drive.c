/*
 * dashboard-drive.c - the volunteers and the checker of
 * tests/e2e/dashboard-test.sh, against a real agora-server.
 *
 *   dashboard-drive run URL STATE_DB
 *       registers three hosts (first trying the account name
 *       <script>alert(1)</script>, which the API refuses), then computes
 *       every unit it is given with the C reference, as agora-client does
 *       (one all-zero Δ from the third host, so that a result is rejected
 *       with a reason), until job 1 is done; finally renames the third
 *       host's account to <script>alert(1)</script> directly in the
 *       database (as an older or hand-edited row would be), so the pages
 *       must escape it.
 *   dashboard-drive compare URL PAGE DOM_FILE
 *       PAGE is overview, job or volunteers: fetches the page's JSON twin
 *       and checks that the DOM Chromium dumped shows the same figures.
 *
 * Exit status 0 when everything went as expected; diagnostics on stderr.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "server-tools/auth.h"
#include "tests/unit/server-tools/http-fetch.h"
#include "workunits/blob.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define N_HOSTS    3
#define SCRIPT     "<script>alert(1)</script>"
#define SCRIPT_ESC "&lt;script&gt;alert(1)&lt;/script&gt;"

struct host {
	struct key_public pk;
	struct key_secret sk;
	int64_t id;
};

static const char *base;
static struct host hosts[N_HOSTS];
static struct key_public coord_pk;
static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dashboard-drive: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

/* A host request (signed when h->id or registering). */
static long host_send(const struct host *h, const char *method, const char *path, const void *body,
		      size_t len, const char *extra, struct fetch *f)
{
	char lines[5][200], url[512];
	const char *list[6];
	struct fetch_options opt = {.headers = list};
	struct auth_headers a;
	struct error err;
	struct hash bh;
	int n = 0;

	hash_buf(&bh, body ? body : "", len);
	if (auth_sign_request(&h->sk, method, path, h->id, time(NULL), &bh, &a, &err) < 0)
		fail("cannot sign: %s", err.msg);
	if (h->id) {
		snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_HOST, a.host);
		list[n++] = lines[0];
	}
	snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_TIME, a.time);
	snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_NONCE, a.nonce);
	snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_SIGNATURE, a.signature);
	list[n++] = lines[1];
	list[n++] = lines[2];
	list[n++] = lines[3];
	if (extra)
		list[n++] = extra;
	list[n] = NULL;
	snprintf(url, sizeof(url), "%s%s", base, path);
	fetch_url(method, url, body, len, &opt, f);
	return f->status;
}

static json_t *get_json(const char *path)
{
	char url[512];
	struct fetch f;
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s%s", base, path);
	if (fetch_url("GET", url, NULL, 0, NULL, &f) == 0 && f.status == 200)
		j = json_loads(f.body, 0, NULL);
	fetch_release(&f);
	if (!j)
		fail("GET %s failed", path);
	return j;
}

static int register_hosts(void)
{
	char body[512], hex[KEY_PUBLIC_HEX_LEN + 1];
	static const char *const accounts[N_HOSTS] = {"ann", "bob", "carol"};
	struct fetch f;
	json_t *j;
	int i;

	for (i = 0; i < N_HOSTS; i++) {
		key_generate(&hosts[i].pk, &hosts[i].sk);
		key_public_to_hex(&hosts[i].pk, hex);
		if (i == N_HOSTS - 1) { /* the API refuses this account name */
			snprintf(body, sizeof(body),
				 "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"x\"}", hex,
				 SCRIPT);
			if (host_send(&hosts[i], "POST", "/api/v1/hosts", body, strlen(body), NULL,
				      &f) != 400)
				fail("the account name %s was not refused", SCRIPT);
			fetch_release(&f);
		}
		snprintf(body, sizeof(body),
			 "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"%s\"}", hex,
			 accounts[i], i == N_HOSTS - 1 ? SCRIPT " \\\"quoted\\\" & more" : "cpu");
		if (host_send(&hosts[i], "POST", "/api/v1/hosts", body, strlen(body), NULL, &f) !=
		    201) {
			fail("registration refused: %s", f.body ? f.body : "");
			fetch_release(&f);
			return -1;
		}
		j = json_loads(f.body, 0, NULL);
		hosts[i].id = json_integer_value(json_object_get(j, "host_id"));
		json_decref(j);
		fetch_release(&f);
	}
	return 0;
}

static unsigned char *get_blob(const struct hash *h, size_t *len)
{
	struct blob_caps caps = {
	    .max_raw_size = 1 << 28, .max_ratio = BLOB_DEFAULT_MAX_RATIO, .want = h};
	char hex[HASH_HEX_LEN + 1], url[512];
	unsigned char *raw = NULL;
	struct error err;
	struct fetch f;

	hash_to_hex(h, hex);
	snprintf(url, sizeof(url), "%s/api/v1/blobs/%s", base, hex);
	if (fetch_url("GET", url, NULL, 0, NULL, &f) == 0 && f.status == 200 &&
	    blob_decode_mem(f.body, f.len, &caps, &raw, len, NULL, &err) < 0)
		raw = NULL;
	fetch_release(&f);
	return raw;
}

/* Δ = θ_r − θ after H reference steps (what agora-client computes). */
static float *compute(const struct unit *u, size_t *n_out)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	struct ref_adamw opt = {(float)u->hyper.lr,           (float)u->hyper.beta1,
				(float)u->hyper.beta2,        (float)u->hyper.eps,
				(float)u->hyper.weight_decay, (float)u->hyper.clip};
	unsigned char *data = NULL, *shard, *p;
	size_t len = 0, slen, i, tlen;
	float *theta, *delta = NULL, *losses = calloc(u->steps, sizeof(float));
	struct ref_gpt g;
	struct error err;

	theta = (float *)get_blob(&u->model, &tlen);
	for (i = 0; theta && i < u->n_data; i++) {
		shard = get_blob(&u->data[i].shard, &slen);
		p = realloc(data, len + u->data[i].length);
		if (!shard || !p || u->data[i].offset + u->data[i].length > slen) {
			free(shard);
			free(p ? p : data);
			free(theta);
			free(losses);
			return NULL;
		}
		data = p;
		memcpy(data + len, shard + u->data[i].offset, u->data[i].length);
		len += u->data[i].length;
		free(shard);
	}
	if (cfg && theta && losses && ref_gpt_init(&g, cfg, (int)u->hyper.batch, &err) == 0) {
		memcpy(g.params, theta, g.n_params * sizeof(float));
		if (ref_gpt_run(&g, data, len, 0, (int)u->steps, &opt, losses) == 0 &&
		    (delta = malloc(g.n_params * sizeof(float))) != NULL) {
			ref_delta(delta, theta, g.params, g.n_params);
			*n_out = g.n_params;
		}
		ref_gpt_release(&g);
	}
	free(losses);
	free(data);
	free(theta);
	return delta;
}

static long upload(const struct host *h, int64_t replica, const struct hash *uid,
		   const float *delta, size_t n)
{
	unsigned char *blob = NULL, *env = NULL, *body = NULL;
	size_t blen, env_len;
	struct blob_header hdr;
	struct result r;
	struct error err;
	struct fetch f;
	char path[64], extra[64];
	long status = -1;

	if (blob_encode_mem(delta, n * sizeof(float), BLOB_CODEC_ZLIB, &blob, &blen, &hdr, &err) <
	    0)
		return -1;
	result_init(&r);
	r.unit_id = *uid;
	r.host = h->pk;
	r.output = hdr.hash;
	r.output_size = n * sizeof(float);
	snprintf(r.compute.device, sizeof(r.compute.device), "c reference");
	r.compute.steps = 1;
	if (result_seal(&r, &h->sk, &env, &env_len, &err) == 0 &&
	    (body = malloc(env_len + blen)) != NULL) {
		memcpy(body, env, env_len);
		memcpy(body + env_len, blob, blen);
		snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)replica);
		snprintf(extra, sizeof(extra), "X-Agora-Envelope-Length: %zu", env_len);
		status = host_send(h, "PUT", path, body, env_len + blen, extra, &f);
		fetch_release(&f);
	}
	free(body);
	free(env);
	free(blob);
	return status;
}

/* One work request and its result for host i. */
static void host_turn(int i, int *zero_sent)
{
	struct fetch f;
	struct unit u;
	struct hash uid;
	struct error err;
	json_t *j, *env;
	float *d;
	size_t n = 0;

	host_send(&hosts[i], "POST", "/api/v1/work", "{}", 2, NULL, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	env = json_object_get(j, "envelope");
	unit_init(&u);
	if (env &&
	    unit_open(&u, &uid, json_string_value(env), json_string_length(env), &coord_pk, &err) ==
		0 &&
	    (d = compute(&u, &n)) != NULL) {
		if (i == N_HOSTS - 1 && !*zero_sent) {
			memset(d, 0, n * sizeof(float)); /* rejected: zero_delta */
			*zero_sent = 1;
		}
		if (upload(&hosts[i], json_integer_value(json_object_get(j, "replica")), &uid, d,
			   n) != 201)
			fail("an upload was refused");
		free(d);
	}
	json_decref(j);
	fetch_release(&f);
}

static int job_done(void)
{
	json_t *j = get_json("/api/v1/jobs/1");
	const char *state = json_string_value(json_object_get(j, "state"));
	int done = state && strcmp(state, "done") == 0;

	json_decref(j);
	return done;
}

static int rename_account(const char *db_path)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	int rc;

	rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 5000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db,
				  "UPDATE hosts SET account = '" SCRIPT "' WHERE account = 'carol'",
				  NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail("cannot rename the account: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

static int run(const char *db_path)
{
	json_t *p = get_json("/api/v1/project");
	struct error err;
	int iter, i, zero_sent = 0;

	if (!p || key_public_from_hex(
		      &coord_pk, json_string_value(json_object_get(p, "public_key")), &err) < 0)
		return 1;
	json_decref(p);
	if (register_hosts() < 0)
		return 1;
	for (iter = 0; iter < 40 && !job_done(); iter++) {
		for (i = 0; i < N_HOSTS; i++)
			host_turn(i, &zero_sent);
		/* the coordinator's worker validates and merges in the background */
		for (i = 0; i < 20 && !job_done(); i++)
			nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
	}
	if (!job_done())
		fail("job 1 is not done after %d passes", iter);
	if (rename_account(db_path) < 0)
		return 1;
	fprintf(stderr, "dashboard-drive: job 1 done after %d passes\n", iter);
	return failures ? 1 : 0;
}

/* ---- compare ---- */

static const char *dom;

/* The DOM holds id="ID" data-value="VALUE". */
static void want_fig(const char *id, const char *value)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "id=\"%s\" data-value=\"%s\"", id, value);
	if (!strstr(dom, needle))
		fail("the page lacks %s (the JSON says %s)", needle, value);
}

static void want_int(const char *id, json_t *v)
{
	char buf[32];

	if (!json_is_integer(v)) {
		fail("JSON has no integer for %s", id);
		return;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
	want_fig(id, buf);
}

static void want_text(const char *what, const char *text)
{
	if (!text || !strstr(dom, text))
		fail("the page lacks %s '%s'", what, text ? text : "(null)");
}

static json_t *get(json_t *o, const char *a, const char *b)
{
	o = json_object_get(o, a);
	return b ? json_object_get(o, b) : o;
}

static void compare_overview(void)
{
	json_t *j = get_json("/api/v1/stats");

	want_int("hosts-registered", get(j, "hosts", NULL));
	want_int("hosts-active", get(j, "hosts_active", NULL));
	want_int("accounts", get(j, "accounts", NULL));
	want_int("in-flight", get(j, "replicas", "in_progress"));
	want_int("units-validated", get(j, "units", "validated"));
	want_int("results-rejected", get(j, "results", "invalid"));
	want_int("units-per-hour", get(j, "throughput", "units_per_hour"));
	want_int("featured", get(j, "featured_job", "id"));
	if (json_array_size(get(j, "featured_job", "eval_loss_series")) != 3 ||
	    !strstr(dom, "<polyline"))
		fail("the overview should draw the job's 3 eval losses");
	want_text("the job's name",
		  json_string_value(get(json_array_get(get(j, "jobs", NULL), 0), "name", NULL)));
	json_decref(j);
}

static void compare_job(void)
{
	json_t *j = get_json("/api/v1/jobs/1"), *r;
	char buf[128];
	size_t i;

	want_int("rounds-done", get(j, "rounds_done", NULL));
	want_int("units-validated", get(j, "units", "validated"));
	want_int("v-agreed", get(j, "validation", "agreed"));
	want_int("v-disagreed", get(j, "validation", "disagreed"));
	want_int("v-invalid", get(j, "validation", "invalid"));
	want_int("round-last", get(j, "round_durations", "last_s"));
	snprintf(buf, sizeof(buf), "%.4f", json_number_value(get(j, "eval_loss", NULL)));
	want_fig("eval-loss", buf);
	want_text("a rejection reason", "zero_delta");
	json_array_foreach(get(j, "round_list", NULL), i, r)
	{
		const char *m = json_string_value(json_object_get(r, "manifest"));
		snprintf(buf, sizeof(buf), "href=\"/api/v1/blobs/%s\"", m ? m : "?");
		want_text("a manifest link", buf);
		snprintf(buf, sizeof(buf), "%.4f",
			 json_number_value(json_object_get(r, "eval_loss")));
		want_text("a round's eval loss", buf);
	}
	if (json_array_size(get(j, "round_list", NULL)) != 3)
		fail("job 1 should list 3 model versions");
	json_decref(j);
}

static void compare_volunteers(void)
{
	json_t *j = get_json("/api/v1/volunteers"), *a;
	char buf[64];
	size_t i;
	int script = 0;

	want_int("accounts-total", get(j, "accounts_total", NULL));
	want_int("hosts-total", get(j, "hosts_total", NULL));
	json_array_foreach(get(j, "accounts", NULL), i, a)
	{
		const char *name = json_string_value(json_object_get(a, "account"));
		script |= name && strcmp(name, SCRIPT) == 0;
		if (name && strcmp(name, SCRIPT) != 0)
			want_text("an account", name);
		snprintf(buf, sizeof(buf), "%.3f", json_number_value(json_object_get(a, "credit")));
		want_text("a credit", buf);
	}
	if (!script)
		fail("the JSON does not list the account %s", SCRIPT);
	want_text("the escaped account name", SCRIPT_ESC);
	json_decref(j);
}

static int compare(const char *page, const char *path)
{
	static char buf[1 << 22];
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (!fp) {
		fail("cannot open '%s'", path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	dom = buf;
	if (strstr(dom, "<script"))
		fail("the %s page holds a <script> element", page);
	if (strcmp(page, "overview") == 0)
		compare_overview();
	else if (strcmp(page, "job") == 0)
		compare_job();
	else if (strcmp(page, "volunteers") == 0)
		compare_volunteers();
	else
		fail("unknown page '%s'", page);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "run") == 0) {
		base = argv[2];
		return run(argv[3]);
	}
	if (argc == 5 && strcmp(argv[1], "compare") == 0) {
		base = argv[2];
		return compare(argv[3], argv[4]);
	}
	fprintf(stderr, "usage: dashboard-drive run URL STATE_DB | compare URL PAGE DOM_FILE\n");
	return 2;
}
