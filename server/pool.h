/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small pool of threads for work that may block: flushes, and I/O on storage that is not memory.
 * The event loops hand such requests here so that one slow disk operation never stalls the other
 * requests and connections of a worker.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>

struct pool_job {
	struct pool_job *next;
	/* Runs on a pool thread. */
	void (*run)(struct pool_job *job);
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pool_job *head, *tail;
	pthread_t *threads;
	unsigned n_threads;
	bool stopping;
};

int pool_start(struct pool *p, unsigned n_threads);
void pool_submit(struct pool *p, struct pool_job *job);
/* Runs the jobs already queued, then joins the threads. */
void pool_stop(struct pool *p);
