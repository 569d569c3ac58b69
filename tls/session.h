/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The inside of struct tls_session, for the files of tls/ only (the kernel hand-off needs it). */
#pragma once

#include <gnutls/gnutls.h>

#include "tls/tls.h"

struct tls_session {
	gnutls_session_t g;
	const struct tls_creds *creds;
	char error[512];
};
