/*
 * boinc-sched-test.c - the scheduler RPC messages: a request as BOINC
 * 7.20 sends it (first contact, then with reported tasks) is read; a
 * malformed, wrongly rooted or over-cap request is refused with a clean
 * error; the GPUs of a BOINC 7.20 request (<coprocs>) are read per vendor
 * with their OpenCL state and the work wanted for them; plan classes map
 * to vendors; a reply with a CPU and a GPU app version, a task for each
 * and acknowledgements is well-formed XML (read back with the same
 * reader) that says what was put in, with every text escaped, the GPU
 * version with its plan class and <coproc>, and every result naming an
 * app version of the reply the way BOINC's client looks it up.
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

/* <coprocs> as BOINC 7.20's COPROCS::write_xml(mf, true) writes it for a
 * host with an NVIDIA GPU (CUDA and OpenCL; GPU work wanted) and an Intel
 * GPU whose OpenCL device is not available; another <coproc> is ignored. */
static const char gpus[] =
    "<scheduler_request>\n"
    "    <authenticator>abc</authenticator>\n"
    "    <platform_name>x86_64-pc-linux-gnu</platform_name>\n"
    "    <work_req_seconds>0.000000</work_req_seconds>\n"
    "    <cpu_req_secs>0.000000</cpu_req_secs>\n"
    "    <cpu_req_instances>0.000000</cpu_req_instances>\n"
    "    <client_cap_plan_class>1</client_cap_plan_class>\n"
    "    <coprocs>\n"
    "<coproc_cuda>\n"
    "   <count>1</count>\n"
    "   <name>NVIDIA GeForce RTX 3060</name>\n"
    "   <available_ram>12622168064.000000</available_ram>\n"
    "   <have_cuda>1</have_cuda>\n"
    "   <have_opencl>1</have_opencl>\n"
    "   <req_secs>8640.000000</req_secs>\n"
    "   <req_instances>1.000000</req_instances>\n"
    "   <estimated_delay>0.000000</estimated_delay>\n"
    "   <peak_flops>12740000000000.000000</peak_flops>\n"
    "   <cudaVersion>12020</cudaVersion>\n"
    "   <drvVersion>53586</drvVersion>\n"
    "   <totalGlobalMem>12622168064.000000</totalGlobalMem>\n"
    "   <maxThreadsDim>1024 1024 64</maxThreadsDim>\n"
    "   <major>8</major>\n"
    "   <minor>6</minor>\n"
    "   <multiProcessorCount>28</multiProcessorCount>\n"
    "   <coproc_opencl>\n"
    "      <name>NVIDIA GeForce RTX 3060</name>\n"
    "      <vendor>NVIDIA Corporation</vendor>\n"
    "      <vendor_id>4318</vendor_id>\n"
    "      <available>1</available>\n"
    "      <half_fp_config>0</half_fp_config>\n"
    "      <single_fp_config>191</single_fp_config>\n"
    "      <extensions>cl_khr_global_int32_base_atomics cl_khr_fp64</extensions>\n"
    "      <global_mem_size>12622168064</global_mem_size>\n"
    "      <max_compute_units>28</max_compute_units>\n"
    "      <nv_compute_capability_major>8</nv_compute_capability_major>\n"
    "      <opencl_platform_version>OpenCL 3.0 CUDA 12.2.138</opencl_platform_version>\n"
    "      <opencl_device_version>OpenCL 3.0 CUDA</opencl_device_version>\n"
    "      <opencl_driver_version>535.86.05</opencl_driver_version>\n"
    "   </coproc_opencl>\n"
    "</coproc_cuda>\n"
    "<coproc_intel_gpu>\n"
    "   <count>1</count>\n"
    "   <name>Intel(R) UHD Graphics 630</name>\n"
    "   <available_ram>6616887296.000000</available_ram>\n"
    "   <have_opencl>1</have_opencl>\n"
    "   <req_secs>100.000000</req_secs>\n"
    "   <req_instances>0.000000</req_instances>\n"
    "   <estimated_delay>0.000000</estimated_delay>\n"
    "   <peak_flops>403200000000.000000</peak_flops>\n"
    "   <version>OpenCL 3.0 NEO</version>\n"
    "   <coproc_opencl>\n"
    "      <name>Intel(R) UHD Graphics 630</name>\n"
    "      <available>0</available>\n"
    "   </coproc_opencl>\n"
    "</coproc_intel_gpu>\n"
    "<coproc>\n"
    "   <type>miner_asic</type>\n"
    "   <count>2</count>\n"
    "</coproc>\n"
    "    </coprocs>\n"
    "</scheduler_request>\n";

static int parse(struct boinc_sched_request *r, const char *s, struct error *err)
{
	return boinc_sched_request_parse(r, s, strlen(s), err);
}

static void check_gpus(struct boinc_sched_request *r)
{
	const struct boinc_sched_gpu *g;
	struct error err;

	error_clear(&err);
	TAP_IS(parse(r, gpus, &err), 0, "a request with GPUs parses");
	g = &r->gpus[BOINC_SCHED_GPU_NVIDIA];
	TAP_OK(g->count == 1 && g->have_opencl && g->req_secs == 8640.0 &&
		   g->peak_flops == 12740000000000.0 && g->global_mem == UINT64_C(12622168064),
	       "the NVIDIA GPU: 1, OpenCL, work wanted for it, its peak, its memory");
	g = &r->gpus[BOINC_SCHED_GPU_INTEL];
	TAP_OK(g->count == 1 && !g->have_opencl, "the Intel GPU: its OpenCL device is unavailable");
	g = &r->gpus[BOINC_SCHED_GPU_ATI];
	TAP_OK(g->count == 0 && !g->have_opencl && g->req_secs == 0, "no AMD GPU");
	TAP_OK(r->work_req_seconds == 0, "no CPU work wanted");

	TAP_IS(parse(r, first, &err), 0, "a request without <coprocs>");
	TAP_OK(r->gpus[BOINC_SCHED_GPU_NVIDIA].count == 0 &&
		   r->gpus[BOINC_SCHED_GPU_ATI].count == 0 &&
		   r->gpus[BOINC_SCHED_GPU_INTEL].count == 0,
	       "has no GPU");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_ati>"
		     "<count>2</count><have_opencl/></coproc_ati></coprocs></scheduler_request>",
		     &err),
	       0, "<have_opencl/> parses");
	TAP_OK(r->gpus[BOINC_SCHED_GPU_ATI].count == 2 && r->gpus[BOINC_SCHED_GPU_ATI].have_opencl,
	       "as true, as BOINC reads it");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_cuda>"
		     "<count>1</count><have_opencl>1</have_opencl><coproc_opencl><available>1"
		     "</available><opencl_device_version>OpenCL 1.1 CUDA</opencl_device_version>"
		     "</coproc_opencl></coproc_cuda></coprocs></scheduler_request>",
		     &err),
	       0, "a GPU with OpenCL 1.1 parses");
	TAP_OK(!r->gpus[BOINC_SCHED_GPU_NVIDIA].have_opencl,
	       "as without OpenCL: Agora's kernels need 1.2");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_cuda>"
		     "<count>1</count><have_opencl>1</have_opencl><coproc_opencl>"
		     "<opencl_device_version>OpenCL 2.0 x</opencl_device_version></coproc_opencl>"
		     "</coproc_cuda></coprocs></scheduler_request>",
		     &err),
	       0, "one with OpenCL 2.0 and no memory figure parses");
	TAP_OK(r->gpus[BOINC_SCHED_GPU_NVIDIA].have_opencl &&
		   r->gpus[BOINC_SCHED_GPU_NVIDIA].global_mem == 0,
	       "with OpenCL, memory unknown");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_cuda>"
		     "<count>65</count></coproc_cuda></coprocs></scheduler_request>",
		     &err),
	       ERROR_RANGE, "more GPUs than BOINC counts are refused");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_cuda>"
		     "<count>1</count><have_opencl>yes</have_opencl></coproc_cuda></coprocs>"
		     "</scheduler_request>",
		     &err),
	       ERROR_FORMAT, "a flag that is not 0 or 1 is refused");
	TAP_IS(parse(r,
		     "<scheduler_request><authenticator>a</authenticator><coprocs><coproc_cuda>"
		     "<req_secs>-1</req_secs></coproc_cuda></coprocs></scheduler_request>",
		     &err),
	       ERROR_RANGE, "negative GPU work is refused");

	TAP_IS(boinc_sched_plan_class_gpu("opencl_nvidia"), BOINC_SCHED_GPU_NVIDIA,
	       "opencl_nvidia is NVIDIA");
	TAP_IS(boinc_sched_plan_class_gpu("opencl_amd"), BOINC_SCHED_GPU_ATI, "opencl_amd is ATI");
	TAP_IS(boinc_sched_plan_class_gpu("opencl_intel_gpu"), BOINC_SCHED_GPU_INTEL,
	       "opencl_intel_gpu is intel_gpu");
	TAP_OK(boinc_sched_plan_class_gpu("") == -1 && boinc_sched_plan_class_gpu(NULL) == -1 &&
		   boinc_sched_plan_class_gpu("opencl_nvidia_101") == -1,
	       "the CPU and unknown classes have no GPU");
	TAP_OK(boinc_sched_plan_class_known("") && boinc_sched_plan_class_known("opencl_amd") &&
		   !boinc_sched_plan_class_known("cuda"),
	       "known plan classes");
	TAP_OK(strcmp(boinc_sched_gpu_type(BOINC_SCHED_GPU_ATI), "ATI") == 0 &&
		   strcmp(boinc_sched_gpu_type(BOINC_SCHED_GPU_INTEL), "intel_gpu") == 0,
	       "BOINC's coprocessor types");
}

/* The <app_version> of root that BOINC's client would pick for result n
 * (lookup_app_version(): platform, version and plan class equal). */
static const struct boinc_xml_node *version_of(const struct boinc_xml_node *root,
					       const struct boinc_xml_node *n)
{
	char p[64], pc[64], p2[64], pc2[64], v[16], v2[16];
	const struct boinc_xml_node *av;
	struct error err;

	if (boinc_xml_child_str(n, "platform", p, sizeof(p), &err) < 0 ||
	    boinc_xml_child_str(n, "version_num", v, sizeof(v), &err) < 0)
		return NULL;
	if (boinc_xml_child_str(n, "plan_class", pc, sizeof(pc), &err) < 0)
		pc[0] = '\0';
	for (av = boinc_xml_child(root, "app_version"); av; av = boinc_xml_next(av)) {
		if (boinc_xml_child_str(av, "platform", p2, sizeof(p2), &err) < 0 ||
		    boinc_xml_child_str(av, "version_num", v2, sizeof(v2), &err) < 0)
			continue;
		if (boinc_xml_child_str(av, "plan_class", pc2, sizeof(pc2), &err) < 0)
			pc2[0] = '\0';
		if (!strcmp(p, p2) && !strcmp(v, v2) && !strcmp(pc, pc2))
			return av;
	}
	return NULL;
}

static void task_init(struct boinc_sched_task *t, const char *wu, const char *res, size_t app)
{
	memset(t, 0, sizeof(*t));
	t->wu_name = wu;
	t->result_name = res;
	t->app = app;
	t->n_inputs = 2;
	t->inputs[0] = (struct boinc_sched_file){"agora_5_unit", "http://h/u", "aa", 10, NULL, 0};
	t->inputs[1] = (struct boinc_sched_file){"coord.pub", "http://h/k", "bb", 20, NULL, 0};
	t->open_names[0] = "agora_unit";
	t->open_names[1] = "agora_key";
	t->n_outputs = 1;
	t->out_names[0] = "agora_5_r9_env";
	t->out_open_names[0] = "agora_result_env";
	t->upload_url = "http://127.0.0.1:1/boinc/upload";
	t->max_out_bytes = 1 << 20;
	t->fpops_est = 1e12;
	t->memory_bound = 1e9;
	t->deadline = 1800000000;
}

static int count(const struct boinc_xml_node *n, const char *name)
{
	int k = 0;

	for (n = boinc_xml_child(n, name); n; n = boinc_xml_next(n))
		k++;
	return k;
}

static void check_gpu_reply(const struct boinc_xml_node *root)
{
	const struct boinc_xml_node *res = boinc_xml_child(root, "result"), *av, *cp;
	struct error err;
	char s[64];

	TAP_IS(count(root, "app"), 1, "one <app> for the two versions of one app");
	TAP_IS(count(root, "app_version"), 2, "two app versions");
	av = version_of(root, res);
	TAP_OK(av && boinc_xml_child_str(av, "plan_class", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "opencl_nvidia") == 0,
	       "the first result names the GPU version (platform, version, plan class)");
	cp = av ? boinc_xml_child(av, "coproc") : NULL;
	TAP_OK(cp && boinc_xml_child_str(cp, "type", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "NVIDIA") == 0,
	       "the GPU version asks for an NVIDIA GPU");
	TAP_OK(cp && boinc_xml_child_str(cp, "count", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "1") == 0,
	       "one GPU a task");
	TAP_OK(av && boinc_xml_child_str(av, "avg_ncpus", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "0.5") == 0,
	       "and half a CPU");
	av = version_of(root, boinc_xml_next(res));
	TAP_OK(av && !boinc_xml_child(av, "plan_class") && !boinc_xml_child(av, "coproc"),
	       "the second result names the CPU version, without plan class or coproc");
	TAP_OK(av && boinc_xml_child_str(av, "avg_ncpus", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "1") == 0,
	       "which takes one CPU");
}

static void check_reply(void)
{
	struct boinc_sched_app apps[2] = {
	    {.name = "agora",
	     .friendly_name = "Agora <training>",
	     .platform = "x86_64-pc-linux-gnu",
	     .version_num = 100,
	     .exe = {"agora-boinc_1.00", "http://127.0.0.1:1/boinc/download/agora-boinc_1.00",
		     "0123456789abcdef0123456789abcdef", 12345, "abcd\n.\n", 1}},
	    {.name = "agora",
	     .friendly_name = "Agora <training>",
	     .platform = "x86_64-pc-linux-gnu",
	     .version_num = 100,
	     .exe = {"agora-boinc_1.00__opencl_nvidia", "http://h/agora-boinc_1.00__opencl_nvidia",
		     "fedcba9876543210fedcba9876543210", 12345, "ef01\n.\n", 1},
	     .plan_class = "opencl_nvidia",
	     .gpu_type = "NVIDIA",
	     .avg_ncpus = 0.5,
	     .flops = 1e12}};
	struct boinc_sched_task t[2];
	const char *acks[] = {"agora_5_r9"};
	struct boinc_sched_reply r = {.project_name = "Agora & friends",
				      .master_url = "http://127.0.0.1:1/",
				      .hostid = 12,
				      .request_delay = 5.0,
				      .code_sign_key = "1024\nff\n.\n",
				      .apps = apps,
				      .n_apps = 1,
				      .tasks = t,
				      .n_tasks = 1,
				      .acks = acks,
				      .n_acks = 1};
	const struct boinc_xml_node *root, *n;
	struct boinc_xml *x = NULL;
	struct error err;
	char s[256], *xml = NULL;
	size_t len;
	int refs = 0;

	task_init(&t[0], "agora_5", "agora_5_r9", 0);
	error_clear(&err);
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), 0, "a reply is written");
	TAP_IS(boinc_xml_parse(&x, xml, len, NULL, &err), 0, "it is well-formed XML");
	root = boinc_xml_root(x);
	TAP_OK(root && strcmp(root->name, "scheduler_reply") == 0, "rooted at <scheduler_reply>");
	TAP_OK(boinc_xml_child_str(root, "project_name", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "Agora & friends") == 0,
	       "texts are escaped and read back");
	TAP_IS(count(root, "file_info"), 4, "file_info: executable, 2 inputs, 1 output");
	n = boinc_xml_child(root, "workunit");
	for (n = boinc_xml_child(n, "file_ref"); n; n = boinc_xml_next(n))
		refs++;
	TAP_IS(refs, 2, "the workunit names its 2 inputs");
	n = boinc_xml_child(root, "result");
	TAP_OK(boinc_xml_child_str(n, "wu_name", s, sizeof(s), &err) == 0 &&
		   strcmp(s, "agora_5") == 0,
	       "the result names its workunit");
	TAP_OK(version_of(root, n) != NULL, "and its app version");
	TAP_OK(!boinc_xml_child(n, "plan_class"), "a CPU task has no plan class");
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
	x = NULL;
	free(xml);

	r.n_apps = 2;
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), 0, "a reply with an unused version");
	TAP_OK(xml && !strstr(xml, "opencl_nvidia"), "leaves the version out");
	free(xml);
	task_init(&t[0], "agora_5", "agora_5_r9", 1);
	task_init(&t[1], "agora_6", "agora_6_r10", 0);
	r.n_tasks = 2;
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), 0, "a GPU and a CPU task");
	TAP_IS(boinc_xml_parse(&x, xml, len, NULL, &err), 0, "well-formed");
	if (x)
		check_gpu_reply(boinc_xml_root(x));
	boinc_xml_free(x);
	free(xml);

	t[1].app = 2;
	TAP_IS(boinc_sched_reply_write(&r, &xml, &len, &err), ERROR_INVALID,
	       "a task without an app version is refused");
	r.n_apps = 0;
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
	TAP_OK(r->n_alt_platforms == 1 && strcmp(r->alt_platforms[0], "i686-pc-linux-gnu") == 0,
	       "its alternative platform");
	TAP_OK(boinc_sched_platform_rank(r, "x86_64-pc-linux-gnu") == 0 &&
		   boinc_sched_platform_rank(r, "i686-pc-linux-gnu") == 1 &&
		   boinc_sched_platform_rank(r, "windows_x86_64") == -1,
	       "platform rank: its own 0, the alternative 1, another -1");
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

	check_gpus(r);
	check_reply();
	free(r);
	return tap_done();
}
