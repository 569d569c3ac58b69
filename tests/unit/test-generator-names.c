/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names nbd-generator and the udev helper must agree on: udev's escaping and the stable names
 * in /dev/disk/by-id (udev/stable-name.c), systemd's unit names of paths (systemd/unit-name.c),
 * and the properties nbdm-udev-id prints for a device, read from a fake sysfs tree and runtime
 * directory (udev/udev-id.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/macro.h"
#include "systemd/unit-name.h"
#include "tests/unit/capture.h"
#include "udev/stable-name.h"
#include "udev/udev-id.h"

/* ------------------------------------------------------------------ stable names */

static void test_udev_escape(void **state _unused_)
{
	static const char *const cases[][2] = {
		{ "server.example", "server.example" },
		{ "a-b_c:d=e@f+g#h", "a-b_c:d=e@f+g#h" },
		{ "/run/nbd.sock", "\\x2frun\\x2fnbd.sock" },
		{ "with space", "with\\x20space" },
		{ "back\\slash", "back\\x5cslash" },
		{ "[::1]", "\\x5b::1\\x5d" },
		{ "caf\xc3\xa9", "caf\\xc3\\xa9" },
		{ "%", "\\x25" },
		{ "", "" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *s = udev_escape(cases[i][0]);

		assert_non_null(s);
		CASE_CHECK(cases[i][0], strcmp(s, cases[i][1]) == 0);
	}
}

/* Identifiers in the forms nbd-client writes (client/attach.c), and their names. */
static void test_stable_names(void **state _unused_)
{
	static const char *const cases[][2] = {
		{ "nbd://server.example:10809/disk", "nbd-server.example-disk" },
		{ "nbd://server.example:10810/disk", "nbd-server.example:10810-disk" },
		{ "nbd://server.example:nbd/disk", "nbd-server.example:nbd-disk" },
		{ "nbd://10.0.0.1:10809/", "nbd-10.0.0.1-" },
		{ "nbd://[::1]:10809/e", "nbd-::1-e" },
		{ "nbd://[fe80::1%eth0]:10810/e", "nbd-\\x5bfe80::1\\x25eth0\\x5d:10810-e" },
		{ "nbd://h:10809/dir/disk?x", "nbd-h-dir\\x2fdisk\\x3fx" },
		{ "nbd+unix:///data?socket=/run/nbd.sock", "nbd-\\x2frun\\x2fnbd.sock-data" },
		{ "nbd+unix:///?socket=/s", "nbd-\\x2fs-" },
		{ "nbd+unix:///a?socket=b?socket=/s", "nbd-\\x2fs-a\\x3fsocket=b" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *name = NULL;

		CASE_CHECK(cases[i][0], nbd_stable_name_from_identifier(cases[i][0], &name) == 0);
		if (strcmp(name, cases[i][1]) != 0)
			fail_msg("%s: expected %s, got %s", cases[i][0], cases[i][1], name);
	}
}

static void test_not_ours(void **state _unused_)
{
	static const char *const ids[] = {
		"", "nbd-client", "custom-id", "nbds://h:10809/e", "nbd://h/e", "nbd://h:/e",
		"nbd://:10809/e", "nbd://h:10809", "nbd://[::1/e", "nbd+unix:///e", "nbd+unix:///e?socket=",
	};
	char *name = (char *)"unchanged";

	for (size_t i = 0; i < ELEMENTSOF(ids); i++)
		CASE_CHECK(ids[i], nbd_stable_name_from_identifier(ids[i], &name) == -EINVAL);
	assert_string_equal(name, "unchanged");
}

static void test_too_long(void **state _unused_)
{
	char id[400];
	char *name = NULL;

	/* 60 escaped bytes are 240: with "nbd-h-" too many. */
	snprintf(id, sizeof(id), "nbd://h:10809/%s",
		 "////////////////////////////////////////////////////////////");
	assert_int_equal(nbd_stable_name_from_identifier(id, &name), -ENAMETOOLONG);
	assert_null(name);
}

/* ------------------------------------------------------------------ unit names */

static void test_unit_names(void **state _unused_)
{
	static const char *const cases[][3] = {
		{ "/srv/data", ".mount", "srv-data.mount" },
		{ "/srv//data/", ".mount", "srv-data.mount" },
		{ "/srv/./data", ".mount", "srv-data.mount" },
		{ "/", ".mount", "-.mount" },
		{ "/srv/my-data", ".mount", "srv-my\\x2ddata.mount" },
		{ "/.hidden/x", ".mount", "\\x2ehidden-x.mount" },
		{ "/a b/%c", ".mount", "a\\x20b-\\x25c.mount" },
		{ "/dev/disk/by-id/nbd-server.example-disk", ".device",
		  "dev-disk-by\\x2did-nbd\\x2dserver.example\\x2ddisk.device" },
		{ "/dev/disk/by-id/nbd-\\x2fs-e", ".device",
		  "dev-disk-by\\x2did-nbd\\x2d\\x5cx2fs\\x2de.device" },
	};
	char *name = NULL;

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *n = NULL;

		CASE_CHECK(cases[i][0], unit_name_from_path(cases[i][0], cases[i][1], &n) == 0);
		if (strcmp(n, cases[i][2]) != 0)
			fail_msg("%s: expected %s, got %s", cases[i][0], cases[i][2], n);
	}
	assert_int_equal(unit_name_from_path("relative", ".mount", &name), -EINVAL);
	assert_int_equal(unit_name_from_path("/a/../b", ".mount", &name), -EINVAL);
	{
		char longpath[300];

		memset(longpath, 'a', sizeof(longpath) - 1);
		longpath[0] = '/';
		longpath[sizeof(longpath) - 1] = '\0';
		assert_int_equal(unit_name_from_path(longpath, ".mount", &name), -ENAMETOOLONG);
	}
	assert_null(name);
}

/* ------------------------------------------------------------------ udev-id */

static char dir[512];

static void write_file(const char *rel, const char *content)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "we");
	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static void make_dirs(void)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/block", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/block/nbd3", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/run", dir);
	assert_int_equal(mkdir(path, 0755), 0);
}

static const char *properties(const char *name)
{
	static char text[4096];
	char sysfs[600], run[600];
	FILE *f;

	text[0] = '\0';
	f = fmemopen(text, sizeof(text), "w");
	assert_non_null(f);
	snprintf(sysfs, sizeof(sysfs), "%s", dir);
	snprintf(run, sizeof(run), "%s/run", dir);
	assert_int_equal(udev_id_print(sysfs, run, name, f), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

static int setup_tree(void **state _unused_)
{
	snprintf(dir, sizeof(dir), "%s/nbdm-udevid-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;
	make_dirs();
	return 0;
}

static int teardown_tree(void **state _unused_)
{
	remove_tree(dir);
	return 0;
}

static void test_udev_id(void **state _unused_)
{
	FILE *devnull = fopen("/dev/null", "we");

	/* Not attached: nothing, so that udev drops the links. */
	assert_string_equal(properties("nbd3"), "");
	assert_int_equal(udev_id_print(dir, dir, "sda", devnull), -EINVAL);
	assert_int_equal(udev_id_print(dir, dir, "nbd3p1", devnull), -EINVAL);
	fclose(devnull);

	/* Attached by nbd-client, its record naming the pid the kernel shows. */
	write_file("block/nbd3/pid", "4242\n");
	write_file("block/nbd3/backend", "nbd://server.example:10810/my disk\n");
	write_file("run/nbd3.conns", "pid=4242\nconnections=4\nsockets=1 2 3 4\n"
				     "backend=nbd://server.example:10810/my disk\ntls=kernel\n");
	assert_string_equal(properties("nbd3"),
			    "ID_NBD_BACKEND=nbd://server.example:10810/my disk\n"
			    "ID_NBD_SERVER=server.example\n"
			    "ID_NBD_PORT=10810\n"
			    "ID_NBD_EXPORT=my disk\n"
			    "ID_NBD_NAME=nbd-server.example:10810-my\\x20disk\n"
			    "ID_NBD_CONNECTIONS=4\n"
			    "ID_NBD_TLS=kernel\n");

	/* A record left by an earlier attachment says nothing about this one. */
	write_file("block/nbd3/backend", "nbd+unix:///e?socket=/run/s\n");
	write_file("run/nbd3.conns", "pid=1\nconnections=2\nbackend=x\ntls=none\n");
	assert_string_equal(properties("nbd3"), "ID_NBD_BACKEND=nbd+unix:///e?socket=/run/s\n"
						"ID_NBD_SOCKET=/run/s\n"
						"ID_NBD_EXPORT=e\n"
						"ID_NBD_NAME=nbd-\\x2frun\\x2fs-e\n");

	/* Another client's identifier: the backend alone, and no name. A quote is encoded. */
	write_file("block/nbd3/backend", "rbd-\"cookie\"\n");
	assert_string_equal(properties("nbd3"), "ID_NBD_BACKEND=rbd-\\x22cookie\\x22\n");

	/* A netlink attach without an identifier. */
	write_file("block/nbd3/backend", "");
	assert_string_equal(properties("nbd3"), "");
}

/* An ioctl attachment has no backend in sysfs; nbd-client's record has it. */
static void test_udev_id_ioctl(void **state _unused_)
{
	write_file("block/nbd3/pid", "77\n");
	write_file("run/nbd3.conns", "pid=77\nconnections=1\nsockets=9\nbackend=nbd://h:10809/e\n"
				     "tls=none\n");
	assert_string_equal(properties("nbd3"), "ID_NBD_BACKEND=nbd://h:10809/e\n"
						"ID_NBD_SERVER=h\n"
						"ID_NBD_PORT=10809\n"
						"ID_NBD_EXPORT=e\n"
						"ID_NBD_NAME=nbd-h-e\n"
						"ID_NBD_CONNECTIONS=1\n"
						"ID_NBD_TLS=none\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udev_escape),
		cmocka_unit_test(test_stable_names),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_unit_names),
		cmocka_unit_test_setup_teardown(test_udev_id, setup_tree, teardown_tree),
		cmocka_unit_test_setup_teardown(test_udev_id_ioctl, setup_tree, teardown_tree),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
