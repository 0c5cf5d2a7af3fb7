/*
 * embedded.h - the kernel sources compiled into the binary.
 *
 * kernels/cl-embed.sh generates kernels/cl-sources.c at build time from
 * the .cl files in kernels/cl/: one entry per .cl file, named by its base name, whose
 * text has every `#include "..."` of a file in the source tree inlined
 * (each file at most once), so the client never reads kernel code from
 * disk. Only kernels/runtime.c reads this table.
 */
#ifndef AGORA_KERNELS_EMBEDDED_H
#define AGORA_KERNELS_EMBEDDED_H

#include <stddef.h>

struct embedded_source {
	const char *name; /* "gemm" for kernels/cl/gemm.cl */
	const char *text; /* NUL-terminated OpenCL C */
};

extern const struct embedded_source embedded_sources[];
extern const size_t embedded_sources_count;

#endif
