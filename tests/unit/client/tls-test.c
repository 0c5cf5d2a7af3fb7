/*
 * tls-test.c - agora-client against an HTTPS coordinator whose certificate
 * comes from a private CA (a self-signed certificate for 127.0.0.1 made
 * with the openssl command; skips when it is not installed): without
 * --cacert the certificate is not trusted and attach fails (verification
 * is on by default); with attach --cacert FILE (remembered for the
 * project) attach and a whole unit (work, blobs, upload) go through.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "tests/unit/client/cluster.h"

int main(void)
{
	struct cluster_unit_opts uo = {.steps = 3, .batch = 2, .quorum = 1};
	struct cluster c;
	struct hash uid;
	char cert[400], key[400], cmd[1200];

	signal(SIGPIPE, SIG_IGN);
	if (system("openssl version >/dev/null 2>&1") != 0)
		tap_skip_all("the openssl command is not installed");
	if (cluster_open(&c, "gpt-test") < 0 || cluster_unit(&c, &uo, &uid) < 0)
		tap_skip_all("cannot set up a server state");
	snprintf(cert, sizeof(cert), "%s/cert.pem", c.root);
	snprintf(key, sizeof(key), "%s/key.pem", c.root);
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		 " -keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1"
		 " -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		 key, cert);
	if (system(cmd) != 0) {
		cluster_close(&c);
		tap_skip_all("openssl cannot make a certificate");
	}
	c.tls_cert = cert;
	c.tls_key = key;
	if (cluster_server_start(&c, 0) < 0) {
		cluster_close(&c);
		tap_skip_all("cannot start an https agora-server");
	}
	TAP_OK(strncmp(c.url, "https://", 8) == 0, "the coordinator serves https");
	{
		const char *args[] = {"attach", c.url, "--account", "ann", NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", args), 30), 1,
		       "without --cacert the private certificate is not trusted");
		TAP_OK(cluster_log_has(&c, "ann", "certificate"), "and the message says so");
	}
	{
		const char *args[] = {"attach", c.url, "--account", "ann", "--cacert", cert, NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", args), 30), 0, "--cacert: attached");
	}
	{
		const char *args[] = {"run", "--device", "ref", "--max-units", "1", NULL};
		TAP_IS(cluster_wait(cluster_client(&c, "ann", args), 120), 0,
		       "run (with the CA file remembered from attach) computes a unit over https");
	}
	TAP_IS(cluster_sql(&c, "SELECT count(*) FROM results"), 1, "its result is stored");
	cluster_close(&c);
	return tap_done();
}
