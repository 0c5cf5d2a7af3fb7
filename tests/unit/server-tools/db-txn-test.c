/*
 * db-txn-test.c - tests for server-tools/db_txn.c, the group commit:
 *
 * - concurrent writers (threads recording nonces, each also replaying
 *   one, which must fail alone): every write that returned 0 is there,
 *   no replay got in, and the counters add up (writes == successes,
 *   commits <= writes);
 * - a db_lock() holder never sees an open shared transaction, while
 *   db_lock_group() writers come and go;
 * - kill -9: a child process runs the writers and reports each write
 *   that returned 0 through a pipe (its "200 OK"); the parent kills it at
 *   a random moment, reopens the database and checks that every reported
 *   write is in it. Answering before the COMMIT would fail this.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server-tools/db.h"
#include "tests/tap.h"

#define THREADS    8
#define PER_THREAD 150  /* writes per thread, in-process test */
#define PER_CHILD  5000 /* writes per thread in the child: killed long before */
#define CRASHES    8

static char dir[256];
static char path[512];

/* Removes the database and its -wal and -shm files. */
static void db_files_remove(void)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

struct writer {
	struct db *db;
	int id;
	int fd; /* report pipe, or -1 */
	int count;
	int ok, replay_ok, errors;
};

/* A nonce unique to (round, thread, i). */
static void nonce_make(unsigned char n[DB_NONCE_BYTES], int round, int id, int i)
{
	memset(n, 0, DB_NONCE_BYTES);
	n[0] = (unsigned char)round;
	n[1] = (unsigned char)id;
	n[2] = (unsigned char)(i >> 8);
	n[3] = (unsigned char)i;
	n[15] = 0xa5;
}

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	unsigned char n[DB_NONCE_BYTES];
	int i, rc;

	for (i = 0; i < w->count; i++) {
		nonce_make(n, w->fd >= 0 ? 2 : 1, w->id, i);
		rc = db_nonce_use(w->db, n, 0, 1000 + i);
		if (rc == 0) {
			w->ok++;
			/* Reported only once db_nonce_use() said it is stored. */
			if (w->fd >= 0 && write(w->fd, n, sizeof(n)) != (ssize_t)sizeof(n))
				w->errors++;
		} else {
			w->errors++;
		}
		/* A replay of the nonce just written: must fail, alone. */
		if (i % 10 == 0 && db_nonce_use(w->db, n, 0, 1000 + i) != ERROR_DUPLICATE)
			w->replay_ok++;
	}
	return NULL;
}

/* Takes the plain lock over and over: the holder must never find a
 * shared transaction open. */
struct watcher {
	struct db *db;
	atomic_int stop;
	int seen_open, rounds;
};

static void *watcher_run(void *arg)
{
	struct watcher *wa = arg;

	while (!atomic_load(&wa->stop)) {
		db_lock(wa->db);
		if (!sqlite3_get_autocommit(db_sqlite(wa->db)))
			wa->seen_open++;
		db_unlock(wa->db);
		wa->rounds++;
		usleep(200);
	}
	return NULL;
}

static void test_threads(void)
{
	struct writer w[THREADS];
	pthread_t t[THREADS], tw;
	struct watcher wa = {0};
	struct db *db = NULL;
	struct error err;
	uint64_t commits, writes;
	int i, ok = 0, replay_ok = 0, errors = 0;

	if (db_open(&db, path, &err) < 0) {
		tap_diag("%s", err.msg);
		exit(tap_done());
	}
	wa.db = db;
	TAP_IS(pthread_create(&tw, NULL, watcher_run, &wa), 0, "start the plain-lock watcher");
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct writer){.db = db, .id = i, .fd = -1, .count = PER_THREAD};
		if (pthread_create(&t[i], NULL, writer_run, &w[i]) != 0)
			exit(tap_done());
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
		replay_ok += w[i].replay_ok;
		errors += w[i].errors;
	}
	atomic_store(&wa.stop, 1);
	pthread_join(tw, NULL);
	TAP_IS(ok, THREADS * PER_THREAD, "every concurrent write succeeded");
	TAP_IS(errors, 0, "no write failed");
	TAP_IS(replay_ok, 0, "every replay was refused");
	TAP_IS(db_nonce_count(db), (int64_t)(THREADS * PER_THREAD),
	       "every write is in the database, no replay, nothing rolled back by a replay");
	db_commit_counts(db, &commits, &writes);
	TAP_IS((long long)writes, (long long)(THREADS * PER_THREAD),
	       "the counters saw every successful write");
	TAP_OK(commits >= 1 && commits <= writes, "at most one commit per write");
	tap_diag("%llu writes in %llu commits (%.1f per commit)", (unsigned long long)writes,
		 (unsigned long long)commits, commits ? (double)writes / (double)commits : 0.0);
	TAP_IS(wa.seen_open, 0, "a db_lock() holder never saw an open shared transaction");
	TAP_OK(wa.rounds > 0, "the watcher ran (%d rounds)", wa.rounds);
	db_lock(db);
	TAP_OK(sqlite3_get_autocommit(db_sqlite(db)), "nothing is left open once writers are gone");
	db_unlock(db);
	db_free(db);
}

/* The child: writers that report each stored nonce on fd; never returns. */
static void crash_child(int fd)
{
	struct writer w[THREADS];
	pthread_t t[THREADS];
	struct db *db = NULL;
	struct error err;
	int i;

	if (db_open(&db, path, &err) < 0)
		_exit(2);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct writer){.db = db, .id = i, .fd = fd, .count = PER_CHILD};
		if (pthread_create(&t[i], NULL, writer_run, &w[i]) != 0)
			_exit(2);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	_exit(0);
}

/* Reads reported nonces into got (grown as needed) until EOF or, when
 * until_ms > 0, until that many milliseconds have passed. Reading all the
 * time matters: a full pipe would stall the child's writers. */
static int crash_collect(int fd, unsigned char **got, size_t *n, size_t *cap, long until_ms)
{
	struct timespec t0, t;
	ssize_t r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (until_ms > 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			long ms;
			clock_gettime(CLOCK_MONOTONIC, &t);
			ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			if (ms >= until_ms)
				return 0;
			if (poll(&p, 1, (int)(until_ms - ms)) <= 0)
				continue;
		}
		if (*n + 4096 > *cap) {
			size_t c = *cap ? *cap * 2 : 65536;
			unsigned char *q = realloc(*got, c);
			if (!q)
				return -1;
			*got = q;
			*cap = c;
		}
		r = read(fd, *got + *n, 4096);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		*n += (size_t)r;
	}
}

/* kill -9 at a random moment; every reported nonce must be stored. */
static void test_crash(int round)
{
	unsigned char *got = NULL;
	size_t cap = 0, bytes = 0, n, i, missing = 0;
	int64_t rows;
	struct db *db = NULL;
	struct error err;
	int fds[2], status;
	pid_t pid;

	/* A fresh database per round: nonces repeat across rounds. */
	db_files_remove();
	if (pipe(fds) != 0) {
		tap_ok(0, "pipe");
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		crash_child(fds[1]);
	}
	close(fds[1]);
	crash_collect(fds[0], &got, &bytes, &cap, 50 + rand() % 250);
	kill(pid, SIGKILL);
	crash_collect(fds[0], &got, &bytes, &cap, 0);
	close(fds[0]);
	/* Whole nonces only: the pipe carries 16-byte writes (atomic). */
	n = bytes / DB_NONCE_BYTES;
	waitpid(pid, &status, 0);
	if (db_open(&db, path, &err) < 0) {
		tap_ok(0, "crash %d: reopen after kill -9: %s", round, err.msg);
		free(got);
		return;
	}
	rows = db_nonce_count(db);
	for (i = 0; i < n; i++) {
		/* Using it again must be refused: it is there. */
		if (db_nonce_use(db, got + i * DB_NONCE_BYTES, 0, 1) != ERROR_DUPLICATE)
			missing++;
	}
	TAP_OK(missing == 0, "crash %d: all %zu acknowledged writes survived kill -9 (%zu missing)",
	       round, n, missing);
	tap_diag("crash %d: %lld rows in the database, %zu acknowledged", round, (long long)rows,
		 n);
	db_free(db);
	free(got);
}

int main(void)
{
	int i;

	if (tap_tmpdir(dir, sizeof(dir)) < 0)
		tap_skip_all("cannot make a scratch directory");
	snprintf(path, sizeof(path), "%s/state.db", dir);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	test_threads();
	for (i = 1; i <= CRASHES; i++)
		test_crash(i);
	db_files_remove();
	rmdir(dir);
	return tap_done();
}
