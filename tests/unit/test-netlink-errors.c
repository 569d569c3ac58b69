/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mappings callers branch on (retry on EAGAIN, give up on ENOMEM or EACCES, "not found") are
 * checked one by one, in both signs; the rest only has to land on the generic value and
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
#include <netlink/errno.h>

#include "netlink/nl-errors.h"
#include "common/macro.h"

static void test_libnl_mapping(void **state _unused_)
{
	static const struct {
		int nle;
		int err;
	} cases[] = {
		{ NLE_NOMEM, ENOMEM },
		{ NLE_PERM, EPERM },
		{ NLE_NOACCESS, EACCES },
		{ NLE_OBJ_NOTFOUND, ENOENT },
		{ NLE_EXIST, EEXIST },
		{ NLE_INVAL, EINVAL },
		{ NLE_RANGE, ERANGE },
		{ NLE_BUSY, EBUSY },
		{ NLE_AGAIN, EAGAIN },
		{ NLE_INTR, EINTR },
		{ NLE_BAD_SOCK, EBADF },
		{ NLE_OPNOTSUPP, EOPNOTSUPP },
		{ NLE_AF_NOSUPPORT, EAFNOSUPPORT },
		{ NLE_MSGSIZE, EMSGSIZE },
		{ NLE_NOATTR, EBADMSG },
		{ NLE_MISSING_ATTR, EBADMSG },
		{ NLE_MSG_TRUNC, EMSGSIZE },
		{ NLE_SEQ_MISMATCH, EPROTO },
		{ NLE_PROTO_MISMATCH, EPROTONOSUPPORT },
		{ NLE_NODEV, ENODEV },
		{ NLE_IMMUTABLE, EROFS },
		{ NLE_OBJ_MISMATCH, EINVAL },
		{ NLE_DUMP_INTR, EAGAIN },
		{ NLE_FAILURE, EIO },
		{ NLE_MAX + 1, EIO },
		{ 100000, EIO },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int pos = errno_from_libnl(cases[i].nle), neg = errno_from_libnl(-cases[i].nle);

		if (pos != cases[i].err || neg != cases[i].err)
			fail_msg("NLE %d: got %d/%d, want %d", cases[i].nle, pos, neg, cases[i].err);
	}

	assert_int_equal(errno_from_libnl(0), 0);
	assert_int_equal(errno_from_libnl(INT_MIN), EIO);
	assert_int_equal(errno_from_libnl(INT_MAX), EIO);

	/* Every code libnl knows maps to a positive errno: nothing says "success" by accident. */
	for (int e = 1; e <= NLE_MAX; e++)
		assert_true(errno_from_libnl(-e) > 0);
}

static void test_libnl_message(void **state _unused_)
{
	for (int e = -NLE_MAX - 2; e <= NLE_MAX + 2; e++) {
		const char *m = libnl_error_message(e);
		assert_non_null(m);
		assert_true(strlen(m) > 0);
	}
	assert_non_null(libnl_error_message(INT_MIN));

	/* Both signs name the same error, and it is libnl's own text. */
	assert_string_equal(libnl_error_message(NLE_NOMEM), libnl_error_message(-NLE_NOMEM));
	assert_string_equal(libnl_error_message(-NLE_OBJ_NOTFOUND), nl_geterror(NLE_OBJ_NOTFOUND));
	assert_string_not_equal(libnl_error_message(-NLE_NOMEM), libnl_error_message(-NLE_PERM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libnl_mapping),
		cmocka_unit_test(test_libnl_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
