/*
 * runtime.h - the OpenCL host runtime: devices, contexts, programs.
 *
 * runtime_devices() enumerates every OpenCL platform and device, drops the
 * second view of a physical device that two platforms expose (see
 * runtime_dedupe()), and marks each device usable or not for Agora's
 * determinism contract with a reason. runtime_new() opens a context and an
 * in-order queue on one device; runtime_program() returns a built program
 * for one of the kernel sources compiled into the binary (the .cl files in kernels/cl/,
 * with their #includes inlined at build time), through an on-disk cache of
 * program binaries keyed by device, driver, build options and source hash.
 *
 * Every OpenCL failure becomes a one-line message naming the call and the
 * error: "clBuildProgram failed: CL_BUILD_PROGRAM_FAILURE".
 */
#ifndef AGORA_KERNELS_RUNTIME_H
#define AGORA_KERNELS_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Options every program is built with. Never -cl-mad-enable,
 * -cl-fast-relaxed-math or -cl-unsafe-math-optimizations. */
#define RUNTIME_BUILD_OPTIONS "-cl-std=CL1.2"
/* Cached program binaries larger than this are neither read nor written. */
#define RUNTIME_CACHE_FILE_MAX (64u << 20)
/* The cache directory's "*.bin" files are kept under this many bytes:
 * writing a new one first deletes the least recently used. */
#define RUNTIME_CACHE_DIR_MAX (512u << 20)

enum runtime_device_type {
	RUNTIME_DEVICE_OTHER = 0,
	RUNTIME_DEVICE_CPU,
	RUNTIME_DEVICE_GPU,
	RUNTIME_DEVICE_ACCELERATOR,
};

/* What Agora knows about one device: plain data, so that the dedupe and
 * selection rules are pure functions testable with fake descriptions. */
struct runtime_device_info {
	char name[128];
	char vendor[128];
	char platform[128];
	char driver[64];  /* CL_DRIVER_VERSION */
	char version[128]; /* CL_DEVICE_VERSION */
	unsigned platform_index;
	unsigned vendor_id;
	enum runtime_device_type type;
	unsigned compute_units;
	uint64_t global_mem;
	size_t max_work_group;
	unsigned native_float; /* CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT: SIMD lanes */
	int has_pci; /* cl_khr_pci_bus_info answered */
	unsigned pci_domain, pci_bus, pci_device, pci_function;
	int denormals; /* CL_FP_DENORM in CL_DEVICE_SINGLE_FP_CONFIG */
	int fma;       /* CL_FP_FMA: hardware fused multiply-add */
	int usable;
	char reason[128]; /* why not usable; "" when usable */
};

/* One listed device: its description and its OpenCL handles. */
struct runtime_device {
	struct runtime_device_info info;
	cl_platform_id platform;
	cl_device_id id;
};

/* The name of an OpenCL error code ("CL_OUT_OF_RESOURCES"); unknown codes
 * give "CL_UNKNOWN_ERROR". Never NULL. */
const char *runtime_cl_error_name(cl_int code);

/* Sets err to "<call> failed: <CL_NAME>" and returns ERROR_DEVICE. */
int runtime_cl_error(struct error *err, const char *call, cl_int code);

/* Decides usability from the capabilities in info: fills usable and
 * reason. Usable means: fp32 denormals (CL_FP_DENORM), hardware fp32 fma
 * (CL_FP_FMA), OpenCL 1.2 or later, available, with a compiler. Pure. */
void runtime_judge(struct runtime_device_info *info);

/*
 * Dedupe rule (pure): two entries describe the same physical device when
 * they come from different platforms and either both report a PCI bus
 * address (cl_khr_pci_bus_info) and the addresses are equal, or at least
 * one lacks it and vendor id, name, global memory and compute units are all
 * equal. Matching pairs one-to-one, in listing order, so two identical
 * cards seen by two platforms stay two devices. Of a pair the usable entry
 * is kept, else the earlier one. keep[i] is set to 1 or 0; returns the
 * number kept.
 */
size_t runtime_dedupe(const struct runtime_device_info *infos, size_t n,
		      unsigned char *keep);

/* Picks a device: spec NULL or "" prefers the first usable GPU, then the
 * first usable device of any type; a spec of digits is an index into the
 * list; anything else is a case-insensitive substring of the name. Returns
 * the index, or a negative code with a message (no match, or unusable). */
int runtime_select(const struct runtime_device *devs, size_t n, const char *spec,
		   struct error *err);

/* Enumerates all platforms and devices, deduped. On success *devs is a
 * malloc'd array the caller frees with free() and *n its length (may be
 * 0). A machine without an OpenCL platform gives 0 devices, not an error. */
int runtime_devices(struct runtime_device **devs, size_t *n, struct error *err);

/* An open device: context, one in-order queue, built-program cache. */
struct runtime {
	struct runtime_device dev;
	cl_context ctx;
	cl_command_queue queue;
	char cache_dir[512]; /* "" disables the on-disk cache */
	uint64_t cache_max;  /* bytes of "*.bin" kept; RUNTIME_CACHE_DIR_MAX or
				$AGORA_KERNEL_CACHE_MAX when smaller */
	/* Counters of runtime_program() for tests and logs. */
	unsigned cache_hits, cache_misses, cache_rejects;
	struct runtime_program_slot *programs; /* built programs, by name */
};

/* Opens dev (copied). The cache directory is $AGORA_KERNEL_CACHE, else
 * $XDG_CACHE_HOME/agora/kernels, else $HOME/.cache/agora/kernels; the
 * value "off" disables it. Returns NULL with err set on failure. */
struct runtime *runtime_new(const struct runtime_device *dev, struct error *err);
void runtime_free(struct runtime *rt);

/* Returns the built program for the embedded source `name` (the .cl file's
 * base name without extension, e.g. "gemm"), building it at most once per
 * runtime; the runtime owns it. A build failure puts the build log on
 * stderr and returns NULL with err set. */
cl_program runtime_program(struct runtime *rt, const char *name, struct error *err);

/* Creates kernel `kernel` from program `program`; the caller releases it
 * with clReleaseKernel(). NULL with err set on failure. */
cl_kernel runtime_kernel(struct runtime *rt, const char *program, const char *kernel,
			 struct error *err);

/* The embedded source text (includes inlined) of `name`, or NULL. */
const char *runtime_source(const char *name);

/* Number of embedded programs and the name of the i-th. */
size_t runtime_source_count(void);
const char *runtime_source_name(size_t i);

#endif
