/*
 * server-tls-test.c - an HTTPS round trip: the test makes a self-signed
 * certificate for 127.0.0.1 with the openssl command (skips when it is
 * not installed), starts the coordinator with --tls-cert / --tls-key and
 * fetches /api/v1/project with libcurl verifying the certificate
 * (CURLOPT_CAINFO). A client that does not trust the certificate, and a
 * plain-HTTP client, get no answer; a bad key file stops the start.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "server-tools/server.h"
#include "tests/tap.h"
#include "tests/unit/server-tools/http-fetch.h"

static char dir[256];

static int make_cert(const char *cert, const char *key)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		 " -keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1"
		 " -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		 key, cert);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	char cert[400], key[400], state[400], url[128], cmd[400];
	struct server_options opt = {.listen = "127.0.0.1:0", .threads = 1};
	struct fetch_options trust = {.cainfo = cert};
	struct server *s = NULL;
	struct error err;
	struct fetch f;

	signal(SIGPIPE, SIG_IGN);
	if (system("openssl version >/dev/null 2>&1") != 0)
		tap_skip_all("the openssl command is not installed");
	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	if (make_cert(cert, key) < 0)
		tap_skip_all("openssl cannot make a certificate");
	curl_global_init(CURL_GLOBAL_DEFAULT);

	opt.state_dir = state;
	opt.tls_cert = cert;
	opt.tls_key = key;
	if (server_open(&s, &opt, &err) < 0 || server_start(s, &err) < 0)
		tap_skip_all("cannot start a TLS server: %s", err.msg);
	TAP_OK(server_tls(s), "serving over TLS on port %u", server_port(s));

	snprintf(url, sizeof(url), "https://127.0.0.1:%u/api/v1/project", server_port(s));
	fetch_url("GET", url, NULL, 0, &trust, &f);
	TAP_IS(f.status, 200, "HTTPS round trip, certificate verified");
	if (f.status != 200)
		tap_diag("  %s", f.error);
	TAP_OK(f.body && strstr(f.body, "\"kernel_abi\":1") != NULL, "project info over TLS");
	fetch_release(&f);

	fetch_url("GET", url, NULL, 0, NULL, &f);
	TAP_IS(f.status, 0, "a client that does not trust the certificate gets nothing");
	fetch_release(&f);

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/api/v1/project", server_port(s));
	fetch_url("GET", url, NULL, 0, NULL, &f);
	TAP_OK(f.status != 200, "plain HTTP to the TLS port does not work");
	fetch_release(&f);
	server_free(s);
	s = NULL;

	/* A certificate used as key: the start fails with a message. */
	opt.tls_key = cert;
	TAP_IS(server_open(&s, &opt, &err), 0, "reopen");
	TAP_OK(server_start(s, &err) < 0, "a bad key stops the start");
	tap_diag("  %s", err.msg);
	server_free(s);

	opt.tls_key = NULL;
	TAP_IS(server_open(&s, &opt, &err), ERROR_INVALID, "--tls-cert without --tls-key refused");

	curl_global_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		tap_diag("cannot clean up");
	return tap_done();
}
