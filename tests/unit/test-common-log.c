/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fd 2 is pointed at a memfd for each test, and what the log module wrote is read back from it and
 * compared byte for byte. cmocka reports on stdout, so its own output never lands in the capture.
 */


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static int saved_stderr = -1;
static int capture_fd = -1;
static char captured[1 << 20];

static int setup(void **state _unused_)
{
	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	log_close();

	saved_stderr = dup(STDERR_FILENO);
	capture_fd = memfd_create("stderr", MFD_CLOEXEC);
	/*
	 * O_APPEND, as a shell's 2>> would: a memfd does not serialise the shared file offset, so
	 * without it, concurrent writes from threads could land on the same bytes.
	 */
	if (saved_stderr < 0 || capture_fd < 0 || fcntl(capture_fd, F_SETFL, O_APPEND) < 0 ||
	    dup2(capture_fd, STDERR_FILENO) < 0)
		return -1;
	return 0;
}

static int teardown(void **state _unused_)
{
	log_close();
	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	if (saved_stderr >= 0) {
		dup2(saved_stderr, STDERR_FILENO);
		close(saved_stderr);
		saved_stderr = -1;
	}
	if (capture_fd >= 0) {
		close(capture_fd);
		capture_fd = -1;
	}
	return 0;
}

/* Everything written to fd 2 since the last call, as a string. */
static const char *take(void)
{
	struct stat st;
	ssize_t n;

	assert_int_equal(fstat(capture_fd, &st), 0);
	assert_true((size_t)st.st_size < sizeof(captured));
	n = pread(capture_fd, captured, (size_t)st.st_size, 0);
	assert_int_equal(n, st.st_size);
	captured[n] = '\0';

	/* With O_APPEND, the next write goes to the new end, the start. */
	assert_int_equal(ftruncate(capture_fd, 0), 0);
	return captured;
}

static void test_stderr_format(void **state _unused_)
{
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);

	log_error("hello %d %s", 42, "world");
	assert_string_equal(take(), "tst: hello 42 world\n");

	log_warning("w");
	log_notice("n");
	assert_string_equal(take(), "tst: w\ntst: n\n");

	/* A newline out of printf habit does not make an empty line. */
	log_error("line\n");
	log_error("lines\n\n\n");
	assert_string_equal(take(), "tst: line\ntst: lines\n");

	/* Only trailing newlines go; the message is otherwise sent as it is. */
	log_error("a\nb");
	log_error("%s", "");
	assert_string_equal(take(), "tst: a\nb\ntst: \n");

	/* A new ident takes effect; NULL keeps it. */
	log_open("other", LOG_TARGET_STDERR);
	log_error("x");
	log_open(NULL, LOG_TARGET_STDERR);
	log_error("y");
	assert_string_equal(take(), "other: x\nother: y\n");
}

static void test_before_open(void **state _unused_)
{
	char want[256];

	/* No log_open() yet: stderr, under the program's own name. */
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	log_error("early");
	snprintf(want, sizeof(want), "%s: early\n", program_invocation_short_name);
	assert_string_equal(take(), want);
}

static void test_level_filter(void **state _unused_)
{
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);

	log_info("not shown");
	log_debug("not shown");
	assert_string_equal(take(), "");

	log_set_max_level(LOG_DEBUG);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_info("info");
	log_debug("dbg %d", 1);
	assert_string_equal(take(), "tst: info\ntst: debug: dbg 1\n");

	log_set_max_level(LOG_ERR);
	log_warning("no");
	log_notice("no");
	log_error("yes");
	assert_string_equal(take(), "tst: yes\n");

	/* Out-of-range levels are clamped, not stored. */
	log_set_max_level(42);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_set_max_level(-3);
	assert_int_equal(log_get_max_level(), LOG_EMERG);

	/* Facility bits in the level do not disturb the filter. */
	log_set_max_level(LOG_NOTICE);
	(void)log_internal(LOG_DAEMON | LOG_DEBUG, 0, "hidden");
	(void)log_internal(LOG_DAEMON | LOG_ERR, 0, "shown");
	assert_string_equal(take(), "tst: shown\n");
}

static void test_verbosity(void **state _unused_)
{
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	log_increase_verbosity();
	assert_int_equal(log_get_max_level(), LOG_INFO);
	log_increase_verbosity();
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_increase_verbosity();
	assert_int_equal(log_get_max_level(), LOG_DEBUG);

	/* log_close() forgets it all. */
	log_close();
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
}

static void test_errno_return(void **state _unused_)
{
	log_open("tst", LOG_TARGET_STDERR);

	/* The classic: log and propagate in one statement. */
	assert_int_equal(log_error_errno(-ENOENT, "open foo: %m"), -ENOENT);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(take(), "tst: open foo: No such file or directory\n");

	/* Either sign in, negative out. */
	assert_int_equal(log_error_errno(EACCES, "x: %m"), -EACCES);
	assert_string_equal(take(), "tst: x: Permission denied\n");

	/* %m in the middle, alongside other conversions. */
	assert_int_equal(log_warning_errno(-EPIPE, "%s: %m (%d)", "sock", 7), -EPIPE);
	assert_string_equal(take(), "tst: sock: Broken pipe (7)\n");

	/* Filtered out: nothing printed, the error still comes back and errno is still set. */
	errno = 0;
	assert_int_equal(log_debug_errno(-EIO, "quiet: %m"), -EIO);
	assert_int_equal(errno, EIO);
	assert_string_equal(take(), "");

	/* error 0: returns 0 and %m names the caller's errno, which is left alone. */
	errno = EBUSY;
	assert_int_equal(log_full_errno(LOG_ERR, 0, "busy? %m"), 0);
	assert_int_equal(errno, EBUSY);
	assert_string_equal(take(), "tst: busy? Device or resource busy\n");

	errno = ENOSPC;
	log_error("plain");
	assert_int_equal(errno, ENOSPC);
	assert_string_equal(take(), "tst: plain\n");

	assert_int_equal(log_oom(), -ENOMEM);
	assert_string_equal(take(), "tst: Out of memory.\n");

	/* INT_MIN has no positive counterpart; it must not become undefined behaviour. */
	assert_true(log_error_errno(INT_MIN, "weird") < 0);
	take();
}

static void test_level_from_string(void **state _unused_)
{
	static const struct {
		const char *s;
		int level;
	} cases[] = {
		{ "emerg", LOG_EMERG },
		{ "alert", LOG_ALERT },
		{ "crit", LOG_CRIT },
		{ "err", LOG_ERR },
		{ "error", LOG_ERR },
		{ "warning", LOG_WARNING },
		{ "warn", LOG_WARNING },
		{ "notice", LOG_NOTICE },
		{ "info", LOG_INFO },
		{ "debug", LOG_DEBUG },
		{ "DEBUG", LOG_DEBUG },
		{ "Info", LOG_INFO },
		{ "0", 0 },
		{ "3", 3 },
		{ "7", 7 },
		{ "8", -EINVAL },
		{ "-1", -EINVAL },
		{ "07", -EINVAL },
		{ "10", -EINVAL },
		{ "", -EINVAL },
		{ " debug", -EINVAL },
		{ "debug ", -EINVAL },
		{ "debu", -EINVAL },
		{ "debugx", -EINVAL },
		{ "verbose", -EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = log_level_from_string(cases[i].s);
		if (r != cases[i].level)
			fail_msg("\"%s\": got %d, want %d", cases[i].s, r, cases[i].level);
	}
	assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

static void test_env_level(void **state _unused_)
{
	setenv("NBDM_LOG_LEVEL", "debug", 1);
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_DEBUG);
	log_debug("d");
	assert_string_equal(take(), "tst: debug: d\n");

	/* Read once: a -v and a later reopen (daemonising) keep the level the program set. */
	log_set_max_level(LOG_WARNING);
	setenv("NBDM_LOG_LEVEL", "7", 1);
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_WARNING);

	/* After log_close(), read again; numbers work too. */
	log_close();
	setenv("NBDM_LOG_LEVEL", "3", 1);
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_ERR);

	/* Nonsense is ignored, loudly. */
	log_close();
	setenv("NBDM_LOG_LEVEL", "loud", 1);
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	assert_string_equal(take(), "tst: Ignoring invalid NBDM_LOG_LEVEL=loud.\n");

	/* Unset: the default. */
	log_close();
	unsetenv("NBDM_LOG_LEVEL");
	log_open("tst", LOG_TARGET_STDERR);
	assert_int_equal(log_get_max_level(), LOG_NOTICE);
	assert_string_equal(take(), "");
}

static void set_journal_stream(int fd, int ino_delta)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino + (unsigned long long)ino_delta);
	assert_int_equal(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void test_journal(void **state _unused_)
{
	set_journal_stream(STDERR_FILENO, 0);
	log_open("tst", LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);

	log_set_max_level(LOG_DEBUG);
	log_error("e");
	log_warning("w");
	log_notice("n");
	log_info("i");
	log_debug("d");
	assert_int_equal(log_error_errno(-ENOENT, "gone: %m"), -ENOENT);
	assert_string_equal(take(),
			    "<3>e\n<4>w\n<5>n\n<6>i\n<7>d\n<3>gone: No such file or directory\n");

	/* Explicitly chosen, no environment needed. */
	log_close();
	unsetenv("JOURNAL_STREAM");
	log_open("tst", LOG_TARGET_JOURNAL);
	log_error("x");
	assert_string_equal(take(), "<3>x\n");
}

/* The kernel's log: one record per line, with the daemon facility and our name and pid. */
static void test_kmsg(void **state _unused_)
{
	char path[64], expect[256], got[512];
	int fd = memfd_create("kmsg", MFD_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	assert_int_equal(setenv("NBDM_KMSG_PATH", path, 1), 0);
	log_open("gen", LOG_TARGET_KMSG);
	assert_int_equal(log_get_target(), LOG_TARGET_KMSG);
	log_error("line %d is bad", 3);
	log_notice("n");
	log_debug("not shown");
	snprintf(expect, sizeof(expect), "<27>gen[%d]: line 3 is bad\n<29>gen[%d]: n\n", (int)getpid(),
		 (int)getpid());
	n = pread(fd, got, sizeof(got) - 1, 0);
	assert_true(n >= 0);
	got[n] = '\0';
	assert_string_equal(got, expect);
	assert_string_equal(take(), ""); /* nothing on stderr */
	close(fd);

	/* Where the kernel's log cannot be opened, stderr takes the lines. */
	assert_int_equal(setenv("NBDM_KMSG_PATH", "/nonexistent/kmsg", 1), 0);
	log_open("gen", LOG_TARGET_KMSG);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	log_error("x");
	assert_string_equal(take(), "gen: x\n");
	unsetenv("NBDM_KMSG_PATH");
}

static void test_auto_not_journal(void **state _unused_)
{
	static const char *const bad[] = { "", ":", "1", "1:", ":1", "a:b", "1:2:3", "1 :2" };
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* JOURNAL_STREAM naming some other file (stderr was redirected since, 2>file in a script a
	 * service runs): the file the caller chose. */
	set_journal_stream(STDERR_FILENO, 1);
	log_open("tst", LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
	log_close();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("JOURNAL_STREAM", bad[i], 1);
		log_open("tst", LOG_TARGET_AUTO);
		assert_int_equal(log_get_target(), LOG_TARGET_STDERR);
		log_close();
	}

	/* A stderr that leads nowhere (a daemon's /dev/null): syslog, with or without the variable.
	 * Nothing is logged, so the host's syslog stays clean. */
	assert_true(null >= 0);
	assert_int_equal(dup2(null, STDERR_FILENO), STDERR_FILENO);
	set_journal_stream(STDERR_FILENO, 1);
	log_open("tst", LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	log_close();
	unsetenv("JOURNAL_STREAM");
	log_open("tst", LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_SYSLOG);
	assert_int_equal(dup2(capture_fd, STDERR_FILENO), STDERR_FILENO);
	close(null);

	/* Switching back from syslog to stderr works (the daemon case, in reverse). */
	log_open("tst", LOG_TARGET_STDERR);
	log_error("back");
	assert_string_equal(take(), "tst: back\n");
}

static void test_auto_tty(void **state _unused_)
{
	int master, slave;
	char *name;

	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		skip();
	if (grantpt(master) < 0 || unlockpt(master) < 0 || !(name = ptsname(master))) {
		close(master);
		skip();
	}
	slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		close(master);
		skip();
	}

	/* A terminal wins even over a JOURNAL_STREAM that matches. */
	assert_int_equal(dup2(slave, STDERR_FILENO), STDERR_FILENO);
	set_journal_stream(STDERR_FILENO, 0);
	log_open("tst", LOG_TARGET_AUTO);
	assert_int_equal(log_get_target(), LOG_TARGET_STDERR);

	assert_int_equal(dup2(capture_fd, STDERR_FILENO), STDERR_FILENO);
	close(slave);
	close(master);
}

static void test_long_line(void **state _unused_)
{
	char big[5000];
	const char *out;
	size_t n;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	log_open("tst", LOG_TARGET_STDERR);
	log_error("%s", big);
	out = take();
	n = strlen(out);

	/* Cut, marked as cut, still one line, and written once (so in one piece). */
	assert_true(n > 1000 && n < 4096);
	assert_memory_equal(out, "tst: aaaa", 9);
	assert_memory_equal(out + n - 4, "...\n", 4);
	assert_ptr_equal(strchr(out, '\n'), out + n - 1);

	/* Exactly at the limit nothing is cut. Find it by growing until "..." appears. */
	size_t longest = 0;
	for (size_t len = 1900; len < 2100; len++) {
		big[len] = '\0';
		log_error("%s", big);
		out = take();
		big[len] = 'a';
		if (strstr(out, "..."))
			break;
		assert_int_equal(strlen(out), strlen("tst: ") + len + 1);
		longest = len;
	}
	assert_true(longest > 1900);
}

#define THREADS 8
#define LINES_PER_THREAD 500

static void *log_thread(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_error("thread %d line %04d %s", id, i, "padding-padding-padding-padding-padding");
	return NULL;
}

static void test_threads(void **state _unused_)
{
	pthread_t threads[THREADS];
	int seen[THREADS] = { 0 };
	char *save = NULL;

	log_open("tst", LOG_TARGET_STDERR);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, log_thread, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);

	/* Every line whole and in its own thread's order: no torn or interleaved writes. */
	char *all = (char *)take();
	int lines = 0;
	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		int id, idx, end = 0;

		if (sscanf(line, "tst: thread %d line %d padding-padding-padding-padding-padding%n", &id,
			   &idx, &end) != 2 || line[end] != '\0')
			fail_msg("torn line: \"%s\"", line);
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(idx, seen[id]);
		seen[id]++;
		lines++;
	}
	assert_int_equal(lines, THREADS * LINES_PER_THREAD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stderr_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_before_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verbosity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errno_return, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_from_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kmsg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_not_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auto_tty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
