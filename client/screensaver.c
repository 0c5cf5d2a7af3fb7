/*
 * screensaver.c - agora-screensaver: shows what this machine's agora-client
 * is doing, as an xscreensaver hack or in its own window.
 *
 *   agora-screensaver [--state DIR] [-root | -window-id ID | --window [--size WxH]]
 *                     [--fps N] [--stale S] [--still] [--no-text]
 *                     [--measure S] [--print-layout]
 *
 * Where it draws: $XSCREENSAVER_WINDOW when set (xscreensaver's window),
 * else -window-id ID, else the root window with -root, else (--window or
 * nothing) a window of its own. What it draws comes from the client's
 * state directory only (no network): STATE/status.json (project, job,
 * unit, progress, loss; re-read when its mtime changes), the attached
 * projects' credit (STATE/projects/ * /project.json, when readable), a loss
 * history the screensaver itself keeps (see hist_* below), and text from
 * the latest model in STATE/blobs (client/ss_gen.h). With no status file,
 * a stopped client (its pid gone) or a status older than --stale seconds
 * while computing, it says so in words instead of going black.
 *
 * Every frame is drawn into a Pixmap and copied to the window with one
 * XCopyArea (no flicker); a resize (ConfigureNotify) makes a new Pixmap,
 * an Expose copies the last frame again. SIGTERM / SIGINT (xscreensaver
 * kills hacks with SIGTERM) end the loop; the generator thread is joined
 * and the X resources freed before exit 0.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>

#include "client/ss_gen.h"
#include "client/state.h"
#include "client/status.h"
#include "common/log.h"

#define HIST_MAX     600 /* loss points kept */
#define HIST_FILE_MAX 4000 /* lines of the history file before it is cut */

enum color { C_BG, C_TEXT, C_DIM, C_ACCENT, C_BAR, C_BARBG, C_CURVE, C_WARN, C_N };
static const char *color_names[C_N] = {"#0b1020", "#e6ebf5", "#8390a8", "#4fc3f7",
				       "#26a69a", "#1f2940", "#ffb74d", "#ef5350"};

struct opts {
	const char *state;
	int root, own;
	Window wid;
	int w, h;
	double fps, stale_s, measure_s;
	int still, no_text, print_layout;
};

struct point {
	char job[72];
	char unit[17];
	uint64_t step;
	float loss;
};

struct view {
	struct status st;
	int have, running;
	char why[256];
	double credit;
	int credit_known; /* 1, 0 (projects unreadable), -1 (none attached) */
	time_t status_mtime;
	double next_read;
	struct point hist[HIST_MAX];
	int n_hist;
	char hist_path[FILEIO_PATH_MAX];
};

struct xctx {
	Display *dpy;
	Window win;
	Pixmap pix;
	GC gc;
	int w, h, depth;
	XFontStruct *big, *small;
	unsigned long px[C_N];
	Atom wm_delete;
};

static volatile sig_atomic_t ss_stop;

static void on_signal(int sig)
{
	(void)sig;
	ss_stop = 1;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the loss history ------------------------------------------------
 * Points (job, unit, step, training loss) as the status file shows them,
 * at most one per status update; appended to
 * $XDG_CACHE_HOME/agora/screensaver-history (else ~/.cache/...) so that
 * the curve survives the hack being restarted, which xscreensaver does
 * every cycle. The curve shows the points of the current job. */

static void hist_add(struct view *v, const struct point *p, int save)
{
	if (v->n_hist == HIST_MAX) {
		memmove(v->hist, v->hist + 1, (HIST_MAX - 1) * sizeof(*p));
		v->n_hist--;
	}
	v->hist[v->n_hist++] = *p;
	if (save && v->hist_path[0]) {
		FILE *f = fopen(v->hist_path, "a");

		if (f) {
			fprintf(f, "%s %s %llu %.6g\n", p->job, p->unit, (unsigned long long)p->step,
				(double)p->loss);
			fclose(f);
		}
	}
}

static void hist_open(struct view *v)
{
	const char *cache = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char dir[FILEIO_PATH_MAX], line[256];
	struct point p;
	int lines = 0;
	FILE *f;

	if (cache && cache[0])
		snprintf(dir, sizeof(dir), "%s/agora", cache);
	else if (home && home[0])
		snprintf(dir, sizeof(dir), "%s/.cache/agora", home);
	else
		return;
	if (state_mkdirs(dir, 0700, NULL) < 0 ||
	    snprintf(v->hist_path, sizeof(v->hist_path), "%s/screensaver-history", dir) >=
		(int)sizeof(v->hist_path)) {
		v->hist_path[0] = '\0';
		return;
	}
	if (!(f = fopen(v->hist_path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long step;
		double loss;

		lines++;
		if (sscanf(line, "%71s %16s %llu %lg", p.job, p.unit, &step, &loss) == 4) {
			p.step = step;
			p.loss = (float)loss;
			hist_add(v, &p, 0);
		}
	}
	fclose(f);
	if (lines > HIST_FILE_MAX && (f = fopen(v->hist_path, "w"))) { /* keep what we hold */
		for (int i = 0; i < v->n_hist; i++)
			fprintf(f, "%s %s %llu %.6g\n", v->hist[i].job, v->hist[i].unit,
				(unsigned long long)v->hist[i].step, (double)v->hist[i].loss);
		fclose(f);
	}
}

/* ---- reading the client's state --------------------------------------- */

static int pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static void read_credit(struct view *v, const char *state)
{
	struct project *ps = calloc(STATE_PROJECTS_MAX, sizeof(*ps));
	int n;

	v->credit_known = 0;
	if (!ps)
		return;
	n = state_projects(state, ps, STATE_PROJECTS_MAX, NULL);
	v->credit = 0;
	for (int i = 0; i < n; i++)
		v->credit += ps[i].credit;
	v->credit_known = n > 0 ? 1 : n == 0 ? -1 : 0;
	free(ps);
}

static void view_update(struct view *v, const struct opts *o)
{
	char path[FILEIO_PATH_MAX];
	struct stat sb;
	double age;

	if (mono() < v->next_read)
		return;
	v->next_read = mono() + 1.0;
	read_credit(v, o->state); /* a few small files, once a second */
	snprintf(path, sizeof(path), "%s/status.json", o->state);
	if (stat(path, &sb) != 0) {
		v->have = v->running = 0;
		snprintf(v->why, sizeof(v->why), "no status file in %.200s", o->state);
		return;
	}
	if (!v->have || sb.st_mtime != v->status_mtime) {
		v->have = status_read(path, &v->st, NULL) == 0;
		v->status_mtime = sb.st_mtime;
		if (v->have && v->st.unit[0] && v->st.step > 0) {
			struct point p;
			const struct point *last = v->n_hist ? &v->hist[v->n_hist - 1] : NULL;

			memset(&p, 0, sizeof(p));
			snprintf(p.job, sizeof(p.job), "%s", v->st.job[0] ? v->st.job : "-");
			for (char *c = p.job; *c; c++)
				if (*c == ' ')
					*c = '_';
			snprintf(p.unit, sizeof(p.unit), "%.16s", v->st.unit);
			p.step = v->st.step;
			p.loss = (float)v->st.loss;
			if (!last || strcmp(last->unit, p.unit) != 0 || last->step != p.step)
				hist_add(v, &p, 1);
		}
	}
	age = difftime(time(NULL), (time_t)v->st.updated);
	v->running = 0;
	if (!v->have)
		snprintf(v->why, sizeof(v->why), "cannot read %.200s", path);
	else if (strcmp(v->st.state, "stopped") == 0 || !pid_alive(v->st.pid))
		snprintf(v->why, sizeof(v->why), "agora-client stopped %.0f minutes ago",
			 age > 0 ? age / 60 : 0);
	else if (strcmp(v->st.state, "computing") == 0 && age > o->stale_s)
		snprintf(v->why, sizeof(v->why), "agora-client is not responding (no update for %.0fs)",
			 age);
	else
		v->running = 1;
}

/* ---- drawing ---------------------------------------------------------- */

static void fit(XFontStruct *f, char *s, int w, int tail);

/* Draws s at (px, py), cut at the window's right edge. */
static void text(struct xctx *x, XFontStruct *f, int color, int px, int py, const char *s)
{
	char buf[600];

	snprintf(buf, sizeof(buf), "%s", s);
	fit(f, buf, x->w - px - 4, 0);
	XSetFont(x->dpy, x->gc, f->fid);
	XSetForeground(x->dpy, x->gc, x->px[color]);
	XDrawString(x->dpy, x->pix, x->gc, px, py, buf, (int)strlen(buf));
}

/* Cuts s so that it fits w pixels (keeping its end when tail). */
static void fit(XFontStruct *f, char *s, int w, int tail)
{
	size_t n = strlen(s);

	while (n > 0 && XTextWidth(f, s, (int)n) > w) {
		if (tail)
			memmove(s, s + 1, n--);
		else
			s[--n] = '\0';
	}
}

static void layout_print(const struct opts *o, const char *name, XFontStruct *f, int px, int py,
			 const char *s)
{
	if (o->print_layout)
		fprintf(stderr, "layout %s %d %d %d %d\n", name, px, py - f->ascent,
			XTextWidth(f, s, (int)strlen(s)), f->ascent + f->descent);
}

static void draw_curve(struct xctx *x, const struct view *v, int cx, int cy, int cw, int ch)
{
	XPoint pts[HIST_MAX];
	float lo = 0, hi = 0;
	int n = 0, first = -1;
	char label[64];

	XSetForeground(x->dpy, x->gc, x->px[C_BARBG]);
	XFillRectangle(x->dpy, x->pix, x->gc, cx, cy, (unsigned)cw, (unsigned)ch);
	for (int i = 0; i < v->n_hist; i++) {
		if (strncmp(v->hist[i].job, v->st.job, sizeof(v->hist[i].job)) != 0 &&
		    !(v->st.job[0] == '\0' && strcmp(v->hist[i].job, "-") == 0))
			continue;
		if (first < 0)
			first = i, lo = hi = v->hist[i].loss;
		lo = v->hist[i].loss < lo ? v->hist[i].loss : lo;
		hi = v->hist[i].loss > hi ? v->hist[i].loss : hi;
		n++;
	}
	if (n < 2) {
		text(x, x->small, C_DIM, cx + 8, cy + ch / 2, "loss curve: waiting for steps");
		return;
	}
	if (hi - lo < 1e-6f)
		hi = lo + 1e-6f;
	n = 0;
	for (int i = first; i < v->n_hist; i++) {
		if (strncmp(v->hist[i].job, v->hist[first].job, sizeof(v->hist[i].job)) != 0)
			continue;
		pts[n].x = (short)(cx + 4 + (long)(cw - 8) * n / (HIST_MAX - 1));
		pts[n].y = (short)(cy + ch - 4 - (int)((float)(ch - 8) * (v->hist[i].loss - lo) / (hi - lo)));
		n++;
	}
	for (int i = 0; i < n; i++) /* stretch over the width */
		pts[i].x = (short)(cx + 4 + (long)(cw - 8) * i / (n - 1));
	XSetForeground(x->dpy, x->gc, x->px[C_CURVE]);
	XSetLineAttributes(x->dpy, x->gc, 2, LineSolid, CapRound, JoinRound);
	XDrawLines(x->dpy, x->pix, x->gc, pts, n, CoordModeOrigin);
	XSetLineAttributes(x->dpy, x->gc, 0, LineSolid, CapButt, JoinMiter);
	snprintf(label, sizeof(label), "%.3f", (double)hi);
	text(x, x->small, C_DIM, cx + cw - 60, cy + 14, label);
	snprintf(label, sizeof(label), "%.3f", (double)lo);
	text(x, x->small, C_DIM, cx + cw - 60, cy + ch - 6, label);
}

static void draw_frame(struct xctx *x, struct view *v, struct ss_gen *gen, const struct opts *o)
{
	XFontStruct *big = x->w < 600 ? x->small : x->big; /* xscreensaver's preview is small */
	int m = x->w / 20 + 8, lh = big->ascent + big->descent + 6;
	int sh = x->small->ascent + x->small->descent + 4, y, bw;
	char s[600], gtext[SS_GEN_TEXT_MAX + 1], gmodel[96];
	double t = (double)time(NULL);

	if (!o->still) { /* drift a little, a step a minute, against burn-in */
		long k = (long)(t / 60);
		m += (int)(k % 7) * 3;
	}
	XSetForeground(x->dpy, x->gc, x->px[C_BG]);
	XFillRectangle(x->dpy, x->pix, x->gc, 0, 0, (unsigned)x->w, (unsigned)x->h);
	y = m + big->ascent;
	text(x, big, C_ACCENT, m, y, "Agora");
	text(x, x->small, C_DIM, m + XTextWidth(big, "Agora  ", 7), y,
	     "volunteer compute grid - this machine helps train a community model");
	y += lh + 6;
	if (!v->running) {
		snprintf(s, sizeof(s), "No agora-client is running on this machine.");
		text(x, big, C_WARN, m, y, s);
		layout_print(o, "message", big, m, y, s);
		y += lh;
		fit(x->small, v->why, x->w - 2 * m, 0);
		text(x, x->small, C_DIM, m, y, v->why);
		y += sh;
		text(x, x->small, C_DIM, m, y,
		     "Start it with: systemctl --user start agora-client (see docs/DESKTOP.md)");
		y += 2 * sh;
	} else {
		snprintf(s, sizeof(s), "project  %s", v->st.project[0] ? v->st.project : "-");
		fit(big, s, x->w - 2 * m, 0);
		text(x, big, C_TEXT, m, y, s);
		y += lh;
		snprintf(s, sizeof(s), "job  %s", v->st.job[0] ? v->st.job : "(none yet)");
		fit(big, s, x->w - 2 * m, 0);
		text(x, big, C_TEXT, m, y, s);
		layout_print(o, "job", big, m, y, s);
		y += lh;
		if (v->st.unit[0])
			snprintf(s, sizeof(s), "%s: unit %.16s  round %llu  on %s", v->st.state,
				 v->st.unit, (unsigned long long)v->st.round, v->st.device);
		else
			snprintf(s, sizeof(s), "%s", v->st.state);
		if (v->st.reason[0])
			snprintf(s + strlen(s), sizeof(s) - strlen(s), " (%s)", v->st.reason);
		fit(x->small, s, x->w - 2 * m, 0);
		text(x, x->small, C_TEXT, m, y, s);
		y += sh;
		bw = x->w - 2 * m;
		XSetForeground(x->dpy, x->gc, x->px[C_BARBG]);
		XFillRectangle(x->dpy, x->pix, x->gc, m, y, (unsigned)bw, 18);
		if (v->st.steps) {
			double frac = (double)v->st.step / (double)v->st.steps;

			XSetForeground(x->dpy, x->gc, x->px[C_BAR]);
			XFillRectangle(x->dpy, x->pix, x->gc, m, y,
				       (unsigned)(frac > 1 ? bw : (int)(bw * frac)), 18);
			snprintf(s, sizeof(s), "step %llu / %llu   loss %.4f   eta %.0fs",
				 (unsigned long long)v->st.step, (unsigned long long)v->st.steps,
				 v->st.loss, v->st.eta_s);
			text(x, x->small, C_TEXT, m + 6, y + 14, s);
		}
		y += 18 + sh;
		text(x, x->small, C_DIM, m, y, "training loss of this machine's steps, this job:");
		y += 4;
		{
			int ch = x->h / 3 > 60 ? x->h / 3 : 60;

			draw_curve(x, v, m, y, bw, ch);
			y += ch + sh + 4;
		}
	}
	if (v->credit_known < 0)
		snprintf(s, sizeof(s), "no project attached yet (agora-client attach URL)");
	else if (v->credit_known)
		snprintf(s, sizeof(s), "your credit  %.2f      units done (this run)  %llu", v->credit,
			 (unsigned long long)v->st.units_done);
	else
		snprintf(s, sizeof(s), "your credit  n/a (projects not readable)");
	text(x, big, C_TEXT, m, y, s);
	y += lh;
	if (gen) {
		ss_gen_get(gen, gtext, sizeof(gtext), gmodel, sizeof(gmodel));
		snprintf(s, sizeof(s), "the model (%s) writes:", gmodel);
		text(x, x->small, C_DIM, m, y, s);
		y += sh + 4;
		fit(big, gtext, x->w - 2 * m, 1);
		text(x, big, C_CURVE, m, y, gtext);
	}
	XCopyArea(x->dpy, x->pix, x->win, x->gc, 0, 0, (unsigned)x->w, (unsigned)x->h, 0, 0);
	XFlush(x->dpy);
}

/* ---- X setup ---------------------------------------------------------- */

static XFontStruct *font(Display *d, const char *const *names)
{
	XFontStruct *f;

	for (; *names; names++)
		if ((f = XLoadQueryFont(d, *names)))
			return f;
	return NULL;
}

static int x_resize(struct xctx *x, int w, int h)
{
	if (w == x->w && h == x->h && x->pix)
		return 0;
	if (x->pix)
		XFreePixmap(x->dpy, x->pix);
	x->w = w > 0 ? w : 1;
	x->h = h > 0 ? h : 1;
	x->pix = XCreatePixmap(x->dpy, x->win, (unsigned)x->w, (unsigned)x->h, (unsigned)x->depth);
	return 1;
}

static int x_open(struct xctx *x, const struct opts *o)
{
	static const char *const bigs[] = {"10x20", "9x15", "fixed", NULL};
	static const char *const smalls[] = {"7x13", "6x13", "fixed", NULL};
	const char *env = getenv("XSCREENSAVER_WINDOW");
	XWindowAttributes wa;

	if (!(x->dpy = XOpenDisplay(NULL))) {
		log_error("cannot open display '%s'", getenv("DISPLAY") ? getenv("DISPLAY") : "");
		return -1;
	}
	if (env && *env && !o->own)
		x->win = (Window)strtoul(env, NULL, 0);
	else if (o->wid)
		x->win = o->wid;
	else if (o->root)
		x->win = DefaultRootWindow(x->dpy);
	else {
		XSizeHints hints = {.flags = PMinSize, .min_width = 320, .min_height = 240};

		x->win = XCreateSimpleWindow(x->dpy, DefaultRootWindow(x->dpy), 0, 0,
					     (unsigned)o->w, (unsigned)o->h, 0, 0, 0);
		XStoreName(x->dpy, x->win, "agora-screensaver");
		XSetWMNormalHints(x->dpy, x->win, &hints);
		x->wm_delete = XInternAtom(x->dpy, "WM_DELETE_WINDOW", False);
		XSetWMProtocols(x->dpy, x->win, &x->wm_delete, 1);
		XMapRaised(x->dpy, x->win);
	}
	if (!XGetWindowAttributes(x->dpy, x->win, &wa)) {
		log_error("cannot use window 0x%lx", (unsigned long)x->win);
		return -1;
	}
	XSelectInput(x->dpy, x->win, ExposureMask | StructureNotifyMask);
	x->depth = wa.depth;
	for (int i = 0; i < C_N; i++) {
		XColor c, exact;

		x->px[i] = XAllocNamedColor(x->dpy, wa.colormap, color_names[i], &c, &exact)
			       ? c.pixel
			       : (i == C_BG ? BlackPixel(x->dpy, DefaultScreen(x->dpy))
					    : WhitePixel(x->dpy, DefaultScreen(x->dpy)));
	}
	x->big = font(x->dpy, bigs);
	x->small = font(x->dpy, smalls);
	if (!x->big || !x->small) {
		log_error("cannot load the X core font 'fixed'");
		return -1;
	}
	x->gc = XCreateGC(x->dpy, x->win, 0, NULL);
	x_resize(x, wa.width, wa.height);
	if (o->print_layout)
		fprintf(stderr, "window 0x%lx %dx%d\n", (unsigned long)x->win, wa.width, wa.height);
	return 0;
}

static void x_close(struct xctx *x, const struct opts *o)
{
	if (!x->dpy)
		return;
	if (x->pix)
		XFreePixmap(x->dpy, x->pix);
	if (x->gc)
		XFreeGC(x->dpy, x->gc);
	if (x->big)
		XFreeFont(x->dpy, x->big);
	if (x->small)
		XFreeFont(x->dpy, x->small);
	if (o->own && x->win)
		XDestroyWindow(x->dpy, x->win);
	XCloseDisplay(x->dpy);
}

/* Handles pending events: 0 normally, 1 when the window asks to close. */
static int x_events(struct xctx *x)
{
	while (XPending(x->dpy)) {
		XEvent ev;

		XNextEvent(x->dpy, &ev);
		if (ev.type == ConfigureNotify && ev.xconfigure.window == x->win)
			x_resize(x, ev.xconfigure.width, ev.xconfigure.height);
		else if (ev.type == Expose && ev.xexpose.count == 0 && x->pix)
			XCopyArea(x->dpy, x->pix, x->win, x->gc, 0, 0, (unsigned)x->w,
				  (unsigned)x->h, 0, 0);
		else if (ev.type == ClientMessage && (Atom)ev.xclient.data.l[0] == x->wm_delete)
			return 1;
		else if (ev.type == DestroyNotify && ev.xdestroywindow.window == x->win)
			return 1;
	}
	return 0;
}

/* ---- main ------------------------------------------------------------- */

static int usage(void)
{
	fprintf(stderr,
		"usage: agora-screensaver [--state DIR] [-root | -window-id ID | --window [--size WxH]]\n"
		"                         [--fps N] [--stale S] [--still] [--no-text] [--measure S]\n"
		"                         [--print-layout]\n");
	return 2;
}

static int num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= lo && v <= hi)) {
		log_error("bad number '%s': want %g..%g", s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (strcmp(a, "-root") == 0 || strcmp(a, "--root") == 0)
			o->root = 1;
		else if (strcmp(a, "--window") == 0 || strcmp(a, "-window") == 0)
			o->own = 1;
		else if (strcmp(a, "--still") == 0)
			o->still = 1;
		else if (strcmp(a, "--no-text") == 0)
			o->no_text = 1;
		else if (strcmp(a, "--print-layout") == 0)
			o->print_layout = 1;
		else if ((strcmp(a, "-window-id") == 0 || strcmp(a, "--window-id") == 0) && v) {
			o->wid = (Window)strtoul(v, &end, 0);
			if (*end || !o->wid)
				return usage();
			i++;
		} else if (strcmp(a, "--state") == 0 && v) {
			o->state = v, i++;
		} else if (strcmp(a, "--size") == 0 && v) {
			if (sscanf(v, "%dx%d", &o->w, &o->h) != 2 || o->w < 64 || o->h < 64 ||
			    o->w > 16384 || o->h > 16384)
				return usage();
			i++;
		} else if (strcmp(a, "--fps") == 0 && v) {
			if (num(argv[++i], 0.5, 60, &o->fps) < 0)
				return 2;
		} else if (strcmp(a, "--stale") == 0 && v) {
			if (num(argv[++i], 1, 86400, &o->stale_s) < 0)
				return 2;
		} else if (strcmp(a, "--measure") == 0 && v) {
			if (num(argv[++i], 1, 3600, &o->measure_s) < 0)
				return 2;
		} else
			return usage();
	}
	return 0;
}

/* The client's state directory as agora-client resolves it (--state,
 * else $XDG_DATA_HOME/agora, else ~/.local/share/agora), without creating
 * or chmod-ing anything: the directory may belong to another user. */
static int state_default(const char *given, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (given)
		n = snprintf(out, cap, "%s", given);
	else if (xdg && xdg[0])
		n = snprintf(out, cap, "%s/agora", xdg);
	else if (home && home[0])
		n = snprintf(out, cap, "%s/.local/share/agora", home);
	else
		return -1;
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

/* utime + stime of this process from /proc/self/stat, seconds. */
static double proc_cpu_s(void)
{
	char buf[1024], *p;
	unsigned long ut, st;
	size_t n;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')) ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const struct opts *o, double wall, long frames, struct ss_gen *gen, double cpu0)
{
	double draw = thread_cpu_s(), g = ss_gen_cpu_s(gen), all = proc_cpu_s() - cpu0;

	printf("agora-screensaver: %ld frames in %.1fs (%.1f/s); drawing thread %.3fs CPU = %.2f%% "
	       "of a core; text generator %.3fs = %.1f%%; process (/proc/self/stat) %.2fs = %.1f%%\n",
	       frames, wall, (double)frames / wall, draw, 100 * draw / wall, g, 100 * g / wall, all,
	       100 * all / wall);
	(void)o;
}

int main(int argc, char **argv)
{
	struct opts o = {.w = 900, .h = 640, .fps = 10, .stale_s = 60};
	char state[FILEIO_PATH_MAX];
	struct xctx x;
	struct view *v = calloc(1, sizeof(*v));
	struct ss_gen *gen = NULL;
	struct sigaction sa;
	double start, next, cpu0 = proc_cpu_s();
	long frames = 0;
	int ret;

	log_init("agora-screensaver", LOG_LEVEL_INFO);
	if (!v)
		return 1;
	if ((ret = parse_args(argc, argv, &o)) != 0) {
		free(v);
		return ret;
	}
	if (!o.root && !o.wid && !getenv("XSCREENSAVER_WINDOW"))
		o.own = 1;
	if (state_default(o.state, state, sizeof(state)) < 0) {
		log_error("no state directory: give --state DIR (HOME is not set)");
		free(v);
		return 1;
	}
	o.state = state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	memset(&x, 0, sizeof(x));
	ret = 1;
	if (x_open(&x, &o) < 0)
		goto out;
	hist_open(v);
	if (!o.no_text)
		gen = ss_gen_start(state);
	start = next = mono();
	while (!ss_stop) {
		struct pollfd pfd = {ConnectionNumber(x.dpy), POLLIN, 0};
		double now;
		int wait_ms;

		if (x_events(&x))
			break;
		now = mono();
		if (o.measure_s > 0 && now - start >= o.measure_s)
			break;
		if (now >= next) {
			view_update(v, &o);
			draw_frame(&x, v, gen, &o);
			frames++;
			o.print_layout = 0; /* once */
			next += 1.0 / o.fps;
			if (next < now)
				next = now + 1.0 / o.fps;
		}
		wait_ms = (int)((next - mono()) * 1000) + 1;
		if (wait_ms > 0)
			poll(&pfd, 1, wait_ms);
	}
	if (o.measure_s > 0)
		report(&o, mono() - start, frames, gen, cpu0);
	ret = 0;
out:
	ss_gen_stop(gen);
	x_close(&x, &o);
	free(v);
	return ret;
}
