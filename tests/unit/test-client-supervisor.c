/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The supervisor's pieces that need no kernel: the backoff between attempts, the state file that
 * status, reconnect and detach read, the service manager notification, and a reconnection
 * attempt's thread meeting a server that is gone or silent. The supervisor itself, reconnecting
 * for real, runs against real kernels in the VM suite (tests/vm/guest/tests/9*-persist-*.sh).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/backoff.h"
#include "client/options.h"
#include "client/reconnect-attempt.h"
#include "client/runstate.h"
#include "common/macro.h"
#include "common/notify.h"

static void test_backoff_grows_within_bounds(void **state _unused_)
{
	struct backoff b;
	unsigned cap = 100;

	backoff_init(&b, 100, 1000, 42);
	/* Each delay lies in the upper half of min * 2^step, capped at max. */
	for (unsigned step = 0; step < 40; step++) {
		unsigned d = backoff_next_ms(&b);

		if (d < cap - cap / 2 || d > cap)
			fail_msg("step %u: delay %u outside [%u, %u]", step, d, cap - cap / 2, cap);
		cap = cap * 2 > 1000 ? 1000 : cap * 2;
	}
	backoff_reset(&b);
	assert_in_range(backoff_next_ms(&b), 50, 100);
}

static void test_backoff_jitter_spreads(void **state _unused_)
{
	struct backoff a, b;
	unsigned same = 0;

	/* Two clients seeded differently do not retry in lockstep. */
	backoff_init(&a, 1000, 1000, 1);
	backoff_init(&b, 1000, 1000, 2);
	for (int i = 0; i < 50; i++)
		same += backoff_next_ms(&a) == backoff_next_ms(&b);
	assert_true(same < 10);
}

static void test_backoff_degenerate_bounds(void **state _unused_)
{
	struct backoff b;

	/* A maximum below the minimum is the minimum; a zero minimum is 1 ms; seed 0 still works.
	 */
	backoff_init(&b, 500, 10, 0);
	for (int i = 0; i < 10; i++)
		assert_in_range(backoff_next_ms(&b), 250, 500);
	backoff_init(&b, 0, 0, 0);
	assert_in_range(backoff_next_ms(&b), 0, 1);
	/* Many steps neither overflow nor exceed the cap. */
	backoff_init(&b, 3600000, 3600000, 7);
	for (int i = 0; i < 200; i++)
		assert_in_range(backoff_next_ms(&b), 1800000, 3600000);
}

static char dir[64];

static int make_dir(void **state _unused_)
{
	snprintf(dir, sizeof(dir), "/tmp/nbdm-runstate-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	setenv("NBDM_RUNTIME_DIR", dir, 1);
	return 0;
}

static int remove_dir(void **state _unused_)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	unsetenv("NBDM_RUNTIME_DIR");
	return system(cmd) == 0 ? 0 : -1;
}

static void test_runstate_round_trip(void **state _unused_)
{
	mode_t old = umask(077);
	struct supervisor_report w = {
		.pid = getpid(),
		.since = 1763700000,
		.attempts = 7,
		.connections = 4,
		.dead = 1,
		.taken_over = 2,
		.reconnects = 12,
	}, r;
	char path[128];
	struct stat st;

	snprintf(w.state, sizeof(w.state), "reconnecting");
	snprintf(w.interface, sizeof(w.interface), "netlink");
	/* A newline in a value must not start a key of its own. */
	snprintf(w.last_error, sizeof(w.last_error), "Cannot connect\nstate=connected");
	snprintf(w.backend, sizeof(w.backend), "nbd://h:10809/e");
	assert_int_equal(runstate_write(3, &w), 0);
	assert_int_equal(runstate_read(3, &r), 0);
	assert_int_equal(r.pid, getpid());
	assert_string_equal(r.state, "reconnecting");
	assert_string_equal(r.interface, "netlink");
	assert_true(r.since == 1763700000);
	assert_int_equal(r.attempts, 7);
	assert_int_equal(r.connections, 4);
	assert_int_equal(r.dead, 1);
	assert_int_equal(r.taken_over, 2);
	assert_int_equal(r.reconnects, 12);
	assert_string_equal(r.last_error, "Cannot connect state=connected");
	assert_string_equal(r.backend, "nbd://h:10809/e");
	/* Replaced atomically: no temporary file stays behind. */
	snprintf(path, sizeof(path), "%s/nbd3.%d.tmp", dir, (int)getpid());
	assert_int_equal(stat(path, &st), -1);
	/* Readable by anyone, whatever the umask. */
	snprintf(path, sizeof(path), "%s/nbd3", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* Only its writer removes it: a newer supervisor's file stays. */
	runstate_remove(3, getpid() + 1);
	assert_int_equal(runstate_read(3, &r), 0);
	runstate_remove(3, getpid());
	assert_int_equal(runstate_read(3, &r), -ENOENT);
	umask(old);
}

static void test_runstate_stale_and_foreign(void **state _unused_)
{
	struct supervisor_report w = { .connections = 1 }, r;
	char path[128];
	FILE *f;

	snprintf(w.state, sizeof(w.state), "connected");
	/* A supervisor that died without removing its file (pid 2^22 + 1 cannot exist). */
	w.pid = (1 << 22) + 1;
	assert_int_equal(runstate_write(5, &w), 0);
	assert_int_equal(runstate_read(5, &r), -ESRCH);
	/* A live process of another program under the pid (init): the pid was reused. */
	w.pid = 1;
	assert_int_equal(runstate_write(5, &w), 0);
	assert_int_equal(runstate_read(5, &r), -ESRCH);
	/* Something else in its place. */
	snprintf(path, sizeof(path), "%s/nbd6", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("hello\n", f);
	fclose(f);
	assert_int_equal(runstate_read(6, &r), -EBADMSG);
	assert_int_equal(runstate_read(7, &r), -ENOENT);
}

/* The record of a device's sockets: written by attach, read back by status, inode numbers in
 * slot order (0 for a dead slot), removed by detach. */
static void test_connrecord_round_trip(void **state _unused_)
{
	int sv[2], fds[3];
	struct conn_record r;
	struct stat st;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fds[0] = sv[0];
	fds[1] = -1;
	fds[2] = sv[1];
	assert_int_equal(connrecord_write(4, 1234, "nbd://h:10809/e\nx", fds, NULL, 3, "relay", true), 0);
	assert_int_equal(connrecord_read(4, &r), 0);
	assert_int_equal(r.pid, 1234);
	assert_int_equal(r.n, 3);
	assert_int_equal(fstat(sv[0], &st), 0);
	assert_int_equal(r.inodes[0], (uint64_t)st.st_ino);
	assert_int_equal(r.inodes[1], 0);
	assert_int_equal(fstat(sv[1], &st), 0);
	assert_int_equal(r.inodes[2], (uint64_t)st.st_ino);
	assert_string_equal(r.backend, "nbd://h:10809/e x"); /* one line per value */
	assert_string_equal(r.tls, "relay");
	assert_true(r.supervised);
	connrecord_remove(4);
	assert_int_equal(connrecord_read(4, &r), -ENOENT);
	close(sv[0]);
	close(sv[1]);
}

static void test_connrecord_malformed(void **state _unused_)
{
	struct conn_record r;
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/nbd6.conns", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("connections=2\nsockets=1 2\n", f); /* no pid: not a record */
	fclose(f);
	assert_int_equal(connrecord_read(6, &r), -EBADMSG);
}

static void test_notify(void **state _unused_)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[256];
	ssize_t n;
	int fd;

	unsetenv("NOTIFY_SOCKET");
	assert_false(notify_wanted());
	assert_int_equal(notify_send("READY=1"), 0); /* nobody listens: nothing to do */

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", dir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", sa.sun_path, 1);
	assert_true(notify_wanted());
	assert_int_equal(notify_send("READY=1"), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_int_equal(n, 7);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1");
	assert_int_equal(notify_sendf("STATUS=%s %d", "attempt", 3), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "STATUS=attempt 3");

	/* A relative path is not a notification socket. */
	setenv("NOTIFY_SOCKET", "relative", 1);
	assert_int_equal(notify_send("READY=1"), -EINVAL);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

/* A TCP listener on 127.0.0.1 that never accepts: the kernel completes connections to it, and
 * nothing is ever said on them. Returns its fd; *port is its port. */
static int silent_listener(char *port, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sa_len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sa_len), 0);
	snprintf(port, len, "%u", ntohs(sa.sin_port));
	return fd;
}

/* Runs one attempt to open wanted connections to 127.0.0.1:port, its negotiation bounded by
 * negotiate_ms, and returns it once its thread said it was done (waited for boundedly) and was
 * joined. o holds the target until the caller frees it with the attempt. */
static struct reconnect_attempt *run_attempt(struct client_options *o, const char *port,
					     size_t wanted, int negotiate_ms)
{
	struct reconnect_attempt *at = NULL;
	int done_fd = eventfd(0, EFD_CLOEXEC);
	struct pollfd p = { .fd = done_fd, .events = POLLIN };
	uint64_t v;

	assert_true(done_fd >= 0);
	client_options_init(o);
	o->target.kind = TARGET_TCP;
	o->target.host = strdup("127.0.0.1");
	o->target.port = strdup(port);
	assert_non_null(o->target.host);
	assert_non_null(o->target.port);
	assert_int_equal(reconnect_attempt_start(o, wanted, 5000, negotiate_ms, done_fd, &at), 0);
	assert_int_equal(poll(&p, 1, 30000), 1);
	assert_int_equal(read(done_fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	reconnect_attempt_join(at);
	close(done_fd);
	return at;
}

static void test_attempt_server_gone(void **state _unused_)
{
	struct client_options o;
	struct reconnect_attempt *at;
	char port[16];

	/* A port nothing listens on any more: connections to it are refused. */
	close(silent_listener(port, sizeof(port)));
	at = run_attempt(&o, port, 2, 10000);
	/* The first failure ends the attempt: nothing opened, and why. */
	assert_int_equal(at->got, 0);
	assert_int_equal(at->error, -ECONNREFUSED);
	assert_non_null(at->message);
	assert_non_null(strstr(at->message, port));
	reconnect_attempt_free(at);
	client_options_free(&o);
}

static void test_attempt_silent_server_times_out(void **state _unused_)
{
	struct client_options o;
	struct reconnect_attempt *at;
	char port[16];
	int lfd = silent_listener(port, sizeof(port));

	at = run_attempt(&o, port, 1, 1000);
	assert_int_equal(at->got, 0);
	assert_int_equal(at->error, -ETIMEDOUT);
	assert_non_null(at->message);
	reconnect_attempt_free(at);
	client_options_free(&o);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff_grows_within_bounds),
		cmocka_unit_test(test_backoff_jitter_spreads),
		cmocka_unit_test(test_backoff_degenerate_bounds),
		cmocka_unit_test_setup_teardown(test_runstate_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_runstate_stale_and_foreign, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_connrecord_round_trip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_connrecord_malformed, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_notify, make_dir, remove_dir),
		cmocka_unit_test(test_attempt_server_gone),
		cmocka_unit_test(test_attempt_silent_server_times_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
