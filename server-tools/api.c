/*
 * api.c - the /api/v1 endpoints (see api.h and docs/PROTOCOL.md).
 *
 * Every handler follows the same order: parse and validate the request
 * completely, authenticate it, and only then touch the database. A
 * refused request therefore stores nothing; the only write before the
 * answer of an authenticated request is the nonce (replay protection),
 * recorded after its signature verified.
 */
#include "config.h"

#include "server-tools/api.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server-tools/auth.h"
#include "server-tools/blobstore.h"
#include "server-tools/dashboard.h"
#include "server-tools/db.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "server-tools/stats.h"
#include "workunits/envelope.h"
#include "workunits/hash.h"
#include "workunits/key.h"
#include "workunits/result.h"

/* Client addresses the registration limiter remembers (a collision
 * evicts: the limiter bounds honest mistakes and simple floods, not an
 * attacker with many addresses). */
#define API_LIMIT_SLOTS 256
/* The IPv6 prefix of the address-block rule (--distinct-netblock). */
#define API_NETBLOCK_V6 48
/* Seconds between two nonce prunes. */
#define API_PRUNE_EVERY_S 60

/* One client address's registration allowance (a token bucket). */
struct api_bucket {
	char addr[64];
	double tokens;
	int64_t last;
};

struct api {
	struct server *server;
	struct db *db;
	struct blobstore *blobs;
	struct http_server *http;
	_Atomic int64_t last_prune;
	pthread_mutex_t limit_lock;
	unsigned burst, every_s;
	struct api_bucket buckets[API_LIMIT_SLOTS];
};

int api_new(struct api **out, struct server *s, struct error *err)
{
	struct api *a = calloc(1, sizeof(*a));

	*out = NULL;
	if (!a)
		return error_set(err, ERROR_NOMEM, "out of memory");
	a->server = s;
	a->db = server_db(s);
	a->blobs = server_blobstore(s);
	pthread_mutex_init(&a->limit_lock, NULL);
	server_register_limit(s, &a->burst, &a->every_s);
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->limit_lock);
	free(a);
}

struct server *api_server(struct api *a)
{
	return a->server;
}

void api_set_http(struct api *a, struct http_server *http)
{
	a->http = http;
}

struct http_server *api_http(struct api *a)
{
	return a->http;
}

static int64_t api_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- shared pieces ---- */

/* Parses the body as one JSON object; answers 400 otherwise. An empty
 * body is an empty object when allow_empty. Returns NULL after answering. */
static json_t *api_json_body(struct http_request *req, int allow_empty)
{
	json_error_t jerr;
	const unsigned char *body;
	size_t len;
	json_t *j;

	body = http_request_body(req, &len);
	if (len == 0 && allow_empty)
		return json_object();
	j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_respond_error(req, 400, "bad_json", "line %d column %d: %s", jerr.line,
				   jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_respond_error(req, 400, "bad_json", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Refuses members not in the NULL-terminated list (typos fail loudly). */
static int api_only_fields(struct http_request *req, json_t *obj, const char *const *known)
{
	const char *key;
	json_t *v;
	size_t i;

	json_object_foreach(obj, key, v)
	{
		for (i = 0; known[i] && strcmp(known[i], key) != 0; i++)
			;
		if (!known[i]) {
			http_respond_error(req, 400, "bad_field", "unknown field '%.64s'", key);
			return -1;
		}
	}
	return 0;
}

/* A required string member of 1..max bytes (min 0 when may_be_empty). */
static const char *api_string(struct http_request *req, json_t *obj, const char *name, size_t max,
			      int may_be_empty)
{
	json_t *v = json_object_get(obj, name);
	size_t len;

	if (!v) {
		http_respond_error(req, 400, "missing_field", "field '%s' is required", name);
		return NULL;
	}
	if (!json_is_string(v)) {
		http_respond_error(req, 400, "bad_field", "field '%s' must be a string", name);
		return NULL;
	}
	len = json_string_length(v);
	if ((len == 0 && !may_be_empty) || len > max) {
		http_respond_error(req, 400, "bad_field", "field '%s' must have %d..%zu bytes",
				   name, may_be_empty ? 0 : 1, max);
		return NULL;
	}
	return json_string_value(v);
}

static int api_account_ok(const char *s)
{
	return strspn(s, API_ACCOUNT_CHARS) == strlen(s);
}

static int api_device_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* Answers a 500 (logged); returns -1 so checks can `return` it. */
static int api_internal(struct http_request *req, const char *what)
{
	log_error("cannot %s for '%s %s'", what, http_request_method(req), http_request_path(req));
	http_respond_error(req, 500, "internal", "cannot %s", what);
	return -1;
}

/* Answers status with a JSON error; returns -1 so checks can `return` it. */
static int api_refuse(struct http_request *req, unsigned status, const char *error, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

static int api_refuse(struct http_request *req, unsigned status, const char *error, const char *fmt,
		      ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	http_respond_error(req, status, error, "%s", detail);
	return -1;
}

static void api_prune(struct api *a, int64_t now)
{
	int64_t last = atomic_load(&a->last_prune);

	if (now - last < API_PRUNE_EVERY_S ||
	    !atomic_compare_exchange_strong(&a->last_prune, &last, now))
		return;
	if (db_nonce_prune(a->db, now - SERVER_NONCE_KEEP_S) < 0)
		log_warn("cannot prune request nonces");
}

/* Checks claims signed by pk and, when record, records the nonce.
 * Answers and returns a negative error on refusal. */
static int api_check_signed(struct api *a, struct http_request *req, const struct key_public *pk,
			    const struct auth_claims *c, int64_t host, int record)
{
	const unsigned char *body;
	struct hash body_hash;
	struct error err;
	int64_t now = api_now();
	size_t len;
	int rc;

	body = http_request_body(req, &len);
	hash_buf(&body_hash, body ? (const void *)body : (const void *)"", len);
	rc = auth_verify_request(pk, http_request_method(req), http_request_path(req), c,
				 &body_hash, now, &err);
	if (rc == ERROR_RANGE)
		return api_refuse(req, 401, "stale_request", "%s", err.msg);
	if (rc == ERROR_SIGNATURE)
		return api_refuse(req, 401, "bad_signature", "%s", err.msg);
	if (rc < 0)
		return api_refuse(req, 400, "bad_request", "%s", err.msg);
	api_prune(a, now);
	if (!record)
		return 0;
	rc = db_nonce_use(a->db, c->nonce, host, now);
	if (rc == ERROR_DUPLICATE)
		return api_refuse(req, 401, "replayed_nonce", "this nonce was used before");
	if (rc < 0)
		return api_internal(req, "record the nonce");
	return 0;
}

/* Authenticates a request from a registered host: fills *host. The nonce
 * is recorded here, unless nonce is not NULL: then it is copied there and
 * the caller records it in its own transaction (one commit per request). */
static int api_authenticate(struct api *a, struct http_request *req, struct db_host *host,
			    unsigned char *nonce)
{
	struct key_public pk;
	struct auth_claims c;
	struct error err;
	const char *hh = http_request_header(req, AUTH_HEADER_HOST);
	int rc;

	if (!hh)
		return api_refuse(req, 401, "missing_auth", "missing header '%s'",
				  AUTH_HEADER_HOST);
	rc = auth_parse(&c, hh, http_request_header(req, AUTH_HEADER_TIME),
			http_request_header(req, AUTH_HEADER_NONCE),
			http_request_header(req, AUTH_HEADER_SIGNATURE), &err);
	if (rc < 0)
		return api_refuse(req, 401,
				  rc == ERROR_MISSING ? "missing_auth" : "bad_auth_header", "%s",
				  err.msg);
	rc = db_host_get(a->db, c.host, host);
	if (rc == ERROR_NOT_FOUND)
		return api_refuse(req, 401, "unknown_host", "no host %" PRId64, c.host);
	if (rc < 0)
		return api_internal(req, "look the host up");
	memcpy(pk.bytes, host->public_key, sizeof(pk.bytes));
	rc = api_check_signed(a, req, &pk, &c, host->id, nonce == NULL);
	if (rc < 0)
		return rc;
	if (host->banned)
		return api_refuse(req, 403, "banned", "host %" PRId64 " is banned", host->id);
	if (nonce)
		memcpy(nonce, c.nonce, AUTH_NONCE_BYTES);
	return 0;
}

/* ---- GET /api/v1/project ---- */

static void api_project(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	const struct key_public *pk = server_public_key(a->server);
	char hex[KEY_PUBLIC_HEX_LEN + 1], fp[KEY_FINGERPRINT_LEN + 1];
	struct db_project p;

	if (db_project_get(a->db, &p) < 0) {
		api_internal(req, "read the project");
		return;
	}
	key_public_to_hex(pk, hex);
	key_fingerprint(pk, fp);
	http_respond_json(req, 200,
			  json_pack("{s:s, s:I, s:s, s:s, s:i, s:i, s:I}", "name", p.name,
				    "created", (json_int_t)p.created, "public_key", hex,
				    "fingerprint", fp, "kernel_abi", AGORA_KERNEL_ABI, "protocol",
				    AGORA_PROTOCOL_VERSION, "server_time", (json_int_t)api_now()));
}

/* ---- registration rate limit ---- */

/* Takes one token from addr's bucket: 0, or the seconds to wait. */
static int64_t api_limit_take(struct api *a, const char *addr, int64_t now)
{
	struct api_bucket *b;
	uint32_t h = 2166136261u; /* FNV-1a */
	const char *p;
	int64_t wait = 0;

	for (p = addr; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	pthread_mutex_lock(&a->limit_lock);
	b = &a->buckets[h % API_LIMIT_SLOTS];
	if (strcmp(b->addr, addr) != 0) {
		snprintf(b->addr, sizeof(b->addr), "%s", addr);
		b->tokens = a->burst;
		b->last = now;
	}
	if (now > b->last) {
		b->tokens += (double)(now - b->last) / a->every_s;
		if (b->tokens > a->burst)
			b->tokens = a->burst;
		b->last = now;
	}
	if (b->tokens >= 1)
		b->tokens -= 1;
	else
		wait = (int64_t)((1 - b->tokens) * a->every_s) + 1;
	pthread_mutex_unlock(&a->limit_lock);
	return wait;
}

/* Answers 429 when the client registers too often; returns -1 then. */
static int api_limit_registration(struct api *a, struct http_request *req)
{
	char addr[64], retry[24];
	int64_t wait;

	if (http_request_client(req, addr, sizeof(addr)) < 0)
		return 0;
	wait = api_limit_take(a, addr, api_now());
	if (!wait)
		return 0;
	snprintf(retry, sizeof(retry), "%lld", (long long)wait);
	http_request_add_header(req, "Retry-After", retry);
	return api_refuse(req, 429, "rate_limited", "too many registrations from %s; retry in %s s",
			  addr, retry);
}

/* ---- POST /api/v1/hosts ---- */

static const char *const api_host_fields[] = {"public_key", "account", "device", NULL};

/* Validates a registration body; fills pk and points at the strings
 * (owned by j). Answers and returns -1 on refusal. */
static int api_host_parse(struct http_request *req, json_t *j, struct key_public *pk,
			  const char **account, const char **device)
{
	const char *key_hex;
	struct error err;

	if (api_only_fields(req, j, api_host_fields) < 0)
		return -1;
	key_hex = api_string(req, j, "public_key", KEY_PUBLIC_HEX_LEN, 0);
	if (!key_hex)
		return -1;
	if (key_public_from_hex(pk, key_hex, &err) < 0) {
		http_respond_error(req, 400, "bad_field",
				   "field 'public_key' must be %d lowercase hex digits",
				   KEY_PUBLIC_HEX_LEN);
		return -1;
	}
	*account = api_string(req, j, "account", DB_ACCOUNT_MAX, 0);
	if (!*account)
		return -1;
	if (!api_account_ok(*account)) {
		http_respond_error(req, 400, "bad_field",
				   "field 'account' may only hold letters, digits and ._@+-");
		return -1;
	}
	*device = api_string(req, j, "device", DB_DEVICE_MAX, 1);
	if (!*device)
		return -1;
	if (!api_device_ok(*device)) {
		http_respond_error(req, 400, "bad_field",
				   "field 'device' may not hold control characters");
		return -1;
	}
	return 0;
}

static void api_hosts_post(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	const char *account = NULL, *device = NULL;
	struct key_public pk;
	struct auth_claims c;
	struct db_host h;
	struct error err;
	int64_t id = 0;
	json_t *j;
	int rc;

	if (api_limit_registration(a, req) < 0)
		return;
	if (http_request_header(req, AUTH_HEADER_HOST)) {
		http_respond_error(req, 400, "bad_auth_header",
				   "a registration carries no '%s' header", AUTH_HEADER_HOST);
		return;
	}
	j = api_json_body(req, 0);
	if (!j)
		return;
	if (api_host_parse(req, j, &pk, &account, &device) < 0)
		goto out;
	rc = auth_parse(&c, NULL, http_request_header(req, AUTH_HEADER_TIME),
			http_request_header(req, AUTH_HEADER_NONCE),
			http_request_header(req, AUTH_HEADER_SIGNATURE), &err);
	if (rc < 0) {
		http_respond_error(req, 401,
				   rc == ERROR_MISSING ? "missing_auth" : "bad_auth_header", "%s",
				   err.msg);
		goto out;
	}
	/* Proof of possession: the body is signed by the key it registers. */
	if (api_check_signed(a, req, &pk, &c, 0, 1) < 0)
		goto out;
	rc = db_host_add(a->db, pk.bytes, account, device, api_now(), &id);
	if (rc == ERROR_DUPLICATE) {
		if (db_host_get(a->db, id, &h) == 0 && h.banned)
			http_respond_error(req, 403, "banned", "host %" PRId64 " is banned", id);
		else
			http_respond_json(
			    req, 200,
			    json_pack("{s:I, s:b}", "host_id", (json_int_t)id, "created", 0));
		goto out;
	}
	if (rc < 0) {
		api_internal(req, "register the host");
		goto out;
	}
	log_info("registered host %" PRId64 " for account '%s'", id, account);
	http_respond_json(req, 201,
			  json_pack("{s:I, s:b}", "host_id", (json_int_t)id, "created", 1));
out:
	json_decref(j);
}

/* ---- POST /api/v1/heartbeat ---- */

/* The credit unit of the ledger (server-tools/ledger.h): 1 credit = 1
 * GFLOP of validated work. */
#define API_FLOPS_PER_CREDIT 1e9

static void api_heartbeat(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	struct db_host host;
	json_t *j;

	j = api_json_body(req, 1);
	if (!j)
		return;
	if (api_authenticate(a, req, &host, NULL) == 0)
		http_respond_json(req, 200,
				  json_pack("{s:I, s:I, s:i, s:f}", "host_id", (json_int_t)host.id,
					    "server_time", (json_int_t)api_now(),
					    "next_heartbeat_s", (int)server_heartbeat_s(a->server),
					    "credit", host.credit_flops / API_FLOPS_PER_CREDIT));
	json_decref(j);
}

/* ---- GET /api/v1/blobs/<hash> ---- */

/* 1 when an If-None-Match / If-Range value names this entity tag. */
static int api_etag_matches(const char *h, const char *etag)
{
	return h && (strcmp(h, "*") == 0 || strstr(h, etag) != NULL);
}

static void api_blob_get(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	const char *hex = http_request_suffix(req), *range, *if_range;
	char etag[HASH_HEX_LEN + 3], value[96];
	uint64_t size, off = 0, len;
	struct error err;
	struct hash h;
	int fd, r = 0;

	if (hash_from_hex(&h, hex, &err) < 0) {
		http_respond_error(req, 400, "bad_hash",
				   "a blob is named by %d lowercase hex digits", HASH_HEX_LEN);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%s\"", hex);
	if (blobstore_get(a->blobs, &h, &fd, &size, &err) < 0) {
		if (err.code == ERROR_NOT_FOUND)
			http_respond_error(req, 404, "not_found", "no blob %s", hex);
		else
			api_internal(req, "open the blob");
		return;
	}
	http_request_add_header(req, "ETag", etag);
	http_request_add_header(req, "Cache-Control", "public, max-age=31536000, immutable");
	if (api_etag_matches(http_request_header(req, "If-None-Match"), etag)) {
		close(fd);
		http_respond_empty(req, 304);
		return;
	}
	http_request_add_header(req, "Accept-Ranges", "bytes");
	len = size;
	range = http_request_header(req, "Range");
	if_range = http_request_header(req, "If-Range");
	if (range && (!if_range || strcmp(if_range, etag) == 0))
		r = http_range_parse(range, size, &off, &len);
	if (r < 0) {
		close(fd);
		snprintf(value, sizeof(value), "bytes */%llu", (unsigned long long)size);
		http_request_add_header(req, "Content-Range", value);
		http_respond_error(req, 416, "bad_range", "range '%.64s' outside %llu bytes", range,
				   (unsigned long long)size);
		return;
	}
	if (r > 0) {
		snprintf(value, sizeof(value), "bytes %llu-%llu/%llu", (unsigned long long)off,
			 (unsigned long long)(off + len - 1), (unsigned long long)size);
		http_request_add_header(req, "Content-Range", value);
	}
	http_respond_fd(req, r > 0 ? 206 : 200, fd, off, len, "application/octet-stream");
}

/* ---- POST /api/v1/work ---- */

static const char *const api_work_fields[] = {"kernel_abi", NULL};

static void api_work(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	char addr[64], block[80];
	unsigned char nonce[AUTH_NONCE_BYTES];
	struct sched_assignment as;
	struct db_host host;
	json_t *j, *abi, *env;
	char retry[24];
	int rc;

	j = api_json_body(req, 1);
	if (!j)
		return;
	if (api_only_fields(req, j, api_work_fields) < 0)
		goto out;
	abi = json_object_get(j, "kernel_abi");
	if (abi && !json_is_integer(abi)) {
		http_respond_error(req, 400, "bad_field", "field 'kernel_abi' must be an integer");
		goto out;
	}
	if (api_authenticate(a, req, &host, nonce) < 0)
		goto out;
	if (abi && json_integer_value(abi) != AGORA_KERNEL_ABI) {
		http_respond_error(req, 409, "abi_mismatch", "this coordinator needs kernel ABI %d",
				   AGORA_KERNEL_ABI);
		goto out;
	}
	block[0] = '\0';
	if (server_distinct_netblock(a->server) &&
	    (http_request_client(req, addr, sizeof(addr)) < 0 ||
	     sched_netblock(addr, server_distinct_netblock(a->server), API_NETBLOCK_V6, block,
			    sizeof(block)) < 0)) {
		api_internal(req, "find the client's address block");
		goto out;
	}
	rc = sched_assign_from(a->db, host.id, host.account, block[0] ? block : NULL, nonce,
			       server_max_in_progress(a->server), api_now(), &as);
	if (rc == ERROR_DUPLICATE) {
		http_respond_error(req, 401, "replayed_nonce", "this nonce was used before");
		goto out;
	}
	if (rc == ERROR_NOT_FOUND || rc == ERROR_STATE || rc == ERROR_PERM) {
		snprintf(retry, sizeof(retry), "%d", SERVER_RETRY_S);
		http_request_add_header(req, "Retry-After", retry);
		http_respond_json(req, 200,
				  json_pack("{s:i, s:s}", "retry_after", SERVER_RETRY_S, "reason",
					    rc == ERROR_STATE  ? "in_progress_limit"
					    : rc == ERROR_PERM ? "blocked"
							       : "no_work"));
		goto out;
	}
	if (rc < 0) {
		api_internal(req, "assign work");
		goto out;
	}
	/* The envelope is text (header lines and canonical JSON): it travels
	 * as a JSON string, byte for byte. */
	env = json_stringn((const char *)as.envelope, as.envelope_len);
	if (!env)
		api_internal(req, "encode the envelope");
	else
		http_respond_json(req, 200,
				  json_pack("{s:I, s:s, s:I, s:i, s:o}", "replica",
					    (json_int_t)as.replica, "unit_id", as.uid, "deadline",
					    (json_int_t)as.deadline, "next_heartbeat_s",
					    (int)server_heartbeat_s(a->server), "envelope", env));
	log_debug("replica %" PRId64 " of unit %s to host %" PRId64, as.replica, as.uid, host.id);
	sched_assignment_release(&as);
out:
	json_decref(j);
}

/* ---- POST /api/v1/abandon ---- */

static const char *const api_abandon_fields[] = {"replica", "reason", NULL};
#define API_REASON_MAX 200

/* A host gives up a replica it cannot verify or compute. */
static void api_abandon(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	unsigned char nonce[AUTH_NONCE_BYTES];
	struct db_host host;
	const char *reason;
	json_t *j, *rep;
	int64_t replica;
	int rc;

	j = api_json_body(req, 0);
	if (!j)
		return;
	if (api_only_fields(req, j, api_abandon_fields) < 0)
		goto out;
	rep = json_object_get(j, "replica");
	if (!json_is_integer(rep) || json_integer_value(rep) < 1) {
		http_respond_error(req, 400, "bad_field", "field 'replica' must be a replica id");
		goto out;
	}
	replica = json_integer_value(rep);
	reason = api_string(req, j, "reason", API_REASON_MAX, 1);
	if (!reason)
		goto out;
	if (!api_device_ok(reason)) {
		http_respond_error(req, 400, "bad_field",
				   "field 'reason' may not hold control characters");
		goto out;
	}
	if (api_authenticate(a, req, &host, nonce) < 0)
		goto out;
	rc = sched_abandon(a->db, replica, host.id, nonce, api_now());
	if (rc == 0) {
		log_info("host %" PRId64 " abandoned replica %" PRId64 ": %s", host.id, replica,
			 reason);
		http_respond_json(
		    req, 200,
		    json_pack("{s:I, s:s}", "replica", (json_int_t)replica, "outcome", "error"));
	} else if (rc == ERROR_DUPLICATE) {
		http_respond_error(req, 401, "replayed_nonce", "this nonce was used before");
	} else if (rc == ERROR_NOT_FOUND) {
		http_respond_error(req, 404, "not_found", "no replica %" PRId64, replica);
	} else if (rc == ERROR_PERM) {
		http_respond_error(req, 403, "not_your_replica",
				   "replica %" PRId64 " is not assigned to host %" PRId64, replica,
				   host.id);
	} else if (rc == ERROR_STATE) {
		http_respond_error(req, 409, "replica_over", "replica %" PRId64 " is over",
				   replica);
	} else {
		api_internal(req, "abandon the replica");
	}
out:
	json_decref(j);
}

/* ---- PUT /api/v1/results/<replica> ---- */

#define API_ENVELOPE_LENGTH     "X-Agora-Envelope-Length"
#define API_RESULT_ENVELOPE_MAX (ENVELOPE_HEADER_MAX + RESULT_JSON_MAX)

/* One upload in flight: the body is the result envelope (its length in
 * X-Agora-Envelope-Length) followed by the Δ blob container. */
struct api_upload {
	struct db_host host;
	struct auth_claims claims;
	struct sched_replica replica;
	unsigned char *env;
	size_t env_len, env_have;
	struct result result;
	struct blobstore_writer *w;
	struct hash_state hs;
};

static void api_upload_release(void *p)
{
	struct api_upload *u = p;

	if (!u)
		return;
	blobstore_writer_free(u->w); /* removes an uncommitted temp file */
	free(u->env);
	free(u);
}

/* Strict positive decimal (no sign, no leading zero), below 10^15. */
static int api_decimal(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > 15 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Everything that can be checked before the body: the replica, the
 * envelope length, the host and the time window. The signature covers
 * the body and is checked at the end. Answers and returns <0 on refusal. */
static int api_upload_check(struct api *a, struct http_request *req, struct api_upload *u)
{
	struct error err;
	int64_t replica, env_len;
	int rc;

	if (api_decimal(http_request_suffix(req), &replica) < 0)
		return api_refuse(req, 400, "bad_replica", "want a replica id");
	if (api_decimal(http_request_header(req, API_ENVELOPE_LENGTH), &env_len) < 0 ||
	    env_len > (int64_t)API_RESULT_ENVELOPE_MAX)
		return api_refuse(req, 400, "bad_envelope_length", "header '%s' must be 1..%u",
				  API_ENVELOPE_LENGTH, (unsigned)API_RESULT_ENVELOPE_MAX);
	u->env_len = (size_t)env_len;
	if (!http_request_header(req, AUTH_HEADER_HOST))
		return api_refuse(req, 401, "missing_auth", "missing header '%s'",
				  AUTH_HEADER_HOST);
	rc = auth_parse(&u->claims, http_request_header(req, AUTH_HEADER_HOST),
			http_request_header(req, AUTH_HEADER_TIME),
			http_request_header(req, AUTH_HEADER_NONCE),
			http_request_header(req, AUTH_HEADER_SIGNATURE), &err);
	if (rc < 0)
		return api_refuse(req, 401,
				  rc == ERROR_MISSING ? "missing_auth" : "bad_auth_header", "%s",
				  err.msg);
	if (auth_check_time(&u->claims, api_now(), &err) < 0)
		return api_refuse(req, 401, "stale_request", "%s", err.msg);
	rc = db_host_get(a->db, u->claims.host, &u->host);
	if (rc == ERROR_NOT_FOUND)
		return api_refuse(req, 401, "unknown_host", "no host %" PRId64, u->claims.host);
	if (rc < 0 || (rc = sched_replica_get(a->db, replica, &u->replica)) == ERROR_DB)
		return api_internal(req, "look the upload up");
	if (u->host.banned)
		return api_refuse(req, 403, "banned", "host %" PRId64 " is banned", u->host.id);
	if (rc == ERROR_NOT_FOUND)
		return api_refuse(req, 404, "not_found", "no replica %" PRId64, replica);
	if (u->replica.host != u->host.id)
		return api_refuse(req, 403, "not_your_replica",
				  "replica %" PRId64 " is not assigned to host %" PRId64, replica,
				  u->host.id);
	if (strcmp(u->replica.state, "in_progress") != 0)
		return api_refuse(req, 409, "replica_over", "replica %" PRId64 " is over (%s)",
				  replica, u->replica.outcome);
	return 0;
}

/* The envelope is complete: open it with the host's key, check it answers
 * this replica's unit, and start the blob writer for the Δ it names. */
static int api_upload_envelope(struct api *a, struct http_request *req, struct api_upload *u)
{
	struct blob_caps caps = {.max_raw_size = 0, .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	struct key_public pk;
	char uid[HASH_HEX_LEN + 1];
	struct error err;

	memcpy(pk.bytes, u->host.public_key, sizeof(pk.bytes));
	if (result_open(&u->result, u->env, u->env_len, &pk, &err) < 0)
		return api_refuse(req, 400, "bad_result", "%s", err.msg);
	hash_to_hex(&u->result.unit_id, uid);
	if (strcmp(uid, u->replica.uid) != 0)
		return api_refuse(req, 400, "bad_result",
				  "the result answers unit %.16s..., not this replica's", uid);
	if (u->result.output_size > SERVER_RESULT_RAW_MAX)
		return api_refuse(req, 413, "too_large", "output of %llu bytes",
				  (unsigned long long)u->result.output_size);
	caps.max_raw_size = u->result.output_size;
	caps.want = &u->result.output;
	if (blobstore_writer_new(a->blobs, &u->w, &caps, SERVER_RESULT_MAX, &err) < 0)
		return api_internal(req, "store the upload");
	return 0;
}

/* Maps a blob writer failure to an answer. */
static int api_upload_blob_error(struct http_request *req, const struct error *err)
{
	if (err->code == ERROR_TOO_BIG)
		return api_refuse(req, 413, "too_large", "%s", err->msg);
	if (err->code == ERROR_IO || err->code == ERROR_NOMEM || err->code == ERROR_PERM)
		return api_internal(req, "store the upload");
	return api_refuse(req, 400, "bad_blob", "%s", err->msg);
}

static int api_upload_chunk(struct http_request *req, const void *data, size_t len, void *ctx)
{
	struct api *a = ctx;
	struct api_upload *u = http_request_state(req);
	const unsigned char *p = data;
	struct error err;
	size_t take;

	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return api_internal(req, "allocate");
		http_request_set_state(req, u, api_upload_release);
		if (api_upload_check(a, req, u) < 0)
			return ERROR_INVALID;
		u->env = malloc(u->env_len);
		if (!u->env)
			return api_internal(req, "allocate");
		hash_init(&u->hs);
	}
	hash_update(&u->hs, data, len);
	if (u->env_have < u->env_len) {
		take = len < u->env_len - u->env_have ? len : u->env_len - u->env_have;
		memcpy(u->env + u->env_have, p, take);
		u->env_have += take;
		p += take;
		len -= take;
		if (u->env_have == u->env_len && api_upload_envelope(a, req, u) < 0)
			return ERROR_INVALID;
	}
	if (len && blobstore_writer_write(u->w, p, len, &err) < 0)
		return api_upload_blob_error(req, &err);
	return 0;
}

/* The body is in: verify the signature, commit the blob, record the
 * result and the nonce (one write). */
static void api_upload_done(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	struct api_upload *u = http_request_state(req);
	const struct server_hooks *hooks;
	struct blob_header hdr;
	struct key_public pk;
	struct hash body_hash;
	struct error err;
	char out[HASH_HEX_LEN + 1];
	uint64_t stored;
	int64_t rid;
	int rc;

	if (!u || !u->w) {
		http_respond_error(req, 400, "bad_body", "want a result envelope and a blob");
		return;
	}
	hash_final(&u->hs, &body_hash);
	memcpy(pk.bytes, u->host.public_key, sizeof(pk.bytes));
	/* The time was checked when the upload began; a long upload must
	 * not fail for it, so check the signature at the claimed time. */
	if (auth_verify_request(&pk, http_request_method(req), http_request_path(req), &u->claims,
				&body_hash, u->claims.time, &err) < 0) {
		http_respond_error(req, 401, "bad_signature", "%s", err.msg);
		return;
	}
	/* The nonce is recorded with the result, in one commit. Committing
	 * the blob first costs nothing on a replay: the replayed body is the
	 * same signed bytes, so the same content-addressed blob. */
	if (blobstore_writer_commit(u->w, &hdr, &stored, &err) < 0) {
		api_upload_blob_error(req, &err);
		return;
	}
	if (hdr.raw_size != u->result.output_size) {
		http_respond_error(
		    req, 400, "bad_blob", "output has %llu bytes, the result says %llu",
		    (unsigned long long)hdr.raw_size, (unsigned long long)u->result.output_size);
		return;
	}
	hash_to_hex(&hdr.hash, out);
	hooks = server_hooks(a->server);
	rc = sched_result_record(a->db, u->replica.id, u->host.id, out, (int64_t)hdr.raw_size,
				 (int64_t)stored, u->env, u->env_len, api_now(),
				 hooks->result_added == NULL, u->claims.nonce, &rid);
	if (rc == ERROR_DUPLICATE) {
		http_respond_error(req, 401, "replayed_nonce", "this nonce was used before");
		return;
	}
	if (rc == ERROR_STATE) {
		http_respond_error(req, 409, "replica_over", "replica %" PRId64 " is over",
				   u->replica.id);
		return;
	}
	if (rc < 0) {
		api_internal(req, "record the result");
		return;
	}
	log_info("result %" PRId64 " for replica %" PRId64 " from host %" PRId64, rid,
		 u->replica.id, u->host.id);
	if (hooks->result_added)
		hooks->result_added(hooks->ctx, u->replica.unit);
	http_respond_json(req, 201,
			  json_pack("{s:I, s:s}", "result_id", (json_int_t)rid, "output", out));
}

/* ---- GET /api/v1/stats ---- */

/* Public counters for the dashboard: per endpoint requests, errors and
 * mean latency since start, and the overview's figures (stats.h, the
 * same as the dashboard's pages: docs/DASHBOARD.md). */
static void api_stats(struct http_request *req, void *ctx)
{
	struct api *a = ctx;
	json_t *o = stats_api_json(a->db, a->http, api_now());

	if (!o)
		http_respond_error(req, 500, "internal", "cannot read the stats");
	else
		http_respond_json(req, 200, o);
}

/* ---- the table ---- */

static const struct http_route api_route_table[] = {
    {"GET", API_PREFIX "/project", 0, 0, api_project, NULL, "project"},
    {"GET", API_PREFIX "/stats", 0, 0, api_stats, NULL, "stats"},
    {"POST", API_PREFIX "/hosts", 0, SERVER_CONTROL_BODY_MAX, api_hosts_post, NULL, "hosts"},
    {"POST", API_PREFIX "/heartbeat", 0, SERVER_CONTROL_BODY_MAX, api_heartbeat, NULL, "heartbeat"},
    {"GET", API_PREFIX "/blobs/", HTTP_ROUTE_PREFIX, 0, api_blob_get, NULL, "blobs"},
    {"POST", API_PREFIX "/work", 0, SERVER_CONTROL_BODY_MAX, api_work, NULL, "work"},
    {"POST", API_PREFIX "/abandon", 0, SERVER_CONTROL_BODY_MAX, api_abandon, NULL, "abandon"},
    {"PUT", API_PREFIX "/results/", HTTP_ROUTE_PREFIX | HTTP_ROUTE_STREAM, SERVER_RESULT_MAX,
     api_upload_done, api_upload_chunk, "results"},
    /* The dashboard: pages, their JSON and /metrics (dashboard.h). */
    DASHBOARD_ROUTES,
};

const struct http_route *api_routes(size_t *n)
{
	*n = sizeof(api_route_table) / sizeof(api_route_table[0]);
	return api_route_table;
}
