/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "common/sockaddr-name.h"

const char *sockaddr_name(const struct sockaddr_storage *a, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0 || a->ss_family == AF_UNIX)
		snprintf(buf, size, "local");
	else if (a->ss_family == AF_INET &&
		 inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof(host)))
		snprintf(buf, size, "%s:%u", host, ntohs(((const struct sockaddr_in *)a)->sin_port));
	else if (a->ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host, sizeof(host)))
		snprintf(buf, size, "[%s]:%u", host,
			 ntohs(((const struct sockaddr_in6 *)a)->sin6_port));
	else
		snprintf(buf, size, "unknown");
	return buf;
}
