/*
 * boinc_server.h - agora-server speaking BOINC: the HTTP routes a stock
 * BOINC client uses, on top of the scheduler (sched.h), the blob store
 * and the BOINC message modules (boinc_sched.h, boinc_upload.h).
 * docs/BOINC.md describes the mapping.
 *
 *   GET  /boinc/            master page (attach URL: http://HOST:PORT/boinc/)
 *   POST /boinc/cgi         scheduler RPC
 *   GET  /boinc/download/NAME   app, unit envelopes, the coordinator key,
 *                           blobs ("blob_HASH", from the blob store)
 *   POST /boinc/file_upload_handler   file upload handler (BOINC clients
 *                           know an upload URL by that name in it)
 *
 * A BOINC account key (authenticator) is one Agora host: its Ed25519 key
 * is derived from the coordinator's secret key and the authenticator (so
 * the coordinator seals that host's result descriptors itself) and the
 * host is registered on first contact (db_host_add(); a known key gives
 * the same id back). A replica R is the BOINC workunit "agora_R" and
 * result "agora_R_0"; its outputs are uploaded as "agora_R_0_env" and
 * "agora_R_0_blob" and enter validation when the task is reported.
 *
 * App versions (STATE/boinc/app/current, boinc_appver.h): a host gets
 * tasks for a GPU version when it reports that vendor's GPU with OpenCL
 * and asks work for it, and for the CPU version when it asks CPU work;
 * the tasks of one reply take turns among those versions.
 *
 * Files: STATE/boinc/app/ (agora-admin boinc publish), STATE/boinc/files/
 * (unit envelopes and the coordinator key as served), STATE/boinc/upload/.
 * Routes get the struct api as ctx (api.h).
 */
#ifndef AGORA_SERVER_BOINC_SERVER_H
#define AGORA_SERVER_BOINC_SERVER_H

#include "server-tools/boinc_sched.h"
#include "server-tools/http.h"

#define BOINC_SERVER_PREFIX     "/boinc/"
#define BOINC_SERVER_TASKS_MAX  2 /* tasks per scheduler reply */
#define BOINC_SERVER_UPLOAD_MAX (256u << 20)

void boinc_server_master(struct http_request *req, void *ctx);
void boinc_server_scheduler(struct http_request *req, void *ctx);
void boinc_server_download(struct http_request *req, void *ctx);
void boinc_server_upload(struct http_request *req, void *ctx);

/* Route table rows, for a table of the coordinator's routes. */
#define BOINC_SERVER_ROUTES                                                                        \
	{"GET", BOINC_SERVER_PREFIX, 0, 0, boinc_server_master, NULL, "boinc"},                    \
	    {"POST",                                                                               \
	     BOINC_SERVER_PREFIX "cgi",                                                            \
	     0,                                                                                    \
	     BOINC_SCHED_REQUEST_MAX,                                                              \
	     boinc_server_scheduler,                                                               \
	     NULL,                                                                                 \
	     "boinc"},                                                                             \
	    {"GET",  BOINC_SERVER_PREFIX "download/", HTTP_ROUTE_PREFIX,                           \
	     0,      boinc_server_download,           NULL,                                        \
	     "boinc"},                                                                             \
	    {"POST",                                                                               \
	     BOINC_SERVER_PREFIX "file_upload_handler",                                            \
	     0,                                                                                    \
	     BOINC_SERVER_UPLOAD_MAX,                                                              \
	     boinc_server_upload,                                                                  \
	     NULL,                                                                                 \
	     "boinc"},

#endif
