/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What one small NBD request costs a server's CPU with two shapes of event loop, and nothing else
 * of a server around them: the floor under server-bench.py's 4 KiB rows, and the measurement
 * behind "io_uring for the socket side" in RESULTS.md. Not part of nbdm; built and driven by
 * ring-floor.py.
 *
 *   epoll   epoll_wait(), then read() until EAGAIN, then one send() of every reply the wake-up
 *           produced: the shape of nbd-server's worker loop.
 *   uring   one multishot recv into a ring of provided buffers, one send per batch of replies,
 *           and one io_uring_enter() a loop iteration that both submits the send and waits
 *           (single issuer, deferred task work).
 *
 * With "-coalesce" after the name, a wake-up that brought two requests or more sets SO_RCVLOWAT
 * to as many bytes (at most 64 KiB) and the next wait gives up after 100 us, lowering it again:
 * coalescing without the bounds nbd-server keeps for shallow queues.
 *
 * It serves one file (a shared mapping) on 127.0.0.1:PORT to one client at a time, with just
 * enough of the fixed newstyle handshake for libnbd (NBD_OPT_GO; every other option is
 * unsupported, so replies are simple), and handles READ, WRITE, FLUSH and DISC. When a client
 * disconnects it prints one line: the requests, the process's CPU seconds while it was served,
 * requests per wake-up and system calls per request.
 *
 * usage: ring-floor epoll|uring|epoll-coalesce|uring-coalesce PORT FILE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REQUEST_SIZE 28
#define REPLY_SIZE 16
#define INPUT_SIZE (256u << 10)
/* Room for the replies of one wake-up: a client's whole queue of 64 requests of 64 KiB. */
#define OUTPUT_SIZE (4u << 20)
#define MAX_LENGTH (64u << 10)
#define LOWAT_MAX (64 << 10)
#define RECV_BUFFERS 64
#define RECV_BUFFER_SIZE (64u << 10)

static uint8_t *image;
static uint64_t image_size;
static bool coalesce;
static int lowat = 1;
static uint64_t requests, wakeups, syscalls, timeouts;

static void fail(const char *what)
{
	fprintf(stderr, "ring-floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put16(uint8_t *p, uint16_t v) { v = htobe16(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return be16toh(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }

static int read_all(int fd, void *buf, size_t n)
{
	while (n) {
		ssize_t r = read(fd, buf, n);
		if (r <= 0)
			return -1;
		buf = (char *)buf + r;
		n -= (size_t)r;
	}
	return 0;
}

static void write_all(int fd, const void *buf, size_t n)
{
	while (n) {
		ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
		syscalls++;
		if (r < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, -1);
			continue;
		}
		if (r <= 0)
			fail("send");
		buf = (const char *)buf + r;
		n -= (size_t)r;
	}
}

static void option_reply(int fd, uint32_t option, uint32_t type, const void *data, uint32_t len)
{
	uint8_t h[20];

	put64(h, 0x3e889045565a9ULL);
	put32(h + 8, option);
	put32(h + 12, type);
	put32(h + 16, len);
	write_all(fd, h, sizeof(h));
	if (len)
		write_all(fd, data, len);
}

/* 0 once NBD_OPT_GO is answered, -1 if the client left. */
static int handshake(int fd)
{
	uint8_t hello[18], option[16], data[4096], info[12];

	put64(hello, 0x4e42444d41474943ULL);      /* NBDMAGIC */
	put64(hello + 8, 0x49484156454f5054ULL);  /* IHAVEOPT */
	put16(hello + 16, 1 | 2);                 /* FIXED_NEWSTYLE | NO_ZEROES */
	write_all(fd, hello, sizeof(hello));
	if (read_all(fd, data, 4) < 0)
		return -1;
	for (;;) {
		uint32_t code, len;

		if (read_all(fd, option, sizeof(option)) < 0)
			return -1;
		code = get32(option + 8);
		len = get32(option + 12);
		if (len > sizeof(data) || read_all(fd, data, len) < 0)
			return -1;
		if (code == 2) /* NBD_OPT_ABORT */
			return -1;
		if (code != 7 && code != 6) { /* neither GO nor INFO */
			option_reply(fd, code, 0x80000001u, NULL, 0); /* NBD_REP_ERR_UNSUP */
			continue;
		}
		put16(info, 0); /* NBD_INFO_EXPORT */
		put64(info + 2, image_size);
		put16(info + 10, 1 | 4); /* HAS_FLAGS | SEND_FLUSH */
		option_reply(fd, code, 3, info, sizeof(info)); /* NBD_REP_INFO */
		option_reply(fd, code, 1, NULL, 0);            /* NBD_REP_ACK */
		if (code == 7)
			return 0;
	}
}

/* Answers the whole requests at the start of in[0, len) into out (*out_len grows); returns the
 * bytes used, or -1 at NBD_CMD_DISC or a request this program does not serve. */
static ssize_t serve(const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	size_t pos = 0;

	while (len - pos >= REQUEST_SIZE) {
		const uint8_t *rq = in + pos;
		uint16_t type = get16(rq + 6);
		uint64_t offset = get64(rq + 16);
		uint32_t length = get32(rq + 24);
		uint8_t *reply = out + *out_len;

		if (type == 2)
			return -1;
		if (get32(rq) != 0x25609513 || length > MAX_LENGTH || offset > image_size ||
		    length > image_size - offset || *out_len + REPLY_SIZE + length > OUTPUT_SIZE) {
			fprintf(stderr, "ring-floor: a request this model does not serve (type %u, "
				"%u bytes at %llu; at most 64 requests of at most 64 KiB in flight)\n",
				type, length, (unsigned long long)offset);
			return -1;
		}
		if (type == 1) { /* WRITE: only once its payload is all here */
			if (len - pos < REQUEST_SIZE + (size_t)length)
				break;
			memcpy(image + offset, rq + REQUEST_SIZE, length);
			pos += length;
		}
		pos += REQUEST_SIZE;
		put32(reply, 0x67446698);
		put32(reply + 4, 0);
		memcpy(reply + 8, rq + 8, 8);
		*out_len += REPLY_SIZE;
		if (type == 0) {
			memcpy(out + *out_len, image + offset, length);
			*out_len += length;
		}
		requests++;
	}
	return (ssize_t)pos;
}

/* After a wake-up, the next one's low-water mark: see "-coalesce" at the top. */
static void set_lowat(int fd, uint64_t woke_with, size_t bytes)
{
	int want = 1;

	if (coalesce && woke_with >= 2)
		want = bytes > LOWAT_MAX ? LOWAT_MAX : (int)bytes;
	if (want == lowat)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &want, sizeof(want));
	syscalls++;
	lowat = want;
}

static void loop_epoll(int fd, uint8_t *in, uint8_t *out)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd }, got[8];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	size_t have = 0;

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		fail("epoll");
	for (;;) {
		struct timespec wait = { .tv_nsec = 100 * 1000 };
		uint64_t before = requests;
		size_t out_len = 0, bytes = 0;

		if (epoll_pwait2(ep, got, 8, lowat > 1 ? &wait : NULL, NULL) == 0) {
			timeouts++;
			set_lowat(fd, 0, 0);
		}
		syscalls++;
		wakeups++;
		for (;;) {
			ssize_t n = read(fd, in + have, INPUT_SIZE - have), used;

			syscalls++;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0)
				goto out;
			have += (size_t)n;
			bytes += (size_t)n;
			used = serve(in, have, out, &out_len);
			if (used < 0)
				goto out;
			memmove(in, in + used, have - (size_t)used);
			have -= (size_t)used;
			if (out_len > OUTPUT_SIZE / 2) {
				write_all(fd, out, out_len);
				out_len = 0;
			}
		}
		if (out_len)
			write_all(fd, out, out_len);
		set_lowat(fd, requests - before, bytes);
	}
out:
	close(ep);
}

static void loop_uring(int fd, uint8_t *in, uint8_t *out[2])
{
	struct io_uring_params params = {
		.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
	};
	struct io_uring_buf_reg reg = { .ring_entries = RECV_BUFFERS, .bgid = 0 };
	struct io_uring_buf_ring *br;
	struct io_uring ring;
	uint8_t *buffers = malloc((size_t)RECV_BUFFERS * RECV_BUFFER_SIZE);
	size_t have = 0, out_len = 0, send_len = 0, sent = 0;
	bool recv_armed = false, sending = false;
	int filling = 0;

	if (!buffers || io_uring_queue_init_params(64, &ring, &params) < 0)
		fail("io_uring_queue_init_params");
	if (posix_memalign((void **)&br, 4096, RECV_BUFFERS * sizeof(struct io_uring_buf)))
		fail("posix_memalign");
	reg.ring_addr = (unsigned long)br;
	if (io_uring_register_buf_ring(&ring, &reg, 0) < 0 || io_uring_register_files(&ring, &fd, 1) < 0)
		fail("io_uring_register");
	io_uring_buf_ring_init(br);
	for (int i = 0; i < RECV_BUFFERS; i++)
		io_uring_buf_ring_add(br, buffers + (size_t)i * RECV_BUFFER_SIZE, RECV_BUFFER_SIZE, i,
				      io_uring_buf_ring_mask(RECV_BUFFERS), i);
	io_uring_buf_ring_advance(br, RECV_BUFFERS);

	for (;;) {
		struct io_uring_sqe *sqe;
		struct io_uring_cqe *cqe;
		uint64_t before = requests;
		size_t bytes = 0;
		unsigned head, seen = 0;

		if (!recv_armed) {
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_recv_multishot(sqe, 0, NULL, 0, 0);
			sqe->flags |= IOSQE_BUFFER_SELECT | IOSQE_FIXED_FILE;
			sqe->buf_group = 0;
			sqe->user_data = 1;
			recv_armed = true;
		}
		/* Two output buffers: one being sent, one filling with the next batch. */
		if (!sending && out_len) {
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_send(sqe, 0, out[filling], out_len, MSG_NOSIGNAL);
			sqe->flags |= IOSQE_FIXED_FILE;
			sqe->user_data = 2;
			sending = true;
			send_len = out_len;
			sent = 0;
			filling ^= 1;
			out_len = 0;
		}
		if (lowat > 1) {
			struct __kernel_timespec wait = { .tv_nsec = 100 * 1000 };

			syscalls++;
			if (io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &wait, NULL) == -ETIME) {
				timeouts++;
				set_lowat(fd, 0, 0);
				continue;
			}
		} else {
			syscalls++;
			io_uring_submit_and_wait(&ring, 1);
		}
		wakeups++;
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			if (cqe->user_data == 2) {
				if (cqe->res <= 0)
					goto out;
				sent += (size_t)cqe->res;
				if (sent < send_len) {
					sqe = io_uring_get_sqe(&ring);
					io_uring_prep_send(sqe, 0, out[filling ^ 1] + sent, send_len - sent,
							   MSG_NOSIGNAL);
					sqe->flags |= IOSQE_FIXED_FILE;
					sqe->user_data = 2;
				} else {
					sending = false;
				}
				continue;
			}
			if (!(cqe->flags & IORING_CQE_F_MORE))
				recv_armed = false;
			if (cqe->res == -ENOBUFS)
				continue;
			if (cqe->res <= 0)
				goto out;
			{
				unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
				uint8_t *b = buffers + (size_t)id * RECV_BUFFER_SIZE;
				size_t n = (size_t)cqe->res;
				ssize_t used;

				bytes += n;
				if (have + n > INPUT_SIZE)
					goto out;
				/* Served straight from the buffer when nothing is left over. */
				if (have == 0) {
					used = serve(b, n, out[filling], &out_len);
					if (used < 0)
						goto out;
					memcpy(in, b + used, n - (size_t)used);
					have = n - (size_t)used;
				} else {
					memcpy(in + have, b, n);
					have += n;
					used = serve(in, have, out[filling], &out_len);
					if (used < 0)
						goto out;
					memmove(in, in + used, have - (size_t)used);
					have -= (size_t)used;
				}
				io_uring_buf_ring_add(br, b, RECV_BUFFER_SIZE, id,
						      io_uring_buf_ring_mask(RECV_BUFFERS), 0);
				io_uring_buf_ring_advance(br, 1);
			}
		}
		io_uring_cq_advance(&ring, seen);
		if (bytes)
			set_lowat(fd, requests - before, bytes);
	}
out:
	io_uring_queue_exit(&ring);
	free(br);
	free(buffers);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t *in = malloc(INPUT_SIZE), *out[2] = { malloc(OUTPUT_SIZE), malloc(OUTPUT_SIZE) };
	struct stat st;
	int one = 1, listener, file;
	bool uring;

	if (argc != 4 || (strncmp(argv[1], "epoll", 5) && strncmp(argv[1], "uring", 5))) {
		fprintf(stderr, "usage: ring-floor epoll|uring|epoll-coalesce|uring-coalesce PORT FILE\n");
		return 2;
	}
	uring = !strncmp(argv[1], "uring", 5);
	coalesce = strstr(argv[1], "-coalesce") != NULL;
	if (!in || !out[0] || !out[1])
		fail("malloc");
	file = open(argv[3], O_RDWR | O_CLOEXEC);
	if (file < 0 || fstat(file, &st) < 0)
		fail(argv[3]);
	image_size = (uint64_t)st.st_size;
	image = mmap(NULL, image_size, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	if (image == MAP_FAILED)
		fail("mmap");
	/* As nbd-server does for a file in memory: no page faults in the measured runs. */
	madvise(image, image_size, MADV_POPULATE_READ);

	listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_port = htons((uint16_t)atoi(argv[2]));
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(listener, 8) < 0)
		fail("listen");
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		double start;

		if (fd < 0)
			fail("accept");
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (handshake(fd) == 0) {
			requests = wakeups = syscalls = timeouts = 0;
			lowat = 1;
			start = cpu_seconds();
			if (uring) {
				loop_uring(fd, in, out);
			} else {
				fcntl(fd, F_SETFL, O_NONBLOCK);
				loop_epoll(fd, in, out[0]);
			}
			if (requests)
				printf("%s requests %llu cpu %.3f requests/wake-up %.2f syscalls/request %.2f "
				       "timeouts %llu\n", argv[1], (unsigned long long)requests,
				       cpu_seconds() - start, (double)requests / (double)wakeups,
				       (double)syscalls / (double)requests, (unsigned long long)timeouts);
			fflush(stdout);
		}
		close(fd);
	}
}
