/*
 * boinc-appver-test.c - the published app versions (STATE/boinc/app/
 * current): a single-line file from before GPU versions reads as the CPU
 * version; a CPU and a GPU line read with their plan classes; a publish
 * replaces the line of its own platform and plan class and keeps the
 * others (another platform's line of the same plan class included); the
 * text written reads back the same; unknown plan classes, a platform and
 * plan class twice, bad fields, oversized lines and a full list are
 * refused with a reason.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "server-tools/boinc_appver.h"
#include "tests/tap.h"

#define MD5A "0123456789abcdef0123456789abcdef"
#define MD5B "fedcba9876543210fedcba9876543210"

static int parse(struct boinc_appver_list *l, const char *s, struct error *err)
{
	return boinc_appver_parse(l, s, strlen(s), err);
}

static void check_refused(void)
{
	struct boinc_appver_list l;
	struct error err;
	char big[700];

	error_clear(&err);
	TAP_IS(parse(&l, "agora-boinc_1_x 1 x " MD5A " 5 cuda\n", &err), ERROR_INVALID,
	       "an unknown plan class is refused");
	TAP_OK(strstr(err.msg, "cuda") && strstr(err.msg, "line 1"), "named: %s", err.msg);
	TAP_IS(parse(&l,
		     "a 1 x " MD5A " 5 opencl_amd\n"
		     "b 2 x " MD5B " 6 opencl_amd\n",
		     &err),
	       ERROR_DUPLICATE, "a plan class twice (one platform) is refused");
	TAP_OK(strstr(err.msg, "line 2") && strstr(err.msg, "opencl_amd"), "named: %s", err.msg);
	TAP_IS(parse(&l,
		     "a 1 x " MD5A " 5 opencl_amd\n"
		     "b 2 y " MD5B " 6 opencl_amd\n",
		     &err),
	       0, "the same plan class on two platforms is not");
	TAP_IS(parse(&l, "a 1 x " MD5A " 5\nb 2 x " MD5B " 6\n", &err), ERROR_DUPLICATE,
	       "two CPU versions are refused");
	TAP_IS(parse(&l, "a 1 x " MD5A "\n", &err), ERROR_FORMAT, "four fields are refused");
	TAP_IS(parse(&l, "a 1 x " MD5A " 5 opencl_amd extra\n", &err), ERROR_FORMAT,
	       "seven fields are refused");
	TAP_IS(parse(&l, "a -1 x " MD5A " 5\n", &err), ERROR_FORMAT,
	       "a negative version is refused");
	TAP_IS(parse(&l, "a 1 x " MD5A " 5x\n", &err), ERROR_FORMAT, "a bad size is refused");
	TAP_IS(parse(&l, "a 1 x 0123 5\n", &err), ERROR_FORMAT, "a short md5 is refused");
	TAP_IS(parse(&l, "../a 1 x " MD5A " 5\n", &err), ERROR_FORMAT,
	       "a file name with a slash is refused");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	TAP_IS(parse(&l, big, &err), ERROR_FORMAT, "an overlong line is refused");
}

int main(void)
{
	struct boinc_appver_list l, l2;
	struct boinc_appver v;
	const struct boinc_appver *f;
	struct error err;
	char text[BOINC_APPVER_FILE_MAX];
	long n;

	error_clear(&err);
	TAP_IS(parse(&l,
		     "agora-boinc_100_x86_64-pc-linux-gnu 100 x86_64-pc-linux-gnu " MD5A " 1234\n",
		     &err),
	       0, "an old single-line file parses");
	f = boinc_appver_find(&l, NULL, "");
	TAP_OK(l.n == 1 && f && f->version_num == 100 && f->nbytes == 1234 &&
		   strcmp(f->platform, "x86_64-pc-linux-gnu") == 0 && strcmp(f->md5, MD5A) == 0,
	       "as the CPU version");
	TAP_OK(boinc_appver_find(&l, NULL, NULL) == f &&
		   !boinc_appver_find(&l, NULL, "opencl_nvidia"),
	       "NULL finds the CPU version; no GPU version");

	TAP_IS(
	    parse(&l,
		  "\n"
		  "agora-boinc_100_x86_64-pc-linux-gnu 100 x86_64-pc-linux-gnu " MD5A " 1234\n"
		  "agora-boinc_101_x86_64-pc-linux-gnu__opencl_nvidia 101 x86_64-pc-linux-gnu " MD5B
		  " 99 opencl_nvidia",
		  &err),
	    0, "a CPU and a GPU line (blank line, no final newline) parse");
	f = boinc_appver_find(&l, NULL, "opencl_nvidia");
	TAP_OK(l.n == 2 && f && f->version_num == 101 && f->nbytes == 99,
	       "the GPU version with its plan class");

	memset(&v, 0, sizeof(v));
	snprintf(v.name, sizeof(v.name), "agora-boinc_102_x86_64-pc-linux-gnu__opencl_nvidia");
	v.version_num = 102;
	snprintf(v.platform, sizeof(v.platform), "x86_64-pc-linux-gnu");
	snprintf(v.md5, sizeof(v.md5), MD5A);
	v.nbytes = 7;
	snprintf(v.plan_class, sizeof(v.plan_class), "opencl_nvidia");
	TAP_IS(boinc_appver_put(&l, &v, &err), 0, "a new NVIDIA version is put");
	f = boinc_appver_find(&l, NULL, "opencl_nvidia");
	TAP_OK(l.n == 2 && f && f->version_num == 102 &&
		   boinc_appver_find(&l, NULL, "")->version_num == 100,
	       "it replaces the NVIDIA line and keeps the CPU line");
	snprintf(v.plan_class, sizeof(v.plan_class), "opencl_intel_gpu");
	TAP_IS(boinc_appver_put(&l, &v, &err), 0, "an Intel version is put");
	TAP_IS(l.n, 3, "beside the other two");
	snprintf(v.plan_class, sizeof(v.plan_class), "opencl_nvidia_101");
	TAP_IS(boinc_appver_put(&l, &v, &err), ERROR_INVALID, "an unknown plan class is not put");
	TAP_IS(l.n, 3, "and changes nothing");

	n = boinc_appver_format(&l, text, sizeof(text));
	TAP_OK(n > 0 && (size_t)n == strlen(text), "the list is written (%ld bytes)", n);
	TAP_IS(boinc_appver_parse(&l2, text, (size_t)n, &err), 0, "and reads back");
	TAP_OK(l2.n == 3 && memcmp(&l, &l2, sizeof(l)) == 0, "the same");
	TAP_OK(strstr(text, " 1234\n") && strstr(text, " opencl_intel_gpu\n"),
	       "the CPU line has no plan class field, GPU lines end with theirs");
	TAP_IS(boinc_appver_format(&l, text, 20), ERROR_TOO_BIG, "a small buffer is refused");

	snprintf(v.name, sizeof(v.name), "agora-boinc_102_windows_x86_64.exe");
	snprintf(v.platform, sizeof(v.platform), "windows_x86_64");
	v.plan_class[0] = '\0';
	TAP_IS(boinc_appver_put(&l, &v, &err), 0, "a Windows CPU version is put");
	f = boinc_appver_find(&l, "windows_x86_64", "");
	TAP_OK(l.n == 4 && f && strcmp(f->name, "agora-boinc_102_windows_x86_64.exe") == 0 &&
		   boinc_appver_find(&l, "x86_64-pc-linux-gnu", "")->version_num == 100,
	       "beside the Linux CPU version, each found by its platform");
	TAP_OK(!boinc_appver_find(&l, "windows_x86_64", "opencl_nvidia"), "no Windows GPU version");
	n = boinc_appver_format(&l, text, sizeof(text));
	TAP_OK(n > 0 && boinc_appver_parse(&l2, text, (size_t)n, &err) == 0 && l2.n == 4,
	       "four versions on two platforms read back");
	while (l.n < BOINC_APPVER_MAX) {
		snprintf(v.platform, sizeof(v.platform), "p%zu", l.n);
		if (boinc_appver_put(&l, &v, &err) < 0)
			break;
	}
	TAP_IS(l.n, BOINC_APPVER_MAX, "the list fills up to BOINC_APPVER_MAX");
	snprintf(v.platform, sizeof(v.platform), "one-too-many");
	TAP_IS(boinc_appver_put(&l, &v, &err), ERROR_TOO_BIG, "then another platform is refused");
	n = boinc_appver_format(&l, text, sizeof(text));
	TAP_OK(n > 0 && boinc_appver_parse(&l2, text, (size_t)n, &err) == 0 &&
		   l2.n == BOINC_APPVER_MAX,
	       "a full list fits the file and reads back (%ld bytes)", n);

	check_refused();
	return tap_done();
}
