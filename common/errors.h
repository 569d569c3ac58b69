/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one place where the error codes of libnl and gnutls become errno values and messages, so that
 * callers keep the negative-errno contract and a log line can still name the library's own reason.
 */
#pragma once

/*
 * Both mappers return a POSITIVE errno (callers negate it: `return -errno_from_libnl(r);`), 0 for the
 * library's success code, and a generic value (EIO for libnl, EPROTO for gnutls) for codes without a
 * closer errno. The messages are the libraries' own static strings, never NULL.
 */

/* libnl: a (positive or negative) NLE_* code. */
int errno_from_libnl(int nl_error);
const char *libnl_error_message(int nl_error);

/* gnutls: a negative GNUTLS_E_* code. */
int errno_from_gnutls(int gnutls_error);
const char *gnutls_error_message(int gnutls_error);
