/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the unit tests: table-driven cases (CASE_CHECK names the failing case), output
 * capture for code that logs to stderr and prints to stdout (both go to memory files that the test
 * reads back and empties with capture_take()), and scratch directories removed whole.
 */
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* In a loop over a table of cases: fails naming the case and the condition. */
#define CASE_CHECK(name, cond)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fail_msg("case '%s': %s", (name), #cond);                                  \
	} while (0)

struct capture {
	int saved_stderr, saved_stdout; /* the real ones, restored by capture_end() */
	int err_fd, out_fd;             /* the memory files */
	char text[1 << 16];
};

#define CAPTURE_INIT { .saved_stderr = -1, .saved_stdout = -1, .err_fd = -1, .out_fd = -1 }

static inline int capture_open(int fd, int *saved, int *capture)
{
	*saved = dup(fd);
	*capture = memfd_create("capture", MFD_CLOEXEC);
	if (*saved < 0 || *capture < 0 || fcntl(*capture, F_SETFL, O_APPEND) < 0)
		return -1;
	return 0;
}

/* stderr goes to err_fd from now on; stdout is only redirected where a test does it itself (with
 * dup2(out_fd, STDOUT_FILENO)), since cmocka reports on it. */
static inline int capture_begin(struct capture *c)
{
	if (capture_open(STDERR_FILENO, &c->saved_stderr, &c->err_fd) < 0 ||
	    capture_open(STDOUT_FILENO, &c->saved_stdout, &c->out_fd) < 0 ||
	    dup2(c->err_fd, STDERR_FILENO) < 0)
		return -1;
	return 0;
}

static inline void capture_end(struct capture *c)
{
	if (c->saved_stderr >= 0) {
		dup2(c->saved_stderr, STDERR_FILENO);
		close(c->saved_stderr);
	}
	if (c->saved_stdout >= 0)
		close(c->saved_stdout);
	if (c->err_fd >= 0)
		close(c->err_fd);
	if (c->out_fd >= 0)
		close(c->out_fd);
	c->saved_stderr = c->saved_stdout = c->err_fd = c->out_fd = -1;
}

/* Everything written to fd (err_fd or out_fd) since the last call, as a string. */
static inline const char *capture_take(struct capture *c, int fd)
{
	struct stat st;
	ssize_t n;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true((size_t)st.st_size < sizeof(c->text));
	n = pread(fd, c->text, (size_t)st.st_size, 0);
	assert_int_equal(n, st.st_size);
	c->text[n] = '\0';
	assert_int_equal(ftruncate(fd, 0), 0);
	return c->text;
}

static inline int capture_remove_entry(const char *path, const struct stat *st, int flag,
				       struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes a scratch directory and everything in it. */
static inline void remove_tree(const char *dir)
{
	nftw(dir, capture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
