/*
 * admin_ledger.c - "agora-admin ledger verify": walks a credit ledger
 * file (server-tools/ledger.h) checking every entry's signature by the
 * coordinator, its sequence number and its link to the previous entry,
 * and prints the credit totals per account or per host. Exits 1 naming
 * the first bad entry.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server-tools/admin.h"
#include "server-tools/ledger.h"
#include "workunits/key.h"

static const char admin_ledger_usage[] =
    "usage: agora-admin ledger verify --file LEDGER --pub COORD.pub [--totals account|host]\n"
    "  checks every entry of the credit ledger LEDGER (e.g. STATE/ledger.log):\n"
    "  the coordinator's signature (COORD.pub), the sequence numbers and the\n"
    "  hash chain; with --totals, prints each account's or host's credit\n"
    "  (1 credit = 1 GFLOP). Exits 1 naming the first bad entry.\n";

static void admin_ledger_print_totals(const struct ledger_total *t, size_t n, int by_account)
{
	char hex[KEY_PUBLIC_HEX_LEN + 1];
	size_t i;

	for (i = 0; i < n; i++) {
		double credit = (double)t[i].flops / LEDGER_FLOPS_PER_CREDIT;

		if (by_account) {
			printf("account %-24s %14.3f credits  %llu results\n", t[i].account, credit,
			       (unsigned long long)t[i].entries);
		} else {
			key_public_to_hex(&t[i].host_key, hex);
			printf("host %-6llu %.16s %14.3f credits  %llu results\n",
			       (unsigned long long)t[i].host, hex, credit,
			       (unsigned long long)t[i].entries);
		}
	}
}

static int admin_ledger_verify(const char *file, const char *pub, const char *totals)
{
	char hex[HASH_HEX_LEN + 1];
	struct ledger_total *t = NULL;
	struct key_public pk;
	struct error err;
	struct hash tip;
	uint64_t n;
	size_t n_t;
	int by_account = totals && strcmp(totals, "account") == 0;

	if (totals && !by_account && strcmp(totals, "host") != 0) {
		fputs(admin_ledger_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (key_load_public(&pk, pub, &err) < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	error_clear(&err);
	if (ledger_verify(file, &pk, NULL, NULL, &n, &tip, &err) < 0) {
		log_error("ledger '%s' is bad: %s", file, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	hash_to_hex(&tip, hex);
	printf("ledger ok: %llu entries, tip %s\n", (unsigned long long)n, hex);
	if (!totals)
		return ADMIN_EXIT_OK;
	if (ledger_totals(file, &pk, by_account, &t, &n_t, &err) < 0) {
		log_error("ledger '%s': %s", file, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	admin_ledger_print_totals(t, n_t, by_account);
	free(t);
	return ADMIN_EXIT_OK;
}

int admin_ledger(int argc, char **argv)
{
	const char *file = NULL, *pub = NULL, *totals = NULL, *pos[1];
	const struct admin_option opts[] = {
	    {"file", 1, &file}, {"pub", 1, &pub}, {"totals", 1, &totals}, {NULL, 0, NULL}};
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, pos, 1, &n_pos, admin_ledger_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (n_pos != 1 || strcmp(pos[0], "verify") != 0 || !file || !pub) {
		fputs(admin_ledger_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	return admin_ledger_verify(file, pub, totals);
}
