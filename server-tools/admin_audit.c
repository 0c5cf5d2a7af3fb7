/*
 * admin_audit.c - "agora-admin audit": re-derives every model version of
 * an exported job from its parent and the published canonical results,
 * checking every signature, parent link and blob hash (server-tools/
 * lineage.h). Exits 1 naming the first broken link.
 *
 * The export directory's layout is in docs/TRAINING.md ("Export
 * directory"): DIR/manifests/round-N.env and DIR/blobs/<hash>.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "server-tools/admin.h"
#include "server-tools/lineage.h"
#include "workunits/key.h"

static const char admin_audit_usage[] =
    "usage: agora-admin audit --dir EXPORT_DIR --pub COORD.pub [--no-eval] [--quiet]\n"
    "  re-derives every model version in EXPORT_DIR (manifests/round-N.env,\n"
    "  blobs/<hash>) from its parent and the listed canonical results, and\n"
    "  checks every signature (the coordinator's key COORD.pub), parent link,\n"
    "  blob hash and eval loss. --no-eval skips recomputing eval losses.\n"
    "  Exits 1 naming the first broken link.\n";

static void admin_audit_round(void *ctx, const struct manifest *m, const struct hash *id)
{
	char hex[HASH_HEX_LEN + 1];

	(void)ctx;
	hash_to_hex(id, hex);
	printf("round %llu ok: %zu results, eval loss %.6f, manifest %s\n",
	       (unsigned long long)m->round, m->n_results, m->eval_loss, hex);
	fflush(stdout);
}

int admin_audit(int argc, char **argv)
{
	const char *dir = NULL, *pub = NULL, *no_eval = NULL, *quiet = NULL;
	const struct admin_option opts[] = {{"dir", 1, &dir},
					    {"pub", 1, &pub},
					    {"no-eval", 0, &no_eval},
					    {"quiet", 0, &quiet},
					    {NULL, 0, NULL}};
	struct lineage_opts lo = {0, admin_audit_round, NULL};
	struct lineage_report rep;
	char hex[HASH_HEX_LEN + 1];
	struct key_public pk;
	struct error err;
	int n_pos, rc;

	rc = admin_parse_args(argc, argv, opts, NULL, 0, &n_pos, admin_audit_usage);
	if (rc != ADMIN_EXIT_OK)
		return rc < 0 ? ADMIN_EXIT_OK : rc;
	if (!dir || !pub) {
		fputs(admin_audit_usage, stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (key_load_public(&pk, pub, &err) < 0) {
		log_error("%s", err.msg);
		return ADMIN_EXIT_FAIL;
	}
	if (no_eval)
		lo.flags |= LINEAGE_NO_EVAL;
	if (quiet)
		lo.on_round = NULL;
	error_clear(&err);
	if (lineage_verify_dir(dir, &pk, &lo, &rep, &err) < 0) {
		log_error("audit of '%s' failed: %s", dir, err.msg);
		return ADMIN_EXIT_FAIL;
	}
	hash_to_hex(&rep.tip, hex);
	printf("audit ok: %zu model versions, %zu results re-merged, last eval loss %.6f, "
	       "tip %s\n",
	       rep.rounds, rep.results, rep.last_loss, hex);
	return ADMIN_EXIT_OK;
}
