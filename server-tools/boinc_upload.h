/*
 * boinc_upload.h - BOINC's file upload protocol (what a stock client
 * POSTs to a file_info's upload URL), and where uploads are kept.
 *
 * A request body is XML up to and including "<data>\n", then, for an
 * upload, raw bytes:
 *
 *   <data_server_request>
 *     <core_client_major_version>7</core_client_major_version> ...
 *     <get_file_size>NAME</get_file_size>            (size query), or
 *     <file_upload>
 *       <file_info><name>NAME</name>...</file_info>
 *       <nbytes>TOTAL</nbytes><md5_cksum>MD5</md5_cksum>
 *       <offset>OFFSET</offset>
 *       <data>
 *   BYTES...
 *
 * The size query lets a client resume an interrupted upload at the size
 * the server already has. The answer is always
 *   <data_server_reply><status>S</status>[<file_size>N</file_size>]
 *   [<message>...</message>]</data_server_reply>
 * with S = 0 for success, 1 for a transient error (the client retries)
 * and -1 for a permanent one (the client gives the file up).
 *
 * The XML part is read with the capped reader (at most
 * BOINC_UPLOAD_HEADER_MAX bytes before "<data>"); names are 1..128
 * characters of [A-Za-z0-9._-] not starting with '.', so a name is always
 * a plain file name inside the upload directory.
 */
#ifndef AGORA_SERVER_BOINC_UPLOAD_H
#define AGORA_SERVER_BOINC_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BOINC_UPLOAD_HEADER_MAX (64u * 1024)
#define BOINC_UPLOAD_NAME_MAX   128

enum boinc_upload_kind {
	BOINC_UPLOAD_GET_SIZE = 1,
	BOINC_UPLOAD_DATA = 2,
};

struct boinc_upload_request {
	enum boinc_upload_kind kind;
	char name[BOINC_UPLOAD_NAME_MAX + 1];
	uint64_t nbytes; /* the whole file's size (DATA) */
	uint64_t offset; /* where these bytes start (DATA) */
	char md5[33];    /* the whole file's MD5, "" when not given */
	size_t data_at;  /* offset of the raw bytes in the body (DATA) */
};

/* 1 when name is a safe upload name (see the top). */
int boinc_upload_name_ok(const char *name);

/* Parses the XML part of body (len bytes: the whole body received so far,
 * or at least up to "<data>\n"). ERROR_FORMAT (malformed, neither request,
 * bad name), ERROR_TOO_BIG (header over the cap), ERROR_MISSING /
 * ERROR_RANGE for fields; a DATA request whose offset is past nbytes is
 * ERROR_RANGE. */
int boinc_upload_parse(struct boinc_upload_request *r, const void *body, size_t len,
		       struct error *err) __attribute__((warn_unused_result));

/* The reply text into buf (size bytes). file_size < 0: none; message may
 * be NULL. Returns the length, or -1 when it does not fit. */
long boinc_upload_reply(char *buf, size_t size, int status, int64_t file_size, const char *message);

/* Stores bytes for r in dir: the file dir/NAME must currently hold
 * exactly r->offset bytes (ERROR_STATE otherwise: the client asks the size
 * again), and offset + len may not pass r->nbytes (ERROR_RANGE). When
 * the file is complete and r->md5 is given, its MD5 is checked
 * (ERROR_HASH: the partial file is removed). *size receives the new size.
 * Files are 0600; partial files stay for a resumed upload. */
int boinc_upload_store(const char *dir, const struct boinc_upload_request *r, const void *data,
		       size_t len, uint64_t *size, struct error *err)
    __attribute__((warn_unused_result));

/* The size of dir/NAME (0 when absent). */
int boinc_upload_size(const char *dir, const char *name, uint64_t *size, struct error *err)
    __attribute__((warn_unused_result));

#endif
