/*
 * coord_view.c - the coordinator's state as JSON for the admin API: job
 * list and status (rounds, eval losses, units by state, failed units,
 * validation outcomes with reasons), the export listing, datasets, hosts
 * (see coord.h and docs/PROTOCOL.md "Admin API").
 *
 * Each view runs a few read queries under the database lock; lists are
 * capped (COORD_VIEW_MAX rows) so an answer stays small.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/fileio.h"
#include "common/log.h"
#include "server-tools/blobstore.h"
#include "server-tools/coord_impl.h"
#include "server-tools/ledger.h"
#include "server-tools/merge.h"
#include "server-tools/server.h"

#define COORD_VIEW_MAX 1000

/* Appends one object per row of sql (bound with ?1 = a) to arr: column
 * names are the keys; integers, reals, text; NULL stays null. Lock held. */
static int coord_rows(struct coord *c, const char *sql, int64_t a, json_t *arr)
{
	sqlite3_stmt *st = db_stmt_cached(c->db, sql);
	json_t *o, *v;
	int i, n = 0;

	if (!st)
		return ERROR_DB;
	if (sqlite3_bind_parameter_count(st) >= 1)
		sqlite3_bind_int64(st, 1, a);
	while (n < COORD_VIEW_MAX && sqlite3_step(st) == SQLITE_ROW) {
		o = json_object();
		for (i = 0; o && i < sqlite3_column_count(st); i++) {
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				v = json_integer(sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				v = json_real(sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT:
				v = json_string((const char *)sqlite3_column_text(st, i));
				break;
			default:
				v = json_null();
			}
			json_object_set_new(o, sqlite3_column_name(st, i), v);
		}
		json_array_append_new(arr, o);
		n++;
	}
	sqlite3_reset(st);
	return n;
}

/* One object (the first row of sql), or NULL. Lock held. */
static json_t *coord_row(struct coord *c, const char *sql, int64_t a)
{
	json_t *arr = json_array(), *o = NULL;

	if (arr && coord_rows(c, sql, a, arr) > 0)
		o = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return o;
}

/* {key: count} from rows (key, count) of sql. Lock held. */
static json_t *coord_counts(struct coord *c, const char *sql, int64_t a)
{
	sqlite3_stmt *st = db_stmt_cached(c->db, sql);
	json_t *o = json_object();

	if (!st || !o)
		return o;
	sqlite3_bind_int64(st, 1, a);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_reset(st);
	return o;
}

static json_t *coord_list(struct coord *c, const char *sql, int64_t a)
{
	json_t *arr = json_array();

	if (!arr)
		return NULL;
	db_lock(c->db);
	if (coord_rows(c, sql, a, arr) < 0) {
		json_decref(arr);
		arr = NULL;
	}
	db_unlock(c->db);
	return arr;
}

#define COORD_JOB_COLUMNS                                                                          \
	"j.id AS id, j.name AS name, j.state AS state, j.reason AS reason,"                        \
	" json_extract(j.spec, '$.preset') AS preset,"                                             \
	" d.name AS dataset, j.rounds AS rounds, j.quorum AS quorum,"                              \
	" (SELECT count(*) - 1 FROM rounds WHERE job = j.id) AS rounds_done,"                      \
	" (SELECT eval_loss FROM rounds WHERE job = j.id ORDER BY round DESC LIMIT 1)"             \
	" AS eval_loss FROM jobs j JOIN datasets d ON d.id = j.dataset"

json_t *coord_job_list(struct coord *c)
{
	return coord_list(c, "SELECT " COORD_JOB_COLUMNS " ORDER BY j.id", 0);
}

json_t *coord_dataset_list(struct coord *c)
{
	return coord_list(
	    c,
	    "SELECT d.id AS id, d.name AS name, d.owner AS owner, d.licence AS licence,"
	    " d.source AS source, d.bytes AS bytes, (SELECT count(*) FROM shards"
	    " WHERE dataset = d.id) AS shards, d.manifest AS manifest,"
	    " d.created AS created FROM datasets d ORDER BY d.id",
	    0);
}

json_t *coord_host_list(struct coord *c)
{
	return coord_list(
	    c,
	    "SELECT id, account, device, created, last_seen, banned, blocked, invalid,"
	    " reputation, credit / 1e9 AS credit FROM hosts ORDER BY id",
	    0);
}

int coord_host_set(struct coord *c, int64_t host, const char *verb)
{
	const char *sql;
	sqlite3_stmt *st;
	int rc = ERROR_DB;

	if (strcmp(verb, "ban") == 0)
		sql = "UPDATE hosts SET banned = 1 WHERE id = ?1";
	else if (strcmp(verb, "unban") == 0)
		sql = "UPDATE hosts SET banned = 0 WHERE id = ?1";
	else if (strcmp(verb, "clear") == 0)
		sql = "UPDATE hosts SET blocked = 0, invalid = 0 WHERE id = ?1";
	else
		return ERROR_INVALID;
	db_lock(c->db);
	st = db_stmt_cached(c->db, sql);
	if (st) {
		sqlite3_bind_int64(st, 1, host);
		rc = db_step(c->db, st);
		if (rc == 0 && sqlite3_changes(db_sqlite(c->db)) == 0)
			rc = ERROR_NOT_FOUND;
	}
	db_unlock(c->db);
	if (rc == 0)
		log_info("host %lld: %s", (long long)host, verb);
	return rc;
}

json_t *coord_job_status(struct coord *c, int64_t job)
{
	json_t *o;

	db_lock(c->db);
	o = coord_row(c, "SELECT " COORD_JOB_COLUMNS " WHERE j.id = ?1", job);
	if (!o) {
		db_unlock(c->db);
		return NULL;
	}
	{
		json_t *row = coord_row(c, "SELECT spec FROM jobs WHERE id = ?1", job);
		const char *spec = json_string_value(json_object_get(row, "spec"));
		json_object_set_new(o, "spec", spec ? json_loads(spec, 0, NULL) : json_null());
		json_decref(row);
	}
	{
		json_t *rounds = json_array();
		coord_rows(c,
			   "SELECT r.round AS round, r.state AS state, r.eval_loss AS eval_loss,"
			   " r.model AS model, r.manifest_id AS manifest, r.sample AS sample,"
			   " (SELECT count(*) FROM units WHERE job = r.job AND round = r.round"
			   "  AND state = 'active') AS units_active,"
			   " (SELECT count(*) FROM units WHERE job = r.job AND round = r.round"
			   "  AND state = 'validated') AS units_validated,"
			   " (SELECT count(*) FROM units WHERE job = r.job AND round = r.round"
			   "  AND state = 'failed') AS units_failed"
			   " FROM rounds r WHERE r.job = ?1 ORDER BY r.round",
			   job, rounds);
		json_object_set_new(o, "round_list", rounds);
	}
	json_object_set_new(o, "units",
			    coord_counts(c,
					 "SELECT state, count(*) FROM units WHERE job = ?1"
					 " GROUP BY state",
					 job));
	{
		json_t *failed = json_array();
		coord_rows(c,
			   "SELECT round, idx AS unit, uid FROM units WHERE job = ?1"
			   " AND state = 'failed' ORDER BY round, idx",
			   job, failed);
		json_object_set_new(o, "failed_units", failed);
	}
	json_object_set_new(o, "replicas",
			    coord_counts(c,
					 "SELECT CASE WHEN r.state = 'over' THEN r.outcome"
					 " ELSE r.state END, count(*) FROM replicas r JOIN units u"
					 " ON u.id = r.unit WHERE u.job = ?1 GROUP BY 1",
					 job));
	json_object_set_new(o, "validation",
			    coord_counts(c,
					 "SELECT r.validation, count(*) FROM replicas r JOIN"
					 " units u ON u.id = r.unit WHERE u.job = ?1 AND"
					 " r.outcome = 'success' GROUP BY 1",
					 job));
	json_object_set_new(o, "invalid_reasons",
			    coord_counts(c,
					 "SELECT r.reason, count(*) FROM replicas r JOIN units u"
					 " ON u.id = r.unit WHERE u.job = ?1 AND"
					 " r.validation = 'invalid' GROUP BY 1",
					 job));
	{
		json_t *inv = json_array();
		coord_rows(
		    c,
		    "SELECT r.id AS replica, r.host AS host, u.round AS round, u.idx AS unit,"
		    " r.reason AS reason FROM replicas r JOIN units u ON u.id = r.unit"
		    " WHERE u.job = ?1 AND r.validation = 'invalid' ORDER BY r.id",
		    job, inv);
		json_object_set_new(o, "invalid", inv);
	}
	db_unlock(c->db);
	return o;
}

/* Adds hash (hex) to the set obj (keys: hashes). */
static void coord_set_add(json_t *set, const char *hex)
{
	if (hex && strlen(hex) == HASH_HEX_LEN)
		json_object_set_new(set, hex, json_true());
}

/* The manifest envelopes of a job, in round order, as strings; NULL on
 * failure. The blobs they name go into set. */
static json_t *coord_export_manifests(struct coord *c, int64_t job, json_t *set)
{
	json_t *rounds = coord_list(c,
				    "SELECT manifest, model, momentum FROM rounds WHERE job = ?1"
				    " ORDER BY round",
				    job);
	json_t *envs = json_array(), *r;
	unsigned char *raw;
	struct db_blob b;
	struct error err;
	struct hash h;
	size_t i, len;

	json_array_foreach(rounds, i, r)
	{
		const char *m = json_string_value(json_object_get(r, "manifest"));
		coord_set_add(set, json_string_value(json_object_get(r, "model")));
		coord_set_add(set, json_string_value(json_object_get(r, "momentum")));
		if (!m || hash_from_hex(&h, m, &err) < 0 || db_blob_get(c->db, m, &b) < 0 ||
		    merge_blob_read(c->bs, &h, (size_t)b.size, &raw, &len, &err) < 0) {
			log_error("cannot export the manifest of round %zu of job %lld", i,
				  (long long)job);
			json_decref(envs);
			envs = NULL;
			break;
		}
		json_array_append_new(envs, json_stringn((const char *)raw, len));
		free(raw);
	}
	json_decref(rounds);
	return envs;
}

/* The text of a small file in the state directory, or NULL. */
static json_t *coord_state_file(struct coord *c, const char *rel)
{
	char path[4096];
	unsigned char *buf = NULL;
	struct error err;
	json_t *s = NULL;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", server_state_path(c->server), rel);
	if (fileio_read_all(path, 1 << 20, &buf, &len, &err) == 0)
		s = json_stringn((const char *)buf, len);
	free(buf);
	return s;
}

json_t *coord_job_export(struct coord *c, int64_t job)
{
	json_t *o = coord_job_status(c, job), *set = json_object(), *blobs = json_array(), *rows,
	       *r;
	const char *key;
	json_t *v;
	size_t i;

	if (!o)
		return NULL;
	json_object_set_new(o, "manifests", coord_export_manifests(c, job, set));
	rows = coord_list(c, "SELECT eval_blob FROM jobs WHERE id = ?1", job);
	coord_set_add(set,
		      json_string_value(json_object_get(json_array_get(rows, 0), "eval_blob")));
	json_decref(rows);
	rows = coord_list(c,
			  "SELECT s.blob AS blob FROM units u JOIN results s ON s.id = u.canonical"
			  " WHERE u.job = ?1 AND u.round < (SELECT max(round) FROM rounds"
			  " WHERE job = ?1)",
			  job);
	json_array_foreach(rows, i, r)
	    coord_set_add(set, json_string_value(json_object_get(r, "blob")));
	json_decref(rows);
	json_object_foreach(set, key, v) json_array_append_new(blobs, json_string(key));
	json_decref(set);
	json_object_set_new(o, "blobs", blobs);
	json_object_set_new(o, "coordinator_pub", coord_state_file(c, "keys/coordinator.pub"));
	{
		char tip[HASH_HEX_LEN + 1];
		struct hash h;
		ledger_tip(c->ledger, &h);
		hash_to_hex(&h, tip);
		json_object_set_new(o, "ledger",
				    json_pack("{s:I, s:s}", "entries",
					      (json_int_t)ledger_count(c->ledger), "tip", tip));
	}
	json_object_set_new(
	    o, "datasets",
	    coord_list(c,
		       "SELECT d.name AS name, d.owner AS owner, d.licence AS licence,"
		       " d.source AS source, d.bytes AS bytes, d.manifest AS manifest"
		       " FROM datasets d JOIN jobs j ON j.dataset = d.id WHERE j.id = ?1",
		       job));
	json_object_set_new(
	    o, "contributors",
	    coord_list(c,
		       "SELECT h.id AS host, h.account AS account, count(*) AS results,"
		       " sum(u.flops) / 1e9 AS credit FROM replicas r JOIN units u ON u.id = r.unit"
		       " JOIN hosts h ON h.id = r.host WHERE u.job = ?1 AND r.validation = 'valid'"
		       " GROUP BY h.id ORDER BY h.id",
		       job));
	return o;
}
