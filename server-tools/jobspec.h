/*
 * jobspec.h - a training job's definition (the admin's SPEC.json) and the
 * work generator's deterministic arithmetic: which bytes of the dataset
 * each unit trains on, and which are held out for evaluation.
 *
 * SPEC.json (all fields required unless marked optional, unknown ones
 * refused, each error names its field):
 *
 *   {"name": "tiny", "preset": "gpt-tiny", "dataset": "fortunes", "seed": 42,
 *    "hyper": {"lr": 0.001, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8,
 *              "weight_decay": 0.0, "clip": 1.0, "batch": 8},
 *    "inner_steps": 10, "units_per_round": 4, "quorum": 2,
 *    "max_replicas": 5,                      (optional, default 2*quorum+1)
 *    "rounds": 3, "outer": {"lr": 0.7, "momentum": 0.9},
 *    "validation": {"mode": "exact"}         (or "tolerance" + "threshold")
 *    "eval": {"bytes": 8192, "sequences": 16},
 *    "unit_bytes": 65536,                    (optional, see below)
 *    "deadline_s": 3600}                     (optional, default 3600)
 *
 * Data layout: the dataset's shards concatenated in order are L bytes;
 * the last eval.bytes (E) are held out and never trained on; the first
 * L - E are the training region. A unit's window is W = min(unit_bytes,
 * L - E) bytes (unit_bytes defaults to batch * (T + 1) * inner_steps)
 * starting at
 *
 *     start = model_rng_u64(seed, (round << 32) | index) mod (L - E - W + 1)
 *
 * so it follows from job seed, round and unit index alone
 * (jobspec_window()). The window is cut at shard boundaries into the
 * unit's data ranges.
 */
#ifndef AGORA_SERVER_JOBSPEC_H
#define AGORA_SERVER_JOBSPEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kernels/model.h"
#include "workunits/unit.h"

#define JOBSPEC_JSON_MAX      (64u * 1024)
#define JOBSPEC_UNITS_MAX     2048 /* units per round (a manifest's cap) */
#define JOBSPEC_ROUNDS_MAX    100000
#define JOBSPEC_REPLICAS_MAX  64
#define JOBSPEC_DEADLINE_S    3600
#define JOBSPEC_EVAL_SEQS_MAX 65536

struct jobspec {
	char name[UNIT_JOB_MAX + 1];
	char preset[UNIT_PRESET_MAX + 1];
	char dataset[65];
	uint64_t seed;
	struct unit_hyper hyper; /* context = the preset's T */
	int inner_steps;
	int units_per_round;
	int quorum;
	int max_replicas;
	int rounds;
	double outer_lr, outer_momentum;
	int tolerance_mode; /* 0: exact */
	double threshold;
	uint64_t eval_bytes;
	int eval_sequences;
	uint64_t unit_bytes; /* 0 until jobspec_parse() fills the default */
	int64_t deadline_s;
	const struct model_config *cfg;
};

/* Parses and checks SPEC.json strictly (types, ranges, the preset, the
 * batch against the model). On error, a one-line message naming the
 * field. */
int jobspec_parse(struct jobspec *s, const void *json, size_t len, struct error *err)
    __attribute__((warn_unused_result));

/* Checks the spec against a dataset of total bytes whose smallest shard
 * (but the last) has min_shard bytes: room for eval and training, and a
 * window that fits in UNIT_DATA_MAX ranges. */
int jobspec_check_data(const struct jobspec *s, uint64_t total, uint64_t min_shard,
		       struct error *err) __attribute__((warn_unused_result));

/* The window [*start, *start + *len) of the training region of a dataset
 * of total bytes for unit index of round (see above). */
void jobspec_window(const struct jobspec *s, uint64_t total, uint64_t round, uint64_t index,
		    uint64_t *start, uint64_t *len);

/* Cuts [start, start + len) of the concatenation of n shards (sizes) into
 * ranges of shard index, offset, length; returns their count (at most
 * max) or ERROR_TOO_BIG. */
struct jobspec_range {
	size_t shard;
	uint64_t offset, length;
};
int jobspec_ranges(const uint64_t *sizes, size_t n, uint64_t start, uint64_t len,
		   struct jobspec_range *out, size_t max);

#endif
