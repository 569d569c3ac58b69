/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "systemd/unit-name.h"

int path_simplify_absolute(const char *path, char **ret)
{
	char *out, *t;
	const char *p = path;

	if (path[0] != '/')
		return -EINVAL;
	out = malloc(strlen(path) + 1);
	if (!out)
		return -ENOMEM;
	t = out;
	while (*p) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return -EINVAL;
		}
		if (!(n == 1 && p[0] == '.')) {
			*t++ = '/';
			memcpy(t, p, n);
			t += n;
		}
		p += n;
	}
	if (t == out)
		*t++ = '/';
	*t = '\0';
	*ret = out;
	return 0;
}

static bool unit_plain(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == ':' || c == '_' || c == '.';
}

int unit_name_from_path(const char *path, const char *suffix, char **ret)
{
	_cleanup_free_ char *simple = NULL;
	char *name, *t;
	size_t len;
	int r;

	r = path_simplify_absolute(path, &simple);
	if (r < 0)
		return r;
	/* At most four bytes for each one of the path, with the suffix. */
	name = malloc(4 * strlen(simple) + strlen(suffix) + 2);
	if (!name)
		return -ENOMEM;
	t = name;
	if (strcmp(simple, "/") == 0) {
		*t++ = '-';
	} else {
		for (const char *p = simple + 1; *p; p++) {
			if (*p == '/')
				*t++ = '-';
			else if (unit_plain(*p) && !(p == simple + 1 && *p == '.'))
				*t++ = *p;
			else
				t += sprintf(t, "\\x%02x", (unsigned char)*p);
		}
	}
	strcpy(t, suffix);
	len = strlen(name);
	if (len > UNIT_NAME_MAX) {
		free(name);
		return -ENAMETOOLONG;
	}
	*ret = name;
	return 0;
}
