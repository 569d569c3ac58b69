/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/io.h"
#include "common/macro.h"
#include "server/shards.h"

void shards_chunk_name(uint64_t index, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ".chunk", index);
}

int shards_meta_read(int dfd, struct shards_meta *ret)
{
	_cleanup_close_ int fd = openat(dfd, SHARDS_META, O_RDONLY | O_CLOEXEC);
	char text[256];
	ssize_t n;
	struct shards_meta m = { 0 };
	int consumed = 0;

	if (fd < 0)
		return negative_errno();
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0)
		return negative_errno();
	text[n] = '\0';
	if (sscanf(text, "size %" SCNu64 "\nchunk-size %" SCNu64 "\n%n", &m.size, &m.chunk_size,
		   &consumed) != 2 || consumed != n)
		return -EBADMSG;
	if (m.chunk_size < SHARDS_MIN_CHUNK_SIZE || m.chunk_size > SHARDS_MAX_CHUNK_SIZE ||
	    m.chunk_size % 4096 || m.size == 0 || m.size > INT64_MAX)
		return -EBADMSG;
	*ret = m;
	return 0;
}

int shards_meta_write(int dfd, const struct shards_meta *m)
{
	_cleanup_close_ int fd = openat(dfd, SHARDS_META, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
					0644);
	char text[128];
	int len, r;

	if (fd < 0)
		return negative_errno();
	len = snprintf(text, sizeof(text), "size %" PRIu64 "\nchunk-size %" PRIu64 "\n", m->size,
		       m->chunk_size);
	r = pwrite_full(fd, text, (size_t)len, 0);
	if (r < 0)
		return r;
	if (fsync(fd) < 0 || fsync(dfd) < 0)
		return negative_errno();
	return 0;
}
