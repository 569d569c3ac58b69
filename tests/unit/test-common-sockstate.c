/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Real sockets only: a loopback TCP connection (IPv4 and IPv6) and Unix socket pairs, whose peers
 * close or shut down, asked about by inode number as status asks about the sockets the kernel
 * holds for a device.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sockstate.h"

/* A connected pair over loopback: *client and *server; -1 when the family is not available. */
static int tcp_pair(int family, int *client, int *server)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (listener < 0)
		return -1;
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
	if (bind(listener, (struct sockaddr *)&ss, len) < 0 || listen(listener, 1) < 0 ||
	    getsockname(listener, (struct sockaddr *)&ss, &len) < 0) {
		close(listener);
		return -1;
	}
	*client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&ss, len), 0);
	*server = accept(listener, NULL, NULL);
	assert_true(*server >= 0);
	close(listener);
	return 0;
}

static uint64_t inode_of(int fd)
{
	uint64_t ino = 0;

	assert_int_equal(socket_inode(fd, &ino), 0);
	assert_true(ino > 0);
	return ino;
}

/* The FIN of a closing peer takes a moment to arrive even on loopback. */
static int settled_state(uint64_t ino, int want)
{
	int r = socket_inode_connected(ino);

	for (int i = 0; i < 100 && r != want; i++) {
		struct timespec pause = { .tv_nsec = 10 * 1000 * 1000 };

		nanosleep(&pause, NULL);
		r = socket_inode_connected(ino);
	}
	return r;
}

static void check_tcp(int family)
{
	int client, server;
	uint64_t ino;

	if (tcp_pair(family, &client, &server) < 0) {
		skip();
		return;
	}
	ino = inode_of(client);
	assert_int_equal(socket_inode_connected(ino), 1);
	/* The server goes away: our side is left in CLOSE_WAIT, which carries no requests. */
	close(server);
	assert_int_equal(settled_state(ino, 0), 0);
	close(client);
	/* Closed on both sides: gone from every table. */
	assert_int_equal(settled_state(ino, 0), 0);
}

static void test_tcp4(void **state)
{
	(void)state;
	check_tcp(AF_INET);
}

static void test_tcp6(void **state)
{
	(void)state;
	check_tcp(AF_INET6);
}

static void test_unix_peer_closes(void **state)
{
	int sv[2];
	uint64_t ino;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ino = inode_of(sv[0]);
	assert_int_equal(socket_inode_connected(ino), 1);
	close(sv[1]);
	assert_int_equal(socket_inode_connected(ino), 0);
	close(sv[0]);
}

static void test_unix_shut_down(void **state)
{
	int sv[2];
	uint64_t ino;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ino = inode_of(sv[0]);
	/* What the kernel does to a connection it counts dead: shut down, still open. */
	assert_int_equal(shutdown(sv[0], SHUT_RDWR), 0);
	assert_int_equal(socket_inode_connected(ino), 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_not_a_socket(void **state)
{
	int p[2];
	uint64_t ino = 42;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(socket_inode(p[0], &ino), -ENOTSOCK);
	assert_int_equal(ino, 42); /* untouched on failure */
	assert_int_equal(socket_inode(-1, &ino), -EBADF);
	close(p[0]);
	close(p[1]);
	/* An inode no socket has: none of the tables lists it. */
	assert_int_equal(socket_inode_connected(UINT32_MAX - 7), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_tcp6),
		cmocka_unit_test(test_unix_peer_closes),
		cmocka_unit_test(test_unix_shut_down),
		cmocka_unit_test(test_not_a_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
