/*
 * runner-test.c - agora-client against a real agora-server, as processes
 * on 127.0.0.1, computing gpt-test units on the C reference (--device ref):
 *
 *  - attach with a wrong --fingerprint is refused and pins nothing;
 *  - units signed by another key, with an unknown preset or another kernel
 *    ABI are refused with one log line each, given back to the server
 *    (POST /api/v1/abandon), and the client carries on to the good unit
 *    behind them;
 *  - kill -9 of a client mid-unit: the restarted client resumes from its
 *    last checkpoint (fewer steps recomputed) and exactly one result is
 *    stored; SIGTERM mid-unit checkpoints and exits 0; while it computes,
 *    it sends heartbeats at the period the server names (1 s here);
 *  - a --device that cannot be opened stops the client (exit 1) and keeps
 *    the unit for the next run;
 *  - a wrong recorded clock offset (requests refused as stale) is
 *    re-measured from the server's time and the work goes on;
 *  - kill -9 of the server in the middle of an upload (the client sends
 *    at 16 KiB/s, and the server is seen streaming it into a temporary
 *    file): after the restart nothing is half-written (no result row, no
 *    blob row, no temporary file) and the client's retry completes the
 *    upload, once.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/state.h"
#include "client/status.h"
#include "tests/tap.h"
#include "tests/unit/client/cluster.h"

static struct cluster c;

/* Files in the server's blob store temporary directory. */
static int server_tmp_files(void)
{
	char tmp[600];
	int files = 0;
	struct dirent *de;
	DIR *d;

	snprintf(tmp, sizeof(tmp), "%s/blobs/tmp", c.sstate);
	if ((d = opendir(tmp))) {
		while ((de = readdir(d)))
			files += de->d_name[0] != '.';
		closedir(d);
	}
	return files;
}

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static long long results_of(const struct hash *uid)
{
	char hex[HASH_HEX_LEN + 1], sql[300];

	hash_to_hex(uid, hex);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM results r JOIN replicas p ON p.id = r.replica"
		 " JOIN units u ON u.id = p.unit WHERE u.uid = '%s'",
		 hex);
	return cluster_sql(&c, sql);
}

/* Reads the client's status file; 0 when readable. */
static int status_of(const char *name, struct status *st)
{
	char path[600];

	cluster_client_path(&c, name, "status.json", path, sizeof(path));
	return status_read(path, st, NULL);
}

/* Waits (bounded) until the client's status is `state` with step >= min. */
static int wait_status(const char *name, const char *state, uint64_t min, double timeout_s)
{
	struct status st;

	for (int i = 0; i < (int)(timeout_s * 50); i++, msleep(20))
		if (status_of(name, &st) == 0 && strcmp(st.state, state) == 0 && st.step >= min)
			return 1;
	return 0;
}

static int attach(const char *name, const char *fp)
{
	const char *args[] = {"attach", c.url, "--account", name, fp ? "--fingerprint" : NULL,
			      fp,       NULL};
	return cluster_wait(cluster_client(&c, name, args), 30);
}

static void test_refusals(void)
{
	char path[600];

	TAP_IS(attach("mallory", "0000:0000:0000:0000:0000:0000:0000:0000"), 1,
	       "attach with a wrong fingerprint fails");
	TAP_OK(cluster_log_has(&c, "mallory", "fingerprint mismatch"), "and says why");
	cluster_client_path(&c, "mallory", "projects", path, sizeof(path));
	{
		DIR *d = opendir(path);
		int empty = 1;
		struct dirent *de;
		while (d && (de = readdir(d)))
			empty &= de->d_name[0] == '.';
		if (d)
			closedir(d);
		TAP_OK(empty, "nothing is pinned");
	}
}

static struct hash u_sig, u_preset, u_abi, u_good, u_kill, u_srv, u_dev, u_skew;
static long steps_kill = 1500;
static const char *run1[] = {"run", "--device", "ref", "--max-units", "1", NULL};
static const char *runk[] = {"run", "--device", "ref", "--max-units", "1", "--checkpoint-interval",
			     "0",   "--stall",  "5",   NULL};
static const char *runu[] = {"run", "--device",       "ref",   "--max-units",
			     "1",   "--upload-limit", "16384", NULL};

/* The units, in the order the server hands them out. */
static void add_units(void)
{
	struct cluster_unit_opts bad = {.steps = 3, .batch = 2, .quorum = 1};
	struct cluster_unit_opts good = {.steps = 4, .batch = 2, .quorum = 1};
	struct cluster_unit_opts big = {.steps = 0, .batch = 4, .quorum = 1};
	struct key_public opk;
	struct key_secret osk;

	if (key_generate(&opk, &osk) < 0)
		tap_skip_all("no keys");
	bad.signer = &osk;
	cluster_unit(&c, &bad, &u_sig);
	bad.signer = NULL;
	bad.preset = "gpt-nonexistent";
	cluster_unit(&c, &bad, &u_preset);
	bad.preset = NULL;
	bad.kernel_abi = 7;
	cluster_unit(&c, &bad, &u_abi);
	TAP_IS(cluster_unit(&c, &good, &u_good), 0, "units added");
	big.steps = (int)steps_kill;
	cluster_unit(&c, &big, &u_kill);
	big.steps = (int)(steps_kill / 3);
	cluster_unit(&c, &big, &u_srv);
	cluster_unit(&c, &good, &u_dev);
	cluster_unit(&c, &good, &u_skew);
}

static void test_bad_units(void)
{
	/* the three bad units come first; the client refuses each, goes on */
	TAP_IS(cluster_wait(cluster_client(&c, "ann", run1), 120), 0, "run --max-units 1 exits 0");
	TAP_OK(cluster_log_has(&c, "ann", "refusing unit (replica 1)") &&
		   cluster_log_has(&c, "ann", "envelope signed by key"),
	       "a wrongly signed unit is refused with a log line");
	TAP_OK(cluster_log_has(&c, "ann", "unknown preset 'gpt-nonexistent'"),
	       "an unknown preset is refused");
	TAP_OK(cluster_log_has(&c, "ann", "kernel abi 7"), "another kernel ABI is refused");
	TAP_IS(results_of(&u_sig) + results_of(&u_preset) + results_of(&u_abi), 0,
	       "no result for a refused unit");
	TAP_IS(results_of(&u_good), 1, "the good unit behind them is computed and stored");
	{
		char a[HASH_HEX_LEN + 1], b[HASH_HEX_LEN + 1], d[HASH_HEX_LEN + 1], sql[500];
		hash_to_hex(&u_sig, a);
		hash_to_hex(&u_preset, b);
		hash_to_hex(&u_abi, d);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM replicas p JOIN units u ON u.id = p.unit"
			 " WHERE u.uid IN ('%s', '%s', '%s') AND p.outcome = 'error'",
			 a, b, d);
		TAP_IS(cluster_sql(&c, sql), 3, "each refused replica is given back (abandon)");
	}
}

static void test_client_kill(void)
{
	struct status st;
	uint64_t killed_at;
	pid_t pid;

	/* kill -9 of the client mid-unit */
	pid = cluster_client(&c, "ann", runk);
	TAP_OK(wait_status("ann", "computing", (uint64_t)steps_kill / 4, 120),
	       "the client computes the long unit");
	{
		/* the server asks for a heartbeat every second (main()); the
		 * client sends nothing else in the middle of a unit */
		char hex[HASH_HEX_LEN + 1], sql[300];
		long long seen0, seen1;

		hash_to_hex(&u_kill, hex);
		snprintf(sql, sizeof(sql),
			 "SELECT h.last_seen FROM hosts h JOIN replicas r ON r.host = h.id"
			 " JOIN units u ON u.id = r.unit WHERE u.uid = '%s'",
			 hex);
		seen0 = cluster_sql(&c, sql);
		msleep(2500);
		seen1 = cluster_sql(&c, sql);
		if (status_of("ann", &st) < 0)
			memset(&st, 0, sizeof(st));
		if (strcmp(st.state, "computing") != 0 || st.step >= (uint64_t)steps_kill)
			tap_skip("the unit was done within the 2.5 s looked at (a fast machine: "
				 "raise RUNNER_TEST_STEPS)");
		TAP_OK(seen1 > seen0 && seen0 > 0,
		       "heartbeats while it computes: last seen %lld s later (step %llu)",
		       seen1 - seen0, (unsigned long long)st.step);
	}
	msleep(300);
	kill(pid, SIGKILL);
	cluster_wait(pid, 10);
	if (status_of("ann", &st) < 0)
		memset(&st, 0, sizeof(st));
	TAP_OK(st.step > 0 && st.step < (uint64_t)steps_kill, "killed mid-unit (step %llu of %ld)",
	       (unsigned long long)st.step, steps_kill);
	TAP_IS(results_of(&u_kill), 0, "no result yet");
	killed_at = st.step;
	pid = cluster_client(&c, "ann", runk);
	TAP_OK(wait_status("ann", "computing", killed_at + 50, 120),
	       "the restarted client computes");
	{
		const char *twice[] = {"run", "--device", "ref", "--once", NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", twice), 30), 1,
		       "a second run loop on the same state directory is refused");
		TAP_OK(cluster_log_has(&c, "ann", "another agora-client is already running"),
		       "saying why");
	}
	kill(pid, SIGTERM);
	TAP_IS(cluster_wait(pid, 30), 0, "SIGTERM mid-unit: it exits 0");
	TAP_OK(cluster_log_has(&c, "ann", "checkpoint saved"), "after saving a checkpoint");
	TAP_IS(cluster_wait(cluster_client(&c, "ann", runk), 180), 0,
	       "the restarted client exits 0");
	TAP_OK(cluster_log_has(&c, "ann", "resuming unit"), "it resumed from a checkpoint");
	{
		char hex[HASH_HEX_LEN + 1], line[128];
		hash_to_hex(&u_kill, hex);
		snprintf(line, sizeof(line), "unit %.16s computed on 'c reference'", hex);
		TAP_OK(cluster_log_has(&c, "ann", line), "the killed unit is computed");
		snprintf(line, sizeof(line), "(steps 0..%ld,", steps_kill);
		TAP_OK(!cluster_log_has(&c, "ann", line),
		       "and not from step 0: fewer steps recomputed");
	}
	TAP_IS(results_of(&u_kill), 1, "exactly one result stored for the killed unit");
}

static void test_server_kill(void)
{
	long long blobs;
	pid_t pid;

	/* kill -9 of the server in the middle of an upload (sent at 16 KiB/s) */
	blobs = cluster_sql(&c, "SELECT count(*) FROM blobs");
	pid = cluster_client(&c, "ann", runu);
	TAP_OK(wait_status("ann", "uploading", 0, 180), "the client uploads the next unit");
	for (int i = 0; i < 500 && server_tmp_files() == 0; i++)
		msleep(20);
	TAP_OK(server_tmp_files() > 0, "the server is streaming it into a temporary file");
	msleep(500);
	cluster_server_signal(&c, SIGKILL);
	cluster_server_reap(&c);
	TAP_IS(results_of(&u_srv), 0, "after kill -9 mid-upload: no result row");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM blobs"), blobs, "and no blob recorded");
	{
		struct status a, b;
		int fresh = status_of("ann", &a) == 0;
		msleep(3500);
		fresh = fresh && status_of("ann", &b) == 0 && b.updated > a.updated &&
			strcmp(b.state, "uploading") == 0;
		TAP_OK(fresh, "while it retries, the status file stays fresh (state uploading)");
	}
	TAP_OK(cluster_server_start(&c, c.port) == 0, "the server restarts on the same port");
	TAP_IS(server_tmp_files(), 0, "the partial upload's temporary file is gone");
	TAP_IS(cluster_wait(pid, 180), 0, "the client's retry completes and it exits 0");
	TAP_IS(results_of(&u_srv), 1, "exactly one result stored for that unit");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM blobs"), blobs + 1, "and its blob, once");
	TAP_OK(cluster_log_has(&c, "ann", "cannot upload unit"), "the failed attempt is logged");

	{
		const char *args[] = {"status", "--json", NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", args), 30), 0, "status --json");
		TAP_OK(cluster_log_has(&c, "ann", "\"units_done\": 3"),
		       "it counts the three units done");
	}
}

static void test_device(void)
{
	/* a device that cannot be opened stops the client; the unit stays */
	{
		const char *nodev[] = {"run", "--device", "no-such-device", "--once", NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", nodev), 60), 1,
		       "an unusable --device: run exits 1");
		TAP_OK(cluster_log_has(&c, "ann", "device failure"), "saying why");
		TAP_IS(cluster_wait(cluster_client(&c, "ann", run1), 60), 0,
		       "the next run with a working device");
		TAP_IS(results_of(&u_dev), 1, "computes the kept unit");
	}
}

/* A host whose recorded clock offset is 1000 s wrong: its requests are
 * stale; it re-measures the offset and carries on. */
static void test_clock(void)
{
	char state[600], slug[STATE_SLUG_MAX + 1];
	struct project p;
	struct error err;
	int ok;

	cluster_client_path(&c, "ann", "", state, sizeof(state));
	state_slug(c.url, slug);
	ok = state_project_load(state, slug, &p, &err) == 0;
	p.clock_skew = 1000;
	ok = ok && state_project_save(state, &p, &err) == 0;
	TAP_OK(ok, "the recorded clock offset is made 1000 s wrong");
	TAP_IS(cluster_wait(cluster_client(&c, "ann", run1), 60), 0,
	       "run still computes and uploads a unit");
	TAP_OK(cluster_log_has(&c, "ann", "refused a request as stale"),
	       "after re-measuring the clock offset");
	TAP_IS(results_of(&u_skew), 1, "the unit's result is stored");
	ok = state_project_load(state, slug, &p, &err) == 0 && p.clock_skew > -100 &&
	     p.clock_skew < 100;
	TAP_OK(ok, "and the corrected offset is recorded");
}

/* The blob cache's budget: a run with a budget below what the cache
 * holds trims it at start (debris first, the recently used blobs stay),
 * and `status` shows the usage. */
static void test_cache(void)
{
	const char *run_small[] = {"run", "--device", "ref", "--once", "--max-disk-mb", "16", NULL};
	const char *st_text[] = {"status", NULL}, *st_json[] = {"status", "--json", NULL};
	char dir[600], path[700], log[300], hex[HASH_HEX_LEN + 1];
	struct hash junk;
	int fd, ok;

	snprintf(log, sizeof(log), "%s/ann.log", c.root); /* emptied before each status */

	cluster_client_path(&c, "ann", "blobs", dir, sizeof(dir));
	hash_buf(&junk, "junk", 4);
	hash_to_hex(&junk, hex);
	snprintf(path, sizeof(path), "%s/%s.tmp-1-1", dir, hex);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok = fd >= 0 && ftruncate(fd, 20 << 20) == 0; /* sparse: 20 MiB counted */
	if (fd >= 0)
		close(fd);
	TAP_OK(ok, "a 20 MiB temporary file is left in the blob cache");
	ok = truncate(log, 0) == 0;
	TAP_IS(cluster_wait(cluster_client(&c, "ann", st_text), 30), 0, "status");
	TAP_OK(ok && cluster_log_has(&c, "ann", "blob cache: 20.") &&
		   cluster_log_has(&c, "ann", "of 1024.0 MiB") &&
		   cluster_log_has(&c, "ann", "2 blobs, 1 temporary file"),
	       "it shows the cache's usage, budget, blobs and debris");
	TAP_IS(cluster_wait(cluster_client(&c, "ann", run_small), 60), 0,
	       "run --once --max-disk-mb 16");
	TAP_OK(access(path, F_OK) != 0, "trimmed the cache at start: the temporary file is gone");
	hash_to_hex(&c.model, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	ok = access(path, F_OK) == 0;
	hash_to_hex(&c.shard, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	TAP_OK(ok && access(path, F_OK) == 0, "the model and the shard stay");
	ok = truncate(log, 0) == 0;
	TAP_IS(cluster_wait(cluster_client(&c, "ann", st_json), 30), 0, "status --json");
	TAP_OK(ok && cluster_log_has(&c, "ann", "\"cache\": {") &&
		   cluster_log_has(&c, "ann", "\"budget\": 1073741824") &&
		   cluster_log_has(&c, "ann", "\"blobs\": 2") &&
		   cluster_log_has(&c, "ann", "\"tmps\": 0"),
	       "its cache object: budget, two blobs, no temporary file");
}

int main(void)
{
	const char *env_steps = getenv("RUNNER_TEST_STEPS");
	char fp[KEY_FINGERPRINT_LEN + 1];

	if (env_steps)
		steps_kill = strtol(env_steps, NULL, 10);
	if (steps_kill < 100 || steps_kill > 1000000)
		steps_kill = 1500;
	signal(SIGPIPE, SIG_IGN);
	if (cluster_open(&c, "gpt-test") < 0)
		tap_skip_all("cannot set up a server state");
	add_units();
	c.heartbeat_s = 1;
	if (cluster_server_start(&c, 0) < 0)
		tap_skip_all("cannot start agora-server");

	test_refusals();
	key_fingerprint(&c.coord_pk, fp);
	TAP_IS(attach("ann", fp), 0, "attach with the right fingerprint");
	test_bad_units();
	test_client_kill();
	test_server_kill();
	test_device();
	test_clock();
	test_cache();
	cluster_close(&c);
	return tap_done();
}
