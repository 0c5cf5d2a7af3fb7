/*
 * server-api-test.c - the coordinator's API against a real server on
 * 127.0.0.1 (a free port), driven with libcurl: project information,
 * signed registration, authenticated heartbeats, and every refusal
 * (malformed JSON, wrong types, oversized bodies, bad and replayed
 * signatures, stale times, unknown and banned hosts, blob names that are
 * not hashes) answered with a 4xx JSON error and nothing stored; blob
 * download with ETag / If-None-Match and Range; restart on the same state
 * directory.
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
#include "server-tools/server.h"
#include "tests/tap.h"
#include "tests/unit/server-tools/http-fetch.h"

static char state[300];
static char base[64];
static struct server *srv;

static const char *url(const char *path)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s%s", base, path);
	return buf;
}

static unsigned register_burst; /* 0: the server's default */

static int start(void)
{
	struct server_options opt = {
	    .state_dir = state, .listen = "127.0.0.1:0", .name = "testproject", .threads = 2};
	struct error err;

	opt.register_burst = register_burst;
	opt.register_every_s = register_burst ? 3600 : 0;
	if (server_open(&srv, &opt, &err) < 0 || server_start(srv, &err) < 0) {
		tap_diag("cannot start: %s", err.msg);
		return -1;
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", server_port(srv));
	return 0;
}

/* 1 when f is a JSON error object with this code. */
static int json_error_is(const struct fetch *f, const char *code)
{
	json_t *j = json_loadb(f->body, f->len, 0, NULL);
	const char *e = json_string_value(json_object_get(j, "error"));
	int ok = e && strcmp(e, code) == 0 && json_is_string(json_object_get(j, "detail"));

	if (!ok)
		tap_diag("  body: %s", f->body);
	json_decref(j);
	return ok;
}

static json_int_t json_int_field(const struct fetch *f, const char *name)
{
	json_t *j = json_loadb(f->body, f->len, 0, NULL);
	json_int_t v = json_integer_value(json_object_get(j, name));

	json_decref(j);
	return v;
}

static double json_real_field(const struct fetch *f, const char *name)
{
	json_t *j = json_loadb(f->body, f->len, 0, NULL);
	json_t *v = json_object_get(j, name);
	double d = json_is_number(v) ? json_number_value(v) : -1.0;

	json_decref(j);
	return d;
}

/* Sends a request signed with sk as host (0: registration) at time t.
 * hdrs receives the auth headers used (for replays). */
static long signed_req(const char *method, const char *path, const char *body, int64_t host,
		       const struct key_secret *sk, int64_t t, struct auth_headers *hdrs,
		       struct fetch *f)
{
	char lines[4][200];
	const char *list[5];
	struct hash bh;
	struct error err;
	struct fetch_options opt = {.headers = list};
	size_t len = body ? strlen(body) : 0;

	hash_buf(&bh, body ? body : "", len);
	if (auth_sign_request(sk, method, path, host, t, &bh, hdrs, &err) < 0) {
		tap_diag("cannot sign: %s", err.msg);
		memset(f, 0, sizeof(*f));
		return 0;
	}
	snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_TIME, hdrs->time);
	snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_NONCE, hdrs->nonce);
	snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_SIGNATURE, hdrs->signature);
	snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_HOST, hdrs->host);
	list[0] = lines[0];
	list[1] = lines[1];
	list[2] = lines[2];
	list[3] = host ? lines[3] : NULL;
	list[4] = NULL;
	fetch_url(method, url(path), body, len, &opt, f);
	return f->status;
}

/* Sends a request with exactly these auth headers (a replay). */
static long replay(const char *method, const char *path, const char *body,
		   const struct auth_headers *h, struct fetch *f)
{
	char lines[4][200];
	const char *list[5] = {lines[0], lines[1], lines[2], lines[3], NULL};
	struct fetch_options opt = {.headers = list};

	snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_TIME, h->time);
	snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_NONCE, h->nonce);
	snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_SIGNATURE, h->signature);
	snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_HOST, h->host);
	if (strcmp(h->host, "0") == 0)
		list[3] = NULL;
	fetch_url(method, url(path), body, body ? strlen(body) : 0, &opt, f);
	return f->status;
}

static void registration_body(char *buf, size_t size, const struct key_public *pk,
			      const char *account)
{
	char hex[KEY_PUBLIC_HEX_LEN + 1];

	key_public_to_hex(pk, hex);
	snprintf(buf, size, "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"cpu x86-64\"}",
		 hex, account);
}

static void test_project(void)
{
	struct key_public pk;
	struct fetch f;
	char path[400], hex[KEY_PUBLIC_HEX_LEN + 1];
	struct error err;
	json_t *j;

	fetch_url("GET", url("/api/v1/project"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "GET /api/v1/project");
	j = json_loadb(f.body, f.len, 0, NULL);
	snprintf(path, sizeof(path), "%s/keys/coordinator.pub", state);
	if (key_load_public(&pk, path, &err) < 0)
		tap_diag("%s", err.msg);
	key_public_to_hex(&pk, hex);
	TAP_OK(j && strcmp(json_string_value(json_object_get(j, "name")), "testproject") == 0,
	       "project name");
	TAP_OK(j && strcmp(json_string_value(json_object_get(j, "public_key")), hex) == 0,
	       "coordinator public key, as in keys/coordinator.pub");
	TAP_OK(j && json_string_length(json_object_get(j, "fingerprint")) == KEY_FINGERPRINT_LEN,
	       "fingerprint");
	TAP_IS(json_integer_value(json_object_get(j, "kernel_abi")), AGORA_KERNEL_ABI,
	       "kernel abi");
	json_decref(j);
	fetch_release(&f);
}

/* Posts a registration body signed by sk; checks a 400 with code and
 * that nothing was stored. */
static void refuse_registration(const char *body, const struct key_secret *sk, long status,
				const char *code, const char *name)
{
	struct db *db = server_db(srv);
	int64_t hosts = db_host_count(db), nonces = db_nonce_count(db);
	struct auth_headers h;
	struct fetch f;

	signed_req("POST", "/api/v1/hosts", body, 0, sk, time(NULL), &h, &f);
	TAP_IS(f.status, status, name);
	TAP_OK(json_error_is(&f, code), "%s: json error '%s'", name, code);
	TAP_OK(db_host_count(db) == hosts && db_nonce_count(db) == nonces, "%s: nothing stored",
	       name);
	fetch_release(&f);
}

static int64_t test_registration(const struct key_public *pk, const struct key_secret *sk,
				 const struct key_secret *other_sk)
{
	char body[600], big[6000];
	struct auth_headers h;
	struct fetch f;
	int64_t id;

	registration_body(body, sizeof(body), pk, "ann");
	signed_req("POST", "/api/v1/hosts", body, 0, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 201, "registration");
	id = json_int_field(&f, "host_id");
	TAP_OK(id > 0, "registration returns a host id");
	fetch_release(&f);
	TAP_IS(db_host_count(server_db(srv)), 1, "one host in the database");

	replay("POST", "/api/v1/hosts", body, &h, &f);
	TAP_IS(f.status, 401, "replayed registration refused");
	TAP_OK(json_error_is(&f, "replayed_nonce"), "replay: json error");
	fetch_release(&f);

	signed_req("POST", "/api/v1/hosts", body, 0, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 200, "registering the same key again");
	TAP_IS(json_int_field(&f, "host_id"), id, "gives the same id");
	fetch_release(&f);

	refuse_registration("{\"public_key\":", sk, 400, "bad_json", "malformed json");
	refuse_registration("[1,2]", sk, 400, "bad_json", "json array");
	refuse_registration("{\"public_key\":5,\"account\":\"a\",\"device\":\"\"}", sk, 400,
			    "bad_field", "key of the wrong type");
	refuse_registration("{\"public_key\":\"00\",\"account\":\"a\",\"device\":\"\"}", sk, 400,
			    "bad_field", "short key");
	registration_body(body, sizeof(body), pk, "ann smith");
	refuse_registration(body, sk, 400, "bad_field", "account with a space");
	registration_body(body, sizeof(body), pk, "");
	refuse_registration(body, sk, 400, "bad_field", "empty account");
	registration_body(body, sizeof(body), pk,
			  "a123456789012345678901234567890123456789012345678901234567890123456789");
	refuse_registration(body, sk, 400, "bad_field", "account too long");
	refuse_registration("{\"account\":\"a\",\"device\":\"\"}", sk, 400, "missing_field",
			    "missing key");
	registration_body(body, sizeof(body), pk, "ann");
	body[strlen(body) - 1] = '\0';
	strncat(body, ",\"admin\":true}", sizeof(body) - strlen(body) - 1);
	refuse_registration(body, sk, 400, "bad_field", "unknown field");
	registration_body(body, sizeof(body), pk, "ann");
	{
		char *d = strstr(body, "cpu x86-64");
		memcpy(d, "cpu\\u0007x", 10);
	}
	refuse_registration(body, sk, 400, "bad_field", "control character in device");
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	refuse_registration(big, sk, 413, "too_large", "oversized body");
	registration_body(body, sizeof(body), pk, "mallory");
	refuse_registration(body, other_sk, 401, "bad_signature",
			    "registering a key one does not hold");

	/* No auth headers at all. */
	fetch_url("POST", url("/api/v1/hosts"), body, strlen(body), NULL, &f);
	TAP_IS(f.status, 401, "unsigned registration refused");
	TAP_OK(json_error_is(&f, "missing_auth"), "unsigned: json error");
	fetch_release(&f);
	TAP_IS(db_host_count(server_db(srv)), 1, "still one host");
	return id;
}

static void test_heartbeat(int64_t id, const struct key_public *pk, const struct key_secret *sk,
			   const struct key_secret *other_sk)
{
	struct db *db = server_db(srv);
	struct auth_headers h;
	struct fetch f;
	int64_t nonces;

	signed_req("POST", "/api/v1/heartbeat", "{}", id, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 200, "heartbeat");
	TAP_IS(json_int_field(&f, "host_id"), id, "heartbeat names the host");
	fetch_release(&f);
	signed_req("POST", "/api/v1/heartbeat", NULL, id, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 200, "heartbeat without a body");
	TAP_OK(json_real_field(&f, "credit") == 0.0, "a new host has no credit");
	fetch_release(&f);
	db_lock(db);
	sqlite3_exec(db_sqlite(db), "UPDATE hosts SET credit = 2.5e9", NULL, NULL, NULL);
	db_unlock(db);
	signed_req("POST", "/api/v1/heartbeat", NULL, id, sk, time(NULL), &h, &f);
	TAP_OK(json_real_field(&f, "credit") == 2.5, "heartbeat reports credit in GFLOP");
	fetch_release(&f);

	nonces = db_nonce_count(db);
	replay("POST", "/api/v1/heartbeat", NULL, &h, &f);
	TAP_IS(f.status, 401, "replayed heartbeat");
	TAP_OK(json_error_is(&f, "replayed_nonce"), "replay: json error");
	fetch_release(&f);
	signed_req("POST", "/api/v1/heartbeat", "{}", id, sk, time(NULL) - 3600, &h, &f);
	TAP_IS(f.status, 401, "stale heartbeat");
	TAP_OK(json_error_is(&f, "stale_request"), "stale: json error");
	fetch_release(&f);
	signed_req("POST", "/api/v1/heartbeat", "{}", id, other_sk, time(NULL), &h, &f);
	TAP_IS(f.status, 401, "heartbeat signed by another key");
	TAP_OK(json_error_is(&f, "bad_signature"), "bad signature: json error");
	fetch_release(&f);
	signed_req("POST", "/api/v1/heartbeat", "{}", id + 1000, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 401, "heartbeat from an unknown host");
	TAP_OK(json_error_is(&f, "unknown_host"), "unknown host: json error");
	fetch_release(&f);
	signed_req("POST", "/api/v1/heartbeat", "[", id, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 400, "heartbeat with malformed json");
	fetch_release(&f);
	TAP_IS(db_nonce_count(db), nonces, "refused requests stored no nonce");
	{
		const char *list[] = {"X-Agora-Host: 1", "X-Agora-Time: 12", "X-Agora-Nonce: zz",
				      "X-Agora-Signature: 00", NULL};
		struct fetch_options opt = {.headers = list};
		fetch_url("POST", url("/api/v1/heartbeat"), "{}", 2, &opt, &f);
		TAP_IS(f.status, 401, "malformed auth headers");
		TAP_OK(json_error_is(&f, "bad_auth_header"), "malformed: json error");
		fetch_release(&f);
	}
	if (db_host_set_banned(db, id, 1) < 0)
		tap_diag("cannot ban");
	signed_req("POST", "/api/v1/heartbeat", "{}", id, sk, time(NULL), &h, &f);
	TAP_IS(f.status, 403, "banned host refused");
	TAP_OK(json_error_is(&f, "banned"), "banned: json error");
	fetch_release(&f);
	{
		char body[600];
		registration_body(body, sizeof(body), pk, "ann");
		signed_req("POST", "/api/v1/hosts", body, 0, sk, time(NULL), &h, &f);
		TAP_IS(f.status, 403, "a banned key cannot register again");
		TAP_OK(json_error_is(&f, "banned"), "re-registration: json error");
		fetch_release(&f);
	}
	if (db_host_set_banned(db, id, 0) < 0)
		tap_diag("cannot unban");
}

/* Names that are not hashes: 400; a hash not stored: 404. hex is a
 * stored blob's name (changed here). */
static void test_blob_names(char *hex)
{
	static const char *bad[] = {
	    "xyz",
	    "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678",
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567890",
	    "abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678g",
	    "",
	};
	char path[200];
	struct fetch f;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(path, sizeof(path), "/api/v1/blobs/%s", bad[i]);
		fetch_url("GET", url(path), NULL, 0, NULL, &f);
		TAP_IS(f.status, 400, "blob name that is not a hash: 400");
		TAP_OK(json_error_is(&f, "bad_hash"), "bad name: json error");
		fetch_release(&f);
	}
	hex[0] = hex[0] == '0' ? '1' : '0';
	snprintf(path, sizeof(path), "/api/v1/blobs/%s", hex);
	fetch_url("GET", url(path), NULL, 0, NULL, &f);
	TAP_IS(f.status, 404, "unknown blob 404");
	TAP_OK(json_error_is(&f, "not_found"), "404: json error");
	fetch_release(&f);
}

static void test_blobs(void)
{
	unsigned char raw[5000];
	char hex[HASH_HEX_LEN + 1], path[200], buf[200], etag[80];
	const char *list[3] = {NULL, NULL, NULL};
	struct fetch_options opt = {.headers = list};
	unsigned char *file = NULL;
	struct error err;
	struct hash h;
	struct fetch f;
	uint64_t stored;
	size_t i, flen = 0;
	int fd;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 31);
	if (blobstore_put_mem(server_blobstore(srv), raw, sizeof(raw), BLOB_CODEC_ZLIB, &h, &stored,
			      &err) < 0)
		tap_diag("cannot store: %s", err.msg);
	hash_to_hex(&h, hex);
	if (blobstore_get(server_blobstore(srv), &h, &fd, &stored, &err) == 0) {
		FILE *fp = fdopen(fd, "rb");
		file = malloc(stored);
		flen = fp ? fread(file, 1, stored, fp) : 0;
		if (fp)
			fclose(fp);
	}
	snprintf(path, sizeof(path), "/api/v1/blobs/%s", hex);
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	fetch_url("GET", url(path), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "blob download");
	TAP_OK(f.len == flen && flen == stored && memcmp(f.body, file, flen) == 0,
	       "the container's bytes");
	TAP_OK(fetch_header(&f, "ETag", buf, sizeof(buf)) && strcmp(buf, etag) == 0,
	       "ETag is the quoted hash");
	fetch_release(&f);

	fetch_url("HEAD", url(path), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "HEAD on a blob");
	TAP_OK(f.len == 0 && fetch_header(&f, "Content-Length", buf, sizeof(buf)) &&
		   strtoull(buf, NULL, 10) == flen,
	       "HEAD: no body, Content-Length of the blob");
	fetch_release(&f);

	snprintf(buf, sizeof(buf), "If-None-Match: %s", etag);
	list[0] = buf;
	fetch_url("GET", url(path), NULL, 0, &opt, &f);
	TAP_IS(f.status, 304, "If-None-Match gives 304");
	TAP_IS(f.len, 0, "304 has no body");
	fetch_release(&f);

	list[0] = "Range: bytes=10-19";
	fetch_url("GET", url(path), NULL, 0, &opt, &f);
	TAP_IS(f.status, 206, "Range gives 206");
	TAP_OK(f.len == 10 && memcmp(f.body, file + 10, 10) == 0, "the ten bytes asked for");
	snprintf(etag, sizeof(etag), "bytes 10-19/%zu", flen);
	TAP_OK(fetch_header(&f, "Content-Range", buf, sizeof(buf)) && strcmp(buf, etag) == 0,
	       "Content-Range");
	fetch_release(&f);
	list[0] = "Range: bytes=-5";
	fetch_url("GET", url(path), NULL, 0, &opt, &f);
	TAP_OK(f.status == 206 && f.len == 5 && memcmp(f.body, file + flen - 5, 5) == 0,
	       "suffix range");
	fetch_release(&f);
	snprintf(buf, sizeof(buf), "Range: bytes=%zu-", flen);
	list[0] = buf;
	fetch_url("GET", url(path), NULL, 0, &opt, &f);
	TAP_IS(f.status, 416, "range past the end gives 416");
	TAP_OK(json_error_is(&f, "bad_range"), "416: json error");
	fetch_release(&f);
	list[0] = "Range: bytes=0-1,5-6";
	fetch_url("GET", url(path), NULL, 0, &opt, &f);
	TAP_OK(f.status == 200 && f.len == flen, "several ranges: whole blob");
	fetch_release(&f);

	test_blob_names(hex);
	free(file);
}

static void test_stats(void)
{
	struct fetch f;
	json_t *j, *ep;
	size_t i;
	int found = 0;

	fetch_url("GET", url("/api/v1/stats"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "GET /api/v1/stats");
	j = json_loadb(f.body, f.len, 0, NULL);
	TAP_IS(json_integer_value(json_object_get(j, "hosts")), 1, "stats: one host");
	json_array_foreach(json_object_get(j, "endpoints"), i, ep)
	{
		const char *name = json_string_value(json_object_get(ep, "name"));
		if (name && strcmp(name, "hosts") == 0)
			found = json_integer_value(json_object_get(ep, "requests")) >= 10 &&
				json_integer_value(json_object_get(ep, "client_errors")) >= 10;
	}
	TAP_OK(found, "stats: registration requests and refusals counted");
	json_decref(j);
	fetch_release(&f);
}

static void test_restart(const struct key_public *pk)
{
	struct server *second = NULL;
	struct server_options opt = {.state_dir = state, .listen = "127.0.0.1:0"};
	char pub_before[KEY_PUBLIC_HEX_LEN + 1], pub_after[KEY_PUBLIC_HEX_LEN + 1];
	struct db_host h;
	struct error err;

	key_public_to_hex(server_public_key(srv), pub_before);
	TAP_IS(server_open(&second, &opt, &err), ERROR_STATE,
	       "a second server on the same state directory is refused");
	server_free(second);
	server_free(srv);
	srv = NULL;
	if (start() < 0) {
		tap_ok(0, "restart");
		return;
	}
	tap_ok(1, "restart on the same state directory");
	key_public_to_hex(server_public_key(srv), pub_after);
	TAP_OK(strcmp(pub_before, pub_after) == 0, "same coordinator key after restart");
	TAP_IS(db_schema_version(server_db(srv)), DB_SCHEMA_VERSION, "schema version unchanged");
	TAP_IS(db_host_find_key(server_db(srv), pk->bytes, &h), 0, "registered host survives");
}

/* Registrations from one address beyond the burst: 429, Retry-After. */
static void test_rate_limit(void)
{
	struct fetch f;
	char buf[32];
	int i;

	server_free(srv);
	srv = NULL;
	register_burst = 2;
	if (start() < 0) {
		tap_ok(0, "restart with a registration limit");
		return;
	}
	for (i = 0; i < 2; i++) {
		fetch_url("POST", url("/api/v1/hosts"), "{}", 2, NULL, &f);
		TAP_IS(f.status, 400, "a registration within the burst is served");
		fetch_release(&f);
	}
	fetch_url("POST", url("/api/v1/hosts"), "{}", 2, NULL, &f);
	TAP_IS(f.status, 429, "the next one from the same address: 429");
	TAP_OK(json_error_is(&f, "rate_limited"), "429: json error");
	TAP_OK(fetch_header(&f, "Retry-After", buf, sizeof(buf)) && strtol(buf, NULL, 10) > 0,
	       "429 says when to retry");
	fetch_release(&f);
	fetch_url("GET", url("/api/v1/project"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "other endpoints are not limited");
	fetch_release(&f);
}

int main(void)
{
	struct key_public pk, pk2;
	struct key_secret sk, sk2;
	int64_t id;

	signal(SIGPIPE, SIG_IGN);
	if (tap_tmpdir(state, sizeof(state) - 16) < 0)
		tap_skip_all("cannot make a scratch directory");
	strncat(state, "/state", sizeof(state) - strlen(state) - 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (key_generate(&pk, &sk) < 0 || key_generate(&pk2, &sk2) < 0)
		tap_skip_all("cannot make keys");
	if (start() < 0)
		tap_skip_all("cannot start a server on 127.0.0.1");

	test_project();
	id = test_registration(&pk, &sk, &sk2);
	test_heartbeat(id, &pk, &sk, &sk2);
	test_blobs();
	test_stats();
	test_restart(&pk);
	test_rate_limit();

	server_free(srv);
	curl_global_cleanup();
	{
		char cmd[400];
		snprintf(cmd, sizeof(cmd), "rm -rf '%.*s'", (int)(strlen(state) - 6), state);
		if (system(cmd) != 0)
			tap_diag("cannot clean up");
	}
	return tap_done();
}
