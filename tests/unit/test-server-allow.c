/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allow lists: the one CIDR rule (common/cidr.h) and matching parsed lists against peers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

#include "common/macro.h"
#include "server/allow.h"

static struct sockaddr_storage addr(const char *s)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(s, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &a->sin6_addr), 1);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &a->sin_addr), 1);
	}
	return ss;
}

static void test_parse(void **state _unused_)
{
	struct cidr c;

	assert_int_equal(cidr_parse("10.1.2.3", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(cidr_parse("10.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 0);
	assert_int_equal(cidr_parse("fe80::/10", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 10);
	assert_int_equal(cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
}

static void test_parse_rejects(void **state _unused_)
{
	struct cidr c = { .family = 77 };

	/* Decimal only: the two parsers this replaced disagreed on "0x18". */
	assert_int_equal(cidr_parse("10.0.0.0/0x18", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/+8", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/ 8", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/0008", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/33", &c), -ERANGE);
	assert_int_equal(cidr_parse("::/129", &c), -ERANGE);
	assert_int_equal(cidr_parse("/8", &c), -EINVAL);
	assert_int_equal(cidr_parse("", &c), -EINVAL);
	assert_int_equal(cidr_parse("example.org", &c), -EINVAL);
	assert_int_equal(cidr_parse("10.0.0.0/8/8", &c), -EINVAL);
	assert_int_equal(c.family, 77); /* untouched */
}

static void test_match(void **state _unused_)
{
	struct sockaddr_storage a;
	struct cidr c;

	assert_int_equal(cidr_parse("192.168.4.0/22", &c), 0);
	a = addr("192.168.7.255");
	assert_true(cidr_match(&c, &a));
	a = addr("192.168.8.0");
	assert_false(cidr_match(&c, &a));
	/* An IPv4 client on a dual-stack socket. */
	a = addr("::ffff:192.168.5.1");
	assert_true(cidr_match(&c, &a));
	assert_int_equal(cidr_parse("2001:db8::/33", &c), 0);
	a = addr("2001:db8:7fff::1");
	assert_true(cidr_match(&c, &a));
	a = addr("2001:db8:8000::1");
	assert_false(cidr_match(&c, &a));
	a = addr("10.0.0.1");
	assert_false(cidr_match(&c, &a));
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	a = addr("203.0.113.9");
	assert_true(cidr_match(&c, &a));
}

static void test_list(void **state _unused_)
{
	char e0[] = "127.0.0.1", e1[] = "10.0.0.0/8", e2[] = "::1", b1[] = "10.0.0.0/0x8";
	char *entries[] = { e0, e1, e2, NULL };
	char *bad[] = { e0, b1, NULL };
	char *none[] = { NULL };
	struct sockaddr_storage a, local = { .ss_family = AF_UNIX };
	struct allow_list l, keep = { .n = 42 };

	assert_int_equal(allow_list_compile(NULL, &l), 0);
	a = addr("198.51.100.1");
	assert_true(allow_list_permits(&l, &a));
	allow_list_done(&l);

	assert_int_equal(allow_list_compile(entries, &l), 0);
	assert_int_equal(l.n, 3);
	a = addr("10.200.0.1");
	assert_true(allow_list_permits(&l, &a));
	a = addr("::ffff:127.0.0.1");
	assert_true(allow_list_permits(&l, &a));
	a = addr("::1");
	assert_true(allow_list_permits(&l, &a));
	a = addr("11.0.0.1");
	assert_false(allow_list_permits(&l, &a));
	assert_true(allow_list_permits(&l, &local));
	allow_list_done(&l);

	/* An empty list lets no one in but local clients. */
	assert_int_equal(allow_list_compile(none, &l), 0);
	a = addr("127.0.0.1");
	assert_false(allow_list_permits(&l, &a));
	assert_true(allow_list_permits(&l, &local));
	allow_list_done(&l);

	assert_int_equal(allow_list_compile(bad, &keep), -EINVAL);
	assert_int_equal(keep.n, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
