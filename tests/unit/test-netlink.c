/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What can be checked of the kernel interface without a kernel: the encoding of CONNECT and
 * RECONFIGURE messages (parsed back with libnl), device names, and the sysfs reading against a fake
 * tree. The kernel's own answers are checked in the VM suite, never here.
 */
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
#include <linux/nbd-netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "netlink/nbd-dev.h"

static void test_connect_encoding(void **state)
{
	static const int fds[] = { 7, 9, 11 };
	const struct nbd_dev_config cfg = {
		.index = 3, .size = 1ull << 40, .block_size = 4096, .server_flags = 0x16d,
		.timeout = 30, .dead_conn_timeout = 120, .client_flags = 2, .backend = "nbd://h/e",
		.fds = fds, .n_fds = 3,
	};
	uint8_t buf[4096];
	struct nlattr *attrs[NBD_ATTR_MAX + 1], *item;
	struct nlmsghdr *hdr = (struct nlmsghdr *)buf;
	struct genlmsghdr *g;
	int len, rem, seen = 0;

	len = nbd_nl_encode_connect(42, NBD_CMD_CONNECT, &cfg, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(hdr->nlmsg_len, len);
	assert_int_equal(hdr->nlmsg_type, 42);
	g = nlmsg_data(hdr);
	assert_int_equal(g->cmd, NBD_CMD_CONNECT);
	assert_int_equal(g->version, NBD_GENL_VERSION);
	assert_int_equal(genlmsg_parse(hdr, 0, attrs, NBD_ATTR_MAX, NULL), 0);
	assert_int_equal(nla_get_u32(attrs[NBD_ATTR_INDEX]), 3);
	assert_true(nla_get_u64(attrs[NBD_ATTR_SIZE_BYTES]) == 1ull << 40);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_BLOCK_SIZE_BYTES]), 4096);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_SERVER_FLAGS]), 0x16d);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_TIMEOUT]), 30);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_DEAD_CONN_TIMEOUT]), 120);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_CLIENT_FLAGS]), 2);
	assert_string_equal(nla_get_string(attrs[NBD_ATTR_BACKEND_IDENTIFIER]), "nbd://h/e");
	assert_non_null(attrs[NBD_ATTR_SOCKETS]);
	nla_for_each_nested(item, attrs[NBD_ATTR_SOCKETS], rem) {
		struct nlattr *sock[NBD_SOCK_MAX + 1];

		assert_int_equal(nla_type(item), NBD_SOCK_ITEM);
		assert_int_equal(nla_parse_nested(sock, NBD_SOCK_MAX, item, NULL), 0);
		assert_int_equal(nla_get_u32(sock[NBD_SOCK_FD]), fds[seen]);
		seen++;
	}
	assert_int_equal(seen, 3);
}

static void test_connect_encoding_minimal(void **state)
{
	static const int fd = 5;
	const struct nbd_dev_config cfg = { .index = -1, .size = 512, .block_size = 512,
					    .fds = &fd, .n_fds = 1 };
	uint8_t buf[1024];
	struct nlattr *attrs[NBD_ATTR_MAX + 1];
	int len = nbd_nl_encode_connect(7, NBD_CMD_CONNECT, &cfg, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal(genlmsg_parse((struct nlmsghdr *)buf, 0, attrs, NBD_ATTR_MAX, NULL), 0);
	/* No index: the kernel picks the device. Unset options are left out, not sent as 0. */
	assert_null(attrs[NBD_ATTR_INDEX]);
	assert_null(attrs[NBD_ATTR_TIMEOUT]);
	assert_null(attrs[NBD_ATTR_DEAD_CONN_TIMEOUT]);
	assert_null(attrs[NBD_ATTR_CLIENT_FLAGS]);
	assert_null(attrs[NBD_ATTR_BACKEND_IDENTIFIER]);
	/* Server flags always go with CONNECT, even when zero. */
	assert_non_null(attrs[NBD_ATTR_SERVER_FLAGS]);
	assert_int_equal(nbd_nl_encode_connect(7, NBD_CMD_CONNECT, &cfg, buf, 16), -ENOBUFS);
}

static void test_reconfigure_encoding(void **state)
{
	static const int fds[] = { 4 };
	const struct nbd_dev_config cfg = { .index = 0, .fds = fds, .n_fds = 1,
					    .dead_conn_timeout = 60 };
	uint8_t buf[1024];
	struct nlattr *attrs[NBD_ATTR_MAX + 1];
	int len = nbd_nl_encode_connect(7, NBD_CMD_RECONFIGURE, &cfg, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal(((struct genlmsghdr *)nlmsg_data((struct nlmsghdr *)buf))->cmd,
			 NBD_CMD_RECONFIGURE);
	assert_int_equal(genlmsg_parse((struct nlmsghdr *)buf, 0, attrs, NBD_ATTR_MAX, NULL), 0);
	assert_int_equal(nla_get_u32(attrs[NBD_ATTR_INDEX]), 0);
	assert_null(attrs[NBD_ATTR_SIZE_BYTES]);
	assert_null(attrs[NBD_ATTR_SERVER_FLAGS]);
	assert_int_equal(nla_get_u64(attrs[NBD_ATTR_DEAD_CONN_TIMEOUT]), 60);
}

/* Builds an event message as the kernel multicasts it. */
static size_t make_event(uint8_t *buf, size_t cap, int family, uint8_t cmd, bool with_index,
			 uint32_t index)
{
	struct nl_msg *msg = nlmsg_alloc();
	struct nlmsghdr *hdr;
	size_t len;

	assert_non_null(msg);
	assert_non_null(genlmsg_put(msg, 0, 0, family, 0, 0, cmd, NBD_GENL_VERSION));
	if (with_index)
		assert_int_equal(nla_put_u32(msg, NBD_ATTR_INDEX, index), 0);
	hdr = nlmsg_hdr(msg);
	len = hdr->nlmsg_len;
	assert_true(len <= cap);
	memcpy(buf, hdr, len);
	nlmsg_free(msg);
	return len;
}

static void test_link_dead_parsing(void **state)
{
	uint8_t buf[256];
	size_t len;
	int index = -1;

	len = make_event(buf, sizeof(buf), 30, NBD_CMD_LINK_DEAD, true, 7);
	assert_int_equal(nbd_nl_parse_link_dead(buf, len, 30, &index), 0);
	assert_int_equal(index, 7);
	/* Another family's message, or another command of ours, is not a link-dead event. */
	assert_int_equal(nbd_nl_parse_link_dead(buf, len, 31, &index), -ENOMSG);
	len = make_event(buf, sizeof(buf), 30, NBD_CMD_STATUS, true, 7);
	assert_int_equal(nbd_nl_parse_link_dead(buf, len, 30, &index), -ENOMSG);
	/* Malformed: no index, or cut short. */
	len = make_event(buf, sizeof(buf), 30, NBD_CMD_LINK_DEAD, false, 0);
	assert_int_equal(nbd_nl_parse_link_dead(buf, len, 30, &index), -EBADMSG);
	len = make_event(buf, sizeof(buf), 30, NBD_CMD_LINK_DEAD, true, 7);
	assert_int_equal(nbd_nl_parse_link_dead(buf, len - 1, 30, &index), -EBADMSG);
	assert_int_equal(nbd_nl_parse_link_dead(buf, 8, 30, &index), -EBADMSG);
	assert_int_equal(index, 7);
}

static void test_device_index(void **state)
{
	assert_int_equal(nbd_dev_index("/dev/nbd0"), 0);
	assert_int_equal(nbd_dev_index("nbd15"), 15);
	assert_int_equal(nbd_dev_index("/dev/nbd1023"), 1023);
	assert_int_equal(nbd_dev_index("/dev/nbd"), -EINVAL);
	assert_int_equal(nbd_dev_index("/dev/sda"), -EINVAL);
	assert_int_equal(nbd_dev_index("nbd1p1"), -EINVAL);
	assert_int_equal(nbd_dev_index("/dev/nbd-1"), -EINVAL);
	assert_int_equal(nbd_dev_index("/dev/nbd99999999999"), -EINVAL);
}

/* -c names a partition for its disk, as the reference does; nothing else passes for one. */
static void test_disk_index(void **state)
{
	assert_int_equal(nbd_dev_disk_index("/dev/nbd0p1"), 0);
	assert_int_equal(nbd_dev_disk_index("nbd12p15"), 12);
	assert_int_equal(nbd_dev_disk_index("/dev/nbd3"), 3);
	assert_int_equal(nbd_dev_disk_index("/dev/nbd3p"), -EINVAL);
	assert_int_equal(nbd_dev_disk_index("/dev/nbdp1"), -EINVAL);
	assert_int_equal(nbd_dev_disk_index("/dev/nbd1p1x"), -EINVAL);
	assert_int_equal(nbd_dev_disk_index("/dev/sda1"), -EINVAL);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void make_dev(const char *root, int index, const char *size, const char *pid,
		     const char *backend)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/block/nbd%d", root, index);
	assert_int_equal(mkdir(dir, 0755), 0);
	write_file(dir, "size", size);
	if (pid)
		write_file(dir, "pid", pid);
	if (backend)
		write_file(dir, "backend", backend);
}

static void test_sysfs(void **state)
{
	char root[] = "/tmp/nbdm-sysfs.XXXXXX", path[512], cmd[600];
	_cleanup_free_ char *backend = NULL;
	pid_t pid = -1;

	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/block", root);
	assert_int_equal(mkdir(path, 0755), 0);
	make_dev(root, 0, "2048\n", "1234\n", "nbd://server/disk\n");
	make_dev(root, 1, "4096\n", NULL, NULL);   /* configured, not yet running */
	make_dev(root, 2, "0\n", NULL, NULL);      /* free */
	make_dev(root, 3, "0\n", NULL, NULL);      /* free */
	snprintf(path, sizeof(path), "%s/block/sda", root);
	assert_int_equal(mkdir(path, 0755), 0);
	setenv("NBDM_SYSFS_ROOT", root, 1);

	assert_int_equal(nbd_dev_pid(0, &pid), 0);
	assert_int_equal(pid, 1234);
	assert_int_equal(nbd_dev_pid(2, &pid), 0);
	assert_int_equal(pid, 0);
	assert_int_equal(nbd_sysfs_read(0, "backend", &backend), 0);
	assert_string_equal(backend, "nbd://server/disk"); /* newline stripped */
	assert_int_equal(nbd_sysfs_read(9, "size", &backend), -ENOENT);
	assert_true(nbd_dev_in_use(0));
	assert_true(nbd_dev_in_use(1));
	assert_false(nbd_dev_in_use(2));
	assert_int_equal(nbd_dev_find_free(), 2);
	write_file(path, "../nbd2/size", "8\n");
	assert_int_equal(nbd_dev_find_free(), 3);
	write_file(path, "../nbd3/pid", "77\n");
	assert_int_equal(nbd_dev_find_free(), -ENODEV);

	unsetenv("NBDM_SYSFS_ROOT");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_encoding),
		cmocka_unit_test(test_connect_encoding_minimal),
		cmocka_unit_test(test_reconfigure_encoding),
		cmocka_unit_test(test_link_dead_parsing),
		cmocka_unit_test(test_device_index),
		cmocka_unit_test(test_disk_index),
		cmocka_unit_test(test_sysfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
