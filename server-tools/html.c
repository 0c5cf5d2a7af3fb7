/*
 * html.c - the dashboard's text buffer, escaping and page skeleton (see
 * html.h). The style sheet is inline (the Content-Security-Policy allows
 * nothing else) and responsive: one column of cards on a phone, a grid of
 * them on a wide screen; wide tables scroll inside their card.
 */
#include "config.h"

#include "server-tools/html.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void html_init(struct html *h, size_t max)
{
	memset(h, 0, sizeof(*h));
	h->max = max ? max : HTML_MAX;
}

void html_release(struct html *h)
{
	free(h->buf);
	memset(h, 0, sizeof(*h));
}

char *html_take(struct html *h, size_t *len)
{
	char *out = h->failed ? NULL : h->buf;

	*len = out ? h->len : 0;
	if (!out)
		free(h->buf);
	h->buf = NULL;
	h->len = h->cap = 0;
	return out;
}

/* Makes room for n more bytes plus a NUL; 0 or -1 (marks h failed). */
static int html_reserve(struct html *h, size_t n)
{
	size_t need, cap;
	char *p;

	if (h->failed)
		return -1;
	need = h->len + n + 1;
	if (need < n || need > h->max + 1) {
		h->failed = 1;
		return -1;
	}
	if (need <= h->cap)
		return 0;
	cap = h->cap ? h->cap : 8192 < h->max + 1 ? 8192 : h->max + 1;
	while (cap < need)
		cap = cap > (h->max + 1) / 2 ? h->max + 1 : cap * 2;
	p = realloc(h->buf, cap);
	if (!p) {
		h->failed = 1;
		return -1;
	}
	h->buf = p;
	h->cap = cap;
	return 0;
}

void html_raw(struct html *h, const char *s, size_t n)
{
	if (html_reserve(h, n) < 0)
		return;
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

void html_lit(struct html *h, const char *s)
{
	html_raw(h, s, strlen(s));
}

void html_printf(struct html *h, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (h->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(h->buf ? h->buf + h->len : NULL, h->buf ? h->cap - h->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		h->failed = 1;
		return;
	}
	if (h->buf && (size_t)n < h->cap - h->len && h->len + (size_t)n <= h->max) {
		h->len += (size_t)n;
		return;
	}
	if (html_reserve(h, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(h->buf + h->len, h->cap - h->len, fmt, ap);
	va_end(ap);
	h->len += (size_t)n;
}

/* The entity for c, or NULL when c stands for itself. */
static const char *html_entity(char c)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	default:
		return NULL;
	}
}

void html_text(struct html *h, const char *s)
{
	const char *run, *e;

	if (!s)
		return;
	for (run = s; *s; s++) {
		e = html_entity(*s);
		if (!e)
			continue;
		html_raw(h, run, (size_t)(s - run));
		html_lit(h, e);
		run = s + 1;
	}
	html_raw(h, run, (size_t)(s - run));
}

size_t html_escape(char *out, size_t size, const char *s)
{
	size_t need = 0, n;
	const char *e;
	char one[2] = {0, 0};
	int full = 0; /* stop writing: keep only whole entities */

	if (size)
		out[0] = '\0';
	for (; s && *s; s++) {
		e = html_entity(*s);
		if (!e) {
			one[0] = *s;
			e = one;
		}
		n = strlen(e);
		if (!full && need + n < size) {
			memcpy(out + need, e, n);
			out[need + n] = '\0';
		} else {
			full = 1;
		}
		need += n;
	}
	return need;
}

void html_int(struct html *h, int64_t v)
{
	char digits[32];
	int n, i;

	if (v < 0) {
		html_lit(h, "-");
		v = v == INT64_MIN ? INT64_MAX : -v;
	}
	n = snprintf(digits, sizeof(digits), "%lld", (long long)v);
	for (i = 0; i < n; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			html_lit(h, "\xe2\x80\x89"); /* U+2009 thin space */
		html_raw(h, digits + i, 1);
	}
}

void html_si(struct html *h, double v)
{
	static const char prefixes[] = " kMGTPE";
	int k = 0;

	if (!isfinite(v)) {
		html_lit(h, "-");
		return;
	}
	while ((v < 0 ? -v : v) >= 1000.0 && k < 6) {
		v /= 1000.0;
		k++;
	}
	if (k == 0)
		html_printf(h, "%.0f ", v);
	else
		html_printf(h, "%.2f %c", v, prefixes[k]);
}

void html_time(struct html *h, int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) ||
	    !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm)) {
		html_lit(h, "-");
		return;
	}
	html_lit(h, buf);
}

void html_duration(struct html *h, int64_t s)
{
	if (s < 0)
		html_lit(h, "-");
	else if (s < 60)
		html_printf(h, "%lld s", (long long)s);
	else if (s < 3600)
		html_printf(h, "%lld m %02lld s", (long long)(s / 60), (long long)(s % 60));
	else
		html_printf(h, "%lld h %02lld m", (long long)(s / 3600), (long long)(s / 60 % 60));
}

static const char html_style[] =
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:#1d232b;background:#f3f5f8}"
    "header{background:#17324d;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;"
    "align-items:baseline;gap:.4rem 1.2rem}"
    "header h1{font-size:1.15rem;margin:0;font-weight:600}"
    "header nav a{color:#cfe3ff;margin-right:1rem;text-decoration:none}"
    "header nav a:hover{text-decoration:underline}"
    "main{max-width:1800px;margin:0 auto;padding:.8rem}"
    "h2{font-size:1.05rem;margin:.2rem 0 .6rem}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.6rem;"
    "margin-bottom:.8rem}"
    ".fig{background:#fff;border-radius:6px;padding:.6rem .8rem;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".fig b{display:block;font-size:1.45rem;font-weight:600;font-variant-numeric:tabular-nums;"
    "overflow-wrap:anywhere}"
    ".fig span{color:#5b6573;font-size:.85rem}"
    ".cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,560px),1fr));"
    "gap:.8rem}"
    "section{background:#fff;border-radius:6px;padding:.8rem;margin-bottom:.8rem;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08);min-width:0}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}"
    "th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e4e8ee;"
    "white-space:nowrap}"
    "td.wrap{white-space:normal;overflow-wrap:anywhere;min-width:8rem}"
    "th{font-size:.8rem;color:#5b6573;font-weight:600}"
    "td.n,th.n{text-align:right}"
    "code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}"
    "a{color:#1459a8}"
    ".st{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;"
    "background:#e4e8ee}"
    ".st-running,.st-valid,.st-done{background:#d7f0dd;color:#185c2a}"
    ".st-paused,.st-open{background:#fff1c9;color:#6b4e00}"
    ".st-cancelled,.st-failed,.st-invalid{background:#fbdcdc;color:#8a1c1c}"
    "svg{width:100%;height:auto;display:block}"
    "svg text{font:18px system-ui,sans-serif;fill:#5b6573}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f5f8;padding:.6rem;"
    "border-radius:4px}"
    "footer{color:#5b6573;font-size:.8rem;padding:0 1rem 1rem;text-align:center}"
    ".muted{color:#5b6573}"
    "@media (max-width:480px){body{font-size:14px}main{padding:.5rem}"
    ".fig b{font-size:1.2rem}th,td{padding:.25rem .35rem}}";

void html_page_begin(struct html *h, const char *project, const char *title, int refresh)
{
	html_lit(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
	if (refresh)
		html_printf(h, "<meta http-equiv=\"refresh\" content=\"%d\">", HTML_REFRESH_S);
	html_lit(h, "<title>");
	html_text(h, title);
	html_lit(h, " \xc2\xb7 ");
	html_text(h, project);
	html_lit(h, "</title><style>");
	html_lit(h, html_style);
	html_lit(h, "</style></head><body><header><h1>");
	html_text(h, project);
	html_lit(h, "</h1><nav><a href=\"/\">Overview</a><a href=\"/volunteers\">Volunteers</a>"
		    "<a href=\"/api/v1/stats\">JSON</a><a href=\"/metrics\">Metrics</a></nav>"
		    "</header><main>");
}

void html_page_end(struct html *h, int64_t now)
{
	html_lit(h, "</main><footer>Rendered ");
	html_time(h, now);
	html_printf(h,
		    " UTC; refreshes every %d s. Agora volunteer compute grid.</footer>"
		    "</body></html>\n",
		    HTML_REFRESH_S);
}
