/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * hostile-server PORT SIZE FLAGS [MIN PREFERRED MAX]: a guest helper that describes its export with
 * exactly the values given, however wrong: the size (up to 2^64-1), the 16 transmission flags, and
 * the block sizes of NBD_INFO_BLOCK_SIZE. It listens on 127.0.0.1:PORT, prints "ready", and serves
 * one client at a time, forever: fixed newstyle, every option refused but INFO and GO (answered with
 * those values) and ABORT; in transmission READ returns zeroes, WRITE is taken and dropped, and DISC
 * ends the connection. Whether a client attaches what it describes is the test's question.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/nbd-protocol.h"

static bool read_all(int fd, void *buf, size_t len)
{
	for (size_t have = 0; have < len;) {
		ssize_t n = read(fd, (char *)buf + have, len - have);

		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	return true;
}

static bool write_all(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static bool skip(int fd, uint64_t len)
{
	char buf[65536];

	while (len) {
		size_t step = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		if (!read_all(fd, buf, step))
			return false;
		len -= step;
	}
	return true;
}

static bool option_reply(int fd, uint32_t option, uint32_t type, const void *data, uint32_t len)
{
	struct {
		uint64_t magic;
		uint32_t option, type, len;
	} __attribute__((packed)) h = { htobe64(NBD_REP_MAGIC), htobe32(option), htobe32(type),
					htobe32(len) };

	return write_all(fd, &h, sizeof(h)) && (!len || write_all(fd, data, len));
}

struct description {
	uint64_t size;
	uint16_t flags;
	bool block_sizes;
	uint32_t minimum, preferred, maximum;
};

/* The handshake; true when the client chose GO and transmission starts. */
static bool negotiate(int fd, const struct description *d)
{
	struct {
		uint64_t magic, ihaveopt;
		uint16_t flags;
	} __attribute__((packed)) greeting = { htobe64(NBD_MAGIC), htobe64(NBD_IHAVEOPT),
					       htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES) };
	uint32_t client_flags;

	if (!write_all(fd, &greeting, sizeof(greeting)) || !read_all(fd, &client_flags, 4))
		return false;
	for (;;) {
		struct {
			uint64_t magic;
			uint32_t option, len;
		} __attribute__((packed)) h;
		uint32_t option;

		if (!read_all(fd, &h, sizeof(h)) || !skip(fd, be32toh(h.len)))
			return false;
		option = be32toh(h.option);
		if (option == NBD_OPT_INFO || option == NBD_OPT_GO) {
			uint8_t export[12], block[14];
			uint64_t size = htobe64(d->size);
			uint16_t type = htobe16(NBD_INFO_EXPORT), flags = htobe16(d->flags);
			uint32_t v;

			memcpy(export, &type, 2);
			memcpy(export + 2, &size, 8);
			memcpy(export + 10, &flags, 2);
			if (!option_reply(fd, option, NBD_REP_INFO, export, sizeof(export)))
				return false;
			if (d->block_sizes) {
				type = htobe16(NBD_INFO_BLOCK_SIZE);
				memcpy(block, &type, 2);
				v = htobe32(d->minimum);
				memcpy(block + 2, &v, 4);
				v = htobe32(d->preferred);
				memcpy(block + 6, &v, 4);
				v = htobe32(d->maximum);
				memcpy(block + 10, &v, 4);
				if (!option_reply(fd, option, NBD_REP_INFO, block, sizeof(block)))
					return false;
			}
			if (!option_reply(fd, option, NBD_REP_ACK, NULL, 0))
				return false;
			if (option == NBD_OPT_GO)
				return true;
		} else if (option == NBD_OPT_ABORT) {
			option_reply(fd, option, NBD_REP_ACK, NULL, 0);
			return false;
		} else if (!option_reply(fd, option, NBD_REP_ERR_UNSUP, NULL, 0)) {
			return false;
		}
	}
}

static void transmit(int fd)
{
	static char zeroes[65536];

	for (;;) {
		struct {
			uint32_t magic;
			uint16_t flags, type;
			uint64_t cookie, offset;
			uint32_t len;
		} __attribute__((packed)) req;
		struct {
			uint32_t magic, error;
			uint64_t cookie;
		} __attribute__((packed)) rep;
		uint32_t len;

		if (!read_all(fd, &req, sizeof(req)) || be32toh(req.magic) != NBD_REQUEST_MAGIC)
			return;
		len = be32toh(req.len);
		if (be16toh(req.type) == NBD_CMD_DISC)
			return;
		if (be16toh(req.type) == NBD_CMD_WRITE && !skip(fd, len))
			return;
		rep = (typeof(rep)){ htobe32(NBD_SIMPLE_REPLY_MAGIC), 0, req.cookie };
		if (!write_all(fd, &rep, sizeof(rep)))
			return;
		if (be16toh(req.type) != NBD_CMD_READ)
			continue;
		while (len) {
			uint32_t step = len < sizeof(zeroes) ? len : (uint32_t)sizeof(zeroes);

			if (!write_all(fd, zeroes, step))
				return;
			len -= step;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct description d = { 0 };
	int one = 1, lfd;

	if (argc != 4 && argc != 7) {
		fprintf(stderr, "usage: hostile-server PORT SIZE FLAGS [MIN PREFERRED MAX]\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	d.size = strtoull(argv[2], NULL, 0);
	d.flags = (uint16_t)strtoul(argv[3], NULL, 0);
	if (argc == 7) {
		d.block_sizes = true;
		d.minimum = (uint32_t)strtoul(argv[4], NULL, 0);
		d.preferred = (uint32_t)strtoul(argv[5], NULL, 0);
		d.maximum = (uint32_t)strtoul(argv[6], NULL, 0);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0) {
		perror("hostile-server");
		return 1;
	}
	printf("ready\n");
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			continue;
		if (negotiate(fd, &d))
			transmit(fd);
		close(fd);
	}
}
