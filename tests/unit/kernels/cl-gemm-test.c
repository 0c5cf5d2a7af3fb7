/*
 * cl-gemm-test.c - the GEMM kernels against gemm_ref(), bit for bit.
 *
 * Every variant (register-blocked 8 x 32 and 6 x 16, local tiles), every
 * mode, ragged and tile-multiple shapes, transposed A and B, K longer than
 * one block of the register-blocked kernels (GEMM_KC), and for those every
 * local size the runtime may choose (1, 4, 16, 64 and the driver's own).
 * Results are compared with memcmp.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "tests/unit/kernels/cl-util.h"

struct shape {
	int M, N, K, transpose_a, transpose_b;
};

static int run_case(struct gemm *g, const struct shape *s, int mode, uint64_t seed)
{
	struct runtime *rt = g->rt;
	int M = s->M, N = s->N, K = s->K;
	int sam = s->transpose_a ? 1 : K, sak = s->transpose_a ? M : 1;
	int sbk = s->transpose_b ? 1 : N, sbn = s->transpose_b ? K : 1;
	int ldc = N + 3; /* C wider than N: checks the stride */
	size_t na = (size_t)M * K + 5, nb = (size_t)K * N + 7, nc = (size_t)M * ldc + 2;
	float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4);
	float *want = malloc(nc * 4), *bias = malloc((size_t)N * 4 + 4);
	cl_mem da, db, dc, dbias;
	struct gemm_args ga;
	struct error err;
	int ok = 0;

	cl_test_fill(a, na, 1.0f, seed);
	cl_test_fill(b, nb, 1.0f, seed + 1);
	cl_test_fill(c, nc, 2.0f, seed + 2);
	cl_test_fill(bias, (size_t)N + 1, 0.5f, seed + 3);
	memcpy(want, c, nc * 4);
	/* a_off 5, b_off 7, c_off 2: offsets are honoured */
	gemm_ref(M, N, K, a + 5, sam, sak, b + 7, sbk, sbn, want + 2, ldc, bias + 1, mode);
	da = cl_test_buffer(rt, a, na);
	db = cl_test_buffer(rt, b, nb);
	dc = cl_test_buffer(rt, c, nc);
	dbias = cl_test_buffer(rt, bias, (size_t)N + 1);
	ga = (struct gemm_args){M, N, K, da, 5, sam, sak, db, 7, sbk, sbn, dc, 2, ldc, dbias, 1, mode};
	error_clear(&err);
	if (gemm_enqueue(g, &ga, &err) != 0)
		tap_diag("%s", err.msg);
	else if (cl_test_read(rt, dc, c, nc) == 0)
		ok = memcmp(c, want, nc * 4) == 0;
	if (!ok) {
		for (size_t i = 0; i < nc; i++)
			if (memcmp(&c[i], &want[i], 4) != 0) {
				tap_diag("  first difference at %zu: %a vs %a", i, c[i], want[i]);
				break;
			}
	}
	clReleaseMemObject(da);
	clReleaseMemObject(db);
	clReleaseMemObject(dc);
	clReleaseMemObject(dbias);
	free(a);
	free(b);
	free(c);
	free(want);
	free(bias);
	return ok;
}

int main(void)
{
	static const struct shape shapes[] = {
		{1, 1, 1, 0, 0},      {16, 16, 16, 0, 0}, {32, 48, 64, 0, 1},
		{17, 33, 5, 0, 0},    {50, 70, 129, 0, 1}, {7, 100, 31, 1, 0},
		{64, 16, 3, 1, 1},    {33, 17, 0, 0, 0},   {100, 130, 64, 0, 0},
		/* K > GEMM_KC: the register-blocked kernel runs K in blocks */
		{37, 45, 600, 1, 0},  {40, 64, 513, 0, 1},
	};
	static const size_t locals[] = {0, 1, 4, 16, 64};
	static const int modes[] = {0, GEMM_INIT_BIAS, GEMM_INIT_C, GEMM_ADD_BIAS, GEMM_ADD_C};
	static const struct {
		enum gemm_variant v;
		const char *name;
	} rbs[] = {{GEMM_VARIANT_RB, "gemm_rb"}, {GEMM_VARIANT_RB_NARROW, "gemm_rb_narrow"}};
	struct runtime *rt = cl_test_open();
	struct gemm g;
	struct error err;
	size_t s, l, m, v;

	error_clear(&err);
	if (!tap_ok(gemm_init(&g, rt, GEMM_VARIANT_RB, &err) == 0, "gemm kernels build")) {
		tap_diag("%s", err.msg);
		runtime_free(rt);
		return tap_done();
	}
	for (v = 0; v < sizeof(rbs) / sizeof(rbs[0]); v++) {
		gemm_set_variant(&g, rbs[v].v);
		for (l = 0; l < sizeof(locals) / sizeof(locals[0]); l++) {
			g.rb_local = locals[l];
			for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
				const struct shape *sh = &shapes[s];
				int all = 1;

				for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
					all &= run_case(&g, sh, modes[m], 100 * s + m);
				tap_ok(all, "%s local %zu: %dx%dx%d%s%s, all modes", rbs[v].name,
				       locals[l], sh->M, sh->N, sh->K, sh->transpose_a ? " A^T" : "",
				       sh->transpose_b ? " B^T" : "");
			}
		}
	}
	gemm_set_variant(&g, GEMM_VARIANT_TILED);
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		const struct shape *sh = &shapes[s];
		int all = 1;

		for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
			all &= run_case(&g, sh, modes[m], 100 * s + m);
		tap_ok(all, "gemm_tiled: %dx%dx%d%s%s, all modes", sh->M, sh->N, sh->K,
		       sh->transpose_a ? " A^T" : "", sh->transpose_b ? " B^T" : "");
	}
	gemm_release(&g);
	runtime_free(rt);
	return tap_done();
}
