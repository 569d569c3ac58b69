/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server's bash completion (completion/nbd-server) offers what the program takes: every long
 * option of its table (server/options-apply.c) in the list that says whether it takes a value, and
 * the short options that take one. An option added to the program without its completion fails
 * here. What the completion does with them is tested by test-completion.sh.
 */
#include "tests/unit/completion-lists.h"

#include "common/macro.h"
#include "server/options.h"

static void test_options(void **state _unused_)
{
	static const char *const hidden[] = { NULL };

	completion_check_options("_nbd_server_", server_options, hidden);
}

static void test_short_value_options(void **state _unused_)
{
	struct completion_list listed;
	char want[64];

	completion_short_value_options(server_short_options, want, sizeof(want));
	completion_list_read("_nbd_server_", "short_value_options", &listed);
	assert_int_equal(listed.n, 1);
	assert_string_equal(listed.words[0], want);
	completion_list_free(&listed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_short_value_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
