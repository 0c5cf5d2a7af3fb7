/*
 * http-fetch.h - a small libcurl client for the server-tools tests: one
 * request, the status, the body and the response headers, bounded.
 */
#ifndef AGORA_TESTS_HTTP_FETCH_H
#define AGORA_TESTS_HTTP_FETCH_H

#include <stddef.h>

#define FETCH_BODY_MAX (4u * 1024 * 1024)

struct fetch {
	long status; /* 0 when the transfer failed */
	char *body;  /* NUL-terminated, malloc'd */
	size_t len;
	char headers[4096]; /* raw response headers, truncated */
	char error[256];    /* libcurl's message on failure */
};

struct fetch_options {
	const char *cainfo;         /* CA file for https, NULL: none */
	int chunked;                /* send the body with chunked encoding */
	const char *const *headers; /* NULL-terminated "Name: value" list */
};

/* Performs one request; body may be NULL. Returns 0 when a response came
 * back (any status), -1 otherwise. Release out with fetch_release(). */
int fetch_url(const char *method, const char *url, const void *body, size_t len,
	      const struct fetch_options *opt, struct fetch *out);
void fetch_release(struct fetch *f);
/* The value of response header name (case-insensitive) copied to buf, or
 * NULL when absent. */
const char *fetch_header(const struct fetch *f, const char *name, char *buf, size_t size);

#endif
