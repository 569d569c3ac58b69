/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Real fds only: pipes, socketpairs and a loopback TCP connection, with a helper thread on the other
 * end that trickles data, stalls or hangs up. Short transfers, EAGAIN and timeouts are produced by the
 * kernel rather than mocked, so each test fails if the code under it mishandles the real thing.
 *
 * Timeouts are around 100 ms: long enough not to flake on a loaded machine in the direction that
 * matters (a wait must not end early), short enough to keep the suite quick.
 */


#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/io.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)((i * 131 + seed) ^ (i >> 8));
}

/* ------------------------------------------------------------------ helper threads */

/* Writes data to fd in pieces of chunk bytes with delay_ms between them, then maybe closes fd. */
struct trickle {
	int fd;
	const uint8_t *data;
	size_t len;
	size_t chunk;
	int delay_ms;
	int initial_delay_ms;
	bool close_after;
	pthread_t thread;
};

static void *trickle_main(void *arg)
{
	struct trickle *t = arg;

	sleep_ms(t->initial_delay_ms);
	for (size_t off = 0; off < t->len;) {
		size_t n = MIN(t->chunk, t->len - off);
		/* Plain write(): the helper must not depend on the code under test. */
		ssize_t k = write(t->fd, t->data + off, n);
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				sleep_ms(1);
				continue;
			}
			break;
		}
		off += (size_t)k;
		if (t->delay_ms > 0)
			sleep_ms(t->delay_ms);
	}
	if (t->close_after)
		close(t->fd);
	return NULL;
}

static void trickle_start(struct trickle *t)
{
	assert_int_equal(pthread_create(&t->thread, NULL, trickle_main, t), 0);
}

static void trickle_join(struct trickle *t)
{
	assert_int_equal(pthread_join(t->thread, NULL), 0);
}

/* Reads everything from fd until EOF into buf, after an initial delay, in small reads. */
struct drain {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t got;
	int initial_delay_ms;
	size_t chunk;
	pthread_t thread;
};

static void *drain_main(void *arg)
{
	struct drain *d = arg;

	sleep_ms(d->initial_delay_ms);
	while (d->got < d->cap) {
		ssize_t k = read(d->fd, d->buf + d->got, MIN(d->chunk, d->cap - d->got));
		if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
			sleep_ms(1);
			continue;
		}
		if (k <= 0)
			break;
		d->got += (size_t)k;
	}
	return NULL;
}

static void drain_start(struct drain *d)
{
	assert_int_equal(pthread_create(&d->thread, NULL, drain_main, d), 0);
}

static void drain_join(struct drain *d)
{
	assert_int_equal(pthread_join(d->thread, NULL), 0);
}

static void make_pipe(int p[2], int flags)
{
	assert_int_equal(pipe2(p, O_CLOEXEC | flags), 0);
}

static void make_socketpair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* ------------------------------------------------------------------ reads */

static void test_read_full_trickle_pipe(void **state _unused_)
{
	uint8_t data[300], got[300];
	int p[2];
	struct trickle t = { .data = data, .len = sizeof(data), .chunk = 7, .delay_ms = 1,
			     .close_after = true };

	fill_pattern(data, sizeof(data), 1);
	make_pipe(p, 0);
	t.fd = p[1];
	trickle_start(&t);

	memset(got, 0, sizeof(got));
	assert_int_equal(read_full(p[0], got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, data, sizeof(data));

	trickle_join(&t);
	close(p[0]);
}

static void test_read_full_trickle_socket_nonblock(void **state _unused_)
{
	uint8_t data[4096], got[4096];
	int sv[2];
	struct trickle t = { .data = data, .len = sizeof(data), .chunk = 333, .delay_ms = 2,
			     .initial_delay_ms = 20 };

	fill_pattern(data, sizeof(data), 2);
	make_socketpair(sv);
	/* Non-blocking: the first recv() must hit EAGAIN (the writer sleeps first) and then poll. */
	assert_int_equal(fd_set_nonblock(sv[0], true), 0);
	t.fd = sv[1];
	trickle_start(&t);

	assert_int_equal(read_full(sv[0], got, sizeof(got)), sizeof(got));
	assert_memory_equal(got, data, sizeof(data));

	trickle_join(&t);
	close(sv[0]);
	close(sv[1]);
}

static void test_read_full_nonblock_pipe(void **state _unused_)
{
	uint8_t data[1000], got[1000];
	int p[2];
	struct trickle t = { .data = data, .len = sizeof(data), .chunk = 100, .delay_ms = 3,
			     .initial_delay_ms = 20, .close_after = true };

	fill_pattern(data, sizeof(data), 3);
	make_pipe(p, O_NONBLOCK);
	t.fd = p[1];
	trickle_start(&t);

	/* The non-socket path with a timeout: poll before each read, EAGAIN never escapes. */
	assert_int_equal(read_full_timeout(p[0], got, sizeof(got), 1000), sizeof(got));
	assert_memory_equal(got, data, sizeof(data));

	trickle_join(&t);
	close(p[0]);
}

static void test_read_full_eof(void **state _unused_)
{
	uint8_t data[10], got[100];
	int p[2];

	fill_pattern(data, sizeof(data), 4);
	make_pipe(p, 0);
	assert_int_equal(write(p[1], data, sizeof(data)), sizeof(data));
	close(p[1]);

	/* Fewer bytes than asked for, only because the writer is gone. */
	assert_int_equal(read_full(p[0], got, sizeof(got)), sizeof(data));
	assert_memory_equal(got, data, sizeof(data));
	assert_int_equal(read_full(p[0], got, sizeof(got)), 0);
	/* Nothing asked, nothing read, even on a drained fd. */
	assert_int_equal(read_full(p[0], got, 0), 0);
	close(p[0]);
}

static void test_read_full_error(void **state _unused_)
{
	uint8_t buf[4];
	int p[2];

	make_pipe(p, 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(read_full(p[0], buf, sizeof(buf)), -EBADF);
	assert_int_equal(read_full_timeout(p[0], buf, sizeof(buf), 50), -EBADF);

	/* Reading from the write end of a pipe is an error, not EOF. */
	make_pipe(p, 0);
	assert_int_equal(read_full(p[1], buf, sizeof(buf)), -EBADF);
	close(p[0]);
	close(p[1]);
}

static void check_timeout(int fd, int timeout_ms)
{
	uint8_t buf[16];
	int64_t t0 = now_ms(), elapsed;

	assert_int_equal(read_full_timeout(fd, buf, sizeof(buf), timeout_ms), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	/* Not early (a little clock slack allowed), and not stuck forever either. */
	assert_true(elapsed >= timeout_ms - 5);
	assert_true(elapsed < 2000);
}

static void test_read_timeout(void **state _unused_)
{
	int p[2], sv[2];

	/* Blocking pipe: only poll() stands between read() and forever. */
	make_pipe(p, 0);
	check_timeout(p[0], 100);

	/* Some bytes, then silence: still a timeout, since the bytes asked for never all come. */
	assert_int_equal(write(p[1], "abc", 3), 3);
	check_timeout(p[0], 80);
	close(p[0]);
	close(p[1]);

	/* Blocking socket: relies on MSG_DONTWAIT, a plain recv() would hang here. */
	make_socketpair(sv);
	check_timeout(sv[0], 100);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	check_timeout(sv[0], 80);

	/* Zero means do not wait at all. */
	check_timeout(sv[0], 0);
	close(sv[0]);
	close(sv[1]);
}

static void test_read_timeout_is_per_wait(void **state _unused_)
{
	uint8_t data[12], got[12];
	int sv[2];
	/* 12 pieces 100 ms apart take about 1.2 s in all, above the 1 s timeout, and each wait is
	 * a tenth of it: a loaded machine may stretch a pause several times over. */
	struct trickle t = { .data = data, .len = sizeof(data), .chunk = 1, .delay_ms = 100 };
	int64_t t0, elapsed;
	ssize_t n;

	fill_pattern(data, sizeof(data), 5);
	make_socketpair(sv);
	t.fd = sv[1];
	t0 = now_ms();
	trickle_start(&t);
	n = read_full_timeout(sv[0], got, sizeof(got), 1000);
	elapsed = now_ms() - t0;
	/* Joined before any assertion: the thread uses this frame. */
	trickle_join(&t);

	assert_int_equal(n, sizeof(got));
	assert_memory_equal(got, data, sizeof(data));
	assert_true(elapsed >= 1100);

	close(sv[0]);
	close(sv[1]);
}

static void test_read_exact(void **state _unused_)
{
	uint8_t data[64], got[64];
	int sv[2];

	fill_pattern(data, sizeof(data), 6);

	/* Everything there. */
	make_socketpair(sv);
	assert_int_equal(write(sv[1], data, sizeof(data)), sizeof(data));
	assert_int_equal(read_exact(sv[0], got, sizeof(got), 100), 0);
	assert_memory_equal(got, data, sizeof(data));

	/* Peer closed between messages. */
	close(sv[1]);
	assert_int_equal(read_exact(sv[0], got, sizeof(got), 100), -EPIPE);
	close(sv[0]);

	/* Peer closed in the middle of one. */
	make_socketpair(sv);
	assert_int_equal(write(sv[1], data, 10), 10);
	close(sv[1]);
	assert_int_equal(read_exact(sv[0], got, sizeof(got), -1), -ECONNRESET);
	close(sv[0]);

	/* Peer alive but silent. */
	make_socketpair(sv);
	assert_int_equal(read_exact(sv[0], got, sizeof(got), 50), -ETIMEDOUT);
	assert_int_equal(read_exact(sv[0], got, 0, 50), 0);
	close(sv[0]);
	close(sv[1]);
}

/* ------------------------------------------------------------------ writes */

/* Fills a non-blocking fd until the kernel refuses more; returns how much went in. */
static size_t fill_until_full(int fd)
{
	static uint8_t junk[4096];
	size_t total = 0;

	for (;;) {
		ssize_t k = write(fd, junk, sizeof(junk));
		if (k < 0) {
			assert_int_equal(errno, EAGAIN);
			return total;
		}
		total += (size_t)k;
	}
}

static void test_write_full_waits_for_room(void **state _unused_)
{
	const size_t len = 256 * 1024;
	uint8_t *data = malloc(len), *got = malloc(len + 65536 * 4);
	int p[2];
	size_t prefill;

	assert_non_null(data);
	assert_non_null(got);
	fill_pattern(data, len, 7);
	make_pipe(p, O_NONBLOCK);
	(void)fcntl(p[1], F_SETPIPE_SZ, 4096); /* small pipe, many EAGAINs; fine if refused */
	prefill = fill_until_full(p[1]);
	assert_true(prefill > 0);

	/* The reader starts late, so write_full() must meet a full pipe and wait in poll(). */
	struct drain d = { .fd = p[0], .buf = got, .cap = prefill + len, .initial_delay_ms = 50,
			   .chunk = 1000 };
	drain_start(&d);

	assert_int_equal(write_full(p[1], data, len, 1000), 0);
	close(p[1]);
	drain_join(&d);

	assert_int_equal(d.got, prefill + len);
	assert_memory_equal(got + prefill, data, len);
	close(p[0]);
	free(data);
	free(got);
}

static void test_write_full_socket_slow_reader(void **state _unused_)
{
	const size_t len = 1024 * 1024;
	uint8_t *data = malloc(len), *got = malloc(len);
	int sv[2], sz = 4096;

	assert_non_null(data);
	assert_non_null(got);
	fill_pattern(data, len, 8);
	make_socketpair(sv);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	struct drain d = { .fd = sv[1], .buf = got, .cap = len, .initial_delay_ms = 30, .chunk = 5000 };
	drain_start(&d);

	/* Blocking socket, no timeout: plain short sends. */
	assert_int_equal(write_full(sv[0], data, len, -1), 0);
	drain_join(&d);
	assert_int_equal(d.got, len);
	assert_memory_equal(got, data, len);
	close(sv[0]);
	close(sv[1]);
	free(data);
	free(got);
}

static void test_write_full_timeout(void **state _unused_)
{
	static uint8_t big[256 * 1024];
	int p[2], sv[2];
	int64_t t0;

	/* Non-blocking pipe with no reader draining it. */
	make_pipe(p, O_NONBLOCK);
	fill_until_full(p[1]);
	t0 = now_ms();
	assert_int_equal(write_full(p[1], "x", 1, 100), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 95);
	close(p[0]);
	close(p[1]);

	/* Blocking socket: more than the buffers hold, and the peer never reads. Without MSG_DONTWAIT
	 * the send() would block forever and this test would hang. */
	make_socketpair(sv);
	t0 = now_ms();
	assert_int_equal(write_full(sv[0], big, sizeof(big), 100), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 95);
	assert_true(now_ms() - t0 < 2000);
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t sigpipe_count;

static void on_sigpipe(int sig _unused_)
{
	sigpipe_count++;
}

static void test_write_no_sigpipe(void **state _unused_)
{
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	struct iovec iov[2] = { { .iov_base = (void *)"ab", .iov_len = 2 },
				{ .iov_base = (void *)"cd", .iov_len = 2 } };
	int sv[2], p[2];

	/* Counted rather than fatal, so that a regression fails the test instead of killing the run. */
	assert_int_equal(sigaction(SIGPIPE, &sa, &old), 0);
	sigpipe_count = 0;

	make_socketpair(sv);
	close(sv[1]);
	assert_int_equal(write_full(sv[0], "hello", 5, -1), -EPIPE);
	assert_int_equal(write_full(sv[0], "hello", 5, 100), -EPIPE);
	assert_int_equal(writev_full(sv[0], iov, 2, -1), -EPIPE);
	close(sv[0]);
	assert_int_equal(sigpipe_count, 0);

	/* Control: a pipe cannot take MSG_NOSIGNAL, and the signal does arrive. This proves the handler
	 * works, so the zero above means something. */
	make_pipe(p, 0);
	close(p[0]);
	assert_int_equal(write_full(p[1], "hello", 5, -1), -EPIPE);
	close(p[1]);
	assert_int_equal(sigpipe_count, 1);

	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

static void test_write_full_errors(void **state _unused_)
{
	int p[2];

	make_pipe(p, 0);
	close(p[0]);
	close(p[1]);
	assert_int_equal(write_full(p[1], "x", 1, -1), -EBADF);
	assert_int_equal(write_full(p[1], "x", 1, 10), -EBADF);
	/* Nothing to write is done at once, whatever the fd. */
	assert_int_equal(write_full(p[1], "x", 0, -1), 0);
}

static void check_writev(int wfd, int rfd, size_t niov, size_t piece, int timeout_ms)
{
	size_t total = 0;
	struct iovec *iov = calloc(niov, sizeof(*iov));
	uint8_t *data, *got;

	assert_non_null(iov);
	/* Varying lengths, with empty iovecs sprinkled in (including the first and last). */
	for (size_t i = 0; i < niov; i++)
		total += (i % 5 == 0 || i == niov - 1) ? 0 : piece + i % 7;
	data = malloc(total);
	got = malloc(total);
	assert_non_null(data);
	assert_non_null(got);
	fill_pattern(data, total, 9);

	size_t off = 0;
	for (size_t i = 0; i < niov; i++) {
		size_t n = (i % 5 == 0 || i == niov - 1) ? 0 : piece + i % 7;
		iov[i].iov_base = data + off;
		iov[i].iov_len = n;
		off += n;
	}

	struct drain d = { .fd = rfd, .buf = got, .cap = total, .initial_delay_ms = 20, .chunk = 777 };
	drain_start(&d);
	assert_int_equal(writev_full(wfd, iov, (int)niov, timeout_ms), 0);
	drain_join(&d);

	assert_int_equal(d.got, total);
	assert_memory_equal(got, data, total);
	free(iov);
	free(data);
	free(got);
}

static void test_writev_full(void **state _unused_)
{
	int sv[2], p[2], sz = 4096;

	/* Socket with small buffers: sendmsg() stops mid-iovec again and again. */
	make_socketpair(sv);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	check_writev(sv[0], sv[1], 64, 3000, -1);
	check_writev(sv[0], sv[1], 64, 3000, 1000);
	/* More iovecs than IOV_MAX. */
	check_writev(sv[0], sv[1], IOV_MAX * 2 + 17, 5, 1000);
	close(sv[0]);
	close(sv[1]);

	/* A pipe goes through the writev() fallback. */
	make_pipe(p, 0);
	check_writev(p[1], p[0], 64, 3000, -1);
	check_writev(p[1], p[0], IOV_MAX + 3, 11, -1);
	close(p[0]);
	close(p[1]);

	/* Nothing, or only empty iovecs: done without touching the fd. */
	struct iovec empty[3] = { { 0 } };
	assert_int_equal(writev_full(-1, empty, 0, -1), 0);
	assert_int_equal(writev_full(-1, empty, 3, -1), 0);
	assert_int_equal(writev_full(-1, empty, -1, -1), -EINVAL);
}

static void test_writev_full_timeout(void **state _unused_)
{
	static uint8_t big[128 * 1024];
	struct iovec iov[2] = { { .iov_base = big, .iov_len = sizeof(big) },
				{ .iov_base = big, .iov_len = sizeof(big) } };
	int sv[2];

	make_socketpair(sv);
	assert_int_equal(writev_full(sv[0], iov, 2, 100), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

/* ------------------------------------------------------------------ fd helpers */

static void test_fd_wait_for(void **state _unused_)
{
	int p[2], r;
	int64_t t0;

	make_pipe(p, 0);
	t0 = now_ms();
	assert_int_equal(fd_wait_for(p[0], POLLIN, 60), -ETIMEDOUT);
	assert_true(now_ms() - t0 >= 55);

	r = fd_wait_for(p[1], POLLOUT, 0);
	assert_true(r > 0 && (r & POLLOUT));

	assert_int_equal(write(p[1], "x", 1), 1);
	r = fd_wait_for(p[0], POLLIN, 1000);
	assert_true(r > 0 && (r & POLLIN));

	close(p[1]);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	r = fd_wait_for(p[0], POLLIN, 1000);
	assert_true(r > 0 && (r & POLLHUP));
	close(p[0]);

	assert_int_equal(fd_wait_for(p[0], POLLIN, 0), -EBADF);
}

static void on_sigusr1(int sig _unused_)
{
}

struct signaller {
	pthread_t target;
	int count;
	int interval_ms;
};

static void *signaller_main(void *arg)
{
	struct signaller *s = arg;

	for (int i = 0; i < s->count; i++) {
		sleep_ms(s->interval_ms);
		pthread_kill(s->target, SIGUSR1);
	}
	return NULL;
}

static void test_fd_wait_for_signals(void **state _unused_)
{
	/* Without SA_RESTART, each signal makes poll() fail with EINTR. */
	struct sigaction sa = { .sa_handler = on_sigusr1 }, old;
	struct signaller s = { .target = pthread_self(), .count = 8, .interval_ms = 20 };
	pthread_t thread;
	int p[2];
	int64_t t0, elapsed;

	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	make_pipe(p, 0);
	assert_int_equal(pthread_create(&thread, NULL, signaller_main, &s), 0);

	/* The signals keep coming for 160 ms; restarting the full 100 ms on each one would wait until
	 * they stop, about 260 ms in. */
	t0 = now_ms();
	assert_int_equal(fd_wait_for(p[0], POLLIN, 100), -ETIMEDOUT);
	elapsed = now_ms() - t0;
	assert_true(elapsed >= 95);
	assert_true(elapsed < 200);

	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	close(p[0]);
	close(p[1]);
}

static void test_fd_flags(void **state _unused_)
{
	int p[2];

	assert_int_equal(pipe(p), 0);

	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(fd_set_nonblock(p[0], true), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(fd_set_nonblock(p[0], true), 0);
	assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
	assert_int_equal(fd_set_nonblock(p[0], false), 0);
	assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);

	assert_false(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fd_set_cloexec(p[1], true), 0);
	assert_true(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fd_set_cloexec(p[1], false), 0);
	assert_false(fcntl(p[1], F_GETFD) & FD_CLOEXEC);

	/* The other end is untouched. */
	assert_false(fcntl(p[1], F_GETFL) & O_NONBLOCK);

	close(p[0]);
	close(p[1]);
	assert_int_equal(fd_set_nonblock(p[0], true), -EBADF);
	assert_int_equal(fd_set_cloexec(p[0], true), -EBADF);
}

/* ------------------------------------------------------------------ sockets */

/* A connected loopback TCP pair; skips the test when the machine has no usable loopback. */
static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int l;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		skip();
	if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(l, 1) < 0) {
		close(l);
		skip();
	}
	assert_int_equal(getsockname(l, (struct sockaddr *)&addr, &len), 0);

	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&addr, sizeof(addr)), 0);
	*server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(l);
}

static int getsockopt_int(int fd, int level, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void test_socket_options_tcp(void **state _unused_)
{
	int c, s;

	tcp_pair(&c, &s);
	assert_true(socket_is_tcp(c));
	assert_true(socket_is_tcp(s));

	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_NODELAY), 0);
	assert_int_equal(socket_set_nodelay(c), 0);
	assert_int_not_equal(getsockopt_int(c, IPPROTO_TCP, TCP_NODELAY), 0);

	assert_int_equal(getsockopt_int(c, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(socket_set_keepalive(c, 31, 7, 5), 0);
	assert_int_not_equal(getsockopt_int(c, SOL_SOCKET, SO_KEEPALIVE), 0);
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_KEEPIDLE), 31);
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_KEEPCNT), 5);

	assert_int_equal(socket_set_user_timeout(c, 12345), 0);
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 12345);
	assert_int_equal(socket_set_user_timeout(c, 0), 0);
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_USER_TIMEOUT), 0);

	/* Arguments the kernel would reject, or that do not fit its int. */
	assert_int_equal(socket_set_keepalive(c, 0, 7, 5), -EINVAL);
	assert_int_equal(socket_set_keepalive(c, 31, -1, 5), -EINVAL);
	assert_int_equal(socket_set_keepalive(c, 31, 7, 0), -EINVAL);
	assert_int_equal(socket_set_keepalive(c, 31, 7, 100000), -EINVAL); /* kernel: max 127 */
	assert_int_equal(socket_set_user_timeout(c, (unsigned)INT_MAX + 1), -ERANGE);
	/* The failed calls left the earlier settings alone. */
	assert_int_equal(getsockopt_int(c, IPPROTO_TCP, TCP_KEEPIDLE), 31);

	/* The server side is its own socket: untouched so far. */
	assert_int_equal(getsockopt_int(s, IPPROTO_TCP, TCP_NODELAY), 0);

	/* And the I/O helpers work across real TCP too. */
	uint8_t data[100000], got[100000];
	struct trickle t = { .fd = s, .data = data, .len = sizeof(data), .chunk = 4000, .delay_ms = 1 };
	fill_pattern(data, sizeof(data), 10);
	trickle_start(&t);
	assert_int_equal(read_exact(c, got, sizeof(got), 1000), 0);
	trickle_join(&t);
	assert_memory_equal(got, data, sizeof(data));

	close(c);
	close(s);
}

static void test_socket_options_not_tcp(void **state _unused_)
{
	int sv[2], p[2], u, closed;

	/* AF_UNIX: every setter is a no-op that succeeds. */
	make_socketpair(sv);
	assert_false(socket_is_tcp(sv[0]));
	assert_int_equal(socket_set_nodelay(sv[0]), 0);
	assert_int_equal(socket_set_keepalive(sv[0], 30, 5, 4), 0);
	assert_int_equal(socket_set_user_timeout(sv[0], 1000), 0);
	/* It really was a no-op: SO_KEEPALIVE is a generic option an AF_UNIX socket would keep. */
	assert_int_equal(getsockopt_int(sv[0], SOL_SOCKET, SO_KEEPALIVE), 0);
	/* Bad arguments are still bad on a socket they would not have touched. */
	assert_int_equal(socket_set_keepalive(sv[0], 0, 5, 4), -EINVAL);
	close(sv[0]);
	close(sv[1]);

	/* UDP is IP but not a stream. */
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u >= 0) {
		assert_false(socket_is_tcp(u));
		assert_int_equal(socket_set_nodelay(u), 0);
		close(u);
	}

	/* Not a socket at all. */
	make_pipe(p, 0);
	assert_false(socket_is_tcp(p[0]));
	assert_int_equal(socket_set_nodelay(p[0]), 0);
	close(p[0]);
	close(p[1]);

	/* Not an fd: that is an error, not a quiet no-op. */
	closed = p[0];
	assert_false(socket_is_tcp(closed));
	assert_int_equal(socket_set_nodelay(closed), -EBADF);
	assert_int_equal(socket_set_user_timeout(closed, 10), -EBADF);
}

/* Positional I/O: whole transfers at an offset, and a short count only at end of file. */
static void test_pread_pwrite_full(void **state)
{
	char path[] = "/tmp/nbdm-io-test.XXXXXX";
	uint8_t out[10000], in[10000];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7);
	assert_int_equal(pwrite_full(fd, out, sizeof(out), 4096), 0);
	memset(in, 0xee, sizeof(in));
	assert_int_equal(pread_full(fd, in, sizeof(in), 4096), (ssize_t)sizeof(in));
	assert_memory_equal(in, out, sizeof(out));
	/* Reading across the end returns what is there. */
	assert_int_equal(pread_full(fd, in, sizeof(in), 4096 + 9000), 1000);
	assert_memory_equal(in, out + 9000, 1000);
	assert_int_equal(pread_full(fd, in, 10, 1 << 20), 0);
	assert_int_equal(pwrite_full(-1, out, 1, 0), -EBADF);
	assert_int_equal(pread_full(-1, in, 1, 0), -EBADF);
	/* Zeroes written over part of the data, through more than one buffer's worth elsewhere. */
	assert_int_equal(pwrite_zeros(fd, 4096 + 100, 5000), 0);
	assert_int_equal(pread_full(fd, in, sizeof(in), 4096), (ssize_t)sizeof(in));
	assert_memory_equal(in, out, 100);
	for (size_t i = 100; i < 5100; i++)
		assert_int_equal(in[i], 0);
	assert_memory_equal(in + 5100, out + 5100, sizeof(out) - 5100);
	assert_int_equal(pwrite_zeros(fd, 3u << 20, (2u << 20) + 7), 0);
	assert_int_equal(pread_full(fd, in, 10, (5u << 20)), 7);
	assert_int_equal(pwrite_zeros(fd, 0, 0), 0);
	assert_int_equal(pwrite_zeros(-1, 0, 1), -EBADF);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_full_trickle_pipe),
		cmocka_unit_test(test_read_full_trickle_socket_nonblock),
		cmocka_unit_test(test_read_full_nonblock_pipe),
		cmocka_unit_test(test_read_full_eof),
		cmocka_unit_test(test_read_full_error),
		cmocka_unit_test(test_read_timeout),
		cmocka_unit_test(test_read_timeout_is_per_wait),
		cmocka_unit_test(test_read_exact),
		cmocka_unit_test(test_write_full_waits_for_room),
		cmocka_unit_test(test_write_full_socket_slow_reader),
		cmocka_unit_test(test_write_full_timeout),
		cmocka_unit_test(test_write_no_sigpipe),
		cmocka_unit_test(test_write_full_errors),
		cmocka_unit_test(test_writev_full),
		cmocka_unit_test(test_writev_full_timeout),
		cmocka_unit_test(test_fd_wait_for),
		cmocka_unit_test(test_fd_wait_for_signals),
		cmocka_unit_test(test_fd_flags),
		cmocka_unit_test(test_socket_options_tcp),
		cmocka_unit_test(test_socket_options_not_tcp),
		cmocka_unit_test(test_pread_pwrite_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
