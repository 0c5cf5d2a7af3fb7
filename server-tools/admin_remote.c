/*
 * admin_remote.c - the agora-admin commands that talk to a running
 * coordinator: `agora-admin --server URL --key FILE COMMAND ...` with
 * dataset add|list, job create|list|status|pause|resume|cancel, host
 * list|ban|unban|clear, model export and audit JOB. Each request is signed
 * with the admin key (auth_sign_admin(), docs/PROTOCOL.md "Admin API").
 *
 * Answers are capped at ADMIN_REPLY_MAX bytes (a blob download at its
 * container cap); errors print the server's one-line detail.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/admin.h"
#include "server-tools/auth.h"
#include "server-tools/dataset.h"
#include "workunits/blob.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define ADMIN_REPLY_MAX  ((size_t)1 << 30)
#define ADMIN_SHARD_SIZE (1u << 20)
#define ADMIN_FILES_MAX  (1u << 30) /* bytes of input files in one dataset add */
#define ADMIN_PATH_MAX   4096

static const char *admin_url;
static struct key_secret admin_sk;

struct admin_reply {
	long status;
	unsigned char *body;
	size_t len, cap;
};

static size_t admin_write(char *p, size_t size, size_t n, void *ctx)
{
	struct admin_reply *r = ctx;
	size_t len = size * n;
	unsigned char *nb;

	if (r->len + len > ADMIN_REPLY_MAX)
		return 0;
	if (r->len + len + 1 > r->cap) {
		size_t cap = (r->len + len + 1) * 2;
		nb = realloc(r->body, cap);
		if (!nb)
			return 0;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, p, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* One request to URL + path; signed unless public. 0 when an answer came
 * back (any status), else -1 with a message logged. */
static int admin_http(const char *method, const char *path, const void *body, size_t len,
		      int signed_req, struct admin_reply *r)
{
	struct auth_admin_headers h;
	struct curl_slist *hdrs = NULL;
	char url[ADMIN_PATH_MAX], line[256];
	struct hash bh;
	struct error err;
	CURLcode cc;
	CURL *curl;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%s", admin_url, path);
	if (signed_req) {
		hash_buf(&bh, body ? body : (const void *)"", len);
		if (auth_sign_admin(&admin_sk, method, path, (int64_t)time(NULL), &bh, &h, &err) <
		    0) {
			log_error("cannot sign the request: %s", err.msg);
			return -1;
		}
		snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_ADMIN, h.admin);
		hdrs = curl_slist_append(hdrs, line);
		snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_TIME, h.time);
		hdrs = curl_slist_append(hdrs, line);
		snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_NONCE, h.nonce);
		hdrs = curl_slist_append(hdrs, line);
		snprintf(line, sizeof(line), "%s: %s", AUTH_HEADER_SIGNATURE, h.signature);
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl = curl_easy_init();
	if (!curl) {
		curl_slist_free_all(hdrs);
		return -1;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, admin_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (body || strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? body : (const void *)"");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK) {
		log_error("cannot reach '%s': %s", url, curl_easy_strerror(cc));
		return -1;
	}
	return 0;
}

static void admin_reply_release(struct admin_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* A JSON answer with status want, or NULL after printing the error. */
static json_t *admin_call(const char *method, const char *path, const void *body, size_t len,
			  long want)
{
	struct admin_reply r;
	json_t *j = NULL;

	if (admin_http(method, path, body, len, 1, &r) < 0)
		return NULL;
	if (r.body)
		j = json_loadb((const char *)r.body, r.len, 0, NULL);
	if (r.status != want) {
		const char *detail = json_string_value(json_object_get(j, "detail"));
		const char *code = json_string_value(json_object_get(j, "error"));
		log_error("%s %s: %ld %s: %s", method, path, r.status, code ? code : "error",
			  detail ? detail : "(no detail)");
		json_decref(j);
		j = NULL;
	} else if (!j) {
		log_error("%s %s: the answer is not JSON", method, path);
	}
	admin_reply_release(&r);
	return j;
}

static int admin_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(j);
	return s ? ADMIN_EXIT_OK : ADMIN_EXIT_FAIL;
}

/* ---- dataset ---- */

static const char admin_dataset_usage[] =
    "usage: agora-admin --server URL --key FILE dataset add FILE... --owner O --licence L\n"
    "                   --source S [--name NAME] [--shard-size BYTES]\n"
    "       agora-admin --server URL --key FILE dataset list\n";

/* Uploads one shard; fills its hash. */
static int admin_shard_put(const unsigned char *buf, size_t len, struct dataset_shard *sh)
{
	unsigned char *blob = NULL;
	struct blob_header hdr;
	struct error err;
	size_t blen;
	json_t *j;

	if (blob_encode_mem(buf, len, BLOB_CODEC_ZLIB, &blob, &blen, &hdr, &err) < 0) {
		log_error("cannot encode a shard: %s", err.msg);
		return -1;
	}
	j = admin_call("PUT", "/api/v1/admin/blobs", blob, blen, 201);
	free(blob);
	if (!j)
		return -1;
	json_decref(j);
	sh->hash = hdr.hash;
	sh->size = len;
	return 0;
}

/* Reads the files into one buffer (capped). */
static int admin_read_files(const char **files, int n, unsigned char **out, size_t *len)
{
	unsigned char *all = NULL, *buf, *nb;
	size_t total = 0, blen;
	struct error err;
	int i;

	for (i = 0; i < n; i++) {
		if (fileio_read_all(files[i], ADMIN_FILES_MAX, &buf, &blen, &err) < 0) {
			log_error("%s", err.msg);
			free(all);
			return -1;
		}
		if (total + blen > ADMIN_FILES_MAX || !(nb = realloc(all, total + blen + 1))) {
			log_error("'%s': the files are over %u bytes together", files[i],
				  ADMIN_FILES_MAX);
			free(buf);
			free(all);
			return -1;
		}
		all = nb;
		memcpy(all + total, buf, blen);
		total += blen;
		free(buf);
	}
	*out = all;
	*len = total;
	return 0;
}

static const char *admin_basename(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int admin_dataset_add(int argc, char **argv)
{
	const char *owner = NULL, *licence = NULL, *source = NULL, *name = NULL, *shard = NULL,
		   *files[64];
	const struct admin_option opts[] = {{"owner", 1, &owner},      {"licence", 1, &licence},
					    {"source", 1, &source},    {"name", 1, &name},
					    {"shard-size", 1, &shard}, {NULL, 0, NULL}};
	struct dataset_manifest m;
	unsigned char *all = NULL, *env = NULL;
	size_t len, env_len, off, i, shard_size = ADMIN_SHARD_SIZE;
	struct error err;
	int n_pos, rc;
	json_t *j;

	rc = admin_parse_args(argc, argv, opts, files, 64, &n_pos, admin_dataset_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (n_pos < 1 || !owner || !licence || !source) {
		fprintf(stderr,
			"agora-admin dataset add: needs FILE... --owner --licence --source\n%s",
			admin_dataset_usage);
		return ADMIN_EXIT_USAGE;
	}
	if (shard) {
		char *end;
		unsigned long long v = strtoull(shard, &end, 10);
		if (*end || v < 1024 || v > DATASET_SHARD_MAX) {
			log_error("bad --shard-size '%s': want 1024..%u", shard, DATASET_SHARD_MAX);
			return ADMIN_EXIT_USAGE;
		}
		shard_size = (size_t)v;
	}
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", name ? name : admin_basename(files[0]));
	snprintf(m.owner, sizeof(m.owner), "%s", owner);
	snprintf(m.licence, sizeof(m.licence), "%s", licence);
	snprintf(m.source, sizeof(m.source), "%s", source);
	m.created = (int64_t)time(NULL);
	rc = ADMIN_EXIT_FAIL;
	if (admin_read_files(files, n_pos, &all, &len) < 0)
		goto out;
	if (len == 0) {
		log_error("the files are empty");
		goto out;
	}
	m.n_shards = (len + shard_size - 1) / shard_size;
	m.shards = calloc(m.n_shards, sizeof(*m.shards));
	if (!m.shards || m.n_shards > DATASET_SHARDS_MAX) {
		log_error("%zu shards: over %d (use a bigger --shard-size)", m.n_shards,
			  DATASET_SHARDS_MAX);
		goto out;
	}
	for (i = 0, off = 0; i < m.n_shards; i++, off += shard_size)
		if (admin_shard_put(all + off, len - off < shard_size ? len - off : shard_size,
				    &m.shards[i]) < 0)
			goto out;
	m.bytes = len;
	if (dataset_manifest_seal(&m, &admin_sk, &env, &env_len, &err) < 0) {
		log_error("cannot seal the dataset manifest: %s", err.msg);
		goto out;
	}
	j = admin_call("POST", "/api/v1/admin/datasets", env, env_len, 201);
	if (!j)
		goto out;
	printf("dataset '%s': id %lld, %zu shards, %zu bytes\n", m.name,
	       (long long)json_integer_value(json_object_get(j, "dataset_id")), m.n_shards, len);
	json_decref(j);
	rc = ADMIN_EXIT_OK;
out:
	free(all);
	free(env);
	dataset_manifest_release(&m);
	return rc;
}

static int admin_dataset(int argc, char **argv)
{
	json_t *j;

	if (argc >= 2 && strcmp(argv[1], "add") == 0)
		return admin_dataset_add(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		j = admin_call("GET", "/api/v1/admin/datasets", NULL, 0, 200);
		return j ? admin_print_json(j) : ADMIN_EXIT_FAIL;
	}
	fputs(admin_dataset_usage, stderr);
	return ADMIN_EXIT_USAGE;
}

/* ---- jobs ---- */

static const char admin_job_usage[] =
    "usage: agora-admin --server URL --key FILE job create SPEC.json\n"
    "       agora-admin --server URL --key FILE job list\n"
    "       agora-admin --server URL --key FILE job status JOB [--json]\n"
    "       agora-admin --server URL --key FILE job pause|resume|cancel JOB\n"
    "JOB is a job id or name.\n";

/* A job id from an id or a name (looked up in the job list). */
static int64_t admin_job_id(const char *arg)
{
	char *end;
	long long v = strtoll(arg, &end, 10);
	json_t *list, *e;
	int64_t id = -1;
	size_t i;

	if (*arg && !*end && v > 0)
		return v;
	list = admin_call("GET", "/api/v1/admin/jobs", NULL, 0, 200);
	json_array_foreach(list, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));
		if (name && strcmp(name, arg) == 0)
			id = json_integer_value(json_object_get(e, "id"));
	}
	json_decref(list);
	if (id < 0)
		log_error("no job '%s'", arg);
	return id;
}

static int admin_job_create(const char *spec_path)
{
	unsigned char *spec = NULL;
	struct error err;
	size_t len;
	json_t *j;

	if (fileio_read_all(spec_path, 64 * 1024, &spec, &len, &err) < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	j = admin_call("POST", "/api/v1/admin/jobs", spec, len, 201);
	free(spec);
	if (!j)
		return ADMIN_EXIT_FAIL;
	printf("job %lld created\n", (long long)json_integer_value(json_object_get(j, "job_id")));
	json_decref(j);
	return ADMIN_EXIT_OK;
}

static void admin_job_print(json_t *j)
{
	json_t *rounds = json_object_get(j, "round_list"), *r, *v;
	const char *key;
	size_t i;

	printf("job %lld '%s': %s, preset %s, dataset %s, %lld of %lld rounds done\n",
	       (long long)json_integer_value(json_object_get(j, "id")),
	       json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "state")),
	       json_string_value(json_object_get(j, "preset")),
	       json_string_value(json_object_get(j, "dataset")),
	       (long long)json_integer_value(json_object_get(j, "rounds_done")),
	       (long long)json_integer_value(json_object_get(j, "rounds")));
	if (json_string_value(json_object_get(j, "reason")))
		printf("  %s: %s\n", json_string_value(json_object_get(j, "state")),
		       json_string_value(json_object_get(j, "reason")));
	json_array_foreach(rounds, i, r)
	{
		printf("  model %lld: eval loss %.6f, %s; units %lld validated, %lld active, "
		       "%lld failed\n",
		       (long long)json_integer_value(json_object_get(r, "round")),
		       json_number_value(json_object_get(r, "eval_loss")),
		       json_string_value(json_object_get(r, "state")),
		       (long long)json_integer_value(json_object_get(r, "units_validated")),
		       (long long)json_integer_value(json_object_get(r, "units_active")),
		       (long long)json_integer_value(json_object_get(r, "units_failed")));
	}
	r = json_array_get(rounds, json_array_size(rounds) ? json_array_size(rounds) - 1 : 0);
	if (json_string_value(json_object_get(r, "sample")))
		printf("  sample of model %lld: \"%s\"\n",
		       (long long)json_integer_value(json_object_get(r, "round")),
		       json_string_value(json_object_get(r, "sample")));
	printf("  results:");
	json_object_foreach(json_object_get(j, "validation"), key, v)
	    printf(" %s %lld", key, (long long)json_integer_value(v));
	printf("\n  rejected:");
	json_object_foreach(json_object_get(j, "invalid_reasons"), key, v)
	    printf(" %s %lld", key, (long long)json_integer_value(v));
	printf("\n");
	json_array_foreach(json_object_get(j, "invalid"), i, r)
	{
		if (i >= 20) {
			printf("  ... %zu rejected results in all\n",
			       json_array_size(json_object_get(j, "invalid")));
			break;
		}
		printf("  rejected: replica %lld from host %lld (round %lld, unit %lld): %s\n",
		       (long long)json_integer_value(json_object_get(r, "replica")),
		       (long long)json_integer_value(json_object_get(r, "host")),
		       (long long)json_integer_value(json_object_get(r, "round")),
		       (long long)json_integer_value(json_object_get(r, "unit")),
		       json_string_value(json_object_get(r, "reason")));
	}
	json_array_foreach(json_object_get(j, "failed_units"), i, r)
	    printf("  FAILED unit %lld of round %lld (%s)\n",
		   (long long)json_integer_value(json_object_get(r, "unit")),
		   (long long)json_integer_value(json_object_get(r, "round")),
		   json_string_value(json_object_get(r, "uid")));
}

static int admin_job(int argc, char **argv)
{
	char path[128];
	int64_t id;
	json_t *j;

	if (argc == 3 && strcmp(argv[1], "create") == 0)
		return admin_job_create(argv[2]);
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		j = admin_call("GET", "/api/v1/admin/jobs", NULL, 0, 200);
		return j ? admin_print_json(j) : ADMIN_EXIT_FAIL;
	}
	if ((argc == 3 || (argc == 4 && strcmp(argv[3], "--json") == 0)) &&
	    strcmp(argv[1], "status") == 0) {
		if ((id = admin_job_id(argv[2])) < 0)
			return ADMIN_EXIT_FAIL;
		snprintf(path, sizeof(path), "/api/v1/admin/jobs/%lld", (long long)id);
		j = admin_call("GET", path, NULL, 0, 200);
		if (!j)
			return ADMIN_EXIT_FAIL;
		if (argc == 4)
			return admin_print_json(j);
		admin_job_print(j);
		json_decref(j);
		return ADMIN_EXIT_OK;
	}
	if (argc == 3 && (strcmp(argv[1], "pause") == 0 || strcmp(argv[1], "resume") == 0 ||
			  strcmp(argv[1], "cancel") == 0)) {
		if ((id = admin_job_id(argv[2])) < 0)
			return ADMIN_EXIT_FAIL;
		snprintf(path, sizeof(path), "/api/v1/admin/jobs/%lld/%s", (long long)id, argv[1]);
		j = admin_call("POST", path, NULL, 0, 200);
		if (!j)
			return ADMIN_EXIT_FAIL;
		printf("job %lld: %s\n", (long long)id, argv[1]);
		json_decref(j);
		return ADMIN_EXIT_OK;
	}
	fputs(admin_job_usage, stderr);
	return ADMIN_EXIT_USAGE;
}

/* ---- hosts ---- */

static int admin_host(int argc, char **argv)
{
	char path[128], *end;
	long long id;
	json_t *j;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		j = admin_call("GET", "/api/v1/admin/hosts", NULL, 0, 200);
		return j ? admin_print_json(j) : ADMIN_EXIT_FAIL;
	}
	if (argc == 3 && (strcmp(argv[1], "ban") == 0 || strcmp(argv[1], "unban") == 0 ||
			  strcmp(argv[1], "clear") == 0)) {
		id = strtoll(argv[2], &end, 10);
		if (*end || id <= 0) {
			log_error("bad host id '%s'", argv[2]);
			return ADMIN_EXIT_USAGE;
		}
		snprintf(path, sizeof(path), "/api/v1/admin/hosts/%lld/%s", id, argv[1]);
		j = admin_call("POST", path, NULL, 0, 200);
		if (!j)
			return ADMIN_EXIT_FAIL;
		printf("host %lld: %s\n", id, argv[1]);
		json_decref(j);
		return ADMIN_EXIT_OK;
	}
	fputs("usage: agora-admin --server URL --key FILE host list|ban ID|unban ID|clear ID\n",
	      stderr);
	return ADMIN_EXIT_USAGE;
}

/* ---- model export and audit ---- */

static int admin_mkdir(const char *dir, const char *sub)
{
	char path[ADMIN_PATH_MAX];

	snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "", sub ? sub : "");
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		log_error("cannot create directory '%s': %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int admin_write_file(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[ADMIN_PATH_MAX];
	struct error err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (fileio_write_atomic(path, buf, len, 0644, 0, &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	return 0;
}

/* Downloads blob hex into DIR/blobs/hex (the container as served). */
static int admin_blob_get(const char *dir, const char *hex, unsigned char **raw, size_t *raw_len)
{
	struct blob_caps caps = {.max_raw_size = ADMIN_REPLY_MAX,
				 .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	char path[128], name[128];
	struct admin_reply r;
	struct error err;
	struct hash want;
	int rc = -1;

	snprintf(path, sizeof(path), "/api/v1/blobs/%s", hex);
	snprintf(name, sizeof(name), "blobs/%s", hex);
	if (hash_from_hex(&want, hex, &err) < 0 || admin_http("GET", path, NULL, 0, 0, &r) < 0)
		return -1;
	caps.want = &want;
	if (r.status != 200)
		log_error("blob %s: HTTP %ld", hex, r.status);
	else if (raw && blob_decode_mem(r.body, r.len, &caps, raw, raw_len, NULL, &err) < 0)
		log_error("blob %s: %s", hex, err.msg);
	else
		rc = admin_write_file(dir, name, r.body, r.len);
	admin_reply_release(&r);
	return rc;
}

/* The model card: what the model is, from which data, how it came to be. */
static void admin_model_card(FILE *f, json_t *x)
{
	json_t *spec = json_object_get(x, "spec"), *e;
	size_t i;

	fprintf(f, "# Model card: %s\n\n", json_string_value(json_object_get(x, "name")));
	fprintf(
	    f,
	    "## Architecture\n\npreset `%s`; trained with Agora (DiLoCo: %lld rounds of "
	    "%lld units, %lld inner AdamW steps each, batch %lld, quorum %lld; outer lr %g, "
	    "Nesterov momentum %g).\n\n",
	    json_string_value(json_object_get(x, "preset")),
	    (long long)json_integer_value(json_object_get(spec, "rounds")),
	    (long long)json_integer_value(json_object_get(spec, "units_per_round")),
	    (long long)json_integer_value(json_object_get(spec, "inner_steps")),
	    (long long)json_integer_value(json_object_get(json_object_get(spec, "hyper"), "batch")),
	    (long long)json_integer_value(json_object_get(spec, "quorum")),
	    json_number_value(json_object_get(json_object_get(spec, "outer"), "lr")),
	    json_number_value(json_object_get(json_object_get(spec, "outer"), "momentum")));
	fprintf(f, "## Data\n\n| dataset | owner | licence | source | bytes | manifest |\n"
		   "|---|---|---|---|---|---|\n");
	json_array_foreach(json_object_get(x, "datasets"), i, e)
	    fprintf(f, "| %s | %s | %s | %s | %lld | `datasets/%s.env` |\n",
		    json_string_value(json_object_get(e, "name")),
		    json_string_value(json_object_get(e, "owner")),
		    json_string_value(json_object_get(e, "licence")),
		    json_string_value(json_object_get(e, "source")),
		    (long long)json_integer_value(json_object_get(e, "bytes")),
		    json_string_value(json_object_get(e, "name")));
	fprintf(f, "\n## Rounds\n\n| version | eval loss | manifest id |\n|---|---|---|\n");
	json_array_foreach(json_object_get(x, "round_list"), i, e)
	    fprintf(f, "| %lld | %.6f | `%s` |\n",
		    (long long)json_integer_value(json_object_get(e, "round")),
		    json_number_value(json_object_get(e, "eval_loss")),
		    json_string_value(json_object_get(e, "manifest")));
	fprintf(f, "\n## Contributors\n\n| host | account | validated results | credit (GFLOP) |\n"
		   "|---|---|---|---|\n");
	json_array_foreach(json_object_get(x, "contributors"), i, e)
	    fprintf(f, "| %lld | %s | %lld | %.3f |\n",
		    (long long)json_integer_value(json_object_get(e, "host")),
		    json_string_value(json_object_get(e, "account")),
		    (long long)json_integer_value(json_object_get(e, "results")),
		    json_number_value(json_object_get(e, "credit")));
	fprintf(
	    f, "\nCredit ledger: %lld entries, tip `%s` (`ledger.log`).\n",
	    (long long)json_integer_value(json_object_get(json_object_get(x, "ledger"), "entries")),
	    json_string_value(json_object_get(json_object_get(x, "ledger"), "tip")));
	fprintf(f, "\n## Checking it\n\n    agora-admin audit --dir . --pub coordinator.pub\n"
		   "    agora-admin ledger verify --file ledger.log --pub coordinator.pub\n\n"
		   "re-derive every version from its parent and the listed results, and check\n"
		   "the signed, hash-chained credit ledger.\n");
}

/* The datasets' signed manifests into DIR/datasets/NAME.env. */
static int admin_export_datasets(const char *dir, json_t *x)
{
	unsigned char *raw = NULL;
	char name[128];
	size_t i, len;
	json_t *e;

	if (admin_mkdir(dir, "datasets") < 0)
		return -1;
	json_array_foreach(json_object_get(x, "datasets"), i, e)
	{
		const char *h = json_string_value(json_object_get(e, "manifest"));
		if (!h || admin_blob_get(dir, h, &raw, &len) < 0)
			return -1;
		snprintf(name, sizeof(name), "datasets/%s.env",
			 json_string_value(json_object_get(e, "name")));
		if (admin_write_file(dir, name, raw, len) < 0) {
			free(raw);
			return -1;
		}
		free(raw);
	}
	return 0;
}

/* The coordinator's credit ledger into DIR/ledger.log (none yet: none). */
static int admin_export_ledger(const char *dir)
{
	struct admin_reply r;
	int rc = 0;

	if (admin_http("GET", "/api/v1/admin/ledger", NULL, 0, 1, &r) < 0)
		return -1;
	if (r.status == 200)
		rc = admin_write_file(dir, "ledger.log", r.body ? (void *)r.body : (void *)"",
				      r.len);
	else if (r.status != 404)
		log_error("GET /api/v1/admin/ledger: HTTP %ld", r.status);
	if (r.status != 200 && r.status != 404)
		rc = -1;
	admin_reply_release(&r);
	return rc;
}

static int admin_export_to(int64_t id, const char *dir, int quiet)
{
	char path[128], name[64];
	unsigned char *raw = NULL;
	size_t i, len, n_env;
	json_t *x, *e, *last;
	FILE *f;
	char *s;
	int rc = ADMIN_EXIT_FAIL;

	snprintf(path, sizeof(path), "/api/v1/admin/jobs/%lld/export", (long long)id);
	x = admin_call("GET", path, NULL, 0, 200);
	if (!x)
		return ADMIN_EXIT_FAIL;
	if (admin_mkdir(dir, NULL) < 0 || admin_mkdir(dir, "manifests") < 0 ||
	    admin_mkdir(dir, "blobs") < 0)
		goto out;
	n_env = json_array_size(json_object_get(x, "manifests"));
	json_array_foreach(json_object_get(x, "manifests"), i, e)
	{
		snprintf(name, sizeof(name), "manifests/round-%zu.env", i);
		if (admin_write_file(dir, name, json_string_value(e), json_string_length(e)) < 0)
			goto out;
	}
	json_array_foreach(json_object_get(x, "blobs"), i, e)
	{
		if (admin_blob_get(dir, json_string_value(e), NULL, NULL) < 0)
			goto out;
	}
	e = json_object_get(x, "coordinator_pub");
	if (!json_is_string(e) ||
	    admin_write_file(dir, "coordinator.pub", json_string_value(e), json_string_length(e)) <
		0 ||
	    admin_export_datasets(dir, x) < 0)
		goto out;
	last = json_array_get(json_object_get(x, "round_list"), n_env ? n_env - 1 : 0);
	if (last && admin_blob_get(dir, json_string_value(json_object_get(last, "model")), &raw,
				   &len) == 0) {
		int w = admin_write_file(dir, "model.bin", raw, len);
		free(raw);
		if (w < 0)
			goto out;
	}
	if (admin_export_ledger(dir) < 0)
		goto out;
	s = json_dumps(json_object_get(x, "spec"), JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (!s || admin_write_file(dir, "spec.json", s, strlen(s)) < 0) {
		free(s);
		goto out;
	}
	free(s);
	snprintf(path, sizeof(path), "%s/model-card.md", dir);
	f = fopen(path, "w");
	if (!f) {
		log_error("cannot create '%s': %s", path, strerror(errno));
		goto out;
	}
	admin_model_card(f, x);
	fclose(f);
	if (!quiet)
		printf("exported job %lld: %zu model versions, %zu blobs to '%s'\n", (long long)id,
		       n_env, json_array_size(json_object_get(x, "blobs")), dir);
	rc = ADMIN_EXIT_OK;
out:
	json_decref(x);
	return rc;
}

static int admin_model(int argc, char **argv)
{
	const char *out = NULL, *pos[1];
	const struct admin_option opts[] = {{"out", 1, &out}, {NULL, 0, NULL}};
	static const char usage[] =
	    "usage: agora-admin --server URL --key FILE model export JOB --out DIR\n";
	int64_t id;
	int n_pos, rc;

	if (argc < 2 || strcmp(argv[1], "export") != 0) {
		fputs(usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	rc = admin_parse_args(argc - 1, argv + 1, opts, pos, 1, &n_pos, usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (n_pos != 1 || !out) {
		fputs(usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if ((id = admin_job_id(pos[0])) < 0)
		return ADMIN_EXIT_FAIL;
	return admin_export_to(id, out, 0);
}

static int admin_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* audit JOB against the server: export to a temporary directory, then
 * the lineage audit of admin_audit.c on it. */
static int admin_remote_audit(int argc, char **argv)
{
	char dir[] = "/tmp/agora-audit-XXXXXX", pub[64], cmd[16];
	char *av[6];
	int64_t id;
	int rc;

	if (argc != 2) {
		fputs("usage: agora-admin --server URL --key FILE audit JOB\n", stderr);
		return ADMIN_EXIT_USAGE;
	}
	if ((id = admin_job_id(argv[1])) < 0)
		return ADMIN_EXIT_FAIL;
	if (!mkdtemp(dir)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		return ADMIN_EXIT_FAIL;
	}
	rc = admin_export_to(id, dir, 1);
	if (rc == ADMIN_EXIT_OK) {
		snprintf(pub, sizeof(pub), "%s/coordinator.pub", dir);
		snprintf(cmd, sizeof(cmd), "audit");
		av[0] = cmd;
		av[1] = (char *)"--dir";
		av[2] = dir;
		av[3] = (char *)"--pub";
		av[4] = pub;
		av[5] = NULL;
		rc = admin_audit(5, av);
	}
	if (nftw(dir, admin_rm, 16, FTW_DEPTH | FTW_PHYS) != 0)
		log_warn("cannot remove '%s'", dir);
	return rc;
}

int admin_remote(const char *url, const char *key_path, int argc, char **argv)
{
	static const struct admin_command cmds[] = {
	    {"dataset", "", "", admin_dataset},    {"job", "", "", admin_job},
	    {"host", "", "", admin_host},          {"model", "", "", admin_model},
	    {"audit", "", "", admin_remote_audit},
	};
	struct error err;
	size_t i;
	int rc = ADMIN_EXIT_USAGE;

	if (!url || !key_path) {
		log_error("remote commands need --server URL and --key FILE");
		return ADMIN_EXIT_USAGE;
	}
	admin_url = url;
	if (key_load_secret(&admin_sk, key_path, &err) < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (argc >= 1 && strcmp(argv[0], cmds[i].name) == 0)
			break;
	if (i < sizeof(cmds) / sizeof(cmds[0]))
		rc = cmds[i].run(argc, argv);
	else
		log_error("unknown command '%s' (try 'agora-admin --help')",
			  argc >= 1 ? argv[0] : "");
	curl_global_cleanup();
	memset(&admin_sk, 0, sizeof(admin_sk));
	return rc;
}
