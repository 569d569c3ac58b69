/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * IPv4 and IPv6 networks written as ADDRESS or ADDRESS/PREFIX, parsed once and matched against
 * socket addresses.
 *
 * One rule for every caller: the prefix is decimal digits only (no sign, no "0x", at most three
 * digits) and at most 32 or 128; an entry without one is a single host. An IPv4 peer seen through a
 * dual-stack socket (::ffff:a.b.c.d) matches IPv4 networks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; the first 4 bytes for AF_INET */
	unsigned prefix;  /* bits that must match */
};

/* -EINVAL when s is not an address (or its prefix is not decimal), -ERANGE when the prefix is
 * longer than the address. *ret is untouched on failure. */
int cidr_parse(const char *s, struct cidr *ret);
/* Whether addr (AF_INET or AF_INET6) lies in the network; false for any other family. */
bool cidr_match(const struct cidr *c, const struct sockaddr_storage *addr);
