/*
 * state.h - the client's state directory: attached projects, their pinned
 * coordinator keys and host keys, and the units in progress.
 *
 * Layout (created 0700; see docs/CLIENT.md):
 *
 *     STATE/projects/<slug>/project.json   url, pinned key, host id, share, totals
 *     STATE/projects/<slug>/host.key, host.pub   this host's key for the project
 *     STATE/projects/<slug>/units/<replica>/     one unit in progress
 *     STATE/blobs/                         the verified blob cache (blobcache.h)
 *     STATE/status.json                    the run loop's status (status.h)
 *
 * <slug> is the project URL with every byte outside [A-Za-z0-9.-] turned
 * into '_' (at most STATE_SLUG_MAX bytes). project.json is rewritten
 * atomically (fileio_write_atomic), so a crash leaves the old or new copy.
 */
#ifndef AGORA_CLIENT_STATE_H
#define AGORA_CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/error.h"
#include "common/fileio.h"
#include "workunits/key.h"

#define STATE_URL_MAX          512
#define STATE_SLUG_MAX         128
#define STATE_ACCOUNT_MAX      64
#define STATE_NAME_MAX         64
#define STATE_PROJECTS_MAX     64
#define STATE_SHARE_MAX        1000000
#define STATE_CACERT_MAX       1024
#define STATE_SKEW_MAX         (10 * 365 * 86400) /* a clock ten years off */
#define STATE_PROJECT_JSON_MAX (64u * 1024)

/* One attached project. Plain value: copy freely. */
struct project {
	char url[STATE_URL_MAX]; /* base URL without trailing '/', e.g. http://h:8470 */
	char slug[STATE_SLUG_MAX + 1];
	char name[STATE_NAME_MAX + 1]; /* the coordinator's project name */
	struct key_public server_key;  /* pinned at attach */
	char account[STATE_ACCOUNT_MAX + 1];
	int64_t host_id;
	unsigned share;                /* resource share, 1..STATE_SHARE_MAX (default 100) */
	double compute_s;              /* seconds computed for this project */
	uint64_t units_done;           /* results uploaded (or forgotten as over) */
	double credit;                 /* granted credit as last reported (0 for now) */
	char cacert[STATE_CACERT_MAX]; /* CA file given at attach (absolute), or "" */
	int64_t clock_skew;            /* the server's clock minus ours, seconds (signing) */
};

/* Resolves the state directory: dir when not NULL, else
 * $XDG_DATA_HOME/agora, else $HOME/.local/share/agora, and creates it and
 * its parents (the leaf 0700). out holds FILEIO_PATH_MAX bytes. */
int state_dir_resolve(const char *dir, char *out, struct error *err)
    __attribute__((warn_unused_result));

/* Makes the slug of url. */
void state_slug(const char *url, char out[STATE_SLUG_MAX + 1]);

/* Writes "STATE/projects/<slug>[/<rest>]" into out (FILEIO_PATH_MAX). */
int state_project_path(const char *state, const char *slug, const char *rest, char *out);

/* Loads / saves one project's project.json. */
int state_project_load(const char *state, const char *slug, struct project *p, struct error *err)
    __attribute__((warn_unused_result));
int state_project_save(const char *state, const struct project *p, struct error *err)
    __attribute__((warn_unused_result));

/* Lists the attached projects into p (at most max); returns the count or
 * a negative code. A project whose file does not load is logged and
 * skipped. */
int state_projects(const char *state, struct project *p, int max, struct error *err);

/* Which project to ask for work: among those whose next_try[i] <= now,
 * the one with the least compute_s / share (the first on a tie), so that
 * over time each project gets compute in proportion to its share. -1 when
 * every project waits; *wake then holds the earliest next_try. Pure. */
int state_pick_project(const struct project *ps, int n, const time_t *next_try, time_t now,
		       time_t *wake);

/* Loads the project's host secret key (0600). */
int state_host_key(const char *state, const struct project *p, struct key_secret *sk,
		   struct error *err) __attribute__((warn_unused_result));

/* mkdir -p; every directory it creates gets mode. */
int state_mkdirs(const char *path, unsigned mode, struct error *err)
    __attribute__((warn_unused_result));

/* rm -r of a directory holding only files and directories (no links
 * followed). Returns 0 or ERROR_IO. */
int state_remove_tree(const char *path);

#endif
