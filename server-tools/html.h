/*
 * html.h - writing the dashboard's HTML: a growing, capped text buffer,
 * the one escaping function every user-controlled string goes through,
 * and the page skeleton (viewport, inline CSS, self-refresh, navigation).
 *
 * Escaping: html_text() writes s with & < > " ' replaced by entities, so
 * its output is safe both between tags and inside a double- or
 * single-quoted attribute value. Nothing user-controlled may reach a page
 * through html_raw() or html_printf() (their callers pass literals and
 * numbers only).
 *
 * Capping: a buffer never grows past its max (given to html_init());
 * writes beyond it are dropped and html_failed() says so (the page is
 * then answered with a 500, never truncated silently). Out of memory is
 * the same failure.
 */
#ifndef AGORA_SERVER_HTML_H
#define AGORA_SERVER_HTML_H

#include <stddef.h>
#include <stdint.h>

/* The largest page we render (pages cap their lists well below it). */
#define HTML_MAX (4u * 1024 * 1024)
/* Seconds between self-refreshes of a page. */
#define HTML_REFRESH_S 10
/* The Content-Security-Policy of every page: nothing from elsewhere, no
 * script at all; inline CSS and data: images only. */
#define HTML_CSP "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

struct html {
	char *buf; /* NUL-terminated when not failed; malloc'd */
	size_t len, cap, max;
	int failed; /* over max or out of memory */
};

/* Empty buffer that will hold at most max bytes (0: HTML_MAX). */
void html_init(struct html *h, size_t max);
void html_release(struct html *h);
/* Takes the text out (caller frees; NULL when failed) and resets h. */
char *html_take(struct html *h, size_t *len);
static inline int html_failed(const struct html *h)
{
	return h->failed;
}

/* Appends n bytes as they are (trusted markup only). */
void html_raw(struct html *h, const char *s, size_t n);
/* Appends a NUL-terminated literal as it is (trusted markup only). */
void html_lit(struct html *h, const char *s);
/* printf into the buffer: format and arguments are trusted markup and
 * numbers, never user-controlled strings. */
void html_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The escaping function: appends s (NULL: nothing) as text. */
void html_text(struct html *h, const char *s);
/* Escapes s into out (size bytes, always NUL-terminated); returns the
 * length the whole escaped text needs (as snprintf does). */
size_t html_escape(char *out, size_t size, const char *s);

/* Formats: an integer with thin grouping ("12 345"), a count of FLOP or
 * FLOP/s with an SI prefix ("3.20 G"), a unix time as UTC
 * ("2026-11-28 12:00:00"), a duration ("1 h 02 m", "45 s"). */
void html_int(struct html *h, int64_t v);
void html_si(struct html *h, double v);
void html_time(struct html *h, int64_t t);
void html_duration(struct html *h, int64_t seconds);

/* The page skeleton: doctype, head (charset, viewport, title, refresh
 * every HTML_REFRESH_S seconds when refresh is set, the inline style
 * sheet), the header with the project name and navigation; then the
 * caller writes <section>s, and html_page_end() closes the page with
 * the time it was rendered. project and title are escaped. */
void html_page_begin(struct html *h, const char *project, const char *title, int refresh);
void html_page_end(struct html *h, int64_t now);

#endif
