/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening connections to a server and negotiating on them: the one function every path goes through
 * (attach, list, info, and later reconnection and TLS), so that they all behave alike.
 */
#pragma once

#include "client/options.h"
#include "proto/negotiate.h"

/* Connects to a TCP or Unix target within timeout_ms, and tunes the socket for NBD (no Nagle; TCP
 * keepalive and a user timeout so a vanished server is noticed). Returns the fd. On failure, logs
 * nothing and returns a negative errno; the caller names the target. */
int client_connect(const struct client_target *t, int timeout_ms);

/* Runs the handshake on fd. On failure, *ret_message (when not NULL) gets a malloc'd sentence
 * saying what went wrong, with the server's own words when it sent any. */
int client_negotiate(int fd, const struct nbd_neg_config *cfg, int timeout_ms,
		     struct nbd_neg_result **ret, char **ret_message);

/*
 * Opens one connection to o's target: connects within connect_timeout_ms and negotiates in mode
 * (attach: the export, asking for block sizes, which the kernel will honour; info; list) within
 * negotiate_timeout_ms. For attach, o can say that the handshake is done elsewhere (--negotiated,
 * -P). Attach, reconnection, list and info all come here, so every connection is set up alike. On
 * success *ret_res is the handshake's result (NULL without a handshake). On failure nothing is
 * logged: *ret_message gets a malloc'd sentence naming the target and the reason (NULL if out of
 * memory).
 */
int client_open_export(const struct client_options *o, enum nbd_neg_mode mode,
		       int connect_timeout_ms, int negotiate_timeout_ms, int *ret_fd,
		       struct nbd_neg_result **ret_res, char **ret_message);

/* After an unknown export: logs the exports the server does have (or that it will not say). */
void client_log_exports(const struct client_target *t);

/* "host:port", "[v6]:port" or the socket path, for messages. */
const char *client_target_string(const struct client_target *t, char *buf, size_t len);
