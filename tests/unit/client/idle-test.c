/*
 * idle-test.c - idle-only computing end to end: a real agora-server with a
 * gpt-tiny unit, a real agora-client (`run --device ref --idle-only yes
 * --idle-minutes 0.05`, i.e. 3 s) whose X display is an Xvfb started here,
 * and synthetic input from xdotool. Checks, reading the client's
 * STATE/status.json:
 *  - it computes once the display has been idle for 3 s;
 *  - a mouse move makes it pause (state "paused", reason "user active")
 *    within 2 s, after a checkpoint;
 *  - it stays paused while the input goes on, and resumes from the
 *    checkpoint once the display has been idle for 3 s again;
 *  - agora-screensaver --window on the same display shows the live
 *    client's job (screenshot kept as tests/unit/client/screensaver-live.png);
 *  - SIGTERM still checkpoints and exits 0.
 * Skips without Xvfb or xdotool, or without agora-screensaver's X11.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/status.h"
#include "tests/tap.h"
#include "tests/unit/client/cluster.h"

static struct cluster c;
static char status_path[512];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static int have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Starts Xvfb on a free display (no lock file, no socket, from :150 up,
 * away from xvfb-run -a's :99 and up);
 * its pid, *disp the number; waits for its socket. */
static pid_t xvfb_start(int *disp)
{
	char lock[64], sock[64], num[16];
	pid_t pid;

	for (int d = 150; d < 250; d++) {
		snprintf(lock, sizeof(lock), "/tmp/.X%d-lock", d);
		snprintf(sock, sizeof(sock), "/tmp/.X11-unix/X%d", d);
		if (access(lock, F_OK) == 0 || access(sock, F_OK) == 0)
			continue;
		snprintf(num, sizeof(num), ":%d", d);
		pid = fork();
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stderr))
				_exit(127);
			execlp("Xvfb", "Xvfb", num, "-screen", "0", "900x640x24", "-nolisten", "tcp",
			       (char *)NULL);
			_exit(127);
		}
		if (pid < 0)
			return -1;
		for (int i = 0; i < 150 && access(sock, F_OK) != 0; i++) {
			if (waitpid(pid, NULL, WNOHANG) == pid)
				break; /* lost a race for that display: try the next */
			sleep_s(0.1);
		}
		if (access(sock, F_OK) == 0 && kill(pid, 0) == 0) {
			*disp = d;
			return pid;
		}
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	return -1;
}

static int read_status(struct status *st)
{
	return status_read(status_path, st, NULL);
}

/* Waits until the status says state (and reason, when not NULL); the
 * seconds it took, or -1 after timeout_s. */
static double wait_state(const char *state, const char *reason, double timeout_s)
{
	double t0 = now_s();
	struct status st;

	while (now_s() - t0 < timeout_s) {
		if (read_status(&st) == 0 && strcmp(st.state, state) == 0 &&
		    (!reason || strcmp(st.reason, reason) == 0))
			return now_s() - t0;
		sleep_s(0.02);
	}
	return -1;
}

static int input(int x)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "xdotool mousemove %d %d", x, 100 + x % 50);
	return system(cmd);
}

static void screensaver_shot(const char *client_state)
{
	char bin[512], out[600], cmd[2400], log[560];
	const char *top = getenv("top_builddir");
	pid_t pid;
	int st = -1;

	cluster_bin("agora-screensaver", bin, sizeof(bin));
	if (access(bin, X_OK) != 0) {
		tap_skip("agora-screensaver not built (no X11 at configure)");
		return;
	}
	snprintf(out, sizeof(out), "%s/tests/unit/client/screensaver-live.png", top ? top : ".");
	snprintf(log, sizeof(log), "%s/screensaver.log", c.root);
	setenv("XDG_CACHE_HOME", c.root, 1); /* its loss history goes to the scratch dir */
	pid = fork();
	if (pid == 0) {
		if (!freopen(log, "w", stderr))
			_exit(127);
		execl(bin, bin, "--window", "--still", "--print-layout", "--state", client_state,
		      (char *)NULL);
		_exit(127);
	}
	sleep_s(4);
	snprintf(cmd, sizeof(cmd),
		 "xwd -root -silent | convert xwd:- 'png:%s' && "
		 "b=$(awk '$1 == \"layout\" && $2 == \"job\" { printf \"%%dx%%d+%%d+%%d\", $5, $6, $3, "
		 "$4 }' '%s') && [ -n \"$b\" ] && "
		 "[ \"$(convert '%s' -crop \"$b\" +repage -format %%k info:)\" -ge 2 ]",
		 out, log, out);
	if (have("xwd") && have("convert"))
		TAP_IS(system(cmd), 0, "screensaver: the live client's job line is drawn");
	else
		tap_skip("no xwd or convert: no screenshot");
	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
	TAP_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "screensaver: SIGTERM, exit 0");
	tap_diag("screenshot: %s", out);
}

int main(void)
{
	struct cluster_unit_opts big = {.steps = 2000, .batch = 1, .quorum = 1};
	const char *attach[] = {"attach", NULL, NULL};
	const char *run[] = {"run",	      "--device",	     "ref",	    "--idle-only", "yes",
			     "--idle-minutes", "0.05",	     "--idle-max", "1",	    NULL};
	char disp[32], cstate[600];
	struct hash uid;
	struct status st;
	pid_t xvfb, client;
	double dt, t1;
	int d = 0, paused_all = 1;

	if (!have("Xvfb") || !have("xdotool"))
		tap_skip_all("no Xvfb or xdotool (Debian: xvfb xdotool)");
	if ((xvfb = xvfb_start(&d)) < 0)
		tap_skip_all("Xvfb does not start");
	snprintf(disp, sizeof(disp), ":%d", d);
	setenv("DISPLAY", disp, 1);
	unsetenv("WAYLAND_DISPLAY"); /* the client would ask logind instead */
	if (cluster_open(&c, "gpt-tiny") < 0 || cluster_unit(&c, &big, &uid) < 0 ||
	    cluster_server_start(&c, 0) < 0) {
		kill(xvfb, SIGTERM);
		tap_skip_all("cannot start the cluster");
	}
	cluster_client_path(&c, "desk", "status.json", status_path, sizeof(status_path));
	cluster_client_path(&c, "desk", "", cstate, sizeof(cstate));
	attach[1] = c.url;
	TAP_IS(cluster_wait(cluster_client(&c, "desk", attach), 30), 0, "attach");
	input(1); /* the user is here */
	client = cluster_client(&c, "desk", run);
	dt = wait_state("paused", "user active", 20);
	TAP_OK(dt >= 0, "with recent input the client waits: paused, user active");
	dt = wait_state("computing", NULL, 120);
	TAP_OK(dt >= 0, "after 3 s without input it computes (%.1fs)", dt);
	sleep_s(1.5);

	t1 = now_s();
	input(10);
	dt = wait_state("paused", "user active", 10);
	tap_diag("paused %.2fs after the input", dt);
	TAP_OK(dt >= 0 && dt <= 2.0, "a mouse move pauses it within 2 s (%.2fs)", dt);
	TAP_OK(cluster_log_has(&c, "desk", "paused (user active)") &&
		   cluster_log_has(&c, "desk", "checkpoint saved"),
	       "after saving a checkpoint");
	for (int i = 0; i < 8; i++) { /* the user keeps working */
		input(20 + i);
		sleep_s(0.25);
		if (read_status(&st) != 0 || strcmp(st.state, "paused") != 0)
			paused_all = 0;
	}
	TAP_OK(paused_all, "it stays paused while the input goes on");
	t1 = now_s();
	dt = wait_state("computing", NULL, 60);
	TAP_OK(dt >= 2.5, "it resumes only after the idle period (%.1fs after the last input)",
	       now_s() - t1);
	TAP_OK(cluster_log_has(&c, "desk", "resuming unit"), "from its checkpoint");

	screensaver_shot(cstate);

	kill(client, SIGTERM);
	TAP_IS(cluster_wait(client, 60), 0, "SIGTERM: exit 0");
	TAP_OK(read_status(&st) == 0 && strcmp(st.state, "stopped") == 0, "status says stopped");
	cluster_close(&c);
	kill(xvfb, SIGTERM);
	waitpid(xvfb, NULL, 0);
	return tap_done();
}
