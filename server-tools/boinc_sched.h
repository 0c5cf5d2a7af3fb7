/*
 * boinc_sched.h - BOINC's scheduler RPC, the messages: what a stock BOINC
 * client (7.x) sends to a project's scheduler URL (scheduler_request) and
 * what it expects back (scheduler_reply). docs/BOINC.md says how Agora
 * maps them to its own hosts, units and replicas.
 *
 * boinc_sched_request_parse() reads the parts Agora uses from the
 * client's XML with the capped reader (boinc_xml.h): the account
 * authenticator, the host id the project gave before, the platform, how
 * many seconds of work are wanted, and the tasks being reported (name,
 * exit status, state, the app's last message). Unknown elements are ignored, as BOINC's own
 * scheduler does; known ones are range-checked; more than
 * BOINC_SCHED_REPORTED_MAX reported tasks is ERROR_TOO_BIG (a real client
 * reports far fewer per RPC).
 *
 * boinc_sched_reply_write() writes a reply: project identity, host id,
 * request delay, the code-signing public key, at most one app with its
 * app version and signed executable, tasks (one BOINC workunit and result
 * per Agora replica, with their input and output file descriptions) and
 * acknowledgements of reported tasks. Every text is XML-escaped.
 */
#ifndef AGORA_SERVER_BOINC_SCHED_H
#define AGORA_SERVER_BOINC_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BOINC_SCHED_NAME_MAX     128 /* task, file and app names */
#define BOINC_SCHED_AUTH_MAX     64  /* authenticator */
#define BOINC_SCHED_PLATFORM_MAX 64
#define BOINC_SCHED_REPORTED_MAX 256
#define BOINC_SCHED_REQUEST_MAX  (1u << 20) /* request bytes */
#define BOINC_SCHED_MESSAGE_MAX  200 /* bytes kept of the app's message */
/* BOINC's task state "files uploaded" (RESULT_FILES_UPLOADED; 4 is uploading). */
#define BOINC_SCHED_STATE_UPLOADED 5

struct boinc_sched_reported {
	char name[BOINC_SCHED_NAME_MAX + 1];
	int64_t exit_status; /* 0: success */
	int64_t state;       /* BOINC's RESULT_* state */
	/* The last line agora-boinc wrote to the task's stderr.txt (it starts
	 * "agora-boinc: "; BOINC sends stderr.txt as <stderr_out>), cut to
	 * BOINC_SCHED_MESSAGE_MAX bytes, control bytes as '?'; "" if none. */
	char message[BOINC_SCHED_MESSAGE_MAX + 1];
};

struct boinc_sched_request {
	char authenticator[BOINC_SCHED_AUTH_MAX + 1];
	int64_t hostid; /* 0: not yet known to the project */
	char platform[BOINC_SCHED_PLATFORM_MAX + 1];
	double work_req_seconds; /* 0: none wanted */
	int64_t core_major, core_minor;
	int has_code_sign_key; /* the client has the project's key already */
	size_t n_reported;
	struct boinc_sched_reported reported[BOINC_SCHED_REPORTED_MAX];
};

/* Parses a scheduler request (at most BOINC_SCHED_REQUEST_MAX bytes).
 * ERROR_FORMAT for malformed XML or a root other than
 * <scheduler_request>, ERROR_MISSING without an authenticator,
 * ERROR_RANGE / ERROR_TOO_BIG for values out of range. r is large
 * (about 40 KiB): allocate it. */
int boinc_sched_request_parse(struct boinc_sched_request *r, const void *xml, size_t len,
			      struct error *err) __attribute__((warn_unused_result));

/* A file the client downloads (input, or the app's executable). */
struct boinc_sched_file {
	const char *name;      /* unique within the project */
	const char *url;       /* where to get it */
	const char *md5;       /* 32 hex digits */
	uint64_t nbytes;       /* its size */
	const char *signature; /* BOINC signature text (executables), or NULL */
	int executable;
};

struct boinc_sched_app {
	const char *name;          /* e.g. "agora" */
	const char *friendly_name; /* e.g. "Agora training" */
	const char *platform;      /* e.g. "x86_64-pc-linux-gnu" */
	int version_num;           /* e.g. 100 */
	struct boinc_sched_file exe;
};

#define BOINC_SCHED_TASK_FILES_MAX 70 /* unit, key, model, up to 64 shards, ... */

/* One Agora replica as a BOINC workunit + result pair. */
struct boinc_sched_task {
	const char *wu_name;     /* BOINC workunit name */
	const char *result_name; /* BOINC result name */
	size_t n_inputs;
	struct boinc_sched_file inputs[BOINC_SCHED_TASK_FILES_MAX];
	const char *open_names[BOINC_SCHED_TASK_FILES_MAX]; /* logical names */
	size_t n_outputs;
	const char *out_names[4];      /* physical names of the output files */
	const char *out_open_names[4]; /* their logical names */
	const char *upload_url;
	uint64_t max_out_bytes; /* per output file */
	double fpops_est;       /* estimated floating-point operations */
	double memory_bound;    /* bytes */
	int64_t deadline;       /* unix seconds */
};

struct boinc_sched_reply {
	const char *project_name;
	const char *master_url;
	int64_t hostid; /* 0: none */
	double request_delay;
	const char *code_sign_key; /* public key text, or NULL */
	const char *message;       /* shown to the volunteer, or NULL */
	const struct boinc_sched_app *app;
	const struct boinc_sched_task *tasks;
	size_t n_tasks;
	const char *const *acks; /* names of reported tasks to forget */
	size_t n_acks;
};

/* Writes r as XML into *out (malloc'd, NUL-terminated; *len bytes). */
int boinc_sched_reply_write(const struct boinc_sched_reply *r, char **out, size_t *len,
			    struct error *err) __attribute__((warn_unused_result));

#endif
