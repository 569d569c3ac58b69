/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/io.h"
#include "common/macro.h"
#include "common/sockstate.h"

#define TCP_STATE_ESTABLISHED 1 /* the kernel's TCP_ESTABLISHED, as /proc/net/tcp prints it */

int socket_inode(int fd, uint64_t *ret)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	*ret = (uint64_t)st.st_ino;
	return 0;
}

/*
 * Looks for the inode in one of /proc/net/tcp and tcp6: 1 established, 0 in another state,
 * -ENOENT not listed (a TCP socket that has closed leaves these tables, so absence is only
 * conclusive once the Unix table has been asked too).
 */
static int tcp_table_state(const char *table, uint64_t ino)
{
	_cleanup_fclose_ FILE *f = fopen(table, "re");
	char line[512];

	if (!f)
		return errno == ENOENT ? -ENOENT : negative_errno();
	if (!fgets(line, sizeof(line), f)) /* the header */
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		unsigned state;
		uint64_t inode;

		/* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ... */
		if (sscanf(line, "%*s %*s %*s %x %*s %*s %*s %*s %*s %" SCNu64, &state, &inode) != 2)
			continue;
		if (inode == ino)
			return state == TCP_STATE_ESTABLISHED;
	}
	return -ENOENT;
}

/* Asks sock_diag for the Unix socket with this inode: 1 connected and not shut down, 0 shut down
 * (by either side: a peer that closes shuts ours down), -ENOENT no such Unix socket. */
static int unix_socket_state(uint64_t ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} request = {
		.nlh = {
			.nlmsg_len = sizeof(request),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST,
		},
		.req = {
			.sdiag_family = AF_UNIX,
			.udiag_states = UINT32_MAX,
			.udiag_ino = (uint32_t)ino,
			.udiag_show = UDIAG_SHOW_PEER,
			.udiag_cookie = { UINT32_MAX, UINT32_MAX }, /* INET_DIAG_NOCOOKIE */
		},
	};
	_Alignas(struct nlmsghdr) char reply[1024];
	_cleanup_close_ int fd = -1;
	struct nlmsghdr *h;
	ssize_t n;

	if (ino > UINT32_MAX) /* the request carries 32 bits; socket inodes fit in them */
		return -ENOENT;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return negative_errno();
	if (send(fd, &request, sizeof(request), 0) < 0)
		return negative_errno();
	n = recv(fd, reply, sizeof(reply), 0);
	if (n < 0)
		return negative_errno();
	h = (struct nlmsghdr *)reply;
	if (!NLMSG_OK(h, (size_t)n))
		return -EBADMSG;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		return e->error ? e->error : -EBADMSG;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return -EBADMSG;
	{
		const struct unix_diag_msg *m = NLMSG_DATA(h);
		const char *at = (const char *)(m + 1), *end = (const char *)h + h->nlmsg_len;
		int shutdown_mask = -1;

		/* Unix sockets report TCP's state numbers; a connected stream socket stays
		 * "established" after its peer closes, which only the shutdown mask shows. */
		if (m->udiag_state != TCP_STATE_ESTABLISHED)
			return 0;
		while (end - at >= (ptrdiff_t)sizeof(struct nlattr)) {
			const struct nlattr *a = (const struct nlattr *)at;

			if (a->nla_len < sizeof(*a) || a->nla_len > end - at)
				break;
			if (a->nla_type == UNIX_DIAG_SHUTDOWN && a->nla_len > sizeof(*a))
				shutdown_mask = *(const uint8_t *)(a + 1);
			at += NLA_ALIGN(a->nla_len);
		}
		return shutdown_mask == 0;
	}
}

/* Whether /proc/net/unix lists the inode: 1 listed, 0 not, negative errno unreadable. */
static int unix_table_lists(uint64_t ino)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/net/unix", "re");
	char line[512];

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		uint64_t inode;

		/* Num RefCount Protocol Flags Type St Inode Path */
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %" SCNu64, &inode) == 1 && inode == ino)
			return 1;
	}
	return 0;
}

int socket_inode_connected(uint64_t ino)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int r, unknown = 0;

	for (size_t i = 0; i < ELEMENTSOF(tables); i++) {
		r = tcp_table_state(tables[i], ino);
		if (r >= 0)
			return r;
		if (r != -ENOENT)
			unknown = r;
	}
	r = unix_socket_state(ino);
	if (r >= 0)
		return r;
	if (r != -ENOENT)
		return r;
	/* sock_diag answers ENOENT both for no such socket and when its unix_diag module cannot be
	 * loaded; /proc/net/unix tells them apart, but not whether a listed socket is shut down. */
	r = unix_table_lists(ino);
	if (r > 0)
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	return unknown ? unknown : 0; /* in no table: closed and gone */
}
