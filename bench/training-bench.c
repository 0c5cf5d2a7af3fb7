/*
 * training-bench.c - what the coordinator's training steps cost for a
 * preset: checking one Δ (hash + scan), the outer step over a round, the
 * eval loss, a text sample, and a model blob's zlib encode/decode, beside
 * a memcpy of the same bytes as the machine's bandwidth peer.
 *
 *     bench/training-bench [PRESET [UNITS [EVAL_SEQS]]]   (gpt-tiny 8 16)
 *
 * Prints one line per step; figures go to docs/TRAINING.md.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/model.h"
#include "server-tools/merge.h"
#include "server-tools/validate.h"
#include "workunits/blob.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long parse_arg(int argc, char **argv, int i, long def)
{
	char *end;
	long v;

	if (argc <= i)
		return def;
	v = strtol(argv[i], &end, 10);
	return *end || v < 1 || v > 4096 ? def : v;
}

static void bench_blob(const float *theta, size_t n)
{
	struct blob_caps caps = {BLOB_DEFAULT_MAX_RAW, BLOB_DEFAULT_MAX_RATIO, NULL};
	unsigned char *enc, *dec;
	size_t enc_len, dec_len;
	double t0, t1, t2;

	t0 = now();
	if (blob_encode_mem(theta, n * 4, BLOB_CODEC_ZLIB, &enc, &enc_len, NULL, NULL) < 0)
		exit(1);
	t1 = now();
	if (blob_decode_mem(enc, enc_len, &caps, &dec, &dec_len, NULL, NULL) < 0)
		exit(1);
	t2 = now();
	printf("model blob zlib       encode %8.1f ms  decode %8.1f ms  (%zu -> %zu bytes)\n",
	       (t1 - t0) * 1e3, (t2 - t1) * 1e3, n * 4, enc_len);
	free(enc);
	free(dec);
}

int main(int argc, char **argv)
{
	const char *preset = argc > 1 ? argv[1] : "gpt-tiny";
	const struct model_config *cfg = model_preset_find(preset);
	long units = parse_arg(argc, argv, 2, 8), seqs = parse_arg(argc, argv, 3, 16), u;
	const struct merge_hyper h = {0.7, 0.9};
	struct validate_params vp = {VALIDATE_EXACT, 0, 0, 1, 3};
	size_t n, i, text_len = 1 << 16;
	float *theta, *mom, *sum, *delta, *copy;
	unsigned char *text;
	char sample[80];
	struct hash hd;
	double t0, t1, loss;

	if (!cfg || cfg->kind != MODEL_GPT) {
		fprintf(stderr, "usage: training-bench [GPT-PRESET [UNITS [EVAL_SEQS]]]\n");
		return 2;
	}
	n = model_param_count(cfg);
	vp.n_params = n;
	theta = malloc(n * 4);
	mom = calloc(n, 4);
	sum = calloc(n, 4);
	delta = malloc(n * 4);
	copy = malloc(n * 4);
	text = malloc(text_len);
	if (!theta || !mom || !sum || !delta || !copy || !text)
		return 1;
	for (i = 0; i < text_len; i++)
		text[i] = (unsigned char)("a quick brown fox jumps over the lazy dog\n"[i % 42]);
	model_init_params(cfg, 1, theta);
	for (i = 0; i < n; i++)
		delta[i] = (model_rng_uniform(2, i) - 0.5f) * 1e-3f;
	printf("%s: %zu parameters (%.1f MB per model-sized blob), %ld units, %ld eval seqs\n",
	       preset, n, (double)n * 4 / 1e6, units, seqs);

	t0 = now();
	memcpy(copy, delta, n * 4);
	t1 = now();
	printf("peer: memcpy          %8.2f ms\n", (t1 - t0) * 1e3);
	t0 = now();
	hash_buf(&hd, delta, n * 4);
	if (validate_delta(&vp, &hd, (const unsigned char *)delta, n * 4) != VALIDATE_REASON_NONE)
		return 1;
	t1 = now();
	printf("check one delta       %8.2f ms  (hash + shape/finite/zero scan)\n",
	       (t1 - t0) * 1e3);
	t0 = now();
	for (u = 0; u < units; u++)
		merge_sum_add(sum, delta, n);
	merge_apply(theta, mom, sum, (size_t)units, n, &h);
	t1 = now();
	printf("outer step, %3ld units %8.2f ms\n", units, (t1 - t0) * 1e3);
	t0 = now();
	if (merge_eval(cfg, theta, text, text_len, (int)seqs, &loss, NULL) < 0)
		return 1;
	t1 = now();
	printf("eval %3ld sequences    %8.1f ms  (loss %.4f)\n", seqs, (t1 - t0) * 1e3, loss);
	t0 = now();
	if (merge_sample(cfg, theta, text, 8, 48, 0.8, 1, sample, sizeof(sample), NULL) != 48)
		return 1;
	t1 = now();
	printf("sample 48 bytes       %8.1f ms  (after an 8-byte prompt)\n", (t1 - t0) * 1e3);
	bench_blob(theta, n);
	free(theta);
	free(mom);
	free(sum);
	free(delta);
	free(copy);
	free(text);
	return 0;
}
