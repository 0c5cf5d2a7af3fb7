/*
 * tap.h - a minimal Test Anything Protocol emitter for Agora's C tests.
 *
 * Each test program prints "ok N - name" / "not ok N - name" lines and a
 * trailing plan; automake's TAP driver turns them into PASS/FAIL. A test
 * that cannot run here (no OpenCL device, no X display) calls
 * tap_skip_all(), which prints a skip plan and exits 77; tests/tap-exec.sh
 * maps that exit status to 0 so the harness reports SKIP, not ERROR.
 */
#ifndef AGORA_TESTS_TAP_H
#define AGORA_TESTS_TAP_H

#include <stddef.h>
#include <string.h>

/* Records one result; returns cond so callers can bail out early. */
int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints a diagnostic line ("# ...") that the harness shows in the log. */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the next test as skipped with a reason. */
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "1..0 # SKIP reason" and exits 77. */
_Noreturn void tap_skip_all(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the plan; returns the process exit status (0 when all passed). */
int tap_done(void);

#define TAP_OK(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
/* Compares two integers and prints both on failure. */
#define TAP_IS(got, want, name)                                                                    \
	do {                                                                                       \
		long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);                   \
		if (!tap_ok(tap_g_ == tap_w_, "%s", name))                                         \
			tap_diag("  got %lld, want %lld", tap_g_, tap_w_);                         \
	} while (0)
/* Compares two strings (got may be NULL: a failure) and prints both on
 * failure. */
#define TAP_IS_STR(got, want, name)                                                                \
	do {                                                                                       \
		const char *tap_gs_ = (got), *tap_ws_ = (want);                                    \
		if (!tap_ok(tap_gs_ && strcmp(tap_gs_, tap_ws_) == 0, "%s", name))                 \
			tap_diag("  got \"%s\", want \"%s\"", tap_gs_ ? tap_gs_ : "(null)",        \
				 tap_ws_);                                                         \
	} while (0)

/* Reads a file from the test's source directory (srcdir, set by the
 * harness; "." when run by hand). Returns a malloc'd buffer or NULL. */
unsigned char *tap_read_srcfile(const char *relpath, size_t *len);
/* Writes a unique scratch directory name under $TMPDIR into buf and
 * creates it (mode 0700). Returns 0 or -1. */
int tap_tmpdir(char *buf, size_t size);

#endif
