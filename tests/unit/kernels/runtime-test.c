/*
 * runtime-test.c - the OpenCL runtime: error names, device judging,
 * dedupe and selection on fake device descriptions, the embedded sources,
 * and the program cache (miss, hit, corrupted file) on a real device when
 * there is one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/runtime.h"
#include "tests/tap.h"
#include "tests/unit/kernels/cl-util.h" /* the LeakSanitizer suppressions */

static struct runtime_device_info fake(unsigned platform, const char *name, int gpu,
				       int pci_bus)
{
	struct runtime_device_info i;

	memset(&i, 0, sizeof(i));
	i.platform_index = platform;
	snprintf(i.name, sizeof(i.name), "%s", name);
	snprintf(i.version, sizeof(i.version), "OpenCL 3.0 fake");
	i.vendor_id = 0x10de;
	i.type = gpu ? RUNTIME_DEVICE_GPU : RUNTIME_DEVICE_CPU;
	i.compute_units = 64;
	i.global_mem = 8ull << 30;
	i.denormals = 1;
	i.fma = 1;
	if (pci_bus >= 0) {
		i.has_pci = 1;
		i.pci_bus = (unsigned)pci_bus;
	}
	runtime_judge(&i);
	return i;
}

static void test_errors(void)
{
	struct error err;

	TAP_OK(strcmp(runtime_cl_error_name(CL_BUILD_PROGRAM_FAILURE),
		      "CL_BUILD_PROGRAM_FAILURE") == 0,
	       "error name of CL_BUILD_PROGRAM_FAILURE");
	TAP_OK(strcmp(runtime_cl_error_name(CL_INVALID_WORK_GROUP_SIZE),
		      "CL_INVALID_WORK_GROUP_SIZE") == 0,
	       "error name of CL_INVALID_WORK_GROUP_SIZE");
	TAP_OK(strcmp(runtime_cl_error_name(-12345), "CL_UNKNOWN_ERROR") == 0,
	       "unknown error code");
	TAP_IS(runtime_cl_error(&err, "clBuildProgram", CL_BUILD_PROGRAM_FAILURE), ERROR_DEVICE,
	       "runtime_cl_error returns ERROR_DEVICE");
	TAP_OK(strcmp(err.msg, "clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE") == 0,
	       "one-line message names the call and the error");
}

static void test_judge(void)
{
	struct runtime_device_info i = fake(0, "gpu", 1, -1);

	TAP_OK(i.usable && i.reason[0] == '\0', "a device with denormals is usable");
	i.denormals = 0;
	runtime_judge(&i);
	TAP_OK(!i.usable && strstr(i.reason, "denormals"), "no denormals: refused with reason");
	i = fake(0, "nofma", 1, -1);
	i.fma = 0;
	runtime_judge(&i);
	TAP_OK(!i.usable && strstr(i.reason, "fma"), "no hardware fma: refused with reason");
	i = fake(0, "old", 1, -1);
	snprintf(i.version, sizeof(i.version), "OpenCL 1.1 old");
	runtime_judge(&i);
	TAP_OK(!i.usable && strstr(i.reason, "1.2"), "OpenCL 1.1: refused");
}

static void test_dedupe(void)
{
	struct runtime_device_info d[6];
	unsigned char keep[6];

	/* one GPU seen by two platforms with PCI info */
	d[0] = fake(0, "GeForce", 1, 3);
	d[1] = fake(1, "GeForce (other driver)", 1, 3);
	TAP_IS(runtime_dedupe(d, 2, keep), 1, "same PCI address on two platforms: one device");
	TAP_OK(keep[0] && !keep[1], "the first is kept");
	/* two identical cards, two platforms, no PCI info: stay two */
	d[0] = fake(0, "Radeon", 1, -1);
	d[1] = fake(0, "Radeon", 1, -1);
	d[2] = fake(1, "Radeon", 1, -1);
	d[3] = fake(1, "Radeon", 1, -1);
	TAP_IS(runtime_dedupe(d, 4, keep), 2, "two identical cards on two platforms: two");
	TAP_OK(keep[0] && keep[1] && !keep[2] && !keep[3], "the first platform's are kept");
	/* same name, different PCI address: different cards */
	d[0] = fake(0, "GeForce", 1, 3);
	d[1] = fake(1, "GeForce", 1, 4);
	TAP_IS(runtime_dedupe(d, 2, keep), 2, "different PCI addresses: two devices");
	/* the usable view wins */
	d[0] = fake(0, "GeForce", 1, 3);
	d[0].denormals = 0;
	runtime_judge(&d[0]);
	d[1] = fake(1, "GeForce", 1, 3);
	TAP_IS(runtime_dedupe(d, 2, keep), 1, "unusable and usable view: one device");
	TAP_OK(!keep[0] && keep[1], "the usable view is kept");
	/* a CPU and a GPU never merge */
	d[0] = fake(0, "cpu", 0, -1);
	d[1] = fake(1, "gpu", 1, -1);
	TAP_IS(runtime_dedupe(d, 2, keep), 2, "unrelated devices stay");
}

static void test_select(void)
{
	struct runtime_device devs[3];
	struct error err;

	memset(devs, 0, sizeof(devs));
	devs[0].info = fake(0, "pthread-Intel Xeon", 0, -1);
	devs[1].info = fake(1, "NVIDIA H100", 1, -1);
	devs[2].info = fake(1, "Broken GPU", 1, -1);
	devs[2].info.denormals = 0;
	runtime_judge(&devs[2].info);
	TAP_IS(runtime_select(devs, 3, NULL, &err), 1, "default prefers a usable GPU");
	TAP_IS(runtime_select(devs, 3, "0", &err), 0, "select by index");
	TAP_IS(runtime_select(devs, 3, "xeon", &err), 0, "select by case-insensitive name");
	TAP_IS(runtime_select(devs, 3, "h100", &err), 1, "select by substring");
	TAP_OK(runtime_select(devs, 3, "9", &err) < 0 && strstr(err.msg, "'9'"),
	       "an index past the end is an error");
	TAP_OK(runtime_select(devs, 3, "broken", &err) < 0 && strstr(err.msg, "not usable"),
	       "an unusable device is refused with its reason");
	TAP_OK(runtime_select(devs, 3, "radeon", &err) == ERROR_NOT_FOUND, "no match");
	TAP_IS(runtime_select(devs, 1, NULL, &err), 0, "no GPU: the first usable device");
}

static void test_sources(void)
{
	size_t i, n = runtime_source_count();
	int pragma = 1, bad = 0;

	TAP_OK(runtime_source("gemm") != NULL, "gemm.cl is compiled in");
	TAP_OK(runtime_source("nope") == NULL, "unknown program: NULL");
	for (i = 0; i < n; i++) {
		const char *t = runtime_source(runtime_source_name(i));

		pragma &= strstr(t, "#pragma OPENCL FP_CONTRACT OFF") != NULL;
		bad |= strstr(t, "native_") != NULL || strstr(t, "mad(") != NULL;
	}
	TAP_OK(pragma, "every program says FP_CONTRACT OFF");
	TAP_OK(!bad, "no native_* or mad() in any program");
}

/* Bytes of the "*.bin" files in dir. */
static unsigned long long cache_bytes(const char *dir)
{
	unsigned long long total = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	char p[600];

	while (d && (de = readdir(d)) != NULL) {
		if (!strstr(de->d_name, ".bin"))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (stat(p, &st) == 0)
			total += (unsigned long long)st.st_size;
	}
	if (d)
		closedir(d);
	return total;
}

/* The path of a "*.bin" file in dir other than `not` into out. */
static void bin_name(const char *dir, const char *not, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	out[0] = '\0';
	while (d && (de = readdir(d)) != NULL) {
		if (!strstr(de->d_name, ".bin"))
			continue;
		snprintf(out, size, "%s/%s", dir, de->d_name);
		if (strcmp(out, not) != 0)
			break;
		out[0] = '\0';
	}
	if (d)
		closedir(d);
}

static int corrupt(const char *dir)
{
	char cmd[700];

	/* overwrite bytes inside every cached binary */
	snprintf(cmd, sizeof(cmd),
		 "for f in '%s'/*.bin; do printf 'garbage' | dd of=\"$f\" bs=1 seek=100 "
		 "conv=notrunc 2>/dev/null; done",
		 dir);
	return system(cmd);
}

static void test_cache(void)
{
	struct runtime_device *devs = NULL;
	struct runtime *rt;
	struct error err;
	size_t n = 0;
	char dir[256], cmd[400];
	int i;

	error_clear(&err);
	if (runtime_devices(&devs, &n, &err) != 0 || n == 0 ||
	    (i = runtime_select(devs, n, getenv("AGORA_TEST_DEVICE"), &err)) < 0) {
		tap_skip("no OpenCL device");
		tap_ok(1, "program cache");
		free(devs);
		return;
	}
	for (size_t k = 0; k < n; k++)
		tap_diag("device %zu: %s, %s%s", k, devs[k].info.name,
			 devs[k].info.usable ? "usable" : "not usable: ",
			 devs[k].info.reason);
	if (tap_tmpdir(dir, sizeof(dir)) != 0) {
		tap_ok(0, "scratch directory");
		free(devs);
		return;
	}
	setenv("AGORA_KERNEL_CACHE", dir, 1);
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && runtime_program(rt, "gemm", &err), "cold build");
	TAP_OK(rt && rt->cache_misses == 1 && rt->cache_hits == 0, "cold build is a miss");
	TAP_OK(rt && runtime_program(rt, "gemm", &err) && rt->cache_misses == 1,
	       "second request reuses the built program");
	TAP_OK(rt && !runtime_program(rt, "nope", &err) && err.code == ERROR_NOT_FOUND,
	       "unknown program: not found");
	runtime_free(rt);
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && runtime_program(rt, "gemm", &err) && rt->cache_hits == 1 &&
		       rt->cache_misses == 0,
	       "a new runtime loads the cached binary");
	runtime_free(rt);
	corrupt(dir);
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && runtime_program(rt, "gemm", &err) && rt->cache_rejects == 1 &&
		       rt->cache_misses == 1,
	       "a corrupted cache file is rejected and rebuilt");
	runtime_free(rt);
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && runtime_program(rt, "gemm", &err) && rt->cache_hits == 1,
	       "the rebuilt binary was cached again");
	runtime_free(rt);
	snprintf(cmd, sizeof(cmd), "for f in '%s'/*.bin; do head -c 60 \"$f\" > \"$f.t\" && "
		 "mv \"$f.t\" \"$f\"; done", dir);
	if (system(cmd) != 0)
		tap_diag("cannot truncate the cache files");
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && runtime_program(rt, "gemm", &err) && rt->cache_rejects == 1 &&
		       rt->cache_misses == 1,
	       "a truncated cache file is rejected and rebuilt");
	runtime_free(rt);
	/* a cap that holds one program: writing a second evicts the first */
	setenv("AGORA_KERNEL_CACHE_MAX", "1", 1);
	rt = runtime_new(&devs[i], &err);
	TAP_OK(rt && rt->cache_max == 1, "AGORA_KERNEL_CACHE_MAX sets the cap");
	runtime_free(rt);
	unsetenv("AGORA_KERNEL_CACHE_MAX");
	{
		unsigned long long gemm_b = cache_bytes(dir), train_b;
		char cap[32], gemm_file[600], train_file[600];
		struct runtime *r2;

		bin_name(dir, "", gemm_file, sizeof(gemm_file));
		r2 = runtime_new(&devs[i], &err); /* uncapped: both cached */
		TAP_OK(r2 && runtime_program(r2, "train", &err), "build a second program");
		runtime_free(r2);
		train_b = cache_bytes(dir) - gemm_b;
		bin_name(dir, gemm_file, train_file, sizeof(train_file));
		unlink(train_file);
		snprintf(cap, sizeof(cap), "%llu", (train_b > gemm_b ? train_b : gemm_b) + 100);
		setenv("AGORA_KERNEL_CACHE_MAX", cap, 1);
		r2 = runtime_new(&devs[i], &err);
		TAP_OK(r2 && runtime_program(r2, "train", &err) && r2->cache_misses == 1,
		       "rebuild it under a cap that holds one program");
		runtime_free(r2);
		TAP_OK(access(gemm_file, F_OK) != 0 && access(train_file, F_OK) == 0,
		       "the least recently used binary was evicted, the new one kept");
		unsetenv("AGORA_KERNEL_CACHE_MAX");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove '%s'", dir);
	unsetenv("AGORA_KERNEL_CACHE");
	free(devs);
}

int main(void)
{
	test_errors();
	test_judge();
	test_dedupe();
	test_select();
	test_sources();
	test_cache();
	return tap_done();
}
