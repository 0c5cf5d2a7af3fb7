/*
 * state.c - the client's state directory and attached projects (see
 * state.h). project.json is small JSON read with a cap and parsed with
 * jansson; every field is checked before it is used.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "client/state.h"
#include "common/log.h"

int state_mkdirs(const char *path, unsigned mode, struct error *err)
{
	char buf[FILEIO_PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return error_set(err, ERROR_INVALID, "bad directory name '%s'", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return fileio_error(err, errno, "create directory", buf);
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int state_dir_resolve(const char *dir, char *out, struct error *err)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (dir && *dir)
		n = snprintf(out, FILEIO_PATH_MAX, "%s", dir);
	else if (xdg && *xdg)
		n = snprintf(out, FILEIO_PATH_MAX, "%s/agora", xdg);
	else if (home && *home)
		n = snprintf(out, FILEIO_PATH_MAX, "%s/.local/share/agora", home);
	else
		return error_set(err, ERROR_INVALID,
				 "no state directory: set --state, "
				 "XDG_DATA_HOME or HOME");
	if (n < 0 || n >= FILEIO_PATH_MAX)
		return error_set(err, ERROR_TOO_BIG, "state directory name too long");
	if (state_mkdirs(out, 0700, err) < 0)
		return err ? err->code : ERROR_IO;
	if (chmod(out, 0700) != 0)
		return fileio_error(err, errno, "chmod", out);
	return 0;
}

void state_slug(const char *url, char out[STATE_SLUG_MAX + 1])
{
	size_t i = 0;
	const char *p = strstr(url, "://");

	p = p ? p + 3 : url;
	for (; *p && i < STATE_SLUG_MAX; p++) {
		char c = *p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '-';
		out[i++] = ok ? c : '_';
	}
	if (i == 0 || out[0] == '.')
		out[i == 0 ? i++ : 0] = '_';
	out[i] = '\0';
}

int state_project_path(const char *state, const char *slug, const char *rest, char *out)
{
	int n = snprintf(out, FILEIO_PATH_MAX, "%s/projects/%s%s%s", state, slug, rest ? "/" : "",
			 rest ? rest : "");

	return n < 0 || n >= FILEIO_PATH_MAX ? ERROR_TOO_BIG : 0;
}

static int get_str(json_t *o, const char *k, char *out, size_t cap, struct error *err)
{
	const char *s = json_string_value(json_object_get(o, k));

	if (!s || strlen(s) >= cap)
		return error_set(err, ERROR_FORMAT, "bad or missing '%s'", k);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int project_parse(struct project *p, json_t *o, struct error *err)
{
	char hex[KEY_PUBLIC_HEX_LEN + 1];
	json_int_t host = json_integer_value(json_object_get(o, "host_id"));
	json_int_t share = json_integer_value(json_object_get(o, "share"));
	json_int_t done = json_integer_value(json_object_get(o, "units_done"));

	memset(p, 0, sizeof(*p));
	if (get_str(o, "url", p->url, sizeof(p->url), err) < 0 ||
	    get_str(o, "name", p->name, sizeof(p->name), err) < 0 ||
	    get_str(o, "account", p->account, sizeof(p->account), err) < 0 ||
	    get_str(o, "public_key", hex, sizeof(hex), err) < 0)
		return ERROR_FORMAT;
	if (key_public_from_hex(&p->server_key, hex, err) < 0)
		return ERROR_FORMAT;
	if (host < 0 || share < 1 || share > STATE_SHARE_MAX || done < 0 ||
	    !json_is_number(json_object_get(o, "compute_s")))
		return error_set(err, ERROR_FORMAT, "bad host_id, share, units_done or compute_s");
	p->host_id = host;
	p->share = (unsigned)share;
	p->units_done = (uint64_t)done;
	p->compute_s = json_number_value(json_object_get(o, "compute_s"));
	p->credit = json_number_value(json_object_get(o, "credit"));
	p->clock_skew = json_integer_value(json_object_get(o, "clock_skew"));
	if (p->clock_skew < -STATE_SKEW_MAX || p->clock_skew > STATE_SKEW_MAX)
		return error_set(err, ERROR_FORMAT, "bad clock_skew");
	if (json_object_get(o, "cacert") &&
	    get_str(o, "cacert", p->cacert, sizeof(p->cacert), err) < 0)
		return ERROR_FORMAT;
	state_slug(p->url, p->slug);
	return 0;
}

int state_project_load(const char *state, const char *slug, struct project *p, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	unsigned char *buf = NULL;
	size_t len;
	json_t *o;
	int ret;

	if (state_project_path(state, slug, "project.json", path) < 0)
		return error_set(err, ERROR_TOO_BIG, "project path too long");
	ret = fileio_read_all(path, STATE_PROJECT_JSON_MAX, &buf, &len, err);
	if (ret < 0)
		return ret;
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if (!json_is_object(o)) {
		json_decref(o);
		return error_set(err, ERROR_FORMAT, "'%s' is not a JSON object", path);
	}
	ret = project_parse(p, o, err);
	json_decref(o);
	if (ret < 0) {
		struct error e2 = *err;
		return error_set(err, ret, "'%s': %s", path, e2.msg);
	}
	return 0;
}

int state_project_save(const char *state, const struct project *p, struct error *err)
{
	char path[FILEIO_PATH_MAX], hex[KEY_PUBLIC_HEX_LEN + 1], fp[KEY_FINGERPRINT_LEN + 1];
	json_t *o;
	char *text;
	int ret;

	if (state_project_path(state, p->slug, "project.json", path) < 0)
		return error_set(err, ERROR_TOO_BIG, "project path too long");
	key_public_to_hex(&p->server_key, hex);
	key_fingerprint(&p->server_key, fp);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:f, s:I, s:f}", "url", p->url, "name",
		      p->name, "public_key", hex, "fingerprint", fp, "account", p->account,
		      "host_id", (json_int_t)p->host_id, "share", (int)p->share, "compute_s",
		      p->compute_s, "units_done", (json_int_t)p->units_done, "credit", p->credit);
	if (o && p->clock_skew)
		json_object_set_new(o, "clock_skew", json_integer((json_int_t)p->clock_skew));
	if (o && p->cacert[0])
		json_object_set_new(o, "cacert", json_string(p->cacert));
	text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text)
		return error_set(err, ERROR_NOMEM, "out of memory");
	ret = fileio_write_atomic(path, text, strlen(text), 0600, 0, err);
	free(text);
	return ret;
}

int state_projects(const char *state, struct project *p, int max, struct error *err)
{
	char path[FILEIO_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (snprintf(path, sizeof(path), "%s/projects", state) >= (int)sizeof(path))
		return error_set(err, ERROR_TOO_BIG, "state path too long");
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : fileio_error(err, errno, "open directory", path);
	while ((de = readdir(d)) && n < max) {
		struct error e;

		if (de->d_name[0] == '.')
			continue;
		error_clear(&e);
		if (state_project_load(state, de->d_name, &p[n], &e) < 0) {
			log_warn("skipping project '%s': %s", de->d_name, e.msg);
			continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

int state_pick_project(const struct project *ps, int n, const time_t *next_try, time_t now,
		       time_t *wake)
{
	double best = 0;
	int pick = -1;

	*wake = 0;
	for (int i = 0; i < n; i++) {
		double score = ps[i].compute_s / (double)ps[i].share;

		if (next_try[i] > now) {
			if (!*wake || next_try[i] < *wake)
				*wake = next_try[i];
			continue;
		}
		if (pick < 0 || score < best) {
			pick = i;
			best = score;
		}
	}
	return pick;
}

int state_host_key(const char *state, const struct project *p, struct key_secret *sk,
		   struct error *err)
{
	char path[FILEIO_PATH_MAX];

	if (state_project_path(state, p->slug, "host.key", path) < 0)
		return error_set(err, ERROR_TOO_BIG, "project path too long");
	return key_load_secret(sk, path, err);
}

int state_remove_tree(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : ERROR_IO;
	while ((de = readdir(d))) {
		char sub[FILEIO_PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= (int)sizeof(sub)) {
			ret = ERROR_IO;
			continue;
		}
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			ret = state_remove_tree(sub) < 0 ? ERROR_IO : ret;
		else if (unlink(sub) != 0)
			ret = ERROR_IO;
	}
	closedir(d);
	if (rmdir(path) != 0)
		ret = ERROR_IO;
	return ret;
}
