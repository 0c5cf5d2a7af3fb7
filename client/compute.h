/*
 * compute.h - what one work unit computes, as a library function (the run
 * loop and, later, the BOINC app call it).
 *
 * A unit trains its preset's GPT from θ_r for H steps over its data and
 * returns the pseudo-gradient Δ = θ_r − θ_end (docs/CLIENT.md, "What a
 * unit computes"):
 *
 *  - θ_r: model_param_count(preset) float32 little-endian values;
 *  - the training bytes: the unit's data ranges concatenated in order;
 *  - a fresh AdamW (m = v = 0, step 0) with the unit's hyper-parameters,
 *    batch = hyper.batch, context = hyper.context (must equal the
 *    preset's T), step s reading its sequences at ref_gpt_batch_offset();
 *  - Δ as float32 little-endian, shipped as a zlib blob.
 *
 * The OpenCL engine (kernels/engine.h) and the C reference
 * (kernels/ref/gpt.h, device "ref") give the same bits. The state is
 * checkpointed to DIR/ckpt (model_ckpt format, written to a temporary
 * file, fsynced, renamed) every ckpt_interval seconds and when *stop
 * becomes non-zero; DIR/ckpt.meta keeps the first/last loss and seconds.
 * A later call with the same DIR resumes from the checkpoint and runs only
 * the remaining steps, to the same final bits.
 */
#ifndef AGORA_CLIENT_COMPUTE_H
#define AGORA_CLIENT_COMPUTE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "workunits/hash.h"
#include "workunits/key.h"
#include "workunits/result.h"
#include "workunits/unit.h"

/* The kernel ABI this client's kernels implement. */
#define COMPUTE_KERNEL_ABI 1
/* Largest training buffer a unit may name (sum of its data ranges). */
#define COMPUTE_DATA_MAX (UINT64_C(1) << 30)
/* Largest activation memory a unit's batch may need (bytes): a unit over
 * it is refused instead of failing to allocate on every try. */
#define COMPUTE_ACT_MAX (UINT64_C(8) << 30)

struct compute_progress {
	uint64_t step;  /* steps done */
	uint64_t steps; /* H */
	float loss;     /* loss of the last step */
	double seconds; /* compute seconds so far (this unit, all sessions) */
};

struct compute_opts {
	const char *device;          /* "ref", NULL/"" (best OpenCL device), an index or a name */
	const char *dir;             /* the unit's directory for checkpoints; NULL: none */
	double ckpt_interval;        /* seconds between checkpoints (<= 0: every step) */
	volatile sig_atomic_t *stop; /* may be NULL */
	/* Called after every step (may be NULL). */
	void (*progress)(void *ctx, const struct compute_progress *p);
	void *ctx;
};

struct compute_output {
	unsigned char *blob; /* Δ's blob container, malloc'd: free it */
	size_t blob_len;
	struct hash output;   /* Δ's raw content hash */
	uint64_t output_size; /* Δ's raw bytes */
	double loss_first, loss_last;
	double seconds;
	uint32_t steps;
	uint64_t resumed_from; /* step the run started at (0: fresh) */
	char device[RESULT_DEVICE_MAX + 1];
};

/* Checks what a client can check before fetching anything: the kernel ABI,
 * a known GPT preset, context = the preset's T, a batch the engine takes,
 * the data size cap, the activation memory cap. One-line message on
 * failure. */
int compute_check_unit(const struct unit *u, struct error *err) __attribute__((warn_unused_result));

/* Runs unit u. theta holds theta_len bytes (must be the preset's parameter
 * bytes), data the concatenated training bytes. ERROR_STATE with "stopped"
 * when *stop ended the run (after a checkpoint); ERROR_DEVICE when the
 * device cannot be opened or fails (the unit itself may be fine). */
int compute_unit(const struct unit *u, const unsigned char *theta, size_t theta_len,
		 const unsigned char *data, size_t data_len, const struct compute_opts *o,
		 struct compute_output *out, struct error *err) __attribute__((warn_unused_result));

/* The result descriptor of a computed unit (its id, c's output and
 * figures, the host key's public half), sealed with sk. *env is malloc'd:
 * the caller frees it. agora-client and agora-boinc both answer with it,
 * so their replicas carry the same descriptor fields. */
int compute_seal_result(const struct hash *unit_id, const struct compute_output *c,
			const struct key_secret *sk, unsigned char **env, size_t *env_len,
			struct error *err) __attribute__((warn_unused_result));

/* Reads the step of the checkpoint in dir (0 when none). */
uint64_t compute_ckpt_step(const char *dir);

#endif
