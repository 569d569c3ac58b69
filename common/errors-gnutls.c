/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * gnutls's own message for its error codes. Apart from errors.c, because it is the one call into
 * gnutls there: a program that never uses TLS links no object that needs gnutls, and so does not
 * load it (nbd-client's supervisor stays small; see client/supervisor.c).
 */
#include <gnutls/gnutls.h>

#include "common/errors.h"

const char *gnutls_error_message(int gnutls_error)
{
	return gnutls_strerror(gnutls_error);
}
