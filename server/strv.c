/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NULL-terminated arrays of strings (strv.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/strv.h"

size_t strv_length(char *const *l)
{
	size_t n = 0;

	if (l)
		while (l[n])
			n++;
	return n;
}

int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char *copy, **grown;

	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	grown = realloc(*l, (n + 2) * sizeof(char *));
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	grown[n] = copy;
	grown[n + 1] = NULL;
	*l = grown;
	return 0;
}

bool strv_equal(char *const *a, char *const *b)
{
	size_t n = strv_length(a);

	if (!a || !b)
		return a == b;
	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

int strv_copy(char ***dst, char *const *src)
{
	char **l;
	size_t n = strv_length(src);

	if (!src) {
		*dst = NULL;
		return 0;
	}
	l = calloc(n + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l[i] = strdup(src[i]);
		if (!l[i]) {
			strv_free(l);
			return -ENOMEM;
		}
	}
	*dst = l;
	return 0;
}

void strv_free(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}
