/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "server/allow.h"

int allow_list_compile(char *const *entries, struct allow_list *ret)
{
	struct allow_list l = { .everyone = !entries };
	size_t n = 0;

	if (entries)
		while (entries[n])
			n++;
	if (n) {
		l.nets = calloc(n, sizeof(*l.nets));
		if (!l.nets)
			return -ENOMEM;
	}
	for (; l.n < n; l.n++) {
		int r = cidr_parse(entries[l.n], &l.nets[l.n]);

		if (r < 0) {
			free(l.nets);
			return r;
		}
	}
	*ret = l;
	return 0;
}

void allow_list_done(struct allow_list *l)
{
	free(l->nets);
	*l = (struct allow_list){ .everyone = true };
}

bool allow_list_permits(const struct allow_list *l, const struct sockaddr_storage *addr)
{
	if (l->everyone)
		return true;
	if (addr->ss_family != AF_INET && addr->ss_family != AF_INET6)
		return true; /* local clients are governed by the socket's file permissions */
	for (size_t i = 0; i < l->n; i++)
		if (cidr_match(&l->nets[i], addr))
			return true;
	return false;
}
