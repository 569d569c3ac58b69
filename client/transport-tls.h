/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The TLS transport (transport-tls.c): STARTTLS's upgrade of a plain transport. */
#pragma once

#include <stddef.h>

#include "client/transport.h"
#include "tls/tls.h"

/*
 * Runs the TLS handshake on t's socket within timeout_ms and turns t into a TLS transport, whose
 * release() moves the session into the kernel's TLS. 0 (t->note describes the session), or a
 * negative errno with a sentence in why (a refused certificate: -EACCES); t then still owns the
 * socket and must be closed.
 */
int client_transport_start_tls(struct client_transport *t, const struct tls_creds *creds,
			       int timeout_ms, char *why, size_t why_len);
