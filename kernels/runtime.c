/*
 * runtime.c - OpenCL devices, contexts and cached programs (see runtime.h).
 *
 * Device enumeration reads every platform, describes each device in a
 * plain struct runtime_device_info, judges it against the determinism
 * contract and dedupes the list. Programs come from the sources embedded at
 * build time (kernels/cl-sources.c); their binaries are cached on disk in
 * files "<key>.bin" where key is the BLAKE2b-256 of the device, platform,
 * driver, build options and source text. A cache file is written to a
 * temporary name and renamed, so readers never see half a file; a file that
 * fails to load is deleted and the program rebuilt from source.
 */
#include "config.h"

#include "kernels/runtime.h"
#include "kernels/embedded.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include <sodium.h>

#include "common/log.h"

#define RUNTIME_CACHE_MAGIC "AGKC0001"
#define RUNTIME_MAX_PLATFORMS 16
#define RUNTIME_MAX_DEVICES 64

#ifndef CL_DEVICE_PCI_BUS_INFO_KHR
#define CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
typedef struct {
	cl_uint pci_domain, pci_bus, pci_device, pci_function;
} cl_device_pci_bus_info_khr;
#endif

struct runtime_program_slot {
	char name[64];
	cl_program program;
	struct runtime_program_slot *next;
};

const char *runtime_cl_error_name(cl_int code)
{
#define E(x) case x: return #x
	switch (code) {
	E(CL_SUCCESS); E(CL_DEVICE_NOT_FOUND); E(CL_DEVICE_NOT_AVAILABLE);
	E(CL_COMPILER_NOT_AVAILABLE); E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
	E(CL_OUT_OF_RESOURCES); E(CL_OUT_OF_HOST_MEMORY);
	E(CL_PROFILING_INFO_NOT_AVAILABLE); E(CL_MEM_COPY_OVERLAP);
	E(CL_IMAGE_FORMAT_MISMATCH); E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
	E(CL_BUILD_PROGRAM_FAILURE); E(CL_MAP_FAILURE);
	E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
	E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST);
	E(CL_COMPILE_PROGRAM_FAILURE); E(CL_LINKER_NOT_AVAILABLE);
	E(CL_LINK_PROGRAM_FAILURE); E(CL_DEVICE_PARTITION_FAILED);
	E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE);
	E(CL_INVALID_VALUE); E(CL_INVALID_DEVICE_TYPE); E(CL_INVALID_PLATFORM);
	E(CL_INVALID_DEVICE); E(CL_INVALID_CONTEXT);
	E(CL_INVALID_QUEUE_PROPERTIES); E(CL_INVALID_COMMAND_QUEUE);
	E(CL_INVALID_HOST_PTR); E(CL_INVALID_MEM_OBJECT);
	E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR); E(CL_INVALID_IMAGE_SIZE);
	E(CL_INVALID_SAMPLER); E(CL_INVALID_BINARY);
	E(CL_INVALID_BUILD_OPTIONS); E(CL_INVALID_PROGRAM);
	E(CL_INVALID_PROGRAM_EXECUTABLE); E(CL_INVALID_KERNEL_NAME);
	E(CL_INVALID_KERNEL_DEFINITION); E(CL_INVALID_KERNEL);
	E(CL_INVALID_ARG_INDEX); E(CL_INVALID_ARG_VALUE);
	E(CL_INVALID_ARG_SIZE); E(CL_INVALID_KERNEL_ARGS);
	E(CL_INVALID_WORK_DIMENSION); E(CL_INVALID_WORK_GROUP_SIZE);
	E(CL_INVALID_WORK_ITEM_SIZE); E(CL_INVALID_GLOBAL_OFFSET);
	E(CL_INVALID_EVENT_WAIT_LIST); E(CL_INVALID_EVENT);
	E(CL_INVALID_OPERATION); E(CL_INVALID_GL_OBJECT);
	E(CL_INVALID_BUFFER_SIZE); E(CL_INVALID_MIP_LEVEL);
	E(CL_INVALID_GLOBAL_WORK_SIZE); E(CL_INVALID_PROPERTY);
	E(CL_INVALID_IMAGE_DESCRIPTOR); E(CL_INVALID_COMPILER_OPTIONS);
	E(CL_INVALID_LINKER_OPTIONS); E(CL_INVALID_DEVICE_PARTITION_COUNT);
	case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
	}
#undef E
	return "CL_UNKNOWN_ERROR";
}

int runtime_cl_error(struct error *err, const char *call, cl_int code)
{
	if (code == CL_SUCCESS)
		return error_set(err, ERROR_DEVICE, "%s failed", call);
	return error_set(err, ERROR_DEVICE, "%s failed: %s", call,
			 runtime_cl_error_name(code));
}

void runtime_judge(struct runtime_device_info *info)
{
	info->usable = 0;
	if (!info->denormals) {
		snprintf(info->reason, sizeof(info->reason),
			 "no fp32 denormals: results would differ from the reference");
		return;
	}
	if (!info->fma) {
		/* OpenCL promises a correctly rounded fma() even in software, but
		 * a device without CL_FP_FMA is where that promise is least
		 * tested and slowest: the contract (docs/ENGINE.md) asks for it */
		snprintf(info->reason, sizeof(info->reason),
			 "no hardware fp32 fma (CL_FP_FMA): fma() may be emulated");
		return;
	}
	if (strncmp(info->version, "OpenCL ", 7) != 0 ||
	    (info->version[7] == '1' && info->version[9] < '2')) {
		snprintf(info->reason, sizeof(info->reason), "needs OpenCL 1.2, has '%.64s'",
			 info->version);
		return;
	}
	if (info->reason[0] != '\0')
		return; /* set while probing: not available, no compiler */
	info->usable = 1;
}

static int info_same_device(const struct runtime_device_info *a,
			    const struct runtime_device_info *b)
{
	if (a->platform_index == b->platform_index)
		return 0;
	if (a->has_pci && b->has_pci)
		return a->pci_domain == b->pci_domain && a->pci_bus == b->pci_bus &&
		       a->pci_device == b->pci_device && a->pci_function == b->pci_function;
	return a->vendor_id == b->vendor_id && strcmp(a->name, b->name) == 0 &&
	       a->global_mem == b->global_mem && a->compute_units == b->compute_units;
}

size_t runtime_dedupe(const struct runtime_device_info *infos, size_t n,
		      unsigned char *keep)
{
	size_t i, j, kept = 0;

	for (i = 0; i < n; i++)
		keep[i] = 1;
	/* Pair each entry with the first earlier, still-kept, unpaired entry
	 * of another platform that describes the same device. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < i; j++) {
			if (!keep[j] || !info_same_device(&infos[j], &infos[i]))
				continue;
			if (infos[i].usable && !infos[j].usable)
				keep[j] = 0;
			else
				keep[i] = 0;
			break;
		}
	}
	for (i = 0; i < n; i++)
		kept += keep[i];
	return kept;
}

static int ci_contains(const char *hay, const char *needle)
{
	size_t i, k, nl = strlen(needle);

	for (i = 0; hay[i]; i++) {
		for (k = 0; k < nl && hay[i + k]; k++)
			if (tolower((unsigned char)hay[i + k]) != tolower((unsigned char)needle[k]))
				break;
		if (k == nl)
			return 1;
	}
	return nl == 0;
}

int runtime_select(const struct runtime_device *devs, size_t n, const char *spec,
		   struct error *err)
{
	size_t i;

	if (!spec || !*spec) {
		for (i = 0; i < n; i++)
			if (devs[i].info.usable && devs[i].info.type == RUNTIME_DEVICE_GPU)
				return (int)i;
		for (i = 0; i < n; i++)
			if (devs[i].info.usable)
				return (int)i;
		return error_set(err, ERROR_NOT_FOUND, "no usable OpenCL device");
	}
	if (strspn(spec, "0123456789") == strlen(spec)) {
		char *end;
		unsigned long v = strtoul(spec, &end, 10);

		if (v >= n || *end)
			return error_set(err, ERROR_NOT_FOUND, "no OpenCL device '%s'", spec);
		i = v;
	} else {
		for (i = 0; i < n; i++)
			if (ci_contains(devs[i].info.name, spec))
				break;
		if (i == n)
			return error_set(err, ERROR_NOT_FOUND, "no OpenCL device matches '%s'",
					 spec);
	}
	if (!devs[i].info.usable)
		return error_set(err, ERROR_DEVICE, "device '%s' is not usable: %s",
				 devs[i].info.name, devs[i].info.reason);
	return (int)i;
}

/* Reads a string device property, truncated to size, always
 * NUL-terminated ("" on failure). */
static void dev_string(cl_device_id d, cl_device_info what, char *buf, size_t size)
{
	size_t got = 0;
	char *tmp;

	buf[0] = '\0';
	if (clGetDeviceInfo(d, what, 0, NULL, &got) != CL_SUCCESS || got == 0)
		return;
	tmp = malloc(got + 1);
	if (!tmp)
		return;
	if (clGetDeviceInfo(d, what, got, tmp, NULL) == CL_SUCCESS) {
		tmp[got] = '\0';
		snprintf(buf, size, "%s", tmp);
	}
	free(tmp);
}

static void describe(cl_platform_id p, unsigned pi, cl_device_id d,
		     struct runtime_device_info *info)
{
	cl_device_type type = 0;
	cl_device_fp_config fp = 0;
	cl_uint cu = 0, vid = 0, vw = 0;
	cl_ulong mem = 0;
	cl_bool avail = CL_FALSE, compiler = CL_FALSE;
	size_t wg = 0;
	char ext[8192];
	cl_device_pci_bus_info_khr pci;

	memset(info, 0, sizeof(*info));
	info->platform_index = pi;
	{
		char pname[1024];

		if (clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof(pname) - 1, pname, NULL) !=
		    CL_SUCCESS)
			pname[0] = '\0';
		pname[sizeof(pname) - 1] = '\0';
		snprintf(info->platform, sizeof(info->platform), "%s", pname);
	}
	dev_string(d, CL_DEVICE_NAME, info->name, sizeof(info->name));
	dev_string(d, CL_DEVICE_VENDOR, info->vendor, sizeof(info->vendor));
	dev_string(d, CL_DRIVER_VERSION, info->driver, sizeof(info->driver));
	dev_string(d, CL_DEVICE_VERSION, info->version, sizeof(info->version));
	dev_string(d, CL_DEVICE_EXTENSIONS, ext, sizeof(ext));
	clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof(type), &type, NULL);
	clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof(fp), &fp, NULL);
	clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof(cu), &cu, NULL);
	clGetDeviceInfo(d, CL_DEVICE_VENDOR_ID, sizeof(vid), &vid, NULL);
	clGetDeviceInfo(d, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof(mem), &mem, NULL);
	clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof(wg), &wg, NULL);
	clGetDeviceInfo(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof(vw), &vw, NULL);
	clGetDeviceInfo(d, CL_DEVICE_AVAILABLE, sizeof(avail), &avail, NULL);
	clGetDeviceInfo(d, CL_DEVICE_COMPILER_AVAILABLE, sizeof(compiler), &compiler, NULL);
	info->type = (type & CL_DEVICE_TYPE_GPU)	   ? RUNTIME_DEVICE_GPU
		     : (type & CL_DEVICE_TYPE_CPU)	   ? RUNTIME_DEVICE_CPU
		     : (type & CL_DEVICE_TYPE_ACCELERATOR) ? RUNTIME_DEVICE_ACCELERATOR
							   : RUNTIME_DEVICE_OTHER;
	info->vendor_id = vid;
	info->compute_units = cu;
	info->global_mem = mem;
	info->max_work_group = wg;
	info->native_float = vw;
	info->denormals = (fp & CL_FP_DENORM) != 0;
	info->fma = (fp & CL_FP_FMA) != 0;
	if (strstr(ext, "cl_khr_pci_bus_info") &&
	    clGetDeviceInfo(d, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof(pci), &pci, NULL) ==
		    CL_SUCCESS) {
		info->has_pci = 1;
		info->pci_domain = pci.pci_domain;
		info->pci_bus = pci.pci_bus;
		info->pci_device = pci.pci_device;
		info->pci_function = pci.pci_function;
	}
	if (!avail)
		snprintf(info->reason, sizeof(info->reason), "device not available");
	else if (!compiler)
		snprintf(info->reason, sizeof(info->reason), "no OpenCL C compiler");
	runtime_judge(info);
}

int runtime_devices(struct runtime_device **devs, size_t *n, struct error *err)
{
	cl_platform_id plats[RUNTIME_MAX_PLATFORMS];
	cl_uint np = 0, pi;
	struct runtime_device *all = NULL, *out = NULL;
	struct runtime_device_info *infos = NULL;
	unsigned char *keep = NULL;
	size_t count = 0, i, k;
	cl_int rc;
	int ret = 0;

	*devs = NULL;
	*n = 0;
	rc = clGetPlatformIDs(RUNTIME_MAX_PLATFORMS, plats, &np);
	if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || np == 0)
		return 0;
	if (rc != CL_SUCCESS)
		return runtime_cl_error(err, "clGetPlatformIDs", rc);
	if (np > RUNTIME_MAX_PLATFORMS)
		np = RUNTIME_MAX_PLATFORMS;
	all = calloc((size_t)RUNTIME_MAX_PLATFORMS * RUNTIME_MAX_DEVICES, sizeof(*all));
	if (!all)
		return error_set(err, ERROR_NOMEM, "out of memory listing devices");
	for (pi = 0; pi < np; pi++) {
		cl_device_id ids[RUNTIME_MAX_DEVICES];
		cl_uint nd = 0, di;

		rc = clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, RUNTIME_MAX_DEVICES, ids, &nd);
		if (rc != CL_SUCCESS)
			continue; /* CL_DEVICE_NOT_FOUND: an empty platform */
		if (nd > RUNTIME_MAX_DEVICES)
			nd = RUNTIME_MAX_DEVICES;
		for (di = 0; di < nd; di++) {
			all[count].platform = plats[pi];
			all[count].id = ids[di];
			describe(plats[pi], pi, ids[di], &all[count].info);
			count++;
		}
	}
	infos = calloc(count + 1, sizeof(*infos));
	keep = calloc(count + 1, 1);
	out = calloc(count + 1, sizeof(*out));
	if (!infos || !keep || !out) {
		ret = error_set(err, ERROR_NOMEM, "out of memory listing devices");
		goto out;
	}
	for (i = 0; i < count; i++)
		infos[i] = all[i].info;
	runtime_dedupe(infos, count, keep);
	for (i = 0, k = 0; i < count; i++)
		if (keep[i])
			out[k++] = all[i];
	*devs = out;
	*n = k;
	out = NULL;
out:
	free(out);
	free(keep);
	free(infos);
	free(all);
	return ret;
}

/* ------------------------------------------------------------ programs */

size_t runtime_source_count(void)
{
	return embedded_sources_count;
}

const char *runtime_source_name(size_t i)
{
	return i < embedded_sources_count ? embedded_sources[i].name : NULL;
}

const char *runtime_source(const char *name)
{
	size_t i;

	for (i = 0; i < embedded_sources_count; i++)
		if (strcmp(embedded_sources[i].name, name) == 0)
			return embedded_sources[i].text;
	return NULL;
}

static void cache_dir_pick(char *buf, size_t size)
{
	const char *v = getenv("AGORA_KERNEL_CACHE");

	buf[0] = '\0';
	if (v && *v) {
		if (strcmp(v, "off") != 0)
			snprintf(buf, size, "%s", v);
		return;
	}
	v = getenv("XDG_CACHE_HOME");
	if (v && *v) {
		snprintf(buf, size, "%s/agora/kernels", v);
		return;
	}
	v = getenv("HOME");
	if (v && *v)
		snprintf(buf, size, "%s/.cache/agora/kernels", v);
}

struct runtime *runtime_new(const struct runtime_device *dev, struct error *err)
{
	struct runtime *rt;
	cl_int rc;
	cl_context_properties props[3];

	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		error_set(err, ERROR_NOMEM, "out of memory opening device");
		return NULL;
	}
	rt->dev = *dev;
	props[0] = CL_CONTEXT_PLATFORM;
	props[1] = (cl_context_properties)dev->platform;
	props[2] = 0;
	rt->ctx = clCreateContext(props, 1, &dev->id, NULL, NULL, &rc);
	if (!rt->ctx) {
		runtime_cl_error(err, "clCreateContext", rc);
		goto fail;
	}
	rt->queue = clCreateCommandQueue(rt->ctx, dev->id, 0, &rc);
	if (!rt->queue) {
		runtime_cl_error(err, "clCreateCommandQueue", rc);
		goto fail;
	}
	cache_dir_pick(rt->cache_dir, sizeof(rt->cache_dir));
	rt->cache_max = RUNTIME_CACHE_DIR_MAX;
	{
		const char *v = getenv("AGORA_KERNEL_CACHE_MAX");
		char *end;
		unsigned long long cap = v ? strtoull(v, &end, 10) : 0;

		if (v && *v && !*end && cap > 0 && cap <= RUNTIME_CACHE_DIR_MAX)
			rt->cache_max = cap;
	}
	return rt;
fail:
	runtime_free(rt);
	return NULL;
}

void runtime_free(struct runtime *rt)
{
	struct runtime_program_slot *s, *next;

	if (!rt)
		return;
	for (s = rt->programs; s; s = next) {
		next = s->next;
		clReleaseProgram(s->program);
		free(s);
	}
	if (rt->queue)
		clReleaseCommandQueue(rt->queue);
	if (rt->ctx)
		clReleaseContext(rt->ctx);
	free(rt);
}

static void cache_key(const struct runtime *rt, const char *src, unsigned char key[32])
{
	crypto_generichash_state st;
	const struct runtime_device_info *i = &rt->dev.info;
	const char *parts[] = {RUNTIME_CACHE_MAGIC, i->platform, i->name, i->vendor,
			       i->driver, i->version, RUNTIME_BUILD_OPTIONS, src};
	size_t k;

	crypto_generichash_init(&st, NULL, 0, 32);
	for (k = 0; k < sizeof(parts) / sizeof(parts[0]); k++)
		crypto_generichash_update(&st, (const unsigned char *)parts[k],
					  strlen(parts[k]) + 1);
	crypto_generichash_final(&st, key, 32);
}

static int cache_path(const struct runtime *rt, const unsigned char key[32], char *buf,
		      size_t size)
{
	char hex[65];

	sodium_bin2hex(hex, sizeof(hex), key, 32);
	return snprintf(buf, size, "%s/%s.bin", rt->cache_dir, hex) < (int)size ? 0 : -1;
}

/* Reads a cache file: magic, key, u64 size (little-endian), BLAKE2b-256 of
 * the binary, the binary. Returns a
 * malloc'd binary or NULL when absent, capped or not matching. */
static unsigned char *cache_read(const char *path, const unsigned char key[32],
				 size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char head[8 + 32 + 8 + 32], *bin = NULL, sum[32];
	uint64_t sz = 0;
	int i;

	if (!f)
		return NULL;
	if (fread(head, 1, sizeof(head), f) != sizeof(head) ||
	    memcmp(head, RUNTIME_CACHE_MAGIC, 8) != 0 || memcmp(head + 8, key, 32) != 0)
		goto out;
	for (i = 7; i >= 0; i--)
		sz = sz << 8 | head[40 + i];
	if (sz == 0 || sz > RUNTIME_CACHE_FILE_MAX)
		goto out;
	bin = malloc((size_t)sz);
	if (bin && fread(bin, 1, (size_t)sz, f) != sz) {
		free(bin);
		bin = NULL;
	}
	if (bin && fgetc(f) != EOF) { /* trailing bytes: not ours */
		free(bin);
		bin = NULL;
	}
	if (bin) { /* a damaged binary never reaches the driver */
		crypto_generichash(sum, 32, bin, (size_t)sz, NULL, 0);
		if (memcmp(sum, head + 48, 32) != 0) {
			free(bin);
			bin = NULL;
		}
	}
	*len = (size_t)sz;
out:
	fclose(f);
	return bin;
}

static int mkdir_p(const char *path)
{
	char tmp[512];
	size_t i;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (i = 1; tmp[i]; i++) {
		if (tmp[i] != '/')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		tmp[i] = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Makes room for `need` more bytes under cap by deleting
 * the least recently used "*.bin" files (hits refresh a file's mtime).
 * Returns 0 when the new file fits. Other files are left alone. */
static int cache_make_room(const char *dir, uint64_t need, uint64_t cap)
{
	for (int round = 0; round < 64; round++) {
		DIR *d = opendir(dir);
		struct dirent *e;
		uint64_t total = 0;
		char p[1024], oldest[1024] = "";
		time_t oldest_t = 0;
		struct stat st;
		size_t len;

		if (!d)
			return -1;
		while ((e = readdir(d)) != NULL) {
			len = strlen(e->d_name);
			if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".bin") != 0)
				continue;
			if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p) ||
			    stat(p, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			total += (uint64_t)st.st_size;
			if (!oldest[0] || st.st_mtime < oldest_t) {
				oldest_t = st.st_mtime;
				snprintf(oldest, sizeof(oldest), "%s", p);
			}
		}
		closedir(d);
		if (total + need <= cap)
			return 0;
		if (!oldest[0] || unlink(oldest) != 0)
			return -1;
	}
	return -1;
}

/* Writes the program's binary to the cache, atomically; failures only
 * log at debug level: the cache is an optimisation. */
static void cache_write(struct runtime *rt, cl_program prog, const char *path,
			const unsigned char key[32])
{
	size_t sz = 0;
	unsigned char *bin = NULL, head[80];
	char tmp[600];
	FILE *f = NULL;
	int i, ok = 0;

	if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof(sz), &sz, NULL) !=
		    CL_SUCCESS ||
	    sz == 0 || sz > RUNTIME_CACHE_FILE_MAX)
		return;
	if (mkdir_p(rt->cache_dir) != 0 || cache_make_room(rt->cache_dir, sz + 80, rt->cache_max) != 0)
		return;
	bin = malloc(sz);
	if (!bin || clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof(bin), &bin, NULL) !=
			    CL_SUCCESS)
		goto out;
	memcpy(head, RUNTIME_CACHE_MAGIC, 8);
	memcpy(head + 8, key, 32);
	for (i = 0; i < 8; i++)
		head[40 + i] = (unsigned char)((uint64_t)sz >> (8 * i));
	crypto_generichash(head + 48, 32, bin, sz, NULL, 0);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		goto out;
	f = fopen(tmp, "wb");
	if (!f)
		goto out;
	ok = fwrite(head, 1, sizeof(head), f) == sizeof(head) && fwrite(bin, 1, sz, f) == sz;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		log_debug("cannot write kernel cache '%s'", path);
	}
out:
	free(bin);
}

static void print_build_log(cl_program prog, cl_device_id dev, const char *name)
{
	size_t len = 0;
	char *buf;

	if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, 0, NULL, &len) != CL_SUCCESS ||
	    len == 0)
		return;
	buf = malloc(len + 1);
	if (!buf)
		return;
	if (clGetProgramBuildInfo(prog, dev, CL_PROGRAM_BUILD_LOG, len, buf, NULL) ==
	    CL_SUCCESS) {
		buf[len] = '\0';
		fprintf(stderr, "build log of kernel program '%s':\n%s\n", name, buf);
	}
	free(buf);
}

/* Tries the cached binary; returns a built program or NULL. */
static cl_program program_from_cache(struct runtime *rt, const char *path,
				     const unsigned char key[32])
{
	size_t len = 0;
	unsigned char *bin = cache_read(path, key, &len);
	const unsigned char *cbin = bin;
	cl_int rc, st = CL_SUCCESS;
	cl_program prog;

	if (!bin) {
		if (access(path, F_OK) == 0) {
			rt->cache_rejects++;
			unlink(path);
		}
		return NULL;
	}
	prog = clCreateProgramWithBinary(rt->ctx, 1, &rt->dev.id, &len, &cbin, &st, &rc);
	free(bin);
	if (prog && (rc != CL_SUCCESS || st != CL_SUCCESS ||
		     clBuildProgram(prog, 1, &rt->dev.id, RUNTIME_BUILD_OPTIONS, NULL, NULL) !=
			     CL_SUCCESS)) {
		clReleaseProgram(prog);
		prog = NULL;
	}
	if (!prog) {
		rt->cache_rejects++;
		unlink(path);
		return NULL;
	}
	rt->cache_hits++;
	utime(path, NULL); /* recently used: evicted last */
	return prog;
}

static cl_program program_build(struct runtime *rt, const char *name, struct error *err)
{
	const char *src = runtime_source(name);
	unsigned char key[32];
	char path[700];
	int cached;
	cl_program prog = NULL;
	cl_int rc;

	if (!src) {
		error_set(err, ERROR_NOT_FOUND, "no kernel program '%s'", name);
		return NULL;
	}
	cache_key(rt, src, key);
	cached = rt->cache_dir[0] && cache_path(rt, key, path, sizeof(path)) == 0;
	if (cached) {
		prog = program_from_cache(rt, path, key);
		if (prog)
			return prog;
	}
	rt->cache_misses++;
	prog = clCreateProgramWithSource(rt->ctx, 1, &src, NULL, &rc);
	if (!prog) {
		runtime_cl_error(err, "clCreateProgramWithSource", rc);
		return NULL;
	}
	rc = clBuildProgram(prog, 1, &rt->dev.id, RUNTIME_BUILD_OPTIONS, NULL, NULL);
	if (rc != CL_SUCCESS) {
		print_build_log(prog, rt->dev.id, name);
		runtime_cl_error(err, "clBuildProgram", rc);
		clReleaseProgram(prog);
		return NULL;
	}
	if (cached)
		cache_write(rt, prog, path, key);
	return prog;
}

cl_program runtime_program(struct runtime *rt, const char *name, struct error *err)
{
	struct runtime_program_slot *s;

	for (s = rt->programs; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s->program;
	s = calloc(1, sizeof(*s));
	if (!s) {
		error_set(err, ERROR_NOMEM, "out of memory building '%s'", name);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->program = program_build(rt, name, err);
	if (!s->program) {
		free(s);
		return NULL;
	}
	s->next = rt->programs;
	rt->programs = s;
	return s->program;
}

cl_kernel runtime_kernel(struct runtime *rt, const char *program, const char *kernel,
			 struct error *err)
{
	cl_program p = runtime_program(rt, program, err);
	cl_kernel k;
	cl_int rc;

	if (!p)
		return NULL;
	k = clCreateKernel(p, kernel, &rc);
	if (!k) {
		error_set(err, ERROR_DEVICE, "clCreateKernel failed: %s (kernel '%s')",
			  runtime_cl_error_name(rc), kernel);
	}
	return k;
}
