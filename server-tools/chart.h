/*
 * chart.h - a small SVG line chart for the dashboard (eval loss per
 * round), written inline into a page: no script, no external asset.
 *
 * The chart is an <svg> with a viewBox (it scales to its container's
 * width), a frame, the y range's min and max and the x range's first and
 * last value as labels, and one <polyline> (one <circle> for a single
 * point; a "no data yet" label for none). Points whose x or y is not
 * finite are skipped, so no coordinate is ever NaN or Inf. At most
 * CHART_POINTS_MAX points are drawn: callers downsample longer series
 * (chart_pick() says which indices to keep).
 */
#ifndef AGORA_SERVER_CHART_H
#define AGORA_SERVER_CHART_H

#include <stddef.h>

struct html;

#define CHART_POINTS_MAX 500

struct chart {
	const char *title;   /* the SVG's <title> and aria-label (escaped) */
	const char *x_label; /* e.g. "round" (escaped) */
	const char *y_label; /* e.g. "eval loss" (escaped) */
	const double *x, *y;
	size_t n; /* points; beyond CHART_POINTS_MAX only the first are drawn */
};

/* Writes the chart into h. */
void chart_line_svg(struct html *h, const struct chart *c);

/* Downsampling: of n points, the index of kept point i (0 <= i < kept),
 * where kept = chart_kept(n): evenly spaced, always the first and the
 * last. */
size_t chart_kept(size_t n);
size_t chart_pick(size_t n, size_t i);

#endif
