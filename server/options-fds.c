/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --fd and --accept-fds: the sockets the server is started with instead of listening. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/parse.h"
#include "server/config.h"
#include "server/options.h"

/* The socket descriptor OPTION N names, checked at once so that a wrong number is reported before
 * anything starts. */
static int parse_socket_fd(const char *option, const char *arg, int *ret)
{
	struct stat st;
	uint32_t fd;

	if (parse_u32(arg, &fd) < 0 || fd > INT_MAX) {
		log_error("invalid file descriptor '%s' for %s: expected a number", arg, option);
		return -EINVAL;
	}
	if (fstat((int)fd, &st) < 0) {
		log_error("%s %u: the server has no open file descriptor %u; start it with the "
			  "socket as that descriptor", option, fd, fd);
		return -EBADF;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s %u is not a socket: give the descriptor of a socket", option, fd);
		return -ENOTSOCK;
	}
	*ret = (int)fd;
	return 0;
}

int options_set_accept_fds(struct server_config *cfg, const char *arg)
{
	int fd, domain = 0;
	socklen_t len = sizeof(domain);
	int r = parse_socket_fd("--accept-fds", arg, &fd);

	if (r < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX) {
		log_error("--accept-fds %d is not a Unix socket: descriptors travel over Unix "
			  "sockets only", fd);
		return -EINVAL;
	}
	cfg->accept_fds_given = true;
	cfg->accept_fds = fd;
	return 0;
}

/* --fd N: a connected socket the server was started with. */
int options_add_client_fd(struct server_config *cfg, const char *arg)
{
	int fd, *fds;
	int r = parse_socket_fd("--fd", arg, &fd);

	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_client_fds; i++)
		if (cfg->client_fds[i] == fd) {
			log_error("--fd %d is given twice", fd);
			return -EINVAL;
		}
	fds = reallocarray(cfg->client_fds, cfg->n_client_fds + 1, sizeof(*fds));
	if (!fds)
		return log_oom();
	fds[cfg->n_client_fds++] = fd;
	cfg->client_fds = fds;
	return 0;
}
