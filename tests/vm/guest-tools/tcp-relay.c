/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tcp-relay LISTEN_PORT TARGET_PORT: a guest helper that relays every TCP connection made to
 * 127.0.0.1:LISTEN_PORT to 127.0.0.1:TARGET_PORT, so that a test can cut one connection of several
 * as a server would: SIGUSR1 closes the oldest live one (both sides). Prints "ready" once
 * listening, then "accept N" for the N-th connection and "cut N" for each one cut, on stdout,
 * line-buffered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 64

struct pair {
	int fd[2]; /* client side, server side; -1 when unused */
	unsigned number;
};

static int connect_local(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static void close_pair(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		if (p->fd[i] >= 0) {
			shutdown(p->fd[i], SHUT_RDWR);
			close(p->fd[i]);
		}
		p->fd[i] = -1;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pair pairs[MAX_PAIRS];
	unsigned accepted = 0;
	int one = 1, lfd, sfd, target;
	sigset_t mask;

	if (argc != 3) {
		fprintf(stderr, "usage: tcp-relay LISTEN_PORT TARGET_PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	target = atoi(argv[2]);
	for (int i = 0; i < MAX_PAIRS; i++)
		pairs[i] = (struct pair){ .fd = { -1, -1 } };
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sfd < 0 || lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 64) < 0) {
		perror("tcp-relay");
		return 1;
	}
	printf("ready\n");
	for (;;) {
		struct pollfd pfd[2 + 2 * MAX_PAIRS];
		int who[2 + 2 * MAX_PAIRS];
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < MAX_PAIRS; i++)
			for (int side = 0; side < 2; side++)
				if (pairs[i].fd[side] >= 0) {
					who[n] = i * 2 + side;
					pfd[n++] = (struct pollfd){ .fd = pairs[i].fd[side], .events = POLLIN };
				}
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp-relay: poll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), s = -1, slot = -1;

			for (int i = 0; i < MAX_PAIRS && slot < 0; i++)
				if (pairs[i].fd[0] < 0)
					slot = i;
			if (c >= 0 && slot >= 0 && (s = connect_local(target)) >= 0) {
				pairs[slot] = (struct pair){ .fd = { c, s }, .number = ++accepted };
				printf("accept %u\n", accepted);
			} else if (c >= 0) {
				close(c);
			}
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			int oldest = -1;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			for (int i = 0; i < MAX_PAIRS; i++)
				if (pairs[i].fd[0] >= 0 &&
				    (oldest < 0 || pairs[i].number < pairs[oldest].number))
					oldest = i;
			if (oldest >= 0) {
				printf("cut %u\n", pairs[oldest].number);
				close_pair(&pairs[oldest]);
			}
			continue; /* the poll set names fds that may be closed now */
		}
		for (nfds_t k = 2; k < n; k++) {
			struct pair *p = &pairs[who[k] / 2];
			int side = who[k] % 2;
			char buf[65536];
			ssize_t got;

			if (!pfd[k].revents || p->fd[side] < 0)
				continue;
			got = read(p->fd[side], buf, sizeof(buf));
			if (got <= 0) {
				close_pair(p);
				continue;
			}
			for (ssize_t off = 0; off < got;) {
				ssize_t w = write(p->fd[!side], buf + off, (size_t)(got - off));

				if (w <= 0) {
					close_pair(p);
					break;
				}
				off += w;
			}
		}
	}
}
