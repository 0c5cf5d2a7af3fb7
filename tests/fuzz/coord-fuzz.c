/*
 * coord-fuzz.c - fuzzes the parsers of the coordinator's training side:
 * job specs (jobspec_parse) and dataset manifests (dataset_manifest_parse,
 * dataset_manifest_open).
 *
 * The first input byte picks the parser (mod 2); the rest is its input:
 *   0: a SPEC.json. Properties: an accepted spec has the preset's context,
 *      quorum <= max_replicas, and windows of every unit that fit the
 *      training region of a dataset that passes jobspec_check_data().
 *   1: a dataset manifest's JSON. Properties: an accepted manifest
 *      re-encodes to JSON that parses to the same manifest and whose shard
 *      sizes sum to its bytes; sealing it gives an envelope that opens.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "server-tools/dataset.h"
#include "server-tools/jobspec.h"
#include "tests/fuzz/fuzz.h"

static void fuzz_spec(const uint8_t *data, size_t size)
{
	struct jobspec s;
	struct error err;
	uint64_t total, start, len, i;

	if (jobspec_parse(&s, data, size, &err) != 0)
		return;
	if (!s.cfg || s.hyper.context != (uint32_t)s.cfg->n_ctx || s.quorum > s.max_replicas)
		abort();
	total = s.eval_bytes + s.unit_bytes / 2 + (uint64_t)s.cfg->n_ctx + 1;
	if (jobspec_check_data(&s, total, 0, &err) != 0)
		return;
	for (i = 0; i < 8; i++) {
		jobspec_window(&s, total, i, i * 7, &start, &len);
		if (len == 0 || start + len > total - s.eval_bytes)
			abort();
	}
}

static void fuzz_dataset(const uint8_t *data, size_t size)
{
	struct dataset_manifest m, again, opened;
	struct key_public pk, signer;
	struct key_secret sk;
	unsigned char *env = NULL;
	uint64_t sum = 0;
	struct error err;
	char *json = NULL;
	size_t len, env_len, i;

	if (dataset_manifest_parse(&m, data, size, &err) != 0) {
		dataset_manifest_release(&m);
		return;
	}
	for (i = 0; i < m.n_shards; i++)
		sum += m.shards[i].size;
	if (sum != m.bytes || dataset_manifest_to_json(&m, &json, &len, &err) != 0 ||
	    dataset_manifest_parse(&again, json, len, &err) != 0 || again.n_shards != m.n_shards ||
	    again.bytes != m.bytes || strcmp(again.name, m.name) != 0)
		abort();
	key_from_seed(&pk, &sk, (const unsigned char *)"0123456789abcdef0123456789abcdef");
	if (dataset_manifest_seal(&m, &sk, &env, &env_len, &err) != 0 ||
	    dataset_manifest_open(&opened, &signer, env, env_len, &err) != 0 ||
	    !key_public_equal(&signer, &pk) || opened.bytes != m.bytes)
		abort();
	dataset_manifest_release(&opened);
	dataset_manifest_release(&again);
	dataset_manifest_release(&m);
	free(json);
	free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_spec(data + 1, size - 1);
	else
		fuzz_dataset(data + 1, size - 1);
	return 0;
}
