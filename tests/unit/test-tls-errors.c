/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mappings callers branch on (retry on EAGAIN, give up on ENOMEM or EACCES, "not found") are
 * checked one by one; the rest only has to land on the generic value and
 * never on 0, which a caller would read as success.
 */

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>

#include "tls/errors.h"
#include "common/macro.h"

static void test_gnutls_mapping(void **state _unused_)
{
	static const struct {
		int code;
		int err;
	} cases[] = {
		{ GNUTLS_E_MEMORY_ERROR, ENOMEM },
		{ GNUTLS_E_AGAIN, EAGAIN },
		{ GNUTLS_E_INTERRUPTED, EINTR },
		{ GNUTLS_E_TIMEDOUT, ETIMEDOUT },
		{ GNUTLS_E_PREMATURE_TERMINATION, ECONNRESET },
		{ GNUTLS_E_PUSH_ERROR, ECONNRESET },
		{ GNUTLS_E_PULL_ERROR, ECONNRESET },
		{ GNUTLS_E_FILE_ERROR, ENOENT },
		{ GNUTLS_E_CERTIFICATE_ERROR, EACCES },
		{ GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR, EACCES },
		{ GNUTLS_E_CERTIFICATE_REQUIRED, EACCES },
		{ GNUTLS_E_INVALID_REQUEST, EINVAL },
		{ GNUTLS_E_DECRYPTION_FAILED, EPROTO },
		{ GNUTLS_E_UNEXPECTED_PACKET, EPROTO },
		{ GNUTLS_E_UNEXPECTED_PACKET_LENGTH, EPROTO },
		{ GNUTLS_E_FATAL_ALERT_RECEIVED, EPROTO },
		{ GNUTLS_E_UNSUPPORTED_VERSION_PACKET, EPROTO },
		{ GNUTLS_E_INTERNAL_ERROR, EIO },
		{ -99999, EPROTO },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = errno_from_gnutls(cases[i].code);
		if (r != cases[i].err)
			fail_msg("gnutls %d: got %d, want %d", cases[i].code, r, cases[i].err);
	}
	assert_int_equal(errno_from_gnutls(GNUTLS_E_SUCCESS), 0);

	/* No error code of gnutls maps to success or to a negative value. */
	for (int e = -1; e >= -500; e--)
		assert_true(errno_from_gnutls(e) > 0);
}

static void test_gnutls_message(void **state _unused_)
{
	static const int codes[] = {
		GNUTLS_E_MEMORY_ERROR, GNUTLS_E_AGAIN, GNUTLS_E_PREMATURE_TERMINATION,
		GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR, GNUTLS_E_DECRYPTION_FAILED, -99999,
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *m = gnutls_error_message(codes[i]);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
	}
	assert_string_equal(gnutls_error_message(GNUTLS_E_AGAIN), gnutls_strerror(GNUTLS_E_AGAIN));
	assert_string_not_equal(gnutls_error_message(GNUTLS_E_AGAIN),
				gnutls_error_message(GNUTLS_E_MEMORY_ERROR));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gnutls_mapping),
		cmocka_unit_test(test_gnutls_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
