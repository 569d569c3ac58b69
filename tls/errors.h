/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GnuTLS's error codes as errno values and messages, so that the TLS code of both programs keeps
 * the negative-errno contract and a log line can still name GnuTLS's own reason.
 */
#pragma once

/* A POSITIVE errno for a negative GNUTLS_E_* code (callers negate it), 0 for GNUTLS_E_SUCCESS,
 * EPROTO for codes without a closer errno. */
int errno_from_gnutls(int gnutls_error);
/* GnuTLS's own static message, never NULL. */
const char *gnutls_error_message(int gnutls_error);
