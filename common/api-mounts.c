/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/api-mounts.h"
#include "common/macro.h"

static const char *const api_paths[API_MOUNTS_MAX] = { "/proc", "/sys", "/dev", "/run" };

static bool root_is_initramfs(void)
{
	struct statfs sfs;

	return statfs("/", &sfs) == 0 &&
	       ((unsigned long)sfs.f_type == RAMFS_MAGIC || (unsigned long)sfs.f_type == TMPFS_MAGIC);
}

int api_mounts_hold(struct api_mounts *m)
{
	struct stat root, st;
	int n = 0;

	for (size_t i = 0; i < API_MOUNTS_MAX; i++)
		m->fd[i] = -EBADF;
	if (!root_is_initramfs() || stat("/", &root) < 0)
		return 0;
	for (size_t i = 0; i < API_MOUNTS_MAX; i++) {
		int fd = open(api_paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);

		/* Only a file system of its own is moved by the switch. */
		if (fd < 0)
			continue;
		if (fstat(fd, &st) < 0 || st.st_dev == root.st_dev) {
			close(fd);
			continue;
		}
		m->fd[i] = fd;
		n++;
	}
	return n;
}

static bool still_there(int fd, const char *path)
{
	struct stat held, now;

	return fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_dev == now.st_dev &&
	       held.st_ino == now.st_ino;
}

/* The copy goes on a directory of the old root: the switch removed the mount point with the rest
 * of the initramfs, or left a symbolic link to the real root's (initramfs-tools' /dev), which
 * points nowhere from here. */
static int put_back(int fd, const char *path)
{
	_cleanup_close_ int tree = -EBADF;
	struct stat st;

	if (lstat(path, &st) == 0 && !S_ISDIR(st.st_mode) && unlink(path) < 0)
		return -errno;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		return -errno;
	if (move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return -errno;
	/* Private: mounts made later under the real root's copy need not reach this one. */
	(void)mount(NULL, path, NULL, MS_PRIVATE, NULL);
	return 0;
}

int api_mounts_follow(struct api_mounts *m, const char **failed)
{
	int n = 0;

	for (size_t i = 0; i < API_MOUNTS_MAX; i++) {
		int r;

		if (m->fd[i] < 0 || still_there(m->fd[i], api_paths[i]))
			continue;
		r = put_back(m->fd[i], api_paths[i]);
		if (r < 0) {
			if (failed)
				*failed = api_paths[i];
			return r;
		}
		n++;
	}
	return n;
}

void api_mounts_release(struct api_mounts *m)
{
	for (size_t i = 0; i < API_MOUNTS_MAX; i++)
		m->fd[i] = safe_close(m->fd[i]);
}
