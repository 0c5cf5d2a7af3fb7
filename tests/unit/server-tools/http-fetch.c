/*
 * http-fetch.c - libcurl client for the server-tools tests (see
 * http-fetch.h).
 */
#include "config.h"

#include "tests/unit/server-tools/http-fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct fetch_upload {
	const unsigned char *data;
	size_t len, pos;
};

static size_t fetch_write(char *ptr, size_t size, size_t n, void *cls)
{
	struct fetch *f = cls;
	size_t len = size * n;
	char *p;

	if (f->len + len > FETCH_BODY_MAX)
		return 0;
	p = realloc(f->body, f->len + len + 1);
	if (!p)
		return 0;
	memcpy(p + f->len, ptr, len);
	f->body = p;
	f->len += len;
	f->body[f->len] = '\0';
	return len;
}

static size_t fetch_header_cb(char *ptr, size_t size, size_t n, void *cls)
{
	struct fetch *f = cls;
	size_t len = size * n, used = strlen(f->headers);

	if (used + len < sizeof(f->headers)) {
		memcpy(f->headers + used, ptr, len);
		f->headers[used + len] = '\0';
	}
	return len;
}

static size_t fetch_read(char *buf, size_t size, size_t n, void *cls)
{
	struct fetch_upload *u = cls;
	size_t len = size * n;

	if (len > u->len - u->pos)
		len = u->len - u->pos;
	/* Small pieces so chunked bodies arrive in several chunks. */
	if (len > 1000)
		len = 1000;
	memcpy(buf, u->data + u->pos, len);
	u->pos += len;
	return len;
}

int fetch_url(const char *method, const char *url, const void *body, size_t len,
	      const struct fetch_options *opt, struct fetch *out)
{
	struct fetch_upload up = {body, len, 0};
	struct curl_slist *hdrs = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fetch_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, out->error);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, fetch_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		if (opt && opt->chunked)
			hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
		else
			curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	}
	for (i = 0; opt && opt->headers && opt->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, opt->headers[i]);
	if (hdrs)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (opt && opt->cainfo) {
		curl_easy_setopt(c, CURLOPT_CAINFO, opt->cainfo);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK || rc == CURLE_SEND_ERROR)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (!out->error[0] && rc != CURLE_OK)
		snprintf(out->error, sizeof(out->error), "%s", curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	if (!out->body) {
		out->body = calloc(1, 1);
		out->len = 0;
	}
	return out->status ? 0 : -1;
}

void fetch_release(struct fetch *f)
{
	free(f->body);
	f->body = NULL;
}

const char *fetch_header(const struct fetch *f, const char *name, char *buf, size_t size)
{
	size_t nlen = strlen(name);
	const char *line = f->headers;

	while (line && *line) {
		const char *eol = strchr(line, '\n');
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			size_t n;
			while (*v == ' ')
				v++;
			n = eol ? (size_t)(eol - v) : strlen(v);
			while (n && (v[n - 1] == '\r' || v[n - 1] == ' '))
				n--;
			if (n >= size)
				n = size - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return buf;
		}
		line = eol ? eol + 1 : NULL;
	}
	return NULL;
}
