/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Names are made for people reading /dev/disk/by-id and for nbd-generator's mount units, so they
 * keep the server's and the export's own spelling wherever udev allows it. They are not meant to
 * be taken apart again: a '-' inside a host or an export is not escaped (host names and export
 * names are full of them), so "nbd-a-b-c" may be server "a-b" or server "a". The ID_NBD_SERVER and
 * ID_NBD_EXPORT properties say exactly which.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "udev/stable-name.h"

#define TCP_PREFIX "nbd://"
#define UNIX_PREFIX "nbd+unix:///"
#define SOCKET_QUERY "?socket="

void nbd_backend_free(struct nbd_backend *b)
{
	free(b->host);
	free(b->port);
	free(b->socket_path);
	free(b->export_name);
	*b = (struct nbd_backend){ 0 };
}

/* nbd://HOST:PORT/EXPORT, as nbd-client writes it: always with a port, IPv6 in brackets. */
static int parse_tcp(const char *s, struct nbd_backend *b)
{
	const char *host = s, *host_end, *colon, *slash;

	if (*s == '[') {
		host = s + 1;
		host_end = strchr(host, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
		colon = host_end + 1;
	} else {
		colon = strchr(s, ':');
		slash = strchr(s, '/');
		if (!colon || (slash && slash < colon))
			return -EINVAL;
		host_end = colon;
	}
	slash = strchr(colon, '/');
	if (host_end == host || !slash || slash == colon + 1)
		return -EINVAL;
	b->host = strndup(host, (size_t)(host_end - host));
	b->port = strndup(colon + 1, (size_t)(slash - colon - 1));
	b->export_name = strdup(slash + 1);
	if (!b->host || !b->port || !b->export_name)
		return -ENOMEM;
	return 0;
}

/* nbd+unix:///EXPORT?socket=PATH */
static int parse_unix(const char *s, struct nbd_backend *b)
{
	const char *query = NULL;

	for (const char *p = strstr(s, SOCKET_QUERY); p; p = strstr(p + 1, SOCKET_QUERY))
		query = p;
	if (!query || query[strlen(SOCKET_QUERY)] == '\0')
		return -EINVAL;
	b->export_name = strndup(s, (size_t)(query - s));
	b->socket_path = strdup(query + strlen(SOCKET_QUERY));
	if (!b->export_name || !b->socket_path)
		return -ENOMEM;
	return 0;
}

int nbd_backend_parse(const char *identifier, struct nbd_backend *ret)
{
	struct nbd_backend b = { 0 };
	int r = -EINVAL;

	if (strncmp(identifier, TCP_PREFIX, strlen(TCP_PREFIX)) == 0)
		r = parse_tcp(identifier + strlen(TCP_PREFIX), &b);
	else if (strncmp(identifier, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0)
		r = parse_unix(identifier + strlen(UNIX_PREFIX), &b);
	if (r < 0) {
		nbd_backend_free(&b);
		return r;
	}
	*ret = b;
	return 0;
}

/* What udev keeps as it is in a link's name (its devnode whitelist). */
static bool udev_plain(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && strchr("#+-.:=@_", c));
}

char *udev_escape(const char *s)
{
	size_t n = 0;
	char *ret, *t;

	for (const char *p = s; *p; p++)
		n += udev_plain((unsigned char)*p) ? 1 : 4;
	ret = malloc(n + 1);
	if (!ret)
		return NULL;
	t = ret;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (udev_plain(*p)) {
			*t++ = (char)*p;
		} else {
			snprintf(t, 5, "\\x%02x", *p);
			t += 4;
		}
	}
	*t = '\0';
	return ret;
}

int nbd_stable_name(const struct nbd_backend *b, char **ret)
{
	_cleanup_free_ char *server = NULL, *where = NULL, *export_name = NULL;
	char *name = NULL;
	int n;

	if (b->socket_path) {
		where = strdup(b->socket_path);
	} else if (!b->port || strcmp(b->port, NBD_STABLE_NAME_DEFAULT_PORT) == 0) {
		where = strdup(b->host);
	} else {
		bool ipv6 = strchr(b->host, ':');

		if (asprintf(&where, ipv6 ? "[%s]:%s" : "%s:%s", b->host, b->port) < 0)
			where = NULL;
	}
	if (!where)
		return -ENOMEM;
	server = udev_escape(where);
	export_name = udev_escape(b->export_name);
	if (!server || !export_name)
		return -ENOMEM;
	n = asprintf(&name, "nbd-%s-%s", server, export_name);
	if (n < 0)
		return -ENOMEM;
	if ((size_t)n > NBD_STABLE_NAME_MAX) {
		free(name);
		return -ENAMETOOLONG;
	}
	*ret = name;
	return 0;
}

int nbd_stable_name_from_identifier(const char *identifier, char **ret)
{
	struct nbd_backend b;
	int r;

	r = nbd_backend_parse(identifier, &b);
	if (r < 0)
		return r;
	r = nbd_stable_name(&b, ret);
	nbd_backend_free(&b);
	return r;
}
