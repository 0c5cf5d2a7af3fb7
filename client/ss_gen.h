/*
 * ss_gen.h - the screensaver's text generator: a background thread that
 * finds the latest model version in the client's blob cache and writes a
 * few bytes per second of text with the C reference forward.
 *
 * "The latest model version" is the newest file in STATE/blobs whose name
 * is a 64-hex hash and whose size is exactly the parameter bytes of a
 * known GPT preset (a θ blob the client computed on; data shards of that
 * exact size would be mistaken for one, which is harmless: the text is
 * then noise). The cache is rescanned every SS_GEN_RESCAN_S. Generation
 * samples softmax(logits / SS_GEN_TEMP) one byte at a time over the last
 * T bytes; non-printable bytes are shown as spaces. The thread runs at
 * nice 19 and sleeps at least as long as each forward took, so it uses at
 * most half a core (gpt-tiny: ~0.2 s per byte on one core).
 */
#ifndef AGORA_CLIENT_SS_GEN_H
#define AGORA_CLIENT_SS_GEN_H

#include <stddef.h>

#define SS_GEN_TEXT_MAX 240 /* bytes of generated text kept */
#define SS_GEN_RESCAN_S 60.0
#define SS_GEN_TEMP     0.8

struct ss_gen;

/* Starts the thread on state directory `state` (copied). NULL on failure
 * (out of memory, no thread). */
struct ss_gen *ss_gen_start(const char *state);

/* Copies the text so far (NUL-terminated, printable ASCII) and a short
 * description of the model ("gpt-tiny 1f3a9c..." or why there is none). */
void ss_gen_get(struct ss_gen *g, char *text, size_t text_cap, char *model, size_t model_cap);

/* Stops and joins the thread (waits at most one forward), frees g. NULL:
 * no-op. */
void ss_gen_stop(struct ss_gen *g);

/* CPU seconds the generator thread has used (0 when unknown). */
double ss_gen_cpu_s(struct ss_gen *g);

#endif
