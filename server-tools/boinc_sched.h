/*
 * boinc_sched.h - BOINC's scheduler RPC, the messages: what a stock BOINC
 * client (7.x) sends to a project's scheduler URL (scheduler_request) and
 * what it expects back (scheduler_reply). docs/BOINC.md says how Agora
 * maps them to its own hosts, units and replicas.
 *
 * boinc_sched_request_parse() reads the parts Agora uses from the
 * client's XML with the capped reader (boinc_xml.h): the account
 * authenticator, the host id the project gave before, the platform and
 * the alternative platforms it can also run (the first
 * BOINC_SCHED_ALT_PLATFORMS_MAX; more are ignored), how many seconds of
 * work are wanted, the host's GPUs (<coprocs>: per
 * vendor how many, whether OpenCL drives them, how much work is wanted
 * for them) and the tasks being reported (name, exit status, state, the
 * app's last message).
 * Unknown elements are ignored, as BOINC's own scheduler does; known ones
 * are range-checked; more than BOINC_SCHED_REPORTED_MAX reported tasks is
 * ERROR_TOO_BIG (a real client reports far fewer per RPC).
 *
 * Plan classes: an app version is for the CPU (no plan class) or for one
 * GPU vendor through OpenCL ("opencl_nvidia", "opencl_amd",
 * "opencl_intel_gpu"; BOINC's coprocessor types NVIDIA, ATI, intel_gpu).
 * boinc_sched_plan_class_gpu() maps one to its vendor.
 *
 * boinc_sched_reply_write() writes a reply: project identity, host id,
 * request delay, the code-signing public key, the app versions the tasks
 * use (each with its signed executable; a GPU version with its plan class
 * and <coproc>), tasks (one BOINC workunit and result per Agora replica,
 * with their input and output file descriptions, the result naming its
 * app version) and acknowledgements of reported tasks. Every text is
 * XML-escaped.
 */
#ifndef AGORA_SERVER_BOINC_SCHED_H
#define AGORA_SERVER_BOINC_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BOINC_SCHED_NAME_MAX          128 /* task, file and app names */
#define BOINC_SCHED_AUTH_MAX          64  /* authenticator */
#define BOINC_SCHED_PLATFORM_MAX      64
#define BOINC_SCHED_ALT_PLATFORMS_MAX 4 /* <alt_platform>s kept */
#define BOINC_SCHED_REPORTED_MAX      256
#define BOINC_SCHED_REQUEST_MAX       (1u << 20) /* request bytes */
#define BOINC_SCHED_MESSAGE_MAX       200        /* bytes kept of the app's message */
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

/* BOINC's GPU vendors, in the order Agora prefers them on a host with
 * several. */
enum boinc_sched_gpu_kind {
	BOINC_SCHED_GPU_NVIDIA, /* <coproc_cuda>, type "NVIDIA" */
	BOINC_SCHED_GPU_ATI,    /* <coproc_ati>, type "ATI" (AMD) */
	BOINC_SCHED_GPU_INTEL,  /* <coproc_intel_gpu>, type "intel_gpu" */
	BOINC_SCHED_GPU_KINDS
};
#define BOINC_SCHED_GPU_COUNT_MAX  64 /* BOINC's MAX_COPROC_INSTANCES */
#define BOINC_SCHED_PLAN_CLASS_MAX 31

/* One vendor's GPUs as the client reports them (all zero: none). */
struct boinc_sched_gpu {
	int64_t count;       /* how many */
	int have_opencl;     /* an OpenCL driver runs them (and says available), 1.2 or newer */
	uint64_t global_mem; /* bytes of one GPU (OpenCL's global_mem_size); 0: unknown */
	double req_secs;     /* seconds of work wanted for them; 0: none */
	double peak_flops;   /* the client's estimate for all of them; 0: unknown */
};

struct boinc_sched_request {
	char authenticator[BOINC_SCHED_AUTH_MAX + 1];
	int64_t hostid;                              /* 0: not yet known to the project */
	char platform[BOINC_SCHED_PLATFORM_MAX + 1]; /* "": the client named none */
	char alt_platforms[BOINC_SCHED_ALT_PLATFORMS_MAX][BOINC_SCHED_PLATFORM_MAX + 1];
	size_t n_alt_platforms;
	double work_req_seconds; /* CPU work wanted (BOINC 7: the CPU's req_secs only); 0: none */
	struct boinc_sched_gpu gpus[BOINC_SCHED_GPU_KINDS];
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

/* How well platform suits the host of r: 0 for its own platform, 1.. for
 * its alternatives in the order it listed them, -1 when it runs neither. */
int boinc_sched_platform_rank(const struct boinc_sched_request *r, const char *platform);

/* The GPU vendor of a plan class, or -1 for "" or NULL (the CPU) and for
 * a plan class Agora does not know. */
int boinc_sched_plan_class_gpu(const char *plan_class);
/* 1 for "" (the CPU) and for a GPU plan class Agora knows, else 0. */
int boinc_sched_plan_class_known(const char *plan_class);
/* BOINC's coprocessor type of vendor kind ("NVIDIA", "ATI", "intel_gpu"),
 * as in an app version's <coproc> and the app's init_data.xml gpu_type. */
const char *boinc_sched_gpu_type(enum boinc_sched_gpu_kind kind);

/* A file the client downloads (input, or the app's executable). */
struct boinc_sched_file {
	const char *name;      /* unique within the project */
	const char *url;       /* where to get it */
	const char *md5;       /* 32 hex digits */
	uint64_t nbytes;       /* its size */
	const char *signature; /* BOINC signature text (executables), or NULL */
	int executable;
};

/* An app version: the app and one of its versions (the same app name
 * may come with several versions: CPU and GPU). */
struct boinc_sched_app {
	const char *name;          /* e.g. "agora" */
	const char *friendly_name; /* e.g. "Agora training" */
	const char *platform;      /* e.g. "x86_64-pc-linux-gnu" */
	int version_num;           /* e.g. 100 */
	struct boinc_sched_file exe;
	const char *plan_class; /* NULL or "": the CPU version */
	const char *gpu_type;   /* a GPU version's coprocessor type, one GPU a task; NULL: CPU */
	double avg_ncpus;       /* CPUs a task keeps busy; 0 means 1 */
	double flops;           /* the speed BOINC estimates run times with; 0 means 1e9 */
};

#define BOINC_SCHED_TASK_FILES_MAX 70 /* unit, key, model, up to 64 shards, ... */

/* One Agora replica as a BOINC workunit + result pair. */
struct boinc_sched_task {
	const char *wu_name;     /* BOINC workunit name */
	const char *result_name; /* BOINC result name */
	size_t app;              /* its app version: an index into the reply's apps */
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
	const char *code_sign_key;          /* public key text, or NULL */
	const char *message;                /* shown to the volunteer, or NULL */
	const struct boinc_sched_app *apps; /* the app versions tasks may use */
	size_t n_apps;
	const struct boinc_sched_task *tasks;
	size_t n_tasks;
	const char *const *acks; /* names of reported tasks to forget */
	size_t n_acks;
};

/* Writes r as XML into *out (malloc'd, NUL-terminated; *len bytes). Only
 * the app versions some task uses are written. ERROR_INVALID when a task
 * names no app version of r. */
int boinc_sched_reply_write(const struct boinc_sched_reply *r, char **out, size_t *len,
			    struct error *err) __attribute__((warn_unused_result));

#endif
