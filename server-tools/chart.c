/*
 * chart.c - the dashboard's SVG line chart (see chart.h). Coordinates are
 * printed with one decimal in a 640 x 300 viewBox; the plot area leaves
 * room on the left for the y labels and below for the x labels.
 */
#include "config.h"

#include "server-tools/chart.h"

#include <math.h>

#include "server-tools/html.h"

#define CHART_W      640.0
#define CHART_H      300.0
#define CHART_LEFT   84.0
#define CHART_RIGHT  14.0
#define CHART_TOP    14.0
#define CHART_BOTTOM 50.0

size_t chart_kept(size_t n)
{
	return n < CHART_POINTS_MAX ? n : CHART_POINTS_MAX;
}

size_t chart_pick(size_t n, size_t i)
{
	size_t kept = chart_kept(n);

	if (kept <= 1 || n == kept)
		return i;
	/* i * (n - 1) / (kept - 1), rounded: first 0, last n - 1. */
	return (i * (n - 1) + (kept - 1) / 2) / (kept - 1);
}

static int chart_ok(const struct chart *c, size_t i)
{
	return isfinite(c->x[i]) && isfinite(c->y[i]);
}

/* A label value: %g keeps it short and is never nan for finite v. */
static void chart_num(struct html *h, double v)
{
	html_printf(h, "%.6g", v);
}

static void chart_frame(struct html *h, const struct chart *c)
{
	html_printf(h,
		    "<svg viewBox=\"0 0 %.0f %.0f\" "
		    "role=\"img\" aria-label=\"",
		    CHART_W, CHART_H);
	html_text(h, c->title);
	html_lit(h, "\"><title>");
	html_text(h, c->title);
	html_printf(h,
		    "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		    "fill=\"#fafbfd\" stroke=\"#c9d1dc\"/>",
		    CHART_LEFT, CHART_TOP, CHART_W - CHART_LEFT - CHART_RIGHT,
		    CHART_H - CHART_TOP - CHART_BOTTOM);
	html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", CHART_W / 2,
		    CHART_H - 6);
	html_text(h, c->x_label);
	html_printf(h,
		    "</text><text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\" "
		    "text-anchor=\"middle\">",
		    CHART_H / 2, CHART_H / 2);
	html_text(h, c->y_label);
	html_lit(h, "</text>");
}

void chart_line_svg(struct html *h, const struct chart *c)
{
	size_t n = c->n < CHART_POINTS_MAX ? c->n : CHART_POINTS_MAX, i, good = 0;
	double x0 = 0, x1 = 0, y0 = 0, y1 = 0, sx, sy, pw, ph, px, py;

	for (i = 0; i < n; i++) {
		if (!chart_ok(c, i))
			continue;
		if (!good++) {
			x0 = x1 = c->x[i];
			y0 = y1 = c->y[i];
		}
		x0 = c->x[i] < x0 ? c->x[i] : x0;
		x1 = c->x[i] > x1 ? c->x[i] : x1;
		y0 = c->y[i] < y0 ? c->y[i] : y0;
		y1 = c->y[i] > y1 ? c->y[i] : y1;
	}
	chart_frame(h, c);
	if (!good) {
		html_printf(h,
			    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no data yet"
			    "</text></svg>",
			    CHART_W / 2, CHART_H / 2);
		return;
	}
	pw = CHART_W - CHART_LEFT - CHART_RIGHT;
	ph = CHART_H - CHART_TOP - CHART_BOTTOM;
	/* A flat or single-point range is centred; otherwise 5 % margins. */
	sx = x1 > x0 && isfinite(x1 - x0) ? pw / (x1 - x0) : 0;
	sy = y1 > y0 && isfinite(y1 - y0) ? ph * 0.9 / (y1 - y0) : 0;
	html_printf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", CHART_LEFT - 4,
		    CHART_TOP + ph * 0.05 + 6);
	chart_num(h, y1);
	html_printf(h, "</text><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", CHART_LEFT - 4,
		    CHART_TOP + ph * 0.95 + 6);
	chart_num(h, y0);
	html_printf(h, "</text><text x=\"%.1f\" y=\"%.1f\">", CHART_LEFT, CHART_H - 28);
	chart_num(h, x0);
	html_printf(h, "</text><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
		    CHART_W - CHART_RIGHT, CHART_H - 28);
	chart_num(h, x1);
	html_lit(h, "</text>");
	html_lit(h, good == 1 ? "<circle r=\"6\" fill=\"#1459a8\" "
			      : "<polyline fill=\"none\" stroke=\"#1459a8\" stroke-width=\"3\" "
				"stroke-linejoin=\"round\" points=\"");
	for (i = 0; i < n; i++) {
		if (!chart_ok(c, i))
			continue;
		px = sx > 0 ? CHART_LEFT + (c->x[i] - x0) * sx : CHART_LEFT + pw / 2;
		py = sy > 0 ? CHART_TOP + ph * 0.05 + (y1 - c->y[i]) * sy : CHART_TOP + ph / 2;
		if (good == 1)
			html_printf(h, "cx=\"%.1f\" cy=\"%.1f\"", px, py);
		else
			html_printf(h, "%.1f,%.1f ", px, py);
	}
	html_lit(h, good == 1 ? "/></svg>" : "\"/></svg>");
}
