/*
 * boinc_xml.c - expat into a small capped element tree (see boinc_xml.h).
 *
 * Every node and every text buffer is one malloc'd block, remembered in
 * `all` so that boinc_xml_free() releases them in one loop. Caps are
 * checked in the handlers; a handler that hits one stops the parser with
 * XML_StopParser() and leaves the reason in the parse state.
 */
#include "config.h"

#include <errno.h>
#include <expat.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_xml.h"

const struct boinc_xml_caps boinc_xml_default_caps = {1u << 20, 16, 20000, 64u * 1024};

struct boinc_xml {
	struct boinc_xml_node *root;
	void **all; /* every block to free */
	size_t n_all, cap_all;
};

struct parse {
	struct boinc_xml *x;
	const struct boinc_xml_caps *caps;
	XML_Parser p;
	struct boinc_xml_node *cur;
	char **textbuf; /* the current node's text buffer (owned via all) */
	size_t text_cap;
	size_t nodes;
	int depth;
	int code;
	struct error *err;
};

static int remember(struct boinc_xml *x, void *blk)
{
	if (x->n_all == x->cap_all) {
		size_t n = x->cap_all ? 2 * x->cap_all : 64;
		void **a = realloc(x->all, n * sizeof(*a));

		if (!a)
			return -1;
		x->all = a;
		x->cap_all = n;
	}
	x->all[x->n_all++] = blk;
	return 0;
}

static void fail(struct parse *ps, int code, const char *what)
{
	if (ps->code == 0) {
		ps->code = error_set(ps->err, code, "%s (line %lu)", what,
				     (unsigned long)XML_GetCurrentLineNumber(ps->p));
	}
	XML_StopParser(ps->p, XML_FALSE);
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct parse *ps = ud;
	size_t nl = strlen(name);
	struct boinc_xml_node *n;
	char *copy;

	(void)attrs;
	if (ps->code)
		return;
	if (++ps->depth > ps->caps->max_depth) {
		fail(ps, ERROR_TOO_BIG, "xml nested too deep");
		return;
	}
	if (++ps->nodes > ps->caps->max_nodes) {
		fail(ps, ERROR_TOO_BIG, "xml has too many elements");
		return;
	}
	n = calloc(1, sizeof(*n) + nl + 1);
	if (!n || remember(ps->x, n) < 0) {
		free(n);
		{
			fail(ps, ERROR_NOMEM, "out of memory for xml");
			return;
		}
	}
	copy = (char *)(n + 1);
	memcpy(copy, name, nl + 1);
	n->name = copy;
	n->text = "";
	n->parent = ps->cur;
	if (!ps->cur) {
		ps->x->root = n;
	} else {
		if (ps->cur->last)
			ps->cur->last->next = n;
		else
			ps->cur->child = n;
		ps->cur->last = n;
	}
	ps->cur = n;
}

static void on_end(void *ud, const XML_Char *name)
{
	struct parse *ps = ud;

	(void)name;
	if (ps->code || !ps->cur)
		return;
	ps->cur = ps->cur->parent;
	ps->depth--;
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	struct parse *ps = ud;
	struct boinc_xml_node *n = ps->cur;
	size_t need;
	char *t;

	if (ps->code || !n || len <= 0)
		return;
	need = n->text_len + (size_t)len;
	if (need > ps->caps->max_text) {
		fail(ps, ERROR_TOO_BIG, "xml element text too long");
		return;
	}
	if (n->text_len == 0) {
		t = malloc((size_t)len + 1);
		if (!t || remember(ps->x, t) < 0) {
			free(t);
			{
				fail(ps, ERROR_NOMEM, "out of memory for xml");
				return;
			}
		}
	} else {
		/* grow: the old block stays in `all`, replaced in place */
		size_t i;

		for (i = ps->x->n_all; i-- > 0;)
			if (ps->x->all[i] == (void *)n->text)
				break;
		t = realloc((void *)n->text, need + 1);
		if (!t) {
			fail(ps, ERROR_NOMEM, "out of memory for xml");
			return;
		}
		ps->x->all[i] = t;
	}
	memcpy(t + n->text_len, s, (size_t)len);
	t[need] = '\0';
	n->text = t;
	n->text_len = need;
}

static void on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
		       int has_internal)
{
	(void)name, (void)sysid, (void)pubid, (void)has_internal;
	fail(ud, ERROR_FORMAT, "xml with a DOCTYPE refused");
}

static void on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
		      int value_len, const XML_Char *base, const XML_Char *sysid,
		      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid;
	(void)pubid, (void)notation;
	fail(ud, ERROR_FORMAT, "xml with an entity declaration refused");
}

static int parse(struct boinc_xml **out, const void *buf, size_t len,
		 const struct boinc_xml_caps *caps, int final, struct error *err)
{
	struct parse ps;
	int ret = 0;

	*out = NULL;
	memset(&ps, 0, sizeof(ps));
	ps.caps = caps ? caps : &boinc_xml_default_caps;
	ps.err = err;
	if (len > ps.caps->max_bytes || len > (size_t)INT32_MAX)
		return error_set(err, ERROR_TOO_BIG, "xml of %zu bytes is over the cap of %zu", len,
				 ps.caps->max_bytes);
	ps.x = calloc(1, sizeof(*ps.x));
	ps.p = XML_ParserCreate("UTF-8");
	if (!ps.x || !ps.p) {
		ret = error_set(err, ERROR_NOMEM, "out of memory for an xml parser");
		goto out;
	}
	XML_SetUserData(ps.p, &ps);
	XML_SetElementHandler(ps.p, on_start, on_end);
	XML_SetCharacterDataHandler(ps.p, on_text);
	XML_SetStartDoctypeDeclHandler(ps.p, on_doctype);
	XML_SetEntityDeclHandler(ps.p, on_entity);
	if (XML_Parse(ps.p, buf, (int)len, final ? XML_TRUE : XML_FALSE) != XML_STATUS_OK &&
	    ps.code == 0)
		ps.code = error_set(err, ERROR_FORMAT, "malformed xml: %s (line %lu)",
				    XML_ErrorString(XML_GetErrorCode(ps.p)),
				    (unsigned long)XML_GetCurrentLineNumber(ps.p));
	if (ps.code == 0 && !ps.x->root)
		ps.code = error_set(err, ERROR_FORMAT, "empty xml document");
	ret = ps.code;
out:
	if (ps.p)
		XML_ParserFree(ps.p);
	if (ret < 0)
		boinc_xml_free(ps.x);
	else
		*out = ps.x;
	return ret;
}

int boinc_xml_parse(struct boinc_xml **out, const void *buf, size_t len,
		    const struct boinc_xml_caps *caps, struct error *err)
{
	return parse(out, buf, len, caps, 1, err);
}

int boinc_xml_parse_prefix(struct boinc_xml **out, const void *buf, size_t len,
			   const struct boinc_xml_caps *caps, struct error *err)
{
	return parse(out, buf, len, caps, 0, err);
}

void boinc_xml_free(struct boinc_xml *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n_all; i++)
		free(x->all[i]);
	free(x->all);
	free(x);
}

const struct boinc_xml_node *boinc_xml_root(const struct boinc_xml *x)
{
	return x ? x->root : NULL;
}

const struct boinc_xml_node *boinc_xml_child(const struct boinc_xml_node *n, const char *name)
{
	for (n = n ? n->child : NULL; n; n = n->next)
		if (!name || strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

const struct boinc_xml_node *boinc_xml_next(const struct boinc_xml_node *n)
{
	const char *name = n ? n->name : NULL;

	for (n = n ? n->next : NULL; n; n = n->next)
		if (strcmp(n->name, name) == 0)
			return n;
	return NULL;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int boinc_xml_child_str(const struct boinc_xml_node *n, const char *name, char *out, size_t size,
			struct error *err)
{
	const struct boinc_xml_node *c = boinc_xml_child(n, name);
	const char *s;
	size_t len;

	if (size)
		out[0] = '\0';
	if (!c)
		return error_set(err, ERROR_MISSING, "no <%s> in <%s>", name, n ? n->name : "?");
	s = c->text;
	len = c->text_len;
	while (len && is_space(*s))
		s++, len--;
	while (len && is_space(s[len - 1]))
		len--;
	if (len >= size)
		return error_set(err, ERROR_TOO_BIG, "<%s> longer than %zu bytes", name,
				 size ? size - 1 : 0);
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int boinc_xml_child_i64(const struct boinc_xml_node *n, const char *name, int64_t lo, int64_t hi,
			int64_t *out, struct error *err)
{
	char buf[32], *end;
	long long v;
	int ret;

	if ((ret = boinc_xml_child_str(n, name, buf, sizeof(buf), err)) < 0)
		return ret == ERROR_TOO_BIG
			   ? error_set(err, ERROR_FORMAT, "<%s> is not a number", name)
			   : ret;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (!buf[0] || *end || errno)
		return error_set(err, ERROR_FORMAT, "<%s> is not an integer", name);
	if (v < lo || v > hi)
		return error_set(err, ERROR_RANGE, "<%s> %lld out of range", name, v);
	*out = v;
	return 0;
}

int boinc_xml_child_double(const struct boinc_xml_node *n, const char *name, double lo, double hi,
			   double *out, struct error *err)
{
	char buf[64], *end;
	double v;
	int ret;

	if ((ret = boinc_xml_child_str(n, name, buf, sizeof(buf), err)) < 0)
		return ret == ERROR_TOO_BIG
			   ? error_set(err, ERROR_FORMAT, "<%s> is not a number", name)
			   : ret;
	errno = 0;
	v = strtod(buf, &end);
	if (!buf[0] || *end || errno || !isfinite(v))
		return error_set(err, ERROR_FORMAT, "<%s> is not a number", name);
	if (v < lo || v > hi)
		return error_set(err, ERROR_RANGE, "<%s> %g out of range", name, v);
	*out = v;
	return 0;
}

long boinc_xml_escape(char *buf, size_t size, const char *s)
{
	size_t at = 0;

	for (; *s; s++) {
		const char *rep = NULL;
		char one[2] = {*s, 0};
		size_t l;

		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		default:
			if ((unsigned char)*s < 32 && *s != '\t' && *s != '\n')
				one[0] = '?';
			rep = one;
		}
		l = strlen(rep);
		if (at + l >= size) {
			if (size)
				buf[at] = '\0';
			return -1;
		}
		memcpy(buf + at, rep, l);
		at += l;
	}
	if (size)
		buf[at] = '\0';
	return (long)at;
}
