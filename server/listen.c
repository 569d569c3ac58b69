/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Listening sockets: TCP on the configured addresses (or all of them), a Unix socket, or the sockets
 * systemd passes (LISTEN_FDS), and the allow list check applied to every accepted peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"
#include "server/listen.h"

/* Bursts of clients (hundreds connecting at once) must not find the queue full. */
#define LISTEN_BACKLOG SOMAXCONN
#define SD_LISTEN_FDS_START 3

static int add_listener(struct listener_set *set, int fd, const char *name)
{
	struct listener *l = realloc(set->items, (set->n + 1) * sizeof(*l));

	if (!l)
		return -ENOMEM;
	set->items = l;
	l[set->n] = (struct listener){ .fd = fd };
	snprintf(l[set->n].name, sizeof(l[set->n].name), "%s", name);
	set->n++;
	return 0;
}

static int listen_on(struct listener_set *set, const struct addrinfo *ai, const char *name)
{
	_cleanup_close_ int fd = -EBADF;
	int one = 1;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return negative_errno();
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* An IPv6 wildcard would otherwise also take IPv4 and collide with the IPv4 socket. */
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		return negative_errno();
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return negative_errno();
	if (add_listener(set, fd, name) < 0)
		return -ENOMEM;
	TAKE_FD(fd);
	return 0;
}

static int listen_tcp(struct listener_set *set, const char *address, uint16_t port, int family)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_family = family };
	struct addrinfo *res = NULL;
	char service[8], name[128];
	int r, bound = 0, last = 0;

	snprintf(service, sizeof(service), "%u", port);
	r = getaddrinfo(address, service, &hints, &res);
	if (r != 0)
		return log_error_errno(EADDRNOTAVAIL, "Cannot listen on '%s': %s", address ?: "*",
				       gai_strerror(r));
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char host[INET6_ADDRSTRLEN] = "?";

		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, host,
				  sizeof(host));
		else if (ai->ai_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, host,
				  sizeof(host));
		snprintf(name, sizeof(name), ai->ai_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
			 port);
		r = listen_on(set, ai, name);
		if (r < 0) {
			/* A host without IPv6 still serves IPv4 when listening on "all". */
			if (!address && r == -EAFNOSUPPORT)
				continue;
			last = r;
			log_error_errno(r, "Cannot listen on %s: %m%s", name,
					r == -EADDRINUSE ? " (another server has this port; pick "
							   "another with --port)" : "");
			continue;
		}
		log_info("Listening on %s", name);
		bound++;
	}
	freeaddrinfo(res);
	if (last < 0)
		return last;
	return bound ? 0 : -EADDRNOTAVAIL;
}

static int listen_unix(struct listener_set *set, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "Unix socket path '%s' is too long (at most %zu "
						     "bytes)", path, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	/* A stale socket from an earlier run would make bind fail; anything else is left alone. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return log_error_errno(errno, "Cannot create a Unix socket: %m");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_error_errno(errno, "Cannot listen on Unix socket %s: %m", path);
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return log_error_errno(errno, "Cannot listen on Unix socket %s: %m", path);
	if (add_listener(set, fd, path) < 0)
		return log_oom();
	TAKE_FD(fd);
	log_info("Listening on %s", path);
	return 0;
}

/* systemd socket activation: LISTEN_PID names this process and LISTEN_FDS counts fds from 3. */
static int listen_activated(struct listener_set *set, bool *ret_activated)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	uint32_t pid, n;

	*ret_activated = false;
	if (!pid_s || !fds_s)
		return 0;
	if (parse_u32(pid_s, &pid) < 0 || parse_u32(fds_s, &n) < 0)
		return log_error_errno(EINVAL, "Invalid LISTEN_PID or LISTEN_FDS from the service "
					       "manager");
	if (pid != (uint32_t)getpid())
		return 0; /* meant for another process */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (uint32_t i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + (int)i;
		char name[32];

		(void)fd_set_cloexec(fd, true);
		(void)fd_set_nonblock(fd, true);
		snprintf(name, sizeof(name), "activated fd %d", fd);
		if (add_listener(set, fd, name) < 0)
			return log_oom();
	}
	*ret_activated = n > 0;
	return 0;
}

int listeners_open(struct listener_set *set, const struct server_config *cfg)
{
	bool activated;
	int r;

	r = listen_activated(set, &activated);
	if (r < 0)
		return r;
	if (activated) {
		/* Said, not silently dropped: an address meant to keep the exports local would
		 * otherwise give way to whatever the socket unit listens on. */
		if (cfg->addresses || cfg->unix_path || cfg->port != NBD_DEFAULT_PORT)
			log_warning("The service manager gave the listening sockets (socket "
				    "activation): the configuration's listenaddr, port and unixsock are "
				    "not used; to listen elsewhere, set ListenStream= in the socket unit "
				    "(systemctl edit nbd-server.socket)");
		return 0;
	}
	if (cfg->unix_path) {
		r = listen_unix(set, cfg->unix_path);
		if (r < 0)
			return r;
		if (!cfg->dual_listen && !cfg->addresses)
			return 0;
	}
	if (!cfg->addresses)
		return listen_tcp(set, NULL, cfg->port, cfg->family);
	for (char *const *a = cfg->addresses; *a; a++) {
		r = listen_tcp(set, *a, cfg->port, cfg->family);
		if (r < 0)
			return r;
	}
	return 0;
}

void listeners_close(struct listener_set *set, const struct server_config *cfg)
{
	for (size_t i = 0; i < set->n; i++)
		safe_close(set->items[i].fd);
	if (cfg && cfg->unix_path && set->n)
		(void)unlink(cfg->unix_path);
	free(set->items);
	*set = (struct listener_set){ 0 };
}
