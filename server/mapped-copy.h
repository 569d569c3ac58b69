/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Copies to and from a file's shared memory mapping, for files that live in memory (tmpfs, ramfs,
 * memfd), where a copy costs a fraction of the pread()/pwrite() it replaces.
 *
 * A mapped page that cannot be had raises SIGBUS at the copy: the file was truncated under the
 * server, or tmpfs had no room for a page first written in a hole. The copy then stops and returns
 * -EFAULT, and the caller does the same I/O with a system call, which gives the real answer (zeros
 * past the end of the file, ENOSPC).
 */
#pragma once

#include <stddef.h>

/* Installs the SIGBUS handler that stops a guarded copy; once per process, before any copy. A
 * SIGBUS outside a copy still ends the process, as it would without the handler. */
int mapped_copy_init(void);

/* memcpy() that returns -EFAULT instead of dying when a page of src or dst is beyond the file. */
int mapped_copy(void *dst, const void *src, size_t len);
