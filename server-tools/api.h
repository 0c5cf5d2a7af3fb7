/*
 * api.h - the coordinator's HTTP endpoints under /api/v1 (see
 * docs/PROTOCOL.md): project information, host registration, blob
 * download, heartbeats. Each handler validates its input completely (JSON
 * types, lengths, signatures, nonces) before it stores anything, and
 * answers every refusal with a 4xx and a JSON error object.
 */
#ifndef AGORA_SERVER_API_H
#define AGORA_SERVER_API_H

#include <stddef.h>

#include "common/error.h"
#include "server-tools/http.h"

#define API_PREFIX "/api/v1"
/* Account names: 1..64 of [A-Za-z0-9._@+-]. Device descriptions: up to
 * 256 bytes of UTF-8 without control characters. */
#define API_ACCOUNT_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-"

struct api;
struct server;

/* The endpoints' shared state; ctx of every route is the struct api. */
int api_new(struct api **out, struct server *s, struct error *err)
    __attribute__((warn_unused_result));
void api_free(struct api *a);
/* Tells the API its HTTP server (for counters); may be NULL. */
void api_set_http(struct api *a, struct http_server *http);
/* Its HTTP server (NULL before api_set_http()). */
struct http_server *api_http(struct api *a);
/* The server an API belongs to (for routes added by server hooks). */
struct server *api_server(struct api *a);
/* The route table (static; n receives its length). */
const struct http_route *api_routes(size_t *n);

#endif
