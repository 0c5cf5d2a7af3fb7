/*
 * admin.c - agora-admin's main(): the command table, --help, and the
 * argument parser the command groups share (see admin.h).
 */
#include "config.h"

#include "server-tools/admin.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

static const struct admin_command admin_commands[] = {
    {"keygen", "--out DIR [--name NAME]",
     "create an Ed25519 key pair DIR/NAME.pub and DIR/NAME.key (default name 'admin')",
     admin_keygen},
    {"fingerprint", "KEYFILE...", "print the fingerprint and hex of public or secret key files",
     admin_fingerprint},
    {"wu", "sign|verify|show ...",
     "sign, verify and inspect work-unit descriptors ('agora-admin wu --help')", admin_wu},
    {"audit", "--dir DIR --pub KEY", "re-derive and check every model version of an exported job",
     admin_audit},
    {"ledger", "verify --file F --pub K", "check the signed, hash-chained credit ledger",
     admin_ledger},
    {"boinc", "keygen|sign|verify|publish ...",
     "BOINC's code-signing key and the agora-boinc app version (docs/BOINC.md)", admin_boinc},
};

/* Commands against a running coordinator: agora-admin --server URL --key
 * FILE COMMAND ... (admin_remote.c). */
static const struct admin_command admin_remote_commands[] = {
    {"dataset", "add FILE... | list", "cut files into shards, upload, sign the manifest", NULL},
    {"job", "create|list|status|...", "create a job from SPEC.json, watch and steer it", NULL},
    {"host", "list|ban|unban|clear ID", "hosts, bans, reputation blocks", NULL},
    {"model", "export JOB --out DIR", "manifests, blobs, model card, final parameters", NULL},
    {"audit", "JOB", "export JOB to a temporary directory and audit it", NULL},
};

#define ADMIN_N_COMMANDS (sizeof(admin_commands) / sizeof(admin_commands[0]))

static void admin_usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: agora-admin COMMAND [ARGS...]\n\n"
		     "Agora's project administration tool.\n\ncommands:\n");
	for (i = 0; i < ADMIN_N_COMMANDS; i++)
		fprintf(out, "  %-11s %-24s %s\n", admin_commands[i].name,
			admin_commands[i].synopsis, admin_commands[i].summary);
	fprintf(out, "  %-11s %-24s %s\n", "help", "", "show this list");
	fprintf(out, "\nagainst a running coordinator: agora-admin --server URL --key ADMIN.key "
		     "COMMAND ...\n");
	for (i = 0; i < sizeof(admin_remote_commands) / sizeof(admin_remote_commands[0]); i++)
		fprintf(out, "  %-11s %-24s %s\n", admin_remote_commands[i].name,
			admin_remote_commands[i].synopsis, admin_remote_commands[i].summary);
	fprintf(out, "\nExit status: 0 ok, 1 the operation failed, 2 usage error.\n");
}

int admin_parse_args(int argc, char **argv, const struct admin_option *opts, const char **pos,
		     int max_pos, int *n_pos, const char *usage)
{
	int i, only_pos = 0;

	*n_pos = 0;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq, *value = NULL;
		const struct admin_option *o;
		size_t nlen;

		if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (*n_pos >= max_pos) {
				fprintf(stderr, "agora-admin %s: unexpected argument '%s'\n%s",
					argv[0], arg, usage);
				return ADMIN_EXIT_USAGE;
			}
			pos[(*n_pos)++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = 1;
			continue;
		}
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(usage, stdout);
			return -1;
		}
		eq = strchr(arg, '=');
		nlen = eq ? (size_t)(eq - arg) - 2 : strlen(arg) - 2;
		for (o = opts; o && o->name; o++)
			if (arg[1] == '-' && strlen(o->name) == nlen &&
			    memcmp(arg + 2, o->name, nlen) == 0)
				break;
		if (!o || !o->name) {
			fprintf(stderr, "agora-admin %s: unknown option '%s'\n%s", argv[0], arg,
				usage);
			return ADMIN_EXIT_USAGE;
		}
		if (!o->takes_value) {
			*o->value = "1";
			continue;
		}
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		if (!value || !*value) {
			fprintf(stderr, "agora-admin %s: option '--%s' needs a value\n%s", argv[0],
				o->name, usage);
			return ADMIN_EXIT_USAGE;
		}
		*o->value = value;
	}
	return ADMIN_EXIT_OK;
}

/* "--server URL" / "--server=URL" and "--key FILE" before the command. */
static int admin_main_remote(int argc, char **argv)
{
	const char *url = NULL, *key = NULL, **slot;
	int i;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *a = argv[i] + 2, *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		if (n == 6 && strncmp(a, "server", 6) == 0)
			slot = &url;
		else if (n == 3 && strncmp(a, "key", 3) == 0)
			slot = &key;
		else
			break;
		if (eq)
			*slot = eq + 1;
		else if (i + 1 < argc)
			*slot = argv[++i];
	}
	if (i >= argc) {
		admin_usage(stderr);
		return ADMIN_EXIT_USAGE;
	}
	/* audit with --dir is the local audit of an export directory. */
	if (strcmp(argv[i], "audit") == 0 && argc - i > 1 && strncmp(argv[i + 1], "--", 2) == 0)
		return admin_audit(argc - i, argv + i);
	return admin_remote(url, key, argc - i, argv + i);
}

int main(int argc, char **argv)
{
	size_t i;

	log_init("agora-admin", LOG_LEVEL_INFO);
	if (argc < 2) {
		admin_usage(stderr);
		return ADMIN_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		admin_usage(stdout);
		return ADMIN_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("agora-admin %s\n", PACKAGE_VERSION);
		return ADMIN_EXIT_OK;
	}
	if (strncmp(argv[1], "--server", 8) == 0 || strncmp(argv[1], "--key", 5) == 0)
		return admin_main_remote(argc, argv);
	for (i = 0; i < ADMIN_N_COMMANDS; i++)
		if (strcmp(argv[1], admin_commands[i].name) == 0)
			return admin_commands[i].run(argc - 1, argv + 1);
	log_error("unknown command '%s' (try 'agora-admin --help')", argv[1]);
	return ADMIN_EXIT_USAGE;
}
