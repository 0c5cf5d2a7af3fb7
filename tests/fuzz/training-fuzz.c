/*
 * training-fuzz.c - fuzzes the model manifest parser and the ledger entry
 * parser (docs/TRAINING.md).
 *
 * Each input is tried as a whole envelope (its unverified payload goes to
 * both parsers) and as raw manifest and ledger JSON. Properties beyond
 * "no crash": what parses re-encodes, and the canonical form parses back
 * and encodes to the same bytes. The harness links none of the C
 * reference (clang 14 leaves its target_clones functions unresolved when
 * linked from a static library).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "server-tools/ledger.h"
#include "tests/fuzz/fuzz.h"
#include "workunits/envelope.h"
#include "workunits/manifest.h"

static void check_manifest(const void *data, size_t size)
{
	struct manifest m, m2;
	char *json, *json2;
	size_t len, len2;

	manifest_init(&m);
	manifest_init(&m2);
	if (manifest_parse(&m, data, size, NULL) != 0)
		return;
	if (manifest_to_json(&m, &json, &len, NULL) != 0)
		abort();
	if (manifest_parse(&m2, json, len, NULL) != 0 || m2.n_results != m.n_results)
		abort();
	if (manifest_to_json(&m2, &json2, &len2, NULL) != 0 || len != len2 ||
	    memcmp(json, json2, len) != 0)
		abort();
	free(json);
	free(json2);
	manifest_release(&m);
	manifest_release(&m2);
}

static void check_ledger(const void *data, size_t size)
{
	struct ledger_entry e, e2;
	char *json;
	size_t len;

	if (ledger_entry_parse(&e, data, size, NULL) != 0)
		return;
	if (ledger_entry_to_json(&e, &json, &len, NULL) != 0)
		abort();
	if (ledger_entry_parse(&e2, json, len, NULL) != 0 || memcmp(&e, &e2, sizeof(e)) != 0)
		abort();
	free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope_info info;

	if (envelope_peek(&info, data, size, NULL) == 0) {
		check_manifest(info.payload, info.payload_len);
		check_ledger(info.payload, info.payload_len);
	}
	check_manifest(data, size);
	check_ledger(data, size);
	return 0;
}
