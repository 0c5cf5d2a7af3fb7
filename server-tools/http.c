/*
 * http.c - route table, capped bodies and JSON answers over libmicrohttpd
 * (see http.h).
 *
 * Dispatch model. libmicrohttpd calls the access handler several times per
 * request: once when the headers are in (we find the route and check the
 * announced size), once per body chunk, and once more when the body is
 * complete (we call the handler). Answers are built by http_respond_*()
 * into req->response and queued by the access handler at the first moment
 * libmicrohttpd allows, so a streaming callback may refuse a body half way
 * (the rest of the body is read and dropped, up to the route's cap, so
 * the client still gets the answer; see http_access()).
 *
 * Threading. MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL with a pool
 * of HTTP_THREADS_PER_CPU threads per core (at least HTTP_THREADS_MIN):
 * each thread runs its own epoll loop over its share of the connections,
 * there is no hand-off between an accept thread and workers
 * (thread-per-connection would spawn a thread per client). More threads
 * than cores because a handler blocks: a write waits for its group
 * commit (db_txn.c) and an upload for the blob's fsync, and the requests
 * that wait together share one fsync, so the batch -- and dispatch
 * throughput -- grows with the number of handlers in flight
 * (docs/PERFORMANCE.md: 2 threads ~600 units/s, 16 ~2,700, 32 ~3,000 on
 * two cores). A waiting thread stalls only its own connections.
 */
#include "config.h"

#include "server-tools/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/log.h"

/* The default pool (see above): per core, floor, ceiling. */
#define HTTP_THREADS_PER_CPU 8
#define HTTP_THREADS_MIN     16
#define HTTP_THREADS_MAX     64

struct http_counter {
	_Atomic uint64_t requests;
	_Atomic uint64_t client_errors;
	_Atomic uint64_t server_errors;
	_Atomic uint64_t latency_ns;
};

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t nroutes;
	void *ctx;
	unsigned port;
	char *tls_cert;
	char *tls_key;
	struct http_counter *counters; /* nroutes + 1 (the last: unrouted) */
};

struct http_header {
	char name[64];
	char value[HTTP_HEADER_VALUE_MAX];
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const struct http_route *route; /* NULL: unrouted */
	const char *method;
	const char *path;
	const char *suffix;
	struct timespec start;
	int64_t content_length;
	unsigned char *body;
	size_t body_len, body_cap;
	size_t discarded;
	int too_big;
	struct MHD_Response *response; /* built, not yet queued */
	unsigned status;
	int answered; /* a response was built (queued or pending) */
	int queued;
	void *state;
	void (*release)(void *);
	struct http_header headers[HTTP_HEADERS_MAX];
	size_t nheaders;
};

int http_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len,
		      struct error *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_text, *h = text;
	size_t hlen;
	char *end;
	long port;
	int v6 = 0;

	memset(addr, 0, sizeof(*addr));
	if (!text || !*text)
		return error_set(err, ERROR_FORMAT, "empty listen address");
	if (*h == '[') {
		colon = strchr(h, ']');
		if (!colon || colon[1] != ':')
			return error_set(err, ERROR_FORMAT,
					 "bad listen address '%s': want [ADDR]:PORT", text);
		h++;
		hlen = (size_t)(colon - h);
		port_text = colon + 2;
		v6 = 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return error_set(err, ERROR_FORMAT,
					 "bad listen address '%s': want ADDR:PORT", text);
		hlen = (size_t)(colon - h);
		port_text = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return error_set(err, ERROR_FORMAT, "bad listen address '%s': no address", text);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(port_text, &end, 10);
	if (!*port_text || *end || errno || port < 0 || port > 65535 || *port_text == '-' ||
	    *port_text == '+')
		return error_set(err, ERROR_RANGE, "bad port in '%s': want 0..65535", text);
	if (v6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return error_set(err, ERROR_FORMAT, "bad IPv6 address '%s'", host);
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return error_set(err, ERROR_FORMAT, "bad IPv4 address '%s'", host);
		*len = sizeof(*a4);
	}
	return 0;
}

/* ---- requests ---- */

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_suffix(const struct http_request *req)
{
	return req->suffix ? req->suffix : "";
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const unsigned char *http_request_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body;
}

int http_request_client(const struct http_request *req, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	if (!sa || size == 0)
		return -1;
	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size))
		return 0;
	if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
		      (socklen_t)size))
		return 0;
	return -1;
}

int64_t http_request_content_length(const struct http_request *req)
{
	return req->content_length;
}

void http_request_set_state(struct http_request *req, void *state, void (*release)(void *))
{
	req->state = state;
	req->release = release;
}

void *http_request_state(const struct http_request *req)
{
	return req->state;
}

int http_request_answered(const struct http_request *req)
{
	return req->answered;
}

void http_request_add_header(struct http_request *req, const char *name, const char *value)
{
	struct http_header *h;

	if (req->nheaders >= HTTP_HEADERS_MAX) {
		log_warn("too many response headers, dropping '%s'", name);
		return;
	}
	h = &req->headers[req->nheaders++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->value, sizeof(h->value), "%s", value);
}

/* ---- ranges ---- */

int http_range_parse(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	unsigned long long a = 0, b = 0;
	const char *p, *dash;
	char *end;
	int has_a, has_b;

	if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	p = h + 6;
	dash = strchr(p, '-');
	if (!dash)
		return 0;
	has_a = dash > p;
	has_b = dash[1] != '\0';
	errno = 0;
	if (has_a) {
		if (*p < '0' || *p > '9')
			return 0;
		a = strtoull(p, &end, 10);
		if (end != dash || errno)
			return 0;
	}
	if (has_b) {
		if (dash[1] < '0' || dash[1] > '9')
			return 0;
		b = strtoull(dash + 1, &end, 10);
		if (*end || errno)
			return 0;
	}
	if (!has_a && !has_b)
		return 0;
	if (!has_a) { /* the last b bytes */
		if (b == 0 || size == 0)
			return -1;
		*len = b < size ? b : size;
		*off = size - *len;
		return 1;
	}
	if (has_b && b < a)
		return 0;
	if (a >= size)
		return -1;
	if (!has_b || b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 1;
}

/* ---- answers ---- */

/* Stores resp as the request's answer (adding the extra headers); it is
 * queued by the access handler. Takes over resp. */
static int http_answer(struct http_request *req, unsigned status, struct MHD_Response *resp)
{
	size_t i;

	if (!resp)
		return ERROR_NOMEM;
	if (req->answered) {
		log_warn("second answer to '%s %s' ignored", req->method, req->path);
		MHD_destroy_response(resp);
		return ERROR_STATE;
	}
	for (i = 0; i < req->nheaders; i++)
		MHD_add_response_header(resp, req->headers[i].name, req->headers[i].value);
	req->response = resp;
	req->status = status;
	req->answered = 1;
	return 0;
}

int http_respond_json(struct http_request *req, unsigned status, json_t *body)
{
	struct MHD_Response *resp;
	char *text;

	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return ERROR_NOMEM;
	/* jansson allocates with malloc(); MHD_RESPMEM_MUST_FREE uses free(). */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return ERROR_NOMEM;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	return http_answer(req, status, resp);
}

int http_respond_error(struct http_request *req, unsigned status, const char *error,
		       const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return http_respond_json(req, status,
				 json_pack("{s:s, s:s}", "error", error, "detail", detail));
}

int http_respond_buffer(struct http_request *req, unsigned status, char *body, size_t len,
			const char *content_type)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return ERROR_NOMEM;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return http_answer(req, status, resp);
}

int http_respond_fd(struct http_request *req, unsigned status, int fd, uint64_t offset,
		    uint64_t len, const char *content_type)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (!resp) {
		close(fd);
		return ERROR_NOMEM;
	}
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return http_answer(req, status, resp);
}

int http_respond_empty(struct http_request *req, unsigned status)
{
	return http_answer(req, status,
			   MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

/* Queues the stored answer; MHD_NO closes the connection. */
static enum MHD_Result http_queue(struct http_request *req)
{
	enum MHD_Result ret;

	if (!req->answered) {
		log_error("no answer for '%s %s'", req->method, req->path);
		if (http_respond_error(req, 500, "internal", "the handler gave no answer") < 0)
			return MHD_NO;
	}
	if (req->queued)
		return MHD_YES;
	ret = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	req->queued = 1;
	return ret;
}

/* ---- dispatch ---- */

static int http_route_matches(const struct http_route *r, const char *path)
{
	size_t n = strlen(r->path);

	if (r->flags & HTTP_ROUTE_PREFIX)
		return strncmp(path, r->path, n) == 0;
	return strcmp(path, r->path) == 0;
}

static int http_method_matches(const struct http_route *r, const char *method)
{
	if (strcmp(r->method, method) == 0)
		return 1;
	return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* Finds the route; answers 404 / 405 when there is none. */
static void http_route_find(struct http_request *req)
{
	struct http_server *srv = req->srv;
	char allow[128] = "";
	size_t i, used = 0;

	for (i = 0; i < srv->nroutes; i++) {
		const struct http_route *r = &srv->routes[i];
		if (!http_route_matches(r, req->path))
			continue;
		if (http_method_matches(r, req->method)) {
			req->route = r;
			req->suffix = req->path + strlen(r->path);
			return;
		}
		if (used < sizeof(allow)) {
			int n = snprintf(allow + used, sizeof(allow) - used, "%s%s",
					 used ? ", " : "", r->method);
			if (n > 0)
				used += (size_t)n;
		}
	}
	if (used) {
		http_request_add_header(req, MHD_HTTP_HEADER_ALLOW, allow);
		http_respond_error(req, 405, "method_not_allowed", "'%s' does not accept %s",
				   req->path, req->method);
	} else {
		http_respond_error(req, 404, "not_found", "no endpoint '%s'", req->path);
	}
}

/* libmicrohttpd hands over the path %-decoded: refuse control characters
 * (a decoded newline would forge log lines). */
static int http_path_ok(const char *path)
{
	for (; *path; path++)
		if ((unsigned char)*path < 0x20 || *path == 0x7f)
			return 0;
	return 1;
}

/* First call: headers are in. Routes the request and checks the size. */
static struct http_request *http_request_begin(struct http_server *srv, struct MHD_Connection *conn,
					       const char *url, const char *method)
{
	struct http_request *req = calloc(1, sizeof(*req));
	const char *cl;

	if (!req)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &req->start);
	req->srv = srv;
	req->conn = conn;
	req->method = method;
	req->path = url;
	req->content_length = -1;
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(cl, &end, 10);
		if (!errno && *cl >= '0' && *cl <= '9' && !*end && v <= INT64_MAX)
			req->content_length = (int64_t)v;
	}
	if (!http_path_ok(url)) /* before it reaches a log line or a route */
		http_respond_error(req, 400, "bad_path", "the path holds control characters");
	else
		http_route_find(req);
	if (req->route && req->content_length > (int64_t)req->route->body_max)
		http_respond_error(req, 413, "too_large",
				   "body of %lld bytes, at most %zu accepted",
				   (long long)req->content_length, req->route->body_max);
	return req;
}

/* Appends a chunk to the capped buffer; marks the request too big. */
static void http_body_append(struct http_request *req, const char *data, size_t len)
{
	size_t max = req->route->body_max, need = req->body_len + len, cap;
	unsigned char *p;

	if (need > max || need < len) {
		req->too_big = 1;
		return;
	}
	if (need > req->body_cap) {
		cap = req->body_cap ? req->body_cap : 4096;
		if (req->content_length > 0 && (uint64_t)req->content_length <= max)
			cap = (size_t)req->content_length;
		while (cap < need)
			cap = cap > max / 2 ? max : cap * 2;
		p = realloc(req->body, cap);
		if (!p) {
			http_respond_error(req, 503, "overloaded", "out of memory");
			return;
		}
		req->body = p;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len = need;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_data_size, void **con_cls)
{
	struct http_request *req = *con_cls;
	struct http_server *srv = cls;

	(void)version;
	if (!req) {
		req = http_request_begin(srv, conn, url, method);
		if (!req)
			return MHD_NO;
		*con_cls = req;
		/* Refuse before the body is read (MHD then closes). */
		return req->answered ? http_queue(req) : MHD_YES;
	}
	if (*upload_data_size) {
		size_t len = *upload_data_size;
		*upload_data_size = 0;
		if (req->answered || req->too_big) {
			/* libmicrohttpd answers only once the body is in, so a
			 * body refused half way is read and dropped to its end
			 * for the client to get the answer: up to its route's
			 * cap (the route would have taken that much anyway),
			 * and HTTP_DISCARD_MAX past a cap already exceeded. */
			size_t cap = req->too_big || req->route->body_max < HTTP_DISCARD_MAX
					 ? HTTP_DISCARD_MAX
					 : req->route->body_max;

			req->discarded += len;
			return req->discarded > cap ? MHD_NO : MHD_YES;
		}
		if (req->route->flags & HTTP_ROUTE_STREAM) {
			if (req->body_len + len > req->route->body_max) {
				req->too_big = 1;
				return MHD_YES;
			}
			req->body_len += len;
			if (req->route->body(req, upload_data, len, srv->ctx) < 0 && !req->answered)
				http_respond_error(req, 400, "bad_body", "the body was refused");
		} else {
			http_body_append(req, upload_data, len);
		}
		return MHD_YES;
	}
	if (req->queued)
		return MHD_YES;
	if (req->too_big && !req->answered)
		http_respond_error(req, 413, "too_large", "body larger than %zu bytes",
				   req->route->body_max);
	if (!req->answered)
		req->route->handle(req, srv->ctx);
	return http_queue(req);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	struct http_counter *c;
	struct timespec now;
	uint64_t ns;

	(void)conn;
	if (!req)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - req->start.tv_sec) * 1000000000u +
	     (uint64_t)(now.tv_nsec - req->start.tv_nsec);
	c = &srv->counters[req->route ? (size_t)(req->route - srv->routes) : srv->nroutes];
	atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->latency_ns, ns, memory_order_relaxed);
	if (req->status >= 400 && req->status < 500)
		atomic_fetch_add_explicit(&c->client_errors, 1, memory_order_relaxed);
	else if (req->status >= 500 || !req->queued)
		atomic_fetch_add_explicit(&c->server_errors, 1, memory_order_relaxed);
	/* The access log, with --verbose. */
	log_debug("%s %s %u %.3f ms%s", req->method, req->path, req->queued ? req->status : 0,
		  (double)ns / 1e6, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	if (req->release)
		req->release(req->state);
	if (req->response)
		MHD_destroy_response(req->response);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_warn("http: %s", line);
}

/* ---- server ---- */

static int http_daemon_start(struct http_server *srv, const struct http_config *cfg,
			     const struct sockaddr_storage *addr, struct error *err)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	unsigned threads = cfg->threads;
	long ncpu;

	if (!threads) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		/* unknown CPU count: the floor */
		threads = ncpu <= 0 ? HTTP_THREADS_MIN
			  : ncpu < HTTP_THREADS_MAX / HTTP_THREADS_PER_CPU
			      ? (unsigned)ncpu * HTTP_THREADS_PER_CPU
			      : HTTP_THREADS_MAX;
		if (threads < HTTP_THREADS_MIN)
			threads = HTTP_THREADS_MIN;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
		flags |= MHD_USE_EPOLL;
	else
		flags |= MHD_USE_POLL;
	if (addr->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (srv->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
			return error_set(err, ERROR_STATE, "libmicrohttpd was built without TLS");
		flags |= MHD_USE_TLS;
	}
	srv->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, http_access, srv, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr, MHD_OPTION_THREAD_POOL_SIZE,
	    threads > 1 ? threads : 0u, MHD_OPTION_NOTIFY_COMPLETED, http_completed, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 30u,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit ? cfg->connection_limit : 1024u,
	    srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key, MHD_OPTION_END);
	if (!srv->daemon)
		return error_set(err, ERROR_NET, "cannot listen on '%s'%s",
				 cfg->listen ? cfg->listen : HTTP_DEFAULT_LISTEN,
				 srv->tls_cert ? " (or bad TLS certificate or key)" : "");
	return 0;
}

int http_server_new(struct http_server **out, const struct http_config *cfg,
		    const struct http_route *routes, size_t nroutes, void *ctx, struct error *err)
{
	struct sockaddr_storage addr;
	const union MHD_DaemonInfo *info;
	struct http_server *srv;
	socklen_t alen;
	int rc;

	*out = NULL;
	rc = http_listen_parse(cfg->listen ? cfg->listen : HTTP_DEFAULT_LISTEN, &addr, &alen, err);
	if (rc < 0)
		return rc;
	if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
		return error_set(err, ERROR_INVALID, "TLS needs both a certificate and a key");
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return error_set(err, ERROR_NOMEM, "out of memory");
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->ctx = ctx;
	srv->counters = calloc(nroutes + 1, sizeof(*srv->counters));
	if (cfg->tls_cert_pem) {
		srv->tls_cert = strdup(cfg->tls_cert_pem);
		srv->tls_key = strdup(cfg->tls_key_pem);
	}
	if (!srv->counters || (cfg->tls_cert_pem && (!srv->tls_cert || !srv->tls_key))) {
		rc = error_set(err, ERROR_NOMEM, "out of memory");
		goto out;
	}
	rc = http_daemon_start(srv, cfg, &addr, err);
	if (rc < 0)
		goto out;
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
out:
	if (rc < 0) {
		http_server_free(srv);
		return rc;
	}
	*out = srv;
	return 0;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	free(srv->counters);
	if (srv->tls_key) {
		/* The key is a secret: do not leave it in freed memory. */
		volatile char *p = srv->tls_key;
		while (*p)
			*p++ = 0;
	}
	free(srv->tls_key);
	free(srv->tls_cert);
	free(srv);
}

unsigned http_server_port(const struct http_server *srv)
{
	return srv->port;
}

size_t http_server_stats(const struct http_server *srv, struct http_route_stats *out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i <= srv->nroutes && n < max; i++, n++) {
		struct http_counter *c = &srv->counters[i];
		if (i < srv->nroutes)
			out[n].name =
			    srv->routes[i].name ? srv->routes[i].name : srv->routes[i].path;
		else
			out[n].name = "unrouted";
		out[n].requests = atomic_load_explicit(&c->requests, memory_order_relaxed);
		out[n].client_errors =
		    atomic_load_explicit(&c->client_errors, memory_order_relaxed);
		out[n].server_errors =
		    atomic_load_explicit(&c->server_errors, memory_order_relaxed);
		out[n].latency_ns = atomic_load_explicit(&c->latency_ns, memory_order_relaxed);
	}
	return n;
}
