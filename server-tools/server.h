/*
 * server.h - the coordinator: state directory, database, blob store,
 * coordinator key and the HTTP API (/api/v1), put together.
 *
 * The state directory (mode 0700) holds:
 *
 *     STATE/state.db            the SQLite database (db.h)
 *     STATE/blobs/              the blob store (blobstore.h)
 *     STATE/keys/coordinator.key, coordinator.pub   the signing key pair
 *     STATE/lock                held (flock) while a server runs
 *
 * server_open() creates whatever is missing (first start) and reuses what
 * is there (restart); server_start() begins serving. The endpoints are
 * documented in docs/PROTOCOL.md.
 */
#ifndef AGORA_SERVER_SERVER_H
#define AGORA_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "server-tools/http.h"
#include "workunits/key.h"

/* The kernel ABI this coordinator's work units are written for; a client
 * whose kernels implement another ABI must not take work. */
#define AGORA_KERNEL_ABI 1
/* The version of the HTTP API (the /api/v1 prefix). */
#define AGORA_PROTOCOL_VERSION 1
#define SERVER_DEFAULT_NAME    "agora"

/* Body caps per endpoint. */
#define SERVER_CONTROL_BODY_MAX 4096 /* registration, heartbeat */
#define SERVER_PEM_MAX          (64 * 1024)
/* A result upload (envelope + Δ blob container), and the decoded Δ. */
#define SERVER_RESULT_MAX     (512u * 1024 * 1024)
#define SERVER_RESULT_RAW_MAX (UINT64_C(1) << 30)
/* What a host without work is told to wait (seconds). */
#define SERVER_RETRY_S 60
/* Replicas one host may have in progress at once (--max-in-progress). */
#define SERVER_MAX_IN_PROGRESS 4
/* Registrations one client address may make: a burst of 20, then one
 * every 6 s (10 a minute). */
#define SERVER_REGISTER_BURST   20
#define SERVER_REGISTER_EVERY_S 6
/* How often heartbeats are asked for by default (seconds; --heartbeat),
 * and how long nonces are kept (twice the auth window: a replay must be
 * older than the window). */
#define SERVER_HEARTBEAT_S  600
#define SERVER_NONCE_KEEP_S (2 * 300)

struct server;
struct db;
struct blobstore;

struct server_options {
	const char *state_dir; /* required */
	const char *listen;    /* NULL: HTTP_DEFAULT_LISTEN */
	const char *tls_cert;  /* PEM file names, both or neither */
	const char *tls_key;
	const char *name; /* project name on first start; NULL: "agora" */
	unsigned threads; /* HTTP threads; 0: 8 per CPU, 16..64 */
	/* Replicas one host may hold at once; 0: SERVER_MAX_IN_PROGRESS,
	 * negative: no limit. */
	int max_in_progress;
	/* Never two replicas of a unit to one address block: the IPv4 prefix
	 * length (e.g. 24; IPv6 addresses use /48); 0: no such rule. */
	int distinct_netblock;
	/* Seconds between a host's heartbeats, told to hosts in each answer
	 * (next_heartbeat_s); 0: SERVER_HEARTBEAT_S. */
	unsigned heartbeat_s;
	/* Registrations per client address: a burst, then one every
	 * register_every_s seconds; 0: SERVER_REGISTER_BURST / _EVERY_S. */
	unsigned register_burst;
	unsigned register_every_s;
	/* Admin public key files (--admin-key); STATE/admins/NAME.pub are
	 * allowed too. Without any, every admin request is refused. */
	const char *const *admin_keys;
	size_t n_admin_keys;
};

/* What the coordinator's training side (server-tools/coord.h) adds to the
 * bare server: routes served beside /api/v1's own (their handlers get the
 * struct api as ctx; server_hooks_ctx() finds the hooks' ctx), and a call
 * after each recorded result. With hooks set, results are validated by
 * the hooks (sched_result_record(..., validate 0)), not by hash in sched. */
struct server_hooks {
	const struct http_route *routes;
	size_t n_routes;
	void (*result_added)(void *ctx, int64_t unit);
	void *ctx;
};

#define SERVER_ADMIN_KEYS_MAX 64

/* Opens (creating on first start) the state directory, database, blob
 * store and key pair, and takes the state lock (ERROR_STATE when another
 * server holds it). Does not listen yet. */
int server_open(struct server **out, const struct server_options *opt, struct error *err)
    __attribute__((warn_unused_result));
/* Starts serving HTTP(S). */
int server_start(struct server *s, struct error *err) __attribute__((warn_unused_result));
/* Installs hooks (copied; before server_start()). */
void server_set_hooks(struct server *s, const struct server_hooks *h);
const struct server_hooks *server_hooks(const struct server *s);
/* Stops serving HTTP (waits for running requests); the rest stays open
 * until server_free(). */
void server_stop(struct server *s);
/* 1 when pk is an allowed admin key. */
int server_admin_allowed(const struct server *s, const struct key_public *pk);
/* The coordinator's secret key (signs units, manifests, ledger entries). */
const struct key_secret *server_secret_key(const struct server *s);
/* The state directory's path. */
const char *server_state_path(const struct server *s);
/* The bound port, once started. */
unsigned server_port(const struct server *s);
/* 1 when serving over TLS. */
int server_tls(const struct server *s);
/* Stops serving (waits for running requests), closes everything and
 * releases the lock. NULL is a no-op. */
void server_free(struct server *s);

struct db *server_db(struct server *s);
struct blobstore *server_blobstore(struct server *s);
const struct key_public *server_public_key(const struct server *s);
/* The IPv4 prefix of the address-block rule (0: off). */
int server_distinct_netblock(const struct server *s);
/* The per-host limit of replicas in progress (0: none). */
int server_max_in_progress(const struct server *s);
/* Seconds between a host's heartbeats (default applied). */
unsigned server_heartbeat_s(const struct server *s);
/* The registration rate limit (defaults applied). */
void server_register_limit(const struct server *s, unsigned *burst, unsigned *every_s);

#endif
