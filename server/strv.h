/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NULL-terminated arrays of strings, as the configuration holds addresses and allow lists. A NULL
 * array is "not set", which differs from an empty one.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "common/macro.h"

size_t strv_length(char *const *l);
bool strv_equal(char *const *a, char *const *b); /* NULL equals only NULL */
int strv_push(char ***l, const char *s); /* appends a copy; creates the array when *l is NULL */
/* A deep copy; src NULL gives NULL. */
int strv_copy(char ***dst, char *const *src);
void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
