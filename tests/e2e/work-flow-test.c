/*
 * work-flow-test.c - end to end: a real agora-server and three real
 * agora-client processes on 127.0.0.1 compute a small gpt-tiny job on the
 * machine's OpenCL device (PoCL on a CPU; exit 77 without a usable one).
 *
 * The job has CLIENTS units of quorum 2, H steps at batch 1. Three hosts
 * of three accounts attach (pinning the coordinator key by fingerprint)
 * and run until every replica is over; then every unit must have two
 * results from two distinct hosts, the results must agree (the same
 * output hash: the kernels are deterministic), the blobs must be stored,
 * and SIGTERM must stop each client cleanly.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/runtime.h"
#include "tests/tap.h"
#include "tests/unit/client/cluster.h"

#define UNITS  3
#define QUORUM 2
#define STEPS  2

static void msleep(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int usable_device(void)
{
	struct runtime_device *devs = NULL;
	struct error err;
	size_t n = 0;
	int ok = 0;

	if (runtime_devices(&devs, &n, &err) == 0)
		for (size_t i = 0; i < n; i++)
			ok |= devs[i].info.usable;
	free(devs);
	return ok;
}

int main(void)
{
	static const char *names[3] = {"ann", "bob", "cat"};
	struct cluster_unit_opts uo = {.steps = STEPS, .batch = 1, .quorum = QUORUM};
	struct cluster c;
	struct hash uid[UNITS];
	char fp[KEY_FINGERPRINT_LEN + 1];
	pid_t pid[3];
	long long over = 0;
	time_t t0;

	signal(SIGPIPE, SIG_IGN);
	if (!usable_device())
		tap_skip_all("no usable OpenCL device");
	if (cluster_open(&c, "gpt-tiny") < 0)
		tap_skip_all("cannot set up a server state");
	for (int i = 0; i < UNITS; i++)
		if (cluster_unit(&c, &uo, &uid[i]) < 0)
			tap_skip_all("cannot add units");
	if (cluster_server_start(&c, 0) < 0)
		tap_skip_all("cannot start agora-server");
	key_fingerprint(&c.coord_pk, fp);
	for (int i = 0; i < 3; i++) {
		const char *args[] = {"attach", c.url, "--fingerprint", fp, "--account",
				      names[i], NULL};
		TAP_IS(cluster_wait(cluster_client(&c, names[i], args), 30), 0,
		       "a client attaches");
	}
	t0 = time(NULL);
	for (int i = 0; i < 3; i++) {
		const char *args[] = {"run", "--idle-max", "1", NULL};
		pid[i] = cluster_client(&c, names[i], args);
	}
	for (int i = 0; i < 3000 && over < UNITS * QUORUM; i++, msleep(100))
		over = cluster_sql(&c, "SELECT count(*) FROM replicas WHERE state = 'over'");
	TAP_IS(over, UNITS * QUORUM, "every replica is over");
	tap_diag("%d units x %d replicas of gpt-tiny, %d steps, on 3 clients: %lds", UNITS, QUORUM,
		 STEPS, (long)(time(NULL) - t0));
	for (int i = 0; i < 3; i++)
		kill(pid[i], SIGTERM);
	for (int i = 0; i < 3; i++)
		TAP_IS(cluster_wait(pid[i], 60), 0, "SIGTERM stops a client cleanly");

	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM replicas WHERE outcome = 'success'"),
	       UNITS * QUORUM, "every replica succeeded");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM results"), UNITS * QUORUM,
	       "one result per replica is stored");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM (SELECT p.unit FROM results r JOIN replicas p"
			       " ON p.id = r.replica GROUP BY p.unit"
			       " HAVING count(DISTINCT r.host) = 2)"),
	       UNITS, "each unit's results come from two distinct hosts");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM (SELECT p.unit FROM results r JOIN replicas p"
			       " ON p.id = r.replica GROUP BY p.unit"
			       " HAVING count(DISTINCT r.blob) = 1)"),
	       UNITS, "the replicas of each unit agree bitwise (one output hash)");
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM results r WHERE NOT EXISTS"
			       " (SELECT 1 FROM blobs b WHERE b.hash = r.blob)"),
	       0, "every output blob is recorded");
	/* Validation is the coordinator's business and this job is a bare
	 * database row without a job spec: report what the server did, the
	 * agreement above is what the clients guarantee. */
	{
		long long v = 0;
		for (int i = 0; i < 100 && v < UNITS; i++, msleep(100))
			v = cluster_sql(&c, "SELECT count(*) FROM units WHERE state = 'validated'");
		tap_diag("units the server marked validated: %lld of %d", v, UNITS);
	}
	cluster_close(&c);
	return tap_done();
}
