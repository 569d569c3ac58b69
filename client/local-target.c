/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/local-target.h"
#include "common/log.h"
#include "common/macro.h"

#define LOCAL_FORMS "file:///PATH[?cow=OVERLAY] or memory:SIZE"

bool client_is_local_target(const char *arg)
{
	return strncmp(arg, "file:", 5) == 0 || strncmp(arg, "memory:", 7) == 0;
}

/* path made absolute against the current directory (the supervisor and the server change theirs),
 * without requiring it to exist. */
static char *absolute(const char *path)
{
	_cleanup_free_ char *cwd = NULL;
	char *s;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (!cwd || asprintf(&s, "%s/%s", cwd, path) < 0)
		return NULL;
	return s;
}

static int parse_file(const char *arg, struct client_target *n)
{
	const char *path = arg + 5;
	_cleanup_free_ char *bare = NULL;
	char *query;

	if (strncmp(path, "//", 2) == 0) {
		path += 2;
		if (path[0] != '/') {
			log_error("invalid target '%s': a file: URI names a file of this machine, "
				  "without a host: file:///PATH", arg);
			return -EINVAL;
		}
	}
	bare = strdup(path);
	if (!bare)
		return log_oom();
	query = strchr(bare, '?');
	if (query) {
		*query++ = '\0';
		if (strncmp(query, "cow=", 4) != 0 || !query[4] || strchr(query, '&')) {
			log_error("invalid target '%s': the only query a file: target takes is "
				  "cow=OVERLAY (an overlay file for the writes)", arg);
			return -EINVAL;
		}
		n->cow_path = absolute(query + 4);
		if (!n->cow_path)
			return log_oom();
	}
	if (!*bare) {
		log_error("invalid target '%s': no file; expected " LOCAL_FORMS, arg);
		return -EINVAL;
	}
	n->image_path = realpath(bare, NULL);
	if (!n->image_path)
		return log_error_errno(errno, "Cannot use the image %s: %m", bare);
	return 0;
}

int client_parse_local_target(const char *arg, struct client_target *t)
{
	_cleanup_(client_target_free) struct client_target n = CLIENT_TARGET_INIT;
	int r;

	n.kind = TARGET_LOCAL;
	if (strncmp(arg, "memory:", 7) == 0) {
		if (client_parse_size(arg + 7, &n.memory_size) < 0) {
			log_error("invalid memory disk '%s': %s", arg, CLIENT_SIZE_EXPECTED);
			return -EINVAL;
		}
	} else {
		r = parse_file(arg, &n);
		if (r < 0)
			return r;
	}
	/* The name the local server gives its one export. */
	n.export_name = strdup("image");
	if (!n.export_name)
		return log_oom();
	client_target_replace(t, &n);
	return 0;
}
