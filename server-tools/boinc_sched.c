/*
 * boinc_sched.c - scheduler_request in, scheduler_reply out (see
 * boinc_sched.h). The reply is built in one growing buffer; every
 * caller-supplied text goes through boinc_xml_escape().
 */
#include "config.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server-tools/boinc_sched.h"
#include "server-tools/boinc_xml.h"

/* Scheduler replies are small: a few KiB a task. */
#define REPLY_MAX (16u << 20)

/* The GPU plan classes and what BOINC calls their vendor (lib/coproc.cpp:
 * the request's element, the <coproc> type). */
static const struct {
	const char *plan_class, *element, *type;
} sched_gpus[BOINC_SCHED_GPU_KINDS] = {
    [BOINC_SCHED_GPU_NVIDIA] = {"opencl_nvidia", "coproc_cuda", "NVIDIA"},
    [BOINC_SCHED_GPU_ATI] = {"opencl_amd", "coproc_ati", "ATI"},
    [BOINC_SCHED_GPU_INTEL] = {"opencl_intel_gpu", "coproc_intel_gpu", "intel_gpu"},
};

int boinc_sched_platform_rank(const struct boinc_sched_request *r, const char *platform)
{
	if (r->platform[0] && strcmp(r->platform, platform) == 0)
		return 0;
	for (size_t i = 0; i < r->n_alt_platforms; i++)
		if (strcmp(r->alt_platforms[i], platform) == 0)
			return (int)i + 1;
	return -1;
}

int boinc_sched_plan_class_gpu(const char *plan_class)
{
	for (int k = 0; plan_class && k < BOINC_SCHED_GPU_KINDS; k++)
		if (strcmp(plan_class, sched_gpus[k].plan_class) == 0)
			return k;
	return -1;
}

int boinc_sched_plan_class_known(const char *plan_class)
{
	return !plan_class || !plan_class[0] || boinc_sched_plan_class_gpu(plan_class) >= 0;
}

const char *boinc_sched_gpu_type(enum boinc_sched_gpu_kind kind)
{
	assert(kind >= 0 && kind < BOINC_SCHED_GPU_KINDS);
	return sched_gpus[kind].type;
}

#define APP_PREFIX "agora-boinc: "

/* The last line of stderr_out that agora-boinc wrote (APP_PREFIX) into
 * out; BOINC's runtime writes its own lines around it. */
static void reported_message(char *out, size_t size, const struct boinc_xml_node *n)
{
	const char *text = n ? n->text : NULL, *line = NULL, *p;
	size_t len = 0, i;

	out[0] = '\0';
	for (p = text; p && *p;) {
		const char *end = strchr(p, '\n');
		size_t l = end ? (size_t)(end - p) : strlen(p);

		if (l >= strlen(APP_PREFIX) && memcmp(p, APP_PREFIX, strlen(APP_PREFIX)) == 0) {
			line = p;
			len = l;
		}
		p += l + (end != NULL);
	}
	if (!line)
		return;
	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++)
		out[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? '?' : line[i];
	out[len] = '\0';
}

static int reported_parse(struct boinc_sched_reported *out, const struct boinc_xml_node *n,
			  struct error *err)
{
	int ret;

	if ((ret = boinc_xml_child_str(n, "name", out->name, sizeof(out->name), err)) < 0)
		return ret;
	if (!out->name[0])
		return error_set(err, ERROR_MISSING, "a reported task without a name");
	out->exit_status = 0;
	out->state = 0;
	ret = boinc_xml_child_i64(n, "exit_status", INT32_MIN, INT32_MAX, &out->exit_status, err);
	if (ret < 0 && ret != ERROR_MISSING)
		return ret;
	ret = boinc_xml_child_i64(n, "state", 0, 100, &out->state, err);
	if (ret < 0 && ret != ERROR_MISSING)
		return ret;
	reported_message(out->message, sizeof(out->message), boinc_xml_child(n, "stderr_out"));
	return 0;
}

/* An optional integer child: absent leaves *v alone. */
static int opt_i64(const struct boinc_xml_node *n, const char *name, int64_t lo, int64_t hi,
		   int64_t *v, struct error *err)
{
	int ret = boinc_xml_child_i64(n, name, lo, hi, v, err);

	return ret == ERROR_MISSING ? 0 : ret;
}

/* An optional number child: absent leaves *v alone. */
static int opt_double(const struct boinc_xml_node *n, const char *name, double lo, double hi,
		      double *v, struct error *err)
{
	int ret = boinc_xml_child_double(n, name, lo, hi, v, err);

	return ret == ERROR_MISSING ? 0 : ret;
}

/* An optional flag as BOINC writes it: <x>0</x>, <x>1</x> or <x/>
 * (true); absent is false. */
static int opt_bool(const struct boinc_xml_node *n, const char *name, int *v, struct error *err)
{
	const struct boinc_xml_node *c = boinc_xml_child(n, name);
	int64_t i = 1;
	int ret;

	*v = 0;
	if (!c)
		return 0;
	if (c->text[strspn(c->text, " \t\r\n")] &&
	    (ret = boinc_xml_child_i64(n, name, 0, 1, &i, err)) < 0)
		return ret;
	*v = i != 0;
	return 0;
}

/* Whether an OpenCL version string ("OpenCL 3.0 CUDA", "OpenCL 1.1")
 * is 1.2 or newer, as Agora's kernels need (kernels/runtime.c); an
 * absent or unreadable one is not held against the device. */
static int opencl_12(const char *v)
{
	const char *p = strncmp(v, "OpenCL ", 7) == 0 ? v + 7 : NULL;

	if (!p || p[0] < '0' || p[0] > '9' || p[1] != '.' || p[2] < '0' || p[2] > '9')
		return 1;
	return p[0] > '1' || p[2] >= '2';
}

/* One vendor's element in <coprocs> (BOINC's COPROC_NVIDIA::write_xml()
 * and its siblings): count, have_opencl, req_secs, peak_flops and, when
 * OpenCL drives them, <coproc_opencl> with the device's <available>,
 * <global_mem_size> and <opencl_device_version>. */
static int gpu_parse(struct boinc_sched_gpu *g, const struct boinc_xml_node *n, struct error *err)
{
	const struct boinc_xml_node *cl;
	char version[64] = "";
	int64_t avail = 1, mem = 0;
	int ret;

	if ((ret = opt_i64(n, "count", 0, BOINC_SCHED_GPU_COUNT_MAX, &g->count, err)) < 0 ||
	    (ret = opt_bool(n, "have_opencl", &g->have_opencl, err)) < 0 ||
	    (ret = opt_double(n, "req_secs", 0, 1e9, &g->req_secs, err)) < 0 ||
	    (ret = opt_double(n, "peak_flops", 0, 1e20, &g->peak_flops, err)) < 0)
		return ret;
	cl = boinc_xml_child(n, "coproc_opencl");
	if (cl && ((ret = opt_i64(cl, "available", 0, 1, &avail, err)) < 0 ||
		   (ret = opt_i64(cl, "global_mem_size", 0, INT64_MAX, &mem, err)) < 0))
		return ret;
	if (cl) {
		ret =
		    boinc_xml_child_str(cl, "opencl_device_version", version, sizeof(version), err);
		if (ret < 0 && ret != ERROR_MISSING && ret != ERROR_TOO_BIG)
			return ret;
		if (ret < 0)
			version[0] = '\0'; /* none, or one too long to read: unknown */
	}
	g->global_mem = (uint64_t)mem;
	if (!avail || !opencl_12(version))
		g->have_opencl = 0;
	return 0;
}

static int gpus_parse(struct boinc_sched_request *r, const struct boinc_xml_node *root,
		      struct error *err)
{
	const struct boinc_xml_node *cps = boinc_xml_child(root, "coprocs"), *n;
	int ret;

	for (int k = 0; cps && k < BOINC_SCHED_GPU_KINDS; k++) {
		n = boinc_xml_child(cps, sched_gpus[k].element);
		if (n && (ret = gpu_parse(&r->gpus[k], n, err)) < 0)
			return ret;
	}
	return 0;
}

int boinc_sched_request_parse(struct boinc_sched_request *r, const void *xml, size_t len,
			      struct error *err)
{
	struct boinc_xml_caps caps = boinc_xml_default_caps;
	const struct boinc_xml_node *root, *n;
	struct boinc_xml *x = NULL;
	int ret;

	memset(r, 0, sizeof(*r));
	caps.max_bytes = BOINC_SCHED_REQUEST_MAX;
	if ((ret = boinc_xml_parse(&x, xml, len, &caps, err)) < 0)
		return ret;
	root = boinc_xml_root(x);
	if (strcmp(root->name, "scheduler_request") != 0) {
		ret = error_set(err, ERROR_FORMAT, "not a scheduler request: <%s>", root->name);
		goto out;
	}
	if ((ret = boinc_xml_child_str(root, "authenticator", r->authenticator,
				       sizeof(r->authenticator), err)) < 0)
		goto out;
	if (!r->authenticator[0]) {
		ret = error_set(err, ERROR_MISSING, "an empty authenticator");
		goto out;
	}
	if ((ret = opt_i64(root, "hostid", 0, INT32_MAX, &r->hostid, err)) < 0 ||
	    (ret = opt_i64(root, "core_client_major_version", 0, 1000, &r->core_major, err)) < 0 ||
	    (ret = opt_i64(root, "core_client_minor_version", 0, 1000, &r->core_minor, err)) < 0)
		goto out;
	ret = boinc_xml_child_str(root, "platform_name", r->platform, sizeof(r->platform), err);
	if (ret < 0 && ret != ERROR_MISSING)
		goto out;
	for (n = boinc_xml_child(root, "alt_platform");
	     n && r->n_alt_platforms < BOINC_SCHED_ALT_PLATFORMS_MAX; n = boinc_xml_next(n)) {
		char *alt = r->alt_platforms[r->n_alt_platforms];

		ret = boinc_xml_child_str(n, "name", alt, BOINC_SCHED_PLATFORM_MAX + 1, err);
		if (ret < 0 && ret != ERROR_MISSING)
			goto out;
		if (ret == 0 && alt[0])
			r->n_alt_platforms++;
	}
	ret = boinc_xml_child_double(root, "work_req_seconds", 0, 1e9, &r->work_req_seconds, err);
	if (ret < 0 && ret != ERROR_MISSING)
		goto out;
	if ((ret = gpus_parse(r, root, err)) < 0)
		goto out;
	r->has_code_sign_key = boinc_xml_child(root, "code_sign_key") != NULL;
	for (n = boinc_xml_child(root, "result"); n; n = boinc_xml_next(n)) {
		if (r->n_reported == BOINC_SCHED_REPORTED_MAX) {
			ret = error_set(err, ERROR_TOO_BIG, "more than %d reported tasks",
					BOINC_SCHED_REPORTED_MAX);
			goto out;
		}
		if ((ret = reported_parse(&r->reported[r->n_reported], n, err)) < 0)
			goto out;
		r->n_reported++;
	}
out:
	boinc_xml_free(x);
	return ret;
}

/* ---- the reply ---- */

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void out_grow(struct out *o, size_t need)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *b;

	while (cap < o->len + need + 1)
		cap *= 2;
	if (cap > REPLY_MAX || !(b = realloc(o->buf, cap))) {
		o->failed = 1;
		return;
	}
	o->buf = b;
	o->cap = cap;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (out_grow(o, (size_t)n), o->failed))
		return;
	va_start(ap, fmt);
	vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	o->len += (size_t)n;
}

/* <tag>escaped text</tag> on its own line, indented by ind spaces. */
static void out_elem(struct out *o, int ind, const char *tag, const char *text)
{
	size_t need = strlen(text) * 6 + 1;
	long n;

	if (o->failed)
		return;
	out_printf(o, "%*s<%s>", ind, "", tag);
	out_grow(o, need);
	if (o->failed)
		return;
	n = boinc_xml_escape(o->buf + o->len, o->cap - o->len, text);
	if (n < 0) {
		o->failed = 1;
		return;
	}
	o->len += (size_t)n;
	out_printf(o, "</%s>\n", tag);
}

static void out_file(struct out *o, const struct boinc_sched_file *f)
{
	out_printf(o, "<file_info>\n");
	out_elem(o, 4, "name", f->name);
	out_elem(o, 4, "url", f->url);
	out_elem(o, 4, "md5_cksum", f->md5);
	out_printf(o, "    <nbytes>%llu</nbytes>\n", (unsigned long long)f->nbytes);
	if (f->executable)
		out_printf(o, "    <executable/>\n");
	if (f->signature)
		out_elem(o, 4, "file_signature", f->signature);
	out_printf(o, "</file_info>\n");
}

static void out_app_version(struct out *o, const struct boinc_sched_app *a)
{
	out_file(o, &a->exe);
	out_printf(o, "<app_version>\n");
	out_elem(o, 4, "app_name", a->name);
	out_printf(o, "    <version_num>%d</version_num>\n", a->version_num);
	out_elem(o, 4, "platform", a->platform);
	if (a->plan_class && a->plan_class[0])
		out_elem(o, 4, "plan_class", a->plan_class);
	out_printf(o, "    <avg_ncpus>%.17g</avg_ncpus>\n    <flops>%.17g</flops>\n",
		   a->avg_ncpus > 0 ? a->avg_ncpus : 1.0, a->flops > 0 ? a->flops : 1e9);
	if (a->gpu_type) {
		/* BOINC's client schedules the task on one GPU of this type
		 * and writes gpu_type and gpu_opencl_dev_index into the
		 * app's init_data.xml */
		out_printf(o, "    <coproc>\n");
		out_elem(o, 8, "type", a->gpu_type);
		out_printf(o, "        <count>1</count>\n    </coproc>\n");
	}
	out_printf(o, "    <file_ref>\n");
	out_elem(o, 8, "file_name", a->exe.name);
	out_printf(o, "        <main_program/>\n    </file_ref>\n</app_version>\n");
}

/* Whether a task of r uses app version i. */
static int app_used(const struct boinc_sched_reply *r, size_t i)
{
	for (size_t t = 0; t < r->n_tasks; t++)
		if (r->tasks[t].app == i)
			return 1;
	return 0;
}

/* One <app> per app name, then every app version a task uses. */
static void out_apps(struct out *o, const struct boinc_sched_reply *r)
{
	size_t i, j;

	for (i = 0; i < r->n_apps; i++) {
		if (!app_used(r, i))
			continue;
		for (j = 0; j < i; j++)
			if (app_used(r, j) && strcmp(r->apps[j].name, r->apps[i].name) == 0)
				break;
		if (j < i)
			continue;
		out_printf(o, "<app>\n");
		out_elem(o, 4, "name", r->apps[i].name);
		out_elem(o, 4, "user_friendly_name", r->apps[i].friendly_name);
		out_printf(o, "</app>\n");
	}
	for (i = 0; i < r->n_apps; i++)
		if (app_used(r, i))
			out_app_version(o, &r->apps[i]);
}

static void out_file_ref(struct out *o, const char *name, const char *open_name)
{
	out_printf(o, "    <file_ref>\n");
	out_elem(o, 8, "file_name", name);
	out_elem(o, 8, "open_name", open_name);
	out_printf(o, "    </file_ref>\n");
}

static void out_task(struct out *o, const struct boinc_sched_app *a,
		     const struct boinc_sched_task *t)
{
	size_t i;

	for (i = 0; i < t->n_inputs; i++)
		out_file(o, &t->inputs[i]);
	for (i = 0; i < t->n_outputs; i++) {
		out_printf(o, "<file_info>\n");
		out_elem(o, 4, "name", t->out_names[i]);
		out_printf(o, "    <generated_locally/>\n    <upload_when_present/>\n");
		out_printf(o, "    <max_nbytes>%llu</max_nbytes>\n",
			   (unsigned long long)t->max_out_bytes);
		out_elem(o, 4, "url", t->upload_url);
		out_printf(o, "</file_info>\n");
	}
	out_printf(o, "<workunit>\n");
	out_elem(o, 4, "name", t->wu_name);
	out_elem(o, 4, "app_name", a->name);
	out_printf(o, "    <version_num>%d</version_num>\n", a->version_num);
	out_printf(o, "    <rsc_fpops_est>%.17g</rsc_fpops_est>\n", t->fpops_est);
	out_printf(o, "    <rsc_fpops_bound>%.17g</rsc_fpops_bound>\n", t->fpops_est * 100);
	out_printf(o, "    <rsc_memory_bound>%.17g</rsc_memory_bound>\n", t->memory_bound);
	out_printf(o, "    <rsc_disk_bound>%.17g</rsc_disk_bound>\n", 4e9);
	for (i = 0; i < t->n_inputs; i++)
		out_file_ref(o, t->inputs[i].name, t->open_names[i]);
	out_printf(o, "</workunit>\n<result>\n");
	out_elem(o, 4, "name", t->result_name);
	out_elem(o, 4, "wu_name", t->wu_name);
	out_elem(o, 4, "platform", a->platform);
	out_printf(o, "    <version_num>%d</version_num>\n", a->version_num);
	/* platform, version and plan class pick the app version (BOINC's
	 * lookup_app_version()) */
	if (a->plan_class && a->plan_class[0])
		out_elem(o, 4, "plan_class", a->plan_class);
	out_printf(o, "    <report_deadline>%lld</report_deadline>\n", (long long)t->deadline);
	for (i = 0; i < t->n_outputs; i++)
		out_file_ref(o, t->out_names[i], t->out_open_names[i]);
	out_printf(o, "</result>\n");
}

int boinc_sched_reply_write(const struct boinc_sched_reply *r, char **out, size_t *len,
			    struct error *err)
{
	struct out o = {NULL, 0, 0, 0};
	size_t i;

	*out = NULL;
	*len = 0;
	for (i = 0; i < r->n_tasks; i++)
		if (r->tasks[i].app >= r->n_apps)
			return error_set(err, ERROR_INVALID, "task %zu names no app version", i);
	out_printf(&o, "<scheduler_reply>\n<scheduler_version>713</scheduler_version>\n");
	out_elem(&o, 0, "project_name", r->project_name);
	out_elem(&o, 0, "master_url", r->master_url);
	if (r->hostid > 0)
		out_printf(&o, "<hostid>%lld</hostid>\n", (long long)r->hostid);
	out_printf(&o, "<request_delay>%.3f</request_delay>\n", r->request_delay);
	if (r->message)
		out_elem(&o, 0, "message", r->message);
	if (r->code_sign_key)
		out_elem(&o, 0, "code_sign_key", r->code_sign_key);
	out_apps(&o, r);
	for (i = 0; i < r->n_tasks; i++)
		out_task(&o, &r->apps[r->tasks[i].app], &r->tasks[i]);
	for (i = 0; i < r->n_acks; i++) {
		out_printf(&o, "<result_ack>\n");
		out_elem(&o, 4, "name", r->acks[i]);
		out_printf(&o, "</result_ack>\n");
	}
	out_printf(&o, "</scheduler_reply>\n");
	if (o.failed) {
		free(o.buf);
		return error_set(err, ERROR_TOO_BIG,
				 "scheduler reply over %u bytes or out of memory", REPLY_MAX);
	}
	*out = o.buf;
	*len = o.len;
	return 0;
}
