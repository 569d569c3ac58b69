/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The switch to the real root, played in a mount namespace of its own (root only): a process whose
 * root is a tmpfs with /proc, /dev and /run mounted holds them; the mounts are then moved into
 * another tree and the old root's mount points removed (or, for /dev, replaced by a symbolic link
 * to the new root's, as initramfs-tools leaves it), which is what switch_root, run-init and systemd
 * do; following puts them back, with the same contents.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/api-mounts.h"

static void skip_unless_root(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "# not root: mount namespaces need it\n");
		skip();
	}
}

static void test_not_an_initramfs(void **state)
{
	struct api_mounts m;
	struct statfs sfs;

	(void)state;
	assert_int_equal(statfs("/", &sfs), 0);
	if ((unsigned long)sfs.f_type == TMPFS_MAGIC || (unsigned long)sfs.f_type == RAMFS_MAGIC)
		skip(); /* this machine's own root is a tmpfs */
	assert_int_equal(api_mounts_hold(&m), 0);
	for (size_t i = 0; i < API_MOUNTS_MAX; i++)
		assert_true(m.fd[i] < 0);
	assert_int_equal(api_mounts_follow(&m, NULL), 0);
	api_mounts_release(&m);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int read_file(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

/* The child's steps; the exit status is the step that failed (0: all passed). */
static int play_switch(const char *base)
{
	char old[512], new[512], path[600];
	const char *dirs[] = { "proc", "dev", "run" };
	struct api_mounts m;
	const char *failed = NULL;
	char buf[64];
	int real_root, old_root, r;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return 1;
	snprintf(old, sizeof(old), "%s/old", base);
	snprintf(new, sizeof(new), "%s/new", base);
	if (mkdir(old, 0755) < 0 || mkdir(new, 0755) < 0 ||
	    mount("initramfs", old, "tmpfs", 0, NULL) < 0 || mount("root", new, "tmpfs", 0, NULL) < 0)
		return 2;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", old, dirs[i]);
		if (mkdir(path, 0755) < 0)
			return 3;
		snprintf(path, sizeof(path), "%s/%s", new, dirs[i]);
		if (mkdir(path, 0755) < 0)
			return 3;
	}
	snprintf(path, sizeof(path), "%s/proc", old);
	if (mount("proc", path, "proc", 0, NULL) < 0)
		return 4;
	snprintf(path, sizeof(path), "%s/dev", old);
	if (mount("dev", path, "tmpfs", 0, NULL) < 0)
		return 4;
	snprintf(path, sizeof(path), "%s/run", old);
	if (mount("run", path, "tmpfs", 0, NULL) < 0)
		return 4;
	snprintf(path, sizeof(path), "%s/run/marker", old);
	if (write_file(path, "run") < 0)
		return 5;
	snprintf(path, sizeof(path), "%s/dev/marker", old);
	if (write_file(path, "dev") < 0)
		return 5;

	/* In the initramfs: hold. */
	real_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	old_root = open(old, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (real_root < 0 || old_root < 0 || fchdir(old_root) < 0 || chroot(".") < 0)
		return 6;
	if (api_mounts_hold(&m) != 3)
		return 7;
	if (api_mounts_follow(&m, &failed) != 0) /* nothing moved yet */
		return 8;

	/* The switch, from outside: the mounts move to the new root, their places go. */
	if (fchdir(real_root) < 0 || chroot(".") < 0)
		return 9;
	for (size_t i = 0; i < 3; i++) {
		char from[600], to[600];

		snprintf(from, sizeof(from), "%s/%s", old, dirs[i]);
		snprintf(to, sizeof(to), "%s/%s", new, dirs[i]);
		if (mount(from, to, NULL, MS_MOVE, NULL) < 0 || rmdir(from) < 0)
			return 10;
	}
	snprintf(path, sizeof(path), "%s/dev", old);
	if (symlink("/root/dev", path) < 0)
		return 11;

	/* Back in the old root: follow. */
	if (fchdir(old_root) < 0 || chroot(".") < 0)
		return 12;
	if (access("/run/marker", F_OK) == 0 || access("/proc/self", F_OK) == 0)
		return 13;
	r = api_mounts_follow(&m, &failed);
	if (r != 3) {
		fprintf(stderr, "# follow: %d (%s: %s)\n", r, failed ? failed : "-", strerror(-r));
		return 14;
	}
	if (read_file("/run/marker", buf, sizeof(buf)) < 0 || strcmp(buf, "run") != 0)
		return 15;
	if (read_file("/dev/marker", buf, sizeof(buf)) < 0 || strcmp(buf, "dev") != 0)
		return 16;
	if (access("/proc/self/status", R_OK) < 0)
		return 17;
	/* The same file system as the new root's: a file made there shows here. */
	if (fchdir(real_root) < 0 || chroot(".") < 0)
		return 18;
	snprintf(path, sizeof(path), "%s/run/state", new);
	if (write_file(path, "shared") < 0 || fchdir(old_root) < 0 || chroot(".") < 0)
		return 18;
	if (read_file("/run/state", buf, sizeof(buf)) < 0 || strcmp(buf, "shared") != 0)
		return 19;
	if (api_mounts_follow(&m, &failed) != 0) /* nothing more to do */
		return 20;
	api_mounts_release(&m);
	return 0;
}

static void test_switch_followed(void **state)
{
	char base[] = "/tmp/nbdm-api-mounts.XXXXXX";
	int status = 0;
	pid_t pid;

	(void)state;
	skip_unless_root();
	assert_non_null(mkdtemp(base));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(play_switch(base));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* The namespace went with the child, and its mounts with it. */
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		assert_int_equal(system(cmd), 0);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1) {
		fprintf(stderr, "# no mount namespace here (unshare refused)\n");
		skip();
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the played switch failed at step %d (see play_switch())",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_not_an_initramfs),
		cmocka_unit_test(test_switch_followed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
