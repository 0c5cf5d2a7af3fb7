/*
 * api_admin.c - the admin endpoints under /api/v1/admin (docs/PROTOCOL.md
 * "Admin API"): blobs and datasets, jobs, hosts, the ledger. Every request
 * is signed by an allowed admin key (auth.h, domain "agora-admin-v1") with
 * a fresh nonce; a request that fails authentication stores nothing.
 *
 * The routes are added to the server by coord_new() (server hooks); their
 * ctx is the struct api, and the coordinator is the hooks' ctx.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server-tools/api.h"
#include "server-tools/auth.h"
#include "server-tools/blobstore.h"
#include "server-tools/coord.h"
#include "server-tools/dataset.h"
#include "server-tools/db.h"
#include "server-tools/jobspec.h"
#include "server-tools/server.h"
#ifdef HAVE_BOINC_SERVER
#include "server-tools/boinc_server.h"
#endif
#include "workunits/envelope.h"

#define ADMIN_PREFIX   API_PREFIX "/admin"
#define ADMIN_BLOB_MAX (DATASET_SHARD_MAX + (1u << 20)) /* a shard's container */
#define ADMIN_CTRL_MAX 4096

static struct coord *admin_coord(void *ctx)
{
	return server_hooks(api_server(ctx))->ctx;
}

/* Authenticates an admin request (signature over the body, allowed key,
 * fresh nonce). Answers and returns -1 on refusal. */
static int admin_auth(struct http_request *req, void *ctx, const void *body, size_t len)
{
	struct server *s = api_server(ctx);
	const char *who = http_request_header(req, AUTH_HEADER_ADMIN);
	struct auth_claims c;
	struct key_public pk;
	struct hash bh;
	struct error err;
	int64_t now = (int64_t)time(NULL);
	int rc;

	if (!who) {
		http_respond_error(req, 401, "missing_auth", "missing header '%s'",
				   AUTH_HEADER_ADMIN);
		return -1;
	}
	rc = auth_parse(&c, NULL, http_request_header(req, AUTH_HEADER_TIME),
			http_request_header(req, AUTH_HEADER_NONCE),
			http_request_header(req, AUTH_HEADER_SIGNATURE), &err);
	if (rc == 0 && key_public_from_hex(&pk, who, &err) < 0)
		rc = ERROR_FORMAT;
	if (rc < 0) {
		http_respond_error(req, 401,
				   rc == ERROR_MISSING ? "missing_auth" : "bad_auth_header", "%s",
				   err.msg);
		return -1;
	}
	if (!server_admin_allowed(s, &pk)) {
		http_respond_error(req, 401, "unknown_admin", "key %.16s... is not an admin key",
				   who);
		return -1;
	}
	hash_buf(&bh, body ? body : (const void *)"", len);
	rc = auth_verify_admin(&pk, http_request_method(req), http_request_path(req), &c, &bh, now,
			       &err);
	if (rc < 0) {
		http_respond_error(req, 401, rc == ERROR_RANGE ? "stale_request" : "bad_signature",
				   "%s", err.msg);
		return -1;
	}
	rc = db_nonce_use(server_db(s), c.nonce, 0, now);
	if (rc < 0) {
		if (rc == ERROR_DUPLICATE)
			http_respond_error(req, 401, "replayed_nonce",
					   "this nonce was used before");
		else
			http_respond_error(req, 500, "internal", "cannot record the nonce");
		return -1;
	}
	return 0;
}

/* The accumulated body, authenticated; NULL body is fine (len 0). */
static int admin_begin(struct http_request *req, void *ctx, const unsigned char **body, size_t *len)
{
	*body = http_request_body(req, len);
	return admin_auth(req, ctx, *body, *len);
}

static void admin_json(struct http_request *req, json_t *o)
{
	if (!o)
		http_respond_error(req, 500, "internal", "cannot build the answer");
	else
		http_respond_json(req, 200, o);
}

/* ---- blobs and datasets ---- */

static void admin_blob_put(struct http_request *req, void *ctx)
{
	struct blob_caps caps = {.max_raw_size = DATASET_SHARD_MAX,
				 .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	struct server *s = api_server(ctx);
	struct blobstore_writer *w = NULL;
	const unsigned char *body;
	char hex[HASH_HEX_LEN + 1];
	struct blob_header hdr;
	struct error err;
	uint64_t stored;
	size_t len;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	if (len == 0) {
		http_respond_error(req, 400, "bad_body", "want a blob container");
		return;
	}
	if (blobstore_writer_new(server_blobstore(s), &w, &caps, ADMIN_BLOB_MAX, &err) < 0) {
		http_respond_error(req, 500, "internal", "cannot store the blob");
		return;
	}
	if (blobstore_writer_write(w, body, len, &err) < 0 ||
	    blobstore_writer_commit(w, &hdr, &stored, &err) < 0) {
		http_respond_error(req, err.code == ERROR_IO ? 500 : 400,
				   err.code == ERROR_IO ? "internal" : "bad_blob", "%s", err.msg);
		blobstore_writer_free(w);
		return;
	}
	blobstore_writer_free(w);
	hash_to_hex(&hdr.hash, hex);
	if (db_blob_add(server_db(s), hex, (int64_t)hdr.raw_size, (int64_t)stored,
			(int64_t)time(NULL)) < 0) {
		http_respond_error(req, 500, "internal", "cannot record the blob");
		return;
	}
	http_respond_json(req, 201,
			  json_pack("{s:s, s:I}", "hash", hex, "size", (json_int_t)hdr.raw_size));
}

static void admin_dataset_post(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	struct error err = {0};
	int64_t id = 0;
	size_t len;
	int rc;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	rc = coord_dataset_add(admin_coord(ctx), body, len, &id, &err);
	if (rc == 0)
		http_respond_json(req, 201, json_pack("{s:I}", "dataset_id", (json_int_t)id));
	else if (rc == ERROR_DUPLICATE)
		http_respond_error(req, 409, "exists", "%s", err.msg);
	else if (rc == ERROR_NOMEM || rc == ERROR_IO || rc == ERROR_DB)
		http_respond_error(req, 500, "internal", "%s", err.msg);
	else
		http_respond_error(req, 400, "bad_dataset", "%s", err.msg);
}

static void admin_dataset_list(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	size_t len;

	if (admin_begin(req, ctx, &body, &len) == 0)
		admin_json(req, coord_dataset_list(admin_coord(ctx)));
}

/* ---- jobs ---- */

static void admin_job_post(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	struct error err = {0};
	int64_t id = 0;
	size_t len;
	int rc;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	rc = coord_job_create(admin_coord(ctx), body ? (const void *)body : "", len, &id, &err);
	if (rc == 0)
		http_respond_json(req, 201, json_pack("{s:I}", "job_id", (json_int_t)id));
	else if (rc == ERROR_DUPLICATE)
		http_respond_error(req, 409, "exists", "%s", err.msg);
	else if (rc == ERROR_NOMEM || rc == ERROR_IO || rc == ERROR_DB)
		http_respond_error(req, 500, "internal", "%s", err.msg);
	else
		http_respond_error(req, 400, "bad_spec", "%s", err.msg);
}

static void admin_job_list(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	size_t len;

	if (admin_begin(req, ctx, &body, &len) == 0)
		admin_json(req, coord_job_list(admin_coord(ctx)));
}

/* Splits a suffix "ID" or "ID/WORD" (ID a positive decimal). */
static int admin_suffix(const char *suffix, int64_t *id, char *word, size_t size)
{
	char *end;
	long long v;

	if (!suffix || suffix[0] < '1' || suffix[0] > '9')
		return -1;
	v = strtoll(suffix, &end, 10);
	if (v <= 0 || (*end && *end != '/'))
		return -1;
	*id = v;
	word[0] = '\0';
	if (*end == '/' && snprintf(word, size, "%s", end + 1) >= (int)size)
		return -1;
	return 0;
}

static void admin_job_get(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	char word[16];
	json_t *o;
	int64_t id;
	size_t len;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	if (admin_suffix(http_request_suffix(req), &id, word, sizeof(word)) < 0 ||
	    (word[0] && strcmp(word, "export") != 0)) {
		http_respond_error(req, 404, "not_found", "want /admin/jobs/ID[/export]");
		return;
	}
	o = word[0] ? coord_job_export(admin_coord(ctx), id)
		    : coord_job_status(admin_coord(ctx), id);
	if (!o)
		http_respond_error(req, 404, "not_found", "no job %" PRId64, id);
	else
		http_respond_json(req, 200, o);
}

static void admin_job_action(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	struct error err = {0};
	char word[16];
	int64_t id;
	size_t len;
	int rc;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	if (admin_suffix(http_request_suffix(req), &id, word, sizeof(word)) < 0 || !word[0]) {
		http_respond_error(req, 404, "not_found", "want /admin/jobs/ID/ACTION");
		return;
	}
	rc = coord_job_set_state(admin_coord(ctx), id, word, &err);
	if (rc == 0)
		http_respond_json(
		    req, 200, json_pack("{s:I, s:s}", "job_id", (json_int_t)id, "action", word));
	else if (rc == ERROR_NOT_FOUND || rc == ERROR_INVALID)
		http_respond_error(req, 404, "not_found", "%s", err.msg);
	else if (rc == ERROR_STATE)
		http_respond_error(req, 409, "bad_state", "%s", err.msg);
	else
		http_respond_error(req, 500, "internal", "%s", err.msg);
}

/* ---- hosts and the ledger ---- */

static void admin_host_list(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	size_t len;

	if (admin_begin(req, ctx, &body, &len) == 0)
		admin_json(req, coord_host_list(admin_coord(ctx)));
}

static void admin_host_action(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	char word[16];
	int64_t id;
	size_t len;
	int rc;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	if (admin_suffix(http_request_suffix(req), &id, word, sizeof(word)) < 0 || !word[0]) {
		http_respond_error(req, 404, "not_found", "want /admin/hosts/ID/ACTION");
		return;
	}
	rc = coord_host_set(admin_coord(ctx), id, word);
	if (rc == 0)
		http_respond_json(
		    req, 200, json_pack("{s:I, s:s}", "host_id", (json_int_t)id, "action", word));
	else if (rc == ERROR_NOT_FOUND || rc == ERROR_INVALID)
		http_respond_error(req, 404, "not_found", "no host %" PRId64 " or action '%s'", id,
				   word);
	else
		http_respond_error(req, 500, "internal", "cannot change host %" PRId64, id);
}

static void admin_ledger_get(struct http_request *req, void *ctx)
{
	const unsigned char *body;
	char path[4096];
	struct stat st;
	size_t len;
	int fd;

	if (admin_begin(req, ctx, &body, &len) < 0)
		return;
	snprintf(path, sizeof(path), "%s/ledger.log", server_state_path(api_server(ctx)));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		http_respond_error(req, 404, "not_found", "no ledger yet");
		return;
	}
	http_respond_fd(req, 200, fd, 0, (uint64_t)st.st_size, "application/octet-stream");
}

static const struct http_route admin_routes[] = {
    {"PUT", ADMIN_PREFIX "/blobs", 0, ADMIN_BLOB_MAX, admin_blob_put, NULL, "admin"},
    {"POST", ADMIN_PREFIX "/datasets", 0, ENVELOPE_MAX, admin_dataset_post, NULL, "admin"},
    {"GET", ADMIN_PREFIX "/datasets", 0, 0, admin_dataset_list, NULL, "admin"},
    {"POST", ADMIN_PREFIX "/jobs", 0, JOBSPEC_JSON_MAX, admin_job_post, NULL, "admin"},
    {"GET", ADMIN_PREFIX "/jobs", 0, 0, admin_job_list, NULL, "admin"},
    {"GET", ADMIN_PREFIX "/jobs/", HTTP_ROUTE_PREFIX, 0, admin_job_get, NULL, "admin"},
    {"POST", ADMIN_PREFIX "/jobs/", HTTP_ROUTE_PREFIX, ADMIN_CTRL_MAX, admin_job_action, NULL,
     "admin"},
    {"GET", ADMIN_PREFIX "/hosts", 0, 0, admin_host_list, NULL, "admin"},
    {"POST", ADMIN_PREFIX "/hosts/", HTTP_ROUTE_PREFIX, ADMIN_CTRL_MAX, admin_host_action, NULL,
     "admin"},
    {"GET", ADMIN_PREFIX "/ledger", 0, 0, admin_ledger_get, NULL, "admin"},
#ifdef HAVE_BOINC_SERVER
    /* The BOINC client's routes (docs/BOINC.md). */
    BOINC_SERVER_ROUTES
#endif
};

const struct http_route *coord_admin_routes(size_t *n)
{
	*n = sizeof(admin_routes) / sizeof(admin_routes[0]);
	return admin_routes;
}
