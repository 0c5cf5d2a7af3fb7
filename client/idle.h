/*
 * idle.h - whether agora-client may compute now: the user's idleness,
 * the preferences (client/prefs.h) and the machine's state
 * (client/power.h), and the duty cycle.
 *
 * Idle time comes from, in order:
 *  1. the X server's MIT-SCREEN-SAVER extension (XScreenSaverQueryInfo's
 *     `idle`, milliseconds since the last keyboard or mouse input) when
 *     $DISPLAY names a reachable display (built with libXss only) and
 *     $WAYLAND_DISPLAY is not set (XWayland does not see input to native
 *     Wayland windows, so its idle time would be wrong);
 *  2. logind's IdleHint/IdleSinceHint for the whole seat, read with
 *     `loginctl show-session -p IdleHint -p IdleSinceHint` (no argument:
 *     the manager, i.e. every session together) at most once a second;
 *  3. nothing: idle time unknown. With idle-only = yes the client then
 *     does not compute (the reason says so); with idle-only = no it does.
 *
 * The gate (idle_gate_*) is one per process: the run loop sets it up once
 * and asks it before and between steps. A check costs one X round trip
 * (~0.1 ms) or, for logind, one fork of loginctl per second at most.
 */
#ifndef AGORA_CLIENT_IDLE_H
#define AGORA_CLIENT_IDLE_H

#include <signal.h>
#include <stddef.h>

#include "client/prefs.h"

#define IDLE_REASON_MAX 96
#define IDLE_POLL_S     0.25 /* the gate re-evaluates at most this often */
#define IDLE_TEMP_HYST  5.0  /* resume this many degrees below max-temp-c */
#define IDLE_STEP_MAX_S 60.0 /* a longer "step" (device set-up) counts as this */

/* What the gate decides from. */
struct idle_inputs {
	int idle_known;  /* idle_s is meaningful */
	double idle_s;   /* seconds without input */
	int on_battery;
	int temp_known;
	double temp_c;
	int minute;      /* local minute of the day */
	int device_ref;  /* the device is the C reference (the CPU) */
	int hot;         /* paused for heat last time (hysteresis) */
};

/* The pure decision: 1 compute, 0 not (why receives the reason, e.g.
 * "user active", "on battery", "too hot (91 C)", "outside hours
 * (08:00-18:00)"). */
int idle_decide(const struct prefs *p, const struct idle_inputs *in, char *why, size_t cap);

/* Parses `loginctl show-session` output (IdleHint=yes|no,
 * IdleSinceHint=<unix microseconds>) at time now: 0 and *idle_s, or -1
 * when it says nothing usable. */
int idle_parse_logind(const char *text, double now, double *idle_s);

/* Seconds without input from the best source; 0, or -1 when unknown.
 * *source (may be NULL) gets "x11", "logind" or "none". */
int idle_seconds(double *idle_s, const char **source);

/* Sets up the process's gate: a copy of p, the device spec of the run
 * ("ref" means the CPU), the sysfs root (NULL: "/sys"). Logs which idle
 * source is used. */
void idle_gate_setup(const struct prefs *p, const char *device, const char *sysfs);

/* 1 when computing is allowed now, else 0 with the reason in why.
 * Re-evaluates at most every IDLE_POLL_S (a cached answer otherwise). */
int idle_should_compute(char *why, size_t cap);

/* Blocks until computing is allowed or *stop is set; calls paused(ctx,
 * why) whenever the reason changes (first time included). 1: go, 0:
 * stopped. */
int idle_gate_wait(volatile sig_atomic_t *stop, void (*paused)(void *ctx, const char *why),
		   void *ctx);

/* After each step: sleeps the duty cycle's share of the step's time (the
 * time since the last idle_gate_step or idle_gate_wait returned, at most
 * IDLE_STEP_MAX_S) times (100 - cpu-percent) / cpu-percent, in
 * IDLE_POLL_S slices, checking the gate between them. 1: go on, 0: pause
 * now (why set). */
int idle_gate_step(volatile sig_atomic_t *stop, char *why, size_t cap);

/* The preferences the gate was set up with (NULL before idle_gate_setup). */
const struct prefs *idle_gate_prefs(void);

/* The largest blob to accept, bytes (max-disk-mb; 1 GiB before setup). */
unsigned long long idle_gate_max_blob(void);

/* 1 when a unit of preset `preset` and batch B fits max-memory-mb
 * (parameters, AdamW m and v, the checkpoint copy and the activations),
 * else 0 with the reason in why. Unknown presets pass (checked later). */
int idle_gate_unit_fits(const char *preset, unsigned B, char *why, size_t cap);

#endif
