/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/unaligned.h"
#include "proto/nbd-protocol.h"
#include "server/translog.h"

struct translog {
	int fd;
	char *path;
	atomic_bool failed;
};

int translog_open(const char *path, struct translog **ret)
{
	struct translog *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->path = strdup(path);
	t->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (!t->path || t->fd < 0) {
		int r = t->path ? -errno : -ENOMEM;

		translog_close(t);
		return r;
	}
	*ret = t;
	return 0;
}

struct translog *translog_close(struct translog *t)
{
	if (!t)
		return NULL;
	safe_close(t->fd);
	free(t->path);
	free(t);
	return NULL;
}

static void record(struct translog *t, const void *buf, size_t len)
{
	ssize_t n = write(t->fd, buf, len);

	if (n != (ssize_t)len && !atomic_exchange(&t->failed, true))
		log_warning("Transaction log %s: writing failed (%s); requests are served on, but "
			    "from now on some may be missing from the log", t->path,
			    n < 0 ? strerror(errno) : "short write");
}

void translog_request(struct translog *t, const struct nbd_request *req)
{
	uint8_t b[28];

	if (!t)
		return;
	store_be32(b, NBD_REQUEST_MAGIC);
	store_be32(b + 4, (uint32_t)req->flags << 16 | req->type);
	store_be64(b + 8, req->cookie);
	store_be64(b + 16, req->offset);
	store_be32(b + 24, req->length > UINT32_MAX ? UINT32_MAX : (uint32_t)req->length);
	record(t, b, sizeof(b));
}

void translog_reply(struct translog *t, uint64_t cookie, uint32_t error)
{
	uint8_t b[16];

	if (!t)
		return;
	store_be32(b, NBD_SIMPLE_REPLY_MAGIC);
	store_be32(b + 4, error);
	store_be64(b + 8, cookie);
	record(t, b, sizeof(b));
}
