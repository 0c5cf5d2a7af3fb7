/*
 * http-test.c - tests for server-tools/http.c against a real server on
 * 127.0.0.1 (any free port): routing (404, 405 with Allow), capped bodies
 * (413 announced and chunked), JSON answers and errors, streaming bodies
 * refused half way, HEAD, extra headers, counters, and --listen parsing.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "server-tools/http.h"
#include "tests/tap.h"
#include "tests/unit/server-tools/http-fetch.h"

struct stream_state {
	size_t bytes;
	int released;
};

/* Bumped by a server thread when a request ends (after its answer went
 * out: the client may read it first). */
static atomic_int released_count;

static void handle_hello(struct http_request *req, void *ctx)
{
	(void)ctx;
	http_request_add_header(req, "X-Test", "yes");
	http_respond_json(req, 200, json_pack("{s:s}", "hello", "world"));
}

static void handle_echo(struct http_request *req, void *ctx)
{
	size_t len;
	const unsigned char *body = http_request_body(req, &len);

	(void)ctx;
	http_respond_json(req, 200,
			  json_pack("{s:s%}", "body", body ? (const char *)body : "", len));
}

static void handle_silent(struct http_request *req, void *ctx)
{
	(void)req;
	(void)ctx;
}

static void stream_release(void *p)
{
	free(p);
	released_count++;
}

static int stream_chunk(struct http_request *req, const void *data, size_t len, void *ctx)
{
	struct stream_state *st = http_request_state(req);

	(void)ctx;
	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st)
			return ERROR_NOMEM;
		http_request_set_state(req, st, stream_release);
	}
	if (memchr(data, 'X', len)) {
		http_respond_error(req, 422, "bad_data", "an X at byte %zu", st->bytes);
		return ERROR_FORMAT;
	}
	st->bytes += len;
	return 0;
}

static void stream_done(struct http_request *req, void *ctx)
{
	struct stream_state *st = http_request_state(req);

	(void)ctx;
	http_respond_json(req, 201,
			  json_pack("{s:I, s:s}", "bytes", (json_int_t)(st ? st->bytes : 0),
				    "suffix", http_request_suffix(req)));
}

static const struct http_route routes[] = {
    {"GET", "/hello", 0, 0, handle_hello, NULL, "hello"},
    {"POST", "/echo", 0, 16, handle_echo, NULL, NULL},
    {"GET", "/silent", 0, 0, handle_silent, NULL, NULL},
    {"PUT", "/stream/", HTTP_ROUTE_PREFIX | HTTP_ROUTE_STREAM, 100000, stream_done, stream_chunk,
     "stream"},
    {"PUT", "/bigstream", HTTP_ROUTE_STREAM, 64u << 20, stream_done, stream_chunk, NULL},
};

static int is_json_error(const struct fetch *f, const char *code)
{
	json_t *j = json_loadb(f->body, f->len, 0, NULL);
	int ok = j && json_is_string(json_object_get(j, "error")) &&
		 json_is_string(json_object_get(j, "detail")) &&
		 (!code || strcmp(json_string_value(json_object_get(j, "error")), code) == 0);
	json_decref(j);
	return ok;
}

static void test_listen_parse(void)
{
	struct sockaddr_storage a;
	socklen_t len;
	struct error err;

	TAP_IS(http_listen_parse("127.0.0.1:8470", &a, &len, &err), 0, "parse ipv4");
	TAP_OK(a.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&a)->sin_port) == 8470,
	       "ipv4 family and port");
	TAP_IS(http_listen_parse("[::1]:0", &a, &len, &err), 0, "parse ipv6");
	TAP_OK(a.ss_family == AF_INET6, "ipv6 family");
	TAP_OK(http_listen_parse("127.0.0.1", &a, &len, &err) < 0, "no port refused");
	TAP_OK(http_listen_parse("127.0.0.1:65536", &a, &len, &err) < 0, "port too big");
	TAP_OK(http_listen_parse("127.0.0.1:-1", &a, &len, &err) < 0, "negative port");
	TAP_OK(http_listen_parse("127.0.0.1:80x", &a, &len, &err) < 0, "junk after port");
	TAP_OK(http_listen_parse("localhost:80", &a, &len, &err) < 0, "names refused");
	TAP_OK(http_listen_parse(":80", &a, &len, &err) < 0, "empty address refused");
	TAP_OK(http_listen_parse("[::1:80", &a, &len, &err) < 0, "unclosed bracket");
}

static void test_range_parse(void)
{
	uint64_t off = 0, len = 0;

	TAP_IS(http_range_parse("bytes=10-19", 100, &off, &len), 1, "range a-b");
	TAP_OK(off == 10 && len == 10, "range a-b: 10 bytes at 10");
	TAP_IS(http_range_parse("bytes=90-", 100, &off, &len), 1, "range a-");
	TAP_OK(off == 90 && len == 10, "range a-: to the end");
	TAP_IS(http_range_parse("bytes=-5", 100, &off, &len), 1, "suffix range");
	TAP_OK(off == 95 && len == 5, "suffix: the last 5");
	TAP_IS(http_range_parse("bytes=-500", 100, &off, &len), 1, "suffix longer than entity");
	TAP_OK(off == 0 && len == 100, "suffix: the whole entity");
	TAP_IS(http_range_parse("bytes=50-500", 100, &off, &len), 1, "end past the entity");
	TAP_OK(off == 50 && len == 50, "end clipped");
	TAP_IS(http_range_parse("bytes=100-", 100, &off, &len), -1, "start at the end: 416");
	TAP_IS(http_range_parse("bytes=-0", 100, &off, &len), -1, "empty suffix: 416");
	TAP_IS(http_range_parse("bytes=0-", 0, &off, &len), -1, "empty entity: 416");
	TAP_IS(http_range_parse("bytes=5-4", 100, &off, &len), 0, "reversed: ignored");
	TAP_IS(http_range_parse("bytes=0-1,5-6", 100, &off, &len), 0, "several: ignored");
	TAP_IS(http_range_parse("bytes=-", 100, &off, &len), 0, "no numbers: ignored");
	TAP_IS(http_range_parse("items=0-1", 100, &off, &len), 0, "other unit: ignored");
	TAP_IS(http_range_parse("bytes= 0-1", 100, &off, &len), 0, "space: ignored");
	TAP_IS(http_range_parse("bytes=+0-1", 100, &off, &len), 0, "sign: ignored");
	TAP_IS(http_range_parse("bytes=0-1x", 100, &off, &len), 0, "junk: ignored");
	TAP_IS(http_range_parse("bytes=99999999999999999999-", 100, &off, &len), 0,
	       "overflow: ignored");
}

/* The counters after the requests of main(). */
static void test_stats(const struct http_server *srv)
{
	struct http_route_stats stats[8];
	size_t n;

	n = http_server_stats(srv, stats, 8);
	TAP_IS(n, 6, "five routes and unrouted");
	TAP_OK(strcmp(stats[0].name, "hello") == 0 && stats[0].requests == 2 &&
		   stats[0].client_errors == 0,
	       "hello counted twice");
	TAP_OK(stats[1].requests == 4 && stats[1].client_errors == 2, "echo: 4 requests, 2 413s");
	TAP_OK(stats[2].server_errors == 1, "silent: one 500");
	TAP_OK(stats[4].requests == 1 && stats[4].client_errors == 1,
	       "bigstream: one request, one 422");
	TAP_OK(strcmp(stats[5].name, "unrouted") == 0 && stats[5].requests == 3 &&
		   stats[5].client_errors == 3,
	       "unrouted: the 404, the 400 and the 405");
	TAP_OK(stats[0].latency_ns > 0, "latency summed");
}

/* A second server on a port in use fails with a message. */
static void test_busy_port(const struct http_server *srv)
{
	struct http_config cfg = {.threads = 1};
	struct error err;
	struct http_server *clash = NULL;
	char listen[64];

	snprintf(listen, sizeof(listen), "127.0.0.1:%u", http_server_port(srv));
	cfg.listen = listen;
	TAP_OK(http_server_new(&clash, &cfg, routes, 1, NULL, &err) < 0,
	       "second server on a busy port fails");
	TAP_OK(strstr(err.msg, "cannot listen") != NULL, "and says so: %s", err.msg);
	http_server_free(clash);
}

#define URL(p) (snprintf(url, sizeof(url), "%s%s", base, p), url)

/* Routing: JSON answers, extra headers, HEAD, 404, 405, bad paths. */
static void test_routing(const char *base)
{
	char url[128], buf[256];
	struct fetch f;

	fetch_url("GET", URL("/hello"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "GET /hello");
	TAP_OK(strstr(f.body, "\"hello\":\"world\"") != NULL, "json body");
	TAP_OK(fetch_header(&f, "Content-Type", buf, sizeof(buf)) &&
		   strcmp(buf, "application/json") == 0,
	       "content type json");
	TAP_OK(fetch_header(&f, "X-Test", buf, sizeof(buf)) && strcmp(buf, "yes") == 0,
	       "extra header");
	fetch_release(&f);

	fetch_url("HEAD", URL("/hello"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 200, "HEAD served by the GET route");
	TAP_IS(f.len, 0, "HEAD has no body");
	fetch_release(&f);

	fetch_url("GET", URL("/nope"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 404, "unknown path 404");
	TAP_OK(is_json_error(&f, "not_found"), "404 is a json error");
	fetch_release(&f);

	fetch_url("GET", URL("/hello%0aforged"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 400, "a %-encoded control character in the path is refused");
	TAP_OK(is_json_error(&f, "bad_path"), "bad path is a json error");
	fetch_release(&f);

	fetch_url("DELETE", URL("/hello"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 405, "wrong method 405");
	TAP_OK(fetch_header(&f, "Allow", buf, sizeof(buf)) && strcmp(buf, "GET") == 0,
	       "405 names the allowed method");
	TAP_OK(is_json_error(&f, "method_not_allowed"), "405 is a json error");
	fetch_release(&f);
}

/* Bodies: small, oversized (announced and chunked), streamed, refused. */
static void test_bodies(const char *base)
{
	static char big[40000];
	char url[128];
	struct fetch f;

	fetch_url("POST", URL("/echo"), "abc", 3, NULL, &f);
	TAP_IS(f.status, 200, "POST small body");
	TAP_OK(strstr(f.body, "\"body\":\"abc\"") != NULL, "body echoed");
	fetch_release(&f);

	memset(big, 'a', sizeof(big));
	fetch_url("POST", URL("/echo"), big, 17, NULL, &f);
	TAP_IS(f.status, 413, "announced oversized body 413");
	TAP_OK(is_json_error(&f, "too_large"), "413 is a json error");
	fetch_release(&f);

	{
		struct fetch_options chunked = {.chunked = 1};
		fetch_url("POST", URL("/echo"), big, 5000, &chunked, &f);
		TAP_IS(f.status, 413, "chunked oversized body 413");
		TAP_OK(is_json_error(&f, "too_large"), "chunked 413 is a json error");
		fetch_release(&f);
		fetch_url("POST", URL("/echo"), "0123456789abcdef", 16, &chunked, &f);
		TAP_IS(f.status, 200, "chunked body at the cap accepted");
		fetch_release(&f);
	}

	fetch_url("GET", URL("/silent"), NULL, 0, NULL, &f);
	TAP_IS(f.status, 500, "handler without an answer gives 500");
	TAP_OK(is_json_error(&f, "internal"), "500 is a json error");
	fetch_release(&f);

	fetch_url("PUT", URL("/stream/abc"), big, sizeof(big), NULL, &f);
	TAP_IS(f.status, 201, "streamed upload");
	TAP_OK(strstr(f.body, "\"bytes\":40000") && strstr(f.body, "\"suffix\":\"abc\""),
	       "all bytes streamed, suffix seen");
	fetch_release(&f);

	big[20000] = 'X';
	fetch_url("PUT", URL("/stream/x"), big, sizeof(big), NULL, &f);
	TAP_IS(f.status, 422, "stream refused half way");
	TAP_OK(is_json_error(&f, "bad_data"), "refusal is the handler's json error");
	fetch_release(&f);
	for (int i = 0; i < 200 && atomic_load(&released_count) < 2; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL); /* bounded: 2 s */
	}
	TAP_IS(atomic_load(&released_count), 2, "per-request state released for both uploads");

	/* refused early in a body far larger than what the server drops
	 * (HTTP_DISCARD_MAX): the client still gets the JSON answer */
	{
		size_t n = 8 * HTTP_DISCARD_MAX;
		char *huge = malloc(n);

		if (huge) {
			memset(huge, 'a', n);
			huge[1000] = 'X';
			fetch_url("PUT", URL("/bigstream"), huge, n, NULL, &f);
			TAP_IS(f.status, 422, "a large stream refused at its start: 422, not a reset");
			TAP_OK(is_json_error(&f, "bad_data"), "  ... with the handler's json error");
			fetch_release(&f);
			free(huge);
		}
	}
}

int main(void)
{
	struct http_config cfg = {.listen = "127.0.0.1:0", .threads = 2};
	struct http_server *srv = NULL;
	struct error err;
	char base[64];

	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_listen_parse();
	test_range_parse();

	if (http_server_new(&srv, &cfg, routes, sizeof(routes) / sizeof(routes[0]), NULL, &err) < 0)
		tap_skip_all("cannot start a server: %s", err.msg);
	TAP_OK(http_server_port(srv) > 0, "listening on port %u", http_server_port(srv));
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", http_server_port(srv));

	test_routing(base);
	test_bodies(base);
	test_stats(srv);
	test_busy_port(srv);
	http_server_free(srv);
	http_server_free(NULL);
	curl_global_cleanup();
	return tap_done();
}
