/*
 * ledger.c - the hash-chained, signed credit ledger file: entry JSON,
 * the record scanner shared by the writer and the auditor, appends with
 * fsync, a set of credited (unit, host) pairs, and totals (see ledger.h).
 */
#include "config.h"

#include "server-tools/ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileio.h"
#include "common/hex.h"
#include "common/log.h"
#include "workunits/envelope.h"
#include "workunits/field.h"

static const char *const ledger_keys[] = {"version", "seq",      "prev",    "time",
					  "host",    "host_key", "account", "unit_id",
					  "result",  "flops",    NULL};

/* ---- entry JSON -------------------------------------------------------- */

static json_t *ledger_hex_json(const void *bytes, size_t n)
{
	char hex[2 * KEY_PUBLIC_BYTES + 1];

	hex_encode(hex, bytes, n);
	return json_string(hex);
}

static int ledger_parse_key(const json_t *root, struct key_public *pk, struct error *err)
{
	json_t *j;
	int rc;

	if ((rc = field_get(root, "", "host_key", &j, err)) < 0)
		return rc;
	if (!json_is_string(j))
		return error_set(err, ERROR_TYPE, "field 'host_key': expected string, got %s",
				 field_type_name(j));
	if (json_string_length(j) != KEY_PUBLIC_HEX_LEN ||
	    key_public_from_hex(pk, json_string_value(j), NULL) < 0)
		return error_set(
		    err, ERROR_FORMAT,
		    "field 'host_key': expected a public key (64 lowercase hex digits)");
	return 0;
}

static int ledger_from_json(struct ledger_entry *e, const json_t *root, struct error *err)
{
	uint64_t time;
	int rc;

	memset(e, 0, sizeof(*e));
	if ((rc = field_version(root, LEDGER_VERSION, "ledger entry", err)) < 0 ||
	    (rc = field_only(root, "", ledger_keys, err)) < 0 ||
	    (rc = field_uint(root, "", "seq", 0, FIELD_INT_MAX, &e->seq, err)) < 0 ||
	    (rc = field_hash(root, "", "prev", &e->prev, err)) < 0 ||
	    (rc = field_uint(root, "", "time", 0, FIELD_INT_MAX, &time, err)) < 0 ||
	    (rc = field_uint(root, "", "host", 0, FIELD_INT_MAX, &e->host, err)) < 0 ||
	    (rc = ledger_parse_key(root, &e->host_key, err)) < 0 ||
	    (rc = field_string(root, "", "account", field_is_printable, e->account,
			       sizeof(e->account), err)) < 0 ||
	    (rc = field_hash(root, "", "unit_id", &e->unit_id, err)) < 0 ||
	    (rc = field_hash(root, "", "result", &e->result, err)) < 0 ||
	    (rc = field_u64_string(root, "", "flops", &e->flops, err)) < 0)
		return rc;
	e->time = (int64_t)time;
	return 0;
}

static json_t *ledger_build(const struct ledger_entry *e)
{
	json_t *root = json_object();
	char flops[24];

	snprintf(flops, sizeof(flops), "%llu", (unsigned long long)e->flops);
	if (!root || field_set(root, "version", json_integer(LEDGER_VERSION)) < 0 ||
	    field_set(root, "seq", json_integer((json_int_t)e->seq)) < 0 ||
	    field_set(root, "prev", ledger_hex_json(e->prev.bytes, HASH_BYTES)) < 0 ||
	    field_set(root, "time", json_integer((json_int_t)e->time)) < 0 ||
	    field_set(root, "host", json_integer((json_int_t)e->host)) < 0 ||
	    field_set(root, "host_key", ledger_hex_json(e->host_key.bytes, KEY_PUBLIC_BYTES)) < 0 ||
	    field_set(root, "account",
		      json_stringn_nocheck(e->account, strnlen(e->account, sizeof(e->account)))) <
		0 ||
	    field_set(root, "unit_id", ledger_hex_json(e->unit_id.bytes, HASH_BYTES)) < 0 ||
	    field_set(root, "result", ledger_hex_json(e->result.bytes, HASH_BYTES)) < 0 ||
	    field_set(root, "flops", json_string(flops)) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int ledger_entry_to_json(const struct ledger_entry *e, char **out, size_t *len, struct error *err)
{
	struct ledger_entry check;
	json_t *root;
	int rc;

	*out = NULL;
	*len = 0;
	root = ledger_build(e);
	if (!root)
		return error_set(err, ERROR_NOMEM, "cannot encode ledger entry: out of memory");
	rc = ledger_from_json(&check, root, err);
	if (rc == 0 && field_dump(root, out, len) < 0)
		rc = error_set(err, ERROR_NOMEM, "cannot encode ledger entry: out of memory");
	json_decref(root);
	return rc;
}

int ledger_entry_parse(struct ledger_entry *e, const void *json, size_t len, struct error *err)
{
	json_t *root;
	int rc;

	rc = field_load(&root, json, len, LEDGER_RECORD_MAX, "ledger entry", err);
	if (rc < 0)
		return rc;
	rc = ledger_from_json(e, root, err);
	json_decref(root);
	return rc;
}

uint64_t ledger_unit_flops(const struct model_config *cfg, uint64_t steps, uint64_t batch,
			   uint64_t context)
{
	uint64_t f = model_flops_per_token(cfg), tokens;

	if (batch && steps > UINT64_MAX / batch)
		return 0;
	tokens = steps * batch;
	if (context && tokens > UINT64_MAX / context)
		return 0;
	tokens *= context;
	if (tokens && f > UINT64_MAX / tokens)
		return 0;
	return f * tokens;
}

/* ---- the record scanner ------------------------------------------------ */

struct ledger_scan {
	uint64_t count;  /* entries verified */
	struct hash tip; /* hash of the last verified entry */
	long good_end;   /* file offset after the last verified record */
	int torn;        /* the walk stopped at a torn last record */
};

/* Reads one record's envelope into buf (LEDGER_RECORD_MAX bytes). Returns
 * its length, 0 at a clean end, or a negative error (torn: ERROR_FORMAT
 * with *torn set). */
static long ledger_read_record(FILE *f, unsigned char *buf, uint64_t seq, int *torn,
			       struct error *err)
{
	unsigned char lenb[4];
	size_t got;
	uint32_t len;

	got = fread(lenb, 1, 4, f);
	if (got == 0 && !ferror(f))
		return 0;
	if (got < 4) {
		*torn = !ferror(f);
		return error_set(err, ferror(f) ? ERROR_IO : ERROR_FORMAT,
				 "entry %llu: truncated record length (torn write)",
				 (unsigned long long)seq);
	}
	len = (uint32_t)lenb[0] | (uint32_t)lenb[1] << 8 | (uint32_t)lenb[2] << 16 |
	      (uint32_t)lenb[3] << 24;
	if (len == 0 || len > LEDGER_RECORD_MAX)
		return error_set(err, ERROR_FORMAT, "entry %llu: bad record length %lu",
				 (unsigned long long)seq, (unsigned long)len);
	got = fread(buf, 1, len, f);
	if (got < len) {
		*torn = !ferror(f);
		return error_set(err, ferror(f) ? ERROR_IO : ERROR_FORMAT,
				 "entry %llu: truncated record: %zu of %lu bytes (torn write)",
				 (unsigned long long)seq, got, (unsigned long)len);
	}
	return (long)len;
}

/* Opens and checks one record's entry against the chain so far. */
static int ledger_check_record(const unsigned char *buf, size_t len, const struct key_public *pk,
			       const struct ledger_scan *s, struct ledger_entry *e,
			       struct error *err)
{
	const unsigned char *payload;
	size_t plen;
	struct error e2;
	int rc;

	error_clear(&e2);
	rc = envelope_open(buf, len, ENVELOPE_TYPE_LEDGER, pk, &payload, &plen, &e2);
	if (rc == 0)
		rc = ledger_entry_parse(e, payload, plen, &e2);
	if (rc < 0)
		return error_set(err, rc, "entry %llu: %s", (unsigned long long)s->count, e2.msg);
	if (e->seq != s->count)
		return error_set(err, ERROR_FORMAT, "entry %llu: says seq %llu",
				 (unsigned long long)s->count, (unsigned long long)e->seq);
	if (!hash_equal(&e->prev, &s->tip))
		return error_set(err, ERROR_HASH,
				 "entry %llu: prev does not match entry %lld's hash",
				 (unsigned long long)s->count, (long long)s->count - 1);
	return 0;
}

/* Walks the records of f from its start. */
static int ledger_scan_file(FILE *f, const struct key_public *pk, ledger_visit_fn visit, void *ctx,
			    struct ledger_scan *s, struct error *err)
{
	unsigned char *buf = malloc(LEDGER_RECORD_MAX);
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (!buf)
		return error_set(err, ERROR_NOMEM, "cannot read ledger: out of memory");
	for (;;) {
		struct ledger_entry e;
		long len = ledger_read_record(f, buf, s->count, &s->torn, err);

		if (len <= 0) {
			rc = (int)len;
			break;
		}
		if ((rc = ledger_check_record(buf, (size_t)len, pk, s, &e, err)) < 0 ||
		    (visit && (rc = visit(ctx, &e)) < 0))
			break;
		hash_buf(&s->tip, buf, (size_t)len);
		s->count++;
		s->good_end = ftell(f);
	}
	free(buf);
	return rc;
}

int ledger_verify(const char *path, const struct key_public *pk, ledger_visit_fn visit, void *ctx,
		  uint64_t *n_entries, struct hash *tip, struct error *err)
{
	struct ledger_scan s;
	FILE *f = fopen(path, "rb");
	int rc;

	if (!f)
		return fileio_error(err, errno, "open", path);
	rc = ledger_scan_file(f, pk, visit, ctx, &s, err);
	fclose(f);
	if (n_entries)
		*n_entries = s.count;
	if (tip)
		*tip = s.tip;
	return rc;
}

/* ---- the set of credited (unit, host) pairs ---------------------------- */

struct ledger_set {
	struct hash *slots; /* zero hash: empty */
	size_t cap, used;
};

static void ledger_pair_key(struct hash *k, const struct hash *unit, const struct key_public *h)
{
	unsigned char buf[HASH_BYTES + KEY_PUBLIC_BYTES];

	memcpy(buf, unit->bytes, HASH_BYTES);
	memcpy(buf + HASH_BYTES, h->bytes, KEY_PUBLIC_BYTES);
	hash_buf(k, buf, sizeof(buf));
}

static size_t ledger_slot(const struct ledger_set *set, const struct hash *k)
{
	static const struct hash zero;
	size_t i;

	memcpy(&i, k->bytes, sizeof(i));
	for (i &= set->cap - 1;; i = (i + 1) & (set->cap - 1))
		if (hash_equal(&set->slots[i], k) || hash_equal(&set->slots[i], &zero))
			return i;
}

static int ledger_set_has(const struct ledger_set *set, const struct hash *k)
{
	return set->cap && hash_equal(&set->slots[ledger_slot(set, k)], k);
}

static int ledger_set_add(struct ledger_set *set, const struct hash *k)
{
	if (2 * (set->used + 1) > set->cap) {
		struct ledger_set bigger = {NULL, set->cap ? 2 * set->cap : 1024, 0};
		size_t i;

		bigger.slots = calloc(bigger.cap, sizeof(struct hash));
		if (!bigger.slots)
			return ERROR_NOMEM;
		for (i = 0; i < set->cap; i++) {
			static const struct hash zero;

			if (!hash_equal(&set->slots[i], &zero)) {
				bigger.slots[ledger_slot(&bigger, &set->slots[i])] = set->slots[i];
				bigger.used++;
			}
		}
		free(set->slots);
		*set = bigger;
	}
	set->slots[ledger_slot(set, k)] = *k;
	set->used++;
	return 0;
}

/* ---- the writer -------------------------------------------------------- */

struct ledger {
	pthread_mutex_t lock;
	int fd;
	char path[FILEIO_PATH_MAX];
	struct key_secret sk;
	struct key_public pk;
	uint64_t count;
	struct hash tip;
	off_t end;
	struct ledger_set credited;
};

static int ledger_note(void *ctx, const struct ledger_entry *e)
{
	struct ledger *l = ctx;
	struct hash k;

	ledger_pair_key(&k, &e->unit_id, &e->host_key);
	if (ledger_set_has(&l->credited, &k))
		return ERROR_DUPLICATE;
	return ledger_set_add(&l->credited, &k);
}

/* 1 when the bytes after the last good record can be one torn append:
 * at most one record long, and no second envelope starts inside them
 * (which would mean a damaged length in the middle of the file, not a
 * crash: then nothing is cut). */
static int ledger_tail_is_torn(struct ledger *l, off_t good_end)
{
	static const char magic[] = ENVELOPE_MAGIC "\n";
	const size_t mlen = sizeof(magic) - 1;
	unsigned char *tail = malloc(LEDGER_RECORD_MAX + 5);
	ssize_t got;
	size_t i;
	int torn;

	if (!tail)
		return 0;
	got = pread(l->fd, tail, LEDGER_RECORD_MAX + 5, good_end);
	torn = got >= 0 && got <= LEDGER_RECORD_MAX + 4;
	for (i = 5; torn && i + mlen <= (size_t)got; i++)
		if (memcmp(tail + i, magic, mlen) == 0)
			torn = 0;
	free(tail);
	return torn;
}

/* Scans an opened ledger and cuts a torn tail. */
static int ledger_load(struct ledger *l, struct error *err)
{
	struct ledger_scan s;
	FILE *f;
	int rc, fd = dup(l->fd);

	if (fd < 0 || !(f = fdopen(fd, "rb"))) {
		if (fd >= 0)
			close(fd);
		return fileio_error(err, errno, "read", l->path);
	}
	rewind(f);
	rc = ledger_scan_file(f, &l->pk, ledger_note, l, &s, err);
	fclose(f);
	if (rc == ERROR_DUPLICATE)
		return error_set(err, rc, "entry %llu: credits a result twice",
				 (unsigned long long)s.count);
	if (rc < 0 && s.torn && ledger_tail_is_torn(l, (off_t)s.good_end)) {
		log_warn("ledger '%s': cutting a torn last record: %s", l->path,
			 err ? err->msg : "");
		if (ftruncate(l->fd, (off_t)s.good_end) < 0 || fsync(l->fd) < 0)
			return fileio_error(err, errno, "truncate", l->path);
		rc = 0;
	}
	if (rc < 0)
		return rc;
	l->count = s.count;
	l->tip = s.tip;
	l->end = (off_t)s.good_end;
	if (lseek(l->fd, l->end, SEEK_SET) < 0)
		return fileio_error(err, errno, "seek", l->path);
	return 0;
}

int ledger_open(struct ledger **out, const char *path, const struct key_secret *sk,
		struct error *err)
{
	struct ledger *l;
	int rc;

	*out = NULL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return error_set(err, ERROR_NOMEM, "cannot open ledger: out of memory");
	l->fd = -1;
	pthread_mutex_init(&l->lock, NULL);
	if (strlen(path) >= sizeof(l->path)) {
		rc = error_set(err, ERROR_TOO_BIG, "ledger path too long");
		goto out;
	}
	memcpy(l->path, path, strlen(path) + 1);
	l->sk = *sk;
	key_public_of(&l->pk, sk);
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0) {
		rc = fileio_error(err, errno, "open", path);
		goto out;
	}
	rc = ledger_load(l, err);
out:
	if (rc < 0) {
		ledger_free(l);
		return rc;
	}
	*out = l;
	return 0;
}

void ledger_free(struct ledger *l)
{
	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	free(l->credited.slots);
	pthread_mutex_destroy(&l->lock);
	memset(&l->sk, 0, sizeof(l->sk));
	free(l);
}

/* Seals e as the next entry and writes its record (u32 length + envelope). */
static int ledger_write_entry(struct ledger *l, struct ledger_entry *e, struct hash *h,
			      struct error *err)
{
	unsigned char *env = NULL, *rec = NULL;
	size_t env_len, len;
	char *json = NULL;
	int rc;

	e->seq = l->count;
	e->prev = l->tip;
	if ((rc = ledger_entry_to_json(e, &json, &len, err)) < 0 ||
	    (rc = envelope_seal(&l->sk, ENVELOPE_TYPE_LEDGER, json, len, &env, &env_len, err)) < 0)
		goto out;
	if (env_len > LEDGER_RECORD_MAX) {
		rc = error_set(err, ERROR_TOO_BIG, "ledger entry of %zu bytes", env_len);
		goto out;
	}
	rec = malloc(env_len + 4);
	if (!rec) {
		rc = error_set(err, ERROR_NOMEM, "cannot append to ledger: out of memory");
		goto out;
	}
	rec[0] = (unsigned char)env_len;
	rec[1] = (unsigned char)(env_len >> 8);
	rec[2] = (unsigned char)(env_len >> 16);
	rec[3] = (unsigned char)(env_len >> 24);
	memcpy(rec + 4, env, env_len);
	if (fileio_write_full(l->fd, rec, env_len + 4) < 0 || fsync(l->fd) < 0) {
		rc = fileio_error(err, errno, "append to", l->path);
		if (ftruncate(l->fd, l->end) < 0 || lseek(l->fd, l->end, SEEK_SET) < 0)
			log_error("cannot cut ledger '%s' back after a failed append", l->path);
		goto out;
	}
	hash_buf(h, env, env_len);
	l->end += (off_t)(env_len + 4);
out:
	free(json);
	free(env);
	free(rec);
	return rc;
}

int ledger_append(struct ledger *l, struct ledger_entry *e, struct hash *entry_hash,
		  struct error *err)
{
	struct hash k, h;
	int rc;

	ledger_pair_key(&k, &e->unit_id, &e->host_key);
	pthread_mutex_lock(&l->lock);
	if (ledger_set_has(&l->credited, &k)) {
		rc = error_set(err, ERROR_DUPLICATE, "result already credited to this host");
		goto out;
	}
	rc = ledger_write_entry(l, e, &h, err);
	if (rc < 0)
		goto out;
	l->count++;
	l->tip = h;
	if (entry_hash)
		*entry_hash = h;
	if (ledger_set_add(&l->credited, &k) < 0)
		log_error("ledger '%s': out of memory recording a credited result", l->path);
out:
	pthread_mutex_unlock(&l->lock);
	return rc;
}

uint64_t ledger_count(struct ledger *l)
{
	uint64_t n;

	pthread_mutex_lock(&l->lock);
	n = l->count;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void ledger_tip(struct ledger *l, struct hash *tip)
{
	pthread_mutex_lock(&l->lock);
	*tip = l->tip;
	pthread_mutex_unlock(&l->lock);
}

/* ---- totals ------------------------------------------------------------ */

struct ledger_sum {
	int by_account;
	struct ledger_total *t;
	size_t n;
};

static int ledger_sum_visit(void *ctx, const struct ledger_entry *e)
{
	struct ledger_sum *s = ctx;
	struct ledger_total *t;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->by_account ? strcmp(s->t[i].account, e->account) == 0
				  : key_public_equal(&s->t[i].host_key, &e->host_key))
			break;
	if (i == s->n) {
		t = realloc(s->t, (s->n + 1) * sizeof(*t));
		if (!t)
			return ERROR_NOMEM;
		s->t = t;
		memset(&t[i], 0, sizeof(t[i]));
		memcpy(t[i].account, e->account, sizeof(t[i].account));
		t[i].host = e->host;
		t[i].host_key = e->host_key;
		s->n++;
	}
	s->t[i].flops =
	    s->t[i].flops + e->flops < s->t[i].flops ? UINT64_MAX : s->t[i].flops + e->flops;
	s->t[i].entries++;
	return 0;
}

int ledger_totals(const char *path, const struct key_public *pk, int by_account,
		  struct ledger_total **out, size_t *n, struct error *err)
{
	struct ledger_sum s = {by_account, NULL, 0};
	int rc;

	*out = NULL;
	*n = 0;
	rc = ledger_verify(path, pk, ledger_sum_visit, &s, NULL, NULL, err);
	if (rc < 0) {
		free(s.t);
		return rc;
	}
	*out = s.t;
	*n = s.n;
	return 0;
}
