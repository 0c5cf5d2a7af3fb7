/*
 * net.h - the client's HTTP side (libcurl): plain and signed requests with
 * capped response bodies, downloads into a file descriptor with Range, and
 * the retry policy (exponential backoff with full jitter).
 *
 * TLS peers are verified (libcurl's default) against the system store, or
 * against `cacert` when set (a private CA). Signed requests carry the four
 * X-Agora-* headers of docs/PROTOCOL.md, computed by auth_sign_request()
 * over the exact body bytes.
 *
 * A struct net keeps one curl easy handle (connection reuse); it belongs to
 * one thread. net_global_init() must run once before any other call.
 */
#ifndef AGORA_CLIENT_NET_H
#define AGORA_CLIENT_NET_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/key.h"

/* Control responses (JSON) larger than this are refused. */
#define NET_CONTROL_MAX (256u * 1024)
/* Default transfer stall limit: a transfer slower than 1 byte/s for this
 * long is abandoned (seconds). */
#define NET_STALL_S 60

struct net {
	void *curl;         /* CURL * */
	const char *cacert; /* not owned; NULL: system CAs */
	long stall_s;       /* low-speed time limit (seconds) */
	long upload_limit;  /* bytes/s a request body is sent at; 0: no limit */
	/* When not NULL and non-zero, transfers in progress are abandoned
	 * (ERROR_NET): lets SIGTERM end a long download at once. */
	volatile sig_atomic_t *stop;
	/* When not NULL, called often while a transfer runs (e.g. to keep a
	 * status file fresh); must be cheap. */
	void (*tick)(void *ctx);
	void *tick_ctx;
	/* Seconds added to this machine's clock when signing (the server's
	 * clock minus ours), so that a host with a wrong clock is not refused
	 * as stale. */
	int64_t skew;
	long connect_timeout_s; /* connection timeout */
};

struct net_response {
	long status;         /* HTTP status; 0 when no response came */
	unsigned char *body; /* malloc'd, NUL-terminated; the caller frees it */
	size_t len;
	long retry_after; /* Retry-After seconds, -1 when absent */
};

int net_global_init(void);
void net_global_cleanup(void);

/* Opens a handle; cacert may be NULL. */
int net_init(struct net *n, const char *cacert, struct error *err)
    __attribute__((warn_unused_result));
void net_release(struct net *n);

/* One request. headers is a NULL-terminated list of "Name: value" (may be
 * NULL). A body over max_body bytes aborts the transfer (ERROR_TOO_BIG).
 * Returns 0 when a response came (any status, in r), ERROR_NET otherwise.
 * Release r with net_response_release(). */
int net_request(struct net *n, const char *method, const char *url, const char *const *headers,
		const void *body, size_t len, size_t max_body, struct net_response *r,
		struct error *err) __attribute__((warn_unused_result));

/* A signed host request to base + path (host 0: registration). extra is
 * one more header line or NULL. */
int net_signed(struct net *n, const struct key_secret *sk, int64_t host, const char *method,
	       const char *base, const char *path, const char *extra, const void *body, size_t len,
	       size_t max_body, struct net_response *r, struct error *err)
    __attribute__((warn_unused_result));

void net_response_release(struct net_response *r);

/* What a download sink sees: every body byte of a 200 or 206 answer. */
struct net_sink {
	int (*write)(void *ctx, const void *data, size_t len); /* 0 or ERROR_* (aborts) */
	/* Called before the first byte when a ranged request got the whole
	 * content (200): the sink must start over. 0 or ERROR_* (aborts). */
	int (*reset)(void *ctx);
	void *ctx;
};

/* GET url with "Range: bytes=<from>-" when from > 0. *status receives the
 * HTTP status; only a 200 or 206 body is given to sink (200 means the
 * whole content from byte 0: the caller must restart). Returns 0 when the
 * transfer completed, the sink's error, or ERROR_NET (connection lost,
 * body shorter than announced, stall). */
/* (sink->reset is called first when a ranged request is answered 200.) */
int net_download(struct net *n, const char *url, uint64_t from, const struct net_sink *sink,
		 long *status, struct error *err) __attribute__((warn_unused_result));

/* Seconds to wait before retry number attempt (0-based): uniform in
 * [0, min(cap, base * 2^attempt)] ("full jitter"), at least 0.05 * base. */
double net_backoff(unsigned attempt, double base, double cap);

/* A short message for a failed response: the JSON "error" code and
 * "detail" when present, else the status. out holds cap bytes. */
void net_describe(const struct net_response *r, char *out, size_t cap);

#endif
