/*
 * ledger.h - the credit ledger: an append-only, hash-chained file of
 * entries signed by the coordinator, one per validated result.
 *
 * Each entry says that host H (id, key, account) earned credit for result
 * R of unit U: the unit's exact FLOPs (ledger_unit_flops(): the model's
 * FLOPs per token times the tokens the unit trains on). 1 credit =
 * 1 GFLOP = 1e9 FLOPs; entries store integer FLOPs, totals divide.
 *
 * Entry: canonical JSON (workunits/field.h) in a signed envelope of type
 * "ledger", version 1, all fields required, unknown ones rejected:
 *
 *   {"version":1,"seq":0,"prev":"<hash>","time":1800000000,"host":12,
 *    "host_key":"<64 hex>","account":"alice","unit_id":"<hash>",
 *    "result":"<hash>","flops":"512000000000"}
 *
 * seq counts from 0; prev is the BLAKE2b-256 of the previous entry's whole
 * envelope (zero hash for seq 0), so changing, removing or reordering any
 * entry breaks the chain after it. The file (e.g. STATE/ledger.log) is a
 * sequence of records, each a u32 little-endian length followed by that
 * many bytes of envelope. Appends are one write() then fsync().
 *
 * Crash safety: a record torn by a crash during an append can only be the
 * last one, and its append never returned success. ledger_open() (the
 * writer) truncates such a torn tail, with a warning, and continues (only
 * when the bytes after the last whole record are at most one record and
 * hold no second envelope: a damaged length in the middle is an error);
 * ledger_verify() (the auditor) reports it as an error naming the entry,
 * since a reader cannot tell a crash from tampering. Anything else wrong
 * anywhere makes both fail, naming the first bad entry.
 *
 * A result is credited once: ledger_append() refuses a second entry for
 * the same (unit_id, host_key) with ERROR_DUPLICATE, so after a crash the
 * coordinator may simply append every validated result again.
 *
 * A struct ledger is guarded by a mutex: any thread may append.
 */
#ifndef AGORA_SERVER_LEDGER_H
#define AGORA_SERVER_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "kernels/model.h"
#include "workunits/hash.h"
#include "workunits/key.h"

#define LEDGER_VERSION          1
#define LEDGER_ACCOUNT_MAX      64   /* account: 1..64 printable ASCII */
#define LEDGER_RECORD_MAX       4096 /* bytes of one record's envelope */
#define LEDGER_FLOPS_PER_CREDIT 1e9  /* 1 credit = 1 GFLOP */
#define ENVELOPE_TYPE_LEDGER    "ledger"

struct ledger_entry {
	uint64_t seq;     /* set by ledger_append() */
	struct hash prev; /* set by ledger_append() */
	int64_t time;     /* unix seconds, 0..2^53 - 1 */
	uint64_t host;    /* host id at the coordinator */
	struct key_public host_key;
	char account[LEDGER_ACCOUNT_MAX + 1];
	struct hash unit_id;
	struct hash result; /* the result's output hash */
	uint64_t flops;     /* credit in FLOPs */
};

struct ledger;

/* The FLOPs of a unit: model_flops_per_token(cfg) * steps * batch *
 * context, or 0 when that overflows a u64. */
uint64_t ledger_unit_flops(const struct model_config *cfg, uint64_t steps, uint64_t batch,
			   uint64_t context);

/* Opens (creating, mode 0600) the ledger at path for appending, signed by
 * sk: reads and verifies every entry (signature with sk's public key, seq,
 * prev), truncates a torn last record (logged), and fails naming the first
 * bad entry otherwise. */
int ledger_open(struct ledger **out, const char *path, const struct key_secret *sk,
		struct error *err) __attribute__((warn_unused_result));
/* Closes the file; NULL is a no-op. */
void ledger_free(struct ledger *l);

/* Appends e (its seq and prev are filled in), fsyncs, and returns 0;
 * *entry_hash (may be NULL) receives the new entry's hash. ERROR_DUPLICATE
 * when (unit_id, host_key) was credited before (nothing written);
 * ERROR_IO when the write fails (the file is cut back to its old end). */
int ledger_append(struct ledger *l, struct ledger_entry *e, struct hash *entry_hash,
		  struct error *err) __attribute__((warn_unused_result));

/* Entries so far, and the hash of the last one (zero when empty). */
uint64_t ledger_count(struct ledger *l);
void ledger_tip(struct ledger *l, struct hash *tip);

/* Called for each verified entry, in order; a negative return stops the
 * walk and is returned. */
typedef int (*ledger_visit_fn)(void *ctx, const struct ledger_entry *e);

/* Verifies the whole file at path against pk; *n_entries (may be NULL)
 * receives the count, *tip (may be NULL) the last entry's hash. Fails at
 * the first bad entry: "entry 7: signature does not verify", including a
 * torn last record. visit may be NULL. */
int ledger_verify(const char *path, const struct key_public *pk, ledger_visit_fn visit, void *ctx,
		  uint64_t *n_entries, struct hash *tip, struct error *err)
    __attribute__((warn_unused_result));

/* Per-account (by_account 1) or per-host totals of a verified ledger. */
struct ledger_total {
	char account[LEDGER_ACCOUNT_MAX + 1]; /* by_account */
	uint64_t host;                        /* by host */
	struct key_public host_key;           /* by host */
	uint64_t flops;
	uint64_t entries;
};
/* *out is malloc'd (the caller frees it), *n totals, in order of first
 * appearance. */
int ledger_totals(const char *path, const struct key_public *pk, int by_account,
		  struct ledger_total **out, size_t *n, struct error *err)
    __attribute__((warn_unused_result));

/* Canonical JSON of an entry, and its strict parse (for tests and tools). */
int ledger_entry_to_json(const struct ledger_entry *e, char **out, size_t *len, struct error *err)
    __attribute__((warn_unused_result));
int ledger_entry_parse(struct ledger_entry *e, const void *json, size_t len, struct error *err)
    __attribute__((warn_unused_result));

#endif
