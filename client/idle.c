/*
 * idle.c - idle time from X11 or logind, and the compute gate (see
 * idle.h). The X connection is opened once and kept; when the X server
 * goes away its I/O error handler marks the connection dead instead of
 * ending the client, and a new connection is tried every IDLE_X_RETRY_S.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_X11
#include <X11/Xlib.h>
#include <X11/extensions/scrnsaver.h>
#endif

#include "client/idle.h"
#include "client/power.h"
#include "common/log.h"
#include "kernels/model.h"

#define IDLE_X_RETRY_S     30.0
#define IDLE_LOGIND_POLL_S 1.0

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int idle_decide(const struct prefs *p, const struct idle_inputs *in, char *why, size_t cap)
{
	snprintf(why, cap, "%s", "");
	if (!p->use_gpu && !p->use_cpu)
		return snprintf(why, cap, "use-gpu and use-cpu are both no"), 0;
	if (in->device_ref && !p->use_cpu)
		return snprintf(why, cap, "use-cpu is no"), 0;
	if (!power_hours_allow(p->hours_from, p->hours_to, in->minute)) {
		char h[32];

		prefs_format(p, PREFS_HOURS, h, sizeof(h));
		return snprintf(why, cap, "outside hours (%s)", h), 0;
	}
	if (p->pause_on_battery && in->on_battery)
		return snprintf(why, cap, "on battery"), 0;
	if (p->max_temp_c > 0 && in->temp_known &&
	    in->temp_c > (double)p->max_temp_c - (in->hot ? IDLE_TEMP_HYST : 0.0))
		return snprintf(why, cap, "too hot (%.0f C, max %d C)", in->temp_c, p->max_temp_c), 0;
	if (!p->idle_only)
		return 1;
	if (!in->idle_known)
		return snprintf(why, cap, "idle unknown (no X display, no logind; set idle-only = no)"),
		       0;
	if (in->idle_s < p->idle_s)
		return snprintf(why, cap, "user active"), 0;
	return 1;
}

int idle_parse_logind(const char *text, double now, double *idle_s)
{
	const char *h = strstr(text, "IdleHint="), *s = strstr(text, "IdleSinceHint=");
	double since;

	if (!h)
		return -1;
	h += strlen("IdleHint=");
	if (strncmp(h, "no", 2) == 0) {
		*idle_s = 0;
		return 0;
	}
	if (strncmp(h, "yes", 3) != 0)
		return -1;
	if (!s) {
		*idle_s = 1e9; /* idle, since an unknown time */
		return 0;
	}
	since = strtod(s + strlen("IdleSinceHint="), NULL) / 1e6;
	*idle_s = since > 0 && since <= now ? now - since : 1e9;
	return 0;
}

/* ---- idle sources ---- */

#ifdef HAVE_X11
static Display *x_dpy;
static XScreenSaverInfo *x_info;
static int x_dead;
static double x_next_try;

static int x_io_error(Display *d)
{
	(void)d;
	x_dead = 1;
	return 0;
}

#ifdef HAVE_XIOERROREXIT
static void x_io_exit(Display *d, void *data)
{
	(void)d;
	(void)data;
	x_dead = 1; /* returning here keeps the process alive */
}
#endif

static int x_idle(double *idle_s)
{
	int ev, er;

	if (x_dead) { /* the server went away: forget the connection (leaked) */
		x_dpy = NULL;
		x_dead = 0;
		x_next_try = mono() + IDLE_X_RETRY_S;
	}
	if (!x_dpy) {
		/* under Wayland, XWayland sees no input to native windows: logind */
		if (!getenv("DISPLAY") || getenv("WAYLAND_DISPLAY") || mono() < x_next_try)
			return -1;
		x_next_try = mono() + IDLE_X_RETRY_S;
		if (!(x_dpy = XOpenDisplay(NULL)))
			return -1;
		XSetIOErrorHandler(x_io_error);
#ifdef HAVE_XIOERROREXIT
		XSetIOErrorExitHandler(x_dpy, x_io_exit, NULL);
#endif
		if (!XScreenSaverQueryExtension(x_dpy, &ev, &er)) {
			XCloseDisplay(x_dpy);
			x_dpy = NULL;
			return -1;
		}
		if (!x_info && !(x_info = XScreenSaverAllocInfo()))
			return -1;
	}
	if (!XScreenSaverQueryInfo(x_dpy, DefaultRootWindow(x_dpy), x_info) || x_dead)
		return -1;
	*idle_s = (double)x_info->idle / 1000.0;
	return 0;
}
#else
static int x_idle(double *idle_s)
{
	(void)idle_s;
	return -1;
}
#endif

static int logind_idle(double *idle_s)
{
	static double next, last_val;
	static int last_ok = -1;
	char buf[512];
	size_t n;
	FILE *f;

	if (last_ok >= 0 && mono() < next) {
		*idle_s = last_val;
		return last_ok ? 0 : -1;
	}
	next = mono() + IDLE_LOGIND_POLL_S;
	last_ok = 0;
	f = popen("loginctl show-session -p IdleHint -p IdleSinceHint 2>/dev/null", "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	if (pclose(f) == 0 && idle_parse_logind(buf, (double)time(NULL), &last_val) == 0)
		last_ok = 1;
	*idle_s = last_val;
	return last_ok ? 0 : -1;
}

int idle_seconds(double *idle_s, const char **source)
{
	const char *src = "none";
	int ret = -1;

	if (x_idle(idle_s) == 0)
		src = "x11", ret = 0;
	else if (logind_idle(idle_s) == 0)
		src = "logind", ret = 0;
	if (source)
		*source = src;
	return ret;
}

/* ---- the gate ---- */

static struct {
	int set;
	struct prefs p;
	int device_ref;
	char sysfs[256];
	double next_eval;
	int ok, hot;
	char why[IDLE_REASON_MAX];
	double step_end; /* when the last step's gate check returned (0: none) */
} gate;

void idle_gate_setup(const struct prefs *p, const char *device, const char *sysfs)
{
	const char *src;
	double s;

	memset(&gate, 0, sizeof(gate));
	gate.set = 1;
	gate.p = *p;
	gate.device_ref = device && strcmp(device, "ref") == 0;
	snprintf(gate.sysfs, sizeof(gate.sysfs), "%s", sysfs ? sysfs : "/sys");
	if (idle_seconds(&s, &src) == 0)
		log_info("idle detection: %s (idle %.0fs now), computing after %.0fs idle%s", src, s,
			 p->idle_s, p->idle_only ? "" : " (idle-only = no: always)");
	else
		log_info("idle detection: none (no X display with MIT-SCREEN-SAVER, no logind)%s",
			 p->idle_only ? "; idle-only = yes: not computing" : "");
}

int idle_should_compute(char *why, size_t cap)
{
	struct idle_inputs in;
	double now = mono();

	if (!gate.set)
		return 1;
	if (now >= gate.next_eval) {
		memset(&in, 0, sizeof(in));
		if (gate.p.idle_only)
			in.idle_known = idle_seconds(&in.idle_s, NULL) == 0;
		in.on_battery = gate.p.pause_on_battery && power_on_battery(gate.sysfs);
		in.temp_known =
		    gate.p.max_temp_c > 0 && power_temp_c(gate.sysfs, &in.temp_c) == 0;
		in.minute = power_minute_of_day(time(NULL));
		in.device_ref = gate.device_ref;
		in.hot = gate.hot;
		gate.ok = idle_decide(&gate.p, &in, gate.why, sizeof(gate.why));
		gate.hot = !gate.ok && strncmp(gate.why, "too hot", 7) == 0;
		gate.next_eval = now + IDLE_POLL_S;
	}
	if (why)
		snprintf(why, cap, "%s", gate.ok ? "" : gate.why);
	return gate.ok;
}

static void nap(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

int idle_gate_wait(volatile sig_atomic_t *stop, void (*paused)(void *ctx, const char *why),
		   void *ctx)
{
	char why[IDLE_REASON_MAX], last[IDLE_REASON_MAX] = "";

	while (!(stop && *stop)) {
		if (idle_should_compute(why, sizeof(why))) {
			gate.step_end = mono();
			return 1;
		}
		if (strcmp(why, last) != 0) {
			log_info("paused: %s", why);
			if (paused)
				paused(ctx, why);
			snprintf(last, sizeof(last), "%s", why);
		}
		nap(IDLE_POLL_S);
	}
	return 0;
}

int idle_gate_step(volatile sig_atomic_t *stop, char *why, size_t cap)
{
	double rest = 0, end, step_s = gate.step_end > 0 ? mono() - gate.step_end : 0;
	int ok = 1;

	if (step_s > IDLE_STEP_MAX_S)
		step_s = IDLE_STEP_MAX_S;
	if (gate.set && gate.p.cpu_percent < 100 && step_s > 0)
		rest = step_s * (double)(100 - gate.p.cpu_percent) / (double)gate.p.cpu_percent;
	end = mono() + rest;
	for (;;) {
		double left = end - mono();

		if (!idle_should_compute(why, cap)) {
			ok = 0;
			break;
		}
		if (left <= 0 || (stop && *stop))
			break;
		nap(left < IDLE_POLL_S ? left : IDLE_POLL_S);
	}
	gate.step_end = mono();
	return ok;
}

const struct prefs *idle_gate_prefs(void)
{
	return gate.set ? &gate.p : NULL;
}

unsigned long long idle_gate_max_blob(void)
{
	return gate.set ? (unsigned long long)gate.p.max_disk_mb << 20 : 1ull << 30;
}

int idle_gate_unit_fits(const char *preset, unsigned B, char *why, size_t cap)
{
	const struct model_config *cfg = model_preset_find(preset);
	double mb;

	if (!gate.set || gate.p.max_memory_mb <= 0 || !cfg || B == 0 || B > MODEL_MAX_BATCH)
		return 1;
	mb = ((double)model_param_count(cfg) * 7.0 + (double)model_act_floats(cfg, (int)B)) *
	     sizeof(float) / (1024.0 * 1024.0);
	if (mb <= (double)gate.p.max_memory_mb)
		return 1;
	snprintf(why, cap, "needs %.0f MiB, max-memory-mb is %ld", mb, gate.p.max_memory_mb);
	return 0;
}
