/*
 * state-test.c - the client's state directory: created 0700, project
 * files round-trip, slugs stay inside the directory, a corrupt project
 * file is skipped, and the project pick follows compute per share and
 * retry_after waits.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client/state.h"
#include "tests/tap.h"

int main(void)
{
	char root[256], state[FILEIO_PATH_MAX], path[FILEIO_PATH_MAX], slug[STATE_SLUG_MAX + 1];
	struct project p, q, ps[4];
	struct key_secret sk;
	struct error err;
	struct stat st;
	time_t next[3] = {0, 0, 0}, wake;
	char cmd[300];

	if (tap_tmpdir(root, sizeof(root)) < 0)
		tap_skip_all("no scratch directory");
	snprintf(path, sizeof(path), "%s/a/b/agora", root);
	error_clear(&err);
	TAP_IS(state_dir_resolve(path, state, &err), 0, "a state directory is created");
	TAP_OK(stat(state, &st) == 0 && (st.st_mode & 0777) == 0700, "with mode 0700");

	state_slug("https://agora.example.org:8470/x/../y", slug);
	TAP_OK(strcmp(slug, "agora.example.org_8470_x_.._y") == 0, "slug keeps [A-Za-z0-9.-] only");
	TAP_OK(strchr(slug, '/') == NULL, "a slug has no '/'");
	state_slug("http://..", slug);
	TAP_OK(slug[0] != '.', "a slug never starts with '.'");

	memset(&p, 0, sizeof(p));
	snprintf(p.url, sizeof(p.url), "http://127.0.0.1:8470");
	state_slug(p.url, p.slug);
	snprintf(p.name, sizeof(p.name), "agora");
	snprintf(p.account, sizeof(p.account), "ann");
	if (key_generate(&p.server_key, &sk) < 0)
		tap_skip_all("no keys");
	p.host_id = 7;
	p.share = 250;
	p.compute_s = 12.5;
	p.units_done = 3;
	state_project_path(state, p.slug, NULL, path);
	TAP_IS(state_mkdirs(path, 0700, &err), 0, "a project directory");
	TAP_IS(state_project_save(state, &p, &err), 0, "a project is saved");
	TAP_IS(state_project_load(state, p.slug, &q, &err), 0, "and loads");
	TAP_OK(strcmp(q.url, p.url) == 0 && key_public_equal(&q.server_key, &p.server_key) &&
		   q.host_id == 7 && q.share == 250 && q.compute_s == 12.5 && q.units_done == 3,
	       "every field round-trips (the pinned key too)");

	state_project_path(state, "broken", NULL, path);
	TAP_IS(state_mkdirs(path, 0700, &err), 0, "a second project directory");
	state_project_path(state, "broken", "project.json", path);
	TAP_IS(fileio_write_atomic(path, "{\"url\": 5}", 10, 0600, 0, &err), 0, "with a bad file");
	TAP_IS(state_projects(state, ps, 4, &err), 1, "a corrupt project is skipped, not fatal");

	memset(ps, 0, sizeof(ps));
	ps[0].share = 100, ps[0].compute_s = 100; /* 1.0 per share */
	ps[1].share = 300, ps[1].compute_s = 150; /* 0.5 per share */
	ps[2].share = 100, ps[2].compute_s = 80;  /* 0.8 per share */
	TAP_IS(state_pick_project(ps, 3, next, 1000, &wake), 1, "least compute per share first");
	next[1] = 1060;
	TAP_IS(state_pick_project(ps, 3, next, 1000, &wake), 2, "a waiting project is skipped");
	next[0] = 1030;
	next[2] = 1045;
	TAP_IS(state_pick_project(ps, 3, next, 1000, &wake), -1, "all wait: none");
	TAP_IS(wake, 1030, "and the earliest wake-up is given");

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
