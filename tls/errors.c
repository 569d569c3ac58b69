/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The errno chosen for each GnuTLS code is the one a caller would test for (-EAGAIN to retry,
 * -ENOMEM to give up, -EACCES for a refused certificate); the rest become EPROTO, and GnuTLS's
 * own message names them in a log.
 */
#include <errno.h>

#include <gnutls/gnutls.h>

#include "tls/errors.h"

int errno_from_gnutls(int gnutls_error)
{
	switch (gnutls_error) {
	case GNUTLS_E_SUCCESS:
		return 0;
	case GNUTLS_E_MEMORY_ERROR:
		return ENOMEM;
	case GNUTLS_E_AGAIN:
		return EAGAIN;
	case GNUTLS_E_INTERRUPTED:
		return EINTR;
	case GNUTLS_E_TIMEDOUT:
		return ETIMEDOUT;
	/* The transport under the session failed or the peer went away without a close_notify. */
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_SESSION_EOF:
		return ECONNRESET;
	case GNUTLS_E_FILE_ERROR:
		return ENOENT;
	/* Local misuse or bad configuration rather than anything the peer sent. */
	case GNUTLS_E_INVALID_REQUEST:
	case GNUTLS_E_INVALID_SESSION:
	case GNUTLS_E_CERTIFICATE_KEY_MISMATCH:
	case GNUTLS_E_BASE64_DECODING_ERROR:
	case GNUTLS_E_BASE64_UNEXPECTED_HEADER_ERROR:
	case GNUTLS_E_KEYFILE_ERROR:
	case GNUTLS_E_KEYFILE_PARSING_ERROR:
	case GNUTLS_E_PARSING_ERROR:
		return EINVAL;
	case GNUTLS_E_SHORT_MEMORY_BUFFER:
		return ENOBUFS;
	/*
	 * The peer is not who it must be, or would not show who it is: the connection is refused for
	 * lack of authority, which is what EACCES says. Callers that must tell this apart from a
	 * protocol fault (to stop retrying) can test for it.
	 */
	case GNUTLS_E_CERTIFICATE_ERROR:
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_REQUIRED:
	case GNUTLS_E_NO_CERTIFICATE_FOUND:
	case GNUTLS_E_INSUFFICIENT_CREDENTIALS:
	case GNUTLS_E_PK_SIG_VERIFY_FAILED:
		return EACCES;
	case GNUTLS_E_INTERNAL_ERROR:
		return EIO;
	/*
	 * Everything else (bad records, unexpected packets, failed decryption, alerts, no common cipher)
	 * is the peer not speaking TLS as agreed.
	 */
	default:
		return EPROTO;
	}
}

const char *gnutls_error_message(int gnutls_error)
{
	return gnutls_strerror(gnutls_error);
}
