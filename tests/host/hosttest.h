/*
 * The TEST line protocol of host unit tests (tests/run reads it):
 *
 *   TEST <name> PASS
 *   TEST <name> FAIL <reason>
 *
 * one line per case, and the binary exits 0 only when every case passed.
 * A case is `static int fn(void)` returning 0, or -1 after HT_CHECK/HT_FAIL
 * filled in the reason. ht_run_isolated() runs a case in a forked child, so
 * a case that may crash (a sanitizer report, a signal) still ends in one FAIL
 * line and the cases after it still run; one that hangs is killed after
 * HT_CHILD_SECONDS.
 *
 *   int main(void) { ht_run("name", fn); ...; return ht_exit_status(); }
 */
#ifndef TESTS_HOST_HOSTTEST_H
#define TESTS_HOST_HOSTTEST_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef HT_CHILD_SECONDS
#define HT_CHILD_SECONDS 30
#endif

static __attribute__((unused)) char ht_reason[512];
static __attribute__((unused)) unsigned ht_passed, ht_failed;

static inline __attribute__((format(printf, 1, 2))) void ht_set_reason(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ht_reason, sizeof(ht_reason), fmt, ap);
	va_end(ap);
	/* One line: the reason is the rest of the TEST line. */
	for (char *c = ht_reason; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

#define HT_FAIL(...)                                                           \
	do {                                                                   \
		ht_set_reason(__VA_ARGS__);                                    \
		return -1;                                                     \
	} while (0)

/* Fail the case with a reason that also names the line. */
#define HT_CHECK(cond, ...)                                                    \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ht_set_reason(__VA_ARGS__);                            \
			size_t ht_n_ = strlen(ht_reason);                      \
			snprintf(ht_reason + ht_n_, sizeof(ht_reason) - ht_n_, \
				 " [line %d]", __LINE__);                      \
			return -1;                                             \
		}                                                              \
	} while (0)

static inline void ht_report(const char *name, int failed)
{
	if (!failed) {
		printf("TEST %s PASS\n", name);
		ht_passed++;
	} else {
		printf("TEST %s FAIL %s\n", name, ht_reason[0] ? ht_reason : "(no reason given)");
		ht_failed++;
	}
	fflush(stdout);
}

static inline void ht_run(const char *name, int (*fn)(void))
{
	ht_reason[0] = 0;
	ht_report(name, fn() != 0);
}

/*
 * The line of a sanitizer report that says what went wrong, where:
 * "SUMMARY: AddressSanitizer: heap-buffer-overflow kernel/x.c:12 in f".
 */
static inline void ht_sanitizer_summary(const char *log, char *out, size_t outlen)
{
	static const char *const keys[] = {"SUMMARY: ", "runtime error: ", "ERROR: "};
	out[0] = 0;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && !out[0]; k++) {
		const char *at = strstr(log, keys[k]);
		if (!at)
			continue;
		const char *from = k == 0 ? at + strlen(keys[0]) : at;
		if (k == 1) /* keep the file:line in front of "runtime error" */
			while (from > log && from[-1] != '\n')
				from--;
		size_t n = strcspn(from, "\n");
		snprintf(out, outlen, "%.*s", (int)(n < 300 ? n : 300), from);
	}
}

/*
 * Run fn in a child process. Exit 0 means pass; a returned failure sends the
 * reason back through a pipe; any other end (sanitizer report, signal,
 * timeout) is a failure naming how the child died, with the sanitizer's
 * summary line. The child's stderr is passed on to ours. The parent's state
 * is never touched.
 */
static inline void ht_run_isolated(const char *name, int (*fn)(void))
{
	int fds[2];
	ht_reason[0] = 0;
	fflush(stdout);
	fflush(stderr);
	FILE *errlog = tmpfile();
	if (!errlog || pipe(fds) != 0) {
		if (errlog)
			fclose(errlog);
		ht_set_reason("pipe or tmpfile failed");
		ht_report(name, 1);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		fclose(errlog);
		ht_set_reason("fork failed");
		ht_report(name, 1);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		dup2(fileno(errlog), 2);
		alarm(HT_CHILD_SECONDS); /* SIGALRM ends a hang */
		int r = fn();
		if (r != 0) {
			ssize_t w = write(fds[1], ht_reason, strlen(ht_reason));
			(void)w;
		}
		fflush(stdout);
		fflush(stderr);
		_exit(r != 0 ? 2 : 0);
	}
	close(fds[1]);
	char got[sizeof(ht_reason)];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(got) - 1 && (r = read(fds[0], got + n, sizeof(got) - 1 - n)) > 0)
		n += (size_t)r;
	got[n] = 0;
	close(fds[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	/* Pass the child's stderr on; keep the first 64 KiB to find a summary. */
	static char log[65536];
	size_t loglen = 0, k;
	char chunk[4096];
	rewind(errlog);
	while ((k = fread(chunk, 1, sizeof(chunk), errlog)) > 0) {
		fwrite(chunk, 1, k, stderr);
		size_t room = sizeof(log) - 1 - loglen;
		memcpy(log + loglen, chunk, k < room ? k : room);
		loglen += k < room ? k : room;
	}
	log[loglen] = 0;
	fclose(errlog);
	char summary[320];
	ht_sanitizer_summary(log, summary, sizeof(summary));
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ht_report(name, 0);
		return;
	}
	if (status == -1)
		ht_set_reason("waitpid failed");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		ht_set_reason("%s", got);
	else if (WIFEXITED(status))
		ht_set_reason("child exited with status %d: %s", WEXITSTATUS(status),
			      summary[0] ? summary : "(no sanitizer report)");
	else if (WTERMSIG(status) == SIGALRM)
		ht_set_reason("did not finish in %d s (hang?)", HT_CHILD_SECONDS);
	else
		ht_set_reason("child killed by signal %d%s%s", WTERMSIG(status), summary[0] ? ": " : "",
			      summary);
	/* Last on stderr, so a runner showing the tail shows this. */
	fprintf(stderr, "hosttest: %s: %s\n", name, ht_reason);
	fflush(stderr);
	ht_report(name, 1);
}

static inline int ht_exit_status(void)
{
	fflush(stdout);
	return ht_failed ? 1 : 0;
}

/* Deterministic xorshift64*: tests repeat exactly from run to run. */
static inline uint64_t ht_rand(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dull;
}

#endif
