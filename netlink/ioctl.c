/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ioctl interface to /dev/nbdN: the fallback when the kernel has no "nbd" netlink family or the
 * user asks for it (-L). Unlike netlink, the kernel keeps the device only while a process sits in
 * NBD_DO_IT, and a dead connection cannot be replaced without the device failing I/O.
 */
#include <errno.h>
#include <linux/fs.h>
#include <linux/nbd.h>
#include <sys/ioctl.h>

#include "netlink/nbd-dev.h"

static int nbd_ioctl(int fd, unsigned long request, unsigned long arg)
{
	return ioctl(fd, request, arg) < 0 ? negative_errno() : 0;
}

int nbd_ioctl_setup(int dev_fd, const struct nbd_dev_config *cfg)
{
	int read_only = (cfg->server_flags & NBD_FLAG_READ_ONLY) != 0;
	int r;

	if (!cfg->block_size || cfg->size % cfg->block_size)
		return -EINVAL;
	r = nbd_ioctl(dev_fd, NBD_SET_BLKSIZE, (unsigned long)cfg->block_size);
	if (r < 0)
		return r;
	r = nbd_ioctl(dev_fd, NBD_SET_SIZE_BLOCKS, (unsigned long)(cfg->size / cfg->block_size));
	if (r < 0)
		return r;
	/* Sockets left by an earlier user would otherwise join this configuration. */
	r = nbd_ioctl(dev_fd, NBD_CLEAR_SOCK, 0);
	if (r < 0)
		return r;
	r = nbd_ioctl(dev_fd, NBD_SET_FLAGS, (unsigned long)cfg->server_flags);
	if (r < 0)
		return r;
	if (ioctl(dev_fd, BLKROSET, &read_only) < 0)
		return negative_errno();
	if (cfg->timeout) {
		r = nbd_ioctl(dev_fd, NBD_SET_TIMEOUT, (unsigned long)cfg->timeout);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->n_fds; i++) {
		r = nbd_ioctl(dev_fd, NBD_SET_SOCK, (unsigned long)cfg->fds[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int nbd_ioctl_run(int dev_fd)
{
	int r = nbd_ioctl(dev_fd, NBD_DO_IT, 0);

	(void)nbd_ioctl(dev_fd, NBD_CLEAR_QUE, 0);
	(void)nbd_ioctl(dev_fd, NBD_CLEAR_SOCK, 0);
	/* DO_IT reports a disconnect asked for with NBD_DISCONNECT as EPIPE or success. */
	return r == -EPIPE ? 0 : r;
}

int nbd_ioctl_disconnect(int dev_fd)
{
	int r = nbd_ioctl(dev_fd, NBD_DISCONNECT, 0);

	if (r < 0)
		return r;
	return nbd_ioctl(dev_fd, NBD_CLEAR_SOCK, 0);
}
