/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compiler attributes and scope-bound cleanup used by every layer.
 *
 * Ownership moves out of a _cleanup_ variable with TAKE_PTR()/TAKE_FD(), so that the error paths of a
 * function need no unwinding code and the success path states plainly what it hands back.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _nonnull_(...) __attribute__((nonnull(__VA_ARGS__)))
#define _must_check_ __attribute__((warn_unused_result))
#define _printf_(fmt, args) __attribute__((format(printf, fmt, args)))
#define _noreturn_ __attribute__((noreturn))
#define _unused_ __attribute__((unused))
#define _packed_ __attribute__((packed))
#define _public_ __attribute__((visibility("default")))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a)                                                                              \
	(__builtin_choose_expr(                                                                    \
		!__builtin_types_compatible_p(__typeof__(a), __typeof__(&*(a))),                   \
		sizeof(a) / sizeof((a)[0]), (void)0))

/* The struct that holds member ptr of type->member. */
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hand a pointer or fd out of a cleanup scope, leaving the scope variable empty. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _taken = (p);                                                        \
		(p) = NULL;                                                                        \
		_taken;                                                                            \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _taken = (fd);                                                                 \
		(fd) = -1;                                                                         \
		_taken;                                                                            \
	})

/* Define func##p(type *p) calling func(*p) when *p is not NULL, for use with _cleanup_. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
	static inline void func##p(type *p)                                                        \
	{                                                                                          \
		if (*p)                                                                            \
			func(*p);                                                                  \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes the fd and keeps errno, so a cleanup on an error path does not clobber the error. */
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

/* Closes fd when it is open (negative: nothing to do), keeping errno, and returns -EBADF, so that
 * `fd = safe_close(fd);` leaves no stale number behind. Unset fds are -EBADF, never 0. */
static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -EBADF;
}

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Turns a libc -1/errno result into a negative errno (never 0 on failure). */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}
