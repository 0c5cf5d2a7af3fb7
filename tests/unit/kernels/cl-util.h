/*
 * cl-util.h - shared helpers of the OpenCL kernel tests.
 *
 * cl_test_open() opens the device the runtime would pick by default (or
 * the one named by $AGORA_TEST_DEVICE) and calls tap_skip_all() when the
 * machine has no usable OpenCL device. Random inputs come from a small
 * seeded generator so every run tests the same values. Included once per
 * test program.
 */
#ifndef AGORA_TESTS_CL_UTIL_H
#define AGORA_TESTS_CL_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/runtime.h"
#include "tests/tap.h"

/* Under --enable-sanitizers: the OpenCL driver (PoCL and the LLVM it
 * compiles kernels with) keeps allocations until exit, which LeakSanitizer
 * reports. Suppress leaks whose stack passes through those libraries only;
 * leaks in Agora's own code are still reported. Unused without ASan. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libpocl\nleak:libLLVM\nleak:libOpenCL\nleak:libclang\n";
}

static inline struct runtime *cl_test_open(void)
{
	struct runtime_device *devs = NULL;
	struct runtime *rt;
	struct error err;
	size_t n = 0;
	int i;

	error_clear(&err);
	if (runtime_devices(&devs, &n, &err) != 0 || n == 0) {
		free(devs);
		tap_skip_all("no OpenCL device");
	}
	i = runtime_select(devs, n, getenv("AGORA_TEST_DEVICE"), &err);
	if (i < 0) {
		free(devs);
		tap_skip_all("no OpenCL device: %s", err.msg);
	}
	rt = runtime_new(&devs[i], &err);
	free(devs);
	if (!rt)
		tap_skip_all("no OpenCL device: %s", err.msg);
	tap_diag("device: %s (%s)", rt->dev.info.name, rt->dev.info.driver);
	return rt;
}

/* xorshift64*: deterministic test data. */
static inline uint32_t cl_test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (uint32_t)((*s * 2685821657736338717ull) >> 32);
}

/* Uniform in [-scale, scale), with some exact zeros and tiny values. */
static inline void cl_test_fill(float *x, size_t n, float scale, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		uint32_t r = cl_test_rand(&s);
		x[i] = ((float)(r >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * scale;
	}
}

static inline cl_mem cl_test_buffer(struct runtime *rt, const float *host, size_t n)
{
	cl_int rc;
	cl_mem m = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE | (host ? CL_MEM_COPY_HOST_PTR : 0),
				  (n ? n : 1) * sizeof(float), (void *)host, &rc);
	if (!m)
		tap_diag("clCreateBuffer failed: %s", runtime_cl_error_name(rc));
	return m;
}

static inline int cl_test_read(struct runtime *rt, cl_mem m, float *host, size_t n)
{
	cl_int rc = clEnqueueReadBuffer(rt->queue, m, CL_TRUE, 0, n * sizeof(float), host, 0,
					NULL, NULL);
	if (rc != CL_SUCCESS)
		tap_diag("clEnqueueReadBuffer failed: %s", runtime_cl_error_name(rc));
	return rc == CL_SUCCESS ? 0 : -1;
}

#endif
