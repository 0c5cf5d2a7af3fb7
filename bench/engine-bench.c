/*
 * engine-bench.c - performance figures of the OpenCL engine, each beside
 * a peer measured in the same run.
 *
 *   GEMM: GFLOP/s of the deterministic kernel on the selected OpenCL
 *         device beside OpenBLAS cblas_sgemm on this CPU (n/a without
 *         OpenBLAS), for the gpt-small shapes and 1024^3, with the ratio.
 *   train: tokens/s of gpt-small training steps (forward, backward,
 *         clipping, AdamW) on the device.
 *   memory: peak resident memory during training against the bytes of
 *         parameters + gradients + AdamW state + activations.
 *   peer: bench/torch_gpt.py (PyTorch CPU, same model and batch) run as a
 *         subprocess after our steps, its tokens/s and the ratio; n/a when
 *         python3 or PyTorch is missing. The script is found beside this
 *         source file (the path the compiler saw), or given by --torch.
 *
 * Usage: engine-bench [--device SPEC] [--quick] [--gemm] [--profile]
 *                     [--steps N] [--batch B] [--torch SCRIPT|none]
 *                     [--variant auto|rb|narrow|tiled]
 * (--variant: the GEMM kernel of the training run; auto as the engine
 * picks it.)
 * Run by hand; never part of `make check`. Figures go to
 * docs/PERFORMANCE.md with the command.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <sys/resource.h>
#include <sys/stat.h>

#include "common/log.h"
#include "kernels/engine.h"
#include "kernels/gemm.h"
#include "kernels/model.h"
#include "kernels/runtime.h"


static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		x[i] = (float)(seed >> 9) * (1.0f / 8388608.0f) - 1.0f;
	}
}

/* Seconds per multiply: best of `reps` after one warm-up. */
static double time_cl(struct gemm *g, int M, int N, int K, int layout, cl_mem a, cl_mem b,
		      cl_mem c, int reps)
{
	/* layout 0: A (M,K) and B (K,N) row-major; 1: A stored (K,M) as in a
	 * weight gradient dy^T x; 2: B stored (N,K) as in x W^T */
	struct gemm_args ga = {M, N, K, a, 0, layout == 1 ? 1 : K, layout == 1 ? M : 1,
			       b, 0, layout == 2 ? 1 : N, layout == 2 ? K : 1,
			       c, 0, N, NULL, 0, 0};
	struct error err;
	double best = 1e30;

	for (int r = 0; r <= reps; r++) {
		double t0 = now();

		if (gemm_enqueue(g, &ga, &err) != 0) {
			log_error("%s", err.msg);
			return -1.0;
		}
		clFinish(g->rt->queue);
		if (r > 0 && now() - t0 < best)
			best = now() - t0;
	}
	return best;
}

#ifdef HAVE_OPENBLAS
static double time_blas(int M, int N, int K, int layout, const float *a, const float *b,
			float *c, int reps)
{
	double best = 1e30;

	for (int r = 0; r <= reps; r++) {
		double t0 = now();

		cblas_sgemm(CblasRowMajor, layout == 1 ? CblasTrans : CblasNoTrans,
			    layout == 2 ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, a,
			    layout == 1 ? M : K, b, layout == 2 ? K : N, 0.0f, c, N);
		if (r > 0 && now() - t0 < best)
			best = now() - t0;
	}
	return best;
}
#endif

static int bench_gemm(struct runtime *rt, int quick)
{
	/* gpt-small (C 256, T 256) at batch 8: B*T = 2048 rows; the layouts
	 * the engine calls (forward x.W^T, backward dy.W and dy^T.x). */
	static const struct {
		const char *what;
		int M, N, K, layout;
	} shapes[] = {
		{"qkv   x.W^T", 2048, 768, 256, 2},	{"proj  x.W^T", 2048, 256, 256, 2},
		{"fc    x.W^T", 2048, 1024, 256, 2},	{"fcprj x.W^T", 2048, 256, 1024, 2},
		{"head  x.wte^T", 2048, 256, 256, 2},	{"dx fc dy.W", 2048, 256, 1024, 0},
		{"dW fc dy^T.x", 1024, 256, 2048, 1},	{"dW qkv dy^T.x", 768, 256, 2048, 1},
		{"square 1024^3", 1024, 1024, 1024, 0},
	};
	struct gemm g;
	struct error err;
	size_t s, max = 0;
	int reps = quick ? 1 : 5;

	if (gemm_init(&g, rt, GEMM_VARIANT_AUTO, &err) != 0) {
		log_error("%s", err.msg);
		return -1;
	}
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		size_t m = (size_t)shapes[s].M, n = (size_t)shapes[s].N, k = (size_t)shapes[s].K;
		if (m * k > max) max = m * k;
		if (k * n > max) max = k * n;
		if (m * n > max) max = m * n;
	}
	float *a = malloc(max * 4), *b = malloc(max * 4), *c = malloc(max * 4);
	cl_int rc;
	cl_mem da = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, max * 4, NULL, &rc);
	cl_mem db = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, max * 4, NULL, &rc);
	cl_mem dc = clCreateBuffer(rt->ctx, CL_MEM_READ_WRITE, max * 4, NULL, &rc);
	fill(a, max, 1);
	fill(b, max, 2);
	clEnqueueWriteBuffer(rt->queue, da, CL_TRUE, 0, max * 4, a, 0, NULL, NULL);
	clEnqueueWriteBuffer(rt->queue, db, CL_TRUE, 0, max * 4, b, 0, NULL, NULL);
	/* the other register-blocked variant, measured beside the one chosen */
	enum gemm_variant chosen = g.variant,
			  other = chosen == GEMM_VARIANT_RB ? GEMM_VARIANT_RB_NARROW : GEMM_VARIANT_RB;
	printf("GEMM (%s kernel on %s, native float width %u; 'other': %s)\n",
	       gemm_variant_name(chosen), rt->dev.info.name, rt->dev.info.native_float,
	       gemm_variant_name(other));
	printf("  %-16s %15s %10s %10s %10s %7s\n", "GEMM", "M x N x K", "agora", "other", "openblas",
	       "ratio");
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
		double flop = 2.0 * M * N * K;
		int lay = shapes[s].layout;
		double tc = 1e30, to = 1e30;
		char dims[32];

		snprintf(dims, sizeof(dims), "%dx%dx%d", M, N, K);
#ifdef HAVE_OPENBLAS
		double tb = 1e30;

		/* alternate the two, best of each: a load that comes and goes
		 * (a shared machine) then hits both alike */
		for (int r = 0; r < reps; r++) {
			double x = time_cl(&g, M, N, K, lay, da, db, dc, 1), o;
			double y = time_blas(M, N, K, lay, a, b, c, 1);

			gemm_set_variant(&g, other);
			o = time_cl(&g, M, N, K, lay, da, db, dc, 1);
			gemm_set_variant(&g, chosen);
			tc = x < tc ? x : tc;
			tb = y < tb ? y : tb;
			to = o < to ? o : to;
		}
		if (s == 0)
			printf("  (OpenBLAS core: %s, %d threads)\n", openblas_get_corename(),
			       openblas_get_num_threads());
		printf("  %-16s %15s %8.1f G %8.1f G %8.1f G %6.0f%%\n", shapes[s].what, dims,
		       flop / tc * 1e-9, flop / to * 1e-9, flop / tb * 1e-9, 100.0 * tb / tc);
#else
		tc = time_cl(&g, M, N, K, lay, da, db, dc, reps);
		gemm_set_variant(&g, other);
		to = time_cl(&g, M, N, K, lay, da, db, dc, reps);
		gemm_set_variant(&g, chosen);
		printf("  %-16s %15s %8.1f G %8.1f G %10s %7s\n", shapes[s].what, dims,
		       flop / tc * 1e-9, flop / to * 1e-9, "n/a", "n/a");
#endif
	}
	clReleaseMemObject(da);
	clReleaseMemObject(db);
	clReleaseMemObject(dc);
	free(a);
	free(b);
	free(c);
	gemm_release(&g);
	return 0;
}

static int parse_variant(const char *s, enum gemm_variant *v)
{
	static const struct {
		const char *name;
		enum gemm_variant v;
	} names[] = {{"auto", GEMM_VARIANT_AUTO},
		     {"rb", GEMM_VARIANT_RB},
		     {"narrow", GEMM_VARIANT_RB_NARROW},
		     {"tiled", GEMM_VARIANT_TILED}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0) {
			*v = names[i].v;
			return 0;
		}
	return -1;
}

static double peak_rss_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* The default path of torch_gpt.py: beside this file as the compiler
 * named it (absolute, or relative to the build directory). */
static const char *torch_default(char *buf, size_t size)
{
	const char *slash = strrchr(__FILE__, '/');
	int n = slash ? (int)(slash - __FILE__) + 1 : 0;

	snprintf(buf, size, "%.*storch_gpt.py", n, __FILE__);
	return buf;
}

/*
 * Runs the PyTorch peer (`python3 SCRIPT --steps N --batch B`) and returns
 * its tokens/s, or 0 when it could not run (no script, no python3, no
 * torch: the script then prints "n/a"); *fastest gets its fastest step's
 * tokens/s. Its output lines are echoed.
 */
static double torch_peer(const char *script, int steps, int batch, double *fastest)
{
	char cmd[1200], line[512];
	struct stat st;
	double tps = 0.0;
	FILE *p;

	if (!script || strcmp(script, "none") == 0)
		return 0.0;
	if (stat(script, &st) != 0 || strchr(script, '\'') != NULL) {
		printf("  pytorch: n/a ('%s' not found)\n", script);
		return 0.0;
	}
	fflush(stdout);
	snprintf(cmd, sizeof(cmd), "python3 '%s' --steps %d --batch %d 2>&1", script, steps, batch);
	p = popen(cmd, "r");
	if (!p) {
		printf("  pytorch: n/a (cannot run python3)\n");
		return 0.0;
	}
	while (fgets(line, sizeof(line), p)) {
		const char *colon = strstr(line, "threads: "), *f = strstr(line, "fastest step ");

		printf("  %s", line);
		if (colon)
			tps = strtod(colon + 9, NULL);
		if (f)
			*fastest = strtod(f + 13, NULL);
	}
	if (pclose(p) != 0 && tps == 0.0)
		printf("  pytorch: n/a (python3 failed)\n");
	return tps;
}

/* gpt-small training steps: tokens/s, and peak memory against the
 * model's own bytes. On a CPU device the buffers live in host memory, so
 * the process's peak RSS is the device footprint plus the runtime's. */
static int bench_train(struct runtime *rt, int steps, int batch, int profile, const char *torch,
		       enum gemm_variant variant)
{
	const struct model_config *cfg = model_preset_find("gpt-small");
	const struct ref_adamw opt = {3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
	size_t len = 1 << 20, n = model_param_count(cfg);
	unsigned char *data = malloc(len);
	float *p = malloc(n * sizeof(float)), loss0 = 0, loss1 = 0;
	double rss0 = peak_rss_mib(), t0, dt, best = 0.0;
	struct engine *e;
	struct error err;
	int tokens = batch * cfg->n_ctx;

	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)(32 + model_rng_u64(1, i) % 95);
	model_init_params(cfg, 1, p);
	struct engine_opts eo = {.gemm = variant, .profile = profile};

	e = engine_new(rt, cfg, batch, &eo, &err);
	if (!e || engine_load(e, p, NULL, NULL, 0, &err) != 0 ||
	    engine_run_gpt(e, data, len, 1, &opt, &loss0, &err) != 0) { /* warm-up */
		log_error("%s", err.msg);
		return -1;
	}
	t0 = now();
	for (int s = 0; s < steps; s++) {
		double ts = now();

		if (engine_run_gpt(e, data, len, 1, &opt, &loss1, &err) != 0) {
			log_error("%s", err.msg);
			return -1;
		}
		ts = now() - ts;
		best = s == 0 || ts < best ? ts : best;
	}
	dt = now() - t0;
	printf("\ntrain gpt-small (L%d C%d NH%d T%d, %zu parameters), batch %d on %s, gemm %s\n",
	       cfg->n_layer, cfg->n_embd, cfg->n_head, cfg->n_ctx, n, batch, rt->dev.info.name,
	       gemm_variant_name(variant));
	printf("  %d steps in %.2f s: %.0f tokens/s (%.2f s/step), %.1f GFLOP/s of model FLOPs\n",
	       steps, dt, (double)tokens * steps / dt, dt / steps,
	       (double)model_flops_per_token(cfg) * tokens * steps / dt * 1e-9);
	printf("  fastest step %.2f s: %.0f tokens/s (the figure least disturbed by other load)\n",
	       best, (double)tokens / best);
	printf("  loss %.4f after the warm-up step, %.4f after %d more\n", (double)loss0,
	       (double)loss1, steps);
	{
		double ours = (double)tokens * steps / dt, fast = 0.0;
		double peer = torch_peer(torch, steps, batch, &fast);

		if (peer > 0.0)
			printf("  agora / pytorch: %.0f%% (averages), %.0f%% (fastest steps)\n",
			       100.0 * ours / peer, fast > 0.0 ? 100.0 * tokens / best / fast : 0.0);
		else if (torch && strcmp(torch, "none") != 0)
			printf("  agora / pytorch: n/a\n");
	}
	{
		double model_mib = (double)(engine_state_bytes(e) + engine_act_bytes(e)) / 1048576.0;
		double peak = peak_rss_mib();

		printf("memory: params+grads+m+v %.1f MiB + activations %.1f MiB = %.1f MiB\n",
		       (double)engine_state_bytes(e) / 1048576.0,
		       (double)engine_act_bytes(e) / 1048576.0, model_mib);
		printf("  peak RSS %.1f MiB (%.1f MiB before the engine): %.2fx the model's bytes, "
		       "%.2fx counting only the engine's growth\n",
		       peak, rss0, peak / model_mib, (peak - rss0) / model_mib);
	}
	if (profile) {
		printf("per-kernel time (serialised by --profile):\n");
		engine_profile_print(e, stdout);
	}
	engine_free(e);
	free(p);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	const char *spec = NULL;
	struct runtime_device *devs = NULL;
	struct runtime *rt;
	struct error err;
	size_t n = 0;
	int i, quick = 0, steps = 5, batch = 8, only_gemm = 0, profile = 0;
	enum gemm_variant variant = GEMM_VARIANT_AUTO;
	char torch_buf[1024];
	const char *torch = torch_default(torch_buf, sizeof(torch_buf));

	log_init("engine-bench", LOG_LEVEL_INFO);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
			spec = argv[++i];
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--gemm") == 0)
			only_gemm = 1;
		else if (strcmp(argv[i], "--profile") == 0)
			profile = 1;
		else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
			steps = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
			batch = (int)strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--torch") == 0 && i + 1 < argc)
			torch = argv[++i];
		else if (strcmp(argv[i], "--variant") == 0 && i + 1 < argc &&
			 parse_variant(argv[i + 1], &variant) == 0)
			i++;
		else {
			fprintf(stderr, "usage: engine-bench [--device SPEC] [--quick] [--gemm] "
					"[--profile] [--steps N] [--batch B] [--torch SCRIPT|none] "
					"[--variant auto|rb|narrow|tiled]\n");
			return 2;
		}
	}
	if (runtime_devices(&devs, &n, &err) != 0 || n == 0) {
		log_error("no OpenCL device");
		free(devs);
		return 1;
	}
	i = runtime_select(devs, n, spec, &err);
	if (i < 0) {
		log_error("%s", err.msg);
		free(devs);
		return 1;
	}
	rt = runtime_new(&devs[i], &err);
	free(devs);
	if (!rt) {
		log_error("%s", err.msg);
		return 1;
	}
	if (bench_gemm(rt, quick) != 0)
		return 1;
	if (variant == GEMM_VARIANT_AUTO) { /* the one the engine will pick */
		struct gemm g;

		if (gemm_init(&g, rt, variant, &err) == 0) {
			variant = g.variant;
			gemm_release(&g);
		}
	}
	if (!only_gemm && bench_train(rt, steps, batch, profile, torch, variant) != 0)
		return 1;
	runtime_free(rt);
	return 0;
}
