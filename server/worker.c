/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads (worker.h): each runs an epoll loop over its connections (conn.c), its inbox and
 * the completions of the pool (dispatch.c) and of its io_uring.
 *
 * New connections arrive through the inbox, a pipe carrying pointers, written by the accepting
 * thread; a NULL pointer asks the worker to finish its connections and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/io.h"
#include "common/log.h"
#include "server/conn.h"
#include "server/uring.h"
#include "server/wakeup.h"
#include "server/worker.h"

struct adoption {
	int rfd, wfd;
	socklen_t peer_len;
	struct sockaddr_storage peer;
};

static void worker_begin_stop(struct worker *w)
{
	struct conn *c, *next;

	w->stopping = true;
	/* Requests already read have run; what remains is to send their replies. */
	for (c = w->conns; c; c = next) {
		next = c->next;
		conn_drain_and_close(c);
	}
}

static void inbox_dispatch(struct loop_source *s, uint32_t events)
{
	struct worker *w = container_of(s, struct worker, inbox);
	struct adoption *a;

	for (;;) {
		ssize_t n = read(w->pipe[0], &a, sizeof(a));

		if (n != (ssize_t)sizeof(a))
			return;
		if (!a) {
			worker_begin_stop(w);
			continue;
		}
		if (w->stopping) {
			safe_close(a->rfd);
			if (a->wfd != a->rfd)
				safe_close(a->wfd);
			worker_connection_closed(w, &a->peer);
		} else if (conn_new(w, a->rfd, a->wfd, &a->peer, a->peer_len) < 0) {
			worker_connection_closed(w, &a->peer); /* conn_new() closed the fds */
		}
		free(a);
	}
}

static void uring_dispatch(struct loop_source *s, uint32_t events)
{
	struct worker *w = container_of(s, struct worker, uring_src);

	uring_complete(w->uring);
}

/* How long the loop may wait: not at all when a transport holds input, a millisecond while the ring
 * holds file I/O the kernel refused, else until the next handshake deadline, or for ever. */
static int wait_ms(const struct worker *w)
{
	int64_t left;

	if (w->rescan)
		return 0;
	/* File I/O the kernel refused to take: try again in a millisecond. */
	if (w->uring && uring_unsubmitted(w->uring))
		return 1;
	if (!w->next_deadline)
		return -1;
	left = w->next_deadline - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* epoll_wait(), or epoll_pwait2() when a coalescing wait ends sooner than wait_ms() can say. */
static int wait_events(struct worker *w, struct epoll_event *events, int max)
{
	static atomic_bool no_pwait2; /* shared by the workers */
	int ms = wait_ms(w), n;
	struct timespec ts;
	int64_t left;

	if (!w->coalesce_deadline || ms == 0)
		return epoll_wait(w->epfd, events, max, ms);
	left = w->coalesce_deadline - now_us();
	if (left <= 0)
		return epoll_wait(w->epfd, events, max, 0);
	if (ms >= 0 && (int64_t)ms * 1000 < left)
		left = (int64_t)ms * 1000;
	if (!atomic_load(&no_pwait2)) {
		ts = (struct timespec){ .tv_sec = left / 1000000,
					.tv_nsec = (long)(left % 1000000) * 1000 };
		n = epoll_pwait2(w->epfd, events, max, &ts, NULL);
		if (n >= 0 || (errno != ENOSYS && errno != EPERM))
			return n;
		/* Before Linux 5.11, or a seccomp filter that does not know it: the wait ends a
		 * millisecond on instead. */
		atomic_store(&no_pwait2, true);
	}
	return epoll_wait(w->epfd, events, max, (int)((left + 999) / 1000));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[64];

	/* A coalescing wait is a tenth of a millisecond: the default 50 us of timer slack would be
	 * half as much again. */
	(void)prctl(PR_SET_TIMERSLACK, 5000UL, 0, 0, 0);
	while (!w->stopping || w->conns) {
		int n = wait_events(w, events, (int)ELEMENTSOF(events));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno(errno, "Worker event loop failed: %m");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct loop_source *s = events[i].data.ptr;

			s->dispatch(s, events[i].events);
		}
		if (w->uring)
			uring_retry(w->uring);
		if (w->rescan) {
			w->rescan = false;
			conn_rescan(w);
		}
		if (w->coalesce_deadline) {
			int64_t now = now_us();

			if (now >= w->coalesce_deadline)
				w->coalesce_deadline = wakeup_expire(w, now);
		}
		if (w->next_deadline) {
			int64_t now = now_ms();

			if (now >= w->next_deadline)
				w->next_deadline = conn_expire_stalled(w, now);
		}
		/* Last: every event of the batch is dispatched, and whatever closed a connection
		 * above has run. */
		if (w->reap)
			conn_reap(w);
	}
	return NULL;
}

int workers_start(struct workers *ws, const struct worker_host *host, unsigned n)
{
	ws->items = calloc(n, sizeof(*ws->items));
	if (!ws->items)
		return -ENOMEM;
	ws->n = n;
	/* Every worker's fds are unset before any is made: a failure part-way leaves workers_stop()
	 * nothing to close that is not ours (calloc's zeros would be stdin). */
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws->items[i];

		w->host = host;
		w->epfd = w->pipe[0] = w->pipe[1] = -EBADF;
		w->done_src.fd = -EBADF;
		pthread_mutex_init(&w->done_lock, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &ws->items[i];
		struct epoll_event ev;
		int r;

		w->done_src = (struct loop_source){ .dispatch = dispatch_done,
						    .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
		if (w->done_src.fd < 0)
			return log_error_errno(errno, "Failed to create an eventfd: %m");
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			return log_error_errno(errno, "Failed to create an event loop: %m");
		if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			return log_error_errno(errno, "Failed to create a pipe: %m");
		w->inbox = (struct loop_source){ .fd = w->pipe[0], .dispatch = inbox_dispatch };
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->inbox };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pipe[0], &ev) < 0)
			return log_error_errno(errno, "Failed to watch a pipe: %m");
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->done_src };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->done_src.fd, &ev) < 0)
			return log_error_errno(errno, "Failed to watch an eventfd: %m");
		if (uring_new(256, &w->uring) == 0) {
			w->uring_src = (struct loop_source){ .fd = uring_eventfd(w->uring),
							     .dispatch = uring_dispatch };
			ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->uring_src };
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->uring_src.fd, &ev) < 0) {
				uring_free(w->uring);
				w->uring = NULL;
			}
		}
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			return log_error_errno(r, "Failed to start a worker thread: %m");
		w->started = true;
	}
	return 0;
}

static int send_to_worker(struct worker *w, struct adoption *a)
{
	/* Pointer-sized pipe writes are atomic, and the pipe holds thousands of them. */
	int r = write_full(w->pipe[1], &a, sizeof(a), -1);

	return r;
}

int worker_adopt(struct workers *ws, int rfd, int wfd, const struct sockaddr_storage *peer,
		 socklen_t peer_len)
{
	struct worker *w = &ws->items[ws->next++ % ws->n];
	struct adoption *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	*a = (struct adoption){ .rfd = rfd, .wfd = wfd, .peer_len = peer_len };
	if (peer_len)
		memcpy(&a->peer, peer, MIN((size_t)peer_len, sizeof(a->peer)));
	r = send_to_worker(w, a);
	if (r < 0)
		free(a);
	return r;
}

void workers_stop(struct workers *ws)
{
	struct adoption *stop = NULL;

	for (unsigned i = 0; i < ws->n; i++)
		if (ws->items[i].started)
			(void)write_full(ws->items[i].pipe[1], &stop, sizeof(stop), -1);
	for (unsigned i = 0; i < ws->n; i++) {
		struct worker *w = &ws->items[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		w->epfd = safe_close(w->epfd);
		w->pipe[0] = safe_close(w->pipe[0]);
		w->pipe[1] = safe_close(w->pipe[1]);
		w->done_src.fd = safe_close(w->done_src.fd);
		pthread_mutex_destroy(&w->done_lock);
		uring_free(w->uring);
	}
	free(ws->items);
	*ws = (struct workers){ 0 };
}
