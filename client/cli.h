/*
 * cli.h - the volunteer-facing commands of agora-client: attach, detach,
 * run, status (client/main.c dispatches to them). Each takes the
 * subcommand's argc/argv (argv[0] is the command name) and returns the
 * process exit status: 0 success, 1 failure, 2 usage.
 */
#ifndef AGORA_CLIENT_CLI_H
#define AGORA_CLIENT_CLI_H

int cli_attach(int argc, char **argv);
int cli_detach(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_status(int argc, char **argv);

#endif
