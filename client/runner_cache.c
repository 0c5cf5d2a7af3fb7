/*
 * runner_cache.c - the blob cache as the run loop uses it (see
 * runner_impl.h): the blobs of every unit kept on disk are pinned, the
 * cache is trimmed after each unit, its usage goes into the status file.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/runner_impl.h"
#include "common/fileio.h"
#include "common/log.h"

static void pins_add_unit(struct runner *r, const struct unit *u)
{
	if (r->n_pins + 1 + u->n_data > PINS_MAX) {
		log_warn("more than %d units on disk: the blobs of some are not kept in the cache",
			 PIN_UNITS_MAX);
		return;
	}
	r->pins[r->n_pins++] = u->model;
	for (size_t i = 0; i < u->n_data; i++)
		r->pins[r->n_pins++] = u->data[i].shard;
}

int runner_units_on_disk(struct runner *r, const struct project *ps, int n, struct job *j,
			 int (*fn)(struct runner *r, struct job *j))
{
	int ret = 0;

	for (int i = 0; i < n && !ret; i++) {
		char dir[FILEIO_PATH_MAX];
		struct dirent *de;
		DIR *d;

		if (state_project_path(r->o->state, ps[i].slug, "units", dir) < 0 ||
		    !(d = opendir(dir)))
			continue;
		while (!ret && (de = readdir(d))) {
			char *end;
			long long rep = strtoll(de->d_name, &end, 10);

			if (de->d_name[0] == '.' || *end || rep <= 0)
				continue;
			memset(j, 0, sizeof(*j));
			j->p = ps[i];
			j->replica = rep;
			if (snprintf(j->dir, sizeof(j->dir), "%s/%lld", dir, rep) <
			    (int)sizeof(j->dir))
				ret = fn(r, j);
		}
		closedir(d);
	}
	return ret;
}

/* Pins the blobs of a unit on disk that opens (runner_units_on_disk()). */
static int pin_unit(struct runner *r, struct job *j)
{
	struct error err;

	if (runner_job_open(j, &err) == 0)
		pins_add_unit(r, &j->u);
	return 0;
}

/* Pins in the blob cache what cur (may be NULL) and every unit kept on
 * disk (computing, or waiting with its checkpoint) needs: those blobs
 * are never evicted. A unit that cannot be opened pins nothing (it is
 * dropped when its turn comes). Costs a signature check per unit. */
static void pins_collect(struct runner *r, const struct job *cur)
{
	struct project *ps = calloc(STATE_PROJECTS_MAX, sizeof(*ps));
	struct job *j = malloc(sizeof(*j));
	int n = ps ? state_projects(r->o->state, ps, STATE_PROJECTS_MAX, NULL) : 0;

	r->n_pins = 0;
	if (cur)
		pins_add_unit(r, &cur->u);
	if (j)
		runner_units_on_disk(r, ps, n, j, pin_unit);
	blobcache_pin(&r->cache, r->pins, r->n_pins);
	free(j);
	free(ps);
}

/* Puts the cache's bytes and budget into the status file's fields. */
static void cache_note(struct runner *r)
{
	struct blobcache_usage u;

	if (blobcache_usage(r->cache.dir, &u, NULL) == 0)
		r->st.cache_bytes = u.bytes;
	r->st.cache_budget = r->cache.budget;
}

void runner_cache_trim(struct runner *r)
{
	uint64_t target = r->cache.budget / 100 * BLOBCACHE_TRIM_PERCENT;
	struct error err;

	error_clear(&err);
	pins_collect(r, NULL);
	if (blobcache_trim(&r->cache, target, NULL, &err) < 0)
		log_warn("cannot trim the blob cache: %s", err.msg);
	cache_note(r);
}

int runner_fetch_blobs(struct runner *r, struct job *j, struct error *err)
{
	int ret;

	snprintf(r->st.state, sizeof(r->st.state), "downloading");
	runner_status_set(r, "downloading");
	pins_collect(r, j);
	if ((ret = blobcache_fetch(&r->cache, runner_net_for(r, &j->p), j->p.url, &j->u.model,
				   err)) < 0)
		goto out;
	for (size_t i = 0; i < j->u.n_data; i++)
		if ((ret = blobcache_fetch(&r->cache, runner_net_for(r, &j->p), j->p.url,
					   &j->u.data[i].shard, err)) < 0)
			goto out;
out:
	cache_note(r);
	return ret;
}
