/*
 * net.c - libcurl requests for the client (see net.h). Every response body
 * is collected into a buffer that refuses to grow past the caller's cap.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "client/net.h"
#include "server-tools/auth.h"
#include "workunits/hash.h"

#define NET_USER_AGENT "agora-client/" PACKAGE_VERSION

struct collect {
	struct net_response *r;
	size_t cap, max;
	int too_big;
};

int net_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && sodium_init() >= 0
		   ? 0
		   : ERROR_STATE;
}

void net_global_cleanup(void)
{
	curl_global_cleanup();
}

int net_init(struct net *n, const char *cacert, struct error *err)
{
	memset(n, 0, sizeof(*n));
	n->curl = curl_easy_init();
	if (!n->curl)
		return error_set(err, ERROR_NOMEM, "cannot make a curl handle");
	n->cacert = cacert;
	n->stall_s = NET_STALL_S;
	n->connect_timeout_s = 15;
	return 0;
}

void net_release(struct net *n)
{
	if (n->curl)
		curl_easy_cleanup(n->curl);
	n->curl = NULL;
}

void net_response_release(struct net_response *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static size_t collect_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct collect *c = ctx;
	struct net_response *r = c->r;
	size_t len = size * nmemb;

	if (len > c->max - r->len) {
		c->too_big = 1;
		return 0;
	}
	if (r->len + len + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		unsigned char *p;

		while (cap < r->len + len + 1)
			cap *= 2;
		p = realloc(r->body, cap);
		if (!p)
			return 0;
		r->body = p;
		c->cap = cap;
	}
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct net_response *r = ctx;
	size_t len = size * nmemb;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		char buf[32];
		size_t k = len - (sizeof(name) - 1);
		char *end;
		long v;

		if (k >= sizeof(buf))
			k = sizeof(buf) - 1;
		memcpy(buf, data + sizeof(name) - 1, k);
		buf[k] = '\0';
		v = strtol(buf, &end, 10);
		if (end != buf && v >= 0 && v <= 86400)
			r->retry_after = v;
	}
	return len;
}

static int xfer_cb(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		   curl_off_t ulnow)
{
	struct net *n = ctx;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	if (n->tick)
		n->tick(n->tick_ctx);
	return n->stop && *n->stop ? 1 : 0;
}

static void common_opts(struct net *n, CURL *c, const char *method, const char *url)
{
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_USERAGENT, NET_USER_AGENT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, n->connect_timeout_s);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, n->stall_s);
	if (n->stop || n->tick) {
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, xfer_cb);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	}
	if (n->upload_limit > 0)
		curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)n->upload_limit);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (n->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, n->cacert);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
}

int net_request(struct net *n, const char *method, const char *url, const char *const *headers,
		const void *body, size_t len, size_t max_body, struct net_response *r,
		struct error *err)
{
	CURL *c = n->curl;
	struct curl_slist *list = NULL;
	struct collect col = {.r = r, .max = max_body};
	CURLcode rc;
	int ret = 0;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	common_opts(n, c, method, url);
	for (size_t i = 0; headers && headers[i]; i++)
		list = curl_slist_append(list, headers[i]);
	if (body || strcmp(method, "GET") != 0) {
		list = curl_slist_append(list, "Expect:");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &col);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	rc = curl_easy_perform(c);
	if (col.too_big)
		ret = error_set(err, ERROR_TOO_BIG, "answer from '%s' is over %zu bytes", url,
				max_body);
	else if (rc != CURLE_OK)
		ret = error_set(err, ERROR_NET, "%s '%s' failed: %s", method, url,
				curl_easy_strerror(rc));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(list);
	if (ret < 0) {
		net_response_release(r);
		r->status = 0;
	}
	return ret;
}

int net_signed(struct net *n, const struct key_secret *sk, int64_t host, const char *method,
	       const char *base, const char *path, const char *extra, const void *body, size_t len,
	       size_t max_body, struct net_response *r, struct error *err)
{
	char lines[4][200], url[1600];
	const char *list[6];
	struct auth_headers h;
	struct hash bh;
	int k = 0;

	hash_buf(&bh, body ? body : "", body ? len : 0);
	if (auth_sign_request(sk, method, path, host, (int64_t)time(NULL) + n->skew, &bh, &h, err) <
	    0)
		return err ? err->code : ERROR_INVALID;
	if (snprintf(url, sizeof(url), "%s%s", base, path) >= (int)sizeof(url))
		return error_set(err, ERROR_TOO_BIG, "url too long");
	snprintf(lines[0], sizeof(lines[0]), "%s: %s", AUTH_HEADER_TIME, h.time);
	snprintf(lines[1], sizeof(lines[1]), "%s: %s", AUTH_HEADER_NONCE, h.nonce);
	snprintf(lines[2], sizeof(lines[2]), "%s: %s", AUTH_HEADER_SIGNATURE, h.signature);
	snprintf(lines[3], sizeof(lines[3]), "%s: %s", AUTH_HEADER_HOST, h.host);
	list[k++] = lines[0];
	list[k++] = lines[1];
	list[k++] = lines[2];
	if (host)
		list[k++] = lines[3];
	if (extra)
		list[k++] = extra;
	list[k] = NULL;
	return net_request(n, method, url, list, body ? body : "", body ? len : 0, max_body, r,
			   err);
}

struct dl {
	const struct net_sink *sink;
	CURL *c;
	int sink_err;
	int checked;
	long status;
	uint64_t from;
};

static size_t dl_write(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct dl *d = ctx;
	size_t len = size * nmemb;
	int ret;

	if (!d->checked) {
		curl_easy_getinfo(d->c, CURLINFO_RESPONSE_CODE, &d->status);
		d->checked = 1;
		if (d->status == 200 && d->from > 0 && (ret = d->sink->reset(d->sink->ctx)) < 0) {
			d->sink_err = ret;
			return 0;
		}
	}
	if (d->status != 200 && d->status != 206)
		return len; /* an error body: dropped */
	ret = d->sink->write(d->sink->ctx, data, len);
	if (ret < 0) {
		d->sink_err = ret;
		return 0;
	}
	return len;
}

int net_download(struct net *n, const char *url, uint64_t from, const struct net_sink *sink,
		 long *status, struct error *err)
{
	CURL *c = n->curl;
	struct dl d = {.sink = sink, .c = c, .from = from};
	char range[64];
	CURLcode rc;

	*status = 0;
	common_opts(n, c, "GET", url);
	if (from > 0) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)from);
		curl_easy_setopt(c, CURLOPT_RANGE, range);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (d.sink_err)
		return d.sink_err;
	if (rc != CURLE_OK)
		return error_set(err, ERROR_NET, "download of '%s' failed: %s", url,
				 curl_easy_strerror(rc));
	return 0;
}

double net_backoff(unsigned attempt, double base, double cap)
{
	double hi = base;
	double u = (double)randombytes_uniform(1000001) / 1e6;

	for (unsigned i = 0; i < attempt && hi < cap; i++)
		hi *= 2;
	if (hi > cap)
		hi = cap;
	hi *= u;
	return hi < 0.05 * base ? 0.05 * base : hi;
}

void net_describe(const struct net_response *r, char *out, size_t cap)
{
	json_t *j = r->body ? json_loadb((const char *)r->body, r->len, 0, NULL) : NULL;
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *detail = json_string_value(json_object_get(j, "detail"));

	if (code)
		snprintf(out, cap, "%ld %s%s%s", r->status, code, detail ? ": " : "",
			 detail ? detail : "");
	else
		snprintf(out, cap, "HTTP status %ld", r->status);
	json_decref(j);
}
