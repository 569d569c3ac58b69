/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS relay: where the kernel cannot hold a session (no tls module, no CAP_NET_ADMIN, a cipher
 * it lacks) or the user asks for it (--tls-ktls=no), the nbd driver gets one end of a socketpair
 * and the supervisor carries the bytes between the other end and the TLS session over the network
 * socket. GnuTLS then reads every record, so key updates, session tickets, close_notify and alerts
 * are handled in user space. See tls-relay.c.
 */
#pragma once

#include <stdint.h>

#include "common/macro.h"

struct tls_session;
struct tls_relay;

/* Takes the session and its (connected, non-blocking) network socket, which the relay owns from
 * now on even on failure, and makes the socketpair: *ret_kernel_fd is the end for the nbd driver
 * (blocking, owned by the caller). 0, or a negative errno. */
int tls_relay_new(struct tls_session *session, int net_fd, struct tls_relay **ret,
		  int *ret_kernel_fd);
/* Ends the session (close_notify, best effort) and closes both of the relay's sockets. */
struct tls_relay *tls_relay_free(struct tls_relay *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tls_relay *, tls_relay_free);

/* The relay's two sockets, to be watched for input and output, edge-triggered: after any event,
 * tls_relay_pump(). */
int tls_relay_net_fd(const struct tls_relay *r);
int tls_relay_local_fd(const struct tls_relay *r);

/* Moves whatever can move, both ways, without blocking. 0 while the connection lives; a negative
 * errno once it is over (the server closed, an alert, a network error, or the nbd driver let its
 * end go), with tls_relay_error() saying which. */
int tls_relay_pump(struct tls_relay *r);
const char *tls_relay_error(const struct tls_relay *r);

/* Records the session has sent and received, for replacing it before its key wears out. */
int tls_relay_records(const struct tls_relay *r, uint64_t *ret_sent, uint64_t *ret_received);
