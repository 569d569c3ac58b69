/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client's bash completion (completion/nbd-client.in) offers what the program takes: every long
 * option of its table (client/args-table.c) in the list that says whether it takes a value, the
 * short options that take one, and the commands. An option added to the program without its
 * completion fails here. What the completion does with them is tested by test-completion.sh.
 */
#include "tests/unit/completion-lists.h"

#include "client/args-table.h"
#include "common/macro.h"

static void test_options(void **state _unused_)
{
	/* Gone from the reference long ago and ignored here: not offered. */
	static const char *const hidden[] = { "sdp", NULL };

	completion_check_options("_nbd_client_", args_options, hidden);
}

static void test_short_value_options(void **state _unused_)
{
	struct completion_list listed;
	char want[64];

	completion_short_value_options(args_short_options, want, sizeof(want));
	completion_list_read("_nbd_client_", "short_value_options", &listed);
	assert_int_equal(listed.n, 1);
	assert_string_equal(listed.words[0], want);
	completion_list_free(&listed);
}

static void test_commands(void **state _unused_)
{
	struct completion_list listed;
	size_t commands = 0;

	completion_list_read("_nbd_client_", "commands", &listed);
	for (size_t c = 0; c < ELEMENTSOF(args_command_names); c++) {
		/* -c's command, which has no word of its own. */
		if (c == CLIENT_CHECK)
			continue;
		if (!completion_list_has(&listed, args_command_names[c]))
			fail_msg("the command %s is not offered", args_command_names[c]);
		commands++;
	}
	assert_int_equal(listed.n, commands);
	completion_list_free(&listed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_short_value_options),
		cmocka_unit_test(test_commands),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
