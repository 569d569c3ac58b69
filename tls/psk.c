/* SPDX-License-Identifier: GPL-2.0-or-later */
/* psktool's key files: one "username:hexkey" per line. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "tls/tls.h"

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

int tls_psk_lookup(const char *path, const char *username, char **ret_username, char **ret_hexkey)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[1024];

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		char *colon, *key;

		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		colon = strchr(line, ':');
		if (!colon || colon == line || !is_hex(colon + 1))
			return -EBADMSG;
		*colon = '\0';
		key = colon + 1;
		if (username && strcmp(line, username) != 0)
			continue;
		{
			char *name = strdup(line), *hex = strdup(key);

			if (!name || !hex) {
				free(name);
				free(hex);
				return -ENOMEM;
			}
			*ret_username = name;
			*ret_hexkey = hex;
			return 0;
		}
	}
	return ferror(f) ? -EIO : -ESRCH;
}
