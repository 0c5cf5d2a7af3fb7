/*
 * ss_gen.c - the screensaver's text generator thread (see ss_gen.h).
 */
#include "config.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "client/ss_gen.h"
#include "common/fileio.h"
#include "kernels/model.h"
#include "kernels/ref/gpt.h"

struct ss_gen {
	pthread_t thread;
	pthread_mutex_t lock;
	_Atomic int stop;
	char state[FILEIO_PATH_MAX];
	/* shared, under lock */
	char text[SS_GEN_TEXT_MAX + 1];
	char model[96];
	clockid_t cpu_clock;
	int have_clock;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps s seconds in slices of 0.1 s; returns early when stopping. */
static void gen_sleep(struct ss_gen *g, double s)
{
	double end = mono() + s;

	while (!g->stop && mono() < end) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static void set_model(struct ss_gen *g, const char *desc)
{
	pthread_mutex_lock(&g->lock);
	snprintf(g->model, sizeof(g->model), "%s", desc);
	pthread_mutex_unlock(&g->lock);
}

static int is_hash_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

/* The newest θ blob: its path, preset and mtime; 0 or -1 when none. */
static int find_model(const char *state, char *path, const struct model_config **cfg,
		      time_t *mtime)
{
	char dir[FILEIO_PATH_MAX], p[FILEIO_PATH_MAX];
	struct dirent *de;
	struct stat st;
	int found = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/blobs", state);
	if (!(d = opendir(dir)))
		return -1;
	while ((de = readdir(d))) {
		const struct model_config *c;

		if (!is_hash_name(de->d_name) ||
		    snprintf(p, sizeof(p), "%s/%s", dir, de->d_name) >= (int)sizeof(p) ||
		    stat(p, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		for (int i = 0; (c = model_preset_at(i)); i++) {
			if (c->kind != MODEL_GPT ||
			    (uint64_t)st.st_size != (uint64_t)model_param_count(c) * sizeof(float))
				continue;
			if (!found || st.st_mtime > *mtime) {
				found = 1;
				*mtime = st.st_mtime;
				*cfg = c;
				memcpy(path, p, FILEIO_PATH_MAX);
			}
		}
	}
	closedir(d);
	return found ? 0 : -1;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Samples a byte from logits (V values) at temperature SS_GEN_TEMP. */
static int sample(const float *logits, int V, uint64_t *rng)
{
	double mx = logits[0], sum = 0, r, acc = 0;
	double p[MODEL_VOCAB];

	for (int i = 1; i < V; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (int i = 0; i < V; i++)
		sum += p[i] = exp(((double)logits[i] - mx) / SS_GEN_TEMP);
	r = (double)(rng_next(rng) >> 11) / 9007199254740992.0 * sum;
	for (int i = 0; i < V; i++)
		if ((acc += p[i]) >= r)
			return i;
	return V - 1;
}

static void append(struct ss_gen *g, int byte)
{
	size_t n;

	pthread_mutex_lock(&g->lock);
	n = strlen(g->text);
	if (n >= SS_GEN_TEXT_MAX) {
		memmove(g->text, g->text + 1, n - 1);
		n--;
	}
	g->text[n] = byte >= 32 && byte < 127 ? (char)byte : ' ';
	g->text[n + 1] = '\0';
	pthread_mutex_unlock(&g->lock);
}

/* Generates from one model until it is replaced or we stop. */
static void generate(struct ss_gen *g, const struct model_config *cfg, const float *params,
		     time_t mtime)
{
	static const char prompt[] = "The ";
	int T = cfg->n_ctx, V = cfg->vocab, len = 0;
	struct gpt_acts_layout lay;
	float *acts = malloc(model_act_floats(cfg, 1) * sizeof(float));
	int *tok = calloc((size_t)T, sizeof(int));
	uint64_t rng = (uint64_t)time(NULL) * 2654435761u + 1;
	double rescan = mono() + SS_GEN_RESCAN_S;

	if (!acts || !tok)
		goto out;
	if (V > MODEL_VOCAB)
		goto out;
	model_gpt_acts_layout(cfg, 1, &lay);
	for (const char *c = prompt; *c && len < T; c++) {
		tok[len++] = (unsigned char)*c;
		append(g, *c);
	}
	while (!g->stop) {
		double t0 = mono(), took;
		int b;

		ref_gpt_forward(cfg, params, tok, NULL, 1, acts);
		b = sample(acts + lay.logits + (size_t)(len - 1) * (size_t)V, V, &rng);
		append(g, b);
		if (len == T) {
			memmove(tok, tok + 1, (size_t)(T - 1) * sizeof(int));
			len--;
		}
		tok[len++] = b;
		took = mono() - t0;
		gen_sleep(g, took > 0.25 - took ? took : 0.25 - took); /* <= half a core */
		if (mono() >= rescan) {
			char path[FILEIO_PATH_MAX];
			const struct model_config *c2;
			time_t m2 = 0;

			rescan = mono() + SS_GEN_RESCAN_S;
			if (find_model(g->state, path, &c2, &m2) == 0 && m2 > mtime)
				break; /* a newer version: reload */
		}
	}
out:
	free(acts);
	free(tok);
}

static void *gen_main(void *arg)
{
	struct ss_gen *g = arg;

	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	while (!g->stop) {
		char path[FILEIO_PATH_MAX], desc[96], hex[13];
		const struct model_config *cfg = NULL;
		unsigned char *buf = NULL;
		time_t mtime = 0;
		size_t len;

		if (find_model(g->state, path, &cfg, &mtime) < 0) {
			set_model(g, "no model in the blob cache yet");
			gen_sleep(g, 10);
			continue;
		}
		if (fileio_read_all(path, model_param_count(cfg) * sizeof(float), &buf, &len, NULL) <
			0 ||
		    len != model_param_count(cfg) * sizeof(float)) {
			free(buf);
			set_model(g, "cannot read the model");
			gen_sleep(g, 10);
			continue;
		}
		snprintf(hex, sizeof(hex), "%s", strrchr(path, '/') + 1);
		snprintf(desc, sizeof(desc), "%s %s", cfg->name, hex);
		set_model(g, desc);
		generate(g, cfg, (const float *)buf, mtime);
		free(buf);
	}
	return NULL;
}

struct ss_gen *ss_gen_start(const char *state)
{
	struct ss_gen *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	snprintf(g->state, sizeof(g->state), "%s", state);
	snprintf(g->model, sizeof(g->model), "looking for a model");
	pthread_mutex_init(&g->lock, NULL);
	if (pthread_create(&g->thread, NULL, gen_main, g) != 0) {
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	g->have_clock = pthread_getcpuclockid(g->thread, &g->cpu_clock) == 0;
	return g;
}

void ss_gen_get(struct ss_gen *g, char *text, size_t text_cap, char *model, size_t model_cap)
{
	pthread_mutex_lock(&g->lock);
	snprintf(text, text_cap, "%s", g->text);
	snprintf(model, model_cap, "%s", g->model);
	pthread_mutex_unlock(&g->lock);
}

double ss_gen_cpu_s(struct ss_gen *g)
{
	struct timespec ts;

	if (!g || !g->have_clock || clock_gettime(g->cpu_clock, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ss_gen_stop(struct ss_gen *g)
{
	if (!g)
		return;
	g->stop = 1;
	pthread_join(g->thread, NULL);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
