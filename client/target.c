/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TARGET arguments (target.h): an NBD URI (uri.c), a local image (local-target.c), or the plain
 * forms HOST, HOST:PORT, [IPv6]:PORT and Unix socket paths, parsed here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/local-target.h"
#include "client/target.h"
#include "client/uri.h"
#include "common/log.h"
#include "common/macro.h"
#include "proto/nbd-protocol.h"

/*
 * A host name or an IPv4 address as getaddrinfo() takes it: no spaces, and none of the characters
 * that would make it a URI, a path or a list. IPv6 addresses are checked by
 * client_is_ipv6_address().
 */
static bool is_host_name(const char *s)
{
	if (*s == '\0' || *s == '-')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("/?#@[]%\\\"'<>`{}|^,;=", *s))
			return false;
	return true;
}

#define TARGET_FORMS "expected HOST, HOST:PORT, [IPV6]:PORT, a socket path or an NBD URI"

static int target_port(const char *arg, const char *port, struct client_target *n)
{
	int r;

	if (*port == '\0') {
		log_error("invalid target '%s': nothing after ':' (leave the ':' out for port %u)",
			  arg, NBD_DEFAULT_PORT);
		return -EINVAL;
	}
	r = client_parse_port(port, &n->port);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("invalid port '%s' in '%s': " CLIENT_PORT_EXPECTED, port, arg);
		return -EINVAL;
	}
	return 0;
}

int client_parse_target(const char *arg, struct client_target *t)
{
	_cleanup_(client_target_free) struct client_target n = CLIENT_TARGET_INIT;
	const char *colon;
	int r;

	if (client_is_local_target(arg))
		return client_parse_local_target(arg, t);
	if (client_is_uri(arg))
		return client_parse_uri(arg, t);

	if (arg[0] == '/' || strncmp(arg, "./", 2) == 0 || strncmp(arg, "../", 3) == 0) {
		if (strlen(arg) > CLIENT_SOCKET_PATH_MAX) {
			log_error("socket path '%s' is longer than %zu bytes, the most a Unix "
				  "socket address holds", arg, CLIENT_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		n.kind = TARGET_UNIX;
		n.socket_path = strdup(arg);
		if (!n.socket_path)
			return log_oom();
	} else if (arg[0] == '[') {
		const char *close = strchr(arg, ']');

		if (!close) {
			log_error("invalid target '%s': '[' without a closing ']'; expected "
				  "[ADDRESS] or [ADDRESS]:PORT", arg);
			return -EINVAL;
		}
		n.host = strndup(arg + 1, (size_t)(close - arg - 1));
		if (!n.host)
			return log_oom();
		if (!client_is_ipv6_address(n.host)) {
			log_error("invalid target '%s': '%s' in brackets is not an IPv6 address",
				  arg, n.host);
			return -EINVAL;
		}
		if (close[1] == ':') {
			r = target_port(arg, close + 2, &n);
			if (r < 0)
				return r;
		} else if (close[1] != '\0') {
			log_error("invalid target '%s': expected ':PORT' or nothing after ']'",
				  arg);
			return -EINVAL;
		}
		n.kind = TARGET_TCP;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':')) {
			/* Several ':' can only be an IPv6 address, which then has no port. */
			if (!client_is_ipv6_address(arg)) {
				log_error("invalid target '%s': not an IPv6 address (write "
					  "[ADDRESS]:PORT to give an IPv6 address a port)", arg);
				return -EINVAL;
			}
			n.host = strdup(arg);
		} else {
			n.host = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
		}
		if (!n.host)
			return log_oom();
		if (!(colon && strchr(colon + 1, ':')) && !is_host_name(n.host)) {
			if (strchr(n.host, '/'))
				log_error("invalid target '%s': a Unix socket path starts with / "
					  "or ./", arg);
			else
				log_error("invalid target '%s': " TARGET_FORMS, arg);
			return -EINVAL;
		}
		if (colon && !strchr(colon + 1, ':')) {
			r = target_port(arg, colon + 1, &n);
			if (r < 0)
				return r;
		}
		n.kind = TARGET_TCP;
	}
	if (client_target_default_port(&n) < 0)
		return log_oom();
	n.export_name = strdup("");
	if (!n.export_name)
		return log_oom();

	client_target_replace(t, &n);
	return 0;
}
