/*
 * http.h - the coordinator's small HTTP layer over libmicrohttpd.
 *
 * A server is a route table (method + exact path or path prefix) served
 * by libmicrohttpd on one address, optionally over TLS. For each request
 * the layer finds the route (404 / 405 otherwise), enforces the route's
 * body cap (413 before anything is allocated when Content-Length says so,
 * and while reading otherwise), then either accumulates the body in a
 * buffer and calls the route's handler once, or, for streaming routes,
 * hands each chunk to the route's body callback as it arrives. Handlers
 * answer with http_respond_*(): JSON (jansson), a JSON error object
 * {"error": "...", "detail": "..."}, or a file range.
 *
 * Threads: libmicrohttpd's internal thread pool with epoll, one thread per
 * core by default. Handlers therefore run concurrently and must only
 * share thread-safe state (struct db is).
 *
 * Counters: per route, the number of requests, of 4xx and 5xx answers and
 * the sum of latencies, kept with atomics (http_server_stats()).
 */
#ifndef AGORA_SERVER_HTTP_H
#define AGORA_SERVER_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "common/error.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8470"
#define HTTP_DEFAULT_PORT   8470
/* At most this many bytes of an oversized body are read (and dropped) to
 * send the 413 answer; beyond it the connection is closed. */
#define HTTP_DISCARD_MAX (1024u * 1024)
/* Extra response headers a handler may add (ETag, Content-Range, ...). */
#define HTTP_HEADERS_MAX      8
#define HTTP_HEADER_VALUE_MAX 256

/* Route flags. */
#define HTTP_ROUTE_PREFIX 1u /* path is a prefix; the rest is the suffix */
#define HTTP_ROUTE_STREAM 2u /* body chunks go to route->body as they come */

struct http_server;
struct http_request;

/* Called once the whole body is in (or for streaming routes, once the
 * last chunk was accepted). Must answer with one http_respond_*() call;
 * a handler that does not answer produces a 500. */
typedef void (*http_handler_fn)(struct http_request *req, void *ctx);
/* Streaming routes: one call per chunk. Returns 0 to go on; to refuse,
 * the callback calls http_respond_error() (the answer is sent when the
 * client finished sending) and returns a negative error. */
typedef int (*http_body_fn)(struct http_request *req, const void *data, size_t len, void *ctx);

struct http_route {
	const char *method; /* "GET", "POST", "PUT"; GET routes also serve HEAD */
	const char *path;   /* exact path, or prefix with HTTP_ROUTE_PREFIX */
	unsigned flags;
	size_t body_max; /* largest accepted body; 0 refuses any body */
	http_handler_fn handle;
	http_body_fn body; /* HTTP_ROUTE_STREAM only */
	const char *name;  /* name in the counters; NULL: path */
};

struct http_config {
	const char *listen;       /* "ADDR:PORT" or "[V6ADDR]:PORT"; NULL: default */
	const char *tls_cert_pem; /* PEM text (not a file name); NULL: plain HTTP */
	const char *tls_key_pem;
	unsigned threads;          /* 0: 8 per online CPU, 16..64 */
	unsigned timeout_s;        /* idle connection timeout; 0: 30 s */
	unsigned connection_limit; /* 0: 1024 */
};

struct http_route_stats {
	const char *name;
	uint64_t requests;
	uint64_t client_errors; /* 4xx */
	uint64_t server_errors; /* 5xx */
	uint64_t latency_ns;    /* sum over all requests */
};

/* Parses "ADDR:PORT" / "[ADDR]:PORT" (numeric addresses, port 0..65535,
 * 0 meaning any free port) into addr. */
int http_listen_parse(const char *text, struct sockaddr_storage *addr, socklen_t *len,
		      struct error *err) __attribute__((warn_unused_result));

/* Parses one Range header value, "bytes=first-last" / "bytes=first-" /
 * "bytes=-suffix", for an entity of size bytes. Returns 1 with the range
 * [*off, *off + *len) (never empty, never past size), 0 when the header
 * is to be ignored (malformed, or several ranges: the whole entity is
 * sent, as RFC 9110 allows), or -1 when unsatisfiable (416). */
int http_range_parse(const char *value, uint64_t size, uint64_t *off, uint64_t *len)
    __attribute__((warn_unused_result));

/* Starts serving. routes (and the strings they point to) and ctx must
 * outlive the server; the PEM texts are copied. On success *out owns the
 * running server; stop it with http_server_free(). */
int http_server_new(struct http_server **out, const struct http_config *cfg,
		    const struct http_route *routes, size_t nroutes, void *ctx, struct error *err)
    __attribute__((warn_unused_result));
/* Stops accepting, waits for the running handlers, frees. NULL: no-op. */
void http_server_free(struct http_server *srv);
/* The port actually bound (useful after listening on port 0). */
unsigned http_server_port(const struct http_server *srv);
/* Copies the counters of up to max routes (route order, then one entry
 * named "unrouted" for 404/405); returns how many were written. */
size_t http_server_stats(const struct http_server *srv, struct http_route_stats *out, size_t max);

/* Request accessors; the strings live as long as the request. */
const char *http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* The part of the path after a prefix route's prefix ("" otherwise). */
const char *http_request_suffix(const struct http_request *req);
/* A request header (case-insensitive name) or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/* The accumulated body (NULL, 0 for none or for streaming routes). */
const unsigned char *http_request_body(const struct http_request *req, size_t *len);
/* The client's numeric address (no port) into buf; 0, or -1 when unknown. */
int http_request_client(const struct http_request *req, char *buf, size_t size);
/* The Content-Length the client announced, or -1. */
int64_t http_request_content_length(const struct http_request *req);
/* Per-request state for streaming handlers: release(state) runs when the
 * request ends, whether it completed or the client went away. */
void http_request_set_state(struct http_request *req, void *state, void (*release)(void *));
void *http_request_state(const struct http_request *req);

/* Adds a header to the answer that follows (values are copied, bounded by
 * HTTP_HEADER_VALUE_MAX; extra headers beyond HTTP_HEADERS_MAX are
 * dropped with a warning). */
void http_request_add_header(struct http_request *req, const char *name, const char *value);

/* Answers. Each returns 0, or a negative error when an answer was already
 * given or the response could not be queued. */
/* Sends body as JSON; takes over the reference to body. */
int http_respond_json(struct http_request *req, unsigned status, json_t *body);
/* Sends {"error": error, "detail": <formatted>}. */
int http_respond_error(struct http_request *req, unsigned status, const char *error,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sends len bytes of body (malloc'd; taken over and freed) as
 * content_type (text pages, /metrics). */
int http_respond_buffer(struct http_request *req, unsigned status, char *body, size_t len,
			const char *content_type);
/* Sends len bytes of fd from offset (the fd is taken over and closed). */
int http_respond_fd(struct http_request *req, unsigned status, int fd, uint64_t offset,
		    uint64_t len, const char *content_type);
/* Sends no body (204, 304). */
int http_respond_empty(struct http_request *req, unsigned status);
/* 1 once an answer was queued. */
int http_request_answered(const struct http_request *req);

#endif
