/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fd-connect: a guest helper of the VM tests, for nbd-client's --fd modes, which busybox's shell
 * cannot feed (it has no way to open a TCP socket onto a chosen file descriptor).
 *
 *   fd-connect [-n EXPORT] HOST PORT CMD [ARG...]
 *
 * Connects to HOST:PORT, puts the socket on file descriptor 3 and execs CMD with it. With -n, it first
 * runs the NBD handshake itself (proto/negotiate.h, fixed newstyle, NBD_OPT_GO for EXPORT, simple
 * replies: what the kernel speaks), so that the socket is in the transmission phase, and replaces
 * every ARG that is exactly @SIZE@ or @FLAGS@ with the export's size in bytes or its transmission
 * flags (decimal) -- the values `nbd-client --fd 3 --negotiated --size @SIZE@ --flags @FLAGS@` needs.
 * Exit status 2 when it cannot get that far (and a message on stderr).
 *
 *   fd-connect -r RELAYPORT -n EXPORT HOST PORT
 *
 * Relay mode, for nbd-client -P (--preinit), which hands a fresh socket to the kernel without any
 * handshake and so needs a server that starts in the transmission phase: connects to HOST:PORT,
 * negotiates EXPORT as above, listens on 127.0.0.1:RELAYPORT, prints "size=BYTES flags=FLAGS" on
 * stdout (only once it listens), accepts ONE connection and copies bytes both ways between it and the
 * negotiated socket until either side closes or fails; then exits 0.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "proto/negotiate.h"

static int die(const char *what, const char *why)
{
	fprintf(stderr, "fd-connect: %s: %s\n", what, why);
	return 2;
}

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, r;

	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		fprintf(stderr, "fd-connect: %s:%s: %s\n", host, port, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		fprintf(stderr, "fd-connect: connect %s:%s: %s\n", host, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Runs the handshake on fd; 0 and *ret filled in, or -1 after a message. */
static int negotiate(int fd, const char *export_name, struct nbd_neg_result **ret)
{
	struct nbd_neg_config cfg = { .mode = NBD_NEG_ATTACH, .export_name = export_name };
	struct nbd_neg *n = NULL;
	unsigned char buf[4096];
	int r = -1;

	if (nbd_neg_new(&cfg, &n) < 0) {
		fprintf(stderr, "fd-connect: nbd_neg_new failed\n");
		return -1;
	}
	for (;;) {
		const void *out;
		size_t len;
		ssize_t got;

		switch (nbd_neg_want(n)) {
		case NBD_NEG_WANT_WRITE:
			out = nbd_neg_output(n, &len);
			got = write(fd, out, len);
			if (got <= 0) {
				fprintf(stderr, "fd-connect: write: %s\n", strerror(errno));
				goto out;
			}
			nbd_neg_output_done(n, (size_t)got);
			break;
		case NBD_NEG_WANT_READ:
			len = nbd_neg_input_wanted(n);
			if (len > sizeof(buf))
				len = sizeof(buf);
			got = read(fd, buf, len);
			if (got < 0) {
				fprintf(stderr, "fd-connect: read: %s\n", strerror(errno));
				goto out;
			}
			if (got == 0)
				(void)nbd_neg_eof(n);
			else
				(void)nbd_neg_feed(n, buf, (size_t)got);
			break;
		case NBD_NEG_WANT_TLS:
			fprintf(stderr, "fd-connect: the server wants TLS\n");
			goto out;
		case NBD_NEG_DONE:
			*ret = nbd_neg_steal_result(n);
			if (!(*ret)->transmission) {
				fprintf(stderr, "fd-connect: the handshake ended outside transmission\n");
				nbd_neg_result_free(*ret);
				goto out;
			}
			r = 0;
			goto out;
		case NBD_NEG_FAILED:
			fprintf(stderr, "fd-connect: handshake failed: %s\n", nbd_neg_error_message(n));
			goto out;
		}
	}
out:
	nbd_neg_free(n);
	return r;
}

/* Copies what one read on from gives to to; 1 when it did, 0 at EOF or on an error. */
static int pass(int from, int to)
{
	char buf[65536];
	ssize_t got = read(from, buf, sizeof(buf)), off = 0;

	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (got <= 0)
		return 0;
	while (off < got) {
		ssize_t put = write(to, buf + off, (size_t)(got - off));

		if (put < 0 && errno == EINTR)
			continue;
		if (put <= 0) {
			fprintf(stderr, "fd-connect: relay write: %s\n", strerror(errno));
			return 0;
		}
		off += put;
	}
	return 1;
}

/* Relay mode: see the head of this file. server is negotiated. */
static int relay(int server, const char *relay_port, const struct nbd_neg_result *res)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct pollfd pfd[2];
	int lfd, cfd, one = 1;

	signal(SIGPIPE, SIG_IGN); /* a write to a closed side ends the relay, not the process */
	sin.sin_port = htons((unsigned short)atoi(relay_port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0)
		return die("socket", strerror(errno));
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(lfd, 1) < 0)
		return die("bind/listen on the relay port", strerror(errno));
	printf("size=%llu flags=%u\n", (unsigned long long)res->size, (unsigned)res->transmission_flags);
	fflush(stdout);
	do
		cfd = accept(lfd, NULL, NULL);
	while (cfd < 0 && errno == EINTR);
	if (cfd < 0)
		return die("accept", strerror(errno));
	close(lfd);
	fprintf(stderr, "fd-connect: relaying\n");
	pfd[0] = (struct pollfd){ .fd = cfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = server, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return die("poll", strerror(errno));
		}
		if (pfd[0].revents && !pass(cfd, server))
			break;
		if (pfd[1].revents && !pass(server, cfd))
			break;
	}
	fprintf(stderr, "fd-connect: relay ends\n");
	close(cfd);
	close(server);
	return 0;
}

int main(int argc, char **argv)
{
	const char *relay_port = NULL;
	const char *export_name = NULL;
	struct nbd_neg_result *res = NULL;
	char size[32], flags[32];
	int fd, i = 1;

	if (argc > i + 1 && strcmp(argv[i], "-r") == 0) {
		relay_port = argv[i + 1];
		i += 2;
	}
	if (argc > i + 1 && strcmp(argv[i], "-n") == 0) {
		export_name = argv[i + 1];
		i += 2;
	}
	if (relay_port ? (!export_name || argc - i != 2) : argc - i < 3) {
		fprintf(stderr, "usage: fd-connect [-n EXPORT] HOST PORT CMD [ARG...]\n"
				"       fd-connect -r RELAYPORT -n EXPORT HOST PORT\n");
		return 2;
	}
	fd = connect_to(argv[i], argv[i + 1]);
	if (fd < 0)
		return 2;
	if (fd != 3) {
		if (dup2(fd, 3) < 0)
			return die("dup2", strerror(errno));
		close(fd);
	}
	if (export_name) {
		if (negotiate(3, export_name, &res) < 0)
			return 2;
		if (relay_port) {
			int r = relay(3, relay_port, res);

			nbd_neg_result_free(res);
			return r;
		}
		snprintf(size, sizeof(size), "%llu", (unsigned long long)res->size);
		snprintf(flags, sizeof(flags), "%u", (unsigned)res->transmission_flags);
		nbd_neg_result_free(res);
		for (int j = i + 2; j < argc; j++) {
			if (strcmp(argv[j], "@SIZE@") == 0)
				argv[j] = size;
			else if (strcmp(argv[j], "@FLAGS@") == 0)
				argv[j] = flags;
		}
	}
	execvp(argv[i + 2], argv + i + 2);
	return die(argv[i + 2], strerror(errno));
}
