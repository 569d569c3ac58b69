/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server's command line, config file and allow lists.
 *
 * Every test gets a fresh temporary directory for the files it writes, and fd 2 (and fd 1 while the
 * parser runs, for --help, --version and -o) pointed at memfds, so that each error is asserted by
 * its text: a message that names the wrong line or the wrong key is a bug here. Tables carry the
 * cases; a failing case is reported by its name.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "tests/unit/capture.h"
#include "server/config.h"
#include "server/virt.h"

static char dir[512];
static char saved_cwd[PATH_MAX];
static struct capture cap = CAPTURE_INIT;
static struct server_config cfg;

static int setup(void **state _unused_)
{
	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	log_close();
	log_open("nbd-server", LOG_TARGET_STDERR);

	if (!getcwd(saved_cwd, sizeof(saved_cwd)))
		return -1;
	snprintf(dir, sizeof(dir), "%s/nbdm-config-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;
	if (capture_begin(&cap) < 0)
		return -1;
	server_config_init(&cfg);
	return 0;
}

static int teardown(void **state _unused_)
{
	server_config_free(&cfg);
	log_close();
	if (chdir(saved_cwd) < 0)
		return -1;
	remove_tree(dir);
	capture_end(&cap);
	return 0;
}

static const char *take_err(void)
{
	return capture_take(&cap, cap.err_fd);
}

static const char *take_out(void)
{
	return capture_take(&cap, cap.out_fd);
}

/* A path in the test's directory; a few live at once, hence the ring. */
static const char *path_of(const char *name)
{
	static char ring[64][1024];
	static unsigned next;
	char *p = ring[next++ % ELEMENTSOF(ring)];

	snprintf(p, sizeof(ring[0]), "%s/%s", dir, name);
	return p;
}

static const char *write_file(const char *name, const char *content)
{
	const char *p = path_of(name);
	FILE *f = fopen(p, "we");

	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return p;
}

_printf_(2, 3) static const char *write_filef(const char *name, const char *fmt, ...)
{
	char *content;
	const char *p;
	va_list ap;

	va_start(ap, fmt);
	assert_true(vasprintf(&content, fmt, ap) >= 0);
	va_end(ap);
	p = write_file(name, content);
	free(content);
	return p;
}

/* Runs the parser on "nbd-server" + args into cfg, with stdout captured for the call. */
static int run_argv(const char *const *args)
{
	char *argv[64];
	int argc = 0, r;

	argv[argc++] = (char *)"nbd-server";
	for (; *args; args++) {
		assert_true(argc < (int)ELEMENTSOF(argv) - 1);
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;

	fflush(stdout);
	assert_true(dup2(cap.out_fd, STDOUT_FILENO) >= 0);
	r = server_config_parse_args(&cfg, argc, argv);
	fflush(stdout);
	assert_true(dup2(cap.saved_stdout, STDOUT_FILENO) >= 0);
	return r;
}

#define RUN(...) run_argv((const char *const[]){ __VA_ARGS__, NULL })

static void reset_cfg(void)
{
	server_config_free(&cfg);
	server_config_init(&cfg);
}

/* ------------------------------------------------------------------------ reference forms */

struct ref_case {
	const char *name;
	const char *args[12];
	const char *address; /* the one listen address, or NULL for all */
	uint16_t port;
	bool stdio;
	const char *path;
	uint64_t size;
	bool read_only, copy_on_write, foreground, oneshot;
	const char *pidfile;
	unsigned max_connections;
};

static const struct ref_case ref_cases[] = {
	{ "port file", { "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img" },
	{ "other port", { "2000", "/srv/img" }, NULL, 2000, .path = "/srv/img" },
	{ "ip@port", { "127.0.0.1@10810", "/srv/img" }, "127.0.0.1", 10810, .path = "/srv/img" },
	{ "ip:port", { "127.0.0.1:10811", "/srv/img" }, "127.0.0.1", 10811, .path = "/srv/img" },
	{ "v6:port at the last colon", { "::1:10812", "/srv/img" }, "::1", 10812,
	  .path = "/srv/img" },
	{ "[v6]:port", { "[::1]:10813", "/srv/img" }, "::1", 10813, .path = "/srv/img" },
	{ "v6@port", { "fe80::1@10814", "/srv/img" }, "fe80::1", 10814, .path = "/srv/img" },
	{ "[v6]@port", { "[::]@10815", "/srv/img" }, "::", 10815, .path = "/srv/img" },
	{ "host@port", { "localhost@10816", "/srv/img" }, "localhost", 10816,
	  .path = "/srv/img" },
	{ "size bytes", { "10809", "/srv/img", "4096" }, NULL, 10809, .path = "/srv/img",
	  .size = 4096 },
	{ "size k", { "10809", "/srv/img", "1k" }, NULL, 10809, .path = "/srv/img", .size = 1024 },
	{ "size K", { "10809", "/srv/img", "2K" }, NULL, 10809, .path = "/srv/img", .size = 2048 },
	{ "size m (reference MiB)", { "10809", "/srv/img", "3m" }, NULL, 10809, .path = "/srv/img",
	  .size = 3 << 20 },
	{ "size M", { "10809", "/srv/img", "4M" }, NULL, 10809, .path = "/srv/img",
	  .size = 4 << 20 },
	{ "size G", { "10809", "/srv/img", "1G" }, NULL, 10809, .path = "/srv/img",
	  .size = 1 << 30 },
	{ "size 1.5G", { "10809", "/srv/img", "1.5G" }, NULL, 10809, .path = "/srv/img",
	  .size = 3ull << 29 },
	{ "-r", { "-r", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .read_only = true },
	{ "-c after", { "10809", "/srv/img", "-c" }, NULL, 10809, .path = "/srv/img",
	  .copy_on_write = true },
	{ "-rc cluster", { "10809", "-rc", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .read_only = true, .copy_on_write = true },
	{ "-n", { "-n", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .foreground = true },
	{ "-d", { "10809", "/srv/img", "-d" }, NULL, 10809, .path = "/srv/img",
	  .foreground = true, .oneshot = true },
	{ "-p", { "-p", "/run/nbd.pid", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .pidfile = "/run/nbd.pid" },
	{ "-M", { "-M", "5", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .max_connections = 5 },
	{ "-M0", { "-M0", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img" },
	{ "port 0 is stdin", { "0", "/srv/img" }, NULL, 10809, .stdio = true, .path = "/srv/img" },
	{ "after --", { "-r", "--", "10809", "/srv/img", "1M" }, NULL, 10809, .path = "/srv/img",
	  .size = 1 << 20, .read_only = true },
	{ "reference long names",
	  { "--read-only", "--copy-on-write", "--nodaemon", "--pid-file", "/run/x.pid",
	    "--max-connection", "3", "10809", "/srv/img" },
	  NULL, 10809, .path = "/srv/img", .read_only = true, .copy_on_write = true,
	  .foreground = true, .pidfile = "/run/x.pid", .max_connections = 3 },
	{ "--dont-fork", { "--dont-fork", "10809", "/srv/img" }, NULL, 10809, .path = "/srv/img",
	  .foreground = true, .oneshot = true },
};

static void test_reference_forms(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(ref_cases); i++) {
		const struct ref_case *c = &ref_cases[i];
		const struct export_config *e;
		int r;

		reset_cfg();
		r = run_argv(c->args);
		if (r != 0)
			fail_msg("case '%s': returned %d: %s", c->name, r, take_err());
		CASE_CHECK(c->name, cfg.port == c->port);
		CASE_CHECK(c->name, cfg.stdio == c->stdio);
		if (c->address) {
			CASE_CHECK(c->name, strv_length(cfg.addresses) == 1);
			CASE_CHECK(c->name, strcmp(cfg.addresses[0], c->address) == 0);
		} else {
			CASE_CHECK(c->name, cfg.addresses == NULL);
		}
		CASE_CHECK(c->name, cfg.n_exports == 1);
		e = &cfg.exports[0];
		CASE_CHECK(c->name, strcmp(e->name, "") == 0);
		CASE_CHECK(c->name, e->backend == EXPORT_FILE);
		CASE_CHECK(c->name, strcmp(e->path, c->path) == 0);
		CASE_CHECK(c->name, e->size == c->size);
		CASE_CHECK(c->name, e->read_only == c->read_only);
		CASE_CHECK(c->name, e->copy_on_write == c->copy_on_write);
		CASE_CHECK(c->name, e->flush && e->fua && e->trim && !e->rotational);
		CASE_CHECK(c->name, e->origin == NULL);
		CASE_CHECK(c->name, cfg.foreground == c->foreground);
		CASE_CHECK(c->name, cfg.oneshot == c->oneshot);
		CASE_CHECK(c->name, (cfg.pidfile == NULL) == (c->pidfile == NULL));
		CASE_CHECK(c->name, !c->pidfile || strcmp(cfg.pidfile, c->pidfile) == 0);
		CASE_CHECK(c->name, cfg.max_connections == c->max_connections);
		CASE_CHECK(c->name, cfg.allow_list && cfg.allow == NULL && cfg.family == AF_UNSPEC);
		CASE_CHECK(c->name, cfg.config_path == NULL && cfg.unix_path == NULL);
		CASE_CHECK(c->name, strcmp(take_err(), "") == 0);
	}
}

static void test_reference_authfile_and_config(void **state _unused_)
{
	const char *allow = write_file("allow", "10.0.0.0/8\n");
	const char *conf = write_file("config",
				      "[generic]\nport = 2000\n[disk]\nexportname = /srv/disk\n");

	/* -l is the reference's allow file: its entries become the global allow list. */
	assert_int_equal(RUN("-l", allow, "10809", "/srv/img"), 0);
	assert_string_equal(cfg.authfile, allow);
	assert_int_equal(strv_length(cfg.allow), 1);
	assert_string_equal(cfg.allow[0], "10.0.0.0/8");

	/* -C adds the file's exports to the command line's; PORT overrides the file's port. */
	reset_cfg();
	assert_int_equal(RUN("-C", conf, "10809", "/srv/img"), 0);
	assert_int_equal(cfg.n_exports, 2);
	assert_string_equal(cfg.exports[0].name, "disk");
	assert_string_equal(cfg.exports[1].name, "");
	assert_int_equal(cfg.port, 10809);
	assert_string_equal(cfg.config_path, conf);

	reset_cfg();
	assert_int_equal(RUN("-C", conf), 0);
	assert_int_equal(cfg.n_exports, 1);
	assert_int_equal(cfg.port, 2000);

	/* PORT alone is no export: it only sets where the file's exports are served. */
	reset_cfg();
	assert_int_equal(RUN("-C", conf, "127.0.0.1@10900"), 0);
	assert_int_equal(cfg.n_exports, 1);
	assert_int_equal(cfg.port, 10900);
	assert_string_equal(cfg.addresses[0], "127.0.0.1");
	assert_string_equal(take_err(), "");
}

static void test_relative_paths(void **state _unused_)
{
	char want[PATH_MAX + 32];

	assert_int_equal(chdir(dir), 0);
	assert_int_equal(RUN("10809", "img", "-p", "./run/pid", "--unix", "sock"), 0);
	snprintf(want, sizeof(want), "%s/img", dir);
	assert_string_equal(cfg.exports[0].path, want);
	snprintf(want, sizeof(want), "%s/run/pid", dir);
	assert_string_equal(cfg.pidfile, want);
	snprintf(want, sizeof(want), "%s/sock", dir);
	assert_string_equal(cfg.unix_path, want);
}

static void test_help_version(void **state _unused_)
{
	const char *out;

	assert_int_equal(RUN("-h"), 1);
	out = take_out();
	assert_non_null(strstr(out, "Usage: nbd-server"));
	assert_non_null(strstr(out, "--export NAME=FILE"));
	assert_int_equal(RUN("--help", "--frobnicate"), 1);
	assert_non_null(strstr(take_out(), "Usage: nbd-server"));

	assert_int_equal(RUN("-V"), 1);
	assert_string_equal(take_out(), "nbd-server (nbdm) " PACKAGE_VERSION "\n");
	assert_int_equal(RUN("10809", "/srv/img", "--version"), 1);
	assert_string_equal(take_out(), "nbd-server (nbdm) " PACKAGE_VERSION "\n");

	/* Nothing was configured and nothing went to stderr. */
	assert_int_equal(cfg.n_exports, 0);
	assert_string_equal(take_err(), "");
}

static void test_output_config(void **state _unused_)
{
	const char *allow = write_file("allow", "127.0.0.1\n");
	const char *out;
	struct export_config *e;

	assert_int_equal(RUN("-o", "myexp", "10809", "/srv/img", "1M", "-r", "-c", "-l", allow), 1);
	out = take_out();
	assert_non_null(strstr(out, "[myexp]\n\texportname = /srv/img\n\tfilesize = 1048576\n"));
	assert_non_null(strstr(out, "\treadonly = true\n\tcopyonwrite = true\n"));
	assert_non_null(strstr(out, "\tauthfile = "));
	assert_int_equal(cfg.n_exports, 0);

	/* What -o prints reads back as the same export. */
	write_file("generated", out);
	assert_int_equal(server_config_load_file(&cfg, path_of("generated")), 0);
	assert_int_equal(cfg.n_exports, 1);
	e = &cfg.exports[0];
	assert_string_equal(e->name, "myexp");
	assert_string_equal(e->path, "/srv/img");
	assert_int_equal(e->size, 1 << 20);
	assert_true(e->read_only && e->copy_on_write && e->flush && e->fua && e->trim);
	assert_string_equal(e->authfile, allow);
	reset_cfg();

	/* Long form, a memory export and a further --export, each as its own section. */
	assert_int_equal(RUN("--output-config", "scratch", "--memory", "64M", "--export",
			     "b=/srv/b", "--description", " spaced\tout "),
			 1);
	assert_string_equal(take_out(), "[scratch]\n"
					 "\tmemory = 67108864\n"
					 "\tflush = true\n"
					 "\tfua = true\n"
					 "\ttrim = true\n"
					 "\n"
					 "[b]\n"
					 "\texportname = /srv/b\n"
					 "\tdescription = \\sspaced\\tout\\s\n"
					 "\tflush = true\n"
					 "\tfua = true\n"
					 "\ttrim = true\n");

	/* Without a command-line export there is nothing to print. */
	assert_true(RUN("-o", "x") < 0);
	assert_non_null(strstr(take_err(), "nbd-server: -o x writes the command-line export as a "
					   "config section, but none is given"));
	assert_true(RUN("-o", "bad]name", "10809", "/srv/img") < 0);
	assert_non_null(strstr(take_err(), "cannot write an export named 'bad]name'"));
	assert_true(RUN("-o", "generic", "10809", "/srv/img") < 0);
	assert_non_null(strstr(take_err(), "cannot write an export named 'generic'"));
}

/* ------------------------------------------------------------------------ modern options */

static void test_modern_exports(void **state _unused_)
{
	const struct export_config *e;

	assert_int_equal(RUN("--export", "a=/srv/a", "--description", "disk A", "--export",
			     "b=memory:1M", "--export", "c=/srv/c", "--cow-file", "/var/c.cow",
			     "--copy-on-write", "--read-only", "--direct", "--sync"),
			 0);
	assert_int_equal(cfg.n_exports, 3);
	e = &cfg.exports[0];
	assert_string_equal(e->name, "a");
	assert_int_equal(e->backend, EXPORT_FILE);
	assert_string_equal(e->path, "/srv/a");
	assert_string_equal(e->description, "disk A");
	assert_true(e->read_only && e->copy_on_write && e->direct_io && e->sync);
	assert_null(e->cow_path);
	/* -c and --direct are about files; -r and --sync apply to memory too. */
	e = &cfg.exports[1];
	assert_string_equal(e->name, "b");
	assert_int_equal(e->backend, EXPORT_MEMORY);
	assert_int_equal(e->size, 1 << 20);
	assert_null(e->path);
	assert_null(e->description);
	assert_true(e->read_only && e->sync);
	assert_false(e->copy_on_write || e->direct_io);
	e = &cfg.exports[2];
	assert_string_equal(e->cow_path, "/var/c.cow");
	reset_cfg();

	/* Flags apply to memory exports too, except those that do not apply to memory at all. */
	assert_int_equal(RUN("--memory", "64M", "--description", "scratch", "-r", "--sync"), 0);
	assert_int_equal(cfg.n_exports, 1);
	e = &cfg.exports[0];
	assert_string_equal(e->name, "");
	assert_int_equal(e->backend, EXPORT_MEMORY);
	assert_int_equal(e->size, 64 << 20);
	assert_string_equal(e->description, "scratch");
	assert_true(e->read_only && e->sync);
	reset_cfg();

	/* The default export alongside named ones, in the order given; "" by --export too. */
	assert_int_equal(RUN("--export", "x=/srv/x", "10809", "/srv/img"), 0);
	assert_int_equal(cfg.n_exports, 2);
	assert_string_equal(cfg.exports[0].name, "x");
	assert_string_equal(cfg.exports[1].name, "");
	reset_cfg();
	assert_int_equal(RUN("--export", "=/srv/img"), 0);
	assert_string_equal(cfg.exports[0].name, "");
	assert_string_equal(take_err(), "");
}

/* Export flags that find nothing to apply to say so, once, and change nothing. */
static void test_flag_warnings(void **state _unused_)
{
	const char *conf = write_file("conf", "[disk]\nexportname = /srv/disk\n");

	assert_int_equal(RUN("-c", "--memory", "1M"), 0);
	assert_string_equal(take_err(), "nbd-server: --copy-on-write (-c) has no effect: it "
					"applies to the file exports given on the command line, "
					"and there is none\n");
	assert_false(cfg.exports[0].copy_on_write);
	reset_cfg();

	assert_int_equal(RUN("--direct", "--export", "m=memory:1M"), 0);
	assert_string_equal(take_err(), "nbd-server: --direct has no effect: it applies to the "
					"file exports given on the command line, and there is "
					"none\n");
	reset_cfg();

	assert_int_equal(RUN("-r", "-C", conf), 0);
	assert_string_equal(take_err(), "nbd-server: --read-only (-r) has no effect: it applies "
					"to the exports given on the command line, and there is "
					"none\n");
	assert_false(cfg.exports[0].read_only);
}

static void test_modern_listening(void **state _unused_)
{
	assert_int_equal(RUN("--bind", "127.0.0.1", "--bind", "[::1]", "--bind", "localhost",
			     "--port", "2000", "--memory", "1M"),
			 0);
	assert_int_equal(strv_length(cfg.addresses), 3);
	assert_string_equal(cfg.addresses[0], "127.0.0.1");
	assert_string_equal(cfg.addresses[1], "::1");
	assert_string_equal(cfg.addresses[2], "localhost");
	assert_int_equal(cfg.port, 2000);
	assert_null(cfg.unix_path);
	reset_cfg();

	/* A Unix socket alone, or with TCP when a TCP option asks for it. */
	assert_int_equal(RUN("--unix", "/run/nbd.sock", "--memory", "1M"), 0);
	assert_string_equal(cfg.unix_path, "/run/nbd.sock");
	assert_false(cfg.dual_listen);
	reset_cfg();
	assert_int_equal(RUN("--unix", "/run/nbd.sock", "--port", "2000", "--memory", "1M"), 0);
	assert_true(cfg.dual_listen);
	reset_cfg();

	assert_int_equal(RUN("-4", "--memory", "1M"), 0);
	assert_int_equal(cfg.family, AF_INET);
	reset_cfg();
	assert_int_equal(RUN("--ipv6-only", "--bind", "::1", "--memory", "1M"), 0);
	assert_int_equal(cfg.family, AF_INET6);
	reset_cfg();

	assert_int_equal(RUN("-s", "--memory", "1M"), 0);
	assert_true(cfg.stdio);
	reset_cfg();
	assert_int_equal(RUN("--stdio", "--memory", "1M"), 0);
	assert_true(cfg.stdio);
	assert_string_equal(take_err(), "");
}

static void test_modern_running(void **state _unused_)
{
	const char *allow = write_file("allow", "# the lab\n192.168.0.0/16\n");
	const char *conf = write_file("conf", "[disk]\nexportname = /srv/disk\n");

	assert_int_equal(RUN("--memory", "1M", "--no-list", "--foreground", "--oneshot",
			     "--pidfile", "/run/p", "--max-connections", "9", "--threads", "8",
			     "--user", "nbd", "--group", "disk", "--allow", "10.0.0.1", "--allow",
			     "fd00::/8", "--authfile", allow, "-v", "-v", "--verbose"),
			 0);
	assert_false(cfg.allow_list);
	assert_true(cfg.foreground && cfg.oneshot);
	assert_string_equal(cfg.pidfile, "/run/p");
	assert_int_equal(cfg.max_connections, 9);
	assert_int_equal(cfg.threads, 8);
	assert_string_equal(cfg.user, "nbd");
	assert_string_equal(cfg.group, "disk");
	assert_int_equal(cfg.verbosity, 3);
	/* --allow entries first, then the file's. */
	assert_int_equal(strv_length(cfg.allow), 3);
	assert_string_equal(cfg.allow[0], "10.0.0.1");
	assert_string_equal(cfg.allow[1], "fd00::/8");
	assert_string_equal(cfg.allow[2], "192.168.0.0/16");
	reset_cfg();

	assert_int_equal(RUN("--oneshot", "--memory", "1M"), 0);
	assert_true(cfg.oneshot);
	assert_false(cfg.foreground);
	reset_cfg();

	assert_int_equal(RUN("--config", conf), 0);
	assert_string_equal(cfg.config_path, conf);
	assert_string_equal(cfg.exports[0].name, "disk");
	reset_cfg();
	assert_int_equal(RUN("--config-file", conf, "--threads", "0"), 0);
	assert_int_equal(cfg.threads, 0);
	assert_string_equal(take_err(), "");
}

/* The handshake timeout: 30 s unless told, from the option or the key, the option winning; 0 for
 * no limit. */
static void test_handshake_timeout(void **state _unused_)
{
	const char *conf = write_file("conf", "[generic]\nhandshake_timeout = 7\n"
					      "[disk]\nexportname = /srv/disk\n");

	assert_int_equal(RUN("--memory", "1M"), 0);
	assert_int_equal(cfg.handshake_timeout, SERVER_DEFAULT_HANDSHAKE_TIMEOUT);
	assert_int_equal(SERVER_DEFAULT_HANDSHAKE_TIMEOUT, 30);
	reset_cfg();
	assert_int_equal(RUN("--memory", "1M", "--handshake-timeout", "5"), 0);
	assert_int_equal(cfg.handshake_timeout, 5);
	reset_cfg();
	assert_int_equal(RUN("-C", conf), 0);
	assert_int_equal(cfg.handshake_timeout, 7);
	reset_cfg();
	assert_int_equal(RUN("-C", conf, "--handshake-timeout=0"), 0);
	assert_int_equal(cfg.handshake_timeout, 0);
	assert_string_equal(take_err(), "");
}

/* The command line overrides the file; lists given on it replace the file's. */
static void test_precedence(void **state _unused_)
{
	const char *conf = write_file("conf", "[generic]\n"
					      "port = 2000\n"
					      "listenaddr = 127.0.0.1\n"
					      "user = nbd\n"
					      "unixsock = /run/nbd.sock\n"
					      "max_threads = 2\n"
					      "[disk]\n"
					      "exportname = /srv/disk\n");

	assert_int_equal(RUN("-C", conf, "--port", "3000", "--bind", "::1", "--no-list", "--user",
			     "other", "--threads", "5"),
			 0);
	assert_int_equal(cfg.port, 3000);
	assert_int_equal(strv_length(cfg.addresses), 1);
	assert_string_equal(cfg.addresses[0], "::1");
	assert_false(cfg.allow_list);
	assert_string_equal(cfg.user, "other");
	assert_int_equal(cfg.threads, 5);
	/* The file's Unix socket plus a TCP option: both. */
	assert_string_equal(cfg.unix_path, "/run/nbd.sock");
	assert_true(cfg.dual_listen);
	reset_cfg();

	assert_int_equal(RUN("-C", conf), 0);
	assert_int_equal(cfg.port, 2000);
	assert_string_equal(cfg.addresses[0], "127.0.0.1");
	assert_false(cfg.dual_listen);
	assert_int_equal(cfg.threads, 2);
	assert_string_equal(take_err(), "");
}

/* ------------------------------------------------------------------------ option errors */

struct err_case {
	const char *name;
	const char *args[12];
	const char *message; /* must appear in stderr */
};

static const struct err_case option_errors[] = {
	{ "port letters", { "--port", "abc", "--memory", "1M" },
	  "nbd-server: invalid port 'abc': expected a number from 1 to 65535 or a TCP service name "
	  "from /etc/services (nbd)\n" },
	{ "handshake timeout letters", { "--handshake-timeout", "soon", "--memory", "1M" },
	  "nbd-server: invalid handshake timeout 'soon': expected a number from 0 to 86400 seconds "
	  "(0 means no limit)\n" },
	{ "handshake timeout too long", { "--handshake-timeout", "86401", "--memory", "1M" },
	  "invalid handshake timeout '86401': expected a number from 0 to 86400" },
	{ "port 0", { "--port", "0", "--memory", "1M" },
	  "invalid port '0': expected a number from 1 to 65535" },
	{ "port too big", { "--port", "65536", "--memory", "1M" },
	  "invalid port '65536': expected a number from 1 to 65535" },
	{ "reference port letters", { "abc", "/srv/img" },
	  "invalid port 'abc': expected a number from 1 to 65535, a TCP service name from "
	  "/etc/services (nbd), or 0 to serve one client on stdin" },
	{ "reference port forgotten", { "/srv/img" },
	  "'/srv/img' is not a port: the reference form is 'nbd-server [ADDRESS@]PORT FILE "
	  "[SIZE]'" },
	{ "address with port 0", { "1.2.3.4@0", "/srv/img" },
	  "'1.2.3.4@0': port 0 serves one client on stdin, which has no address" },
	{ "empty address", { "@10809", "/srv/img" }, "the address before the port is empty" },
	{ "unclosed bracket", { "[::1:10809", "/srv/img" },
	  "invalid address and port '[::1:10809': expected [ADDRESS]:PORT" },
	{ "bad address", { "no_such!host@10809", "/srv/img" },
	  "invalid address 'no_such!host' in no_such!host@10809: expected an IPv4 or IPv6 address "
	  "or a host name" },
	{ "bad size", { "10809", "/srv/img", "12Q" },
	  "invalid size '12Q': expected a size in bytes, optionally with a suffix" },
	{ "huge size", { "10809", "/srv/img", "9E" }, "invalid size '9E': too large" },
	{ "extra argument", { "10809", "/srv/img", "1M", "more" },
	  "unexpected argument 'more': the reference form is" },
	{ "bind with port", { "--bind", "1.2.3.4:80", "--memory", "1M" },
	  "invalid address '1.2.3.4:80': expected an IPv4 or IPv6 address or a host name (the port "
	  "is set with --port)" },
	{ "memory 0", { "--memory", "0" },
	  "invalid memory size '0': a memory export needs a size greater than 0" },
	{ "memory letters", { "--memory", "lots" }, "invalid memory size 'lots': expected a size" },
	{ "export without =", { "--export", "disk" },
	  "invalid --export 'disk': expected NAME=FILE, NAME=memory:SIZE or NAME=shards:DIR" },
	{ "export without file", { "--export", "disk=" },
	  "invalid --export 'disk=': expected NAME=FILE" },
	{ "export memory 0", { "--export", "a=memory:0" },
	  "invalid --export 'a=memory:0': a memory export needs a size greater than 0" },
	{ "export memory bad", { "--export", "a=memory:x" }, "invalid memory size 'x'" },
	{ "export twice", { "--export", "a=/x", "--export", "a=/y" },
	  "export 'a' is given twice on the command line" },
	{ "FILE and --memory", { "10809", "/srv/img", "--memory", "1M" },
	  "FILE and --memory both give the default export; keep one" },
	{ "default export twice", { "--export", "=/x", "--memory", "1M" },
	  "the default export is given twice on the command line" },
	{ "description first", { "--description", "x", "--memory", "1M" },
	  "--description applies to the export given before it, but none is" },
	{ "cow-file first", { "--cow-file", "/x", "--memory", "1M" },
	  "--cow-file applies to the export given before it" },
	{ "cow-file without -c", { "--export", "a=/x", "--cow-file", "/y" },
	  "export 'a' (--export): --cow-file needs --copy-on-write (-c)" },
	{ "cow-file is the file", { "10809", "/srv/img", "-c", "--cow-file", "/srv/img" },
	  "the command-line export: the copy-on-write file is the exported file itself" },
	{ "stdio with port", { "-s", "--port", "2000", "--memory", "1M" },
	  "--stdio serves one client on stdin and stdout and cannot be combined with --port" },
	{ "port 0 with bind", { "0", "/srv/img", "--bind", "::1" },
	  "PORT 0 serves one client on stdin and stdout and cannot be combined with --bind" },
	{ "stdio with unix", { "--unix", "/s", "--stdio", "--memory", "1M" },
	  "cannot be combined with --unix" },
	{ "-4 and -6", { "-4", "-6", "--memory", "1M" },
	  "-4 (--ipv4-only) and -6 (--ipv6-only) exclude each other" },
	{ "-4 with a v6 address", { "-4", "--bind", "::1", "--memory", "1M" },
	  "listen address ::1 is IPv6, but only IPv4 was asked for (-4)" },
	{ "-6 with a v4 address", { "-6", "127.0.0.1@2000", "/srv/img" },
	  "listen address 127.0.0.1 is IPv4, but only IPv6 was asked for (-6)" },
	{ "threads too many", { "--threads", "5000", "--memory", "1M" },
	  "invalid number of threads '5000': expected a number from 0 to 4096 (0 means one per "
	  "CPU)" },
	{ "threads letters", { "--threads", "x", "--memory", "1M" },
	  "invalid number of threads 'x'" },
	{ "max connections", { "-M", "x", "--memory", "1M" },
	  "invalid maximum number of connections 'x': expected a number from 0 to 4294967295 (0 "
	  "means no limit)" },
	{ "allow prefix", { "--allow", "10.0.0.0/33", "--memory", "1M" },
	  "invalid --allow '10.0.0.0/33': the prefix length is too long" },
	{ "allow name", { "--allow", "example.com", "--memory", "1M" },
	  "invalid --allow 'example.com': expected an IPv4 or IPv6 address, optionally with "
	  "/PREFIX" },
	{ "empty user", { "--user", "", "--memory", "1M" }, "empty user name" },
	{ "empty group", { "--group", "", "--memory", "1M" }, "empty group name" },
	{ "empty file", { "10809", "" }, "empty file name" },
	{ "empty config", { "-C", "" }, "empty config file name" },
	{ "unknown long", { "--frobnicate", "--memory", "1M" },
	  "nbd-server: unknown option '--frobnicate'; see 'nbd-server --help'\n" },
	{ "unknown short", { "-x", "--memory", "1M" },
	  "nbd-server: unknown option '-x'; see 'nbd-server --help'\n" },
	{ "unknown short in a cluster", { "-rq", "--memory", "1M" }, "unknown option '-q'" },
	{ "ambiguous", { "--p", "1", "--memory", "1M" }, "ambiguous option '--p'" },
	{ "argument to a flag", { "--read-only=yes", "--memory", "1M" },
	  "option '--read-only' takes no argument" },
	{ "missing long argument", { "--memory", "1M", "--port" },
	  "option '--port' needs an argument; see 'nbd-server --help'" },
	{ "missing short argument", { "--memory", "1M", "-p" }, "option '-p' needs an argument" },
	{ "port name unknown", { "no-such-service-nbdm", "/srv/img" },
	  "invalid port 'no-such-service-nbdm': expected a number from 1 to 65535, a TCP service "
	  "name from /etc/services (nbd), or 0 to serve one client on stdin" },
	{ "allow file missing", { "-l", "/nonexistent/allow", "10809", "/srv/img" },
	  "Cannot open allow list /nonexistent/allow: No such file or directory" },
	{ "config missing", { "-C", "/nonexistent/config" },
	  "Cannot open config file /nonexistent/config: No such file or directory" },
	{ "unix path too long",
	  { "--memory", "1M", "--unix",
	    "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
	  "is too long: at most 107 bytes" },
};

static void test_option_errors(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(option_errors); i++) {
		const struct err_case *c = &option_errors[i];
		const char *err;
		int r;

		r = run_argv(c->args);
		err = take_err();
		if (r != -EINVAL && !(r < 0 && strstr(c->message, "No such file")))
			fail_msg("case '%s': returned %d, stderr: %s", c->name, r, err);
		if (!strstr(err, c->message))
			fail_msg("case '%s': expected '%s' in stderr, got: %s", c->name, c->message,
				 err);
		/* One message, not the help text, and nothing configured. */
		CASE_CHECK(c->name, strchr(err, '\n') == err + strlen(err) - 1);
		CASE_CHECK(c->name, strcmp(take_out(), "") == 0);
		CASE_CHECK(c->name, cfg.n_exports == 0 && cfg.port == 10809);
	}
}

static void test_no_export(void **state _unused_)
{
	const char *conf = write_file("empty", "# nothing yet\n[generic]\nport = 2000\n");

	assert_true(RUN("-C", conf) < 0);
	assert_non_null(strstr(take_err(), "no export to serve: "));

	/* Without -C and without an export, the default config is read, if it exists (main() points
	 * NBD_SERVER_CONFIG at a file that does not). */
	assert_int_equal(RUN("-n"), -EINVAL);
	assert_string_equal(take_err(),
			    "nbd-server: no export given: serve a file with 'nbd-server PORT FILE' "
			    "or '--export NAME=FILE', memory with '--memory SIZE', or describe "
			    "exports in /nonexistent/nbdm-test/config (or a file named with "
			    "-C)\n");
}

/* ------------------------------------------------------------------------ config files */

static void test_config_every_key(void **state _unused_)
{
	const char *allow = write_file("allow", "127.0.0.1\n::1\n");
	const char *conf;
	const struct export_config *e;
	const char *err;

	assert_int_equal(mkdir(path_of("conf.d"), 0755), 0);
	assert_int_equal(mkdir(path_of("conf.d/sub.conf"), 0755), 0);
	write_file("conf.d/b.conf", "[from-b]\nexportname = /srv/b\n");
	write_file("conf.d/a.conf", "# first by name\n[from-a]\nmemory = 1M\n");
	write_file("conf.d/ignored.txt", "this is not read\n");
	write_file("conf.d/.hidden.conf", "neither is this\n");

	conf = write_filef(
		"config",
		"# A config with every key\n"
		"; both comment styles\n"
		"\n"
		"[generic]\n"
		"    user = nbd\n"
		"    group = disk\n"
		"\tlistenaddr = 127.0.0.1, ::1 localhost\n"
		"port=2000\n"
		"includedir = %s\n"
		"allowlist = false\n"
		"unixsock = /run/nbd.sock\r\n"
		"duallisten = true\n"
		"maxconnections = 7\n"
		"authfile = %s\n"
		"max_threads = 3\n"
		"oldstyle = false\n"
		"force_tls = false\n"
		"certfile =\n"
		"keyfile = \n"
		"cacertfile =\n"
		"tlsprio =\n"
		"\n"
		"[disk]\n"
		"exportname = /srv/disk.img\n"
		"readonly = true\n"
		"copyonwrite = yes\n"
		"cowfile = /var/lib/disk.cow\n"
		"filesize = 1G\n"
		"flush = false\n"
		"fua = 0\n"
		"trim = no\n"
		"rotational = true\n"
		"sync = on\n"
		"directio = true\n"
		"authfile = %s\n"
		"maxconnections = 2\n"
		"description = The\\smain disk\\\\2\n"
		"virtstyle = none\n"
		"prerun =\n"
		"postrun =\n"
		"transactionlog =\n"
		"datalog = false\n"
		"multifile = false\n"
		"treefiles = false\n"
		"waitfile = false\n"
		"sparse_cow = false\n"
		"temporary = false\n"
		"splice = false\n"
		"sdp = false\n"
		"force_tls = false\n"
		"cowdir =\n"
		"[scratch disk]\n"
		"memory = 64M\n"
		"description =\n",
		path_of("conf.d"), allow, allow);

	assert_int_equal(RUN("-C", conf), 0);
	/* Tuning knobs this server does not need are accepted with a note each. */
	err = take_err();
	assert_non_null(strstr(err, ":46: key 'sparse_cow' in section [disk] has no effect: "));
	assert_non_null(strstr(err, ":48: key 'splice' in section [disk] has no effect: "));
	assert_int_equal(strchr(strchr(err, '\n') + 1, '\n') - err + 1, (long)strlen(err));

	assert_string_equal(cfg.user, "nbd");
	assert_string_equal(cfg.group, "disk");
	assert_int_equal(strv_length(cfg.addresses), 3);
	assert_string_equal(cfg.addresses[0], "127.0.0.1");
	assert_string_equal(cfg.addresses[1], "::1");
	assert_string_equal(cfg.addresses[2], "localhost");
	assert_int_equal(cfg.port, 2000);
	assert_false(cfg.allow_list);
	assert_string_equal(cfg.unix_path, "/run/nbd.sock");
	assert_true(cfg.dual_listen);
	assert_int_equal(cfg.max_connections, 7);
	assert_string_equal(cfg.authfile, allow);
	assert_int_equal(strv_length(cfg.allow), 2);
	assert_int_equal(cfg.threads, 3);
	assert_string_equal(cfg.config_path, conf);

	/* The main file's exports in order, then the included files sorted by name. */
	assert_int_equal(cfg.n_exports, 4);
	assert_string_equal(cfg.exports[0].name, "disk");
	assert_string_equal(cfg.exports[1].name, "scratch disk");
	assert_string_equal(cfg.exports[2].name, "from-a");
	assert_string_equal(cfg.exports[3].name, "from-b");

	e = &cfg.exports[0];
	assert_int_equal(e->backend, EXPORT_FILE);
	assert_string_equal(e->path, "/srv/disk.img");
	assert_true(e->read_only && e->copy_on_write && e->rotational && e->sync && e->direct_io);
	assert_false(e->flush || e->fua || e->trim);
	assert_string_equal(e->cow_path, "/var/lib/disk.cow");
	assert_int_equal(e->size, 1 << 30);
	assert_string_equal(e->authfile, allow);
	assert_int_equal(strv_length(e->allow), 2);
	assert_string_equal(e->allow[1], "::1");
	assert_int_equal(e->max_connections, 2);
	assert_string_equal(e->description, "The main disk\\2");
	assert_non_null(strstr(e->origin, "/config:23"));

	e = &cfg.exports[1];
	assert_int_equal(e->backend, EXPORT_MEMORY);
	assert_int_equal(e->size, 64 << 20);
	assert_null(e->description);
	assert_null(e->allow);
	assert_true(e->flush && e->fua && e->trim);

	e = &cfg.exports[2];
	assert_int_equal(e->backend, EXPORT_MEMORY);
	assert_non_null(strstr(e->origin, "/conf.d/a.conf:2"));
	assert_string_equal(cfg.exports[3].path, "/srv/b");
}

static void test_config_ignored_keys(void **state _unused_)
{
	const char *conf = write_file("config", "[disk]\n"
						"exportname = /srv/disk\n"
						"timeout = 30\n"
						"listenaddr = 127.0.0.1\n");
	char want[2 * PATH_MAX];

	assert_int_equal(server_config_load_file(&cfg, conf), 0);
	snprintf(want, sizeof(want),
		 "nbd-server: %s:3: key 'timeout' in section [disk] is ignored: the reference "
		 "nbd-server documents it but never used it; a client sets its own timeout\n"
		 "nbd-server: %s:4: key 'listenaddr' in section [disk] is ignored: listen "
		 "addresses are set in [generic], as in the reference nbd-server\n",
		 conf, conf);
	assert_string_equal(take_err(), want);
	assert_null(cfg.addresses);
}

static void test_config_minimal(void **state _unused_)
{
	/* No [generic] at all is fine, and so is an empty file. */
	assert_int_equal(server_config_load_file(&cfg, write_file("c", "[d]\nexportname=/x\n")), 0);
	assert_int_equal(cfg.n_exports, 1);
	assert_int_equal(server_config_load_file(&cfg, write_file("e", "")), 0);
	assert_int_equal(cfg.n_exports, 1);
	assert_int_equal(server_config_load_file(&cfg, "/dev/null"), 0);
	assert_int_equal(cfg.n_exports, 1);
	assert_int_equal(server_config_check(&cfg), 0);
	assert_string_equal(take_err(), "");
}

struct config_error {
	const char *name;
	const char *content;
	unsigned line;
	const char *message; /* after "FILE:LINE: " */
};

static const struct config_error config_errors[] = {
	{ "typo", "[disk]\nexportname = /x\nflsh = true\n", 3,
	  "unknown key 'flsh' in section [disk] (did you mean 'flush'?)" },
	{ "typo in generic", "[generic]\nprot = 1\n", 2,
	  "unknown key 'prot' in section [generic] (did you mean 'port'?)" },
	{ "wrong case", "[disk]\nexportname = /x\nReadOnly = true\n", 3,
	  "unknown key 'ReadOnly' in section [disk] (did you mean 'readonly'?)" },
	{ "unknown", "[disk]\nexportname = /x\nzebra = 1\n", 3,
	  "unknown key 'zebra' in section [disk]\n" },
	{ "bad bool", "[disk]\nexportname = /x\nreadonly = maybe\n", 3,
	  "invalid value 'maybe' for key 'readonly' in section [disk]: expected true or false" },
	{ "bad port", "[generic]\nport = abc\n", 2,
	  "invalid value 'abc' for key 'port' in section [generic]: expected a number from 1 to "
	  "65535" },
	{ "port 0", "[generic]\nport = 0\n", 2, "invalid value '0' for key 'port'" },
	{ "bad handshake_timeout", "[generic]\nhandshake_timeout = 1m\n", 2,
	  "invalid value '1m' for key 'handshake_timeout' in section [generic]" },
	{ "bad maxconnections", "[generic]\nmaxconnections = -1\n", 2,
	  "invalid value '-1' for key 'maxconnections' in section [generic]: expected a number "
	  "from 0 to 4294967295" },
	{ "max_threads", "[generic]\nmax_threads = 5000\n", 2,
	  "invalid value '5000' for key 'max_threads' in section [generic]: expected a number from "
	  "0 to 4096" },
	{ "bad size", "[disk]\nexportname = /x\nfilesize = 12Q\n", 3,
	  "invalid value '12Q' for key 'filesize' in section [disk]: expected a size in bytes" },
	{ "huge size", "[disk]\nexportname = /x\nfilesize = 9E\n", 3,
	  "invalid value '9E' for key 'filesize' in section [disk]: too large" },
	{ "memory 0", "[disk]\nmemory = 0\n", 2,
	  "invalid value '0' for key 'memory' in section [disk]: a memory export needs a size "
	  "greater than 0" },
	{ "relative exportname", "[disk]\nexportname = disk.img\n", 2,
	  "invalid value 'disk.img' for key 'exportname' in section [disk]: expected an absolute "
	  "path" },
	{ "relative includedir", "[generic]\nincludedir = conf.d\n", 2,
	  "invalid value 'conf.d' for key 'includedir' in section [generic]: expected an absolute "
	  "path" },
	{ "empty user", "[generic]\nuser =\n", 2,
	  "invalid value '' for key 'user' in section [generic]: expected a name" },
	{ "bad listenaddr", "[generic]\nlistenaddr = 1.2.3.4:80\n", 2,
	  "invalid address '1.2.3.4:80' in key 'listenaddr' in section [generic]: expected an IPv4 "
	  "or IPv6 address or a host name" },
	{ "empty listenaddr", "[generic]\nlistenaddr = ,\n", 2,
	  "invalid value ',' for key 'listenaddr' in section [generic]: expected one or more "
	  "addresses" },
	{ "duplicate section", "[disk]\nexportname = /x\n[disk]\n", 3,
	  "section [disk] is defined twice (first at " },
	{ "duplicate generic", "[generic]\n[generic]\n", 2,
	  "section [generic] is defined twice (first on line 1)" },
	{ "generic not first", "[disk]\nexportname = /x\n[generic]\n", 3,
	  "[generic] must be the first section of the file" },
	{ "key outside a section", "# hello\nport = 10809\n", 2,
	  "key 'port' is outside of any section; put it under [generic] or under an export's "
	  "[name]" },
	{ "no =", "[disk]\nexportname /x\n", 2,
	  "expected 'key = value', a [section] header or a comment" },
	{ "no key", "[disk]\n = /x\n", 2, "missing key before '='" },
	{ "unclosed section", "[disk\n", 1, "expected ']' at the end of the section header" },
	{ "text after section", "[disk] # comment\n", 1, "expected ']' at the end" },
	{ "empty section", "[]\n", 1, "empty section name" },
	{ "brackets in section", "[a[b]\n", 1,
	  "invalid section name 'a[b': '[' and ']' cannot be part of it" },
	{ "duplicate key", "[disk]\nexportname = /x\nreadonly = true\n\nreadonly = false\n", 5,
	  "key 'readonly' is set twice in section [disk] (first on line 3)" },
	{ "port in an export", "[disk]\nexportname = /x\nport = 10809\n", 3,
	  "key 'port' belongs in [generic], not in section [disk]" },
	{ "exportname in generic", "[generic]\nexportname = /x\n", 2,
	  "key 'exportname' belongs in an export's section, not in section [generic]" },
	{ "no exportname", "\n[disk]\nreadonly = true\n", 2,
	  "export [disk]: no file to serve: set exportname = PATH, or memory = SIZE for a memory "
	  "export" },
	{ "exportname and memory", "[disk]\nexportname = /x\nmemory = 1M\n", 3,
	  "section [disk] sets both exportname and memory: an export serves either a file or "
	  "memory; keep one" },
	{ "memory and filesize", "[disk]\nfilesize = 1M\nmemory = 1M\n", 3,
	  "section [disk] sets both filesize and memory" },
	{ "cowfile alone", "[disk]\nexportname = /x\ncowfile = /y\n", 1,
	  "export [disk]: cowfile needs copyonwrite = true" },
	{ "cowfile is the file", "[disk]\nexportname = /x\ncopyonwrite = true\ncowfile = /x\n", 1,
	  "export [disk]: the copy-on-write file is the exported file itself" },
	{ "memory cow", "[disk]\nmemory = 1M\ncopyonwrite = true\n", 1,
	  "export [disk]: copy-on-write does not apply to a memory export (remove copyonwrite and "
	  "cowfile)" },
	{ "memory directio", "[disk]\nmemory = 1M\ndirectio = true\n", 1,
	  "export [disk]: direct I/O does not apply to a memory export (remove directio)" },
	{ "bad escape", "[disk]\nexportname = /x\ndescription = a\\qb\n", 3,
	  "invalid escape sequence '\\q' in the value of key 'description'" },
	{ "lone backslash", "[disk]\nexportname = /x\ndescription = a\\\n", 3,
	  "the value of key 'description' ends in a lone '\\'" },
	{ "virtstyle", "[disk]\nexportname = /x/%s\nvirtstyle = cidrhash 129\n", 3,
	  "invalid value 'cidrhash 129' for key 'virtstyle' in section [disk]: expected none, "
	  "ipliteral, iphash or cidrhash N" },
	{ "virtstyle word", "[disk]\nexportname = /x/%s\nvirtstyle = byname\n", 3,
	  "invalid value 'byname' for key 'virtstyle'" },
	{ "transactionlog relative", "[disk]\nexportname = /x\ntransactionlog = log\n", 3,
	  "invalid value 'log' for key 'transactionlog' in section [disk]: expected an absolute "
	  "path" },
	{ "datalog", "[disk]\nexportname = /x\ndatalog = true\n", 3,
	  "key 'datalog' in section [disk]: logging WRITE data in the transaction log (datalog) is "
	  "not supported" },
	{ "multifile temporary", "[disk]\nexportname = /x\nmultifile = true\ntemporary = true\n"
	  "filesize = 1M\n", 1, "export [disk]: multifile and temporary exclude each other" },
	{ "temporary without size", "[disk]\nexportname = /x\ntemporary = true\n", 1,
	  "export [disk]: a temporary export needs its size: set filesize" },
	{ "cowdir and cowfile", "[disk]\nexportname = /x\ncopyonwrite = true\ncowdir = /tmp\n"
	  "cowfile = /y\n", 1, "export [disk]: cowdir (an overlay per connection) and cowfile (one shared "
	  "overlay) exclude each other" },
	{ "memory multifile", "[disk]\nmemory = 1M\nmultifile = true\n", 1,
	  "export [disk]: multifile does not apply to a memory export" },
	{ "treefiles", "[disk]\nexportname = /x\ntreefiles = true\n", 3,
	  "key 'treefiles' in section [disk]: an export of one file per block (treefiles) is not "
	  "supported" },
	{ "waitfile", "[disk]\nexportname = /x\nwaitfile = true\n", 3,
	  "key 'waitfile' in section [disk]: waiting for the export file to appear (waitfile) is "
	  "not supported" },
	{ "sparse_cow bad bool", "[disk]\nexportname = /x\nsparse_cow = maybe\n", 3,
	  "invalid value 'maybe' for key 'sparse_cow' in section [disk]: expected true or false" },
	{ "tlsonly bad bool", "[disk]\nexportname = /x\ntlsonly = sometimes\n", 3,
	  "invalid value 'sometimes' for key 'tlsonly' in section [disk]: expected true or false" },
	{ "port name", "[generic]\nport = no-such-service-nbdm\n", 2,
	  "invalid value 'no-such-service-nbdm' for key 'port' in section [generic]: expected a "
	  "number from 1 to 65535 or a TCP service name" },
	{ "sdp", "[disk]\nexportname = /x\nsdp = true\n", 3,
	  "key 'sdp' in section [disk]: SDP (the Sockets Direct Protocol) is not supported" },
	{ "sdp bad bool", "[disk]\nexportname = /x\nsdp = perhaps\n", 3,
	  "invalid value 'perhaps' for key 'sdp' in section [disk]: expected true or false" },
	{ "oldstyle", "[generic]\noldstyle = true\n", 2,
	  "key 'oldstyle' in section [generic]: the oldstyle handshake is not supported by this "
	  "nbd-server (nor by the reference since 3.10); remove it" },
	{ "generic force_tls bad bool", "[generic]\nforce_tls = always\n", 2,
	  "invalid value 'always' for key 'force_tls' in section [generic]: expected true or false" },
	{ "certfile relative", "[generic]\ncertfile = cert.pem\n", 2,
	  "invalid value 'cert.pem' for key 'certfile' in section [generic]: expected an absolute "
	  "path" },
	{ "keyfile relative", "[generic]\nkeyfile = key.pem\n", 2,
	  "invalid value 'key.pem' for key 'keyfile' in section [generic]: expected an absolute path" },
	{ "cacertfile in an export", "[disk]\nexportname = /x\ncacertfile = /ca.pem\n", 3,
	  "key 'cacertfile' belongs in [generic], not in section [disk]" },
	{ "unsupported key in the other section", "[generic]\nsdp = true\n", 2,
	  "key 'sdp' in section [generic]: SDP (the Sockets Direct Protocol) is not supported" },
	/* The test writes a NUL and more after this content. */
	{ "NUL byte", "[disk]\nexportname = /x\nre", 3, "a NUL byte in a config file" },
};

static void test_config_errors(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(config_errors); i++) {
		const struct config_error *c = &config_errors[i];
		char name[32], want[PATH_MAX + 512];
		const char *path, *err;
		size_t len = strlen(c->content);
		FILE *f;
		int r;

		snprintf(name, sizeof(name), "config%zu", i);
		path = path_of(name);
		f = fopen(path, "we");
		assert_non_null(f);
		assert_int_equal(fwrite(c->content, 1, len, f), len);
		if (strcmp(c->name, "NUL byte") == 0) {
			fputc('\0', f);
			fputs("x = 1\n", f);
		}
		assert_int_equal(fclose(f), 0);

		reset_cfg();
		r = server_config_load_file(&cfg, path);
		err = take_err();
		if (r != -EINVAL)
			fail_msg("case '%s': returned %d, stderr: %s", c->name, r, err);
		snprintf(want, sizeof(want), "nbd-server: %s:%u: %s", path, c->line, c->message);
		if (!strstr(err, want))
			fail_msg("case '%s': expected '%s' in stderr, got: %s", c->name, want, err);
		CASE_CHECK(c->name, strchr(err, '\n') == err + strlen(err) - 1);
	}
}

static void test_config_duplicate_origin(void **state _unused_)
{
	const char *conf = write_file("config", "[generic]\n\n[disk]\nexportname = /x\n\n[disk]\n");
	char want[2 * PATH_MAX];

	assert_int_equal(server_config_load_file(&cfg, conf), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-server: %s:6: section [disk] is defined twice (first at %s:3)\n", conf, conf);
	assert_string_equal(take_err(), want);
}

static void test_config_includedir_errors(void **state _unused_)
{
	const char *conf;
	char want[2 * PATH_MAX];

	/* A missing includedir, named with the line that asked for it. */
	conf = write_filef("config", "[generic]\nincludedir = %s\n", path_of("missing"));
	assert_int_equal(server_config_load_file(&cfg, conf), -ENOENT);
	snprintf(want, sizeof(want),
		 "nbd-server: %s:2: cannot open includedir %s: No such file or directory\n", conf,
		 path_of("missing"));
	assert_string_equal(take_err(), want);
	reset_cfg();

	/* [generic] in an included file. */
	assert_int_equal(mkdir(path_of("d"), 0755), 0);
	write_file("d/x.conf", "[ok]\nexportname = /ok\n[generic]\nport = 1\n");
	conf = write_filef("config2", "[generic]\nincludedir = %s\n", path_of("d"));
	assert_int_equal(server_config_load_file(&cfg, conf), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-server: %s:3: [generic] is not allowed in a file read through includedir; "
		 "only export sections are\n",
		 path_of("d/x.conf"));
	assert_string_equal(take_err(), want);
	reset_cfg();

	/* The same export in the main file and an included one. */
	write_file("d/x.conf", "\n[disk]\nexportname = /other\n");
	conf = write_filef("config3", "[generic]\nincludedir = %s\n[disk]\nexportname = /x\n",
			   path_of("d"));
	assert_int_equal(server_config_load_file(&cfg, conf), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-server: %s:2: section [disk] is defined twice (first at %s:3)\n",
		 path_of("d/x.conf"), conf);
	assert_string_equal(take_err(), want);
	reset_cfg();

	/* A bad key in an included file names that file. */
	write_file("d/x.conf", "[other]\nexportname = /other\ntreefiles = true\n");
	assert_int_equal(server_config_load_file(&cfg, conf), -EINVAL);
	snprintf(want, sizeof(want), "nbd-server: %s:3: key 'treefiles' in section [other]:",
		 path_of("d/x.conf"));
	assert_non_null(strstr(take_err(), want));
}

static void test_config_with_command_line(void **state _unused_)
{
	const char *conf = write_file("config", "[generic]\n\n[disk]\nexportname = /x\n");
	const char *conf2 = write_filef("config2", "[disk]\nexportname = /x\nauthfile = %s\n",
					path_of("nope"));
	char want[2 * PATH_MAX];

	/* A name in both the file and on the command line. */
	assert_int_equal(RUN("-C", conf, "--export", "disk=/y"), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-server: export 'disk' is given on the command line and at %s:3\n", conf);
	assert_string_equal(take_err(), want);
	assert_int_equal(cfg.n_exports, 0);

	/* An export's allow list that cannot be read stops the server. */
	assert_true(RUN("-C", conf2) < 0);
	snprintf(want, sizeof(want),
		 "nbd-server: Cannot open allow list %s: No such file or directory (refusing to "
		 "start with access control that cannot be read)\n",
		 path_of("nope"));
	assert_string_equal(take_err(), want);
	assert_int_equal(cfg.n_exports, 0);
}

/* What export_config_write() writes, server_config_load_file() reads back the same. */
static void test_write_roundtrip(void **state _unused_)
{
	struct export_config *e;
	FILE *f;
	const char *path = path_of("written");

	assert_int_equal(server_config_add_export(&cfg, "orig", &e), 0);
	e->path = strdup("/srv/with space/and\\backslash");
	e->description = strdup(" lead\tand\nnew line, trail ");
	e->size = 12345;
	e->read_only = true;
	e->copy_on_write = true;
	e->cow_path = strdup("/var/cow");
	e->direct_io = true;
	e->sync = true;
	e->flush = false;
	e->fua = true;
	e->trim = false;
	e->rotational = true;
	e->authfile = strdup("/etc/allow");
	e->max_connections = 4;

	f = fopen(path, "we");
	assert_non_null(f);
	assert_int_equal(export_config_write(f, e, "copy"), 0);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(server_config_load_file(&cfg, path), 0);
	assert_string_equal(take_err(), "");
	assert_int_equal(cfg.n_exports, 2);
	{
		const struct export_config *a = &cfg.exports[0], *b = &cfg.exports[1];

		assert_string_equal(b->name, "copy");
		assert_string_equal(b->path, a->path);
		assert_string_equal(b->description, a->description);
		assert_int_equal(b->size, a->size);
		assert_string_equal(b->cow_path, a->cow_path);
		assert_string_equal(b->authfile, a->authfile);
		assert_true(b->read_only && b->copy_on_write && b->direct_io && b->sync);
		assert_true(!b->flush && b->fua && !b->trim && b->rotational);
		assert_int_equal(b->max_connections, 4);
	}
}

/* ------------------------------------------------------------------------ allow lists */

static void test_allow_list_good(void **state _unused_)
{
	char **list = NULL;
	const char *p = write_file("allow", "# clients\n"
					    "\n"
					    "127.0.0.1\n"
					    "  10.0.0.0/8  \n"
					    "192.168.1.0/24 # the lab\n"
					    "\t::1\r\n"
					    "fd00::/8\n"
					    "0.0.0.0/0\n"
					    "::/0\n"
					    "2001:db8::1/128\n");

	assert_int_equal(allow_list_load(p, &list), 0);
	assert_int_equal(strv_length(list), 8);
	assert_string_equal(list[0], "127.0.0.1");
	assert_string_equal(list[1], "10.0.0.0/8");
	assert_string_equal(list[2], "192.168.1.0/24");
	assert_string_equal(list[3], "::1");
	assert_string_equal(list[4], "fd00::/8");
	assert_string_equal(list[5], "0.0.0.0/0");
	assert_string_equal(list[6], "::/0");
	assert_string_equal(list[7], "2001:db8::1/128");
	assert_null(list[8]);
	strv_free(list);

	/* Empty and comment-only files are empty lists, not "everyone". */
	list = NULL;
	assert_int_equal(allow_list_load(write_file("empty", ""), &list), 0);
	assert_non_null(list);
	assert_null(list[0]);
	strv_free(list);
	list = NULL;
	assert_int_equal(allow_list_load(write_file("comments", "# no one\n\n"), &list), 0);
	assert_non_null(list);
	assert_null(list[0]);
	strv_free(list);
	assert_string_equal(take_err(), "");
}

static void test_allow_list_bad(void **state _unused_)
{
	static const struct {
		const char *entry, *message;
	} cases[] = {
		{ "10.0.0.0/33", "the prefix length is too long for the address (at most /32 for "
				 "IPv4, /128 for IPv6)" },
		{ "::1/129", "the prefix length is too long" },
		{ "example.com", "expected an IPv4 or IPv6 address, optionally with /PREFIX" },
		{ "1.2.3.4/", "expected an IPv4 or IPv6 address" },
		{ "1.2.3.4/x", "expected an IPv4 or IPv6 address" },
		{ "1.2.3.4/0x8", "expected an IPv4 or IPv6 address" },
		{ "1.2.3.4/-1", "expected an IPv4 or IPv6 address" },
		{ "1.2.3.4 5.6.7.8", "expected an IPv4 or IPv6 address" },
		{ "1.2.3", "expected an IPv4 or IPv6 address" },
		{ "fe80::1%eth0", "expected an IPv4 or IPv6 address" },
		{ "256.0.0.1", "expected an IPv4 or IPv6 address" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char **list = NULL;
		char want[PATH_MAX + 256];
		const char *p = write_filef("allow", "127.0.0.1\n%s\n", cases[i].entry);

		assert_int_equal(allow_list_load(p, &list), -EINVAL);
		assert_null(list);
		snprintf(want, sizeof(want), "nbd-server: %s:2: invalid allow list entry '%s': %s",
			 p, cases[i].entry, cases[i].message);
		if (!strstr(take_err(), want))
			fail_msg("entry '%s': expected '%s'", cases[i].entry, want);
	}
}

static void test_allow_list_unreadable(void **state _unused_)
{
	char **list = NULL;
	char want[PATH_MAX + 256];

	assert_int_equal(allow_list_load(path_of("missing"), &list), -ENOENT);
	assert_null(list);
	snprintf(want, sizeof(want),
		 "nbd-server: Cannot open allow list %s: No such file or directory (refusing to "
		 "start with access control that cannot be read)\n",
		 path_of("missing"));
	assert_string_equal(take_err(), want);

	/* A directory opens but cannot be read. */
	assert_int_equal(allow_list_load(dir, &list), -EISDIR);
	assert_null(list);
	assert_non_null(strstr(take_err(), "Cannot read allow list"));
}

static void test_allow_entry_check(void **state _unused_)
{
	assert_int_equal(allow_entry_check("1.2.3.4"), 0);
	assert_int_equal(allow_entry_check("1.2.3.4/0"), 0);
	assert_int_equal(allow_entry_check("1.2.3.4/32"), 0);
	assert_int_equal(allow_entry_check("1.2.3.4/33"), -ERANGE);
	assert_int_equal(allow_entry_check("::ffff:1.2.3.4/128"), 0);
	assert_int_equal(allow_entry_check("::/129"), -ERANGE);
	assert_int_equal(allow_entry_check("::/0128"), -EINVAL);
	assert_int_equal(allow_entry_check(""), -EINVAL);
	assert_int_equal(allow_entry_check("/8"), -EINVAL);

	assert_true(listen_address_valid("0.0.0.0"));
	assert_true(listen_address_valid("::"));
	assert_true(listen_address_valid("nbd-1.example.org"));
	assert_false(listen_address_valid(""));
	assert_false(listen_address_valid("-x"));
	assert_false(listen_address_valid("a b"));
	assert_false(listen_address_valid("[::1]"));
	assert_false(listen_address_valid("1.2.3.4:80"));
}

/* TLS settings from the file and the command line, and what the configuration check refuses. */
static void test_tls_settings(void **state _unused_)
{
	const char *conf;

	/* Not configured: off. */
	assert_int_equal(RUN("--export", "d=/srv/img"), 0);
	assert_false(server_config_tls_enabled(&cfg));
	reset_cfg();

	/* The reference's keys; tlsonly per export; generic tlsonly is force_tls. */
	conf = write_file("tls.conf", "[generic]\ncertfile = /etc/s.pem\nkeyfile = /etc/k.pem\n"
				      "cacertfile = /etc/ca.pem\ntlsprio = NORMAL\n"
				      "[secret]\nexportname = /srv/a\ntlsonly = true\n"
				      "[open]\nexportname = /srv/b\n");
	assert_int_equal(RUN("-C", conf), 0);
	assert_true(server_config_tls_enabled(&cfg));
	assert_false(server_config_tls_required(&cfg));
	assert_string_equal(cfg.certfile, "/etc/s.pem");
	assert_string_equal(cfg.keyfile, "/etc/k.pem");
	assert_string_equal(cfg.cacertfile, "/etc/ca.pem");
	assert_string_equal(cfg.tls_priority, "NORMAL");
	assert_true(server_config_find_export(&cfg, "secret")->tls_only);
	assert_false(server_config_find_export(&cfg, "open")->tls_only);
	reset_cfg();
	conf = write_file("force.conf", "[generic]\ncertfile = /etc/s.pem\nkeyfile = /etc/k.pem\n"
					"tlsonly = true\n[d]\nexportname = /srv/a\nforce_tls = true\n");
	assert_int_equal(RUN("-C", conf), 0);
	assert_true(server_config_tls_required(&cfg));
	assert_true(server_config_find_export(&cfg, "d")->tls_only);
	reset_cfg();

	/* --tls-certificates DIR, with ca-cert.pem only for --tls-verify-peer. */
	assert_int_equal(RUN("--export", "d=/srv/img", "--tls-certificates", "/etc/pki/nbd",
			     "--tls=require", "--tls-ktls=no"), 0);
	assert_string_equal(cfg.certfile, "/etc/pki/nbd/server-cert.pem");
	assert_string_equal(cfg.keyfile, "/etc/pki/nbd/server-key.pem");
	assert_null(cfg.cacertfile);
	assert_true(server_config_tls_required(&cfg));
	assert_int_equal(cfg.ktls, KTLS_NO);
	reset_cfg();
	assert_int_equal(RUN("--export", "d=/srv/img", "--tls-verify-peer", "--tls-certificates",
			     "/etc/pki/nbd", "--tls-only"), 0);
	assert_string_equal(cfg.cacertfile, "/etc/pki/nbd/ca-cert.pem");
	assert_true(cfg.exports[0].tls_only);
	reset_cfg();
	/* The command line overrides the file, and --tls=off turns TLS off with credentials. */
	conf = write_file("tls2.conf", "[generic]\ncertfile = /etc/s.pem\nkeyfile = /etc/k.pem\n"
				       "[d]\nexportname = /srv/a\n");
	assert_int_equal(RUN("-C", conf, "--certfile", "/x/c.pem", "--tls-priority", "SECURE256"),
			 0);
	assert_string_equal(cfg.certfile, "/x/c.pem");
	assert_string_equal(cfg.tls_priority, "SECURE256");
	reset_cfg();
	assert_int_equal(RUN("-C", conf, "--tls=off"), 0);
	assert_false(server_config_tls_enabled(&cfg));
	reset_cfg();
	assert_int_equal(RUN("--export", "d=/srv/img", "--tls-psk", "/etc/psk.txt"), 0);
	assert_string_equal(cfg.pskfile, "/etc/psk.txt");
	assert_true(server_config_tls_enabled(&cfg));
	reset_cfg();
	(void)take_err();

#define REFUSED(msg, ...)                                                                          \
	do {                                                                                       \
		assert_int_equal(RUN(__VA_ARGS__), -EINVAL);                                       \
		const char *err_ = take_err();                                                     \
		if (!strstr(err_, msg))                                                            \
			fail_msg("expected '%s' in: %s", msg, err_);                               \
		reset_cfg();                                                                       \
	} while (0)
	REFUSED("invalid --tls 'maybe': expected off, on or require", "--export", "d=/x", "--tls",
		"maybe");
	REFUSED("invalid --tls-ktls 'perhaps'", "--export", "d=/x", "--tls-ktls=perhaps");
	REFUSED("TLS is on (--tls=on), but there are no credentials", "--export", "d=/x",
		"--tls=on");
	REFUSED("TLS is required, but there are no credentials", "--export", "d=/x",
		"--tls=require");
	REFUSED("needs both the certificate and its key: certfile is set but not keyfile",
		"--export", "d=/x", "--certfile", "/c.pem");
	REFUSED("choose one of them", "--export", "d=/x", "--tls-certificates", "/d", "--tls-psk",
		"/p");
	REFUSED("cacertfile /ca.pem checks client certificates", "--export", "d=/x", "--cacertfile",
		"/ca.pem", "--tls-psk", "/p");
	REFUSED("--tls-verify-peer checks client certificates against a CA", "--export", "d=/x",
		"--tls-verify-peer", "--certfile", "/c", "--keyfile", "/k");
	REFUSED("tlsonly needs TLS, which is not configured", "--export", "d=/x", "--tls-only");
	REFUSED("tlsonly needs TLS, which is off (--tls=off)", "--export", "d=/x", "--tls-only",
		"--tls-psk", "/p", "--tls=off");
	REFUSED("TLS is not available with --stdio", "--stdio", "--memory", "1M", "--tls-psk", "/p");
	REFUSED("empty --tls-priority", "--export", "d=/x", "--tls-priority", "");
	conf = write_file("f.conf", "[generic]\nforce_tls = true\n[d]\nexportname = /srv/a\n");
	REFUSED("TLS is required, but there are no credentials", "-C", conf);
	REFUSED("--tls=off contradicts force_tls", "-C", conf, "--tls=off", "--tls-psk", "/p");
#undef REFUSED
}

/* Every test gets its own directory and captured output. */
#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

static void test_virt_paths(void **state _unused_)
{
	struct sockaddr_storage v4 = { 0 }, v6 = { 0 }, mapped = { 0 };
	struct sockaddr_storage local = { .ss_family = AF_UNIX };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&v4;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&v6, *m6 = (struct sockaddr_in6 *)&mapped;
	enum virtstyle style;
	unsigned bits = 0;
	char *p;

	a4->sin_family = AF_INET;
	inet_pton(AF_INET, "192.168.1.100", &a4->sin_addr);
	a6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:6f8:32f::39", &a6->sin6_addr);
	m6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &m6->sin6_addr);

#define VIRT(pattern, st, n, peer, want)                                                           \
	do {                                                                                       \
		assert_int_equal(virt_path(pattern, st, n, peer, &p), 0);                          \
		assert_string_equal(p, want);                                                      \
		free(p);                                                                           \
	} while (0)
	VIRT("/export/%s", VIRT_IPLITERAL, 0, &v4, "/export/192.168.1.100");
	VIRT("/export/%s", VIRT_IPHASH, 0, &v4, "/export/192/168/1/100");
	VIRT("/export/%s", VIRT_CIDRHASH, 16, &v4, "/export/192.168.0.0/192.168.1.100");
	VIRT("/export/%s", VIRT_CIDRHASH, 26, &v4, "/export/192.168.1.64/192.168.1.100");
	VIRT("/export/%s", VIRT_IPLITERAL, 0, &v6, "/export/2001:6f8:32f::39");
	VIRT("/e/%s.img", VIRT_IPLITERAL, 0, &mapped, "/e/10.1.2.3.img");
	VIRT("/e/%s/%s", VIRT_IPLITERAL, 0, &local, "/e/unix/unix");
#undef VIRT

	assert_int_equal(virtstyle_parse("cidrhash 16", &style, &bits), 0);
	assert_int_equal(style, VIRT_CIDRHASH);
	assert_int_equal(bits, 16);
	assert_int_equal(virtstyle_parse("cidr26", &style, &bits), 0);
	assert_int_equal(bits, 26);
	assert_int_equal(virtstyle_parse("IPHASH", &style, &bits), 0);
	assert_int_equal(style, VIRT_IPHASH);
	assert_int_equal(virtstyle_parse("cidrhash", &style, &bits), -EINVAL);
	assert_int_equal(virtstyle_parse("cidrhash 200", &style, &bits), -EINVAL);
}

static void test_port_names(void **state _unused_)
{
	uint16_t port = 0;

	assert_int_equal(port_parse("10809", &port), 0);
	assert_int_equal(port, 10809);
	assert_int_equal(port_parse("0", &port), -ERANGE);
	assert_int_equal(port_parse("70000", &port), -EINVAL);
	assert_int_equal(port_parse("no-such-service-nbdm", &port), -ENOENT);
	/* "nbd" is in Debian's /etc/services; elsewhere it may not be. */
	if (getservbyname("nbd", "tcp")) {
		assert_int_equal(port_parse("nbd", &port), 0);
		assert_int_equal(port, 10809);
	}
}

static void test_export_copy_and_equal(void **state _unused_)
{
	const char *conf = write_file("copy", "[a]\nexportname = /x/%s\nprerun = echo %s\n"
					      "transactionlog = /log\ncowdir = /tmp\n"
					      "copyonwrite = true\nmultifile = true\n");
	struct export_config copy;

	assert_int_equal(server_config_load_file(&cfg, conf), 0);
	assert_int_equal(cfg.exports[0].virtstyle, VIRT_IPLITERAL); /* the reference's default */
	assert_true(export_config_per_client(&cfg.exports[0]));
	assert_int_equal(export_config_copy(&copy, &cfg.exports[0]), 0);
	assert_true(export_config_equal(&copy, &cfg.exports[0]));
	assert_ptr_not_equal(copy.prerun, cfg.exports[0].prerun);
	copy.multifile = false;
	assert_false(export_config_equal(&copy, &cfg.exports[0]));
	export_config_free(&copy);
}

int main(void)
{
	/* The machine's own /etc/nbd-server/config must not change what these tests see. */
	setenv("NBD_SERVER_CONFIG", "/nonexistent/nbdm-test/config", 1);
	const struct CMUnitTest tests[] = {
		TEST(test_reference_forms),
		TEST(test_virt_paths),
		TEST(test_port_names),
		TEST(test_export_copy_and_equal),
		TEST(test_reference_authfile_and_config),
		TEST(test_relative_paths),
		TEST(test_help_version),
		TEST(test_output_config),
		TEST(test_modern_exports),
		TEST(test_flag_warnings),
		TEST(test_modern_listening),
		TEST(test_modern_running),
		TEST(test_handshake_timeout),
		TEST(test_precedence),
		TEST(test_option_errors),
		TEST(test_no_export),
		TEST(test_config_every_key),
		TEST(test_config_ignored_keys),
		TEST(test_config_minimal),
		TEST(test_config_errors),
		TEST(test_config_duplicate_origin),
		TEST(test_config_includedir_errors),
		TEST(test_config_with_command_line),
		TEST(test_write_roundtrip),
		TEST(test_allow_list_good),
		TEST(test_allow_list_bad),
		TEST(test_allow_list_unreadable),
		TEST(test_allow_entry_check),
		TEST(test_tls_settings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
