/*
 * bad-client.c - a misbehaving volunteer, for the demo and the end-to-end
 * tests (never a flag of the real client). It registers a host key like
 * agora-client does, asks for work, and answers each unit it is given
 * with an attack, logging on stdout what it sent and what the coordinator
 * said:
 *
 *   scaled   the honest Δ (computed like client/compute.c does) × 1.5:
 *            valid on its own, loses the vote ("disagree")
 *   zero     an all-zero Δ: invalid on its own ("zero_delta")
 *   random   random bytes of the right size: NaN/Inf patterns among them
 *            ("non_finite"), else "disagree"
 *   copy     the honest result of its unit sealed by *another* host (a
 *            second key this program registers under another account, as
 *            if it had copied that host's signed result): the envelope
 *            names a host other than the uploader: refused, 400 bad_result
 *   foreign  a result for a replica it was not given (a neighbouring
 *            replica id): refused, 403 not_your_replica
 *
 * copy and foreign are refused at upload and leave the replica it was
 * given open, so each is followed by a vote-level attack on that replica
 * (or, with --mode copy|foreign alone, by giving the replica back with
 * POST /api/v1/abandon), and a round never waits on it. --mode rotate (the
 * default) goes copy+scaled, foreign+zero, random, ... unit after unit
 * (the honest Δ is computed once, for the first pair).
 *
 * A copy of another host's result for the *same* unit under the bad
 * host's own key is not attempted: the host could only learn that output
 * once it is published (manifest of the merged round), and the scheduler
 * never gives one host or account two replicas of a unit.
 *
 * Log lines (stdout, one per event, stable for scripts):
 *   bad-client: host ID account NAME (the other host: ID account NAME-friend)
 *   bad-client: sent ATTACK for replica R (round r, unit u) output HEX16: ANSWER
 * where ANSWER is "201 accepted, awaiting validation", the server's
 * refusal ("403 not_your_replica: ..."), or "refused: the server closed
 * the connection mid-upload" (a refusal after the body's first MiB).
 *   bad-client: no work (REASON)        (once until the next unit)
 *   bad-client: blocked by the coordinator
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/blobcache.h"
#include "client/compute.h"
#include "client/net.h"
#include "common/log.h"
#include "kernels/model.h"
#include "workunits/blob.h"
#include "workunits/envelope.h"
#include "workunits/key.h"
#include "workunits/result.h"
#include "workunits/unit.h"

#define BAD_REPLY_MAX (ENVELOPE_MAX * 7 + 8192)

enum attack { ATTACK_SCALED, ATTACK_ZERO, ATTACK_RANDOM, ATTACK_COPY, ATTACK_FOREIGN };

static const char *const attack_names[] = {"scaled", "zero", "random", "copy", "foreign"};

struct bad {
	const char *url, *device, *account;
	struct net net;
	struct blobcache cache;
	struct key_public server_pk;
	struct key_secret sk, other_sk; /* this host, and the "other" host */
	int64_t id, other_id;
	int mode; /* an attack, or -1: rotate */
	long units;
	int idle_said; /* "no work" logged since the last unit */
};

static volatile sig_atomic_t bad_stop;

static void on_signal(int sig)
{
	(void)sig;
	bad_stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: bad-client --server URL --state DIR [--device SPEC] [--account NAME]\n"
		     "                  [--mode rotate|scaled|zero|random|copy|foreign]\n"
		     "                  [--max-units N] [--idle S]\n");
}

/* A signed request as host id with key sk; the parsed JSON answer (or
 * NULL) and the status. */
static json_t *bad_call(struct bad *b, const struct key_secret *sk, int64_t id, const char *method,
			const char *path, const char *extra, const void *body, size_t len,
			long *status, char *why, size_t why_cap)
{
	struct net_response r;
	struct error err;
	json_t *j;

	*status = 0;
	if (net_signed(&b->net, sk, id, method, b->url, path, extra, body, len, BAD_REPLY_MAX, &r,
		       &err) < 0) {
		snprintf(why, why_cap, "%s", err.msg);
		return NULL;
	}
	*status = r.status;
	net_describe(&r, why, why_cap);
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	net_response_release(&r);
	return j;
}

static int bad_register(struct bad *b, const struct key_secret *sk, const char *account,
			int64_t *id)
{
	char body[512], hex[KEY_PUBLIC_HEX_LEN + 1], why[300];
	struct key_public pk;
	long status;
	json_t *j;

	key_public_of(&pk, sk);
	key_public_to_hex(&pk, hex);
	snprintf(body, sizeof(body),
		 "{\"public_key\":\"%s\",\"account\":\"%s\",\"device\":\"bad-client\"}", hex,
		 account);
	j = bad_call(b, sk, 0, "POST", "/api/v1/hosts", NULL, body, strlen(body), &status, why,
		     sizeof(why));
	*id = json_integer_value(json_object_get(j, "host_id"));
	json_decref(j);
	if ((status != 200 && status != 201) || *id <= 0) {
		log_error("cannot register account '%s': %s", account, why);
		return -1;
	}
	return 0;
}

/* The coordinator's key, from GET /api/v1/project. */
static int bad_project(struct bad *b)
{
	struct net_response r;
	struct error err;
	const char *hex;
	char url[600];
	json_t *j;
	int ret = -1;

	snprintf(url, sizeof(url), "%s/api/v1/project", b->url);
	if (net_request(&b->net, "GET", url, NULL, NULL, 0, NET_CONTROL_MAX, &r, &err) < 0) {
		log_error("cannot reach '%s': %s", b->url, err.msg);
		return -1;
	}
	j = json_loadb((const char *)r.body, r.len, 0, NULL);
	hex = json_string_value(json_object_get(j, "public_key"));
	if (r.status == 200 && hex && key_public_from_hex(&b->server_pk, hex, &err) == 0)
		ret = 0;
	else
		log_error("'%s' has no usable project key", b->url);
	json_decref(j);
	net_response_release(&r);
	return ret;
}

/* The honest Δ of u (raw float32 bytes, malloc'd), as client/compute.c
 * computes it, on the same device choice as agora-client. */
static unsigned char *bad_honest(struct bad *b, const struct unit *u, size_t *len)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	struct blob_caps caps = {.max_raw_size = (size_t)1 << 30,
				 .max_ratio = BLOB_DEFAULT_MAX_RATIO};
	struct compute_opts o = {.device = b->device, .stop = &bad_stop};
	struct compute_output c;
	unsigned char *theta = NULL, *data = NULL, *delta = NULL;
	size_t tlen = cfg ? model_param_count(cfg) * sizeof(float) : 0, dlen = 0, at = 0;
	struct error err;
	size_t i;

	memset(&c, 0, sizeof(c));
	if (!cfg || blobcache_fetch(&b->cache, &b->net, b->url, &u->model, &err) < 0)
		goto out;
	for (i = 0; i < u->n_data; i++) {
		if (blobcache_fetch(&b->cache, &b->net, b->url, &u->data[i].shard, &err) < 0)
			goto out;
		dlen += (size_t)u->data[i].length;
	}
	theta = malloc(tlen);
	data = malloc(dlen ? dlen : 1);
	if (!theta || !data || blobcache_read(&b->cache, &u->model, 0, theta, tlen, &err) < 0)
		goto out;
	for (i = 0; i < u->n_data; i++) {
		if (blobcache_read(&b->cache, &u->data[i].shard, u->data[i].offset, data + at,
				   (size_t)u->data[i].length, &err) < 0)
			goto out;
		at += (size_t)u->data[i].length;
	}
	if (compute_unit(u, theta, tlen, data, dlen, &o, &c, &err) < 0)
		goto out;
	caps.want = &c.output;
	if (blob_decode_mem(c.blob, c.blob_len, &caps, &delta, len, NULL, &err) < 0)
		delta = NULL;
out:
	if (!delta)
		log_error("cannot compute the honest delta: %s", err.msg);
	free(c.blob);
	free(theta);
	free(data);
	return delta;
}

/* PUT /api/v1/results/replica as this host: delta sealed by signer (this
 * host, or the other one for a copied envelope). Logs the outcome and
 * returns the status. */
static long bad_upload(struct bad *b, const char *what, int64_t replica, int64_t logged_replica,
		       const struct unit *u, const struct hash *uid, const unsigned char *delta,
		       size_t len, const struct key_secret *signer)
{
	unsigned char *blob = NULL, *env = NULL, *body = NULL;
	char path[64], extra[64], why[300], hex[HASH_HEX_LEN + 1];
	size_t blen, elen;
	struct blob_header hdr;
	struct result r;
	struct error err;
	long status = 0;
	json_t *j;

	if (blob_encode_mem(delta, len, BLOB_CODEC_ZLIB, &blob, &blen, &hdr, &err) < 0)
		goto fail;
	result_init(&r);
	r.unit_id = *uid;
	key_public_of(&r.host, signer);
	r.output = hdr.hash;
	r.output_size = len;
	r.metrics.loss_first = 5.5;
	r.metrics.loss_last = 1.0;
	snprintf(r.compute.device, sizeof(r.compute.device), "bad-client");
	r.compute.seconds = 1;
	r.compute.steps = u->steps;
	if (result_seal(&r, signer, &env, &elen, &err) < 0 || !(body = malloc(elen + blen)))
		goto fail;
	memcpy(body, env, elen);
	memcpy(body + elen, blob, blen);
	snprintf(path, sizeof(path), "/api/v1/results/%lld", (long long)replica);
	snprintf(extra, sizeof(extra), "X-Agora-Envelope-Length: %zu", elen);
	j = bad_call(b, &b->sk, b->id, "PUT", path, extra, body, elen + blen, &status, why,
		     sizeof(why));
	json_decref(j);
	hash_to_hex(&hdr.hash, hex);
	hex[16] = '\0';
	if (status == 201)
		snprintf(why, sizeof(why), "201 accepted, awaiting validation");
	else if (status == 0)
		snprintf(why, sizeof(why), "refused: the server closed the connection mid-upload");
	printf("bad-client: sent %s for replica %lld (round %llu, unit %llu) output %s: %s\n",
	       what, (long long)logged_replica, (unsigned long long)u->round,
	       (unsigned long long)u->index, hex, why);
	fflush(stdout);
	goto out;
fail:
	log_error("cannot prepare the %s result: %s", what, err.msg);
out:
	free(blob);
	free(env);
	free(body);
	return status;
}

/* A result for replica ids near mine until one is another host's (403). */
static void bad_foreign(struct bad *b, int64_t mine, const struct unit *u, const struct hash *uid,
			const unsigned char *delta, size_t len)
{
	static const int off[] = {-1, 1, -2, 2, -3, 3, -4, 4};
	char what[64];
	long st;

	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
		if (mine + off[i] <= 0)
			continue;
		snprintf(what, sizeof(what), "foreign (replica %lld)", (long long)(mine + off[i]));
		st = bad_upload(b, what, mine + off[i], mine, u, uid, delta, len, &b->sk);
		if (st == 403 || st == 201 || bad_stop)
			return;
	}
}

static void bad_abandon(struct bad *b, int64_t replica)
{
	char body[128], why[300];
	long status;

	snprintf(body, sizeof(body), "{\"replica\":%lld,\"reason\":\"bad-client gives it back\"}",
		 (long long)replica);
	json_decref(bad_call(b, &b->sk, b->id, "POST", "/api/v1/abandon", NULL, body,
			     strlen(body), &status, why, sizeof(why)));
}

/* Attacks replica of unit u; returns after its replica is answered. */
static void bad_attack(struct bad *b, int64_t replica, const struct unit *u, const struct hash *uid)
{
	const struct model_config *cfg = model_preset_find(u->preset);
	size_t n = cfg ? model_param_count(cfg) : 0, len = n * sizeof(float), hl = 0, i;
	int side = -1, main_attack;
	unsigned char *buf, *honest = NULL;
	float *f;

	if (b->mode < 0) {
		static const int side_of[3] = {ATTACK_COPY, ATTACK_FOREIGN, -1};
		static const int main_of[3] = {ATTACK_SCALED, ATTACK_ZERO, ATTACK_RANDOM};
		side = side_of[b->units % 3];
		main_attack = main_of[b->units % 3];
	} else if (b->mode == ATTACK_COPY || b->mode == ATTACK_FOREIGN) {
		side = b->mode;
		main_attack = -1;
	} else {
		main_attack = b->mode;
	}
	if (!(buf = calloc(1, len ? len : 1)))
		return;
	if (side == ATTACK_COPY || main_attack == ATTACK_SCALED) {
		honest = bad_honest(b, u, &hl);
		if (!honest || hl != len) {
			bad_abandon(b, replica);
			goto out;
		}
	}
	if (side == ATTACK_COPY)
		bad_upload(b, "copy (envelope of another host)", replica, replica, u, uid, honest,
			   len, &b->other_sk);
	else if (side == ATTACK_FOREIGN)
		bad_foreign(b, replica, u, uid, buf, len);
	switch (main_attack) {
	case ATTACK_SCALED:
		f = (float *)honest;
		for (i = 0; i < n; i++)
			f[i] *= 1.5f;
		bad_upload(b, "scaled (x1.5)", replica, replica, u, uid, honest, len, &b->sk);
		break;
	case ATTACK_ZERO:
		bad_upload(b, "zero", replica, replica, u, uid, buf, len, &b->sk);
		break;
	case ATTACK_RANDOM:
		randombytes_buf(buf, len);
		bad_upload(b, "random", replica, replica, u, uid, buf, len, &b->sk);
		break;
	default:
		bad_abandon(b, replica);
		break;
	}
out:
	free(honest);
	free(buf);
}

/* One work request: 1 when a unit was attacked, 0 when none came. */
static int bad_turn(struct bad *b, int *blocked)
{
	static const char body[] = "{\"kernel_abi\":1}";
	const char *env, *reason;
	char why[300];
	struct error err;
	struct unit u;
	struct hash uid;
	long status;
	int got = 0;
	json_t *j;

	j = bad_call(b, &b->sk, b->id, "POST", "/api/v1/work", NULL, body, sizeof(body) - 1,
		     &status, why, sizeof(why));
	env = json_string_value(json_object_get(j, "envelope"));
	reason = json_string_value(json_object_get(j, "reason"));
	if (status == 200 && env) {
		if (unit_open(&u, &uid, env, json_string_length(json_object_get(j, "envelope")),
			      &b->server_pk, &err) == 0) {
			bad_attack(b, json_integer_value(json_object_get(j, "replica")), &u, &uid);
			b->units++;
			got = 1;
		} else {
			log_warn("unit does not open: %s", err.msg);
		}
	} else if (reason && strcmp(reason, "blocked") == 0) {
		if (!*blocked)
			printf("bad-client: blocked by the coordinator\n");
		*blocked = 1;
	} else if (status == 200) {
		if (!*blocked && !b->idle_said)
			printf("bad-client: no work (%s)\n", reason ? reason : "no reason given");
		b->idle_said = 1;
	} else {
		log_warn("work request refused: %s", why);
	}
	if (got)
		b->idle_said = 0;
	fflush(stdout);
	json_decref(j);
	return got;
}

static int bad_parse(struct bad *b, int argc, char **argv, const char **state, long *max_units,
		     double *idle)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;

		if (!v)
			return -1;
		i++;
		if (strcmp(a, "--server") == 0) {
			b->url = v;
		} else if (strcmp(a, "--state") == 0) {
			*state = v;
		} else if (strcmp(a, "--device") == 0) {
			b->device = v;
		} else if (strcmp(a, "--account") == 0) {
			b->account = v;
		} else if (strcmp(a, "--max-units") == 0) {
			*max_units = strtol(v, &end, 10);
		} else if (strcmp(a, "--idle") == 0) {
			*idle = strtod(v, &end);
		} else if (strcmp(a, "--mode") == 0) {
			b->mode = -2;
			for (int k = 0; k < 5; k++)
				if (strcmp(v, attack_names[k]) == 0)
					b->mode = k;
			if (strcmp(v, "rotate") == 0)
				b->mode = -1;
			if (b->mode == -2)
				return -1;
		} else {
			return -1;
		}
		if (end && *end)
			return -1;
	}
	return b->url && *state ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct bad b = {.account = "mallory", .mode = -1};
	const char *state = NULL;
	char other[80];
	long max_units = -1;
	double idle = 1;
	struct error err;
	struct key_public pk;
	int blocked = 0, rc = 1;

	log_init("bad-client", LOG_LEVEL_WARN);
	if (bad_parse(&b, argc, argv, &state, &max_units, &idle) < 0) {
		usage(stderr);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (sodium_init() < 0 || net_global_init() < 0 || net_init(&b.net, NULL, &err) < 0 ||
	    blobcache_init(&b.cache, state, BLOBCACHE_DEFAULT_MAX, &err) < 0) {
		log_error("cannot start: %s", err.msg);
		return 1;
	}
	if (key_generate(&pk, &b.sk) < 0 || key_generate(&pk, &b.other_sk) < 0 ||
	    bad_project(&b) < 0 || bad_register(&b, &b.sk, b.account, &b.id) < 0)
		goto out;
	snprintf(other, sizeof(other), "%s-friend", b.account);
	if (bad_register(&b, &b.other_sk, other, &b.other_id) < 0)
		goto out;
	printf("bad-client: host %lld account %s (the other host: %lld account %s)\n",
	       (long long)b.id, b.account, (long long)b.other_id, other);
	fflush(stdout);
	while (!bad_stop && (max_units < 0 || b.units < max_units))
		if (!bad_turn(&b, &blocked) && !bad_stop)
			usleep((useconds_t)(idle * 1e6));
	rc = 0;
out:
	net_release(&b.net);
	net_global_cleanup();
	sodium_memzero(&b.sk, sizeof(b.sk));
	sodium_memzero(&b.other_sk, sizeof(b.other_sk));
	return rc;
}
