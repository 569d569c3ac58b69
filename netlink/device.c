/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /dev/nbdN and /sys/block/nbdN: naming, state, and the block-device lock that keeps udev from probing
 * a device while it is being configured.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/parse.h"
#include "netlink/nbd-dev.h"

/* Tests point this at a fake tree; the programs never change it. */
static const char *sysfs_root(void)
{
	const char *root = getenv("NBDM_SYSFS_ROOT");

	return root && *root ? root : "/sys";
}

int nbd_sysfs_read(int index, const char *attr, char **ret)
{
	char path[256], buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *s;

	snprintf(path, sizeof(path), "%s/block/nbd%d/%s", sysfs_root(), index, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return negative_errno();
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
		n--;
	buf[n] = '\0';
	s = strdup(buf);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int nbd_dev_pid(int index, pid_t *ret)
{
	_cleanup_free_ char *s = NULL;
	uint32_t pid;
	int r = nbd_sysfs_read(index, "pid", &s);

	if (r == -ENOENT) {
		*ret = 0; /* the attribute exists only while the device is connected */
		return 0;
	}
	if (r < 0)
		return r;
	r = parse_u32(s, &pid);
	if (r < 0)
		return r;
	*ret = (pid_t)pid;
	return 0;
}

bool nbd_dev_in_use(int index)
{
	_cleanup_free_ char *size = NULL;
	pid_t pid = 0;

	if (nbd_dev_pid(index, &pid) == 0 && pid > 0)
		return true;
	/* A device being configured has a size before it has a pid. */
	return nbd_sysfs_read(index, "size", &size) == 0 && strcmp(size, "0") != 0;
}

int nbd_dev_index(const char *path)
{
	const char *name = path;
	uint32_t index;

	if (strncmp(name, "/dev/", 5) == 0)
		name += 5;
	if (strncmp(name, "nbd", 3) != 0 || !name[3])
		return -EINVAL;
	if (parse_u32(name + 3, &index) < 0 || index > 1u << 20)
		return -EINVAL;
	return (int)index;
}

int nbd_dev_disk_index(const char *path)
{
	const char *name = strncmp(path, "/dev/", 5) == 0 ? path + 5 : path;
	char disk[32];
	size_t digits;

	if (strncmp(name, "nbd", 3) != 0)
		return -EINVAL;
	digits = strspn(name + 3, "0123456789");
	/* Partitions are nbdNpK; the kernel names no other children. */
	if (name[3 + digits] == 'p' && name[4 + digits] &&
	    strspn(name + 4 + digits, "0123456789") == strlen(name + 4 + digits) && digits > 0 &&
	    digits < 16) {
		snprintf(disk, sizeof(disk), "nbd%.*s", (int)digits, name + 3);
		return nbd_dev_index(disk);
	}
	return nbd_dev_index(name);
}

bool nbd_dev_exists(int index)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/block/nbd%d", sysfs_root(), index);
	return access(path, F_OK) == 0;
}

int nbd_dev_trigger_change(int index)
{
	char path[256];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/block/nbd%d/uevent", sysfs_root(), index);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	if (write(fd, "change", 6) != 6)
		return negative_errno();
	return 0;
}

int nbd_dev_find_free(void)
{
	char path[256];
	int best = -1;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/block", sysfs_root());
	d = opendir(path);
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		int index = nbd_dev_index(de->d_name);

		if (index < 0 || nbd_dev_in_use(index))
			continue;
		if (best < 0 || index < best)
			best = index;
	}
	closedir(d);
	return best >= 0 ? best : -ENODEV;
}

void nbd_dev_read_partitions(int index)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/dev/nbd%d", index);
	/* Read-only, so that a read-only device opens too. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}

int nbd_dev_open_locked(int index, int timeout_ms)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	int waited = 0;

	snprintf(path, sizeof(path), "/dev/nbd%d", index);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return negative_errno();
	/* udev takes a shared lock while it probes a new device; wait for it rather than fail. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return negative_errno();
		if (waited >= timeout_ms)
			return -EBUSY;
		nanosleep(&pause, NULL);
		waited += 50;
	}
	return TAKE_FD(fd);
}
