/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An allow list in force: the entries of the configuration (addresses and CIDRs, checked when the
 * configuration was read) parsed once into networks when the configuration is put in force, and
 * matched against each client's address during its handshake.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common/cidr.h"

struct allow_list {
	bool everyone;     /* no list configured */
	struct cidr *nets; /* otherwise these; none lets no one in */
	size_t n;
};

/* entries NULL: everyone; otherwise a NULL-terminated list. -EINVAL or -ERANGE when an entry is
 * not an address or CIDR (cidr_parse()); *ret is untouched on failure. */
int allow_list_compile(char *const *entries, struct allow_list *ret);
void allow_list_done(struct allow_list *l);
/* Unix-socket peers (and stdio mode's, with no address) are always let in: the socket's file
 * permissions govern them. */
bool allow_list_permits(const struct allow_list *l, const struct sockaddr_storage *addr);
