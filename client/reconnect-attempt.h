/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One reconnection attempt of the supervisor (supervisor.c): connect and negotiate the connections
 * a device lost, through the same function as attach, on a thread of its own, so that the
 * supervisor's loop answers signals while a server takes its time. The thread writes to an eventfd
 * when it is done; the supervisor then joins it and takes the sockets it opened.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include "client/attachment.h"
#include "client/options.h"
#include "proto/negotiate.h"

struct reconnect_attempt {
	const struct client_options *o;
	int done_fd;   /* an eventfd, written once the thread is done */
	size_t wanted; /* connections to open */
	int connect_timeout_ms, negotiate_timeout_ms;
	/* What the thread opened, in order: got of them (its first failure ends it). */
	int fds[ATTACH_MAX_CONNECTIONS];
	struct tls_relay *relays[ATTACH_MAX_CONNECTIONS]; /* where a session is relayed, or NULL */
	struct nbd_neg_result *res[ATTACH_MAX_CONNECTIONS];
	size_t got;
	int error;     /* the failure that ended it (negative errno), or 0 */
	char *message; /* its sentence, or NULL */
	pthread_t thread;
};

/* Starts a thread that opens wanted connections to o's target, each bounded by the two timeouts:
 * 0 with *ret set, or a negative errno. o must outlive the attempt. */
int reconnect_attempt_start(const struct client_options *o, size_t wanted, int connect_timeout_ms,
			    int negotiate_timeout_ms, int done_fd, struct reconnect_attempt **ret);
/* Waits for the thread, once done_fd said it is done. */
void reconnect_attempt_join(struct reconnect_attempt *at);
/* Ends a thread still connecting or negotiating (it waits only in system calls, which are
 * cancellation points), waits for it, and frees the attempt. */
void reconnect_attempt_cancel(struct reconnect_attempt *at);
/* Closes the sockets no slot took (those still in fds: a taker sets its entry to -1), ends their
 * relays, and frees the attempt. */
void reconnect_attempt_free(struct reconnect_attempt *at);
