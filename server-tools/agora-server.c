/*
 * agora-server.c - main() of the coordinator: parses the command line,
 * opens the state directory (creating it on first start), serves the
 * HTTP API until SIGINT or SIGTERM, then shuts down cleanly.
 *
 *     agora-server --state DIR [--listen ADDR:PORT] [--tls-cert F --tls-key F]
 *                  [--name NAME] [--threads N] [--verbose]
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server-tools/coord.h"
#include "server-tools/http.h"
#include "server-tools/server.h"

static const char *admin_keys[SERVER_ADMIN_KEYS_MAX];

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora-server --state DIR [--listen ADDR:PORT] [--tls-cert FILE --tls-key "
		"FILE]\n"
		"                    [--name NAME] [--threads N] [--max-in-progress N]\n"
		"                    [--admin-key FILE.pub]... [--distinct-netblock BITS]\n"
		"                    [--heartbeat SECONDS] [--verbose]\n"
		"\n"
		"  --state DIR        state directory (created on first start, mode 0700)\n"
		"  --listen ADDR:PORT address to serve on (default %s; [::1]:PORT for IPv6)\n"
		"  --tls-cert FILE    serve HTTPS with this PEM certificate (chain)\n"
		"  --tls-key FILE     and this PEM private key\n"
		"  --name NAME        project name, used on first start (default '%s')\n"
		"  --threads N        HTTP threads (default: 8 per CPU, 16..64)\n"
		"  --max-in-progress N  replicas one host may hold at once (default %d;\n"
		"                     0: no limit)\n"
		"  --admin-key FILE   an admin public key allowed to sign admin requests\n"
		"                     (repeatable; STATE/admins/NAME.pub are allowed too)\n"
		"  --distinct-netblock BITS  never two replicas of a unit to one address\n"
		"                     block (IPv4 /BITS, e.g. 24; IPv6 /48)\n"
		"  --heartbeat SECONDS  how often hosts report while they compute\n"
		"                     (default %d; 1..86400)\n"
		"  --verbose          log debug messages\n",
		HTTP_DEFAULT_LISTEN, SERVER_DEFAULT_NAME, SERVER_MAX_IN_PROGRESS,
		SERVER_HEARTBEAT_S);
}

static int parse_count(const char *text, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct server_options *opt)
{
	static const struct option longopts[] = {
	    {"state", required_argument, NULL, 's'},
	    {"listen", required_argument, NULL, 'l'},
	    {"tls-cert", required_argument, NULL, 'c'},
	    {"tls-key", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"threads", required_argument, NULL, 't'},
	    {"max-in-progress", required_argument, NULL, 'm'},
	    {"admin-key", required_argument, NULL, 'a'},
	    {"distinct-netblock", required_argument, NULL, 'b'},
	    {"heartbeat", required_argument, NULL, 'e'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long n;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt->state_dir = optarg;
			break;
		case 'l':
			opt->listen = optarg;
			break;
		case 'c':
			opt->tls_cert = optarg;
			break;
		case 'k':
			opt->tls_key = optarg;
			break;
		case 'n':
			opt->name = optarg;
			break;
		case 't':
			if (parse_count(optarg, 1, 256, &n) < 0) {
				log_error("bad --threads '%s': want 1..256", optarg);
				return 2;
			}
			opt->threads = (unsigned)n;
			break;
		case 'm':
			if (parse_count(optarg, 0, 1000000, &n) < 0) {
				log_error("bad --max-in-progress '%s': want 0..1000000", optarg);
				return 2;
			}
			opt->max_in_progress = n ? (int)n : -1;
			break;
		case 'b':
			if (parse_count(optarg, 8, 32, &n) < 0) {
				log_error("bad --distinct-netblock '%s': want 8..32", optarg);
				return 2;
			}
			opt->distinct_netblock = (int)n;
			break;
		case 'e':
			if (parse_count(optarg, 1, 86400, &n) < 0) {
				log_error("bad --heartbeat '%s': want 1..86400 seconds", optarg);
				return 2;
			}
			opt->heartbeat_s = (unsigned)n;
			break;
		case 'a':
			if (opt->n_admin_keys >= SERVER_ADMIN_KEYS_MAX) {
				log_error("at most %d --admin-key", SERVER_ADMIN_KEYS_MAX);
				return 2;
			}
			admin_keys[opt->n_admin_keys++] = optarg;
			opt->admin_keys = admin_keys;
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return 2;
	}
	if (!opt->state_dir) {
		log_error("missing --state DIR");
		usage(stderr);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct server_options opt = {0};
	struct server *s = NULL;
	struct coord *c = NULL;
	struct error err;
	sigset_t set;
	int sig = 0, rc;

	log_init(argv[0], LOG_LEVEL_INFO);
	rc = parse_args(argc, argv, &opt);
	if (rc)
		return rc;

	/* Block the stop signals before any thread starts, so every thread
	 * inherits the mask and sigwait() below is the only receiver. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (server_open(&s, &opt, &err) < 0 || coord_new(&c, s, &err) < 0 ||
	    server_start(s, &err) < 0) {
		log_error("%s", err.msg);
		if (s)
			server_stop(s);
		coord_free(c);
		server_free(s);
		return 1;
	}
	log_info("serving '%s' on %s://%s (port %u)", opt.state_dir,
		 server_tls(s) ? "https" : "http", opt.listen ? opt.listen : HTTP_DEFAULT_LISTEN,
		 server_port(s));
	if (sigwait(&set, &sig) != 0)
		sig = 0;
	log_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	server_stop(s);
	coord_free(c);
	server_free(s);
	log_info("stopped");
	return 0;
}
