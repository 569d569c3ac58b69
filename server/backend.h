/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Storage behind an export: a regular file, a block device, or sparse memory (a memfd, so that memory
 * exports share every code path with files: holes, punching, SEEK_DATA).
 *
 * Every function is safe to call from several threads at once, returns 0 or a negative errno, and
 * transfers all it is asked to or fails.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macro.h"

struct backend {
	int fd;
	uint64_t size;
	bool read_only;
	bool block_device;
	bool sync;          /* every write durable before it returns */
	bool direct;        /* O_DIRECT: buffers and offsets must be aligned to `alignment` */
	bool can_trim;
	bool can_extents;   /* SEEK_DATA/SEEK_HOLE report real holes */
	bool rotational;
	bool may_block;     /* I/O can wait for a device: run it off the event loop */
	atomic_bool dense;  /* seen without holes, and none punched by us since (a hint for READ) */
	uint32_t alignment; /* minimum I/O granularity (1, or the device's logical block size) */
	char *description;  /* what this is, for logs: the path or "memory" */
	struct cow *cow;    /* a copy-on-write view: I/O goes through the overlay, fd is -1 */
	struct multifile *multi; /* several files one after another: fd is -1 */
	struct backend *base; /* the view's base, owned by its export */
};

struct cow;

struct backend_open_args {
	const char *path;   /* NULL: memory */
	uint64_t size;      /* memory: required; file: 0 = its size, else create/extend to this */
	bool read_only;
	bool direct;
	bool sync;
	bool multifile;     /* path is PATH.0, PATH.1, ... (multifile.h) */
	bool temporary;     /* serve a new file made from path (PATH-XXXXXX), removed at once */
};

int backend_open(const struct backend_open_args *args, struct backend **ret);
/* A writable copy-on-write view of base (which stays read-only and owned by the caller). overlay_path
 * NULL: the overlay lives in memory and is discarded when the view is closed; otherwise it is kept in
 * that file (and PATH.map) and reused by the next run. */
int backend_open_cow(struct backend *base, const char *overlay_path, struct backend **ret);
/* A private overlay kept in an unnamed file in dir rather than in memory (cowdir). */
int backend_open_cow_in(struct backend *base, const char *dir, struct backend **ret);
struct backend *backend_close(struct backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct backend *, backend_close);

int backend_pread(struct backend *b, void *buf, size_t len, uint64_t offset);
/* fua: the data is durable when this returns. */
int backend_pwrite(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua);
int backend_flush(struct backend *b);
/* A hint: the range's contents become unspecified. Unsupported is not an error. */
int backend_trim(struct backend *b, uint64_t offset, uint64_t len, bool fua);
/* The range reads back as zeros. may_punch: deallocating is fine; fast_only: fail with -ENOTSUP
 * rather than fall back to writing zeros. */
int backend_zero(struct backend *b, uint64_t offset, uint64_t len, bool may_punch, bool fast_only,
		 bool fua);
/* Prefetch hint. */
int backend_cache(struct backend *b, uint64_t offset, uint64_t len);

/* Describes [offset, offset+len) as runs of data and holes: *ret_hole tells what the run starting at
 * offset is and *ret_len how long it is (at most len). Without hole support everything is data. */
int backend_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		   uint64_t *ret_len);
/* The same for a READ's chunks, where a hole described as data only costs sending its zeros: a file
 * once seen without holes is taken to stay so until this server punches one, which spares a system
 * call per READ (another process punching holes makes them read as zeros in data chunks). */
int backend_read_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
			uint64_t *ret_len);
