/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the copy-on-write overlay: its state (cow.c does the I/O on it) and its files on disk
 * (cow-file.c: a named overlay and its map, or an unnamed file in a directory).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/cow.h"

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

/* A block range claimed by a modification in flight. */
struct busy {
	uint64_t first, last;
	struct busy *next;
};

struct cow {
	struct backend *base;
	int fd;
	uint64_t size, blocks;
	char *path;      /* NULL: anonymous */
	char *map_path;  /* PATH.map */
	char *tmp_path;  /* PATH.map.tmp */
	char *dir;       /* the directory holding them, fsynced after a rename */
	bool opened;     /* only a fully opened overlay writes its map back on close */

	pthread_mutex_t lock;
	pthread_cond_t idle;
	uint8_t *map;
	size_t map_bytes;
	uint64_t generation; /* bumped whenever a bit is set */
	struct busy *busy;

	pthread_mutex_t persist_lock;
	uint64_t persisted; /* the generation PATH.map holds (under persist_lock) */
};

/* Opens or creates the named overlay PATH and its map PATH.map (the rules are at the top of
 * cow.c), filling in c->fd, the paths and the map. */
int cow_overlay_open_named(struct cow *c, const char *path);
/* An unnamed file in dir for a private overlay; an fd or a negative errno. */
int cow_overlay_open_private_file(const char *dir);
/* Makes the overlay's data durable, then writes the map that describes it (a named overlay). */
int cow_overlay_persist(struct cow *c);
