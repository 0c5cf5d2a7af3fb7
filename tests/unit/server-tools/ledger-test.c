/*
 * ledger-test.c - the credit ledger: append and verify, reopen, a result
 * credited once, totals, a byte altered in any entry named by verify, a
 * torn last record (verify: error; open: cut and continue), another key.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "server-tools/ledger.h"
#include "tests/tap.h"

#define N_ENTRIES 6

static struct key_public pk, other_pk;
static struct key_secret sk, other_sk;
static char dir[512], path[600];

static void make_entry(struct ledger_entry *e, int i)
{
	memset(e, 0, sizeof(*e));
	e->time = 1800000000 + i;
	e->host = (uint64_t)(1 + i % 3);
	memset(e->host_key.bytes, 0xa0 + i % 3, sizeof(e->host_key.bytes));
	snprintf(e->account, sizeof(e->account), "%s", i % 3 == 2 ? "bob" : "alice");
	memset(e->unit_id.bytes, 0x10 + i, sizeof(e->unit_id.bytes));
	memset(e->result.bytes, 0x50 + i, sizeof(e->result.bytes));
	e->flops = 1000000000ull * (uint64_t)(i + 1);
}

static void test_append(void)
{
	struct ledger *l;
	struct ledger_entry e;
	struct hash tip, h;
	struct error err;
	uint64_t n;
	int i, ok = 1;

	TAP_IS(ledger_open(&l, path, &sk, &err), 0, "a new ledger opens");
	for (i = 0; i < N_ENTRIES - 1; i++) {
		make_entry(&e, i);
		ok &= ledger_append(l, &e, &h, &err) == 0 && e.seq == (uint64_t)i;
	}
	TAP_OK(ok, "five entries appended with seq 0..4");
	make_entry(&e, 2);
	TAP_IS(ledger_append(l, &e, NULL, &err), ERROR_DUPLICATE,
	       "the same result for the same host is credited once");
	TAP_IS(ledger_count(l), N_ENTRIES - 1, "count is 5");
	ledger_tip(l, &tip);
	TAP_OK(hash_equal(&tip, &h), "tip is the last entry's hash");
	ledger_free(l);
	TAP_IS(ledger_open(&l, path, &sk, &err), 0, "the ledger reopens");
	TAP_IS(ledger_count(l), N_ENTRIES - 1, "with its 5 entries");
	make_entry(&e, 2);
	TAP_IS(ledger_append(l, &e, NULL, &err), ERROR_DUPLICATE,
	       "after reopening, still credited once");
	make_entry(&e, N_ENTRIES - 1);
	TAP_IS(ledger_append(l, &e, &h, &err), 0, "a sixth entry appended");
	ledger_free(l);
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, &n, &tip, &err), 0, "the ledger verifies");
	TAP_IS(n, N_ENTRIES, "six entries");
	TAP_OK(hash_equal(&tip, &h), "verify's tip is the last append's hash");
	TAP_IS(ledger_verify(path, &other_pk, NULL, NULL, &n, NULL, &err), ERROR_SIGNATURE,
	       "another coordinator key does not verify it");
	TAP_OK(!strncmp(err.msg, "entry 0:", 8), "and names entry 0: %s", err.msg);
	TAP_IS(ledger_open(&l, path, &other_sk, &err), ERROR_SIGNATURE,
	       "nor can another key append to it");
}

static void test_totals(void)
{
	struct ledger_total *t;
	struct error err;
	size_t n;

	TAP_IS(ledger_totals(path, &pk, 1, &t, &n, &err), 0, "totals by account");
	TAP_OK(n == 2 && !strcmp(t[0].account, "alice") && t[0].flops == 1e9 * (1 + 2 + 4 + 5) &&
		   t[0].entries == 4 && !strcmp(t[1].account, "bob") && t[1].flops == 1e9 * (3 + 6),
	       "alice 12 credits in 4 entries, bob 9");
	free(t);
	TAP_IS(ledger_totals(path, &pk, 0, &t, &n, &err), 0, "totals by host");
	TAP_OK(n == 3 && t[0].host == 1 && t[0].flops == 1e9 * 5 && t[2].host == 3,
	       "three hosts, host 1 has 5 credits");
	free(t);
}

/* Record offsets of the file: start[i], length len[i] (with the prefix). */
static size_t records(const unsigned char *buf, size_t size, size_t *start, size_t *len)
{
	size_t off = 0, n = 0;

	while (off + 4 <= size && n < N_ENTRIES) {
		size_t l = buf[off] | (size_t)buf[off + 1] << 8;

		start[n] = off;
		len[n++] = l + 4;
		off += l + 4;
	}
	return n;
}

static void test_tamper(void)
{
	unsigned char *buf;
	size_t size, start[N_ENTRIES], len[N_ENTRIES], n, i, k;
	struct error err;
	int named = 1, failed = 1;

	if (fileio_read_all(path, 1 << 20, &buf, &size, &err) < 0)
		abort();
	n = records(buf, size, start, len);
	TAP_IS(n, N_ENTRIES, "six records in the file");
	for (i = 0; i < n; i++) {
		size_t pos[6] = {0, 4, 30, len[i] / 2, len[i] - 20, len[i] - 1};

		for (k = 0; k < 6; k++) {
			char want[32];
			size_t at = start[i] + pos[k];

			buf[at] ^= 0x01;
			if (fileio_write_atomic(path, buf, size, 0600, 0, &err) < 0)
				abort();
			error_clear(&err);
			failed &= ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err) < 0;
			snprintf(want, sizeof(want), "entry %zu:", i);
			if (strncmp(err.msg, want, strlen(want)) != 0) {
				named = 0;
				tap_diag("byte %zu of entry %zu: %s", pos[k], i, err.msg);
			}
			buf[at] ^= 0x01;
		}
	}
	TAP_OK(failed, "a byte altered anywhere in any entry fails verify");
	TAP_OK(named, "and verify names that entry");
	if (fileio_write_atomic(path, buf, size, 0600, 0, &err) < 0)
		abort();
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err), 0, "restored: verifies");

	/* A length in the middle pointing past the end looks torn to a reader
	 * but is not: the writer refuses to cut the entries after it. */
	buf[start[3]] = 0xf0;
	buf[start[3] + 1] = 0x0f;
	if (fileio_write_atomic(path, buf, size, 0600, 0, &err) < 0)
		abort();
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err), ERROR_FORMAT,
	       "a damaged length in entry 3 fails verify");
	TAP_OK(!strncmp(err.msg, "entry 3:", 8), "naming entry 3: %s", err.msg);
	{
		struct ledger *l;
		struct stat st;

		TAP_IS(ledger_open(&l, path, &sk, &err), ERROR_FORMAT,
		       "and the writer refuses it instead of cutting entries 3..5");
		TAP_OK(stat(path, &st) == 0 && (size_t)st.st_size == start[5] + len[5],
		       "the file was not cut");
	}
	buf[start[3]] = (unsigned char)((len[3] - 4) & 0xff);
	buf[start[3] + 1] = (unsigned char)((len[3] - 4) >> 8);
	if (fileio_write_atomic(path, buf, size, 0600, 0, &err) < 0)
		abort();
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err), 0, "restored again");

	/* A torn last record: cut in the middle of entry 5. */
	if (truncate(path, (off_t)(start[5] + len[5] / 2)) < 0)
		abort();
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err), ERROR_FORMAT,
	       "verify reports a torn last record");
	TAP_OK(!strncmp(err.msg, "entry 5: truncated", 18), "naming entry 5: %s", err.msg);
	if (truncate(path, (off_t)(start[5] + 2)) < 0)
		abort();
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, NULL, NULL, &err), ERROR_FORMAT,
	       "a torn length prefix too");
	free(buf);
}

static void test_torn_open(void)
{
	struct ledger *l;
	struct ledger_entry e;
	struct error err;
	uint64_t n;

	TAP_IS(ledger_open(&l, path, &sk, &err), 0, "the writer opens a ledger with a torn tail");
	TAP_IS(ledger_count(l), N_ENTRIES - 1, "it keeps the 5 whole entries");
	make_entry(&e, N_ENTRIES - 1);
	TAP_IS(ledger_append(l, &e, NULL, &err), 0, "the lost entry can be appended again");
	ledger_free(l);
	TAP_IS(ledger_verify(path, &pk, NULL, NULL, &n, NULL, &err), 0, "and the ledger verifies");
	TAP_IS(n, N_ENTRIES, "with six entries");
}

static int run_admin(const char *args)
{
	const char *top = getenv("top_builddir");
	char cmd[1600];
	int rc;

	snprintf(cmd, sizeof(cmd), "%s/agora-admin %s >/dev/null 2>&1", top && *top ? top : ".",
		 args);
	rc = system(cmd);
	return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

/* agora-admin ledger verify on the good ledger, then with one byte of
 * entry 3 altered. */
static void test_admin(void)
{
	char args[1400], key[700];
	unsigned char *buf;
	size_t size, start[N_ENTRIES], len[N_ENTRIES];
	struct error err;

	if (key_write_pair(dir, "coord", &pk, &sk, &err) < 0)
		abort();
	snprintf(key, sizeof(key), "%s/coord.pub", dir);
	snprintf(args, sizeof(args), "ledger verify --file '%s' --pub '%s' --totals account", path,
		 key);
	TAP_IS(run_admin(args), 0, "agora-admin ledger verify passes");
	if (fileio_read_all(path, 1 << 20, &buf, &size, &err) < 0)
		abort();
	records(buf, size, start, len);
	buf[start[3] + len[3] / 2] ^= 4;
	if (fileio_write_atomic(path, buf, size, 0600, 0, &err) < 0)
		abort();
	TAP_IS(run_admin(args), 1, "agora-admin ledger verify exits 1 on an altered entry");
	free(buf);
	unlink(key);
	snprintf(key, sizeof(key), "%s/coord.key", dir);
	unlink(key);
}

static void test_flops(void)
{
	const struct model_config *cfg = model_preset_find("gpt-tiny");
	uint64_t f = ledger_unit_flops(cfg, 10, 8, 128);

	TAP_OK(f == model_flops_per_token(cfg) * 10 * 8 * 128, "unit flops = per token x tokens");
	tap_diag("a gpt-tiny unit of 10 steps x 8 x 128 tokens: %.3f credits",
		 (double)f / LEDGER_FLOPS_PER_CREDIT);
	TAP_IS(ledger_unit_flops(cfg, UINT64_MAX / 2, 8, 128), 0, "overflow gives 0");
}

int main(void)
{
	unsigned char seed[KEY_SEED_BYTES];

	memset(seed, 3, sizeof(seed));
	key_from_seed(&pk, &sk, seed);
	memset(seed, 4, sizeof(seed));
	key_from_seed(&other_pk, &other_sk, seed);
	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		abort();
	snprintf(path, sizeof(path), "%s/ledger.log", dir);
	test_append();
	test_totals();
	test_tamper();
	test_torn_open();
	test_flops();
	test_admin();
	unlink(path);
	rmdir(dir);
	return tap_done();
}
