/*
 * server.c - the coordinator's life cycle: state directory, lock, key
 * pair, database, blob store and HTTP server (see server.h). The
 * endpoints themselves live in api.c.
 */
#include "config.h"

#include "server-tools/server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/api.h"
#include "server-tools/blobstore.h"
#include "server-tools/db.h"
#include "server-tools/http.h"

#define SERVER_PATH_MAX 4096
#define SERVER_KEY_NAME "coordinator"

struct server {
	struct server_options opt;
	char state[SERVER_PATH_MAX];
	int lock_fd;
	struct db *db;
	struct blobstore *blobs;
	struct key_public pk;
	struct key_secret sk;
	struct http_server *http;
	struct api *api;
	struct server_hooks hooks;
	struct http_route *routes; /* api's and the hooks', malloc'd */
	struct key_public admins[SERVER_ADMIN_KEYS_MAX];
	size_t n_admins;
};

static int server_path(const struct server *s, char *buf, size_t size, const char *rel)
{
	if (snprintf(buf, size, "%s/%s", s->state, rel) >= (int)size)
		return ERROR_TOO_BIG;
	return 0;
}

/* Creates the state directory (0700) or checks the existing one. */
static int server_state_dir(struct server *s, struct error *err)
{
	struct stat st;
	char keys[SERVER_PATH_MAX];

	if (mkdir(s->state, 0700) == 0) {
		log_info("created state directory '%s'", s->state);
	} else if (errno != EEXIST) {
		return fileio_error(err, errno, "create directory", s->state);
	}
	if (stat(s->state, &st) < 0)
		return fileio_error(err, errno, "stat", s->state);
	if (!S_ISDIR(st.st_mode))
		return error_set(err, ERROR_TYPE, "'%s' is not a directory", s->state);
	if (st.st_mode & 022)
		log_warn("state directory '%s' is writable by group or others", s->state);
	if (server_path(s, keys, sizeof(keys), "keys") < 0)
		return error_set(err, ERROR_TOO_BIG, "state path '%s' too long", s->state);
	if (mkdir(keys, 0700) < 0 && errno != EEXIST)
		return fileio_error(err, errno, "create directory", keys);
	return 0;
}

/* One server per state directory: an flock() on STATE/lock, released by
 * the kernel when the process dies, so kill -9 leaves no stale lock. */
static int server_lock(struct server *s, struct error *err)
{
	char path[SERVER_PATH_MAX];

	if (server_path(s, path, sizeof(path), "lock") < 0)
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0)
		return fileio_error(err, errno, "open", path);
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return error_set(err, ERROR_STATE,
				 "state directory '%s' is in use by another server", s->state);
	return 0;
}

/* Loads the coordinator key pair, making it on first start. */
static int server_keys(struct server *s, struct error *err)
{
	char dir[SERVER_PATH_MAX], sec[SERVER_PATH_MAX], pub[SERVER_PATH_MAX];
	struct key_public check;
	char fp[KEY_FINGERPRINT_LEN + 1];
	int rc;

	if (server_path(s, dir, sizeof(dir), "keys") < 0 ||
	    server_path(s, sec, sizeof(sec), "keys/" SERVER_KEY_NAME ".key") < 0 ||
	    server_path(s, pub, sizeof(pub), "keys/" SERVER_KEY_NAME ".pub") < 0)
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	if (access(sec, F_OK) < 0 && errno == ENOENT) {
		rc = key_generate(&s->pk, &s->sk);
		if (rc < 0)
			return error_set(err, rc, "cannot generate the coordinator key");
		rc = key_write_pair(dir, SERVER_KEY_NAME, &s->pk, &s->sk, err);
		if (rc < 0)
			return rc;
		key_fingerprint(&s->pk, fp);
		log_info("created coordinator key '%s' (fingerprint %s)", sec, fp);
		return 0;
	}
	rc = key_load_secret(&s->sk, sec, err);
	if (rc < 0)
		return rc;
	rc = key_load_public(&s->pk, pub, err);
	if (rc < 0)
		return rc;
	key_public_of(&check, &s->sk);
	if (!key_public_equal(&check, &s->pk))
		return error_set(err, ERROR_FORMAT, "'%s' does not belong to '%s'", pub, sec);
	return 0;
}

/* A project name is shown everywhere: valid UTF-8 (jansson checks it),
 * no control characters. */
static int server_name_ok(const char *name)
{
	json_t *j = json_string(name);
	const char *c;

	if (!j)
		return 0;
	json_decref(j);
	for (c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return 0;
	return 1;
}

static int server_storage(struct server *s, struct error *err)
{
	char path[SERVER_PATH_MAX];
	struct db_project p;
	const char *name = s->opt.name ? s->opt.name : SERVER_DEFAULT_NAME;
	int rc;

	if (server_path(s, path, sizeof(path), "state.db") < 0)
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	rc = db_open(&s->db, path, err);
	if (rc < 0)
		return rc;
	rc = server_name_ok(name) ? db_project_init(s->db, name, (int64_t)time(NULL)) : ERROR_RANGE;
	if (rc == ERROR_RANGE)
		return error_set(err, rc,
				 "bad project name '%.80s': want 1..%d bytes of UTF-8 without "
				 "control characters",
				 name, DB_NAME_MAX);
	if (rc < 0 || (rc = db_project_get(s->db, &p)) < 0)
		return error_set(err, rc, "cannot record the project in '%s'", path);
	if (s->opt.name && strcmp(p.name, s->opt.name) != 0)
		log_warn("keeping project name '%s' (ignoring --name '%s')", p.name, s->opt.name);
	if (server_path(s, path, sizeof(path), "blobs") < 0)
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	return blobstore_open(&s->blobs, path, err);
}

/* Loads one admin public key file. */
static int server_admin_add(struct server *s, const char *path, struct error *err)
{
	if (s->n_admins >= SERVER_ADMIN_KEYS_MAX)
		return error_set(err, ERROR_TOO_BIG, "more than %d admin keys",
				 SERVER_ADMIN_KEYS_MAX);
	return key_load_public(&s->admins[s->n_admins++], path, err);
}

/* The admin keys: --admin-key files, then STATE/admins/NAME.pub. */
static int server_admins(struct server *s, struct error *err)
{
	char dir[SERVER_PATH_MAX], path[SERVER_PATH_MAX * 2];
	struct dirent *e;
	size_t i, len;
	DIR *d;
	int rc = 0;

	for (i = 0; i < s->opt.n_admin_keys && rc == 0; i++)
		rc = server_admin_add(s, s->opt.admin_keys[i], err);
	if (rc < 0 || server_path(s, dir, sizeof(dir), "admins") < 0)
		return rc < 0 ? rc : error_set(err, ERROR_TOO_BIG, "state path too long");
	d = opendir(dir);
	while (d && rc == 0 && (e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if (len < 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 4, ".pub") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		rc = server_admin_add(s, path, err);
	}
	if (d)
		closedir(d);
	if (rc == 0 && s->n_admins)
		log_info("%zu admin key%s allowed", s->n_admins, s->n_admins == 1 ? "" : "s");
	return rc;
}

int server_open(struct server **out, const struct server_options *opt, struct error *err)
{
	struct server *s;
	int rc;

	*out = NULL;
	if (!opt->state_dir || !*opt->state_dir)
		return error_set(err, ERROR_INVALID, "no state directory given");
	if (!opt->tls_cert != !opt->tls_key)
		return error_set(err, ERROR_INVALID, "--tls-cert and --tls-key go together");
	s = calloc(1, sizeof(*s));
	if (!s)
		return error_set(err, ERROR_NOMEM, "out of memory");
	s->opt = *opt;
	s->lock_fd = -1;
	if (snprintf(s->state, sizeof(s->state), "%s", opt->state_dir) >= (int)sizeof(s->state)) {
		rc = error_set(err, ERROR_TOO_BIG, "state path too long");
		goto out;
	}
	rc = server_state_dir(s, err);
	if (rc == 0)
		rc = server_lock(s, err);
	if (rc == 0)
		rc = server_keys(s, err);
	if (rc == 0)
		rc = server_storage(s, err);
	if (rc == 0)
		rc = server_admins(s, err);
	if (rc == 0)
		rc = api_new(&s->api, s, err);
out:
	if (rc < 0) {
		server_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* Reads a PEM file for TLS (capped); warns about a world-readable key. */
static int server_read_pem(const char *path, int secret, char **out, struct error *err)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t len;
	int rc;

	rc = fileio_read_all(path, SERVER_PEM_MAX, &buf, &len, err);
	if (rc < 0)
		return rc;
	if (secret && stat(path, &st) == 0 && (st.st_mode & 004))
		log_warn("TLS key '%s' is readable by everyone", path);
	if (memchr(buf, '\0', len)) {
		free(buf);
		return error_set(err, ERROR_FORMAT, "'%s' is not a PEM file", path);
	}
	*out = (char *)buf; /* fileio_read_all NUL-terminates */
	return 0;
}

int server_start(struct server *s, struct error *err)
{
	struct http_config cfg = {.listen = s->opt.listen, .threads = s->opt.threads};
	const struct http_route *routes;
	char *cert = NULL, *key = NULL;
	size_t nroutes;
	int rc = 0;

	if (s->opt.tls_cert) {
		rc = server_read_pem(s->opt.tls_cert, 0, &cert, err);
		if (rc == 0)
			rc = server_read_pem(s->opt.tls_key, 1, &key, err);
		if (rc < 0)
			goto out;
		cfg.tls_cert_pem = cert;
		cfg.tls_key_pem = key;
	}
	routes = api_routes(&nroutes);
	s->routes = calloc(nroutes + s->hooks.n_routes, sizeof(*s->routes));
	if (!s->routes) {
		rc = error_set(err, ERROR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(s->routes, routes, nroutes * sizeof(*routes));
	if (s->hooks.n_routes)
		memcpy(s->routes + nroutes, s->hooks.routes, s->hooks.n_routes * sizeof(*routes));
	rc = http_server_new(&s->http, &cfg, s->routes, nroutes + s->hooks.n_routes, s->api, err);
	if (rc == 0)
		api_set_http(s->api, s->http);
out:
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	free(cert);
	return rc;
}

unsigned server_port(const struct server *s)
{
	return s->http ? http_server_port(s->http) : 0;
}

int server_tls(const struct server *s)
{
	return s->opt.tls_cert != NULL;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	http_server_free(s->http); /* first: no handler runs after this */
	free(s->routes);
	api_free(s->api);
	blobstore_free(s->blobs);
	db_free(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	memset(&s->sk, 0, sizeof(s->sk));
	free(s);
}

struct db *server_db(struct server *s)
{
	return s->db;
}

struct blobstore *server_blobstore(struct server *s)
{
	return s->blobs;
}

const struct key_public *server_public_key(const struct server *s)
{
	return &s->pk;
}

void server_register_limit(const struct server *s, unsigned *burst, unsigned *every_s)
{
	*burst = s->opt.register_burst ? s->opt.register_burst : SERVER_REGISTER_BURST;
	*every_s = s->opt.register_every_s ? s->opt.register_every_s : SERVER_REGISTER_EVERY_S;
}

int server_max_in_progress(const struct server *s)
{
	if (s->opt.max_in_progress < 0)
		return 0;
	return s->opt.max_in_progress ? s->opt.max_in_progress : SERVER_MAX_IN_PROGRESS;
}

unsigned server_heartbeat_s(const struct server *s)
{
	return s->opt.heartbeat_s ? s->opt.heartbeat_s : SERVER_HEARTBEAT_S;
}

void server_set_hooks(struct server *s, const struct server_hooks *h)
{
	s->hooks = *h;
}

const struct server_hooks *server_hooks(const struct server *s)
{
	return &s->hooks;
}

void server_stop(struct server *s)
{
	http_server_free(s->http);
	s->http = NULL;
}

int server_admin_allowed(const struct server *s, const struct key_public *pk)
{
	size_t i;

	for (i = 0; i < s->n_admins; i++)
		if (key_public_equal(&s->admins[i], pk))
			return 1;
	return 0;
}

const struct key_secret *server_secret_key(const struct server *s)
{
	return &s->sk;
}

const char *server_state_path(const struct server *s)
{
	return s->state;
}

int server_distinct_netblock(const struct server *s)
{
	return s->opt.distinct_netblock;
}
