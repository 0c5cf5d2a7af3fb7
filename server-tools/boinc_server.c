/*
 * boinc_server.c - the BOINC routes of agora-server (see boinc_server.h):
 * hosts from authenticators, replicas as BOINC tasks, downloads, uploads,
 * and reported tasks into the same validation as agora-client's results.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/api.h"
#include "server-tools/blobstore.h"
#include "server-tools/boinc_appver.h"
#include "server-tools/boinc_key.h"
#include "server-tools/boinc_sched.h"
#include "server-tools/boinc_server.h"
#include "server-tools/boinc_upload.h"
#include "server-tools/db.h"
#include "server-tools/sched.h"
#include "server-tools/server.h"
#include "workunits/envelope.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define BS_DOMAIN "agora-boinc-host-v1"
#define BS_NAME   96

static struct server *bs_server(void *ctx)
{
	return api_server(ctx);
}

static void bs_path(char *out, size_t size, struct server *s, const char *sub, const char *name)
{
	snprintf(out, size, "%s/boinc/%s%s%s", server_state_path(s), sub, name ? "/" : "",
		 name ? name : "");
}

static void bs_mkdirs(struct server *s)
{
	char p[FILEIO_PATH_MAX];

	bs_path(p, sizeof(p), s, "", NULL);
	mkdir(p, 0700);
	bs_path(p, sizeof(p), s, "files", NULL);
	mkdir(p, 0700);
	bs_path(p, sizeof(p), s, "upload", NULL);
	mkdir(p, 0700);
	bs_path(p, sizeof(p), s, "md5", NULL);
	mkdir(p, 0700);
}

/* "http(s)://Host/boinc/" from the request. */
static void bs_base(struct http_request *req, struct server *s, char *out, size_t size)
{
	const char *host = http_request_header(req, "Host");

	if (!host ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-[]") !=
		strlen(host))
		host = "127.0.0.1";
	snprintf(out, size, "%s://%s" BOINC_SERVER_PREFIX, server_tls(s) ? "https" : "http", host);
}

void boinc_server_master(struct http_request *req, void *ctx)
{
	struct server *s = bs_server(ctx);
	char base[300], *page;
	int n;

	bs_base(req, s, base, sizeof(base));
	page = malloc(2048);
	if (!page) {
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	n = snprintf(page, 2048,
		     "<html><head><title>Agora</title>\n"
		     "<link rel=\"boinc_scheduler\" href=\"%scgi\">\n</head><body>\n"
		     "<!-- <scheduler>%scgi</scheduler> -->\n"
		     "<p>An Agora coordinator. Attach a BOINC client to %s "
		     "(docs/BOINC.md).</p></body></html>\n",
		     base, base, base);
	http_respond_buffer(req, 200, page, (size_t)n, "text/html");
}

/* The host of an authenticator: derived key, registered on first use. */
static int bs_host(struct server *s, const char *auth, struct key_secret *sk, int64_t *id,
		   char account[40])
{
	unsigned char seed[KEY_SEED_BYTES], h[16];
	const struct key_secret *cs = server_secret_key(s);
	crypto_generichash_state st;
	struct key_public pk;
	char hex[33];
	int rc;

	crypto_generichash_init(&st, NULL, 0, sizeof(seed));
	crypto_generichash_update(&st, cs->bytes, sizeof(cs->bytes));
	crypto_generichash_update(&st, (const unsigned char *)BS_DOMAIN, sizeof(BS_DOMAIN));
	crypto_generichash_update(&st, (const unsigned char *)auth, strlen(auth));
	crypto_generichash_final(&st, seed, sizeof(seed));
	key_from_seed(&pk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	crypto_generichash(h, sizeof(h), (const unsigned char *)auth, strlen(auth), NULL, 0);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(account, 40, "boinc-%s", hex);
	rc = db_host_add(server_db(s), pk.bytes, account, "boinc client", time(NULL), id);
	return rc == ERROR_DUPLICATE ? 0 : rc;
}

/* ---- downloads ---- */

void boinc_server_download(struct http_request *req, void *ctx)
{
	struct server *s = bs_server(ctx);
	const char *name = http_request_suffix(req);
	char path[FILEIO_PATH_MAX];
	struct error err;
	struct hash h;
	struct stat st;
	uint64_t size;
	int fd;

	if (strncmp(name, "blob_", 5) == 0 && hash_from_hex(&h, name + 5, NULL) == 0) {
		if (blobstore_get(server_blobstore(s), &h, &fd, &size, &err) < 0) {
			http_respond_error(req, 404, "not_found", "no such blob");
			return;
		}
		http_respond_fd(req, 200, fd, 0, size, "application/octet-stream");
		return;
	}
	if (!boinc_upload_name_ok(name)) {
		http_respond_error(req, 404, "not_found", "no such file");
		return;
	}
	bs_path(path, sizeof(path), s, strncmp(name, "agora-boinc_", 12) == 0 ? "app" : "files",
		name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		http_respond_error(req, 404, "not_found", "no such file");
		return;
	}
	http_respond_fd(req, 200, fd, 0, (uint64_t)st.st_size, "application/octet-stream");
}

/* ---- uploads ---- */

/* Only the outputs of a task: agora_<R>_0_env, agora_<R>_0_blob. */
static int bs_output_name(const char *name, int64_t *replica)
{
	char tail[8];
	long long r;
	int n = 0;

	if (sscanf(name, "agora_%lld_0_%5[a-z]%n", &r, tail, &n) != 2 || name[n] || r < 1 ||
	    (strcmp(tail, "env") != 0 && strcmp(tail, "blob") != 0))
		return -1;
	*replica = r;
	return 0;
}

static void bs_upload_answer(struct http_request *req, int status, int64_t size, const char *msg)
{
	char *buf = malloc(700);
	long n;

	if (!buf || (n = boinc_upload_reply(buf, 700, status, size, msg)) < 0) {
		free(buf);
		http_respond_error(req, 500, "internal", "out of memory");
		return;
	}
	http_respond_buffer(req, 200, buf, (size_t)n, "text/xml");
}

void boinc_server_upload(struct http_request *req, void *ctx)
{
	struct server *s = bs_server(ctx);
	struct boinc_upload_request r;
	char dir[FILEIO_PATH_MAX];
	const unsigned char *body;
	struct error err;
	uint64_t size = 0;
	int64_t replica;
	size_t len;
	int rc;

	error_clear(&err);
	body = http_request_body(req, &len);
	bs_mkdirs(s);
	bs_path(dir, sizeof(dir), s, "upload", NULL);
	if (boinc_upload_parse(&r, body ? body : (const unsigned char *)"", len, &err) < 0 ||
	    bs_output_name(r.name, &replica) < 0) {
		bs_upload_answer(req, -1, -1,
				 err.msg[0] ? err.msg : "not an upload of this project");
		return;
	}
	if (r.kind == BOINC_UPLOAD_GET_SIZE) {
		rc = boinc_upload_size(dir, r.name, &size, &err);
		bs_upload_answer(req, rc < 0 ? 1 : 0, rc < 0 ? -1 : (int64_t)size,
				 rc < 0 ? err.msg : NULL);
		return;
	}
	rc = boinc_upload_store(dir, &r, body + r.data_at, len - r.data_at, &size, &err);
	if (rc < 0)
		log_warn("boinc upload of '%s' refused: %s", r.name, err.msg);
	bs_upload_answer(req,
			 rc == 0                               ? 0
			 : rc == ERROR_STATE || rc == ERROR_IO ? 1
							       : -1,
			 -1, rc < 0 ? err.msg : NULL);
}

/* ---- reports: uploaded outputs into validation ---- */

static int bs_read_upload(struct server *s, int64_t replica, const char *what, size_t cap,
			  unsigned char **buf, size_t *len, struct error *err)
{
	char name[BS_NAME], path[FILEIO_PATH_MAX];

	snprintf(name, sizeof(name), "agora_%" PRId64 "_0_%s", replica, what);
	bs_path(path, sizeof(path), s, "upload", name);
	return fileio_read_all(path, cap, buf, len, err);
}

/* Checks and records the result of replica (in progress, this host's). */
static int bs_record(struct server *s, const struct sched_replica *rep, int64_t host,
		     const struct key_secret *hsk, struct error *err)
{
	struct blob_caps caps = {0, BLOB_DEFAULT_MAX_RATIO, NULL};
	const struct server_hooks *hooks = server_hooks(s);
	struct blobstore_writer *w = NULL;
	unsigned char *env = NULL, *blob = NULL, *env2 = NULL;
	size_t env_len, blob_len, env2_len;
	struct envelope_info info;
	struct blob_header hdr;
	struct result res;
	char uid[HASH_HEX_LEN + 1], out[HASH_HEX_LEN + 1];
	uint64_t stored;
	int64_t rid;
	int rc;

	if ((rc = bs_read_upload(s, rep->id, "env", ENVELOPE_MAX, &env, &env_len, err)) < 0 ||
	    (rc = bs_read_upload(s, rep->id, "blob", SERVER_RESULT_MAX, &blob, &blob_len, err)) <
		0 ||
	    (rc = envelope_peek(&info, env, env_len, err)) < 0 ||
	    (rc = result_open(&res, env, env_len, &info.signer, err)) < 0)
		goto out;
	hash_to_hex(&res.unit_id, uid);
	if (strcmp(uid, rep->uid) != 0 || res.output_size > SERVER_RESULT_RAW_MAX) {
		rc = error_set(err, ERROR_INVALID, "the result does not answer replica %" PRId64,
			       rep->id);
		goto out;
	}
	caps.max_raw_size = res.output_size;
	caps.want = &res.output;
	if ((rc = blobstore_writer_new(server_blobstore(s), &w, &caps, SERVER_RESULT_MAX, err)) <
		0 ||
	    (rc = blobstore_writer_write(w, blob, blob_len, err)) < 0 ||
	    (rc = blobstore_writer_commit(w, &hdr, &stored, err)) < 0)
		goto out;
	key_public_of(&res.host, hsk);
	if ((rc = result_seal(&res, hsk, &env2, &env2_len, err)) < 0)
		goto out;
	hash_to_hex(&hdr.hash, out);
	rc = sched_result_record(server_db(s), rep->id, host, out, (int64_t)hdr.raw_size,
				 (int64_t)stored, env2, env2_len, time(NULL),
				 hooks->result_added == NULL, NULL, &rid);
	if (rc < 0) {
		error_set(err, rc, "cannot record the result");
		goto out;
	}
	log_info("result %" PRId64 " for replica %" PRId64 " from BOINC host %" PRId64, rid,
		 rep->id, host);
	if (hooks->result_added)
		hooks->result_added(hooks->ctx, rep->unit);
out:
	blobstore_writer_free(w);
	free(env);
	free(blob);
	free(env2);
	return rc;
}

/* Removes what replica r left under STATE/boinc/: its unit envelope as
 * served and its uploads (the blob is in the blob store by now, the
 * result descriptor in the database). Missing files are fine. */
static void bs_forget(struct server *s, int64_t r)
{
	static const char *const where[][2] = {
	    {"files", "_unit"}, {"upload", "_0_env"}, {"upload", "_0_blob"}};
	char name[BS_NAME], path[FILEIO_PATH_MAX];

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		snprintf(name, sizeof(name), "agora_%" PRId64 "%s", r, where[i][1]);
		bs_path(path, sizeof(path), s, where[i][0], name);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: %s", path, strerror(errno));
	}
}

static void bs_report(struct server *s, const struct boinc_sched_reported *t, int64_t host,
		      const struct key_secret *hsk)
{
	struct sched_replica rep;
	struct error err;
	long long r;
	int n = 0;

	error_clear(&err);
	if (sscanf(t->name, "agora_%lld_0%n", &r, &n) != 1 || t->name[n] ||
	    sched_replica_get(server_db(s), r, &rep) < 0 || rep.host != host)
		return;
	if (strcmp(rep.state, "in_progress") != 0) {
		bs_forget(s, rep.id); /* late: the replica went to another host */
		return;
	}
	if (t->exit_status == 0 && t->state == BOINC_SCHED_STATE_UPLOADED &&
	    bs_record(s, &rep, host, hsk, &err) == 0) {
		bs_forget(s, rep.id);
		return;
	}
	if (!err.msg[0] && t->message[0])
		error_set(&err, ERROR_STATE, "%s", t->message);
	log_warn("BOINC task '%s' failed (exit %" PRId64 ")%s%s", t->name, t->exit_status,
		 err.msg[0] ? ": " : "", err.msg);
	if (sched_abandon(server_db(s), rep.id, host, NULL, time(NULL)) < 0)
		log_warn("cannot give replica %lld up", r);
	bs_forget(s, rep.id);
}

/* Removes the files of replicas no longer in progress from dir (files or
 * upload): those whose task was never reported (deadline passed, client
 * detached). Runs at most every BS_SWEEP_S seconds, from scheduler RPCs:
 * without BOINC traffic nothing new is written. */
#define BS_SWEEP_S 600

static void bs_sweep_dir(struct server *s, const char *sub)
{
	char path[FILEIO_PATH_MAX];
	struct sched_replica rep;
	struct dirent *e;
	long long r;
	int rc;
	DIR *d;

	bs_path(path, sizeof(path), s, sub, NULL);
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d)) != NULL) {
		if (sscanf(e->d_name, "agora_%lld_", &r) != 1 || r < 1)
			continue;
		rc = sched_replica_get(server_db(s), r, &rep);
		if (rc == ERROR_NOT_FOUND || (rc == 0 && strcmp(rep.state, "in_progress") != 0))
			bs_forget(s, r);
	}
	closedir(d);
}

static void bs_sweep(struct server *s)
{
	static _Atomic int64_t last;
	int64_t now = (int64_t)time(NULL), was = atomic_load(&last);

	if (now - was < BS_SWEEP_S || !atomic_compare_exchange_strong(&last, &was, now))
		return;
	bs_sweep_dir(s, "files");
	bs_sweep_dir(s, "upload");
}

/* ---- dispatch: replicas as BOINC tasks ---- */

/* A GPU task keeps this much of a CPU busy (feeding the GPU, hashing and
 * packing blobs); BOINC's own OpenCL plan classes say 0.01..0.1 for apps
 * that only feed kernels. */
#define BS_GPU_AVG_NCPUS 0.5
/* The share of the client's peak GPU estimate a task is expected to run
 * at (BOINC's opencl plan classes use 0.14 and 0.2). */
#define BS_GPU_FLOPS_SCALE 0.1
#define BS_GPU_FLOPS_MIN   1e9
#define BS_GPU_FLOPS_MAX   1e15
/* Memory a GPU needs for a GPU version: Agora's largest preset, gpt-small
 * at batch 8, takes about 420 MiB on the device (docs/PERFORMANCE.md,
 * "Memory"); a smaller GPU gets the CPU version. */
#define BS_GPU_MIN_MEM (UINT64_C(512) << 20)

/* The published app versions as served (bs_apps_load()). */
struct bs_apps {
	struct boinc_appver_list list;
	size_t n;
	struct boinc_sched_app app[BOINC_APPVER_MAX];
	int gpu[BOINC_APPVER_MAX]; /* the GPU vendor of app[i], -1: the CPU */
	char url[BOINC_APPVER_MAX][512];
	char sig[BOINC_APPVER_MAX][BOINC_SIG_TEXT_MAX];
	char key[BOINC_KEY_TEXT_MAX];
};

struct bs_task {
	struct boinc_sched_task t;
	char wu[BS_NAME], res[BS_NAME], out[2][BS_NAME], up[512];
	char name[BOINC_SCHED_TASK_FILES_MAX][BS_NAME];
	char url[BOINC_SCHED_TASK_FILES_MAX][512];
	char md5[BOINC_SCHED_TASK_FILES_MAX][BOINC_MD5_HEX + 1];
	char open[BOINC_SCHED_TASK_FILES_MAX][40];
};

/* Reads a small text file into out (size bytes, NUL-terminated). */
static int bs_read_text(const char *path, char *out, size_t size, struct error *err)
{
	unsigned char *buf = NULL;
	size_t len;
	int rc = fileio_read_all(path, size - 1, &buf, &len, err);

	if (rc < 0)
		return rc;
	memcpy(out, buf, len);
	out[len] = '\0';
	free(buf);
	return 0;
}

/* Version i of a->list as served: its signature, URL, and what BOINC
 * needs to run it on a GPU. */
static int bs_app_make(struct server *s, const char *base, struct bs_apps *a, size_t i,
		       struct error *err)
{
	const struct boinc_appver *v = &a->list.v[i];
	char path[FILEIO_PATH_MAX], signame[BOINC_APPVER_NAME_MAX + 8];
	size_t k = a->n;
	int rc, gpu = boinc_sched_plan_class_gpu(v->plan_class);

	if (!boinc_upload_name_ok(v->name))
		return error_set(err, ERROR_FORMAT, "cannot serve '%s'", v->name);
	snprintf(signame, sizeof(signame), "%s.sig", v->name);
	bs_path(path, sizeof(path), s, "app", signame);
	if ((rc = bs_read_text(path, a->sig[k], sizeof(a->sig[k]), err)) < 0)
		return rc;
	snprintf(a->url[k], sizeof(a->url[k]), "%sdownload/%s", base, v->name);
	a->gpu[k] = gpu;
	a->app[k] = (struct boinc_sched_app){
	    .name = "agora",
	    .friendly_name = "Agora training",
	    .platform = v->platform,
	    .version_num = v->version_num,
	    .exe = {v->name, a->url[k], v->md5, v->nbytes, a->sig[k], 1},
	    .plan_class = v->plan_class,
	    .gpu_type = gpu >= 0 ? boinc_sched_gpu_type(gpu) : NULL,
	    .avg_ncpus = gpu >= 0 ? BS_GPU_AVG_NCPUS : 1.0,
	    .flops = 1e9,
	};
	a->n++;
	return 0;
}

/* The published app versions (agora-admin boinc publish) and the code
 * signing key; 0, or -1 when there is nothing to serve. A version whose
 * files are broken is left out with a warning; the others are served. */
static int bs_apps_load(struct server *s, const char *base, struct bs_apps *a)
{
	char path[FILEIO_PATH_MAX];
	struct error err;

	memset(a, 0, sizeof(*a));
	error_clear(&err);
	bs_path(path, sizeof(path), s, "app", "current");
	if (boinc_appver_load(&a->list, path, &err) < 0) {
		if (err.code != ERROR_NOT_FOUND)
			log_warn("cannot read the BOINC app versions: %s", err.msg);
		return -1;
	}
	bs_path(path, sizeof(path), s, "code_sign.pub", NULL);
	if (bs_read_text(path, a->key, sizeof(a->key), &err) < 0) {
		log_warn("cannot serve BOINC apps: %s", err.msg);
		return -1;
	}
	for (size_t i = 0; i < a->list.n; i++)
		if (bs_app_make(s, base, a, i, &err) < 0)
			log_warn("cannot serve BOINC app version '%s': %s", a->list.v[i].name,
				 err.msg);
	return a->n ? 0 : -1;
}

/* The version for resource want (a GPU vendor, or -1: the CPU) that
 * suits the host's platform best (its own, else its first alternative
 * that has one); -1 when none does. */
static long bs_apps_best(const struct bs_apps *a, const struct boinc_sched_request *rq, int want)
{
	long best = -1;
	int best_rank = 0;

	for (size_t i = 0; i < a->n; i++) {
		int rank =
		    a->gpu[i] == want ? boinc_sched_platform_rank(rq, a->app[i].platform) : -1;

		if (rank >= 0 && (best < 0 || rank < best_rank)) {
			best = (long)i;
			best_rank = rank;
		}
	}
	return best;
}

/* The app versions the host gets tasks for, into pick (indices into
 * a->app), GPU versions first: one of a GPU vendor when the host has such
 * a GPU with OpenCL and asks work for it (BOINC 7 asks per resource:
 * <req_secs> in the vendor's element) and the GPU has OpenCL 1.2 and
 * BS_GPU_MIN_MEM (when the client says), the CPU version when it asks CPU
 * work; each of the host's platform or an alternative it lists, never
 * another (a Linux executable is no use on Windows). Sets a GPU version's
 * flops from the host's estimate. */
static size_t bs_apps_pick(struct bs_apps *a, const struct boinc_sched_request *rq,
			   size_t pick[BOINC_APPVER_MAX])
{
	size_t n = 0;

	for (int k = 0; k < BOINC_SCHED_GPU_KINDS; k++) {
		const struct boinc_sched_gpu *g = &rq->gpus[k];
		long i = bs_apps_best(a, rq, k);
		double f;

		if (i < 0 || g->count < 1 || !g->have_opencl || g->req_secs <= 0 ||
		    (g->global_mem && g->global_mem < BS_GPU_MIN_MEM))
			continue;
		f = BS_GPU_FLOPS_SCALE * g->peak_flops; /* BOINC's peak_flops: one GPU's */
		a->app[i].flops = f < BS_GPU_FLOPS_MIN   ? BS_GPU_FLOPS_MIN
				  : f > BS_GPU_FLOPS_MAX ? BS_GPU_FLOPS_MAX
							 : f;
		pick[n++] = (size_t)i;
	}
	if (rq->work_req_seconds > 0) {
		long i = bs_apps_best(a, rq, -1);

		if (i >= 0)
			pick[n++] = (size_t)i;
	}
	return n;
}

/* Whether the host runs any published version's platform. */
static int bs_apps_platform_ok(const struct bs_apps *a, const struct boinc_sched_request *rq)
{
	for (size_t i = 0; i < a->n; i++)
		if (boinc_sched_platform_rank(rq, a->app[i].platform) >= 0)
			return 1;
	return 0;
}

/* Adds input file i: a file (path) served as name, opened as open. */
/* Adds input file i (< BOINC_SCHED_TASK_FILES_MAX): served as name (its
 * MD5 already in k->md5[i], size bytes), opened as open. */
static int bs_input_add(struct bs_task *k, size_t i, const char *name, const char *open,
			const char *base, uint64_t size)
{
	snprintf(k->name[i], BS_NAME, "%s", name);
	snprintf(k->url[i], sizeof(k->url[i]), "%sdownload/%s", base, name);
	snprintf(k->open[i], sizeof(k->open[i]), "%s", open);
	k->t.inputs[i] = (struct boinc_sched_file){k->name[i], k->url[i], k->md5[i], size, NULL, 0};
	k->t.open_names[i] = k->open[i];
	k->t.n_inputs = i + 1;
	return 0;
}

static int bs_input(struct bs_task *k, size_t i, const char *path, const char *name,
		    const char *open, const char *base, struct error *err)
{
	uint64_t size;
	int rc;

	if (i >= BOINC_SCHED_TASK_FILES_MAX)
		return error_set(err, ERROR_TOO_BIG, "too many input files");
	if ((rc = boinc_md5_file(path, k->md5[i], &size, err)) < 0)
		return rc;
	return bs_input_add(k, i, name, open, base, size);
}

/* The MD5 of a stored blob, which BOINC's file descriptions need. Every
 * task of a round names the same model and shards, so it is kept beside
 * them in STATE/boinc/md5/<hash>: "MD5 SIZE MTIME_NS", written atomically
 * once; the stored file's size and mtime must still match (a blob stored
 * again would not), else it is hashed again. Saves hashing the model
 * (megabytes) for every task. */
static int bs_blob_md5(struct server *s, const char *path, const char *hex,
		       char md5[BOINC_MD5_HEX + 1], uint64_t *size, struct error *err)
{
	char side[FILEIO_PATH_MAX], text[128], got[BOINC_MD5_HEX + 1];
	unsigned char *buf = NULL;
	unsigned long long gsize, gtime, mtime;
	struct stat st;
	size_t len;
	int rc, n;

	if (stat(path, &st) != 0)
		return fileio_error(err, errno, "stat", path);
	mtime = (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
		(unsigned long long)st.st_mtim.tv_nsec;
	bs_path(side, sizeof(side), s, "md5", hex);
	if (fileio_read_all(side, sizeof(text) - 1, &buf, &len, NULL) == 0) {
		n = sscanf((const char *)buf, "%32[0-9a-f] %llu %llu", got, &gsize, &gtime);
		free(buf);
		if (n == 3 && strlen(got) == BOINC_MD5_HEX &&
		    gsize == (unsigned long long)st.st_size && gtime == mtime) {
			memcpy(md5, got, sizeof(got));
			*size = gsize;
			return 0;
		}
	}
	if ((rc = boinc_md5_file(path, md5, size, err)) < 0)
		return rc;
	n = snprintf(text, sizeof(text), "%s %llu %llu\n", md5, (unsigned long long)*size, mtime);
	if (fileio_write_atomic(side, text, (size_t)n, 0600, 0, NULL) < 0)
		log_debug("cannot keep the MD5 of blob %.16s", hex); /* hashed again next time */
	return 0;
}

static int bs_blob_input(struct server *s, struct bs_task *k, size_t i, const struct hash *h,
			 const char *open, const char *base, struct error *err)
{
	char path[FILEIO_PATH_MAX], name[BS_NAME], hex[HASH_HEX_LEN + 1];

	uint64_t size;
	int rc;

	hash_to_hex(h, hex);
	snprintf(name, sizeof(name), "blob_%s", hex);
	if (i >= BOINC_SCHED_TASK_FILES_MAX)
		return error_set(err, ERROR_TOO_BIG, "too many input files");
	if (blobstore_path(server_blobstore(s), h, path, sizeof(path)) < 0)
		return error_set(err, ERROR_TOO_BIG, "blob path too long");
	if ((rc = bs_blob_md5(s, path, hex, k->md5[i], &size, err)) < 0)
		return rc;
	return bs_input_add(k, i, name, open, base, size);
}

/* STATE/boinc/files/agora_coordinator.pub, the coordinator's public key
 * file as the tasks get it (written once). */
static int bs_coord_key(struct server *s, char *path, size_t size, struct error *err)
{
	char hex[KEY_PUBLIC_HEX_LEN + 1], text[128];

	bs_path(path, size, s, "files", "agora_coordinator.pub");
	if (access(path, F_OK) == 0)
		return 0;
	key_public_to_hex(server_public_key(s), hex);
	snprintf(text, sizeof(text), "%s\n%s\n", KEY_PUBLIC_HEADER, hex);
	return fileio_write_atomic(path, text, strlen(text), 0644, 0, err);
}

/* Describes assignment a as a BOINC task in k. */
static int bs_task_make(struct server *s, const struct sched_assignment *a, const char *base,
			struct bs_task *k, struct error *err)
{
	char path[FILEIO_PATH_MAX], name[BS_NAME], open[40];
	struct unit u;
	int rc;

	memset(k, 0, sizeof(*k));
	if ((rc = unit_open(&u, NULL, a->envelope, a->envelope_len, server_public_key(s), err)) < 0)
		return rc;
	snprintf(name, sizeof(name), "agora_%" PRId64 "_unit", a->replica);
	bs_path(path, sizeof(path), s, "files", name);
	if ((rc = fileio_write_atomic(path, a->envelope, a->envelope_len, 0600, 0, err)) < 0 ||
	    (rc = bs_input(k, 0, path, name, "agora_unit", base, err)) < 0)
		return rc;
	if ((rc = bs_coord_key(s, path, sizeof(path), err)) < 0 ||
	    (rc = bs_input(k, 1, path, "agora_coordinator.pub", "agora_key", base, err)) < 0 ||
	    (rc = bs_blob_input(s, k, 2, &u.model, "agora_model", base, err)) < 0)
		return rc;
	for (size_t i = 0; i < u.n_data; i++) {
		snprintf(open, sizeof(open), "agora_shard_%zu", i);
		if ((rc = bs_blob_input(s, k, 3 + i, &u.data[i].shard, open, base, err)) < 0)
			return rc;
	}
	snprintf(k->wu, sizeof(k->wu), "agora_%" PRId64, a->replica);
	snprintf(k->res, sizeof(k->res), "agora_%" PRId64 "_0", a->replica);
	snprintf(k->out[0], BS_NAME, "agora_%" PRId64 "_0_env", a->replica);
	snprintf(k->out[1], BS_NAME, "agora_%" PRId64 "_0_blob", a->replica);
	snprintf(k->up, sizeof(k->up), "%sfile_upload_handler", base);
	k->t.wu_name = k->wu;
	k->t.result_name = k->res;
	k->t.n_outputs = 2;
	k->t.out_names[0] = k->out[0];
	k->t.out_names[1] = k->out[1];
	k->t.out_open_names[0] = "agora_result_env";
	k->t.out_open_names[1] = "agora_result_blob";
	k->t.upload_url = k->up;
	k->t.max_out_bytes = BOINC_SERVER_UPLOAD_MAX;
	k->t.fpops_est = u.flops > 1e9 ? u.flops : 1e9;
	k->t.memory_bound = 2e9;
	k->t.deadline = a->deadline;
	return 0;
}

static void bs_reply(struct http_request *req, const struct boinc_sched_reply *r)
{
	struct error err;
	char *xml = NULL;
	size_t len;

	if (boinc_sched_reply_write(r, &xml, &len, &err) < 0) {
		http_respond_error(req, 500, "internal", "%s", err.msg);
		return;
	}
	http_respond_buffer(req, 200, xml, len, "text/xml");
}

void boinc_server_scheduler(struct http_request *req, void *ctx)
{
	struct server *s = bs_server(ctx);
	struct boinc_sched_request *rq = malloc(sizeof(*rq));
	struct bs_task *tasks = calloc(BOINC_SERVER_TASKS_MAX, sizeof(*tasks));
	struct bs_apps *apps = malloc(sizeof(*apps));
	const char **acks = NULL;
	struct boinc_sched_reply r;
	struct boinc_sched_task tv[BOINC_SERVER_TASKS_MAX];
	struct key_secret hsk;
	struct error err;
	char base[300], account[40], note[BOINC_SCHED_PLATFORM_MAX + 64];
	const unsigned char *body;
	size_t len, n = 0, n_pick = 0, pick[BOINC_APPVER_MAX];
	int64_t host = 0;

	error_clear(&err);
	memset(&r, 0, sizeof(r));
	bs_base(req, s, base, sizeof(base));
	r.project_name = "Agora";
	r.master_url = base;
	r.request_delay = 5;
	body = http_request_body(req, &len);
	if (!rq || !tasks || !apps) {
		http_respond_error(req, 500, "internal", "out of memory");
		goto out;
	}
	if (boinc_sched_request_parse(rq, body ? body : (const unsigned char *)"", len, &err) < 0) {
		r.message = err.msg;
		bs_reply(req, &r);
		goto out;
	}
	bs_mkdirs(s);
	if (bs_host(s, rq->authenticator, &hsk, &host, account) < 0) {
		r.message = "cannot register this host";
		bs_reply(req, &r);
		goto out;
	}
	r.hostid = host;
	acks = calloc(rq->n_reported + 1, sizeof(*acks));
	for (size_t i = 0; acks && i < rq->n_reported; i++) {
		bs_report(s, &rq->reported[i], host, &hsk);
		acks[r.n_acks++] = rq->reported[i].name;
	}
	r.acks = acks;
	bs_sweep(s);
	if (bs_apps_load(s, base, apps) == 0) {
		r.apps = apps->app;
		r.n_apps = apps->n;
		n_pick = bs_apps_pick(apps, rq, pick);
		if (!bs_apps_platform_ok(apps, rq)) {
			snprintf(note, sizeof(note),
				 "Agora has no application for your platform (%s) yet",
				 rq->platform[0] ? rq->platform : "not named");
			r.message = note;
			log_info("BOINC host %" PRId64 ": no app version for platform '%s'", host,
				 rq->platform);
		}
		/* only once: a client that has a key wants a new one signed by it */
		if (!rq->has_code_sign_key)
			r.code_sign_key = apps->key;
	}
	/* the tasks take turns among the versions picked */
	while (n_pick && n < BOINC_SERVER_TASKS_MAX) {
		struct sched_assignment a;
		int rc = sched_assign_from(server_db(s), host, account, NULL, NULL,
					   server_max_in_progress(s), time(NULL), &a);

		if (rc < 0)
			break;
		rc = bs_task_make(s, &a, base, &tasks[n], &err);
		if (rc == 0) {
			tasks[n].t.app = pick[n % n_pick];
			tv[n] = tasks[n].t;
			n++;
		} else {
			log_warn("cannot hand replica %" PRId64 " to BOINC: %s", a.replica,
				 err.msg);
			if (sched_abandon(server_db(s), a.replica, host, NULL, time(NULL)) < 0)
				log_warn("cannot give replica %" PRId64 " up", a.replica);
		}
		sched_assignment_release(&a);
	}
	r.tasks = tv;
	r.n_tasks = n;
	bs_reply(req, &r);
out:
	sodium_memzero(&hsk, sizeof(hsk));
	free(acks);
	free(rq);
	free(tasks);
	free(apps);
}
