/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connection slots: how many connections serve each export name, and the server as a whole, for
 * maxconnections and -M. A slot is taken when a client is admitted to an export (GO or EXPORT_NAME)
 * and given back when that connection ends, so the count is exact whatever way a connection ends.
 * Counts are kept by name, not by export object, so that a reload that replaces an export keeps
 * counting the connections still on the old one.
 */
#pragma once

#include <pthread.h>

struct slot;

struct slots {
	pthread_mutex_t lock;
	struct slot *list;
	unsigned total;
};

void slots_init(struct slots *s);
void slots_free(struct slots *s);
/* Takes a slot of export `name` (at most export_max of them, 0: no limit) and of the server (at
 * most total_max). Returns 0, -EBUSY when the export is full, -EUSERS when the server is. With
 * take false, only says whether it could. */
int slots_take(struct slots *s, const char *name, unsigned export_max, unsigned total_max,
	       bool take);
void slots_give(struct slots *s, const char *name);
