/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The inside of struct tls_creds, for the files of tls/ only. */
#pragma once

#include <stdatomic.h>

#include <gnutls/gnutls.h>

#include "common/macro.h"
#include "tls/tls.h"

struct tls_creds {
	atomic_uint refs; /* the loader's, and one per session (which GnuTLS points into) */
	enum tls_role role;
	gnutls_certificate_credentials_t x509;        /* NULL with PSK */
	gnutls_psk_client_credentials_t psk_client;
	gnutls_psk_server_credentials_t psk_server;
	gnutls_priority_t priority;
	char *hostname;            /* client: checked against the certificate; NULL: none given */
	bool verify_peer;          /* client */
	bool require_client_cert;  /* server with a CA */
};
