/*
 * boinc_xml.h - a capped XML reader for what BOINC speaks: scheduler
 * requests, file upload requests, the app's init_data.xml.
 *
 * The document is parsed by expat (a real XML parser: nesting, escapes,
 * CDATA and encodings are its business) into a small read-only tree of
 * elements, each with its name and its character data (concatenated,
 * attributes ignored: BOINC uses none that matter). What is refused,
 * before or while parsing, with ERROR_TOO_BIG or ERROR_FORMAT and a
 * one-line message:
 *
 *   - more than caps->max_bytes of input (checked before parsing);
 *   - nesting deeper than caps->max_depth, more than caps->max_nodes
 *     elements, more than caps->max_text bytes of text in one element;
 *   - a DOCTYPE or any entity declaration (no DTDs, so no entity
 *     expansion at all), malformed XML (expat's message and line).
 *
 * All memory is owned by the struct boinc_xml and freed by
 * boinc_xml_free(); node pointers stay valid until then. Reentrant: no
 * shared state.
 */
#ifndef AGORA_SERVER_BOINC_XML_H
#define AGORA_SERVER_BOINC_XML_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct boinc_xml_caps {
	size_t max_bytes; /* whole document */
	int max_depth;    /* element nesting */
	size_t max_nodes; /* elements */
	size_t max_text;  /* text bytes of one element */
};

/* 1 MiB, depth 16, 20,000 elements, 64 KiB of text per element: enough
 * for a scheduler request from a host with a few hundred results. */
extern const struct boinc_xml_caps boinc_xml_default_caps;

struct boinc_xml_node {
	const char *name;
	const char *text; /* NUL-terminated character data (may hold no NUL inside) */
	size_t text_len;
	struct boinc_xml_node *parent, *child, *last, *next;
};

struct boinc_xml;

/* Parses len bytes of buf; caps NULL means boinc_xml_default_caps. *out is
 * set only on success; free it with boinc_xml_free(). */
int boinc_xml_parse(struct boinc_xml **out, const void *buf, size_t len,
		    const struct boinc_xml_caps *caps, struct error *err)
    __attribute__((warn_unused_result));
/* The same for the start of a document whose end is not XML (BOINC's
 * upload request: XML up to "<data>", then raw bytes): elements still
 * open at the end of buf are kept as they are. Everything else (caps,
 * DOCTYPE, malformed XML so far) is refused as above. */
int boinc_xml_parse_prefix(struct boinc_xml **out, const void *buf, size_t len,
			   const struct boinc_xml_caps *caps, struct error *err)
    __attribute__((warn_unused_result));
void boinc_xml_free(struct boinc_xml *x);

/* The document element. */
const struct boinc_xml_node *boinc_xml_root(const struct boinc_xml *x);

/* The first child of n named name (name NULL: any), or NULL. */
const struct boinc_xml_node *boinc_xml_child(const struct boinc_xml_node *n, const char *name);
/* The next sibling of n with n's name (the next element of a list). */
const struct boinc_xml_node *boinc_xml_next(const struct boinc_xml_node *n);

/* The text of child name with leading and trailing white space removed,
 * copied into out (size bytes, NUL-terminated). ERROR_MISSING when there
 * is no such child, ERROR_TOO_BIG when it does not fit. */
int boinc_xml_child_str(const struct boinc_xml_node *n, const char *name, char *out, size_t size,
			struct error *err) __attribute__((warn_unused_result));
/* The text of child name as a decimal integer in [lo, hi] (surrounding
 * white space allowed). ERROR_MISSING, ERROR_FORMAT or ERROR_RANGE. */
int boinc_xml_child_i64(const struct boinc_xml_node *n, const char *name, int64_t lo, int64_t hi,
			int64_t *out, struct error *err) __attribute__((warn_unused_result));
/* Likewise for a finite floating-point number in [lo, hi]. */
int boinc_xml_child_double(const struct boinc_xml_node *n, const char *name, double lo, double hi,
			   double *out, struct error *err) __attribute__((warn_unused_result));

/* Appends s to buf as XML character data (&, <, >, " and ' escaped);
 * control characters other than tab and newline become '?'. Returns the
 * bytes written, or -1 when out of room (buf then holds a prefix). */
long boinc_xml_escape(char *buf, size_t size, const char *s);

#endif
