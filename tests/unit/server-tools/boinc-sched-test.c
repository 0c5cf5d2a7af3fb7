/*
 * boinc-sched-test.c - the scheduler RPC messages: a request as BOINC
 * 7.20 sends it (first contact, then with reported tasks) is read; a
 * malformed, wrongly rooted or over-cap request is refused with a clean
 * error; a reply with an app, a task and acknowledgements is well-formed
 * XML (read back with the same reader) that says what was put in, with
 * every text escaped.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_sched.h"
#include "server-tools/boinc_xml.h"
#include "tests/tap.h"

static const char first[] =
    "<scheduler_request>\n"
    "    <authenticator>0123456789abcdef0123456789abcdef</authenticator>\n"
    "    <hostid>0</hostid>\n"
    "    <rpc_seqno>0</rpc_seqno>\n"
    "    <core_client_major_version>7</core_client_major_version>\n"
    "    <core_client_minor_version>20</core_client_minor_version>\n"
    "    <core_client_release>5</core_client_release>\n"
    "    <resource_share_fraction>1.000000</resource_share_fraction>\n"
    "    <platform_name>x86_64-pc-linux-gnu</platform_name>\n"
    "    <alt_platform><name>i686-pc-linux-gnu</name></alt_platform>\n"
    "    <work_req_seconds>8640.000000</work_req_seconds>\n"
    "    <global_preferences><run_on_batteries>1</run_on_batteries></global_preferences>\n"
    "    <host_info><p_ncpus>2</p_ncpus><p_vendor>AMD &amp; co</p_vendor></host_info>\n"
    "</scheduler_request>\n";

static const char reporting[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"
    "<scheduler_request>\n"
    "<authenticator>abc</authenticator><hostid>12</hostid>\n"
    "<platform_name>x86_64-pc-linux-gnu</platform_name>\n"
    "<work_req_seconds>0</work_req_seconds>\n"
    "<result><name>agora_5_r9</name><final_cpu_time>1.5</final_cpu_time>"
    "<exit_status>0</exit_status><state>5</state>"
    "<file_info><name>agora_5_r9_env</name><nbytes>500</nbytes></file_info></result>\n"
    "<result><name>agora_6_r10</name><exit_status>1</exit_status><state>3</state>\n"
    "<stderr_out>\n<core_client_version>7.20.5</core_client_version>\n<![CDATA[\n"
    "<message>\nprocess exited with code 1 (0x1, -255)</message>\n<stderr_txt>\n"
    "agora-boinc: an earlier line\n"
    "agora-boinc: work unit refused: bad signature <&>\t\n"
    "14:02:11 (4242): called boinc_finish(1)\n\n</stderr_txt>\n]]>\n</stderr_out>\n"
    "</result>\n"
    "<other_results><other_result><name>x</name></other_result></other_results>\n"
    "</scheduler_request>\n";

static int parse(struct boinc_sched_request *r, const char *s, struct error *err)
{
	return boinc_sched_request_parse(r, s, strlen(s), err);
}

static void check_reply(void)
{
	struct boinc_sched_app app = {"agora",
				      "Agora <training>",
				      "x86_64-pc-linux-gnu",
				      100,
				      {"agora-boinc_1.00",
				       "http://127.0.0.1:1/boinc/download/agora-boinc_1.00",
				       "0123456789abcdef0123456789abcdef", 12345, "abcd\n.\n", 1}};
	struct boinc_sched_task t;
	const char *acks[] = {"agora_5_r9"};
	struct boinc_sched_reply r = {"Agora & friends",
				      "http://127.0.0.1:1/",
				      12,
				      5.0,
				      "1024\nff\n.\n",
				      NULL,
				      &app,
				      &t,
				      1,
				      acks,
				      1};
	const struct boinc_xml_node *root, *n;
	struct boinc_xml *x = NULL;
	struct error err;
	char s[256], *xml = NULL;
	size_t len;
	int files = 0, refs = 0;

	memset(&t, 0, sizeof(t));
	t.wu_name = "agora_5";
	t.result_name = "agora_5_r9";
	t.n_inputs = 2;
	t.inputs[0] = (struct boinc_sched_file){"agora_5_unit", "http://h/u", "aa", 10, NULL, 0};
	t.inputs[1] = (struct boinc_sched_file){"coord.pub", "http://h/k", "bb", 20, NULL, 0};
	t.open_names[0] = "agora_unit";
	t.open_names[1] = "agora_key";
	t.n_outputs = 1;
	t.out_names[0] = "agora_5_r9_env";
	t.out_open_names[0] = "agora_result_env";
	t.upload_url = "http://127.0.0.1:1/boinc/upload";
	t.max_out_bytes = 1 << 20;
	t.fpops_est = 1e12;
	t.memory_bound = 1e9;
	t.deadline = 1800000000;
	error_clear(&err);
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), 0, "a reply is written");
	TAP_IS(boinc_xml_parse(&x, xml, len, NULL, &err), 0, "it is well-formed XML");
	root = boinc_xml_root(x);
	TAP_OK(root && strcmp(root->name, "scheduler_reply") == 0, "rooted at <scheduler_reply>");
	TAP_OK(boinc_xml_child_str(root, "project_name", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "Agora & friends") == 0,
	       "texts are escaped and read back");
	for (n = boinc_xml_child(root, "file_info"); n; n = boinc_xml_next(n))
		files++;
	TAP_IS(files, 4, "file_info: executable, 2 inputs, 1 output");
	n = boinc_xml_child(root, "workunit");
	for (n = boinc_xml_child(n, "file_ref"); n; n = boinc_xml_next(n))
		refs++;
	TAP_IS(refs, 2, "the workunit names its 2 inputs");
	n = boinc_xml_child(root, "result");
	TAP_OK(boinc_xml_child_str(n, "wu_name", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "agora_5") == 0,
	       "the result names its workunit");
	n = boinc_xml_child(boinc_xml_child(root, "app_version"), "file_ref");
	TAP_OK(n && boinc_xml_child(n, "main_program"), "the app version's main program");
	n = boinc_xml_child(root, "result_ack");
	TAP_OK(boinc_xml_child_str(n, "name", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "agora_5_r9") == 0,
	       "a reported task is acknowledged");
	TAP_OK(boinc_xml_child_str(root, "code_sign_key", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "1024\nff\n.") == 0,
	       "the code-signing key");
	boinc_xml_free(x);
	free(xml);
	r.app = NULL;
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), ERROR_INVALID,
	       "tasks without an app are refused");
	r.n_tasks = 0;
	r.n_acks = 0;
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), 0, "a reply without work");
	TAP_OK(xml && !strstr(xml, "<app>") && !strstr(xml, "<workunit>"), "has no app or task");
	free(xml);
}

int main(void)
{
	struct boinc_sched_request *r = malloc(sizeof(*r));
	struct error err;
	char *big;
	size_t at;

	if (!r)
		tap_skip_all("out of memory");
	error_clear(&err);
	TAP_IS(parse(r, first, &err), 0, "a first-contact request parses");
	TAP_OK(strcmp(r->authenticator, "0123456789abcdef0123456789abcdef") == 0,
	       "its authenticator");
	TAP_OK(r->hostid == 0 && r->core_major == 7 && r->core_minor == 20, "host id, version");
	TAP_OK(strcmp(r->platform, "x86_64-pc-linux-gnu") == 0, "its platform");
	TAP_OK(r->work_req_seconds == 8640.0 && r->n_reported == 0, "work wanted, none reported");

	TAP_IS(parse(r, reporting, &err), 0, "a request reporting tasks parses");
	TAP_OK(r->hostid == 12 && r->n_reported == 2, "two reported tasks");
	TAP_OK(strcmp(r->reported[0].name, "agora_5_r9") == 0 && r->reported[0].exit_status == 0 &&
		   r->reported[0].state == BOINC_SCHED_STATE_UPLOADED,
	       "the first: uploaded, exit 0");
	TAP_OK(r->reported[1].exit_status == 1, "the second: exit status 1");
	TAP_OK(r->reported[0].message[0] == '\0', "the first has no message");
	TAP_OK(strcmp(r->reported[1].message,
		      "agora-boinc: work unit refused: bad signature <&>?") == 0,
	       "the second: the app's last line of stderr_out, control bytes replaced: '%s'",
	       r->reported[1].message);

	TAP_IS(parse(r, "<scheduler_request><hostid>1</hostid>", &err), ERROR_FORMAT,
	       "truncated XML is refused");
	TAP_IS(parse(r, "<scheduler_reply/>", &err), ERROR_FORMAT, "another root is refused");
	TAP_OK(strstr(err.msg, "scheduler_reply") != NULL, "named: %s", err.msg);
	TAP_IS(parse(r, "<scheduler_request><hostid>1</hostid></scheduler_request>", &err),
	       ERROR_MISSING, "no authenticator is refused");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><hostid>-1</hostid>"
		     "</scheduler_request>",
		     &err),
	       ERROR_RANGE, "a negative host id is refused");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator>"
		     "<work_req_seconds>nan</work_req_seconds></scheduler_request>",
		     &err),
	       ERROR_FORMAT, "a NaN is refused");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator>"
		     "<result><exit_status>0</exit_status></result></scheduler_request>",
		     &err),
	       ERROR_MISSING, "a reported task without a name is refused");

	big = malloc(64 * (BOINC_SCHED_REPORTED_MAX + 2) + 200);
	at = (size_t)snprintf(big, 200, "<scheduler_request><authenticator>a</authenticator>");
	for (int i = 0; i <= BOINC_SCHED_REPORTED_MAX; i++)
		at += (size_t)snprintf(big + at, 64, "<result><name>t%d</name></result>", i);
	snprintf(big + at, 64, "</scheduler_request>");
	TAP_IS(parse(r, big, &err), ERROR_TOO_BIG, "too many reported tasks are refused");
	free(big);

	check_reply();
	free(r);
	return tap_done();
}
