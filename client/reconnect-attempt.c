/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "client/connection.h"
#include "client/reconnect-attempt.h"
#include "client/tls-relay.h"
#include "common/macro.h"

/* The getaddrinfo() and handshake of an attempt need little stack (NSS modules and sanitizers a bit
 * more); with -s everything is locked in memory, so the default 8 MiB would all be resident. */
#define ATTEMPT_STACK_SIZE (512 * 1024)

static void *attempt_run(void *userdata)
{
	struct reconnect_attempt *at = userdata;
	const uint64_t one = 1;

	for (; at->got < at->wanted; at->got++) {
		int fd = -1;

		at->error = client_open_export(at->o, -1, NBD_NEG_ATTACH, at->connect_timeout_ms,
					       at->negotiate_timeout_ms, &fd, &at->relays[at->got],
					       &at->res[at->got], &at->message);
		if (at->error < 0)
			break;
		at->fds[at->got] = fd;
	}
	(void)!write(at->done_fd, &one, sizeof(one));
	return NULL;
}

int reconnect_attempt_start(const struct client_options *o, size_t wanted, int connect_timeout_ms,
			    int negotiate_timeout_ms, int done_fd, struct reconnect_attempt **ret)
{
	_cleanup_free_ struct reconnect_attempt *at = calloc(1, sizeof(*at));
	pthread_attr_t attr;
	int r;

	if (!at)
		return -ENOMEM;
	at->o = o;
	at->done_fd = done_fd;
	at->wanted = MIN(wanted, (size_t)ATTACH_MAX_CONNECTIONS);
	at->connect_timeout_ms = connect_timeout_ms;
	at->negotiate_timeout_ms = negotiate_timeout_ms;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, ATTEMPT_STACK_SIZE);
	r = -pthread_create(&at->thread, &attr, attempt_run, at);
	pthread_attr_destroy(&attr);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(at);
	return 0;
}

void reconnect_attempt_join(struct reconnect_attempt *at)
{
	pthread_join(at->thread, NULL);
}

void reconnect_attempt_cancel(struct reconnect_attempt *at)
{
	pthread_cancel(at->thread);
	pthread_join(at->thread, NULL);
	reconnect_attempt_free(at);
}

void reconnect_attempt_free(struct reconnect_attempt *at)
{
	for (size_t i = 0; i < at->got; i++) {
		if (at->fds[i] >= 0)
			close(at->fds[i]);
		tls_relay_free(at->relays[i]);
	}
	for (size_t i = 0; i < at->wanted; i++)
		nbd_neg_result_free(at->res[i]);
	free(at->message);
	free(at);
}
