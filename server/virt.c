/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macro.h"
#include "server/virt.h"

/* The client's address as 4 or 16 bytes; IPv4-mapped IPv6 addresses become IPv4. */
static int peer_bytes(const struct sockaddr_storage *peer, uint8_t addr[16], int *family)
{
	if (peer->ss_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (peer->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(addr, a->s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(addr, a->s6_addr, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -EINVAL;
}

static void mask(uint8_t addr[16], int family, unsigned bits)
{
	unsigned total = family == AF_INET ? 32 : 128;

	for (unsigned i = 0; i < total; i++)
		if (i >= bits)
			addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

/* What %s becomes. */
static int substitute(enum virtstyle style, unsigned cidr, const struct sockaddr_storage *peer,
		      char *buf, size_t size)
{
	char text[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN];
	uint8_t addr[16];
	int family;

	if (peer->ss_family == AF_UNIX || peer->ss_family == AF_UNSPEC) {
		snprintf(buf, size, "unix");
		return 0;
	}
	if (peer_bytes(peer, addr, &family) < 0 || !inet_ntop(family, addr, text, sizeof(text)))
		return -EINVAL;
	switch (style) {
	case VIRT_IPHASH:
		for (char *p = text; *p; p++)
			if (*p == '.')
				*p = '/';
		snprintf(buf, size, "%s", text);
		return 0;
	case VIRT_NONE:
	case VIRT_IPLITERAL:
		snprintf(buf, size, "%s", text);
		return 0;
	case VIRT_CIDRHASH:
		mask(addr, family, MIN(cidr, family == AF_INET ? 32u : 128u));
		if (!inet_ntop(family, addr, net, sizeof(net)))
			return -EINVAL;
		snprintf(buf, size, "%s/%s", net, text);
		return 0;
	}
	return -EINVAL;
}

int virt_path(const char *pattern, enum virtstyle style, unsigned cidr,
	      const struct sockaddr_storage *peer, char **ret)
{
	char sub[2 * INET6_ADDRSTRLEN + 2];
	size_t n = 0, cap, count = 0;
	char *out;
	int r;

	r = substitute(style, cidr, peer, sub, sizeof(sub));
	if (r < 0)
		return r;
	for (const char *p = pattern; (p = strstr(p, "%s")); p += 2)
		count++;
	cap = strlen(pattern) + count * strlen(sub) + 1;
	out = malloc(cap);
	if (!out)
		return -ENOMEM;
	for (const char *p = pattern; *p;) {
		if (p[0] == '%' && p[1] == 's') {
			memcpy(out + n, sub, strlen(sub));
			n += strlen(sub);
			p += 2;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	*ret = out;
	return 0;
}
