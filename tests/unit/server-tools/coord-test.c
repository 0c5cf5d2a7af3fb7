/*
 * coord-test.c - the training loop against a real coordinator on
 * 127.0.0.1 (in-process server, real HTTP): admin requests (bad, replayed
 * and foreign signatures refused), a dataset and its signed manifest, job
 * specs refused with errors naming the field, then a 2-round gpt-test job
 * computed here with the C reference as the client does (docs/CLIENT.md
 * "What a unit computes") by three honest hosts and one misbehaving host
 * (scaled Δ, zero Δ, random Δ, a copy of another host's signed result, a
 * result for a replica it was not given): every misdeed is caught, never
 * merged, and costs reputation until the host is blocked; the eval loss
 * falls; `agora-admin model export` + `audit` pass, and one byte altered in
 * a manifest or in the ledger makes audit / ledger verify fail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/fileio.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"
#include "server-tools/auth.h"
#include "server-tools/coord.h"
#include "server-tools/db.h"
#include "server-tools/dataset.h"
#include "server-tools/jobspec.h"
#include "server-tools/ledger.h"
#include "server-tools/server.h"
#include "tests/tap.h"
#include "tests/unit/server-tools/http-fetch.h"
#include "workunits/blob.h"
#include "workunits/manifest.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define N_HOSTS 4 /* host 0 misbehaves */

static const char *str_or(const char *s)
{
	return s ? s : "";
}
#define BAD 0

struct host {
	struct key_public pk;
	struct key_secret sk;
	int64_t id;
	char account[16];
};

static char root[256], state[300], base[64], keydir[300];
static struct key_public admin_pk;
static struct key_secret admin_sk, other_sk;
static struct host hosts[N_HOSTS];
static struct hash bad_outputs[64];
static int n_bad_outputs;

/* Sends an admin request signed by sk (tamper: flip a signature digit;
 * replay: reuse the last headers). */
static long admin_send(const char *method, const char *path, const void *body, size_t len,
		       const struct key_secret *sk, int tamper, int replay, struct fetch *f)
{
	static char lines[4][200];
	char url[300];
	const char *list[5];
	struct fetch_options opt = {.headers = list};
	struct auth_admin_headers h;
	struct error err;
	struct hash bh;

	hash_buf(&bh, body ? body : "", len);
	if (!replay) {
		if (auth_sign_admin(sk, method, path, time(NULL), &bh, &h, &err) < 0)
			tap_diag("cannot sign: %s", err.msg);
		if (tamper)
			h.signature[5] = h.signature[5] == '0' ? '1' : '0';
		snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_ADMIN, h.admin);
		snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_TIME, h.time);
		snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_NONCE, h.nonce);
		snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_SIGNATURE, h.signature);
	}
	list[0] = lines[0];
	list[1] = lines[1];
	list[2] = lines[2];
	list[3] = lines[3];
	list[4] = NULL;
	snprintf(url, sizeof(url), "%s%s", base, path);
	fetch_url(method, url, body, len, &opt, f);
	return f->status;
}

static long admin(const char *method, const char *path, const void *body, size_t len,
		  struct fetch *f)
{
	return admin_send(method, path, body, len, &admin_sk, 0, 0, f);
}

/* Sends a host request signed by h; extra: one more header or NULL. */
static long host_send(const struct host *h, const char *method, const char *path, const void *body,
		      size_t len, const char *extra, struct fetch *f)
{
	char lines[4][200], url[300];
	const char *list[6];
	struct fetch_options opt = {.headers = list};
	struct auth_headers a;
	struct error err;
	struct hash bh;
	int n = 0;

	hash_buf(&bh, body ? body : "", len);
	if (auth_sign_request(&h->sk, method, path, h->id, time(NULL), &bh, &a, &err) < 0)
		tap_diag("cannot sign: %s", err.msg);
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

/* Some text: words from a small vocabulary, deterministic. */
static unsigned char *make_corpus(size_t len)
{
	static const char *const words[] = {"the ",   "grid ",   "trains ", "a ",        "small ",
					    "model ", "with ",   "many ",   "hosts ",    "and ",
					    "every ", "result ", "is ",     "checked.\n"};
	unsigned char *buf = malloc(len);
	size_t at = 0, k = 0;

	while (buf && at < len) {
		const char *w = words[(k * 7 + k / 3) % 14];
		size_t n = strlen(w);
		memcpy(buf + at, w, at + n <= len ? n : len - at);
		at += n;
		k++;
	}
	return buf;
}

static void test_admin_auth(void)
{
	struct fetch f;

	TAP_IS(admin("GET", "/api/v1/admin/jobs", NULL, 0, &f), 200, "admin: signed list answers");
	fetch_release(&f);
	TAP_IS(admin_send("GET", "/api/v1/admin/jobs", NULL, 0, &admin_sk, 0, 1, &f), 401,
	       "admin: a replayed nonce is refused");
	tap_ok(f.body && strstr(f.body, "replayed_nonce"), "  ... as replayed_nonce");
	fetch_release(&f);
	TAP_IS(admin_send("GET", "/api/v1/admin/jobs", NULL, 0, &admin_sk, 1, 0, &f), 401,
	       "admin: a bad signature is refused");
	tap_ok(f.body && strstr(f.body, "bad_signature"), "  ... as bad_signature");
	fetch_release(&f);
	TAP_IS(admin_send("GET", "/api/v1/admin/hosts", NULL, 0, &other_sk, 0, 0, &f), 401,
	       "admin: a key that is not an admin's is refused");
	tap_ok(f.body && strstr(f.body, "unknown_admin"), "  ... as unknown_admin");
	fetch_release(&f);
}

/* Uploads the corpus in shards and adds the dataset. */
static void test_dataset(const unsigned char *data, size_t len, size_t shard)
{
	struct dataset_manifest m;
	unsigned char *blob, *env;
	size_t blen, env_len, i;
	struct blob_header hdr;
	struct error err;
	struct fetch f;
	int ok = 1;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "words");
	snprintf(m.owner, sizeof(m.owner), "Agora tests");
	snprintf(m.licence, sizeof(m.licence), "CC0-1.0");
	snprintf(m.source, sizeof(m.source), "coord-test.c make_corpus()");
	m.bytes = len;
	m.n_shards = (len + shard - 1) / shard;
	m.shards = calloc(m.n_shards, sizeof(*m.shards));
	for (i = 0; i < m.n_shards; i++) {
		size_t n = len - i * shard < shard ? len - i * shard : shard;
		if (blob_encode_mem(data + i * shard, n, BLOB_CODEC_ZLIB, &blob, &blen, &hdr,
				    &err) < 0)
			ok = 0;
		if (admin("PUT", "/api/v1/admin/blobs", blob, blen, &f) != 201)
			ok = 0;
		fetch_release(&f);
		free(blob);
		m.shards[i].hash = hdr.hash;
		m.shards[i].size = n;
	}
	tap_ok(ok, "dataset: %zu shards uploaded", m.n_shards);
	m.created = time(NULL);
	if (dataset_manifest_seal(&m, &other_sk, &env, &env_len, &err) == 0) {
		TAP_IS(admin("POST", "/api/v1/admin/datasets", env, env_len, &f), 400,
		       "dataset: a manifest signed by a non-admin key is refused");
		fetch_release(&f);
		free(env);
	}
	if (dataset_manifest_seal(&m, &admin_sk, &env, &env_len, &err) == 0) {
		TAP_IS(admin("POST", "/api/v1/admin/datasets", env, env_len, &f), 201,
		       "dataset: the admin-signed manifest is stored");
		fetch_release(&f);
		TAP_IS(admin("POST", "/api/v1/admin/datasets", env, env_len, &f), 409,
		       "dataset: the same name again is refused");
		fetch_release(&f);
		free(env);
	}
	dataset_manifest_release(&m);
}

static const char spec_good[] =
    "{\"name\":\"tiny\",\"preset\":\"gpt-test\",\"dataset\":\"words\",\"seed\":7,"
    "\"hyper\":{\"lr\":0.01,\"beta1\":0.9,\"beta2\":0.95,\"eps\":1e-8,\"weight_decay\":0.0,"
    "\"clip\":1.0,\"batch\":4},\"inner_steps\":6,\"units_per_round\":2,\"quorum\":2,"
    "\"max_replicas\":4,\"rounds\":2,\"outer\":{\"lr\":0.7,\"momentum\":0.5},"
    "\"validation\":{\"mode\":\"exact\"},\"eval\":{\"bytes\":2048,\"sequences\":32}}";

/* A bad spec: replace `from` in spec_good by `to`; expect detail. */
static void spec_refused(const char *from, const char *to, const char *detail)
{
	char spec[2048], *p;
	struct fetch f;

	snprintf(spec, sizeof(spec), "%s", spec_good);
	p = strstr(spec, from);
	if (p) {
		memmove(p + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
		memcpy(p, to, strlen(to));
	}
	admin("POST", "/api/v1/admin/jobs", spec, strlen(spec), &f);
	tap_ok(f.status == 400 && f.body && strstr(f.body, detail), "spec: %s -> 400 '%s'", to,
	       detail);
	if (f.status != 400 || !f.body || !strstr(f.body, detail))
		tap_diag("got %ld %s", f.status, f.body ? f.body : "");
	fetch_release(&f);
}

static void test_specs(void)
{
	struct fetch f;

	spec_refused("\"quorum\":2", "\"quorum\":\"2\"", "field 'quorum' must be an integer");
	spec_refused("\"quorum\":2", "\"quorum\":0", "field 'quorum' must be in 1..64");
	spec_refused("\"seed\":7,", "", "missing field 'seed'");
	spec_refused("\"seed\":7", "\"seed\":7,\"sede\":1", "unknown field 'sede'");
	spec_refused("gpt-test", "gpt-huge", "field 'preset'");
	spec_refused("\"dataset\":\"words\"", "\"dataset\":\"none\"", "no dataset 'none'");
	spec_refused("\"lr\":0.01", "\"lr\":-1", "field 'hyper.lr'");
	spec_refused("\"mode\":\"exact\"", "\"mode\":\"fuzzy\"", "field 'validation.mode'");
	spec_refused("\"bytes\":2048", "\"bytes\":100000000", "too few for eval.bytes");
	admin("POST", "/api/v1/admin/jobs", "[1]", 3, &f);
	tap_ok(f.status == 400 && f.body && strstr(f.body, "spec must be a JSON object"),
	       "spec: [1] -> 400 'spec must be a JSON object'");
	fetch_release(&f);
	TAP_IS(admin("POST", "/api/v1/admin/jobs", spec_good, strlen(spec_good), &f), 201,
	       "spec: the good spec makes a job");
	fetch_release(&f);
	TAP_IS(admin("POST", "/api/v1/admin/jobs", spec_good, strlen(spec_good), &f), 409,
	       "spec: a second job of that name is refused");
	fetch_release(&f);
}

static void register_hosts(void)
{
	char body[256], hex[KEY_PUBLIC_HEX_LEN + 1];
	struct fetch f;
	json_t *j;
	int i, ok = 1;

	for (i = 0; i < N_HOSTS; i++) {
		key_generate(&hosts[i].pk, &hosts[i].sk);
		key_public_to_hex(&hosts[i].pk, hex);
		snprintf(hosts[i].account, sizeof(hosts[i].account), i == BAD ? "mallory" : "h%d",
			 i);
		snprintf(body, sizeof(body),
			 "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"t\"}", hex,
			 hosts[i].account);
		hosts[i].id = 0;
		if (host_send(&hosts[i], "POST", "/api/v1/hosts", body, strlen(body), NULL, &f) !=
		    201)
			ok = 0;
		j = f.body ? json_loads(f.body, 0, NULL) : NULL;
		hosts[i].id = json_integer_value(json_object_get(j, "host_id"));
		json_decref(j);
		fetch_release(&f);
	}
	tap_ok(ok, "%d hosts registered", N_HOSTS);
}

/* GET a blob and decode it (hash checked). */
static unsigned char *get_blob(const struct hash *h, size_t *len)
{
	struct blob_caps caps = {
	    .max_raw_size = 1 << 28, .max_ratio = BLOB_DEFAULT_MAX_RATIO, .want = h};
	char hex[HASH_HEX_LEN + 1], url[300];
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

/* What an honest client computes: Δ = θ_r − θ after H reference steps. */
static float *compute(const struct unit *u, size_t *n_out, float *loss_first, float *loss_last)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	struct ref_adamw opt = {(float)u->hyper.lr,           (float)u->hyper.beta1,
				(float)u->hyper.beta2,        (float)u->hyper.eps,
				(float)u->hyper.weight_decay, (float)u->hyper.clip};
	unsigned char *data = NULL, *shard;
	size_t len = 0, slen, i, tlen;
	float *theta, *delta = NULL, *losses;
	struct ref_gpt g;
	struct error err;

	theta = (float *)get_blob(&u->model, &tlen);
	for (i = 0; i < u->n_data; i++) {
		shard = get_blob(&u->data[i].shard, &slen);
		data = realloc(data, len + u->data[i].length);
		memcpy(data + len, shard + u->data[i].offset, u->data[i].length);
		len += u->data[i].length;
		free(shard);
	}
	losses = calloc(u->steps, sizeof(float));
	if (theta && ref_gpt_init(&g, cfg, (int)u->hyper.batch, &err) == 0) {
		memcpy(g.params, theta, g.n_params * sizeof(float));
		if (ref_gpt_run(&g, data, len, 0, (int)u->steps, &opt, losses) == 0) {
			delta = malloc(g.n_params * sizeof(float));
			ref_delta(delta, theta, g.params, g.n_params);
			*n_out = g.n_params;
			*loss_first = losses[0];
			*loss_last = losses[u->steps - 1];
		}
		ref_gpt_release(&g);
	}
	free(losses);
	free(data);
	free(theta);
	return delta;
}

/* Uploads Δ for replica as host h with env signed by signer (a copied
 * envelope when signer is another host). Returns the HTTP status. */
static long upload(const struct host *h, const struct host *signer, int64_t replica,
		   const struct hash *uid, const float *delta, size_t n, float l0, float l1,
		   struct hash *output)
{
	unsigned char *blob = NULL, *env = NULL, *body;
	size_t blen, env_len;
	struct blob_header hdr;
	struct result r;
	struct error err;
	struct fetch f;
	char path[64], extra[64];
	long status;

	if (blob_encode_mem(delta, n * sizeof(float), BLOB_CODEC_ZLIB, &blob, &blen, &hdr, &err) <
	    0)
		return -1;
	result_init(&r);
	r.unit_id = *uid;
	r.host = signer->pk;
	r.output = hdr.hash;
	r.output_size = n * sizeof(float);
	r.metrics.loss_first = l0;
	r.metrics.loss_last = l1;
	snprintf(r.compute.device, sizeof(r.compute.device), "c reference");
	r.compute.steps = 1;
	if (result_seal(&r, &signer->sk, &env, &env_len, &err) < 0) {
		free(blob);
		return -1;
	}
	body = malloc(env_len + blen);
	memcpy(body, env, env_len);
	memcpy(body + env_len, blob, blen);
	snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)replica);
	snprintf(extra, sizeof(extra), "X-Agora-Envelope-Length: %zu", env_len);
	status = host_send(h, "PUT", path, body, env_len + blen, extra, &f);
	fetch_release(&f);
	if (output)
		*output = hdr.hash;
	free(body);
	free(env);
	free(blob);
	return status;
}

static struct server *srv;
static struct coord *coord;
static size_t corpus_len, shard_size;
static int n_units_seen, units_outside;
static int attacks_done[6];

/* Every unit's data lies in the training region (never the eval bytes). */
static void check_unit_data(const struct unit *u, const struct hash *shards, size_t n_shards)
{
	uint64_t train = corpus_len - 2048, i, k;

	n_units_seen++;
	for (i = 0; i < u->n_data; i++) {
		for (k = 0; k < n_shards && !hash_equal(&shards[k], &u->data[i].shard); k++)
			;
		if (k == n_shards || k * shard_size + u->data[i].offset + u->data[i].length > train)
			units_outside++;
	}
}

/* The misbehaving host's turn: one attack per replica it gets. */
static void misbehave(int64_t replica, const struct unit *u, const struct hash *uid)
{
	static int k;
	float *d, l0 = 0, l1 = 0;
	size_t n = 0, i;
	struct hash out;
	long st;

	d = compute(u, &n, &l0, &l1);
	if (!d)
		return;
	switch (k++ % 3) {
	case 0: /* a scaled Δ: valid on its own, disagrees */
		for (i = 0; i < n; i++)
			d[i] *= 1.5f;
		st = upload(&hosts[BAD], &hosts[BAD], replica, uid, d, n, l0, l1, &out);
		attacks_done[0] += st == 201;
		break;
	case 1: /* a copy of another host's signed result: refused at once;
		 * then an all-zero Δ: invalid on its own */
		st = upload(&hosts[BAD], &hosts[1], replica, uid, d, n, l0, l1, NULL);
		attacks_done[1] += st == 400;
		memset(d, 0, n * sizeof(float));
		st = upload(&hosts[BAD], &hosts[BAD], replica, uid, d, n, l0, l1, &out);
		attacks_done[2] += st == 201;
		break;
	default: /* random small values */
		for (i = 0; i < n; i++)
			d[i] = (float)((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
		st = upload(&hosts[BAD], &hosts[BAD], replica, uid, d, n, l0, l1, &out);
		attacks_done[3] += st == 201;
		break;
	}
	if (n_bad_outputs < 64)
		bad_outputs[n_bad_outputs++] = out;
	free(d);
}

/* One work request and its result for host i; 1 when it got work. */
static int host_turn(int i, const struct hash *shards, size_t n_shards)
{
	struct unit u;
	struct hash uid;
	struct error err;
	struct fetch f;
	float *d, l0 = 0, l1 = 0;
	size_t n = 0;
	int64_t replica;
	json_t *j;
	const char *env;
	int got = 0;

	host_send(&hosts[i], "POST", "/api/v1/work", "{}", 2, NULL, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	env = json_string_value(json_object_get(j, "envelope"));
	replica = json_integer_value(json_object_get(j, "replica"));
	if (env && unit_open(&u, &uid, env, json_string_length(json_object_get(j, "envelope")),
			     server_public_key(srv), &err) == 0) {
		got = 1;
		check_unit_data(&u, shards, n_shards);
		if (i == BAD) {
			misbehave(replica, &u, &uid);
		} else if ((d = compute(&u, &n, &l0, &l1)) != NULL) {
			if (!attacks_done[4]) {
				/* the bad host answers a replica it was not given */
				attacks_done[4] = upload(&hosts[BAD], &hosts[BAD], replica, &uid, d,
							 n, l0, l1, NULL) == 403;
			}
			if (upload(&hosts[i], &hosts[i], replica, &uid, d, n, l0, l1, NULL) != 201)
				tap_diag("honest upload refused");
			free(d);
		}
	} else if (i == BAD && strstr(f.body ? f.body : "", "\"blocked\"")) {
		attacks_done[5] = 1;
	}
	json_decref(j);
	fetch_release(&f);
	return got;
}

/* Runs the job to its end; returns its final status. */
static json_t *run_job(const struct hash *shards, size_t n_shards)
{
	json_t *st = NULL;
	struct fetch f;
	int iter, i;

	for (iter = 0; iter < 60; iter++) {
		for (i = 0; i < N_HOSTS; i++)
			host_turn(i, shards, n_shards);
		coord_wait_idle(coord, 60000);
		json_decref(st);
		admin("GET", "/api/v1/admin/jobs/1", NULL, 0, &f);
		st = f.body ? json_loads(f.body, 0, NULL) : NULL;
		fetch_release(&f);
		if (strcmp(str_or(json_string_value(json_object_get(st, "state"))), "done") == 0)
			break;
	}
	return st;
}

/* jobspec arithmetic: deterministic windows inside the training region. */
static void test_generator(void)
{
	struct jobspec s;
	struct jobspec_range r[8];
	uint64_t a0, l0, a1, l1, sizes[3] = {1000, 1000, 500};
	struct error err;
	int same = 1, differ = 0, inside = 1, i, n;

	if (jobspec_parse(&s, spec_good, strlen(spec_good), &err) < 0) {
		tap_ok(0, "jobspec: the good spec parses (%s)", err.msg);
		return;
	}
	tap_ok(s.max_replicas == 4 && s.quorum == 2 && s.hyper.context == 8,
	       "jobspec: fields and the preset's context");
	for (i = 0; i < 50; i++) {
		jobspec_window(&s, 100000, 3, (uint64_t)i, &a0, &l0);
		jobspec_window(&s, 100000, 3, (uint64_t)i, &a1, &l1);
		same &= a0 == a1 && l0 == l1;
		jobspec_window(&s, 100000, 4, (uint64_t)i, &a1, &l1);
		differ += a0 != a1;
		inside &= a0 + l0 <= 100000 - s.eval_bytes;
	}
	tap_ok(same, "generator: the same (seed, round, unit) gives the same window");
	tap_ok(differ > 40, "generator: another round moves the windows (%d of 50)", differ);
	tap_ok(inside, "generator: windows stay out of the held-out eval bytes");
	n = jobspec_ranges(sizes, 3, 900, 1200, r, 8);
	tap_ok(n == 3 && r[0].shard == 0 && r[0].offset == 900 && r[0].length == 100 &&
		   r[1].length == 1000 && r[2].shard == 2 && r[2].offset == 0 && r[2].length == 100,
	       "generator: a window is cut at shard boundaries");
}

/* The merged results never include one of the bad host's outputs. */
static void check_merged(json_t *exp)
{
	json_t *e;
	size_t i, k;
	int bad = 0, n = 0, ok = 1;

	json_array_foreach(json_object_get(exp, "manifests"), i, e)
	{
		struct manifest m;
		struct error err;
		manifest_init(&m);
		if (manifest_open(&m, NULL, json_string_value(e), json_string_length(e),
				  server_public_key(srv), &err) < 0) {
			ok = 0;
			continue;
		}
		for (k = 0; k < m.n_results; k++, n++)
			for (int b = 0; b < n_bad_outputs; b++)
				bad += hash_equal(&m.results[k].output, &bad_outputs[b]);
		manifest_release(&m);
	}
	tap_ok(ok && n == 4, "export: 3 signed manifests listing 4 merged results");
	TAP_IS(bad, 0, "no result of the misbehaving host was merged");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int run(const char *cmd)
{
	int rc = system(cmd);

	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Flips one byte in the middle of path. */
static void flip(const char *path)
{
	unsigned char *buf = NULL;
	struct error err;
	size_t len;

	if (fileio_read_all(path, 1 << 24, &buf, &len, &err) == 0 && len > 0) {
		buf[len / 2] ^= 0x01;
		if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0)
			tap_diag("%s", err.msg);
	}
	free(buf);
}

static void test_export_audit(void)
{
	char cmd[2048], dir[400], bin[300], ledger[512];
	const char *top = getenv("top_builddir");
	struct fetch f;
	uint64_t n = 0;
	struct error err;

	snprintf(bin, sizeof(bin), "%s/agora-admin", top ? top : ".");
	snprintf(dir, sizeof(dir), "%s/export", root);
	snprintf(cmd, sizeof(cmd), "%s --server %s --key %s/admin.key model export tiny --out %s",
		 bin, base, keydir, dir);
	TAP_IS(run(cmd), 0, "agora-admin model export exits 0");
	snprintf(cmd, sizeof(cmd),
		 "test -f %s/model.bin && test -f %s/model-card.md && ! grep -q mallory "
		 "%s/model-card.md",
		 dir, dir, dir);
	TAP_IS(run(cmd), 0, "model.bin and the model card; the blocked host is no contributor");
	snprintf(cmd, sizeof(cmd),
		 "grep -q 'CC0-1.0' %s/model-card.md && grep -q '| h1 |' %s/model-card.md", dir,
		 dir);
	TAP_IS(run(cmd), 0, "model card: the dataset's licence and the contributors");
	snprintf(cmd, sizeof(cmd), "%s audit --dir %s --pub %s/coordinator.pub >/dev/null", bin,
		 dir, dir);
	TAP_IS(run(cmd), 0, "agora-admin audit passes on the export");
	snprintf(cmd, sizeof(cmd), "%s --server %s --key %s/admin.key audit tiny >/dev/null", bin,
		 base, keydir);
	TAP_IS(run(cmd), 0, "agora-admin audit JOB (against the server) passes");
	snprintf(cmd, sizeof(cmd),
		 "%s ledger verify --file %s/ledger.log --pub %s/coordinator.pub >/dev/null && "
		 "grep -q 'Credit ledger: 8 entries' %s/model-card.md",
		 bin, dir, dir, dir);
	TAP_IS(run(cmd), 0, "the export's ledger.log verifies; the model card pins its tip");
	snprintf(ledger, sizeof(ledger), "%s/manifests/round-1.env", dir);
	flip(ledger);
	snprintf(cmd, sizeof(cmd), "%s audit --dir %s --pub %s/coordinator.pub >/dev/null 2>&1",
		 bin, dir, dir);
	TAP_IS(run(cmd), 1, "a byte altered in a manifest: audit fails");
	admin("GET", "/api/v1/admin/ledger", NULL, 0, &f);
	snprintf(ledger, sizeof(ledger), "%s/ledger.log", root);
	if (f.status == 200 && fileio_write_atomic(ledger, f.body, f.len, 0644, 0, &err) < 0)
		tap_diag("%s", err.msg);
	fetch_release(&f);
	TAP_IS(ledger_verify(ledger, server_public_key(srv), NULL, NULL, &n, NULL, &err), 0,
	       "the ledger served to the admin verifies");
	TAP_IS(n, 4 * 2, "  ... one entry per valid result (2 per unit, 4 units)");
	flip(ledger);
	tap_ok(ledger_verify(ledger, server_public_key(srv), NULL, NULL, NULL, NULL, &err) < 0,
	       "a byte altered in the ledger: verify fails (%s)", err.msg);
}

static void test_outcome(json_t *st)
{
	json_t *rounds = json_object_get(st, "round_list"), *reasons, *hl, *e;
	double l0, l1, l2;
	struct fetch f;
	size_t i;
	int bad_rep = 0, bad_blocked = 0, honest_ok = 1;

	tap_ok(strcmp(str_or(json_string_value(json_object_get(st, "state"))), "done") == 0,
	       "the job is done after its 2 rounds");
	l0 = json_number_value(json_object_get(json_array_get(rounds, 0), "eval_loss"));
	l1 = json_number_value(json_object_get(json_array_get(rounds, 1), "eval_loss"));
	l2 = json_number_value(json_object_get(json_array_get(rounds, 2), "eval_loss"));
	tap_diag("eval loss: theta_0 %.6f, round 1 %.6f, round 2 %.6f", l0, l1, l2);
	tap_ok(json_array_size(rounds) == 3 && l2 < l1 && l1 < l0,
	       "eval loss after round 2 is below round 1 (and below theta_0)");
	{
		const char *t =
		    json_string_value(json_object_get(json_array_get(rounds, 2), "sample"));
		int printable = t && strlen(t) == 64;
		for (i = 0; t && t[i]; i++)
			printable &= (t[i] >= 0x20 && t[i] < 0x7f) || t[i] == '\n';
		tap_ok(printable, "every model version has a 64-byte printable text sample");
		char shown[80];
		snprintf(shown, sizeof(shown), "%s", t ? t : "(none)");
		for (i = 0; shown[i]; i++)
			if (shown[i] == '\n')
				shown[i] = ' ';
		tap_diag("sample of version 2: %s", shown);
	}
	reasons = json_object_get(st, "invalid_reasons");
	tap_ok(json_integer_value(json_object_get(reasons, "zero_delta")) >= 1,
	       "an all-zero delta is invalid: zero_delta");
	tap_ok(json_integer_value(json_object_get(reasons, "disagree")) >= 2,
	       "a scaled and a random delta are invalid: disagree");
	tap_ok(attacks_done[0] && attacks_done[2] && attacks_done[3],
	       "the misbehaving host's scaled, zero and random deltas were uploaded");
	tap_ok(attacks_done[1], "a copy of another host's signed result is refused (400)");
	tap_ok(attacks_done[4], "a result for a replica it was not given is refused (403)");
	tap_ok(attacks_done[5], "after repeated invalid results the host gets no work");
	TAP_IS(json_array_size(json_object_get(st, "failed_units")), 0, "no unit failed");
	tap_ok(n_units_seen > 0 && units_outside == 0,
	       "every unit's data lies in the training region (%d units seen)", n_units_seen);
	admin("GET", "/api/v1/admin/hosts", NULL, 0, &f);
	hl = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	json_array_foreach(hl, i, e)
	{
		double rep = json_number_value(json_object_get(e, "reputation"));
		if (json_integer_value(json_object_get(e, "id")) == hosts[BAD].id) {
			bad_rep = rep < 0;
			bad_blocked = json_integer_value(json_object_get(e, "blocked")) == 1;
		} else if (rep <= 0) {
			honest_ok = 0;
		}
	}
	json_decref(hl);
	tap_ok(bad_rep && bad_blocked, "the misbehaving host's reputation dropped; it is blocked");
	tap_ok(honest_ok, "honest hosts gained reputation");
}

/* 1 when job 1 is done. */
static int coord_query_state(void)
{
	struct fetch f;
	int done;

	admin("GET", "/api/v1/admin/jobs/1", NULL, 0, &f);
	done = f.body && strstr(f.body, "\"state\": \"done\"") != NULL;
	if (!done && f.body && strstr(f.body, "\"state\":\"done\"") != NULL)
		done = 1;
	fetch_release(&f);
	return done;
}

/* The merge is crash-safe: undo round 2's publication as if the process
 * had died before its transaction, restart the coordinator, and the worker
 * merges round 1 again into the same θ_2. */
static void test_merge_redo(void)
{
	static const char undo[] =
	    "DELETE FROM rounds WHERE job = 1 AND round = 2;"
	    "UPDATE rounds SET state = 'open', next_model = NULL WHERE job = 1 AND round = 1;"
	    "UPDATE jobs SET state = 'running' WHERE id = 1;";
	static const char get[] = "SELECT model FROM rounds WHERE job = 1 AND round = 2";
	char before[65] = "", after[65] = "";
	struct error err;
	sqlite3_stmt *st;
	struct db *db = server_db(srv);

	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), get, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(before, sizeof(before), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	sqlite3_exec(db_sqlite(db), undo, NULL, NULL, NULL);
	db_unlock(db);
	coord_free(coord);
	if (coord_new(&coord, srv, &err) < 0)
		tap_diag("cannot restart the coordinator: %s", err.msg);
	coord_step(coord);
	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), get, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			snprintf(after, sizeof(after), "%s", sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	db_unlock(db);
	tap_ok(before[0] && strcmp(before, after) == 0,
	       "a merge lost before its transaction is redone at restart: same theta_2");
	TAP_IS(coord_query_state(), 1, "  ... and the job is done again");
}

/* A result that arrives after its unit was validated (a third replica
 * that was out) is compared with the canonical one and credited. */
/* The first column of the first row of q, or -1. */
static int64_t coord_query_int_test(const char *q)
{
	struct db *db = server_db(srv);
	sqlite3_stmt *st;
	int64_t v = -1;

	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), q, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return v;
}

/* A host's credit in FLOPs, or -1. */
static double host_credit(struct db *db, int64_t host)
{
	sqlite3_stmt *st;
	double credit = -1;

	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db), "SELECT credit FROM hosts WHERE id = ?1", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, host);
		if (sqlite3_step(st) == SQLITE_ROW)
			credit = sqlite3_column_double(st, 0);
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return credit;
}

static void test_late_result(const struct hash *shards, size_t n_shards)
{
	char spec[2048], *p;
	struct db *db = server_db(srv);
	struct fetch f;
	int64_t valid = -1, replica;
	double credit;
	sqlite3_stmt *st;
	struct error err;
	struct unit u;
	struct hash uid;
	const char *env;
	float *d, l0 = 0, l1 = 0;
	size_t n = 0;
	json_t *j;
	int got;

	snprintf(spec, sizeof(spec), "%s", spec_good);
	p = strstr(spec, "\"tiny\"");
	memcpy(p, "\"late\"", 6);
	p = strstr(spec, "\"rounds\":2");
	p[9] = '1';
	p = strstr(spec, "\"mode\":\"exact\"");
	memmove(p + 38, p + 14, strlen(p + 14) + 1);
	memcpy(p, "\"mode\":\"tolerance\",\"threshold\":0.00001", 38);
	TAP_IS(admin("POST", "/api/v1/admin/jobs", spec, strlen(spec), &f), 201,
	       "late: a second job, in tolerance mode");
	fetch_release(&f);
	db_lock(db);
	sqlite3_exec(db_sqlite(db),
		     "INSERT INTO replicas (unit) SELECT id FROM units WHERE job = 2 AND idx = 0",
		     NULL, NULL, NULL);
	db_unlock(db);
	/* host 3 takes unit 0's first replica and sits on it */
	host_send(&hosts[3], "POST", "/api/v1/work", "{}", 2, NULL, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	env = json_string_value(json_object_get(j, "envelope"));
	replica = json_integer_value(json_object_get(j, "replica"));
	got = env && unit_open(&u, &uid, env, strlen(env), server_public_key(srv), &err) == 0;
	json_decref(j);
	host_turn(1, shards, n_shards); /* unit 0's second replica */
	host_turn(2, shards, n_shards); /* its third: two agree, validated */
	coord_wait_idle(coord, 60000);
	host_turn(1, shards, n_shards); /* unit 1 */
	host_turn(2, shards, n_shards);
	coord_wait_idle(coord, 60000); /* the round is merged: unit 0's Δ is public */
	credit = host_credit(db, hosts[3].id);
	if (got && (d = compute(&u, &n, &l0, &l1)) != NULL) {
		TAP_IS(upload(&hosts[3], &hosts[3], replica, &uid, d, n, l0, l1, NULL), 201,
		       "late: the replica still in progress is uploaded after the merge");
		free(d);
	}
	coord_wait_idle(coord, 60000);
	TAP_OK(credit >= 0 && host_credit(db, hosts[3].id) == credit,
	       "late: a result after its round was merged earns no credit (it may be a copy)");
	db_lock(db);
	if (sqlite3_prepare_v2(db_sqlite(db),
			       "SELECT count(*) FROM replicas r JOIN units u ON u.id = r.unit"
			       " WHERE u.job = 2 AND u.idx = 0 AND r.validation = 'valid'",
			       -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			valid = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	db_unlock(db);
	TAP_IS(valid, 3, "late: the result after validation agrees and is valid too");
}

/* One SQL statement on the coordinator's database. */
static void sql(const char *q)
{
	struct db *db = server_db(srv);

	db_lock(db);
	if (sqlite3_exec(db_sqlite(db), q, NULL, NULL, NULL) != SQLITE_OK)
		tap_diag("%s: %s", q, sqlite3_errmsg(db_sqlite(db)));
	db_unlock(db);
}

/* A failed unit does not stall its round: job 3's unit 0 of round 0
 * fails, the round merges unit 1 alone (its manifest lists one result and
 * audit re-derives it); when every unit of round 1 fails the job pauses. */
static void test_failed_unit(const struct hash *shards, size_t n_shards)
{
	char spec[2048], cmd[1024], *p;
	const char *top = getenv("top_builddir");
	struct fetch f;
	json_t *j;

	snprintf(spec, sizeof(spec), "%s", spec_good);
	p = strstr(spec, "\"tiny\"");
	memcpy(p, "\"fail\"", 6);
	TAP_IS(admin("POST", "/api/v1/admin/jobs", spec, strlen(spec), &f), 201,
	       "fail: a third job of 2 rounds x 2 units");
	fetch_release(&f);
	sql("UPDATE units SET state = 'failed' WHERE job = 3 AND round = 0 AND idx = 0");
	for (int k = 0;
	     k < 4 && coord_query_int_test("SELECT count(*) FROM rounds WHERE job = 3") < 2; k++) {
		host_turn(1, shards, n_shards);
		host_turn(2, shards, n_shards);
		coord_wait_idle(coord, 60000);
	}
	TAP_IS(coord_query_int_test("SELECT count(*) FROM rounds WHERE job = 3 AND round = 0"
				    " AND state = 'done'"),
	       1, "fail: round 0 is merged without its failed unit");
	TAP_IS(coord_query_int_test("SELECT count(*) FROM rounds WHERE job = 3"), 2,
	       "  ... and round 1 is generated");
	snprintf(cmd, sizeof(cmd),
		 "%s/agora-admin --server %s --key %s/admin.key audit fail >/dev/null",
		 top ? top : ".", base, keydir);
	TAP_IS(run(cmd), 0, "  ... its manifest (one result) passes audit");
	admin("GET", "/api/v1/admin/jobs/3", NULL, 0, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	TAP_IS(json_array_size(json_object_get(j, "failed_units")), 1,
	       "  ... and job status lists the failed unit");
	json_decref(j);
	sql("UPDATE units SET state = 'failed' WHERE job = 3 AND round = 1");
	coord_kick(coord);
	coord_wait_idle(coord, 60000);
	TAP_IS(coord_query_int_test("SELECT count(*) FROM jobs WHERE id = 3 AND state = 'paused'"),
	       1, "fail: every unit of round 1 failed: the job is paused, not stuck running");
	admin("GET", "/api/v1/admin/jobs/3", NULL, 0, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	TAP_IS_STR(json_string_value(json_object_get(j, "reason")),
		   "every unit of round 1 failed: nothing to merge",
		   "  ... and its status says why");
	json_decref(j);
	TAP_IS(admin("POST", "/api/v1/admin/jobs/3/resume", NULL, 0, &f), 409,
	       "  ... resuming it is refused (409): it would pause again");
	tap_ok(f.body && strstr(f.body, "every unit of round 1 failed"), "  ... saying why");
	fetch_release(&f);
	TAP_IS(admin("POST", "/api/v1/admin/jobs/3/cancel", NULL, 0, &f), 200,
	       "  ... cancelling it is not");
	fetch_release(&f);
	admin("GET", "/api/v1/admin/jobs/3", NULL, 0, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	TAP_IS_STR(json_string_value(json_object_get(j, "reason")), "cancelled by an admin",
		   "  ... and then its status says who cancelled it");
	json_decref(j);
}

static void test_admin_actions(void)
{
	char path[96];
	struct fetch f;
	json_t *j;

	snprintf(path, sizeof(path), "/api/v1/admin/hosts/%lld/clear", (long long)hosts[BAD].id);
	TAP_IS(admin("POST", path, NULL, 0, &f), 200, "host clear answers");
	fetch_release(&f);
	admin("GET", "/api/v1/admin/hosts", NULL, 0, &f);
	j = f.body ? json_loads(f.body, 0, NULL) : NULL;
	TAP_IS(json_integer_value(json_object_get(json_array_get(j, 0), "blocked")), 0,
	       "  ... and unblocks the host");
	json_decref(j);
	fetch_release(&f);
	snprintf(path, sizeof(path), "/api/v1/admin/hosts/%lld/ban", (long long)hosts[BAD].id);
	TAP_IS(admin("POST", path, NULL, 0, &f), 200, "host ban answers");
	fetch_release(&f);
	TAP_IS(host_send(&hosts[BAD], "POST", "/api/v1/work", "{}", 2, NULL, &f), 403,
	       "  ... and the banned host is refused");
	fetch_release(&f);
	TAP_IS(admin("POST", "/api/v1/admin/jobs/1/resume", NULL, 0, &f), 409,
	       "resuming a finished job is refused (409)");
	fetch_release(&f);
	TAP_IS(admin("POST", "/api/v1/admin/jobs/9/pause", NULL, 0, &f), 404,
	       "pausing an unknown job: 404");
	fetch_release(&f);
	TAP_IS(admin("GET", "/api/v1/admin/jobs/9", NULL, 0, &f), 404,
	       "status of an unknown job: 404");
	fetch_release(&f);
}

static int setup(void)
{
	struct server_options opt = {0};
	struct key_public pk;
	const char *keys[1];
	char pub[400];
	struct error err;

	if (tap_tmpdir(root, sizeof(root)) < 0)
		return -1;
	snprintf(state, sizeof(state), "%s/state", root);
	snprintf(keydir, sizeof(keydir), "%s/keys", root);
	snprintf(pub, sizeof(pub), "%s/admin.pub", keydir);
	mkdir(keydir, 0700);
	key_generate(&admin_pk, &admin_sk);
	key_generate(&pk, &other_sk);
	if (key_write_pair(keydir, "admin", &admin_pk, &admin_sk, &err) < 0)
		return -1;
	keys[0] = pub;
	opt.state_dir = state;
	opt.listen = "127.0.0.1:0";
	opt.threads = 2;
	opt.admin_keys = keys;
	opt.n_admin_keys = 1;
	if (server_open(&srv, &opt, &err) < 0 || coord_new(&coord, srv, &err) < 0 ||
	    server_start(srv, &err) < 0) {
		tap_diag("cannot start: %s", err.msg);
		return -1;
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", server_port(srv));
	return 0;
}

int main(void)
{
	struct hash shards[64];
	unsigned char *corpus;
	json_t *st, *exp;
	struct fetch f;
	size_t i;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (setup() < 0)
		return tap_done();
	corpus_len = 24000;
	shard_size = 4096;
	corpus = make_corpus(corpus_len);
	test_admin_auth();
	test_dataset(corpus, corpus_len, shard_size);
	for (i = 0; i * shard_size < corpus_len; i++) {
		size_t n = corpus_len - i * shard_size < shard_size ? corpus_len - i * shard_size
								    : shard_size;
		hash_buf(&shards[i], corpus + i * shard_size, n);
	}
	test_specs();
	test_generator();
	register_hosts();
	st = run_job(shards, i);
	test_outcome(st);
	json_decref(st);
	admin("GET", "/api/v1/admin/jobs/1/export", NULL, 0, &f);
	exp = f.body ? json_loads(f.body, 0, NULL) : NULL;
	fetch_release(&f);
	check_merged(exp);
	json_decref(exp);
	test_merge_redo();
	test_export_audit();
	test_late_result(shards, i);
	test_failed_unit(shards, i);
	test_admin_actions();
	server_stop(srv);
	coord_free(coord);
	server_free(srv);
	free(corpus);
	curl_global_cleanup();
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
