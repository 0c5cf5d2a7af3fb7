/*
 * boinc-upload-test.c - BOINC's upload protocol: a size query and an
 * upload as the client sends them are read; an upload interrupted after
 * a part resumes at the size the server reports and completes with the
 * MD5 checked; a wrong offset, too many bytes, a wrong MD5, a bad name,
 * malformed XML and an over-long header are refused cleanly; replies are
 * well-formed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_upload.h"
#include "server-tools/boinc_xml.h"
#include "tests/tap.h"

/* "hello, agora\n" */
#define CONTENT     "hello, agora\n"
#define CONTENT_MD5 "f90f0b56eaf552b306ba735ffb38e40d"

static size_t upload_body(char *buf, size_t size, const char *name, uint64_t offset,
			  const char *md5, const char *data, size_t len)
{
	int n = snprintf(buf, size,
			 "<data_server_request>\n"
			 "    <core_client_major_version>7</core_client_major_version>\n"
			 "<file_upload>\n"
			 "<file_info>\n    <name>%s</name>\n    <max_nbytes>1000</max_nbytes>\n"
			 "</file_info>\n"
			 "<nbytes>%zu.000000</nbytes>\n<md5_cksum>%s</md5_cksum>\n"
			 "<offset>%llu.000000</offset>\n<data>\n",
			 name, strlen(CONTENT), md5, (unsigned long long)offset);

	memcpy(buf + n, data, len);
	return (size_t)n + len;
}

static int parse(struct boinc_upload_request *r, const char *s, struct error *err)
{
	return boinc_upload_parse(r, s, strlen(s), err);
}

int main(void)
{
	struct boinc_upload_request r;
	struct boinc_xml *x = NULL;
	char dir[256], body[4096], reply[512], *big;
	struct error err;
	uint64_t size = 0;
	size_t len;
	long n;

	error_clear(&err);
	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("no scratch directory");
	TAP_IS(parse(&r,
		     "<data_server_request>\n<core_client_major_version>7"
		     "</core_client_major_version>\n<get_file_size>agora_5_r9_env</get_file_size>\n"
		     "</data_server_request>\n",
		     &err),
	       0, "a size query parses");
	TAP_OK(r.kind == BOINC_UPLOAD_GET_SIZE && strcmp(r.name, "agora_5_r9_env") == 0,
	       "naming its file");
	TAP_IS(boinc_upload_size(dir, r.name, &size, &err), 0, "an absent file");
	TAP_IS(size, 0, "has size 0");

	/* the first part only, as an interrupted upload leaves it */
	len = upload_body(body, sizeof(body), "agora_5_r9_env", 0, CONTENT_MD5, CONTENT, 5);
	TAP_IS(boinc_upload_parse(&r, body, len, &err), 0, "an upload parses");
	TAP_OK(r.kind == BOINC_UPLOAD_DATA && r.nbytes == strlen(CONTENT) && r.offset == 0 &&
		   strcmp(r.md5, CONTENT_MD5) == 0 && len - r.data_at == 5,
	       "its size, offset, MD5 and where the data starts");
	TAP_IS(boinc_upload_store(dir, &r, body + r.data_at, len - r.data_at, &size, &err), 0,
	       "its part is stored");
	TAP_OK(boinc_upload_size(dir, r.name, &size, &err) == 0 && size == 5,
	       "the size query then says 5");
	TAP_IS(boinc_upload_store(dir, &r, body + r.data_at, len - r.data_at, &size, &err),
	       ERROR_STATE, "the same part again (wrong offset) is refused");
	len = upload_body(body, sizeof(body), "agora_5_r9_env", 5, CONTENT_MD5, CONTENT + 5,
			  strlen(CONTENT) - 5);
	memcpy(body + len, "xx", 2); /* two bytes too many */
	TAP_IS(boinc_upload_parse(&r, body, len + 2, &err), 0, "a resumed upload parses");
	TAP_IS(boinc_upload_store(dir, &r, body + r.data_at, len + 2 - r.data_at, &size, &err),
	       ERROR_RANGE, "more bytes than announced are refused");
	TAP_IS(boinc_upload_store(dir, &r, body + r.data_at, len - r.data_at, &size, &err), 0,
	       "the rest is stored");
	TAP_IS(size, strlen(CONTENT), "the file is complete, MD5 checked");

	len = upload_body(body, sizeof(body), "bad_md5", 0, "00000000000000000000000000000000",
			  CONTENT, strlen(CONTENT));
	TAP_IS(boinc_upload_parse(&r, body, len, &err), 0, "an upload with a wrong MD5 parses");
	TAP_IS(boinc_upload_store(dir, &r, body + r.data_at, len - r.data_at, &size, &err),
	       ERROR_HASH, "and is refused when complete");
	TAP_OK(boinc_upload_size(dir, "bad_md5", &size, &err) == 0 && size == 0,
	       "its file is removed");

	len = upload_body(body, sizeof(body), "../etc/passwd", 0, CONTENT_MD5, CONTENT, 3);
	TAP_IS(boinc_upload_parse(&r, body, len, &err), ERROR_FORMAT, "a path as name is refused");
	len = upload_body(body, sizeof(body), ".hidden", 0, CONTENT_MD5, CONTENT, 3);
	TAP_IS(boinc_upload_parse(&r, body, len, &err), ERROR_FORMAT, "a dot file is refused");
	TAP_IS(parse(&r, "<data_server_request><file_upload><file_info><name>a</name>", &err),
	       ERROR_FORMAT, "an upload without <data> is refused");
	TAP_IS(parse(&r, "<data_server_request><get_file_size>a</get_file_size>", &err),
	       ERROR_FORMAT, "truncated XML is refused");
	TAP_IS(parse(&r, "<scheduler_request/>", &err), ERROR_FORMAT, "another root is refused");
	TAP_IS(parse(&r, "<data_server_request><x/></data_server_request>", &err), ERROR_FORMAT,
	       "neither query nor upload is refused");
	TAP_IS(parse(&r,
		     "<data_server_request><file_upload><file_info><name>a</name></file_info>"
		     "<nbytes>5</nbytes><offset>6</offset><data>\n",
		     &err),
	       ERROR_RANGE, "an offset past the size is refused");
	big = malloc(BOINC_UPLOAD_HEADER_MAX + 200);
	memcpy(big, "<data_server_request>", 21);
	memset(big + 21, ' ', BOINC_UPLOAD_HEADER_MAX + 100);
	memcpy(big + BOINC_UPLOAD_HEADER_MAX + 121, "<data>\n", 8);
	TAP_IS(parse(&r, big, &err), ERROR_TOO_BIG, "an over-long header is refused");
	free(big);

	n = boinc_upload_reply(reply, sizeof(reply), 0, 123, NULL);
	TAP_OK(n > 0 && boinc_xml_parse(&x, reply, (size_t)n, NULL, &err) == 0 &&
		   strstr(reply, "<file_size>123</file_size>"),
	       "a size reply is well-formed");
	boinc_xml_free(x);
	x = NULL;
	n = boinc_upload_reply(reply, sizeof(reply), -1, -1, "bad <name> & co");
	TAP_OK(n > 0 && boinc_xml_parse(&x, reply, (size_t)n, NULL, &err) == 0 &&
		   strstr(reply, "<status>-1</status>") && strstr(reply, "&lt;name&gt; &amp;"),
	       "an error reply escapes its message");
	boinc_xml_free(x);
	TAP_IS(boinc_upload_reply(reply, 20, 0, -1, NULL), -1, "a reply out of room");
	{
		char cmd[300];
		int rc = tap_done();

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (rc == 0 && system(cmd) != 0)
			tap_diag("cannot remove '%s'", dir);
		return rc;
	}
}
