/*
 * metrics-test.c - /metrics's Prometheus text format (0.0.4), checked by
 * the small parser below on every line: HELP then TYPE before a family's
 * samples, each family once and contiguous, metric and label names,
 * quoted and escaped label values, no duplicate series, values that parse
 * (NaN, +Inf allowed), counters non-negative, summaries with _sum and
 * _count, histograms with cumulative buckets ending in le="+Inf" equal to
 * _count. Also: label escaping, routes sharing a name merged into one
 * series, and the merge-duration hook moving the histogram.
 *
 * The parser (prom_check) is also used by tests/e2e/dashboard-test on a
 * live server's /metrics through the `--check FILE` mode of this program.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "server-tools/html.h"
#include "server-tools/metrics.h"
#include "tests/tap.h"

#define PROM_FAMILIES 128
#define PROM_SERIES   2048

struct prom_family {
	char name[96];
	char type[16];
	int help, typed, closed;
};

struct prom {
	struct prom_family fam[PROM_FAMILIES];
	size_t n_fam;
	char series[PROM_SERIES][192];
	size_t n_series;
	int cur; /* family of the last line, -1 none */
	char error[256];
	int line;
	/* histogram check: last cumulative bucket, +Inf value, count */
	double last_bucket, inf_bucket;
};

static int prom_fail(struct prom *p, const char *what, const char *text)
{
	snprintf(p->error, sizeof(p->error), "line %d: %s: %.120s", p->line, what, text);
	return -1;
}

static int prom_name_ok(const char *s, size_t n, int label)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			 (!label && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static struct prom_family *prom_family(struct prom *p, const char *name, size_t n, int make)
{
	size_t i;

	for (i = 0; i < p->n_fam; i++)
		if (strlen(p->fam[i].name) == n && strncmp(p->fam[i].name, name, n) == 0)
			return &p->fam[i];
	if (!make || p->n_fam == PROM_FAMILIES || n >= sizeof(p->fam[0].name))
		return NULL;
	memset(&p->fam[p->n_fam], 0, sizeof(p->fam[0]));
	memcpy(p->fam[p->n_fam].name, name, n);
	return &p->fam[p->n_fam++];
}

/* Enters family f (closing the one before); a family may not reopen. */
static int prom_enter(struct prom *p, struct prom_family *f, const char *line)
{
	int idx = (int)(f - p->fam);

	if (p->cur == idx)
		return 0;
	if (f->closed)
		return prom_fail(p, "family appears twice", line);
	if (p->cur >= 0)
		p->fam[p->cur].closed = 1;
	p->cur = idx;
	return 0;
}

static int prom_comment(struct prom *p, const char *line)
{
	const char *name, *end;
	struct prom_family *f;
	int help = strncmp(line, "# HELP ", 7) == 0;

	if (!help && strncmp(line, "# TYPE ", 7) != 0)
		return 0; /* a plain comment */
	name = line + 7;
	end = strchr(name, ' ');
	if (!end || !prom_name_ok(name, (size_t)(end - name), 0))
		return prom_fail(p, "bad metric name", line);
	f = prom_family(p, name, (size_t)(end - name), 1);
	if (!f || prom_enter(p, f, line) < 0)
		return f ? -1 : prom_fail(p, "too many families", line);
	if (help) {
		if (f->help || f->typed)
			return prom_fail(p, "HELP twice or after TYPE", line);
		f->help = 1;
		return 0;
	}
	if (f->typed || !f->help)
		return prom_fail(p, "TYPE twice or without HELP first", line);
	if (strcmp(end + 1, "counter") && strcmp(end + 1, "gauge") && strcmp(end + 1, "summary") &&
	    strcmp(end + 1, "histogram") && strcmp(end + 1, "untyped"))
		return prom_fail(p, "unknown type", line);
	snprintf(f->type, sizeof(f->type), "%s", end + 1);
	f->typed = 1;
	return 0;
}

/* Parses {a="x",b="y"} at *pp; copies le's value into le. */
static int prom_labels(struct prom *p, const char **pp, const char *line, char *le, size_t le_size)
{
	const char *s = *pp + 1, *nm;
	int is_le;

	while (*s != '}') {
		nm = s;
		while (*s && *s != '=')
			s++;
		if (!prom_name_ok(nm, (size_t)(s - nm), 1) || s[0] != '=' || s[1] != '"')
			return prom_fail(p, "bad label", line);
		is_le = s - nm == 2 && strncmp(nm, "le", 2) == 0;
		s += 2;
		if (is_le)
			snprintf(le, le_size, "%.*s", (int)strcspn(s, "\""), s);
		while (*s && *s != '"') {
			if (*s == '\\') {
				if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
					return prom_fail(p, "bad escape in label value", line);
				s++;
			}
			s++;
		}
		if (*s != '"')
			return prom_fail(p, "unterminated label value", line);
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return prom_fail(p, "bad label list", line);
	}
	*pp = s + 1;
	return 0;
}

/* The family a sample belongs to: its name, or without _sum/_count/
 * _bucket for summaries and histograms. */
static struct prom_family *prom_owner(struct prom *p, const char *name, size_t n, const char **suf)
{
	static const char *const sufs[] = {"_sum", "_count", "_bucket"};
	struct prom_family *f = prom_family(p, name, n, 0);
	size_t i, k;

	*suf = "";
	if (f)
		return f;
	for (i = 0; i < 3; i++) {
		k = strlen(sufs[i]);
		if (n > k && strncmp(name + n - k, sufs[i], k) == 0 &&
		    (f = prom_family(p, name, n - k, 0)) != NULL) {
			*suf = sufs[i];
			return f;
		}
	}
	return NULL;
}

static int prom_sample(struct prom *p, const char *line)
{
	const char *s = line, *suf;
	char le[32] = "", *end;
	struct prom_family *f;
	size_t n, i, key;
	double v;

	while (*s && *s != '{' && *s != ' ')
		s++;
	n = (size_t)(s - line);
	if (!prom_name_ok(line, n, 0))
		return prom_fail(p, "bad sample name", line);
	f = prom_owner(p, line, n, &suf);
	if (!f || !f->typed)
		return prom_fail(p, "sample before its TYPE", line);
	if (prom_enter(p, f, line) < 0)
		return -1;
	if (*s == '{' && prom_labels(p, &s, line, le, sizeof(le)) < 0)
		return -1;
	key = (size_t)(s - line);
	if (*s != ' ')
		return prom_fail(p, "no value", line);
	v = strtod(s + 1, &end);
	if (end == s + 1 || (*end && *end != ' '))
		return prom_fail(p, "bad value", line);
	if (strcmp(f->type, "counter") == 0 && !(v >= 0))
		return prom_fail(p, "negative counter", line);
	if ((strcmp(f->type, "summary") == 0 || strcmp(f->type, "histogram") == 0) && !*suf)
		return prom_fail(p, "summary/histogram sample without suffix", line);
	if (strcmp(suf, "_bucket") == 0) {
		if (strcmp(f->type, "histogram") || !*le || v < p->last_bucket)
			return prom_fail(p, "bucket not cumulative or without le", line);
		p->last_bucket = v;
		if (strcmp(le, "+Inf") == 0)
			p->inf_bucket = v;
	} else if (strcmp(f->type, "histogram") == 0 && strcmp(suf, "_count") == 0) {
		if (v != p->inf_bucket)
			return prom_fail(p, "histogram _count differs from le=\"+Inf\"", line);
		p->last_bucket = 0;
	}
	for (i = 0; i < p->n_series; i++)
		if (strlen(p->series[i]) == key && strncmp(p->series[i], line, key) == 0)
			return prom_fail(p, "duplicate series", line);
	if (p->n_series < PROM_SERIES && key < sizeof(p->series[0]))
		snprintf(p->series[p->n_series++], sizeof(p->series[0]), "%.*s", (int)key, line);
	return 0;
}

/* Checks a whole exposition; 0 or -1 with p->error set. */
static int prom_check(struct prom *p, const char *text)
{
	char line[1024];
	const char *s = text, *nl;
	size_t n;

	memset(p, 0, sizeof(*p));
	p->cur = -1;
	while (*s) {
		nl = strchr(s, '\n');
		if (!nl)
			return prom_fail(p, "last line without newline", s);
		n = (size_t)(nl - s);
		p->line++;
		if (n >= sizeof(line))
			return prom_fail(p, "line too long", s);
		memcpy(line, s, n);
		line[n] = '\0';
		s = nl + 1;
		if (n == 0)
			continue;
		if ((line[0] == '#' ? prom_comment(p, line) : prom_sample(p, line)) < 0)
			return -1;
	}
	return 0;
}

/* The value of the first sample whose text starts with key, or NAN. */
static double prom_value(const char *text, const char *key)
{
	const char *s = text;

	while ((s = strstr(s, key)) != NULL) {
		if ((s == text || s[-1] == '\n') && s[strlen(key)] == ' ')
			return strtod(s + strlen(key) + 1, NULL);
		s++;
	}
	return NAN;
}

static char *render(const struct metrics_input *in)
{
	struct html h;
	size_t len;

	html_init(&h, 0);
	metrics_render(&h, in);
	return html_take(&h, &len);
}

static void test_render(void)
{
	struct http_route_stats routes[] = {
	    {"project", 10, 1, 0, 5000000},    {"admin", 3, 1, 0, 3000000},
	    {"odd\"na\\me\nx", 1, 0, 1, 1000}, {"admin", 2, 0, 0, 2000000},
	    {"unrouted", 4, 4, 0, 100000},
	};
	struct stats_overview *o = calloc(1, sizeof(*o));
	struct stats_metrics m = {.jobs_running = 1, .rounds_merged = 2, .round_seconds_sum = 7.5};
	struct metrics_input in = {.routes = routes, .n_routes = 5, .overview = o, .extra = &m};
	struct prom p;
	char *text;

	o->hosts_registered = 4;
	o->hosts_active = 3;
	o->units_validated = 4;
	o->results_invalid = 3;
	o->n_jobs = 2;
	snprintf(o->jobs[0].name, sizeof(o->jobs[0].name), "tiny");
	o->jobs[0].eval_loss = 5.25;
	snprintf(o->jobs[1].name, sizeof(o->jobs[1].name), "fresh");
	o->jobs[1].eval_loss = NAN;
	metrics_merge_read(&in);
	text = render(&in);
	tap_ok(text && prom_check(&p, text) == 0, "render: every line parses (%s)",
	       text ? p.error : "no text");
	tap_ok(p.n_fam >= 15, "render: %zu families", p.n_fam);
	TAP_IS(prom_value(text, "agora_http_requests_total{endpoint=\"admin\"}"), 5,
	       "routes sharing a name are one series (3 + 2 requests)");
	tap_ok(strstr(text, "{endpoint=\"odd\\\"na\\\\me\\nx\"}") != NULL,
	       "label values are escaped (quote, backslash, newline)");
	tap_ok(
	    fabs(prom_value(text, "agora_http_request_duration_seconds_sum{endpoint=\"project\"}") -
		 0.005) < 1e-12,
	    "latency sum in seconds");
	TAP_IS(prom_value(text, "agora_hosts_active"), 3, "agora_hosts_active");
	TAP_IS(prom_value(text, "agora_units{state=\"validated\"}"), 4, "agora_units by state");
	TAP_IS(prom_value(text, "agora_results{validation=\"invalid\"}"), 3,
	       "agora_results by validation");
	tap_ok(prom_value(text, "agora_eval_loss{job=\"tiny\"}") == 5.25 &&
		   !strstr(text, "job=\"fresh\""),
	       "eval loss per job; none for a job without one");
	TAP_IS(prom_value(text, "agora_rounds_merged_total"), 2, "agora_rounds_merged_total");
	free(text);

	metrics_merge_observe(0.3);
	metrics_merge_observe(42);
	metrics_merge_observe(1e6);
	metrics_merge_read(&in);
	text = render(&in);
	tap_ok(text && prom_check(&p, text) == 0, "after merges: still parses (%s)", p.error);
	TAP_IS(prom_value(text, "agora_merge_duration_seconds_count"), 3,
	       "merge hook: count moves");
	TAP_IS(prom_value(text, "agora_merge_duration_seconds_bucket{le=\"0.5\"}"), 1,
	       "merge hook: 0.3 s falls in le=0.5");
	TAP_IS(prom_value(text, "agora_merge_duration_seconds_bucket{le=\"60\"}"), 2,
	       "merge hook: buckets are cumulative");
	free(text);
	free(o);
}

static void test_parser(void)
{
	struct prom p;

	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a counter\na 1\n") == 0, "parser: accepts good");
	tap_ok(prom_check(&p, "# TYPE a counter\na 1\n") < 0, "parser: TYPE without HELP");
	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a counter\na -1\n") < 0,
	       "parser: negative counter");
	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n") < 0,
	       "parser: duplicate series");
	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a gauge\na{x=1} 1\n") < 0,
	       "parser: unquoted label");
	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\n"
			      "b 1\na 2\n") < 0,
	       "parser: a family may not reopen");
	tap_ok(prom_check(&p, "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
			      "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n") < 0,
	       "parser: buckets must be cumulative");
	tap_ok(prom_check(&p, "# HELP a x\n# TYPE a gauge\na 1") < 0, "parser: final newline");
}

/* --check FILE: checks a saved /metrics (used by the e2e test). */
static int check_file(const char *path)
{
	unsigned char *buf = NULL;
	struct error err;
	struct prom p;
	size_t len;

	if (fileio_read_all(path, 4 << 20, &buf, &len, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	if (prom_check(&p, (const char *)buf) < 0) {
		fprintf(stderr, "%s: %s\n", path, p.error);
		free(buf);
		return 1;
	}
	printf("%s: %zu families, %zu series\n", path, p.n_fam, p.n_series);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--check") == 0)
		return check_file(argv[2]);
	test_parser();
	test_render();
	return tap_done();
}
