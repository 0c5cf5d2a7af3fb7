/*
 * boinc-fuzz.c - fuzzes what agora-server reads from BOINC clients
 * without any authentication (scheduler requests, upload requests) and
 * the published app-version list, through the capped XML reader.
 *
 * The first input byte picks the parser (mod 3); the rest is its input:
 *   0: a scheduler request (boinc_sched_request_parse). Property: when it
 *      parses, a reply that echoes its texts (the authenticator as the
 *      project name, the reported names as acknowledgements, the first
 *      task's message) is well-formed XML that reads back to the same
 *      texts: every echoed byte is escaped.
 *   1: an upload request (boinc_upload_parse). Property: a parsed
 *      request's name is one we would store and its data offset lies
 *      inside the body.
 *   2: STATE/boinc/app/current (boinc_appver_parse). Property: a parsed
 *      list formats and parses back to the same list.
 * A property that does not hold aborts (a crash for libFuzzer).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_appver.h"
#include "server-tools/boinc_sched.h"
#include "server-tools/boinc_upload.h"
#include "server-tools/boinc_xml.h"
#include "tests/fuzz/fuzz.h"

/* The text of the i-th child named name of n, or NULL. */
static const char *fuzz_nth(const struct boinc_xml_node *n, const char *name, size_t i)
{
	const struct boinc_xml_node *c = boinc_xml_child(n, name);

	while (c && i--)
		c = boinc_xml_next(c);
	return c ? c->text : NULL;
}

/* The reply's texts are trimmed by the reader: compare trimmed. */
static int fuzz_same(const char *got, const char *want)
{
	size_t a = 0, b = strlen(want);

	while (want[a] == ' ' || want[a] == '\t' || want[a] == '\n' || want[a] == '\r')
		a++;
	while (b > a && (want[b - 1] == ' ' || want[b - 1] == '\t' || want[b - 1] == '\n' ||
			 want[b - 1] == '\r'))
		b--;
	if (!got)
		return 0;
	while (*got == ' ' || *got == '\t' || *got == '\n' || *got == '\r')
		got++;
	return strlen(got) >= b - a && strncmp(got, want + a, b - a) == 0;
}

static void fuzz_sched(const uint8_t *data, size_t size)
{
	struct boinc_sched_request *r = malloc(sizeof(*r));
	const char **acks = NULL;
	struct boinc_sched_reply reply;
	const struct boinc_xml_node *root;
	struct boinc_xml *x = NULL;
	struct error err;
	char *xml = NULL;
	size_t len;

	if (!r || boinc_sched_request_parse(r, data, size, &err) < 0)
		goto out;
	acks = calloc(r->n_reported + 1, sizeof(*acks));
	if (!acks)
		goto out;
	for (size_t i = 0; i < r->n_reported; i++)
		acks[i] = r->reported[i].name;
	memset(&reply, 0, sizeof(reply));
	reply.project_name = r->authenticator;
	reply.master_url = "http://127.0.0.1/boinc/";
	reply.message = r->n_reported ? r->reported[0].message : NULL;
	reply.acks = acks;
	reply.n_acks = r->n_reported;
	if (boinc_sched_reply_write(&reply, &xml, &len, &err) < 0)
		goto out;
	if (boinc_xml_parse(&x, xml, len, NULL, &err) < 0) {
		fprintf(stderr, "reply does not parse: %s\n", err.msg);
		abort();
	}
	root = boinc_xml_root(x);
	if (strcmp(root->name, "scheduler_reply") != 0 ||
	    !fuzz_same(fuzz_nth(root, "project_name", 0), r->authenticator))
		abort();
	for (size_t i = 0; i < r->n_reported; i++) {
		const struct boinc_xml_node *a = boinc_xml_child(root, "result_ack");

		for (size_t k = 0; a && k < i; k++)
			a = boinc_xml_next(a);
		if (!a || !fuzz_same(fuzz_nth(a, "name", 0), r->reported[i].name))
			abort();
	}
out:
	boinc_xml_free(x);
	free(xml);
	free(acks);
	free(r);
}

static void fuzz_upload(const uint8_t *data, size_t size)
{
	struct boinc_upload_request r;
	struct error err;

	if (boinc_upload_parse(&r, data, size, &err) < 0)
		return;
	if (!boinc_upload_name_ok(r.name) ||
	    (r.kind == BOINC_UPLOAD_DATA && r.data_at > size))
		abort();
}

static void fuzz_appver(const uint8_t *data, size_t size)
{
	struct boinc_appver_list l, back;
	char text[BOINC_APPVER_FILE_MAX];
	struct error err;
	long n;

	if (boinc_appver_parse(&l, (const char *)data, size, &err) < 0)
		return;
	n = boinc_appver_format(&l, text, sizeof(text));
	if (n < 0 || boinc_appver_parse(&back, text, (size_t)n, &err) < 0 || back.n != l.n ||
	    memcmp(back.v, l.v, l.n * sizeof(l.v[0])) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_sched(data + 1, size - 1);
		break;
	case 1:
		fuzz_upload(data + 1, size - 1);
		break;
	default:
		fuzz_appver(data + 1, size - 1);
		break;
	}
	return 0;
}
