/*
 * admin.h - agora-admin's command table and the helpers its command
 * groups share.
 *
 * agora-admin is the project admin's CLI. Each command group lives in its
 * own admin_<group>.c (admin_key.c: keygen; admin_wu.c: wu sign/verify/
 * show) and exposes one entry point, listed in admin_commands[] in
 * admin.c. To add a group: write admin_<group>.c with
 * `int admin_<group>(int argc, char **argv)`, declare it below, add a row
 * to the table in admin.c and the file to agora_admin_SOURCES.
 *
 * Entry points get argv[0] = the command's name and return the process
 * exit status: ADMIN_EXIT_OK, ADMIN_EXIT_FAIL (the operation failed: bad
 * file, bad signature; a one-line reason was printed) or ADMIN_EXIT_USAGE.
 */
#ifndef AGORA_SERVER_TOOLS_ADMIN_H
#define AGORA_SERVER_TOOLS_ADMIN_H

#define ADMIN_EXIT_OK    0
#define ADMIN_EXIT_FAIL  1
#define ADMIN_EXIT_USAGE 2

struct admin_command {
	const char *name;     /* "wu" */
	const char *synopsis; /* "sign|verify|show ..." */
	const char *summary;  /* one line for --help */
	int (*run)(int argc, char **argv);
};

/* A "--name VALUE" option; *value is set to the argument (not copied). A
 * flag option (takes_value 0) sets *value to "1". */
struct admin_option {
	const char *name; /* without the leading "--" */
	int takes_value;
	const char **value;
};

/*
 * Parses argv[1..argc-1] (argv[0] is the command name): "--name VALUE",
 * "--name=VALUE", "--" ends options, everything else is positional and
 * collected into pos (at most max_pos). Returns ADMIN_EXIT_OK, or prints
 * the problem and usage to stderr and returns ADMIN_EXIT_USAGE. "--help"
 * prints usage to stdout and returns -1 (the caller exits 0).
 */
int admin_parse_args(int argc, char **argv, const struct admin_option *opts, const char **pos,
		     int max_pos, int *n_pos, const char *usage);

/* Command groups. */
int admin_keygen(int argc, char **argv);
int admin_fingerprint(int argc, char **argv);
int admin_wu(int argc, char **argv);
int admin_audit(int argc, char **argv);  /* admin_audit.c */
int admin_ledger(int argc, char **argv); /* admin_ledger.c */
int admin_boinc(int argc, char **argv);  /* admin_boinc.c */
/* admin_remote.c: commands against a running coordinator (dataset, job,
 * host, model, audit JOB); argv[0] is the command. */
int admin_remote(const char *url, const char *key_path, int argc, char **argv);

#endif
