/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who is using an NBD device, so that detach can refuse to pull a disk out from under a mounted
 * file system, an active swap area, a device-mapper or md device, or a program that has it open:
 * the kernel lets a device be disconnected in any of these states, and the writes still cached
 * above it are then lost.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/process.h"
#include "netlink/nbd-dev.h"

#define MAX_BLOCK_DEVS 256 /* the disk and its partitions (max_part is at most 255) */

struct users {
	dev_t devs[MAX_BLOCK_DEVS];
	char names[MAX_BLOCK_DEVS][32];
	size_t n_devs;
	char *buf;
	size_t len, used;
	unsigned found;
};

static void add_user(struct users *u, const char *fmt, ...)
{
	va_list ap;
	int n;

	u->found++;
	if (u->used + 3 >= u->len)
		return;
	if (u->used > 0)
		u->used += (size_t)snprintf(u->buf + u->used, u->len - u->used, "; ");
	va_start(ap, fmt);
	n = vsnprintf(u->buf + u->used, u->len - u->used, fmt, ap);
	va_end(ap);
	if (n > 0)
		u->used = MIN(u->used + (size_t)n, u->len - 1);
}

static const char *name_of(const struct users *u, dev_t dev)
{
	for (size_t i = 0; i < u->n_devs; i++)
		if (u->devs[i] == dev)
			return u->names[i];
	return NULL;
}

static int read_dev_number(const char *dir, dev_t *ret)
{
	char path[512], buf[32];
	unsigned maj, min;
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/dev", dir);
	f = fopen(path, "re");
	if (!f)
		return negative_errno();
	if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%u:%u", &maj, &min) != 2)
		return -EBADMSG;
	*ret = makedev(maj, min);
	return 0;
}

/* The disk and every partition of it, by device number and name. */
static int collect_devices(struct users *u, const char *root, int index)
{
	char disk[256], part[512];
	struct dirent *de;
	DIR *d;
	int r;

	snprintf(disk, sizeof(disk), "%s/block/nbd%d", root, index);
	r = read_dev_number(disk, &u->devs[0]);
	if (r < 0)
		return r;
	snprintf(u->names[0], sizeof(u->names[0]), "nbd%d", index);
	u->n_devs = 1;
	d = opendir(disk);
	if (!d)
		return negative_errno();
	while ((de = readdir(d)) && u->n_devs < MAX_BLOCK_DEVS) {
		if (strncmp(de->d_name, u->names[0], strlen(u->names[0])) != 0)
			continue;
		snprintf(part, sizeof(part), "%s/%s", disk, de->d_name);
		if (read_dev_number(part, &u->devs[u->n_devs]) < 0)
			continue;
		snprintf(u->names[u->n_devs], sizeof(u->names[0]), "%.31s", de->d_name);
		u->n_devs++;
	}
	closedir(d);
	return 0;
}

/* /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." */
static void find_mounts(struct users *u)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], point[2048];
	unsigned maj, min;

	while (f && fgets(line, sizeof(line), f)) {
		const char *name;

		if (sscanf(line, "%*u %*u %u:%u %*s %2047s", &maj, &min, point) != 3)
			continue;
		name = name_of(u, makedev(maj, min));
		if (name)
			add_user(u, "/dev/%s is mounted on %s", name, point);
	}
}

/* /proc/swaps names each active swap area by path. */
static void find_swap(struct users *u)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/swaps", "re");
	char line[4096], path[2048];
	struct stat st;

	while (f && fgets(line, sizeof(line), f)) {
		const char *name;

		if (sscanf(line, "%2047s", path) != 1 || stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
			continue;
		name = name_of(u, st.st_rdev);
		if (name)
			add_user(u, "/dev/%s is in use as swap", name);
	}
}

/* Device-mapper, md, bcache and the like list themselves under holders/. */
static void find_holders(struct users *u, const char *root)
{
	for (size_t i = 0; i < u->n_devs; i++) {
		char path[512];
		struct dirent *de;
		DIR *d;

		if (i == 0)
			snprintf(path, sizeof(path), "%s/block/%s/holders", root, u->names[0]);
		else
			snprintf(path, sizeof(path), "%s/block/%s/%s/holders", root, u->names[0],
				 u->names[i]);
		d = opendir(path);
		if (!d)
			continue;
		while ((de = readdir(d)))
			if (de->d_name[0] != '.')
				add_user(u, "/dev/%s is held by %s", u->names[i], de->d_name);
		closedir(d);
	}
}

/* Processes with the disk or a partition open, through any of their descriptors. */
static void find_openers(struct users *u, const pid_t *except, size_t n_except)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;

	while (proc && (pe = readdir(proc))) {
		char path[300], comm[32];
		const char *name = NULL;
		struct dirent *fe;
		pid_t pid = (pid_t)atoi(pe->d_name);
		bool skip = pid <= 0 || pid == getpid();
		DIR *fds;

		for (size_t i = 0; i < n_except && !skip; i++)
			skip = except[i] == pid;
		if (skip)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!name && (fe = readdir(fds))) {
			struct stat st;

			if (fe->d_name[0] == '.' ||
			    fstatat(dirfd(fds), fe->d_name, &st, 0) < 0 || !S_ISBLK(st.st_mode))
				continue;
			name = name_of(u, st.st_rdev);
		}
		closedir(fds);
		if (!name)
			continue;
		if (process_name(pid, comm, sizeof(comm)) < 0)
			snprintf(comm, sizeof(comm), "?");
		add_user(u, "/dev/%s is open in process %d (%s)", name, (int)pid, comm);
	}
	if (proc)
		closedir(proc);
}

int nbd_dev_users(int index, const pid_t *except, size_t n_except, char *buf, size_t len)
{
	const char *root = getenv("NBDM_SYSFS_ROOT");
	struct users *u;
	int r;

	if (len == 0)
		return -EINVAL;
	buf[0] = '\0';
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->buf = buf;
	u->len = len;
	r = collect_devices(u, root && *root ? root : "/sys", index);
	if (r == 0) {
		find_mounts(u);
		find_swap(u);
		find_holders(u, root && *root ? root : "/sys");
		find_openers(u, except, n_except);
		r = (int)MIN(u->found, (unsigned)INT32_MAX);
	}
	free(u);
	return r;
}
