/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A multifile export (the `multifile` key, -m): PATH.0, PATH.1, ... up to the first number that does
 * not exist, served as one disk made of the files one after another, each with the size it has (as
 * the reference nbd-server does: filesize does not apply). The parts are opened at start-up, so a
 * part added later is not seen until the export is opened again (a reload that changes it, or a
 * restart).
 *
 * Same contract as backend.h: thread-safe, 0 or a negative errno, all or nothing per call.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct multifile;

/* Opens the parts; -ENOENT when PATH.0 does not exist. *ret_size: the total. */
int multifile_open(const char *path, bool read_only, bool direct, struct multifile **ret,
		   uint64_t *ret_size);
struct multifile *multifile_close(struct multifile *m);
size_t multifile_parts(const struct multifile *m);

int multifile_pread(struct multifile *m, void *buf, size_t len, uint64_t offset);
int multifile_pwrite(struct multifile *m, const void *buf, size_t len, uint64_t offset);
int multifile_flush(struct multifile *m);
/* Deallocates (punch) or zeroes the range in every part it covers; fast_only: -ENOTSUP rather than
 * writing zeros. */
int multifile_zero(struct multifile *m, uint64_t offset, uint64_t len, bool punch, bool fast_only);
