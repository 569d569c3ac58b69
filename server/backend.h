/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Storage behind an export, as a chain of backends: each is a struct backend with its operations
 * (struct backend_ops), and a view such as copy-on-write sits on a lower backend and reaches it
 * through these same calls. The backends: a file, a block device or sparse memory (a memfd, so that
 * memory exports share every code path with files) in backend-file.c, several files one after
 * another in multifile.c, a directory of chunk files in backend-sharded.c, and a copy-on-write view
 * over any of them in cow.c. A new one is a new
 * file that fills in struct backend_ops, and a line where export.c picks the storage.
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

struct backend;

/* Each operation may assume the range lies inside the backend. */
struct backend_ops {
	const char *name;
	int (*pread)(struct backend *b, void *buf, size_t len, uint64_t offset);
	int (*pwrite)(struct backend *b, const void *buf, size_t len, uint64_t offset, bool fua);
	int (*flush)(struct backend *b);
	int (*trim)(struct backend *b, uint64_t offset, uint64_t len, bool fua);
	int (*zero)(struct backend *b, uint64_t offset, uint64_t len, bool may_punch,
		    bool fast_only, bool fua);
	/* Optional: without it, CACHE does nothing. */
	int (*cache)(struct backend *b, uint64_t offset, uint64_t len);
	/* Optional: without it, everything is data. */
	int (*extent)(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		      uint64_t *ret_len);
	/* Frees what priv holds (not the lower backend). */
	void (*close)(struct backend *b);
};

struct backend {
	const struct backend_ops *ops;
	void *priv;         /* the backend's own state */
	struct backend *lower; /* what a view sits on (owned by whoever opened it), else NULL */
	int fd;             /* the one file all bytes live in, -EBADF when there is none (views,
			     * multifile): only then may sendfile, splice and io_uring use it */
	uint8_t *map;       /* the file's bytes mapped shared, when they live in memory (tmpfs, ramfs,
			     * memfd) and are not O_DIRECT: copies then replace pread and pwrite (read-only
			     * mapping for a read-only export), else NULL */
	_Atomic uint64_t *map_prepared; /* a bit per 2 MiB of a writable map whose page
					 * tables were filled (backend_prepare_mapped_write()) */
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
};

struct backend_open_args {
	const char *path;   /* NULL: memory */
	uint64_t size;      /* memory: required; file: 0 = its size, else create/extend to this */
	bool read_only;
	bool direct;
	bool sync;
	bool temporary;     /* serve a new file made from path (PATH-XXXXXX), removed at once */
};

/* For the backends: a backend with ops, fd -EBADF, alignment 1, nothing else set. */
struct backend *backend_new(const struct backend_ops *ops);
/* Runs ops->close and frees b; the lower backend stays. */
struct backend *backend_close(struct backend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct backend *, backend_close);

/* A file, a block device, or memory (path NULL): backend-file.c. */
int file_backend_open(const struct backend_open_args *args, struct backend **ret);
/* Call before writing [offset, offset+len) through b->map: fills the page tables of the 2 MiB
 * chunks around it on the first write there, so that the copy does not fault once per page. Only
 * a hint; it never fails, and does nothing for a backend without a writable mapping. */
void backend_prepare_mapped_write(struct backend *b, uint64_t offset, size_t len);

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
 * offset is and *ret_len how long it is (at most len, never 0 for len > 0: an empty run from the
 * backend becomes data). Without hole support everything is data. */
int backend_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
		   uint64_t *ret_len);
/* The same for a READ's chunks, where a hole described as data only costs sending its zeros: a file
 * once seen without holes is taken to stay so until this server punches one, which spares a system
 * call per READ (another process punching holes makes them read as zeros in data chunks). */
int backend_read_extent(struct backend *b, uint64_t offset, uint64_t len, bool *ret_hole,
			uint64_t *ret_len);
