/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening connections to a server and negotiating on them: the one function every path goes through
 * (attach, --fd, list, info, reconnection), so that they all behave alike, TLS included.
 */
#pragma once

#include "client/options.h"
#include "proto/negotiate.h"

struct client_transport;
struct tls_relay;

struct tls_creds;

/* Runs the handshake over t; with cfg->tls, STARTTLS turns t into a TLS transport with tls's
 * credentials. On failure, *ret_message (when not NULL) gets a malloc'd sentence saying what went
 * wrong, with the server's own words when it sent any. Called only by client_open_export(), and
 * by tests. */
int client_negotiate(struct client_transport *t, const struct nbd_neg_config *cfg,
		     const struct tls_creds *tls, int timeout_ms, struct nbd_neg_result **ret,
		     char **ret_message);

/*
 * Opens one connection to o's target and negotiates on it: the one function every connection goes
 * through (attach, --fd, list, info, the supervisor's reconnections, and the list of exports after
 * an unknown one), so that every connection is set up alike and TLS joins in one place.
 *
 * given_fd >= 0 is a socket connected by the caller (--fd), of which a duplicate is used;
 * otherwise the target is connected to within connect_timeout_ms, and the socket tuned for NBD
 * (no Nagle; TCP keepalive and a user timeout so that a vanished server is noticed). The
 * handshake runs in mode (attach: the export, asking for block sizes, which the kernel will
 * honour; info; list) within negotiate_timeout_ms over a transport (transport.h); for attach, o
 * can say that it is done elsewhere (--negotiated, -P). On success *ret_fd is the socket, ready
 * for the kernel, and *ret_res the handshake's result (NULL without a handshake). A TLS session
 * goes into the kernel's TLS with the socket, or, when a caller that can run a relay passes
 * ret_relay (the supervisor), to a relay (*ret_relay, NULL when none), as o's --tls-ktls says;
 * *ret_fd is then the relay's end for the kernel. On failure
 * nothing is logged: *ret_message gets a malloc'd sentence naming the target and the reason (NULL
 * if out of memory).
 */
int client_open_export(const struct client_options *o, int given_fd, enum nbd_neg_mode mode,
		       int connect_timeout_ms, int negotiate_timeout_ms, int *ret_fd,
		       struct tls_relay **ret_relay, struct nbd_neg_result **ret_res,
		       char **ret_message);

/* Loads (and keeps, for later connections) the TLS credentials o names, if any: 0, or a negative
 * errno with *ret_message saying which file and why. client_open_export() does it too; a caller
 * that runs this first knows that a later failure is the connection's, not a file's. */
int client_load_tls(const struct client_options *o, char **ret_message);

/* After an unknown export: logs the exports the server does have (or that it will not say). */
void client_log_exports(const struct client_options *o);

/* "host:port", "[v6]:port" or the socket path, for messages. */
const char *client_target_string(const struct client_target *t, char *buf, size_t len);
