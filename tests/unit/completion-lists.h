/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * For the tests that hold a bash completion's lists against a program's option table: a list as the
 * completion file defines it, read by sourcing the file in bash (the file defines functions and
 * arrays and calls `complete`, which needs no interactive shell and no bash-completion).
 * COMPLETION_FILE names the built file (tests/meson.build).
 */
#pragma once

#include <getopt.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define COMPLETION_MAX_WORDS 128

struct completion_list {
	size_t n;
	char *words[COMPLETION_MAX_WORDS];
};

/* The words of the bash variable PREFIXNAME (an array, or a string as one word). */
static inline void completion_list_read(const char *prefix, const char *name,
					struct completion_list *list)
{
	char command[256], line[256];
	FILE *f;

	assert_non_null(getenv("COMPLETION_FILE"));
	snprintf(command, sizeof(command),
		 "bash -c '. \"$COMPLETION_FILE\" && printf \"%%s\\n\" \"${%s%s[@]}\"'", prefix,
		 name);
	f = popen(command, "r");
	assert_non_null(f);
	list->n = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		assert_true(list->n < COMPLETION_MAX_WORDS);
		list->words[list->n] = strdup(line);
		assert_non_null(list->words[list->n]);
		list->n++;
	}
	assert_int_equal(pclose(f), 0);
	if (list->n == 0)
		fail_msg("the completion defines no %s%s", prefix, name);
}

static inline void completion_list_free(struct completion_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->words[i]);
	list->n = 0;
}

static inline bool completion_list_has(const struct completion_list *list, const char *word)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->words[i], word) == 0)
			return true;
	return false;
}

/*
 * Every option of the table but those in hidden (NULL-terminated) is in flags or values as --NAME,
 * in values exactly when it takes an argument that is not optional, and both lists hold nothing
 * else.
 */
static inline void completion_check_options(const char *prefix, const struct option *table,
					    const char *const *hidden)
{
	struct completion_list flags, values;
	size_t listed = 0;
	char name[128];

	completion_list_read(prefix, "flag_options", &flags);
	completion_list_read(prefix, "value_options", &values);
	for (const struct option *o = table; o->name; o++) {
		bool is_hidden = false;

		for (const char *const *h = hidden; *h; h++)
			is_hidden |= strcmp(*h, o->name) == 0;
		snprintf(name, sizeof(name), "--%s", o->name);
		if (is_hidden) {
			if (completion_list_has(&flags, name) || completion_list_has(&values, name))
				fail_msg("%s is offered, but is left out on purpose", name);
			continue;
		}
		if (o->has_arg == required_argument && !completion_list_has(&values, name))
			fail_msg("%s takes a value: it belongs in the completion's value_options",
				 name);
		if (o->has_arg != required_argument && !completion_list_has(&flags, name))
			fail_msg("%s takes no value (or an optional one after '='): it belongs in the "
				 "completion's flag_options",
				 name);
		listed++;
	}
	if (flags.n + values.n != listed)
		fail_msg("the completion offers %zu options, the program has %zu",
			 flags.n + values.n, listed);
	completion_list_free(&flags);
	completion_list_free(&values);
}

/* The short options of a getopt string that take a value, in its order. */
static inline void completion_short_value_options(const char *optstring, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = optstring; *p; p++)
		if (*p != '-' && *p != ':' && p[1] == ':' && n + 1 < size)
			buf[n++] = *p;
	buf[n] = '\0';
}
