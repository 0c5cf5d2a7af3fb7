/*
 * log-test.c - common/log: the line format, and the journal prefix only
 * when stderr really is the stream JOURNAL_STREAM names (a child whose
 * stderr goes to a file, as BOINC runs agora-boinc, keeps plain lines
 * although it inherits the variable). Each case runs in a child process
 * (the journal probe happens once per process) with stderr in a file.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "tests/tap.h"

/* Runs one case: stderr into path, JOURNAL_STREAM per mode (0 unset, 1
 * the file's own dev:ino, 2 another inode, 3 garbage); what was logged
 * is read back into out. */
static void run_case(const char *path, int mode, char *out, size_t size)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	pid_t pid;
	int status;

	out[0] = '\0';
	pid = fork();
	if (pid == 0) {
		char v[64];
		struct stat st;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || fstat(fd, &st) < 0)
			_exit(2);
		snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino + (mode == 2));
		if (mode == 3)
			snprintf(v, sizeof(v), "%s", "12:x");
		if (mode == 0)
			unsetenv("JOURNAL_STREAM");
		else
			setenv("JOURNAL_STREAM", v, 1);
		log_init("/usr/bin/agora-test", LOG_LEVEL_INFO);
		log_error("cannot open '%s': %s", "x", "no such file");
		log_msg(LOG_LEVEL_DEBUG, "not shown at level info");
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || fileio_read_all(path, size - 1, &buf, &len, NULL) < 0)
		return;
	memcpy(out, buf, len);
	out[len] = '\0';
	free(buf);
}

int main(void)
{
	char dir[] = "/tmp/agora-log-test-XXXXXX", path[64], out[256];

	if (!mkdtemp(dir))
		tap_skip_all("no temporary directory");
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);

	run_case(path, 0, out, sizeof(out));
	TAP_OK(strcmp(out, "agora-test: cannot open 'x': no such file\n") == 0,
	       "no JOURNAL_STREAM: program name, message, one line");
	run_case(path, 1, out, sizeof(out));
	TAP_OK(strcmp(out, "<3>cannot open 'x': no such file\n") == 0,
	       "stderr is the named stream: syslog priority prefix");
	run_case(path, 2, out, sizeof(out));
	TAP_OK(strncmp(out, "agora-test: ", 12) == 0,
	       "an inherited JOURNAL_STREAM naming another stream: plain line");
	run_case(path, 3, out, sizeof(out));
	TAP_OK(strncmp(out, "agora-test: ", 12) == 0, "a malformed JOURNAL_STREAM: plain line");

	unlink(path);
	rmdir(dir);
	return tap_done();
}
