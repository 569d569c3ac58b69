/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The inside of struct tls_session, for the files of tls/ only (the kernel hand-off needs it). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/gnutls.h>

#include "tls/tls.h"

struct tls_session {
	gnutls_session_t g;
	struct tls_creds *creds; /* a reference */
	int fd;
	/* tls_session_queue_output(): ciphertext the socket did not take yet, in order. */
	bool queueing;
	unsigned char *out;
	size_t out_start, out_len, out_cap;
	/* What the peer's certificate must carry (verify_peer_certificate()); GnuTLS keeps a pointer
	 * to it for the session's life. */
	gnutls_typed_vdata_st verify[2];
	char error[512];
};
