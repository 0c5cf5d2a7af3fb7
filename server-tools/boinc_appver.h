/*
 * boinc_appver.h - the agora-boinc app versions a coordinator publishes:
 * STATE/boinc/app/current, which `agora-admin boinc publish` writes and
 * the scheduler (boinc_server.c) reads on every RPC.
 *
 * The file is one line per app version, at most one per platform and plan
 * class (the CPU version has none):
 *
 *   NAME VERSION PLATFORM MD5 NBYTES [PLAN_CLASS]
 *
 * NAME is the executable under STATE/boinc/app/ (its signature is
 * NAME.sig), MD5 and NBYTES describe its bytes. A line without a plan
 * class is the CPU version, so the single-line files written before GPU
 * versions existed still read. PLATFORM is BOINC's platform name
 * ("x86_64-pc-linux-gnu", "windows_x86_64", ...): a host gets only the
 * versions of its own platform or of one it lists as an alternative
 * (boinc_server.c). Blank lines are skipped; anything else that is not
 * such a line, an unknown plan class, a platform and plan class twice or
 * more than BOINC_APPVER_MAX lines is refused.
 *
 * A struct boinc_appver_list is plain data (no allocation): copy it,
 * drop it.
 */
#ifndef AGORA_SERVER_BOINC_APPVER_H
#define AGORA_SERVER_BOINC_APPVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "server-tools/boinc_sched.h"

/* CPU + one per GPU vendor, for up to four platforms */
#define BOINC_APPVER_MAX        (4 * (1 + BOINC_SCHED_GPU_KINDS))
#define BOINC_APPVER_NAME_MAX   127
#define BOINC_APPVER_NBYTES_MAX (1ull << 40)
#define BOINC_APPVER_FILE_MAX   8192 /* bytes of 'current' read */

struct boinc_appver {
	char name[BOINC_APPVER_NAME_MAX + 1];
	int version_num; /* 1..1000000 */
	char platform[BOINC_SCHED_PLATFORM_MAX + 1];
	char md5[33];
	uint64_t nbytes;
	char plan_class[BOINC_SCHED_PLAN_CLASS_MAX + 1]; /* "": CPU */
};

struct boinc_appver_list {
	size_t n;
	struct boinc_appver v[BOINC_APPVER_MAX];
};

/* Reads len bytes of 'current' text into l. ERROR_FORMAT for a bad line
 * (its number in the message), ERROR_INVALID for an unknown plan class,
 * ERROR_DUPLICATE for a platform and plan class twice, ERROR_TOO_BIG for
 * too many. */
int boinc_appver_parse(struct boinc_appver_list *l, const char *text, size_t len, struct error *err)
    __attribute__((warn_unused_result));
/* boinc_appver_parse() of the file at path (at most BOINC_APPVER_FILE_MAX
 * bytes); a missing file is ERROR_NOT_FOUND (fileio_read_all()). */
int boinc_appver_load(struct boinc_appver_list *l, const char *path, struct error *err)
    __attribute__((warn_unused_result));

/* Checks v (the same rules as a parsed line); 0 or ERROR_INVALID. */
int boinc_appver_check(const struct boinc_appver *v, struct error *err)
    __attribute__((warn_unused_result));
/* Puts v into l: replaces the version of the same platform and plan
 * class, or adds it. 0, ERROR_TOO_BIG when l is full, or what
 * boinc_appver_check() says. */
int boinc_appver_put(struct boinc_appver_list *l, const struct boinc_appver *v, struct error *err)
    __attribute__((warn_unused_result));
/* The version of platform (NULL: the first of any) and plan_class (""
 * or NULL: the CPU), or NULL. */
const struct boinc_appver *boinc_appver_find(const struct boinc_appver_list *l,
					     const char *platform, const char *plan_class);
/* Writes l as the file's text into buf (size bytes, NUL-terminated): the
 * length, or ERROR_TOO_BIG. BOINC_APPVER_FILE_MAX bytes always suffice. */
long boinc_appver_format(const struct boinc_appver_list *l, char *buf, size_t size);

#endif
