/*
 * html-test.c - the dashboard's HTML pieces: the one escaping function
 * (script tags, quotes, ampersands, truncation keeps whole entities), the
 * capped buffer, number formats, and the SVG chart writer: well-formed
 * markup (a small XML checker below) with no NaN or Inf for 0, 1 and
 * many points, non-finite inputs skipped, long series capped, and the
 * downsampling indices.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server-tools/chart.h"
#include "server-tools/html.h"
#include "tests/tap.h"

/* ---- a small XML well-formedness checker ---- */

#define XML_DEPTH 64

/* Skips an attribute list up to '>' or '/>'; each attribute must be
 * name="value" with no '<' inside the value. Returns the char after the
 * tag, or NULL. *self is set for '/>'. */
static const char *xml_attrs(const char *p, int *self)
{
	for (;;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (*p == '>')
			return p + 1;
		if (p[0] == '/' && p[1] == '>') {
			*self = 1;
			return p + 2;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return NULL;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '-' ||
		       *p == ':' || (*p >= '0' && *p <= '9'))
			p++;
		if (p[0] != '=' || p[1] != '"')
			return NULL;
		p += 2;
		while (*p && *p != '"' && *p != '<')
			p++;
		if (*p != '"')
			return NULL;
		p++;
	}
}

/* 1 when s is one well-formed element tree: tags balanced, attributes
 * quoted, '&' only in entities, no stray '<'. */
static int xml_ok(const char *s)
{
	char stack[XML_DEPTH][32];
	int depth = 0, roots = 0, self;
	const char *p = s, *q;
	size_t n;

	while (*p) {
		if (*p == '&') {
			q = strchr(p, ';');
			if (!q || q - p > 8)
				return 0;
			p = q + 1;
			continue;
		}
		if (*p != '<') {
			p++;
			continue;
		}
		if (p[1] == '/') {
			n = strcspn(p + 2, ">");
			if (depth == 0 || n != strlen(stack[depth - 1]) ||
			    strncmp(p + 2, stack[depth - 1], n) != 0)
				return 0;
			depth--;
			p += 3 + n;
			continue;
		}
		n = strcspn(p + 1, " />");
		if (n == 0 || n >= sizeof(stack[0]) || depth == XML_DEPTH)
			return 0;
		if (depth == 0)
			roots++;
		memcpy(stack[depth], p + 1, n);
		stack[depth][n] = '\0';
		self = 0;
		p = xml_attrs(p + 1 + n, &self);
		if (!p)
			return 0;
		if (!self)
			depth++;
	}
	return depth == 0 && roots == 1;
}

static int has_nonfinite(const char *s)
{
	return strcasestr(s, "nan") != NULL || strcasestr(s, "inf") != NULL;
}

/* ---- escaping ---- */

static void test_escape(void)
{
	char out[256];
	struct html h;
	size_t len;
	char *text;

	html_escape(out, sizeof(out), "<script>alert(1)</script>");
	tap_ok(strcmp(out, "&lt;script&gt;alert(1)&lt;/script&gt;") == 0, "escape: script tag (%s)",
	       out);
	html_escape(out, sizeof(out), "a \"b\" & 'c' &amp;");
	tap_ok(strcmp(out, "a &quot;b&quot; &amp; &#39;c&#39; &amp;amp;") == 0,
	       "escape: quotes and ampersands (%s)", out);
	TAP_IS(html_escape(out, 8, "<<<"), 12, "escape: returns the length it needs");
	tap_ok(strcmp(out, "&lt;") == 0, "escape: truncation keeps whole entities (%s)", out);
	TAP_IS(html_escape(out, sizeof(out), ""), 0, "escape: empty string");
	html_escape(out, sizeof(out), "gr\xc3\xbc\xc3\x9f dich");
	tap_ok(strcmp(out, "gr\xc3\xbc\xc3\x9f dich") == 0, "escape: UTF-8 passes unchanged");

	html_init(&h, 0);
	html_lit(&h, "<td title=\"");
	html_text(&h, "x\" onmouseover=\"alert(1)");
	html_lit(&h, "\">");
	html_text(&h, "<script>alert(1)</script>");
	html_lit(&h, "</td>");
	text = html_take(&h, &len);
	tap_ok(text && strstr(text, "<script") == NULL && strstr(text, "\" onmouseover") == NULL,
	       "html_text: nothing breaks out of text or an attribute");
	tap_ok(text && xml_ok(text), "html_text: the result is well-formed");
	free(text);
	html_release(&h);
}

static void test_buffer(void)
{
	struct html h;
	size_t len;
	char *text;
	int i;

	html_init(&h, 16);
	html_lit(&h, "0123456789");
	tap_ok(!html_failed(&h) && h.len == 10, "buffer: 10 bytes fit a cap of 16");
	html_printf(&h, "%d%d", 12345, 67890);
	tap_ok(html_failed(&h), "buffer: going past the cap fails");
	text = html_take(&h, &len);
	tap_ok(text == NULL && len == 0, "buffer: a failed buffer gives no text");
	html_release(&h);

	html_init(&h, 0);
	for (i = 0; i < 10000; i++)
		html_printf(&h, "<p>%d</p>", i);
	tap_ok(!html_failed(&h) && strstr(h.buf, "<p>9999</p>") != NULL,
	       "buffer: grows through many appends");
	html_release(&h);

	html_init(&h, 0);
	html_int(&h, 1234567);
	html_lit(&h, "|");
	html_int(&h, -12);
	html_lit(&h, "|");
	html_duration(&h, 3725);
	html_lit(&h, "|");
	html_si(&h, 3.2e9);
	html_lit(&h, "|");
	html_si(&h, NAN);
	tap_ok(strcmp(h.buf, "1\xe2\x80\x89"
			     "234\xe2\x80\x89"
			     "567|-12|1 h 02 m|3.20 G|-") == 0,
	       "formats: grouping, duration, SI prefix, NaN (%s)", h.buf);
	html_release(&h);
}

/* ---- chart ---- */

static char *chart(const double *x, const double *y, size_t n)
{
	struct chart c = {.title = "loss <&>", .x_label = "round", .y_label = "eval \"loss\""};
	struct html h;
	size_t len;

	c.x = x;
	c.y = y;
	c.n = n;
	html_init(&h, 0);
	chart_line_svg(&h, &c);
	return html_take(&h, &len);
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

/* Points in the polyline: pairs "x,y" separated by spaces. */
static size_t polyline_points(const char *svg)
{
	const char *p = strstr(svg, "points=\""), *end;
	size_t n = 0;

	if (!p)
		return 0;
	p += 8;
	end = strchr(p, '"');
	for (; p < end; p++)
		n += *p == ',';
	return n;
}

static void test_chart(void)
{
	double x[1200], y[1200];
	char *svg;
	size_t i;

	svg = chart(NULL, NULL, 0);
	tap_ok(svg && xml_ok(svg) && !has_nonfinite(svg) && strstr(svg, "no data yet"),
	       "chart: 0 points: well-formed, says no data");
	free(svg);

	x[0] = 3;
	y[0] = 5.5;
	svg = chart(x, y, 1);
	tap_ok(svg && xml_ok(svg) && !has_nonfinite(svg) && count(svg, "<circle") == 1 &&
		   !strstr(svg, "<polyline"),
	       "chart: 1 point: one circle, no NaN");
	free(svg);

	for (i = 0; i < 100; i++) {
		x[i] = (double)i;
		y[i] = 5.5 - 0.01 * (double)i;
	}
	svg = chart(x, y, 100);
	tap_ok(svg && xml_ok(svg) && !has_nonfinite(svg) && polyline_points(svg) == 100,
	       "chart: 100 points: a 100-point polyline, well-formed, no NaN");
	tap_ok(svg && strstr(svg, "loss &lt;&amp;&gt;") && strstr(svg, "eval &quot;loss&quot;"),
	       "chart: title and labels are escaped");
	free(svg);

	for (i = 0; i < 100; i++)
		y[i] = 2.0;
	svg = chart(x, y, 100);
	tap_ok(svg && xml_ok(svg) && !has_nonfinite(svg), "chart: a flat series: no NaN");
	free(svg);

	y[10] = NAN;
	y[20] = INFINITY;
	x[30] = -INFINITY;
	svg = chart(x, y, 100);
	tap_ok(svg && xml_ok(svg) && !has_nonfinite(svg) && polyline_points(svg) == 97,
	       "chart: NaN and Inf points are skipped (97 drawn)");
	free(svg);

	for (i = 0; i < 1200; i++) {
		x[i] = (double)i;
		y[i] = 1.0 / (1.0 + (double)i);
	}
	svg = chart(x, y, 1200);
	tap_ok(svg && xml_ok(svg) && polyline_points(svg) == CHART_POINTS_MAX,
	       "chart: a long series is capped at %d points", CHART_POINTS_MAX);
	free(svg);
}

static void test_pick(void)
{
	size_t i, prev = 0;
	int mono = 1;

	TAP_IS(chart_kept(0), 0, "pick: 0 points keep 0");
	TAP_IS(chart_kept(7), 7, "pick: 7 points keep 7");
	TAP_IS(chart_kept(1000), CHART_POINTS_MAX, "pick: 1000 points keep the cap");
	TAP_IS(chart_pick(7, 3), 3, "pick: short series: identity");
	TAP_IS(chart_pick(1000, 0), 0, "pick: first point kept");
	TAP_IS(chart_pick(1000, CHART_POINTS_MAX - 1), 999, "pick: last point kept");
	for (i = 1; i < CHART_POINTS_MAX; i++) {
		size_t p = chart_pick(1000, i);
		mono &= p > prev && p < 1000;
		prev = p;
	}
	tap_ok(mono, "pick: strictly increasing indices within range");
}

int main(void)
{
	test_escape();
	test_buffer();
	test_chart();
	test_pick();
	return tap_done();
}
