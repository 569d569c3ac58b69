/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdtab (client/nbdtab.c): the reference's format, every option, and every way a file can be
 * wrong.
 *
 * Each test writes its files into a fresh temporary directory and has fd 2 pointed at a memfd, so
 * that messages are asserted by their text: one that names the wrong line is a bug here.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/nbdtab.h"
#include "client/target.h"
#include "client/uri.h"
#include "common/log.h"
#include "tests/unit/capture.h"

static char dir[512];
static struct capture cap = CAPTURE_INIT;
static struct client_options o;

static int setup(void **state _unused_)
{
	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	log_close();
	log_open("nbd-client", LOG_TARGET_STDERR);
	snprintf(dir, sizeof(dir), "%s/nbdm-nbdtab-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;
	if (capture_begin(&cap) < 0)
		return -1;
	client_options_init(&o);
	return 0;
}

static int teardown(void **state _unused_)
{
	client_options_free(&o);
	log_close();
	remove_tree(dir);
	capture_end(&cap);
	return 0;
}

static const char *take_err(void)
{
	return capture_take(&cap, cap.err_fd);
}

static const char *path_of(const char *name)
{
	static char ring[16][1024];
	static unsigned next;
	char *p = ring[next++ % ELEMENTSOF(ring)];

	snprintf(p, sizeof(ring[0]), "%s/%s", dir, name);
	return p;
}

static const char *write_tab_n(const char *content, size_t len)
{
	const char *p = path_of("nbdtab");
	FILE *f = fopen(p, "we");

	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return p;
}

static const char *write_tab(const char *content)
{
	return write_tab_n(content, strlen(content));
}

static void reset(void)
{
	client_options_free(&o);
	client_options_init(&o);
}

/* ------------------------------------------------------------------ good files */

static void test_every_option(void **state _unused_)
{
	const char *tab = write_tab("nbd0 server.example export "
				    "port=2000,certfile=/c.pem,keyfile=/k.pem,cacertfile=/ca.pem,"
				    "tlshostname=tls.example,priority=NORMAL:-VERS-TLS1.0,bs=4096,"
				    "timeout=30,dead-timeout=60,connect-timeout=7,negotiate-timeout=8,"
				    "conns=4,no_optgo,persist,swap,"
				    "preinit,tls,readonly,size=1G,identifier=id-1,ktls=no\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(take_err(), "");
	assert_string_equal(o.device, "/dev/nbd0");
	assert_int_equal(o.target.kind, TARGET_TCP);
	assert_string_equal(o.target.host, "server.example");
	assert_string_equal(o.target.port, "2000");
	assert_string_equal(o.target.export_name, "export");
	assert_null(o.target.socket_path);
	assert_true(o.target.tls.enabled);
	assert_string_equal(o.target.tls.certfile, "/c.pem");
	assert_string_equal(o.target.tls.keyfile, "/k.pem");
	assert_string_equal(o.target.tls.cacertfile, "/ca.pem");
	assert_string_equal(o.target.tls.hostname, "tls.example");
	assert_string_equal(o.target.tls.priority, "NORMAL:-VERS-TLS1.0");
	assert_int_equal(o.target.tls.ktls, CLIENT_KTLS_NO);
	assert_int_equal(o.block_size, 4096);
	assert_int_equal(o.timeout, 30);
	assert_int_equal(o.dead_timeout, 60);
	assert_int_equal(o.connect_timeout, 7);
	assert_int_equal(o.negotiate_timeout, 8);
	assert_int_equal(o.connections, 4);
	assert_true(o.no_opt_go && o.persist && o.swap && o.preinit && o.read_only);
	assert_int_equal(o.size, 1 << 30);
	assert_string_equal(o.identifier, "id-1");
	/* Not expressible in nbdtab: these stay as they were. */
	assert_false(o.systemd_mark || o.nofork || o.no_netlink);
	assert_int_equal(o.command, CLIENT_ATTACH);
}

static void test_minimal_and_defaults(void **state _unused_)
{
	const char *tab = write_tab("nbd3 10.0.0.1 disk\n");

	assert_int_equal(nbdtab_apply(tab, "/dev/nbd3", &o), 0);
	assert_string_equal(o.device, "/dev/nbd3");
	assert_int_equal(o.target.kind, TARGET_TCP);
	assert_string_equal(o.target.host, "10.0.0.1");
	assert_string_equal(o.target.port, "10809");
	assert_string_equal(o.target.export_name, "disk");
	assert_false(o.target.tls.enabled);
	assert_int_equal(o.block_size, 0);
	assert_int_equal(o.timeout, 0);
	assert_int_equal(o.connections, 1);
	assert_false(o.persist || o.swap || o.read_only || o.preinit || o.no_opt_go);
	assert_null(o.target.tls.certfile);
	assert_string_equal(take_err(), "");
}

static void test_unix_socket(void **state _unused_)
{
	const char *tab = write_tab("/dev/nbd1 /run/nbd/server.sock exp unix,persist\n");

	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), 0);
	assert_int_equal(o.target.kind, TARGET_UNIX);
	assert_string_equal(o.target.socket_path, "/run/nbd/server.sock");
	assert_null(o.target.host);
	assert_null(o.target.port);
	assert_string_equal(o.target.export_name, "exp");
	assert_true(o.persist);
	assert_string_equal(take_err(), "");
}

static void test_ipv6_hosts(void **state _unused_)
{
	const char *tab = write_tab("nbd0 ::1 a\n"
				    "nbd1 fe80::1%eth0 b port=2000\n"
				    "nbd2 [2001:db8::1] c\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(o.target.host, "::1");
	assert_string_equal(o.target.port, "10809");
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), 0);
	assert_string_equal(o.target.host, "fe80::1%eth0");
	assert_string_equal(o.target.port, "2000");
	assert_int_equal(nbdtab_apply(tab, "nbd2", &o), 0);
	assert_string_equal(o.target.host, "2001:db8::1");
	assert_string_equal(take_err(), "");
}

static void test_comments_and_layout(void **state _unused_)
{
	const char *tab = write_tab("# nbdtab for the tests\n"
				    "\n"
				    "   \t \n"
				    "#nbd0 commented.out x\n"
				    "nbd0\tserver\t\tdisk#2   # the export has a '#' in its name\n"
				    "  nbd1 server other persist # leading blanks and a comment\n"
				    "nbd2 server crlf swap\r\n"
				    "nbd3 server last bs=512"); /* no newline at the end */

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(o.target.export_name, "disk#2");
	assert_false(o.persist);
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), 0);
	assert_string_equal(o.target.export_name, "other");
	assert_true(o.persist);
	reset();
	assert_int_equal(nbdtab_apply(tab, "nbd2", &o), 0);
	assert_string_equal(o.target.export_name, "crlf");
	assert_true(o.swap);
	assert_int_equal(nbdtab_apply(tab, "nbd3", &o), 0);
	assert_int_equal(o.block_size, 512);
	assert_string_equal(take_err(), "");
}

/*
 * The reference resets its settings on each line that names another device, and loses the port
 * with them; here a later line gets the default port and nothing from the lines before it.
 */
static void test_multiple_lines(void **state _unused_)
{
	const char *tab = write_tab("nbd0 first a port=2000,persist,bs=4096,certfile=/c\n"
				    "nbd1 second b port=3000,swap,timeout=9\n"
				    "nbd2 third c\n"
				    "nbd10 tenth d conns=2\n");

	assert_int_equal(nbdtab_apply(tab, "nbd2", &o), 0);
	assert_string_equal(o.target.host, "third");
	assert_string_equal(o.target.port, "10809");
	assert_string_equal(o.target.export_name, "c");
	assert_false(o.persist || o.swap || o.target.tls.enabled);
	assert_int_equal(o.block_size, 0);
	assert_int_equal(o.timeout, 0);
	assert_null(o.target.tls.certfile);

	reset();
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), 0);
	assert_string_equal(o.target.host, "second");
	assert_string_equal(o.target.port, "3000");
	assert_true(o.swap && !o.persist);
	assert_int_equal(o.timeout, 9);

	/* nbd1 is not a prefix match for nbd10, nor the other way round. */
	reset();
	assert_int_equal(nbdtab_apply(tab, "nbd10", &o), 0);
	assert_string_equal(o.target.host, "tenth");
	assert_int_equal(o.connections, 2);
	assert_string_equal(take_err(), "");
}

/* bs=preferred goes through the command line's parser: the server's preferred size. */
static void test_bs_preferred(void **state _unused_)
{
	const char *tab = write_tab("nbd0 h e bs=preferred\nnbd1 h e bs=512\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_int_equal(o.block_size, CLIENT_BLOCK_SIZE_PREFERRED);
	assert_string_equal(take_err(), "");
	reset();
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), 0);
	assert_int_equal(o.block_size, 512);
}

/* What the line sets replaces what o had; what it does not set stays. */
static void test_apply_over_options(void **state _unused_)
{
	const char *tab = write_tab("nbd0 h e bs=4096,persist\n");

	o.timeout = 5;
	o.block_size = 1024;
	o.systemd_mark = true;
	assert_int_equal(client_parse_target("nbd://old:1/x", &o.target), 0);
	/* TLS settings belong to the target; those the line does not set survive its target. */
	o.target.tls.certfile = strdup("/mine");
	o.device = strdup("/dev/nbd9");
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_int_equal(o.timeout, 5);
	assert_int_equal(o.block_size, 4096);
	assert_true(o.systemd_mark && o.persist);
	assert_string_equal(o.target.tls.certfile, "/mine");
	assert_string_equal(o.device, "/dev/nbd0");
	assert_string_equal(o.target.host, "h");
	assert_string_equal(o.target.port, "10809");
	assert_string_equal(o.target.export_name, "e");
	assert_string_equal(take_err(), "");
}

static void test_duplicates(void **state _unused_)
{
	char want[2048];
	const char *tab = write_tab("nbd0 first e1\n"
				    "/dev/nbd0 second e2 persist\n"
				    "nbd0 third e3\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(o.target.host, "first");
	assert_false(o.persist);
	snprintf(want, sizeof(want),
		 "nbd-client: %s:2: /dev/nbd0 is already defined on line 1; this line is ignored\n"
		 "nbd-client: %s:3: nbd0 is already defined on line 1; this line is ignored\n",
		 tab, tab);
	assert_string_equal(take_err(), want);
}

static void test_unknown_and_reserved(void **state _unused_)
{
	char want[4096];
	const char *tab = write_tab("nbd1 other x frobnicate\n"
				    "nbd0 h e _local=1,_flag,frobnicate,frob=2,persist=yes,port,"
				    "persist,deadtimeout=3\n");

	/* Only the line applied is interpreted: nbd1's unknown option is not reported. */
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_true(o.persist);
	assert_string_equal(o.target.port, "10809");
	assert_int_equal(o.dead_timeout, 0);
	snprintf(want, sizeof(want),
		 "nbd-client: %s:2: unknown option 'frobnicate' is ignored\n"
		 "nbd-client: %s:2: unknown option 'frob' is ignored\n"
		 "nbd-client: %s:2: option 'persist' is a flag and takes no value; it is ignored "
		 "(write 'persist' alone)\n"
		 "nbd-client: %s:2: option 'port' needs a value (port=...); it is ignored\n"
		 "nbd-client: %s:2: unknown option 'deadtimeout' is ignored\n",
		 tab, tab, tab, tab, tab);
	assert_string_equal(take_err(), want);
}

/* ------------------------------------------------------------------ bad files */

struct bad_case {
	const char *name;
	const char *content;
	const char *device;
	const char *message; /* after "nbd-client: PATH:" */
};

#define LINE_FORM "expected 'DEVICE HOST EXPORT [OPTIONS]'"
#define TOO_MANY                                                                                   \
	"1: too many fields: " LINE_FORM " (options are separated by commas, without spaces)"
#define BAD_DEVICE(d) "invalid device '" d "': expected /dev/nbdN or nbdN"
#define BAD_BS(v)                                                                                  \
	"1: invalid block size '" v "' for bs: expected a power of two from 512 to 65536, or "     \
	"'preferred'"
#define BAD_CONNS(v)                                                                               \
	"1: invalid number of connections '" v "' for conns: expected a number from 1 to 16"
#define BAD_PORT(v)                                                                                \
	"1: invalid port '" v "' for port: expected a port number from 1 to 65535 or a service name"

static const struct bad_case bad_cases[] = {
	{ "two fields", "nbd0 host\n", "nbd0", "1: " LINE_FORM ", but the line has only 2 fields" },
	{ "one field", "# x\n\nnbd0\n", "nbd0", "3: " LINE_FORM ", but the line has only 1 field" },
	{ "five fields", "nbd0 h e persist swap\n", "nbd0", TOO_MANY },
	{ "space after comma", "nbd0 h e persist, swap\n", "nbd0", TOO_MANY },
	{ "bad device", "# c\nnbdx h e\n", "nbd0", "2: " BAD_DEVICE("nbdx") },
	{ "not nbd", "sda h e\n", "nbd0", "1: " BAD_DEVICE("sda") },
	{ "leading zero", "nbd01 h e\n", "nbd0", "1: " BAD_DEVICE("nbd01") },
	{ "partition", "nbd0p1 h e\n", "nbd0",
	  "1: invalid device 'nbd0p1': a partition: expected the whole device, /dev/nbdN" },
	{ "too big", "nbd4294967296 h e\n", "nbd0", "1: " BAD_DEVICE("nbd4294967296") },
	{ "double comma", "nbd0 h e persist,,swap\n", "nbd0",
	  "1: empty option in 'persist,,swap' (one ',' too many?)" },
	{ "leading comma", "nbd0 h e ,persist\n", "nbd0",
	  "1: empty option in ',persist' (one ',' too many?)" },
	{ "trailing comma", "nbd0 h e persist,\n", "nbd0",
	  "1: empty option in 'persist,' (one ',' too many?)" },
	{ "no name", "nbd0 h e swap,=1\n", "nbd0", "1: option '=1' has no name before '='" },
	{ "no value", "nbd0 h e port=,swap\n", "nbd0", "1: option 'port=' has no value after '='" },
	{ "own line malformed", "nbd1 h e\nnbd0 h\n", "nbd0",
	  "2: " LINE_FORM ", but the line has only 2 fields" },
	{ "bs not a power of two", "nbd0 h e bs=1000\n", "nbd0", BAD_BS("1000") },
	{ "bs too big", "nbd0 h e bs=131072\n", "nbd0", BAD_BS("131072") },
	{ "bs not a number", "nbd0 h e bs=4k\n", "nbd0", BAD_BS("4k") },
	{ "bs preferred misspelt", "nbd0 h e bs=prefered\n", "nbd0", BAD_BS("prefered") },
	{ "timeout", "nbd0 h e timeout=30s\n", "nbd0",
	  "1: invalid timeout '30s' for timeout: expected a number of seconds" },
	{ "dead-timeout", "nbd0 h e dead-timeout=-1\n", "nbd0",
	  "1: invalid dead-connection timeout '-1' for dead-timeout: expected a number of "
	  "seconds" },
	{ "negotiate-timeout", "nbd0 h e negotiate-timeout=1m\n", "nbd0",
	  "1: invalid negotiation timeout '1m' for negotiate-timeout: expected a number of seconds" },
	{ "conns 0", "nbd0 h e conns=0\n", "nbd0", BAD_CONNS("0") },
	{ "conns 17", "nbd0 h e conns=17\n", "nbd0", BAD_CONNS("17") },
	{ "port 0", "nbd0 h e port=0\n", "nbd0", BAD_PORT("0") },
	{ "port 99999", "nbd0 h e port=99999\n", "nbd0", BAD_PORT("99999") },
	{ "size 0", "nbd0 h e size=0\n", "nbd0",
	  "1: invalid size '0' for size: expected a size in bytes greater than 0, optionally with "
	  "a suffix such as K, M or G" },
	{ "size huge", "nbd0 h e size=16E\n", "nbd0", "1: invalid size '16E' for size: too large" },
	{ "unix with port", "nbd0 /run/s e unix,port=2\n", "nbd0",
	  "1: port= does not apply to a Unix socket ('unix' is set)" },
};

static void test_malformed(void **state _unused_)
{
	char want[4096];

	for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *tab = write_tab(c->content);
		const char *err;
		int r;

		reset();
		o.timeout = 77;
		r = nbdtab_apply(tab, c->device, &o);
		err = take_err();
		if (r != -EINVAL)
			fail_msg("case '%s': returned %d: %s", c->name, r, err);
		snprintf(want, sizeof(want), "nbd-client: %s:%s\n", tab, c->message);
		if (strcmp(err, want) != 0)
			fail_msg("case '%s':\n  expected: %s  got:      %s", c->name, want, err);
		/* Nothing changed. */
		CASE_CHECK(c->name, o.timeout == 77 && o.device == NULL);
		CASE_CHECK(c->name, o.target.kind == TARGET_NONE);
	}
}

/* Values on lines for other devices are checked when those devices are attached. */
static void test_other_lines_values(void **state _unused_)
{
	const char *tab = write_tab("nbd1 h e bs=1000,conns=0\nnbd0 h e\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(take_err(), "");
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), -EINVAL);
	assert_non_null(strstr(take_err(), ":1: invalid block size '1000' for bs"));
}

/* ktls= says where TLS runs; alone it does not ask for TLS, and a wrong value is named. */
static void test_ktls(void **state _unused_)
{
	const char *tab = write_tab("nbd0 h e ktls=yes\nnbd1 h e ktls=sometimes\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(take_err(), "");
	assert_int_equal(o.target.tls.ktls, CLIENT_KTLS_YES);
	assert_false(o.target.tls.enabled);
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), -EINVAL);
	assert_non_null(strstr(take_err(), ":2: invalid kernel TLS choice 'sometimes' for ktls: "
					   "expected auto, yes or no"));
}

static void test_long_values(void **state _unused_)
{
	char line[8192], want[9000];
	const char *tab;

	/* A socket path longer than an address holds. */
	snprintf(line, sizeof(line), "nbd0 /%0108d e unix\n", 0);
	tab = write_tab(line);
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-client: %s:1: socket path '/%0108d' is longer than 107 bytes, the most a "
		 "Unix socket address holds\n",
		 tab, 0);
	assert_string_equal(take_err(), want);

	/* An export name of 4096 bytes is fine, one more is not. */
	strcpy(line, "nbd0 h ");
	memset(line + 7, 'x', 4096);
	strcpy(line + 7 + 4096, "\n");
	tab = write_tab(line);
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_int_equal(strlen(o.target.export_name), 4096);
	strcpy(line + 7 + 4096, "x\n");
	tab = write_tab(line);
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-client: %s:1: the export name is longer than 4096 bytes, the most NBD "
		 "allows\n",
		 tab);
	assert_string_equal(take_err(), want);
}

static void test_nul_byte(void **state _unused_)
{
	char want[2048];
	const char *tab = write_tab_n("nbd0 h e\nnbd1 h\0 e\n", 19);

	/* Reported; but it is another device's line, and nbd0's is read. */
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	snprintf(want, sizeof(want), "nbd-client: %s:2: a NUL byte; is it a text file?\n", tab);
	assert_string_equal(take_err(), want);
	assert_string_equal(o.target.host, "h");
	assert_int_equal(nbdtab_apply(tab, "nbd1", &o), -EINVAL);
}

/* One malformed line does not stop the other devices of the file from attaching. */
static void test_other_line_malformed(void **state _unused_)
{
	char want[2048];
	const char *tab = write_tab("nbd0 h e\nnbd1 h\nnbd2 h2 e2\n");

	assert_int_equal(nbdtab_apply(tab, "nbd2", &o), 0);
	snprintf(want, sizeof(want), "nbd-client: %s:2: " LINE_FORM ", but the line has only 2 "
		 "fields\n", tab);
	assert_string_equal(take_err(), want);
	assert_string_equal(o.target.host, "h2");
	assert_string_equal(o.target.export_name, "e2");
}

static void test_not_found(void **state _unused_)
{
	char want[2048];
	const char *tab = write_tab("# only comments\nnbd1 h e\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), -ENOENT);
	snprintf(want, sizeof(want), "nbd-client: nbd0 is not defined in %s\n", tab);
	assert_string_equal(take_err(), want);
	assert_null(o.device);

	tab = write_tab("");
	assert_int_equal(nbdtab_apply(tab, "/dev/nbd0", &o), -ENOENT);
	snprintf(want, sizeof(want), "nbd-client: /dev/nbd0 is not defined in %s\n", tab);
	assert_string_equal(take_err(), want);

	assert_int_equal(nbdtab_apply(path_of("missing"), "nbd0", &o), -ENOENT);
	snprintf(want, sizeof(want), "nbd-client: Cannot open %s: No such file or directory\n",
		 path_of("missing"));
	assert_string_equal(take_err(), want);

	/* A directory opens but cannot be read. */
	assert_int_equal(nbdtab_apply(dir, "nbd0", &o), -EISDIR);
	assert_non_null(strstr(take_err(), "Cannot read"));

	assert_int_equal(nbdtab_apply(tab, "sda", &o), -EINVAL);
	assert_string_equal(take_err(),
			    "nbd-client: invalid device 'sda': expected /dev/nbdN or nbdN\n");
}

/* ------------------------------------------------------------------ nbdtab_read */

static const char *tab_path_for_entries;

struct collected {
	char text[4096];
	unsigned calls;
	unsigned stop_after;
};

static int collect(const struct nbdtab_entry *e, void *userdata)
{
	struct collected *c = userdata;
	size_t n = strlen(c->text);

	snprintf(c->text + n, sizeof(c->text) - n, "%u %s %s %s %s\n", e->line, e->device, e->host,
		 e->export_name, e->options ? e->options : "(none)");
	if (++c->calls == c->stop_after)
		return -ECANCELED;
	return 0;
}

static void test_read(void **state _unused_)
{
	struct collected c = { .stop_after = 0 };
	char want[2048];
	const char *tab = write_tab("# devices\n"
				    "nbd0 server a persist,_x,unknown\n"
				    "/dev/nbd5 /run/s b unix\n"
				    "nbd5 again c\n"
				    "  nbd2 ::1 d bs=1000   # not checked here\n"
				    "nbd3 h e\n");

	assert_int_equal(nbdtab_read(tab, collect, &c), 0);
	assert_string_equal(c.text, "2 /dev/nbd0 server a persist,_x,unknown\n"
				    "3 /dev/nbd5 /run/s b unix\n"
				    "5 /dev/nbd2 ::1 d bs=1000\n"
				    "6 /dev/nbd3 h e (none)\n");
	snprintf(want, sizeof(want),
		 "nbd-client: %s:4: nbd5 is already defined on line 3; this line is ignored\n",
		 tab);
	assert_string_equal(take_err(), want);

	/* The callback's error stops the walk. */
	c = (struct collected){ .stop_after = 2 };
	assert_int_equal(nbdtab_read(tab, collect, &c), -ECANCELED);
	assert_int_equal(c.calls, 2);
	take_err();

	/* A malformed line is reported and skipped: the lines after it still count, and the walk
	 * says at its end that one was bad. */
	tab = write_tab("nbd0 h e\nnbd1 h e persist,,x\nnbd2 h e\nnbd3 h\n");
	c = (struct collected){ .stop_after = 0 };
	assert_int_equal(nbdtab_read(tab, collect, &c), -EINVAL);
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.text, "1 /dev/nbd0 h e (none)\n3 /dev/nbd2 h e (none)\n");
	snprintf(want, sizeof(want),
		 "nbd-client: %s:2: empty option in 'persist,,x' (one ',' too many?)\n"
		 "nbd-client: %s:4: " LINE_FORM ", but the line has only 2 fields\n",
		 tab, tab);
	assert_string_equal(take_err(), want);

	c = (struct collected){ .stop_after = 0 };
	assert_int_equal(nbdtab_read(path_of("missing"), collect, &c), -ENOENT);
	assert_int_equal(c.calls, 0);
	assert_non_null(strstr(take_err(), "Cannot open"));

	tab = write_tab("\n# nothing\n");
	assert_int_equal(nbdtab_read(tab, collect, &c), 0);
	assert_int_equal(c.calls, 0);
	assert_string_equal(take_err(), "");
}

/* ------------------------------------------------------------------ nbdtab_entry_options */

struct entry_options {
	struct client_options o;
	struct nbdtab_systemd sd;
	int r[4];
	unsigned calls;
};

static int read_options(const struct nbdtab_entry *e, void *userdata)
{
	struct entry_options *x = userdata;

	/* Only the line asked for counts; the others show what a failure leaves. */
	x->r[x->calls++] = nbdtab_entry_options(tab_path_for_entries, e, &x->o, &x->sd);
	return 0;
}

/* An entry reads as nbdtab_apply() reads its line, with the keys only the generator uses. */
static void test_entry_options(void **state _unused_)
{
	struct entry_options x = { .calls = 0 };
	const char *tab = write_tab("nbd0 server.example disk persist,mount=/srv/data,fstype=ext4,"
				    "mountopt=noatime,mountopt=discard,noauto,port=2000\n"
				    "nbd1 /run/s e unix,bs=1000\n");

	tab_path_for_entries = tab;
	client_options_init(&x.o);
	assert_int_equal(nbdtab_read(tab, read_options, &x), 0);
	assert_int_equal(x.calls, 2);
	assert_int_equal(x.r[0], 0);
	assert_int_equal(x.r[1], -EINVAL);
	assert_non_null(strstr(take_err(), ":2: invalid block size '1000' for bs"));
	/* What the good line set, and nothing of the bad one. */
	assert_string_equal(x.o.device, "/dev/nbd0");
	assert_int_equal(x.o.target.kind, TARGET_TCP);
	assert_string_equal(x.o.target.host, "server.example");
	assert_string_equal(x.o.target.port, "2000");
	assert_string_equal(x.o.target.export_name, "disk");
	assert_true(x.o.persist);
	assert_int_equal(x.o.block_size, 0);
	assert_true(x.sd.noauto);
	assert_string_equal(x.sd.mount, "/srv/data");
	assert_string_equal(x.sd.fstype, "ext4");
	assert_string_equal(x.sd.mount_options, "noatime,discard");
	nbdtab_systemd_free(&x.sd);
	client_options_free(&x.o);
}

/* nbd-client accepts the generator's keys without a word, and they change nothing it does. */
static void test_systemd_keys_quiet(void **state _unused_)
{
	const char *tab = write_tab("nbd0 h e noauto,mount=/m,fstype=xfs,mountopt=ro\n");

	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_string_equal(take_err(), "");
	assert_string_equal(o.device, "/dev/nbd0");
	assert_false(o.read_only);
	tab = write_tab("nbd0 h e mount\n");
	assert_int_equal(nbdtab_apply(tab, "nbd0", &o), 0);
	assert_non_null(strstr(take_err(), "option 'mount' needs a value (mount=...); it is ignored"));
}

/* ------------------------------------------------------------------ shared value checks */

static void test_value_checks(void **state _unused_)
{
	static const char *const good_devices[][2] = {
		{ "nbd0", "/dev/nbd0" },
		{ "/dev/nbd0", "/dev/nbd0" },
		{ "nbd15", "/dev/nbd15" },
		{ "/dev/nbd1023", "/dev/nbd1023" },
		{ "nbd2147483647", "/dev/nbd2147483647" },
	};
	static const char *const bad_devices[] = {
		"", "nbd", "/dev/nbd", "nbda", "nbd-1", "nbd01", "/dev/sda", "dev/nbd0",
		"/dev//nbd0", "nbd0 ", " nbd0", "/dev/nbd0/", "NBD0", "nbd0x", "nbd2147483648",
	};
	const char *why;
	uint32_t u, index;
	unsigned conns;
	uint64_t size;
	char *s;

	for (size_t i = 0; i < ELEMENTSOF(good_devices); i++) {
		assert_int_equal(client_parse_device(good_devices[i][0], &s, &index, &why), 0);
		assert_string_equal(s, good_devices[i][1]);
		free(s);
	}
	assert_int_equal(client_parse_device("nbd42", &s, &index, NULL), 0);
	assert_int_equal(index, 42);
	free(s);
	for (size_t i = 0; i < ELEMENTSOF(bad_devices); i++) {
		why = NULL;
		if (client_parse_device(bad_devices[i], &s, NULL, &why) != -EINVAL)
			fail_msg("device '%s' accepted", bad_devices[i]);
		assert_string_equal(why, "expected /dev/nbdN or nbdN");
	}
	assert_int_equal(client_parse_device("/dev/nbd3p2", &s, NULL, &why), -EINVAL);
	assert_string_equal(why, "a partition: expected the whole device, /dev/nbdN");
	assert_int_equal(client_parse_device("nbd3p", &s, NULL, NULL), -EINVAL);

	for (uint32_t bs = 512; bs <= 65536; bs *= 2) {
		char text[16];

		snprintf(text, sizeof(text), "%u", bs);
		assert_int_equal(client_parse_block_size(text, &u), 0);
		assert_int_equal(u, bs);
	}
	assert_int_equal(client_parse_block_size("0x1000", &u), 0);
	assert_int_equal(u, 4096);
	assert_int_equal(client_parse_block_size("256", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("1536", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("131072", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("0", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("4096 ", &u), -EINVAL);
	/* The server's preferred size, by name only. */
	u = 0;
	assert_int_equal(client_parse_block_size("preferred", &u), 0);
	assert_int_equal(u, CLIENT_BLOCK_SIZE_PREFERRED);
	u = 7;
	assert_int_equal(client_parse_block_size("Preferred", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("prefer", &u), -EINVAL);
	assert_int_equal(client_parse_block_size("preferred ", &u), -EINVAL);
	assert_int_equal(client_parse_block_size(" preferred", &u), -EINVAL);
	assert_int_equal(u, 7);

	assert_int_equal(client_parse_connections("1", &conns), 0);
	assert_int_equal(client_parse_connections("16", &conns), 0);
	assert_int_equal(conns, 16);
	assert_int_equal(client_parse_connections("0", &conns), -EINVAL);
	assert_int_equal(client_parse_connections("17", &conns), -EINVAL);

	assert_int_equal(client_parse_port("10809", &s), 0);
	assert_string_equal(s, "10809");
	free(s);
	assert_int_equal(client_parse_port("065535", &s), 0);
	assert_string_equal(s, "65535");
	free(s);
	assert_int_equal(client_parse_port("nbd", &s), 0);
	assert_string_equal(s, "nbd");
	free(s);
	assert_int_equal(client_parse_port("x-nbd2", &s), 0);
	free(s);
	assert_int_equal(client_parse_port("0", &s), -EINVAL);
	assert_int_equal(client_parse_port("65536", &s), -EINVAL);
	assert_int_equal(client_parse_port("0x50", &s), -EINVAL);
	assert_int_equal(client_parse_port("-1", &s), -EINVAL);
	assert_int_equal(client_parse_port("a b", &s), -EINVAL);
	assert_int_equal(client_parse_port("", &s), -EINVAL);

	assert_int_equal(client_parse_seconds("0", &u), 0);
	assert_int_equal(client_parse_seconds("4294967295", &u), 0);
	assert_int_equal(client_parse_seconds("4294967296", &u), -EINVAL);
	assert_int_equal(client_parse_seconds("1m", &u), -EINVAL);

	assert_int_equal(client_parse_size("1G", &size), 0);
	assert_int_equal(size, 1 << 30);
	assert_int_equal(client_parse_size("0x100000", &size), 0);
	assert_int_equal(size, 1 << 20);
	assert_int_equal(client_parse_size("4096", &size), 0);
	assert_int_equal(client_parse_size("0", &size), -EINVAL);
	assert_int_equal(client_parse_size("x", &size), -EINVAL);
	assert_int_equal(client_parse_size("8E", &size), -ERANGE);
	assert_int_equal(client_parse_size("99999999999999999999", &size), -ERANGE);
	assert_string_equal(take_err(), "");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_every_option),
		TEST(test_minimal_and_defaults),
		TEST(test_unix_socket),
		TEST(test_ipv6_hosts),
		TEST(test_comments_and_layout),
		TEST(test_multiple_lines),
		TEST(test_bs_preferred),
		TEST(test_apply_over_options),
		TEST(test_duplicates),
		TEST(test_unknown_and_reserved),
		TEST(test_malformed),
		TEST(test_other_lines_values),
		TEST(test_ktls),
		TEST(test_other_line_malformed),
		TEST(test_long_values),
		TEST(test_nul_byte),
		TEST(test_not_found),
		TEST(test_read),
		TEST(test_entry_options),
		TEST(test_systemd_keys_quiet),
		TEST(test_value_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
