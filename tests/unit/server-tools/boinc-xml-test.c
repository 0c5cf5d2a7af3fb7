/*
 * boinc-xml-test.c - the capped XML reader on a BOINC-like scheduler
 * request, and every refusal: malformed XML, DOCTYPE and entities (no
 * billion laughs), each cap, bad numbers; escaping for replies.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_xml.h"
#include "tests/tap.h"

static const char request[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"
    "<scheduler_request>\n"
    "    <authenticator>abc123</authenticator>\n"
    "    <hostid>7</hostid>\n"
    "    <core_client_major_version>7</core_client_major_version>\n"
    "    <platform_name>x86_64-pc-linux-gnu</platform_name>\n"
    "    <work_req_seconds>8640.5</work_req_seconds>\n"
    "    <result><name>u_1_0</name><exit_status>0</exit_status></result>\n"
    "    <result><name>u_2_0</name><exit_status>-1</exit_status></result>\n"
    "    <host_info><p_model>A &amp; B &lt;cpu&gt;</p_model></host_info>\n"
    "</scheduler_request>\n";

static int parse(const char *s, const struct boinc_xml_caps *caps, struct error *err)
{
	struct boinc_xml *x = NULL;
	int ret = boinc_xml_parse(&x, s, strlen(s), caps, err);

	boinc_xml_free(x);
	return ret;
}

int main(void)
{
	struct boinc_xml *x = NULL;
	const struct boinc_xml_node *r, *res;
	struct boinc_xml_caps caps = boinc_xml_default_caps;
	struct error err;
	char s[64], big[200];
	int64_t v;
	double d;
	int n = 0;

	error_clear(&err);
	TAP_IS(boinc_xml_parse(&x, request, strlen(request), NULL, &err), 0,
	       "a scheduler request parses");
	r = boinc_xml_root(x);
	TAP_OK(r && strcmp(r->name, "scheduler_request") == 0, "its root element");
	TAP_OK(boinc_xml_child_str(r, "authenticator", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "abc123") == 0,
	       "a string child, white space trimmed");
	TAP_OK(boinc_xml_child_i64(r, "hostid", 0, 1000, &v, &err) == 0 && v == 7,
	       "an integer child");
	TAP_OK(boinc_xml_child_double(r, "work_req_seconds", 0, 1e9, &d, &err) == 0 && d == 8640.5,
	       "a floating-point child");
	for (res = boinc_xml_child(r, "result"); res; res = boinc_xml_next(res))
		n++;
	TAP_IS(n, 2, "a list of <result> elements");
	TAP_OK(boinc_xml_child_str(boinc_xml_child(r, "host_info"), "p_model", s, sizeof(s),
				   &err) == 0 &&
		   strcmp(s, "A & B <cpu>") == 0,
	       "escapes are decoded");
	TAP_IS(boinc_xml_child_i64(r, "hostid", 8, 1000, &v, &err), ERROR_RANGE,
	       "an integer out of range");
	TAP_IS(boinc_xml_child_i64(r, "platform_name", 0, 10, &v, &err), ERROR_FORMAT,
	       "text where a number belongs");
	TAP_IS(boinc_xml_child_i64(r, "nothere", 0, 10, &v, &err), ERROR_MISSING,
	       "a missing child");
	TAP_IS(boinc_xml_child_str(r, "platform_name", s, 5, &err), ERROR_TOO_BIG,
	       "a string longer than its buffer");
	boinc_xml_free(x);

	TAP_IS(parse("<a><b></a>", NULL, &err), ERROR_FORMAT, "mismatched tags");
	TAP_OK(strstr(err.msg, "malformed xml") != NULL, "named: %s", err.msg);
	TAP_IS(parse("<a>", NULL, &err), ERROR_FORMAT, "an unclosed document");
	TAP_IS(parse("", NULL, &err), ERROR_FORMAT, "an empty document");
	TAP_IS(parse("<a/><b/>", NULL, &err), ERROR_FORMAT, "two root elements");
	TAP_IS(parse("<a>&bogus;</a>", NULL, &err), ERROR_FORMAT, "an undefined entity");
	TAP_IS(parse("<!DOCTYPE a [<!ENTITY x \"xxxxxxxx\"><!ENTITY y \"&x;&x;&x;&x;\">]>"
		     "<a>&y;&y;</a>",
		     NULL, &err),
	       ERROR_FORMAT, "a DOCTYPE with entities is refused");
	caps.max_bytes = 10;
	TAP_IS(parse("<a>0123456789</a>", &caps, &err), ERROR_TOO_BIG, "the byte cap");
	caps = boinc_xml_default_caps;
	caps.max_depth = 3;
	TAP_IS(parse("<a><b><c></c></b></a>", &caps, &err), 0, "depth at the cap");
	TAP_IS(parse("<a><b><c><d></d></c></b></a>", &caps, &err), ERROR_TOO_BIG,
	       "depth over the cap");
	caps = boinc_xml_default_caps;
	caps.max_nodes = 3;
	TAP_IS(parse("<a><b/><b/><b/></a>", &caps, &err), ERROR_TOO_BIG, "the element cap");
	caps = boinc_xml_default_caps;
	caps.max_text = 4;
	TAP_IS(parse("<a>12<![CDATA[345]]></a>", &caps, &err), ERROR_TOO_BIG,
	       "the text cap, across pieces");
	TAP_IS(parse("<a>12<![CDATA[3]]>4</a>", &caps, &err), 0, "text in pieces at the cap");

	TAP_IS(boinc_xml_escape(big, sizeof(big), "a<b>&\"'\x01"), 28, "escaping");
	TAP_OK(strcmp(big, "a&lt;b&gt;&amp;&quot;&apos;?") == 0, "escaped text: %s", big);
	TAP_IS(boinc_xml_escape(big, 4, "abcd"), -1, "escaping out of room");
	return tap_done();
}
