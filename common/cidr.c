/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "common/cidr.h"

int cidr_parse(const char *s, struct cidr *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct cidr c = { 0 };
	unsigned max;
	char *slash;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	c.prefix = max;
	if (slash) {
		/* Decimal digits only: a number parser taking "0x18" or " 24" would let entries
		 * mean something no one wrote. */
		size_t n = strlen(slash);

		if (n == 0 || n > 3 || strspn(slash, "0123456789") != n)
			return -EINVAL;
		c.prefix = 0;
		for (const char *p = slash; *p; p++)
			c.prefix = c.prefix * 10 + (unsigned)(*p - '0');
		if (c.prefix > max)
			return -ERANGE;
	}
	*ret = c;
	return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (!rest)
		return true;
	return ((a[bytes] ^ b[bytes]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool cidr_match(const struct cidr *c, const struct sockaddr_storage *addr)
{
	const uint8_t *peer;
	int family;

	if (addr->ss_family == AF_INET) {
		peer = (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr;
		family = AF_INET;
	} else if (addr->ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)addr)->sin6_addr;

		peer = a6->s6_addr;
		family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			peer = a6->s6_addr + 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	return family == c->family && prefix_match(c->addr, peer, c->prefix);
}
