/*
 * server-work-test.c - the work cycle against a real server on 127.0.0.1:
 * a signed unit in the database, POST /api/v1/work hands its replicas to
 * two hosts of different accounts (the envelope verifies with the
 * coordinator key from /api/v1/project), a third request gets
 * retry_after, and PUT /api/v1/results/<replica> takes a signed result
 * envelope plus the Δ blob. Refusals — blob not matching the descriptor,
 * output larger than declared, result signed by another key or for
 * another unit, request signature that does not cover the body, someone
 * else's replica, an upload for a replica that is over — store nothing.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "server-tools/auth.h"
#include "server-tools/blobstore.h"
#include "server-tools/db.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "tests/tap.h"
#include "tests/unit/server-tools/http-fetch.h"
#include "workunits/blob.h"
#include "workunits/result.h"
#include "workunits/unit.h"

struct host {
	struct key_public pk;
	struct key_secret sk;
	int64_t id;
};

static char root[256], state[300], base[64];
static struct server *srv;
static char last_headers[4][200]; /* the auth headers of the last send_signed() */

/* Sends body signed by sk as host; extra is one more header or NULL. The
 * signature covers signed_body (normally the body itself). */
static long send_signed(const char *method, const char *path, const void *body, size_t len,
			const void *signed_body, size_t signed_len, int64_t host,
			const struct key_secret *sk, const char *extra, struct fetch *f)
{
	char lines[4][200], url[300];
	const char *list[6];
	struct auth_headers h;
	struct fetch_options opt = {.headers = list};
	struct error err;
	struct hash bh;
	int n = 0;

	hash_buf(&bh, signed_body ? signed_body : "", signed_len);
	if (auth_sign_request(sk, method, path, host, time(NULL), &bh, &h, &err) < 0)
		tap_diag("cannot sign: %s", err.msg);
	snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_TIME, h.time);
	snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_NONCE, h.nonce);
	snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_SIGNATURE, h.signature);
	snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_HOST, h.host);
	memcpy(last_headers, lines, sizeof(last_headers));
	list[n++] = lines[0];
	list[n++] = lines[1];
	list[n++] = lines[2];
	if (host)
		list[n++] = lines[3];
	if (extra)
		list[n++] = extra;
	list[n] = NULL;
	snprintf(url, sizeof(url), "%s%s", base, path);
	fetch_url(method, url, body, len, &opt, f);
	return f->status;
}

static int error_is(const struct fetch *f, const char *code)
{
	json_t *j = json_loadb(f->body, f->len, 0, NULL);
	const char *e = json_string_value(json_object_get(j, "error"));
	int ok = e && strcmp(e, code) == 0;

	if (!ok)
		tap_diag("  got %ld %s", f->status, f->body);
	json_decref(j);
	return ok;
}

static void register_host(struct host *h, const char *account)
{
	char body[300], hex[KEY_PUBLIC_HEX_LEN + 1];
	struct fetch f;
	json_t *j;

	if (key_generate(&h->pk, &h->sk) < 0)
		tap_skip_all("cannot make keys");
	key_public_to_hex(&h->pk, hex);
	snprintf(body, sizeof(body), "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"\"}",
		 hex, account);
	send_signed("POST", "/api/v1/hosts", body, strlen(body), body, strlen(body), 0, &h->sk,
		    NULL, &f);
	j = json_loadb(f.body, f.len, 0, NULL);
	h->id = json_integer_value(json_object_get(j, "host_id"));
	json_decref(j);
	fetch_release(&f);
}

/* A signed unit in the database of a running job; returns its id. */
static void add_unit(struct hash *uid)
{
	struct db *db = server_db(srv);
	struct key_secret sk;
	struct unit u;
	struct error err;
	unsigned char *json, *env = NULL;
	size_t len, env_len = 0;
	char path[400], hex[HASH_HEX_LEN + 1], sql[600];
	struct sched_unit su = {
	    .job = 1, .round = 0, .index = 0, .quorum = 2, .deadline_s = 3600, .flops = 1e9};
	int64_t unit_id;

	json = tap_read_srcfile("tests/fixtures/workunits/unit-valid.json", &len);
	snprintf(path, sizeof(path), "%s/keys/coordinator.key", state);
	if (!json || unit_parse(&u, json, len, &err) < 0 || key_load_secret(&sk, path, &err) < 0 ||
	    unit_seal(&u, &sk, &env, &env_len, uid, &err) < 0)
		tap_skip_all("cannot make a unit: %s", err.msg);
	free(json);
	hash_to_hex(uid, hex);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO blobs VALUES ('%s', 1, 1, 1);"
		 "INSERT INTO datasets (id, name, owner, licence, source, created)"
		 " VALUES (1, 'd', 'o', 'cc0', 's', 1);"
		 "INSERT INTO jobs (id, name, dataset, spec, quorum, rounds, inner_steps, seed,"
		 " state, created) VALUES (1, 'j', 1, '{}', 2, 1, 100, 42, 'running', 1);"
		 "INSERT INTO rounds (job, round, model, created) VALUES (1, 0, '%s', 1);",
		 hex, hex);
	db_lock(db);
	if (sqlite3_exec(db_sqlite(db), sql, NULL, NULL, NULL) != SQLITE_OK)
		tap_diag("setup: %s", sqlite3_errmsg(db_sqlite(db)));
	db_unlock(db);
	su.envelope = env;
	su.envelope_len = env_len;
	su.uid = hex;
	TAP_IS(sched_unit_add(db, &su, time(NULL), &unit_id), 0, "a signed unit with quorum 2");
	free(env);
}

/* Asks for work; returns the replica id (0 when none) and checks the
 * envelope against the coordinator key. */
static int64_t get_work(const struct host *h, const struct hash *uid)
{
	const char *body = "{\"kernel_abi\":1}";
	struct unit u;
	struct hash got;
	struct error err;
	struct fetch f;
	json_t *j;
	int64_t replica = 0;
	const char *env;

	send_signed("POST", "/api/v1/work", body, strlen(body), body, strlen(body), h->id, &h->sk,
		    NULL, &f);
	j = json_loadb(f.body, f.len, 0, NULL);
	if (f.status == 200 && json_object_get(j, "replica")) {
		replica = json_integer_value(json_object_get(j, "replica"));
		env = json_string_value(json_object_get(j, "envelope"));
		TAP_OK(
		    env &&
			unit_open(&u, &got, env, strlen(env), server_public_key(srv), &err) == 0 &&
			hash_equal(&got, uid),
		    "host %lld: the envelope verifies with the coordinator key", (long long)h->id);
		TAP_OK(json_integer_value(json_object_get(j, "deadline")) > time(NULL),
		       "the assignment has a deadline");
	} else if (f.status != 200 || !json_is_integer(json_object_get(j, "retry_after"))) {
		tap_diag("work: %ld %s", f.status, f.body);
	}
	json_decref(j);
	fetch_release(&f);
	return replica;
}

struct upload {
	unsigned char *body;
	size_t len, env_len;
	struct hash output;
};

/* Builds envelope || blob for a Δ of `size` pseudo-random bytes (seeded
 * by fill; every fourth byte zero, so zlib has something to do). */
static void make_upload(struct upload *up, const struct host *h, const struct key_secret *signer,
			const struct hash *uid, size_t size, unsigned char fill, int64_t declared)
{
	unsigned char *raw = malloc(size), *blob = NULL, *env = NULL;
	size_t blob_len = 0, env_len = 0;
	struct blob_header hdr;
	struct result r;
	struct error err;

	{
		uint32_t x = 2463534242u + fill;
		size_t i;
		for (i = 0; i < size; i++) { /* xorshift: every byte matters */
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			raw[i] = (unsigned char)(i % 4 ? x : 0);
		}
	}
	if (blob_encode_mem(raw, size, BLOB_CODEC_ZLIB, &blob, &blob_len, &hdr, &err) < 0)
		tap_diag("encode: %s", err.msg);
	result_init(&r);
	r.unit_id = *uid;
	r.host = h->pk;
	r.output = hdr.hash;
	r.output_size = declared >= 0 ? (uint64_t)declared : size;
	r.metrics.loss_first = 4.0;
	r.metrics.loss_last = 3.5;
	snprintf(r.compute.device, sizeof(r.compute.device), "test cpu");
	r.compute.seconds = 1;
	r.compute.steps = 100;
	if (signer != &h->sk)
		key_public_of(&r.host, signer);
	if (result_seal(&r, signer, &env, &env_len, &err) < 0)
		tap_diag("seal: %s", err.msg);
	up->len = env_len + blob_len;
	up->env_len = env_len;
	up->body = malloc(up->len);
	memcpy(up->body, env, env_len);
	memcpy(up->body + env_len, blob, blob_len);
	up->output = hdr.hash;
	free(raw);
	free(blob);
	free(env);
}

static long put_result(const struct host *h, int64_t replica, const struct upload *up,
		       int sign_other_body, struct fetch *f)
{
	char path[64], extra[64];

	snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)replica);
	snprintf(extra, sizeof(extra), "X-Agora-Envelope-Length: %zu", up->env_len);
	return send_signed("PUT", path, up->body, up->len, up->body,
			   sign_other_body ? up->len - 1 : up->len, h->id, &h->sk, extra, f);
}

/* A refused upload: status and code, and nothing stored. */
static void refuse(const struct host *h, int64_t replica, struct upload *up, int sign_other,
		   long status, const char *code, const char *name)
{
	struct sched_replica r;
	struct fetch f;

	put_result(h, replica, up, sign_other, &f);
	TAP_IS(f.status, status, name);
	TAP_OK(error_is(&f, code), "%s: error '%s'", name, code);
	TAP_OK(!blobstore_exists(server_blobstore(srv), &up->output), "%s: no blob stored", name);
	TAP_OK(sched_replica_get(server_db(srv), replica, &r) == 0 &&
		   strcmp(r.state, "in_progress") == 0,
	       "%s: replica still in progress", name);
	fetch_release(&f);
	free(up->body);
}

/* A replayed work request, and a host with another kernel ABI. The
 * replay reuses the headers of the last request (eve's). */
static void test_work_refusals(const struct host *eve)
{
	struct fetch f;

	{
		const char *body = "{\"kernel_abi\":1}";
		const char *list[] = {last_headers[0], last_headers[1], last_headers[2],
				      last_headers[3], NULL};
		struct fetch_options ro = {.headers = list};
		char u[128];
		snprintf(u, sizeof(u), "%s/api/v1/work", base);
		fetch_url("POST", u, body, strlen(body), &ro, &f);
		TAP_IS(f.status, 401, "a replayed work request is refused");
		TAP_OK(error_is(&f, "replayed_nonce"), "replay: error code");
		fetch_release(&f);
	}
	{
		const char *body = "{\"kernel_abi\":2}";
		send_signed("POST", "/api/v1/work", body, strlen(body), body, strlen(body), eve->id,
			    &eve->sk, NULL, &f);
		TAP_IS(f.status, 409, "another kernel ABI is refused");
		TAP_OK(error_is(&f, "abi_mismatch"), "abi: error code");
		fetch_release(&f);
	}
}

/* Uploads that must be refused, each leaving nothing behind. */
static void test_upload_refusals(const struct host *ann, const struct host *eve,
				 const struct hash *uid, int64_t rep_ann)
{
	struct hash other_uid;
	struct upload up;

	memset(&other_uid, 7, sizeof(other_uid));
	make_upload(&up, ann, &ann->sk, uid, 100000, 1, 99999);
	refuse(ann, rep_ann, &up, 0, 413, "too_large", "output larger than declared");
	make_upload(&up, ann, &eve->sk, uid, 100000, 2, -1);
	refuse(ann, rep_ann, &up, 0, 400, "bad_result", "result signed by another key");
	make_upload(&up, ann, &ann->sk, &other_uid, 100000, 3, -1);
	refuse(ann, rep_ann, &up, 0, 400, "bad_result", "result for another unit");
	make_upload(&up, ann, &ann->sk, uid, 100000, 4, -1);
	refuse(ann, rep_ann, &up, 1, 401, "bad_signature", "signature not covering the body");
	make_upload(&up, ann, &ann->sk, uid, 100000, 5, -1);
	up.body[up.len - 30] ^= 0x55; /* inside the zlib stream */
	refuse(ann, rep_ann, &up, 0, 400, "bad_blob", "corrupted blob");
	make_upload(&up, eve, &eve->sk, uid, 100000, 6, -1);
	refuse(eve, rep_ann, &up, 0, 403, "not_your_replica", "someone else's replica");
	make_upload(&up, ann, &ann->sk, uid, 100000, 7, -1);
	up.env_len += 1000000;
	refuse(ann, rep_ann, &up, 0, 400, "bad_envelope_length", "envelope length too big");
}

/* A second unit (index 18, quorum 1) sealed with the coordinator key. */
static void add_unit2(struct hash *uid)
{
	struct sched_unit su = {.job = 1, .round = 0, .index = 18, .quorum = 1, .deadline_s = 3600};
	unsigned char *json, *env = NULL;
	char path[400], hex[HASH_HEX_LEN + 1];
	struct key_secret sk;
	struct error err;
	struct unit u;
	size_t len, env_len = 0;
	int64_t unit_id;

	json = tap_read_srcfile("tests/fixtures/workunits/unit-valid.json", &len);
	snprintf(path, sizeof(path), "%s/keys/coordinator.key", state);
	if (!json || unit_parse(&u, json, len, &err) < 0 || key_load_secret(&sk, path, &err) < 0)
		tap_skip_all("cannot make a unit: %s", err.msg);
	u.index = 18;
	if (unit_seal(&u, &sk, &env, &env_len, uid, &err) < 0)
		tap_skip_all("cannot seal a unit: %s", err.msg);
	free(json);
	hash_to_hex(uid, hex);
	su.envelope = env;
	su.envelope_len = env_len;
	su.uid = hex;
	TAP_IS(sched_unit_add(server_db(srv), &su, time(NULL), &unit_id), 0, "a second unit");
	free(env);
}

static long abandon(const struct host *h, const char *body, struct fetch *f)
{
	return send_signed("POST", "/api/v1/abandon", body, strlen(body), body, strlen(body), h->id,
			   &h->sk, NULL, f);
}

/* POST /api/v1/abandon: eve gives her replica up; it goes to ann. */
static void test_abandon(const struct host *ann, const struct host *eve)
{
	struct sched_replica r;
	struct hash uid;
	struct fetch f;
	char body[200];
	int64_t rep;

	add_unit2(&uid);
	rep = get_work(eve, &uid);
	TAP_OK(rep > 0, "eve gets the second unit");
	snprintf(body, sizeof(body), "{\"replica\":%lld,\"reason\":\"bad\\u0001\"}",
		 (long long)rep);
	abandon(eve, body, &f);
	TAP_IS(f.status, 400, "a reason with a control character is refused");
	fetch_release(&f);
	snprintf(body, sizeof(body), "{\"replica\":%lld,\"reason\":\"signature\"}", (long long)rep);
	abandon(ann, body, &f);
	TAP_IS(f.status, 403, "ann cannot abandon eve's replica");
	TAP_OK(error_is(&f, "not_your_replica"), "not yours: error code");
	fetch_release(&f);
	abandon(eve, body, &f);
	TAP_IS(f.status, 200, "eve abandons her replica");
	fetch_release(&f);
	TAP_OK(sched_replica_get(server_db(srv), rep, &r) == 0 && strcmp(r.state, "over") == 0 &&
		   strcmp(r.outcome, "error") == 0,
	       "the replica is over, outcome error");
	abandon(eve, body, &f);
	TAP_IS(f.status, 409, "abandoning it again: replica over");
	fetch_release(&f);
	TAP_OK(get_work(ann, &uid) > 0, "the replacement goes to ann");
}

int main(void)
{
	struct server_options opt = {.listen = "127.0.0.1:0", .threads = 2};
	struct host ann, bob, eve;
	struct hash uid;
	struct upload up;
	struct sched_replica r;
	struct error err;
	struct fetch f;
	int64_t rep_ann, rep_bob;
	char cmd[400];

	signal(SIGPIPE, SIG_IGN);
	if (tap_tmpdir(root, sizeof(root)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(state, sizeof(state), "%s/state", root);
	opt.state_dir = state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (server_open(&srv, &opt, &err) < 0 || server_start(srv, &err) < 0)
		tap_skip_all("cannot start a server: %s", err.msg);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", server_port(srv));

	register_host(&ann, "ann");
	register_host(&bob, "bob");
	register_host(&eve, "eve");
	TAP_OK(ann.id > 0 && bob.id > 0 && eve.id > 0, "three hosts registered");
	add_unit(&uid);

	rep_ann = get_work(&ann, &uid);
	TAP_OK(rep_ann > 0, "ann gets a replica");
	TAP_IS(get_work(&ann, &uid), 0, "ann gets no second replica of the unit (retry_after)");
	rep_bob = get_work(&bob, &uid);
	TAP_OK(rep_bob > 0 && rep_bob != rep_ann, "bob gets the other replica");
	TAP_IS(get_work(&eve, &uid), 0, "eve finds no work left");
	test_work_refusals(&eve);

	test_upload_refusals(&ann, &eve, &uid, rep_ann);

	make_upload(&up, &ann, &ann.sk, &uid, 300000, 9, -1);
	put_result(&ann, rep_ann, &up, 0, &f);
	TAP_IS(f.status, 201, "ann's result accepted");
	TAP_OK(blobstore_exists(server_blobstore(srv), &up.output), "the output blob is stored");
	TAP_OK(sched_replica_get(server_db(srv), rep_ann, &r) == 0 &&
		   strcmp(r.state, "over") == 0 && strcmp(r.outcome, "success") == 0,
	       "replica over, success");
	fetch_release(&f);
	put_result(&ann, rep_ann, &up, 0, &f);
	TAP_IS(f.status, 409, "the same upload again: replica over");
	TAP_OK(error_is(&f, "replica_over"), "again: error code");
	fetch_release(&f);
	free(up.body);

	make_upload(&up, &bob, &bob.sk, &uid, 300000, 9, -1);
	put_result(&bob, rep_bob, &up, 0, &f);
	TAP_IS(f.status, 201, "bob's identical result accepted (same blob, stored once)");
	fetch_release(&f);
	free(up.body);
	{
		struct db_blob b;
		char hex[HASH_HEX_LEN + 1];
		hash_to_hex(&up.output, hex);
		TAP_IS(db_blob_get(server_db(srv), hex, &b), 0, "the blob is recorded");
		TAP_IS(b.size, 300000, "with its raw size");
	}
	TAP_IS(sched_replica_count(server_db(srv), "over"), 2, "both replicas over");
	test_abandon(&ann, &eve);

	server_free(srv);
	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
