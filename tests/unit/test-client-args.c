/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client's command line (client/args.c).
 *
 * The tables hold every invocation that scripts in the wild use, taken from their sources:
 * initramfs-tools' local-top script of the Debian nbd-client package (current, jessie and wheezy
 * forms), dracut's nbdroot.sh (every form it has had), the reference's nbd@.service, its init
 * script, and the options that the reference's own parser gets wrong (-C N, -m, -p, -V, -A/-F/-K,
 * -n). Then the subcommands, --fd, nbdtab lookups, and every error by its exact message.
 *
 * fd 2 is a memfd for each test and fd 1 one while the parser runs, so that a stray printf or a
 * second line of error is caught too. Each test has its own directory with an nbdtab in it.
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

#include "client/args.h"
#include "common/log.h"
#include "tests/unit/capture.h"

static char dir[512];
static char tab_path[1024];
static struct capture cap = CAPTURE_INIT;
static struct client_options o;

static const char tab_content[] =
	"# the test's nbdtab\n"
	"nbd0 tabhost tabexp port=2000,persist,bs=4096,timeout=30,certfile=/c.pem\n"
	"/dev/nbd1 /run/tab.sock sockexp unix,conns=2\n"
	"nbd2 tabplain plainexp\n";

static int setup(void **state _unused_)
{
	FILE *f;

	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	log_close();
	log_open("nbd-client", LOG_TARGET_STDERR);
	snprintf(dir, sizeof(dir), "%s/nbdm-args-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(tab_path, sizeof(tab_path), "%s/nbdtab", dir);
	f = fopen(tab_path, "we");
	if (!f || fputs(tab_content, f) < 0 || fclose(f) != 0)
		return -1;
	if (capture_begin(&cap) < 0)
		return -1;
	client_options_init(&o);
	o.nbdtab_path = tab_path;
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

static const char *take_out(void)
{
	return capture_take(&cap, cap.out_fd);
}

/* Parses "nbd-client" + args into o, from fresh options, with stdout captured for the call. */
static int run_argv(const char *const *args)
{
	char *argv[64];
	int argc = 0, r;

	argv[argc++] = (char *)"nbd-client";
	for (; *args; args++) {
		assert_true(argc < (int)ELEMENTSOF(argv) - 1);
		argv[argc++] = (char *)*args;
	}
	argv[argc] = NULL;

	client_options_free(&o);
	o.nbdtab_path = tab_path;
	fflush(stdout);
	assert_true(dup2(cap.out_fd, STDOUT_FILENO) >= 0);
	r = client_parse_args(&o, argc, argv);
	fflush(stdout);
	assert_true(dup2(cap.saved_stdout, STDOUT_FILENO) >= 0);
	return r;
}

#define RUN(...) run_argv((const char *const[]){ __VA_ARGS__, NULL })

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ------------------------------------------------------------------ attach, reference forms */

struct attach_case {
	const char *name;
	const char *args[24];
	/* Expected; NULL, 0 and false mean the default. */
	const char *host, *port, *socket, *export_name, *device;
	size_t fds;
	uint32_t block_size, timeout, dead_timeout;
	uint64_t size;
	unsigned connections;
	bool persist, swap, systemd_mark, read_only, no_netlink, no_opt_go, preinit, nofork, tls;
	const char *identifier, *certfile, *keyfile, *cacertfile, *tlshostname, *priority;
	enum client_ktls ktls;
	int verbosity;
	const char *err; /* expected stderr, "" when NULL */
};

#define OLD_BS(v) "nbd-client: the old-style argument 'bs=" v "' is deprecated; use -b " v "\n"
#define OLD_TIMEOUT(v)                                                                             \
	"nbd-client: the old-style argument 'timeout=" v "' is deprecated; use -t " v "\n"

#define SDP_IGNORED(opt)                                                                           \
	"nbd-client: " opt " is obsolete and ignored: SDP (the Sockets Direct Protocol) is no "    \
	"longer supported; remove it\n"

/* What initramfs-tools passes after HOST -N NAME [PORT] DEVICE. */
#define INITRAMFS_FLAGS .swap = true, .persist = true, .systemd_mark = true, .block_size = 512

static const struct attach_case attach_cases[] = {
	/* initramfs-tools (Debian nbd-client, scripts/local-top/nbd), current: -N before PORT. */
	{ "initramfs-tools",
	  { "192.168.1.1", "-N", "/myroot", "10809", "/dev/nbd0", "-swap", "-persist",
	    "-systemd-mark", "-b", "512" },
	  .host = "192.168.1.1", .port = "10809", .export_name = "/myroot", .device = "/dev/nbd0",
	  INITRAMFS_FLAGS },
	{ "initramfs-tools without port",
	  { "srv", "-N", "root", "/dev/nbd0", "-swap", "-persist", "-systemd-mark", "-b", "512" },
	  .host = "srv", .export_name = "root", .device = "/dev/nbd0", INITRAMFS_FLAGS },
	{ "initramfs-tools [v6]:/name",
	  { "2001:db8::1", "-N", "/path", "/dev/nbd0", "-swap", "-persist", "-systemd-mark", "-b",
	    "512" },
	  .host = "2001:db8::1", .export_name = "/path", .device = "/dev/nbd0", INITRAMFS_FLAGS },
	{ "initramfs-tools [v6]:port/name",
	  { "fe80::1%eth0", "-N", "p", "2000", "/dev/nbd3", "-swap", "-persist", "-systemd-mark",
	    "-b", "512" },
	  .host = "fe80::1%eth0", .port = "2000", .export_name = "p", .device = "/dev/nbd3",
	  INITRAMFS_FLAGS },
	{ "initramfs-tools jessie, no name",
	  { "srv", "2000", "/dev/nbd0", "-swap", "-persist", "-systemd-mark" },
	  .host = "srv", .port = "2000", .device = "/dev/nbd0", .swap = true, .persist = true,
	  .systemd_mark = true },
	{ "initramfs-tools jessie, name",
	  { "srv", "-N", "root", "2000", "/dev/nbd0", "-swap", "-persist", "-systemd-mark" },
	  .host = "srv", .port = "2000", .export_name = "root", .device = "/dev/nbd0", .swap = true,
	  .persist = true, .systemd_mark = true },
	{ "initramfs-tools wheezy",
	  { "srv", "-N", "root", "2000", "/dev/nbd0", "-swap", "-persist" },
	  .host = "srv", .port = "2000", .export_name = "root", .device = "/dev/nbd0", .swap = true,
	  .persist = true },
	{ "host port device -N name -swap -persist",
	  { "srv", "10809", "/dev/nbd2", "-N", "name", "-swap", "-persist" },
	  .host = "srv", .port = "10809", .export_name = "name", .device = "/dev/nbd2",
	  .swap = true, .persist = true },
	{ "host port device -N name -swap -persist -systemd-mark",
	  { "srv", "10809", "/dev/nbd2", "-N", "name", "-swap", "-persist", "-systemd-mark" },
	  .host = "srv", .port = "10809", .export_name = "name", .device = "/dev/nbd2",
	  .swap = true, .persist = true, .systemd_mark = true },

	/* dracut's nbdroot.sh, current: $nbdport is a number or "-name EXPORT", unquoted. */
	{ "dracut port", { "-p", "-systemd-mark", "srv", "2000", "/dev/nbd0" },
	  .host = "srv", .port = "2000", .device = "/dev/nbd0", .persist = true,
	  .systemd_mark = true },
	{ "dracut -name", { "-p", "-systemd-mark", "srv", "-name", "exp", "/dev/nbd0" },
	  .host = "srv", .export_name = "exp", .device = "/dev/nbd0", .persist = true,
	  .systemd_mark = true },
	{ "dracut opts",
	  { "-p", "-systemd-mark", "srv", "-name", "exp", "/dev/nbd0", "-b", "4096", "-t", "30" },
	  .host = "srv", .export_name = "exp", .device = "/dev/nbd0", .persist = true,
	  .systemd_mark = true, .block_size = 4096, .timeout = 30 },
	{ "dracut opts -persist -swap",
	  { "-p", "-systemd-mark", "srv", "2000", "/dev/nbd0", "-persist", "-swap", "-readonly" },
	  .host = "srv", .port = "2000", .device = "/dev/nbd0", .persist = true,
	  .systemd_mark = true, .swap = true, .read_only = true },
	/* dracut before: $preopts (bs=, timeout=) before the host, or after the device. */
	{ "dracut old preopts first",
	  { "bs=4096", "timeout=30", "srv", "2000", "/dev/nbd0", "-persist" },
	  .host = "srv", .port = "2000", .device = "/dev/nbd0", .block_size = 4096, .timeout = 30,
	  .persist = true, .err = OLD_BS("4096") OLD_TIMEOUT("30") },
	{ "dracut old preopts last", { "srv", "2000", "/dev/nbd0", "bs=1024", "timeout=7" },
	  .host = "srv", .port = "2000", .device = "/dev/nbd0", .block_size = 1024, .timeout = 7,
	  .err = OLD_BS("1024") OLD_TIMEOUT("7") },
	{ "dracut old -name first", { "-name", "exp", "srv", "/dev/nbd0", "bs=512", "-persist" },
	  .host = "srv", .export_name = "exp", .device = "/dev/nbd0", .block_size = 512,
	  .persist = true, .err = OLD_BS("512") },
	{ "dracut [v6] server", { "-p", "-systemd-mark", "fd00::1", "2000", "/dev/nbd0" },
	  .host = "fd00::1", .port = "2000", .device = "/dev/nbd0", .persist = true,
	  .systemd_mark = true },

	/* The options the reference mis-parses. */
	{ "-C 4", { "-C", "4", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .connections = 4 },
	{ "-C4", { "-C4", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .connections = 4 },
	{ "-connections 4", { "h", "/dev/nbd0", "-connections", "4" }, .host = "h",
	  .device = "/dev/nbd0", .connections = 4 },
	{ "--connections=8", { "--connections=8", "h", "/dev/nbd0" }, .host = "h",
	  .device = "/dev/nbd0", .connections = 8 },
	{ "-m", { "-m", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .systemd_mark = true },
	{ "-p", { "h", "/dev/nbd0", "-p" }, .host = "h", .device = "/dev/nbd0", .persist = true },
	{ "-n", { "-n", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0", .nofork = true },
	{ "-A -F -K", { "-A", "ca.pem", "-F", "cert.pem", "-K", "key.pem", "h", "/dev/nbd0" },
	  .host = "h", .device = "/dev/nbd0", .tls = true, .cacertfile = "ca.pem",
	  .certfile = "cert.pem", .keyfile = "key.pem" },
	{ "-cacertfile -certfile -keyfile",
	  { "-cacertfile", "ca.pem", "-certfile", "cert.pem", "-keyfile", "key.pem", "h" },
	  .host = "h", .tls = true, .cacertfile = "ca.pem", .certfile = "cert.pem",
	  .keyfile = "key.pem" },
	{ "key alone is the certificate too", { "-K", "both.pem", "h" }, .host = "h", .tls = true,
	  .keyfile = "both.pem", .certfile = "both.pem" },
	{ "-H", { "-H", "tls.example", "h" }, .host = "h", .tls = true,
	  .tlshostname = "tls.example" },
	{ "-y", { "-priority", "NORMAL", "h" }, .host = "h", .tls = true, .priority = "NORMAL" },
	{ "-x", { "-x", "h" }, .host = "h", .tls = true },
	{ "-enable-tls", { "-enable-tls", "h" }, .host = "h", .tls = true },
	/* Where TLS runs does not ask for it. */
	{ "--tls-ktls=no", { "--tls-ktls=no", "-x", "h" }, .host = "h", .tls = true,
	  .ktls = CLIENT_KTLS_NO },
	{ "--tls-ktls relay", { "--tls-ktls", "relay", "h" }, .host = "h", .ktls = CLIENT_KTLS_NO },
	{ "--tls-ktls=yes", { "--tls-ktls=yes", "h" }, .host = "h", .ktls = CLIENT_KTLS_YES },

	/* Every option with one dash, with two, and short. */
	{ "single-dash long options",
	  { "-block-size", "4096", "-size", "1G", "-timeout", "5", "-dead-timeout", "6",
	    "-readonly", "-nonetlink", "-no-optgo", "-nofork", "-swap", "-persist",
	    "-systemd-mark", "-name", "x", "h", "/dev/nbd0", "-connections", "2", "-preinit" },
	  .host = "h", .device = "/dev/nbd0", .export_name = "x", .block_size = 4096,
	  .size = 1 << 30, .timeout = 5, .dead_timeout = 6, .read_only = true, .no_netlink = true,
	  .no_opt_go = true, .nofork = true, .swap = true, .persist = true, .systemd_mark = true,
	  .connections = 2, .preinit = true },
	{ "double-dash long options",
	  { "--block-size", "4096", "--size", "1G", "--timeout", "5", "--dead-timeout", "6",
	    "--readonly", "--nonetlink", "--no-optgo", "--nofork", "--swap", "--persist",
	    "--systemd-mark", "--name", "x", "h", "/dev/nbd0", "--connections", "2",
	    "--preinit" },
	  .host = "h", .device = "/dev/nbd0", .export_name = "x", .block_size = 4096,
	  .size = 1 << 30, .timeout = 5, .dead_timeout = 6, .read_only = true, .no_netlink = true,
	  .no_opt_go = true, .nofork = true, .swap = true, .persist = true, .systemd_mark = true,
	  .connections = 2, .preinit = true },
	{ "short options",
	  { "-b", "4096", "-B", "1G", "-t", "5", "-T", "6", "-R", "-L", "-g", "-n", "-s", "-p",
	    "-m", "-N", "x", "h", "/dev/nbd0", "-C", "2", "-P" },
	  .host = "h", .device = "/dev/nbd0", .export_name = "x", .block_size = 4096,
	  .size = 1 << 30, .timeout = 5, .dead_timeout = 6, .read_only = true, .no_netlink = true,
	  .no_opt_go = true, .nofork = true, .swap = true, .persist = true, .systemd_mark = true,
	  .connections = 2, .preinit = true },
	{ "clusters", { "-sp", "-RnmgL", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .swap = true, .persist = true, .read_only = true, .nofork = true, .systemd_mark = true,
	  .no_opt_go = true, .no_netlink = true },
	{ "attached values", { "-b4096", "-t30", "-T7", "-Nexp", "h" }, .host = "h",
	  .export_name = "exp", .block_size = 4096, .timeout = 30, .dead_timeout = 7 },
	{ "= values", { "--block-size=1024", "-name=exp", "-timeout=3", "h" }, .host = "h",
	  .export_name = "exp", .block_size = 1024, .timeout = 3 },
	{ "unique prefixes", { "-pers", "-sw", "-syst", "-bl", "2048", "h" }, .host = "h",
	  .persist = true, .swap = true, .systemd_mark = true, .block_size = 2048 },
	{ "hex numbers as in the reference", { "-b", "0x1000", "-B", "0x100000", "h" },
	  .host = "h", .block_size = 4096, .size = 1 << 20 },
	{ "size suffix", { "-B", "1.5G", "h" }, .host = "h", .size = 3ull << 29 },
	{ "-i", { "-i", "my-id", "h" }, .host = "h", .identifier = "my-id" },
	{ "-identifier", { "-identifier", "my-id", "h" }, .host = "h", .identifier = "my-id" },
	{ "-P with -B", { "-P", "-B", "1G", "h", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .preinit = true, .size = 1 << 30 },
	{ "empty export name", { "-N", "", "h" }, .host = "h", .export_name = "" },
	{ "-v -v", { "-v", "-verbose", "h", "--verbose" }, .host = "h", .verbosity = 3 },
	{ "-vv", { "-vv", "h" }, .host = "h", .verbosity = 2 },
	/* Bundles stay bundles, as in the reference: short, with an upper-case option (no long name
	 * has one), or far from every long name. */
	{ "bundle -Nname", { "-Nname", "h" }, .host = "h", .export_name = "name" },
	{ "bundles -Nroot -b512 -t30", { "-Nroot", "-b512", "-t30", "h" }, .host = "h",
	  .export_name = "root", .block_size = 512, .timeout = 30 },
	{ "bundle -psmn", { "-psmn", "h" }, .host = "h", .persist = true, .swap = true,
	  .systemd_mark = true, .nofork = true },
	{ "bundle -pNexp", { "-pNexp", "h" }, .host = "h", .persist = true, .export_name = "exp" },
	{ "bundle -sN, value after", { "-sN", "exp", "h" }, .host = "h", .swap = true,
	  .export_name = "exp" },
	{ "bundle -RC4", { "-RC4", "h" }, .host = "h", .read_only = true, .connections = 4 },
	{ "bundle -iid-1", { "-iid-1", "h" }, .host = "h", .identifier = "id-1" },
	{ "bundle -Htls.example", { "-Htls.example", "h" }, .host = "h", .tls = true,
	  .tlshostname = "tls.example" },
	{ "bundle -pnb4096", { "-pnb4096", "h" }, .host = "h", .persist = true, .nofork = true,
	  .block_size = 4096 },
	{ "bundle -NAME", { "-NAME", "h" }, .host = "h", .export_name = "AME" },
	/* The reference's obsolete SDP option: a warning, and nothing else. */
	{ "-S", { "-S", "h" }, .host = "h", .err = SDP_IGNORED("-S") },
	{ "-sdp", { "h", "-sdp", "/dev/nbd0" }, .host = "h", .device = "/dev/nbd0",
	  .err = SDP_IGNORED("--sdp") },
	{ "--sdp", { "--sdp", "h" }, .host = "h", .err = SDP_IGNORED("--sdp") },
	{ "-S in a bundle", { "-pS", "h" }, .host = "h", .persist = true,
	  .err = SDP_IGNORED("-S") },
	/* A prefix of -sdp, as in the reference's table. */
	{ "-sd", { "-sd", "h" }, .host = "h", .err = SDP_IGNORED("--sdp") },
	/* -b preferred: the server's preferred block size, in every spelling of -b. */
	{ "-b preferred", { "-b", "preferred", "h" }, .host = "h",
	  .block_size = CLIENT_BLOCK_SIZE_PREFERRED },
	{ "--block-size=preferred", { "--block-size=preferred", "h" }, .host = "h",
	  .block_size = CLIENT_BLOCK_SIZE_PREFERRED },
	{ "bs=preferred", { "h", "bs=preferred" }, .host = "h",
	  .block_size = CLIENT_BLOCK_SIZE_PREFERRED, .err = OLD_BS("preferred") },
	{ "-b preferred with -B a multiple of 512", { "-b", "preferred", "-B", "1536", "h" },
	  .host = "h", .block_size = CLIENT_BLOCK_SIZE_PREFERRED, .size = 1536 },
	{ "-b preferred over nbdtab's bs", { "nbd0", "-b", "preferred" }, .host = "tabhost",
	  .port = "2000", .export_name = "tabexp", .device = "/dev/nbd0", .persist = true,
	  .block_size = CLIENT_BLOCK_SIZE_PREFERRED, .timeout = 30, .certfile = "/c.pem",
	  .tls = true },
	{ "last value wins", { "-b", "512", "-b", "4096", "-N", "a", "-N", "b", "h" }, .host = "h",
	  .block_size = 4096, .export_name = "b" },
	{ "timeout 0", { "-t", "0", "h" }, .host = "h" },
	{ "after --", { "-p", "--", "h", "2000", "/dev/nbd0" }, .host = "h", .port = "2000",
	  .device = "/dev/nbd0", .persist = true },

	/* Targets. */
	{ "netlink, no device", { "h" }, .host = "h" },
	{ "netlink, port, no device", { "h", "2000" }, .host = "h", .port = "2000" },
	{ "device without /dev/", { "h", "2000", "nbd7" }, .host = "h", .port = "2000",
	  .device = "/dev/nbd7" },
	{ "device, no port", { "h", "/dev/nbd12" }, .host = "h", .device = "/dev/nbd12" },
	{ "IPv6 without brackets", { "::1", "/dev/nbd0" }, .host = "::1", .device = "/dev/nbd0" },
	{ "IPv6 and port", { "::1", "2000", "/dev/nbd0" }, .host = "::1", .port = "2000",
	  .device = "/dev/nbd0" },
	{ "[IPv6]:port", { "[::1]:2000", "/dev/nbd0" }, .host = "::1", .port = "2000",
	  .device = "/dev/nbd0" },
	{ "host:port", { "h:2000", "/dev/nbd0" }, .host = "h", .port = "2000",
	  .device = "/dev/nbd0" },
	{ "URI", { "nbd://h:2000/exp", "/dev/nbd0" }, .host = "h", .port = "2000",
	  .export_name = "exp", .device = "/dev/nbd0" },
	{ "nbds URI", { "nbds://h/exp" }, .host = "h", .export_name = "exp", .tls = true },
	{ "URI tls-hostname", { "nbds://h/e?tls-hostname=n.example" }, .host = "h",
	  .export_name = "e", .tls = true, .tlshostname = "n.example" },
	{ "unix URI", { "nbd+unix:///e?socket=/run/s", "nbd1" }, .socket = "/run/s",
	  .export_name = "e", .device = "/dev/nbd1" },
	{ "-u", { "-u", "/run/nbd.sock", "/dev/nbd0" }, .socket = "/run/nbd.sock",
	  .device = "/dev/nbd0" },
	{ "-unix relative", { "-unix", "rel.sock", "/dev/nbd0", "-N", "e" }, .socket = "rel.sock",
	  .export_name = "e", .device = "/dev/nbd0" },
	{ "-u, no device", { "-u", "/run/nbd.sock" }, .socket = "/run/nbd.sock" },
	{ "socket path without -u", { "/run/nbd.sock", "nbd0" }, .socket = "/run/nbd.sock",
	  .device = "/dev/nbd0" },

	/* --fd: connected sockets. */
	{ "--fd", { "--fd", "3", "/dev/nbd0" }, .fds = 1, .device = "/dev/nbd0" },
	{ "--fd twice", { "--fd", "3", "-fd", "4", "-N", "exp" }, .fds = 2, .export_name = "exp",
	  .connections = 2 },
	{ "--fd=0", { "--fd=0" }, .fds = 1 },
	{ "--fd with matching -C", { "--fd", "3", "--fd", "4", "-C", "2" }, .fds = 2,
	  .connections = 2 },
	{ "--fd -P", { "--fd", "3", "-P", "-B", "1M" }, .fds = 1, .preinit = true,
	  .size = 1 << 20 },

	/* nbdtab: the systemd unit's "nbd-client %i" and the init script's "nbd-client $dev". */
	{ "nbd@.service", { "nbd0" }, .host = "tabhost", .port = "2000", .export_name = "tabexp",
	  .device = "/dev/nbd0", .persist = true, .block_size = 4096, .timeout = 30,
	  .certfile = "/c.pem", .tls = true },
	{ "nbdtab /dev/", { "/dev/nbd2" }, .host = "tabplain", .export_name = "plainexp",
	  .device = "/dev/nbd2" },
	{ "nbdtab unix", { "nbd1" }, .socket = "/run/tab.sock", .export_name = "sockexp",
	  .device = "/dev/nbd1", .connections = 2 },
	{ "nbdtab under the command line",
	  { "nbd0", "-b", "1024", "-t", "5", "-N", "other", "-s", "-C", "3", "-F", "/mine.pem" },
	  .host = "tabhost", .port = "2000", .export_name = "other", .device = "/dev/nbd0",
	  .persist = true, .swap = true, .block_size = 1024, .timeout = 5, .connections = 3,
	  .certfile = "/mine.pem", .tls = true },
	{ "nbdtab old-style under the command line", { "bs=512", "nbd0" }, .host = "tabhost",
	  .port = "2000", .export_name = "tabexp", .device = "/dev/nbd0", .persist = true,
	  .block_size = 512, .timeout = 30, .certfile = "/c.pem", .tls = true,
	  .err = OLD_BS("512") },
	/* As in the reference, -u makes the line's host a socket path. */
	{ "nbdtab and -u", { "-u", "nbd2" }, .socket = "tabplain", .export_name = "plainexp",
	  .device = "/dev/nbd2" },
	{ "nbdtab /dev/ and -u", { "-u", "/dev/nbd2", "-p" }, .socket = "tabplain",
	  .export_name = "plainexp", .device = "/dev/nbd2", .persist = true },
};

static void check_attach_case(const struct attach_case *c)
{
	const char *err;
	int r;

	r = run_argv(c->args);
	err = take_err();
	if (r != 0)
		fail_msg("case '%s': returned %d: %s", c->name, r, err);
	if (!str_eq(err, c->err ? c->err : ""))
		fail_msg("case '%s': stderr: %s", c->name, err);
	CASE_CHECK(c->name, strcmp(take_out(), "") == 0);
	CASE_CHECK(c->name, o.command == CLIENT_ATTACH);
	if (c->fds)
		CASE_CHECK(c->name, o.target.kind == TARGET_FD && o.n_fds == c->fds);
	else if (c->socket)
		CASE_CHECK(c->name, o.target.kind == TARGET_UNIX);
	else
		CASE_CHECK(c->name, o.target.kind == TARGET_TCP);
	CASE_CHECK(c->name, str_eq(o.target.host, c->host));
	CASE_CHECK(c->name, str_eq(o.target.port, c->host ? c->port ?: "10809" : NULL));
	CASE_CHECK(c->name, str_eq(o.target.socket_path, c->socket));
	CASE_CHECK(c->name, str_eq(o.target.export_name, c->export_name ?: ""));
	CASE_CHECK(c->name, o.target.tls.enabled == c->tls);
	CASE_CHECK(c->name, str_eq(o.device, c->device));
	CASE_CHECK(c->name, o.block_size == c->block_size);
	CASE_CHECK(c->name, o.size == c->size);
	CASE_CHECK(c->name, o.timeout == c->timeout);
	CASE_CHECK(c->name, o.dead_timeout == c->dead_timeout);
	CASE_CHECK(c->name, o.connections == (c->connections ? c->connections : 1));
	CASE_CHECK(c->name, o.persist == c->persist);
	CASE_CHECK(c->name, o.swap == c->swap);
	CASE_CHECK(c->name, o.systemd_mark == c->systemd_mark);
	CASE_CHECK(c->name, o.read_only == c->read_only);
	CASE_CHECK(c->name, o.no_netlink == c->no_netlink);
	CASE_CHECK(c->name, o.no_opt_go == c->no_opt_go);
	CASE_CHECK(c->name, o.preinit == c->preinit);
	CASE_CHECK(c->name, o.nofork == c->nofork);
	CASE_CHECK(c->name, str_eq(o.identifier, c->identifier));
	CASE_CHECK(c->name, str_eq(o.target.tls.certfile, c->certfile));
	CASE_CHECK(c->name, str_eq(o.target.tls.keyfile, c->keyfile));
	CASE_CHECK(c->name, str_eq(o.target.tls.cacertfile, c->cacertfile));
	CASE_CHECK(c->name, str_eq(o.target.tls.hostname, c->tlshostname));
	CASE_CHECK(c->name, str_eq(o.target.tls.priority, c->priority));
	CASE_CHECK(c->name, o.target.tls.ktls == c->ktls);
	CASE_CHECK(c->name, o.verbosity == c->verbosity);
	CASE_CHECK(c->name, !o.all && !o.json && !o.force && !o.negotiated && !o.flags_given);
	CASE_CHECK(c->name, o.nbds_max == 0 && !o.max_part_given);
}

static void test_attach_forms(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(attach_cases); i++)
		check_attach_case(&attach_cases[i]);
}

/* The attach subcommand: TARGET [DEVICE]. */
static void test_attach_subcommand(void **state _unused_)
{
	static const struct attach_case cases[] = {
		{ "attach URI", { "attach", "nbd://h:2000/exp", "/dev/nbd1", "-p" }, .host = "h",
		  .port = "2000", .export_name = "exp", .device = "/dev/nbd1", .persist = true },
		{ "attach host:port", { "attach", "h:2000", "nbd3", "-N", "e" }, .host = "h",
		  .port = "2000", .export_name = "e", .device = "/dev/nbd3" },
		{ "attach host", { "-p", "attach", "h" }, .host = "h", .persist = true },
		{ "attach socket", { "attach", "/run/s" }, .socket = "/run/s" },
		{ "attach -u relative", { "attach", "-u", "rel.sock", "nbd0" },
		  .socket = "rel.sock", .device = "/dev/nbd0" },
		{ "attach [v6]", { "attach", "[::1]:99", "-C", "4", "-m" }, .host = "::1",
		  .port = "99", .connections = 4, .systemd_mark = true },
		{ "attach bare v6", { "attach", "2001:db8::5" }, .host = "2001:db8::5" },
		{ "attach nbdtab", { "attach", "nbd2" }, .host = "tabplain",
		  .export_name = "plainexp", .device = "/dev/nbd2" },
		{ "attach --fd", { "attach", "--fd", "5", "nbd4" }, .fds = 1,
		  .device = "/dev/nbd4" },
		{ "a host named like a command", { "nbd://attach/x", "/dev/nbd0" },
		  .host = "attach", .export_name = "x", .device = "/dev/nbd0" },
		{ "a host named check", { "check", "/dev/nbd0" }, .host = "check",
		  .device = "/dev/nbd0" },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		check_attach_case(&cases[i]);
}

static void test_negotiated(void **state _unused_)
{
	assert_int_equal(RUN("attach", "--fd=5", "--fd", "6", "--negotiated", "--size", "1G",
			     "--flags", "0x3", "nbd4", "-R"),
			 0);
	assert_int_equal(o.target.kind, TARGET_FD);
	assert_int_equal(o.n_fds, 2);
	assert_int_equal(o.fds[0], 5);
	assert_int_equal(o.fds[1], 6);
	assert_int_equal(o.connections, 2);
	assert_true(o.negotiated && o.flags_given && o.read_only);
	assert_int_equal(o.flags, 3);
	assert_int_equal(o.size, 1 << 30);
	assert_string_equal(o.device, "/dev/nbd4");

	assert_int_equal(RUN("--fd", "3", "-negotiated", "-size", "512", "-flags", "65535"), 0);
	assert_int_equal(o.flags, 0xffff);
	assert_int_equal(RUN("--fd", "3", "--negotiated", "--size", "512", "--flags", "0"), 0);
	assert_true(o.flags_given);
	assert_int_equal(o.flags, 0);

	assert_int_equal(RUN("h", "--nbds-max", "32", "--max-part", "0"), 0);
	assert_int_equal(o.nbds_max, 32);
	assert_true(o.max_part_given);
	assert_int_equal(o.max_part, 0);
	assert_int_equal(RUN("h", "-nbds-max=1048576", "-max-part", "255"), 0);
	assert_int_equal(o.nbds_max, 1048576);
	assert_int_equal(o.max_part, 255);
	assert_string_equal(take_err(), "");
}

static void test_client_flags(void **state _unused_)
{
	assert_int_equal(RUN("h", "nbd0"), 0);
	assert_int_equal(o.client_flags, 0);
	assert_int_equal(RUN("attach", "h", "--disconnect-on-close"), 0);
	assert_int_equal(o.client_flags, NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE);
	assert_int_equal(RUN("h", "-destroy-on-disconnect", "--disconnect-on-close"), 0);
	assert_int_equal(o.client_flags, NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE |
						 NBD_CLIENT_FLAG_DESTROY_ON_DISCONNECT);
	/* -i with detach names whose device it must be. */
	assert_int_equal(RUN("detach", "nbd0", "-i", "nbd://h/e"), 0);
	assert_int_equal(o.command, CLIENT_DETACH);
	assert_string_equal(o.identifier, "nbd://h/e");
	/* They mean nothing to the other commands. */
	assert_int_equal(RUN("detach", "nbd0", "--disconnect-on-close"), -EINVAL);
	assert_non_null(strstr(take_err(), "--disconnect-on-close"));
}

static void test_retry_delays(void **state _unused_)
{
	assert_int_equal(RUN("h", "nbd0"), 0);
	assert_int_equal(o.retry_min_ms, 0);
	assert_int_equal(o.retry_max_ms, 0);
	assert_int_equal(RUN("attach", "h", "-p", "--retry-min-delay", "50", "--retry-max-delay=30000"), 0);
	assert_true(o.persist);
	assert_int_equal(o.retry_min_ms, 50);
	assert_int_equal(o.retry_max_ms, 30000);
	assert_string_equal(take_err(), "");
}

static void test_handshake_timeouts(void **state _unused_)
{
	assert_int_equal(RUN("h", "nbd0"), 0);
	assert_int_equal(o.connect_timeout, 0);
	assert_int_equal(o.negotiate_timeout, 0);
	assert_int_equal(client_connect_timeout_ms(&o, 30000), 30000);
	assert_int_equal(client_negotiate_timeout_ms(&o, 60000), 60000);
	assert_int_equal(RUN("attach", "h", "nbd0", "--connect-timeout", "3", "-negotiate-timeout=4"),
			 0);
	assert_int_equal(o.connect_timeout, 3);
	assert_int_equal(o.negotiate_timeout, 4);
	assert_int_equal(client_connect_timeout_ms(&o, 30000), 3000);
	assert_int_equal(client_negotiate_timeout_ms(&o, 60000), 4000);
	assert_int_equal(RUN("info", "nbd://h/x?x-connect-timeout=9", "--negotiate-timeout", "5"), 0);
	assert_int_equal(client_connect_timeout_ms(&o, 30000), 9000);
	assert_int_equal(client_negotiate_timeout_ms(&o, 60000), 5000);
	/* The option wins over the URI's parameter. */
	assert_int_equal(RUN("list", "nbd://h/?x-connect-timeout=9", "--connect-timeout=2"), 0);
	assert_int_equal(client_connect_timeout_ms(&o, 30000), 2000);
	assert_string_equal(take_err(), "");
}

static void test_nbdtab_option(void **state _unused_)
{
	char other[1024], want[2048];
	FILE *f;

	snprintf(other, sizeof(other), "%s/other", dir);
	f = fopen(other, "we");
	assert_non_null(f);
	fputs("nbd0 otherhost e\n", f);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(RUN("nbd0", "--nbdtab", other), 0);
	assert_string_equal(o.target.host, "otherhost");
	assert_string_equal(o.nbdtab_path, other);
	assert_int_equal(RUN("-nbdtab", other, "attach", "/dev/nbd0"), 0);
	assert_string_equal(o.target.host, "otherhost");
	assert_string_equal(take_err(), "");

	/* Not listed, and a file that is not there: the lookup's own messages. */
	assert_int_equal(RUN("nbd5"), -ENOENT);
	assert_null(o.target.host);
	snprintf(want, sizeof(want), "nbd-client: nbd5 is not defined in %s\n", tab_path);
	assert_string_equal(take_err(), want);
	assert_int_equal(RUN("nbd0", "--nbdtab", "/nonexistent/nbdtab"), -ENOENT);
	assert_string_equal(take_err(), "nbd-client: Cannot open /nonexistent/nbdtab: No such file "
					"or directory\n");
}

/* ------------------------------------------------------------------ other commands */

struct command_case {
	const char *name;
	const char *args[12];
	enum client_command command;
	const char *device;
	bool all, force, json, no_netlink;
	const char *host, *port, *socket, *export_name;
	bool tls;
};

static const struct command_case command_cases[] = {
	{ "-d", { "-d", "/dev/nbd0" }, CLIENT_DETACH, "/dev/nbd0" },
	{ "-dnbd0", { "-dnbd0" }, CLIENT_DETACH, "/dev/nbd0" },
	{ "-Lc/dev/nbd1", { "-Lc/dev/nbd1" }, CLIENT_CHECK, "/dev/nbd1", .no_netlink = true },
	{ "-d nbdN", { "-d", "nbd3" }, CLIENT_DETACH, "/dev/nbd3" },
	{ "-disconnect", { "-disconnect", "nbd0" }, CLIENT_DETACH, "/dev/nbd0" },
	{ "--disconnect=", { "--disconnect=/dev/nbd0" }, CLIENT_DETACH, "/dev/nbd0" },
	{ "-d ignores attach options", { "-d", "nbd0", "-p", "-b", "4096", "-N", "x", "-s" },
	  CLIENT_DETACH, "/dev/nbd0" },
	{ "-d --force", { "-d", "nbd0", "--force" }, CLIENT_DETACH, "/dev/nbd0", .force = true },
	{ "-d -L", { "-L", "-d", "nbd0" }, CLIENT_DETACH, "/dev/nbd0", .no_netlink = true },
	{ "detach", { "detach", "nbd0" }, CLIENT_DETACH, "/dev/nbd0" },
	{ "detach --force", { "detach", "/dev/nbd1", "--force" }, CLIENT_DETACH, "/dev/nbd1",
	  .force = true },
	{ "detach --all", { "detach", "--all" }, CLIENT_DETACH, NULL, .all = true },
	{ "detach -all -force", { "-all", "detach", "-force" }, CLIENT_DETACH, NULL, .all = true,
	  .force = true },
	{ "-c", { "-c", "/dev/nbd0" }, CLIENT_CHECK, "/dev/nbd0" },
	{ "dracut -check", { "-check", "/dev/nbd0" }, CLIENT_CHECK, "/dev/nbd0" },
	{ "init script -c", { "-c", "nbd2" }, CLIENT_CHECK, "/dev/nbd2" },
	{ "-c of a partition", { "-c", "/dev/nbd2p1" }, CLIENT_CHECK, "/dev/nbd2" },
	{ "-c -L", { "-c", "nbd0", "-nonetlink" }, CLIENT_CHECK, "/dev/nbd0", .no_netlink = true },
	{ "status", { "status" }, CLIENT_STATUS },
	{ "status device --json", { "status", "nbd0", "--json" }, CLIENT_STATUS, "/dev/nbd0",
	  .json = true },
	{ "status -L", { "status", "-L" }, CLIENT_STATUS, .no_netlink = true },
	{ "reconnect", { "reconnect", "/dev/nbd5" }, CLIENT_RECONNECT, "/dev/nbd5" },
	{ "-l host", { "-l", "h" }, CLIENT_LIST, .host = "h" },
	{ "-l host port", { "-l", "h", "2000" }, CLIENT_LIST, .host = "h", .port = "2000" },
	{ "-list", { "h", "-list" }, CLIENT_LIST, .host = "h" },
	{ "-l -u", { "-l", "-u", "/s" }, CLIENT_LIST, .socket = "/s" },
	{ "-l ignores -N", { "-l", "h", "-N", "x", "-p" }, CLIENT_LIST, .host = "h",
	  .export_name = "x" },
	{ "-l TLS", { "-l", "h", "-A", "ca" }, CLIENT_LIST, .host = "h", .tls = true },
	{ "list", { "list", "h" }, CLIENT_LIST, .host = "h" },
	{ "list URI --json", { "list", "nbd://h:2000", "--json" }, CLIENT_LIST, .host = "h",
	  .port = "2000", .json = true },
	{ "list nbds", { "list", "nbds://h" }, CLIENT_LIST, .host = "h", .tls = true },
	{ "info URI", { "info", "nbd://h/e", "--json" }, CLIENT_INFO, .host = "h",
	  .export_name = "e", .json = true },
	{ "info -N", { "info", "h", "-N", "e", "-g" }, CLIENT_INFO, .host = "h",
	  .export_name = "e" },
	{ "info socket", { "info", "./s" }, CLIENT_INFO, .socket = "./s" },
};

static void test_commands(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(command_cases); i++) {
		const struct command_case *c = &command_cases[i];
		const char *err;
		int r;

		r = run_argv(c->args);
		err = take_err();
		if (r != 0)
			fail_msg("case '%s': returned %d: %s", c->name, r, err);
		CASE_CHECK(c->name, strcmp(err, "") == 0);
		CASE_CHECK(c->name, strcmp(take_out(), "") == 0);
		CASE_CHECK(c->name, o.command == c->command);
		CASE_CHECK(c->name, str_eq(o.device, c->device));
		CASE_CHECK(c->name, o.all == c->all && o.force == c->force && o.json == c->json);
		CASE_CHECK(c->name, o.no_netlink == c->no_netlink);
		CASE_CHECK(c->name, str_eq(o.target.host, c->host));
		CASE_CHECK(c->name, str_eq(o.target.port, c->host ? c->port ?: "10809" : NULL));
		CASE_CHECK(c->name, str_eq(o.target.socket_path, c->socket));
		CASE_CHECK(c->name, o.target.tls.enabled == c->tls);
		if (c->host || c->socket) {
			CASE_CHECK(c->name, o.target.kind == (c->host ? TARGET_TCP : TARGET_UNIX));
			CASE_CHECK(c->name, str_eq(o.target.export_name, c->export_name ?: ""));
		} else {
			CASE_CHECK(c->name, o.target.kind == TARGET_NONE);
		}
	}
}

static void test_help_version(void **state _unused_)
{
	static const char *const help_forms[][4] = {
		{ "-h" },
		{ "--help" },
		{ "-help" },
		{ "help" },
		{ "help", "attach" },
		{ "h", "-h", "--frobnicate" },
		{ "-d", "nbd0", "-h" },
	};
	static const char *const version_forms[][4] = {
		{ "-V" },
		{ "--version" },
		{ "-version" },
		{ "version" },
		{ "h", "/dev/nbd0", "-V" },
	};

	for (size_t i = 0; i < ELEMENTSOF(help_forms); i++) {
		assert_int_equal(run_argv(help_forms[i]), 0);
		assert_int_equal(o.command, CLIENT_HELP);
		/* The parser names the command; the program prints. */
		assert_string_equal(take_out(), "");
	}
	for (size_t i = 0; i < ELEMENTSOF(version_forms); i++) {
		assert_int_equal(run_argv(version_forms[i]), 0);
		assert_int_equal(o.command, CLIENT_VERSION);
		assert_string_equal(take_out(), "");
	}
	assert_string_equal(take_err(), "");
}

static void test_help_text(void **state _unused_)
{
	static const char *const names[] = {
		"--cacertfile", "--block-size", "--size", "--check", "--connections",
		"--disconnect", "--certfile", "--no-optgo", "--help", "--tlshostname",
		"--identifier", "--keyfile",
		"--list", "--nonetlink", "--systemd-mark", "--nofork", "--name", "--persist",
		"--preinit", "--readonly", "--swap", "--timeout", "--dead-timeout", "--unix",
		"--version", "--enable-tls", "--priority", "--verbose", "--fd", "--negotiated",
		"--flags", "--force", "--all", "--json", "--nbds-max", "--max-part", "--nbdtab",
		"attach TARGET", "detach DEVICE", "status [DEVICE]", "list TARGET", "info TARGET",
		"reconnect DEVICE", NBDTAB_PATH,
	};
	const char *out;

	fflush(stdout);
	assert_true(dup2(cap.out_fd, STDOUT_FILENO) >= 0);
	client_print_help();
	fflush(stdout);
	assert_true(dup2(cap.saved_stdout, STDOUT_FILENO) >= 0);
	out = take_out();
	assert_true(strncmp(out, "Usage: nbd-client", 17) == 0);
	/* -b's range in the words of its error message and nbd-client(8), however it wraps. */
	{
		char flat[8192];
		size_t n = 0;

		for (const char *p = out; *p && n < sizeof(flat) - 1; p++)
			if (*p != ' ' && *p != '\n')
				flat[n++] = *p;
			else if (n > 0 && flat[n - 1] != ' ')
				flat[n++] = ' ';
		flat[n] = '\0';
		if (!strstr(flat, "block size: " CLIENT_BLOCK_SIZE_RANGE))
			fail_msg("the help text does not state -b as '%s'",
				 CLIENT_BLOCK_SIZE_RANGE);
	}
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (!strstr(out, names[i]))
			fail_msg("'%s' is not in the help text", names[i]);
	/* 80 columns. */
	for (const char *line = out; *line;) {
		size_t n = strcspn(line, "\n");

		if (n > 80)
			fail_msg("help line longer than 80 columns: %.*s", (int)n, line);
		line += n + (line[n] == '\n');
	}
}

/* ------------------------------------------------------------------ errors */

struct err_case {
	const char *name;
	const char *args[16];
	const char *message; /* the whole of stderr after "nbd-client: " */
	int error;           /* 0: -EINVAL */
};

#define SEE_HELP "; see 'nbd-client --help'"
#define BS_EXPECTED "expected a power of two from 512 to 65536, or 'preferred'"
#define SIZE_EXPECTED                                                                              \
	"expected a size in bytes greater than 0, optionally with a suffix such as K, M or G"
#define NOTHING_TO_DO                                                                              \
	"nothing to do: give HOST [PORT] [DEVICE], a DEVICE listed in TAB, or a command" SEE_HELP
#define BAD_DEVICE(d) "invalid device '" d "': expected /dev/nbdN or nbdN"
#define WITH_FD                                                                                    \
	"with --fd the sockets are the target, and only a DEVICE may follow"

static const struct err_case err_cases[] = {
	/* Values. */
	{ "block size", { "-b", "1000", "h" },
	  "invalid block size '1000' for -b: expected a power of two from 512 to 65536, or "
	  "'preferred'" },
	{ "block size misspelt preferred", { "-b", "prefered", "h" },
	  "invalid block size 'prefered' for -b: " BS_EXPECTED },
	{ "block size Preferred", { "-b", "Preferred", "h" },
	  "invalid block size 'Preferred' for -b: " BS_EXPECTED },
	{ "block size long", { "h", "-block-size", "1000" },
	  "invalid block size '1000' for --block-size: " BS_EXPECTED },
	{ "block size too big", { "--block-size=131072", "h" },
	  "invalid block size '131072' for --block-size: " BS_EXPECTED },
	{ "block size 256", { "-b256", "h" }, "invalid block size '256' for -b: " BS_EXPECTED },
	{ "old-style block size", { "bs=1000", "h" },
	  "the old-style argument 'bs=1000' is deprecated; use -b 1000\n"
	  "nbd-client: invalid block size '1000' for bs=: " BS_EXPECTED },
	{ "old-style timeout", { "h", "timeout=x" },
	  "the old-style argument 'timeout=x' is deprecated; use -t x\n"
	  "nbd-client: invalid timeout 'x' for timeout=: expected a number of seconds" },
	{ "old-style unknown", { "foo=1", "h" },
	  "unknown old-style argument 'foo=1': only bs=N and timeout=N exist (now -b N and -t "
	  "N)" },
	{ "size 0", { "-B", "0", "h" }, "invalid size '0' for -B: " SIZE_EXPECTED },
	{ "size letters", { "-size", "big", "h" },
	  "invalid size 'big' for --size: " SIZE_EXPECTED },
	{ "size too large", { "-B", "8E", "h" }, "invalid size '8E' for -B: too large" },
	{ "size not a multiple of 512", { "-B", "1000", "h" },
	  "the size, 1000 bytes, is not a multiple of the block size, 512 bytes" },
	{ "size not a multiple of bs", { "-B", "6144", "-b", "4096", "h" },
	  "the size, 6144 bytes, is not a multiple of the block size, 4096 bytes" },
	{ "timeout", { "-t", "x", "h" },
	  "invalid timeout 'x' for -t: expected a number of seconds" },
	{ "timeout negative", { "-timeout", "-5", "h" },
	  "invalid timeout '-5' for --timeout: expected a number of seconds" },
	{ "dead timeout", { "-T", "1.5", "h" },
	  "invalid dead-connection timeout '1.5' for -T: expected a number of seconds" },
	{ "connections 0", { "-C", "0", "h" },
	  "invalid number of connections '0' for -C: expected a number from 1 to 16" },
	{ "connections 17", { "-connections", "17", "h" },
	  "invalid number of connections '17' for --connections: expected a number from 1 to 16" },
	{ "connections letters", { "-Cx", "h" },
	  "invalid number of connections 'x' for -C: expected a number from 1 to 16" },
	{ "fd negative", { "--fd", "-1" },
	  "invalid file descriptor '-1' for --fd: expected a number from 0 up" },
	{ "fd letters", { "-fd", "x" },
	  "invalid file descriptor 'x' for --fd: expected a number from 0 up" },
	{ "fd twice", { "--fd", "3", "--fd", "3" }, "file descriptor 3 is given twice with --fd" },
	{ "flags too big", { "--flags", "0x10000", "--fd", "3", "--negotiated", "-B", "1M" },
	  "invalid transmission flags '0x10000' for --flags: expected a number from 0 to 0xffff "
	  "(decimal, or hexadecimal with 0x)" },
	{ "nbds-max 0", { "h", "--nbds-max", "0" },
	  "invalid number of devices '0' for --nbds-max: expected a number from 1 to 1048576" },
	{ "max-part 256", { "h", "--max-part", "256" },
	  "invalid number of partitions '256' for --max-part: expected a number from 0 to 255" },
	{ "empty -A", { "-A", "", "h" }, "empty file name for -A" },
	{ "empty -certfile", { "-certfile", "", "h" }, "empty file name for --certfile" },
	{ "empty -i", { "-i", "", "h" }, "empty identifier for -i" },
	{ "empty -H", { "-H", "", "h" }, "empty host name for -H" },
	{ "empty -y", { "-y", "", "h" }, "empty priority string for -y" },
	{ "--tls-ktls=maybe", { "--tls-ktls=maybe", "h" },
	  "invalid value 'maybe' for --tls-ktls: expected auto, yes or no" },
	{ "empty --nbdtab", { "--nbdtab", "", "nbd0" }, "empty file name for --nbdtab" },

	/* getopt. */
	{ "-C without a value", { "h", "-C" }, "option '-C' needs an argument" SEE_HELP },
	{ "-connections without a value", { "h", "-connections" },
	  "option '-connections' needs an argument" SEE_HELP },
	{ "--name without a value", { "h", "--name" },
	  "option '--name' needs an argument" SEE_HELP },
	{ "-N without a value", { "h", "-N" }, "option '-N' needs an argument" SEE_HELP },
	{ "-b without a value", { "h", "-b" }, "option '-b' needs an argument" SEE_HELP },
	{ "cluster without a value", { "h", "-pN" }, "option '-N' needs an argument" SEE_HELP },
	{ "--fd without a value", { "--fd" }, "option '--fd' needs an argument" SEE_HELP },
	{ "unknown short", { "-z", "h" }, "unknown option '-z'" SEE_HELP },
	{ "unknown in a cluster", { "-pz", "h" }, "unknown option '-z'" SEE_HELP },
	{ "unknown single-dash long", { "-frobnicate", "h" },
	  "unknown option '-frobnicate'" SEE_HELP },
	{ "unknown long", { "--frobnicate=1", "h" }, "unknown option '--frobnicate'" SEE_HELP },
	{ "unknown 4-letter cluster", { "-pzqx", "h" }, "unknown option '-pzqx'" SEE_HELP },

	/* Mistyped long options: the whole word is named, with the option meant, dashed alike. */
	{ "-systemd-mrak", { "h", "/dev/nbd0", "-systemd-mrak" },
	  "unknown option '-systemd-mrak'; did you mean '-systemd-mark'?" },
	{ "--systemd-mrak", { "--systemd-mrak", "h" },
	  "unknown option '--systemd-mrak'; did you mean '--systemd-mark'?" },
	{ "-blocksize", { "-blocksize", "4096", "h" },
	  "unknown option '-blocksize'; did you mean '-block-size'?" },
	{ "--blocksize=", { "--blocksize=4096", "h" },
	  "unknown option '--blocksize'; did you mean '--block-size'?" },
	{ "-timout", { "-timout", "30", "h" },
	  "unknown option '-timout'; did you mean '-timeout'?" },
	{ "-timout=", { "-timout=30", "h" }, "unknown option '-timout'; did you mean '-timeout'?" },
	{ "-persit", { "h", "-persit" }, "unknown option '-persit'; did you mean '-persist'?" },
	{ "--persit", { "h", "--persit" }, "unknown option '--persit'; did you mean '--persist'?" },
	{ "-Persist", { "-Persist", "h" }, "unknown option '-Persist'; did you mean '-persist'?" },
	{ "-conections", { "-conections", "4", "h" },
	  "unknown option '-conections'; did you mean '-connections'?" },
	{ "-dead-timout", { "-dead-timout", "4", "h" },
	  "unknown option '-dead-timout'; did you mean '-dead-timeout'?" },
	{ "-readonyl", { "-readonyl", "h" },
	  "unknown option '-readonyl'; did you mean '-readonly'?" },
	{ "-iname: a bundle, but near -name", { "-iname", "e", "h" },
	  "unknown option '-iname'; did you mean '-name'?" },
	{ "-unixx: a bundle, but near -unix", { "-unixx", "/s" },
	  "unknown option '-unixx'; did you mean '-unix'?" },
	{ "-zwap: not even its first letter", { "-zwap", "h" },
	  "unknown option '-zwap'; did you mean '-swap'?" },
	{ "-sze: 3 letters, near -size", { "-sze", "1G", "h" },
	  "unknown option '-sze'; did you mean '-size'?" },
	{ "--retry-man-delay: as near to two", { "h", "-p", "--retry-man-delay", "5" },
	  "unknown option '--retry-man-delay'" SEE_HELP },
	{ "typo after a subcommand", { "status", "-jsno" },
	  "unknown option '-jsno'; did you mean '-json'?" },
	{ "ambiguous", { "-no", "h" }, "ambiguous option '-no'" SEE_HELP },
	{ "ambiguous long", { "--ver", "h" }, "ambiguous option '--ver'" SEE_HELP },
	{ "flag with a value", { "--persist=1", "h" }, "option '--persist' takes no argument" },
	{ "single-dash flag with a value", { "-persist=yes", "h" },
	  "option '-persist' takes no argument" },
	{ "prefix with a value", { "-swa=1", "h" }, "option '-swa' takes no argument" },
	{ "export name too long", { "-N", "LONG", "h" },
	  "the export name given with -N is longer than 4096 bytes, the most NBD allows" },

	/* Positional arguments. */
	{ "nothing", { NULL }, NOTHING_TO_DO },
	{ "options only", { "-p", "-s" }, NOTHING_TO_DO },
	{ "too many", { "h", "2000", "/dev/nbd0", "extra" },
	  "unexpected argument 'extra': expected HOST [PORT] [DEVICE]" SEE_HELP },
	{ "neither port nor device", { "h", "sda" },
	  "invalid port or device 'sda': expected a port number or /dev/nbdN" },
	{ "bad device", { "h", "2000", "sda" }, BAD_DEVICE("sda") },
	{ "partition", { "h", "2000", "nbd0p1" },
	  "invalid device 'nbd0p1': a partition: expected the whole device, /dev/nbdN" },
	{ "device, then port", { "h", "/dev/nbd0", "2000" },
	  "unexpected argument '2000': expected HOST [PORT] [DEVICE]" SEE_HELP },
	{ "port 0", { "h", "0", "/dev/nbd0" },
	  "invalid port '0': expected a number from 1 to 65535" },
	{ "port too big", { "h", "70000" },
	  "invalid port '70000': expected a number from 1 to 65535" },
	{ "port twice", { "h:2000", "3000", "/dev/nbd0" },
	  "unexpected port '3000': 'h:2000' already gives the port" },
	{ "port after a URI", { "nbd://h/e", "3000" },
	  "unexpected port '3000': a URI gives the port itself, as in nbd://HOST:3000/EXPORT" },
	{ "port for a socket", { "-u", "/s", "2000", "/dev/nbd0" },
	  "unexpected port '2000': a Unix socket has none" },
	{ "bad host:port", { "h:0", "/dev/nbd0" },
	  "invalid port '0' in 'h:0': expected a port number from 1 to 65535 or a service name" },
	{ "bad URI", { "nbd://h:0/" },
	  "invalid URI 'nbd://h:0/': invalid port '0': expected a number from 1 to 65535" },
	{ "-N and a URI", { "nbd://h/e", "-N", "x" },
	  "-N and a URI both name the export; the URI's path is the export name" },
	{ "-name and a URI", { "-name", "x", "nbd://h" },
	  "--name and a URI both name the export; the URI's path is the export name" },
	{ "-H and tls-hostname", { "nbds://h/?tls-hostname=a", "-H", "b" },
	  "-H and the URI's tls-hostname both give the TLS host name; keep one" },
	{ "-u and a TCP URI", { "-u", "nbd://h/e" },
	  "-u says the target is a Unix socket, but 'nbd://h/e' is a URI for TCP" },
	{ "-u socket too long", { "-u", "LONGPATH" },
	  "socket path 'LONGPATH' is longer than 107 bytes, the most a Unix socket address "
	  "holds" },
	{ "empty argument", { "" }, "empty argument" SEE_HELP },
	{ "dracut's quoted empty options", { "h", "2000", "/dev/nbd0", "", "" },
	  "empty argument after the others" SEE_HELP },

	/* Combinations. */
	{ "-P without -B", { "-P", "h" },
	  "-P (--preinit) skips the handshake, which tells the size: give it with -B (--size)" },
	{ "-P with TLS", { "-P", "-B", "1M", "-x", "h" },
	  "-P (--preinit) skips the handshake, and TLS starts in it: they cannot be combined" },
	{ "preinit from nbdtab without size", { "nbd0", "-preinit" },
	  "-P (--preinit) skips the handshake, which tells the size: give it with -B (--size)" },
	{ "-i with -L", { "-i", "id", "-L", "h" },
	  "-i (--identifier) is set through netlink and cannot be combined with -L "
	  "(--nonetlink)" },
	{ "--negotiated without --fd", { "--negotiated", "-B", "1M", "h" },
	  "--negotiated says the sockets are past the handshake, but none is given: add --fd" },
	{ "--negotiated without --size", { "--fd", "3", "--negotiated" },
	  "--negotiated needs the export's size, which the handshake would have told: add "
	  "--size" },
	{ "--negotiated and -P", { "--fd", "3", "--negotiated", "--size", "1G", "-P" },
	  "--negotiated and -P (--preinit) exclude each other: the first says the handshake is "
	  "done, the second that there is none" },
	{ "--flags without --negotiated", { "--flags", "1", "--fd", "3" },
	  "--flags gives the transmission flags of a handshake done elsewhere; it needs "
	  "--negotiated" },
	{ "--fd and -C", { "--fd", "3", "-C", "2" },
	  "-C 2 does not match the 1 socket given with --fd" },
	{ "--fd and -connections",
	  { "--fd", "3", "--fd", "4", "--fd", "5", "-connections", "2" },
	  "--connections 2 does not match the 3 sockets given with --fd" },
	{ "--fd and a host", { "--fd", "3", "h", "/dev/nbd0" },
	  "unexpected argument 'h': " WITH_FD },
	{ "--fd, device and more", { "--fd", "3", "/dev/nbd0", "x" },
	  "unexpected argument 'x': " WITH_FD },

	/* Modes. */
	{ "-d and -c", { "-d", "nbd0", "-c", "nbd1" }, "-d and -c exclude each other" },
	{ "-l and -d", { "-l", "-d", "nbd1", "h" }, "-l and -d exclude each other" },
	{ "-d twice", { "-d", "nbd0", "-d", "nbd1" }, "-d is given twice" },
	{ "-d bad device", { "-d", "sda" }, BAD_DEVICE("sda") },
	{ "-d extra", { "-d", "nbd0", "extra" },
	  "unexpected argument 'extra': expected -d DEVICE alone" SEE_HELP },
	{ "-c extra", { "-c", "nbd0", "nbd1" },
	  "unexpected argument 'nbd1': expected -c DEVICE alone" SEE_HELP },
	{ "-d --json", { "-d", "nbd0", "--json" },
	  "--json does not apply to -d; it is for status, list and info" },
	{ "-c --force", { "-c", "nbd0", "--force" },
	  "--force does not apply to -c; it is for detach" },
	{ "-l --fd", { "-l", "h", "--fd", "3" }, "--fd does not apply to -l; it is for attach" },
	{ "attach --json", { "h", "/dev/nbd0", "--json" },
	  "--json does not apply to attaching a device; it is for status, list and info" },
	{ "attach --all", { "h", "--all" },
	  "--all does not apply to attaching a device; it is for detach" },
	{ "detach -p", { "detach", "nbd0", "-p" },
	  "-p does not apply to 'detach'; it is for attach" },
	{ "detach -persist", { "detach", "nbd0", "-persist" },
	  "--persist does not apply to 'detach'; it is for attach" },
	{ "status -N", { "status", "-N", "x" },
	  "-N does not apply to 'status'; it is for attach and info" },
	{ "list -L", { "list", "h", "-L" },
	  "-L does not apply to 'list'; it is for attach, detach, check and status" },
	{ "list -N", { "list", "h", "-N", "e" },
	  "-N does not apply to 'list'; it is for attach and info" },
	{ "info -C", { "info", "h", "-C", "2" }, "-C does not apply to 'info'; it is for attach" },
	{ "reconnect -A is fine, --json is not", { "reconnect", "nbd0", "-A", "ca", "--json" },
	  "--json does not apply to 'reconnect'; it is for status, list and info" },
	{ "command with -d", { "-d", "nbd0", "status" },
	  "'status' is a command and cannot be combined with -d" },
	{ "command with -l", { "-l", "list" },
	  "'list' is a command and cannot be combined with -l" },
	{ "-l without host", { "-l" }, "-l needs the server: -l HOST [PORT]" },
	{ "-l with device", { "-l", "h", "2000", "/dev/nbd0" },
	  "unexpected argument '/dev/nbd0': expected -l HOST [PORT]" SEE_HELP },

	/* Subcommands. */
	{ "detach alone", { "detach" }, "'detach' needs a DEVICE, or --all for every device" },
	{ "detach both", { "detach", "nbd0", "--all" },
	  "'detach' takes a DEVICE or --all, not both" },
	{ "detach two", { "detach", "nbd0", "nbd1" },
	  "unexpected argument 'nbd1': expected a single DEVICE" SEE_HELP },
	{ "detach bad device", { "detach", "/dev/sda" }, BAD_DEVICE("/dev/sda") },
	{ "attach alone", { "attach" }, "'attach' needs a TARGET (or --fd)" SEE_HELP },
	{ "attach port", { "attach", "h", "2000" },
	  "'2000' is not a device: 'attach' takes the port with the host, as HOST:2000" },
	{ "attach extra", { "attach", "h", "nbd0", "x" },
	  "unexpected argument 'x': expected attach TARGET [DEVICE]" SEE_HELP },
	{ "attach bad device", { "attach", "h", "sda" }, BAD_DEVICE("sda") },
	{ "attach bad target", { "attach", "dir/sock" },
	  "invalid target 'dir/sock': a Unix socket path starts with / or ./" },
	{ "attach nbdtab missing", { "attach", "nbd9" }, "nbd9 is not defined in TAB", -ENOENT },
	{ "list alone", { "list" }, "'list' needs a TARGET" SEE_HELP },
	{ "info alone", { "info", "--json" }, "'info' needs a TARGET" SEE_HELP },
	{ "info port", { "info", "h", "2000" },
	  "unexpected argument '2000': give the port with the host, as HOST:2000" },
	{ "list extra", { "list", "h", "x" },
	  "unexpected argument 'x': expected list TARGET" SEE_HELP },
	{ "status two", { "status", "nbd0", "nbd1" },
	  "unexpected argument 'nbd1': expected status [DEVICE]" SEE_HELP },
	{ "status bad device", { "status", "sda" }, BAD_DEVICE("sda") },
	{ "retry delay zero", { "h", "-p", "--retry-min-delay", "0" },
	  "invalid delay '0' for --retry-min-delay: expected milliseconds from 1 to 3600000" },
	{ "retry delay word", { "h", "-p", "--retry-max-delay", "1s" },
	  "invalid delay '1s' for --retry-max-delay: expected milliseconds from 1 to 3600000" },
	{ "retry delay detach", { "detach", "nbd0", "--retry-max-delay", "5" },
	  "--retry-max-delay does not apply to 'detach'; it is for attach" },
	{ "connect timeout word", { "h", "--connect-timeout", "5s" },
	  "invalid timeout '5s' for --connect-timeout: expected a number of seconds (0: the "
	  "default)" },
	{ "negotiate timeout detach", { "detach", "nbd0", "--negotiate-timeout", "5" },
	  "--negotiate-timeout does not apply to 'detach'; it is for attach, list and info" },
	{ "reconnect alone", { "reconnect" }, "'reconnect' needs a DEVICE" SEE_HELP },
	{ "version extra", { "version", "x" },
	  "unexpected argument 'x': expected version alone" SEE_HELP },
};

/* Replaces the first occurrence of what in s (of size size) with with. */
static void replace(char *s, size_t size, const char *what, const char *with)
{
	char *p = strstr(s, what);
	size_t n = strlen(what), m = strlen(with);

	if (!p)
		return;
	assert_true(strlen(s) - n + m < size);
	memmove(p + m, p + n, strlen(p + n) + 1);
	memcpy(p, with, m);
}

static void test_errors(void **state _unused_)
{
	static char long_name[4098], long_path[200];

	/* "LONG" and "LONGPATH" in args, and "TAB" in messages, stand for long values. */
	memset(long_name, 'n', 4097);
	long_path[0] = '/';
	memset(long_path + 1, 'p', 107);

	for (size_t i = 0; i < ELEMENTSOF(err_cases); i++) {
		const struct err_case *c = &err_cases[i];
		const char *args[ELEMENTSOF(c->args) + 1] = { NULL };
		char want[8300];
		const char *err;
		int r;

		for (size_t j = 0; j < ELEMENTSOF(c->args) && c->args[j]; j++) {
			args[j] = c->args[j];
			if (strcmp(args[j], "LONG") == 0)
				args[j] = long_name;
			else if (strcmp(args[j], "LONGPATH") == 0)
				args[j] = long_path;
		}
		r = run_argv(args);
		err = take_err();
		if (r != (c->error ? c->error : -EINVAL))
			fail_msg("case '%s': returned %d: %s", c->name, r, err);
		snprintf(want, sizeof(want), "nbd-client: %s\n", c->message);
		replace(want, sizeof(want), "TAB", tab_path);
		replace(want, sizeof(want), "LONGPATH", long_path);
		if (strcmp(err, want) != 0)
			fail_msg("case '%s':\n  expected: %s  got:      %s", c->name, want, err);
		/* Nothing on stdout, and the caller's options untouched. */
		CASE_CHECK(c->name, strcmp(take_out(), "") == 0);
		CASE_CHECK(c->name, o.command == CLIENT_ATTACH && o.target.kind == TARGET_NONE);
		CASE_CHECK(c->name, o.device == NULL && o.connections == 1 && !o.persist);
	}
}

/* A failed parse leaves options from an earlier success as they were. */
static void test_failure_keeps_options(void **state _unused_)
{
	char *argv_ok[] = { (char *)"nbd-client", (char *)"-p", (char *)"h", (char *)"nbd0", NULL };
	char *argv_bad[] = { (char *)"nbd-client", (char *)"-s", (char *)"-b", (char *)"3", NULL };
	char *argv_again[] = { (char *)"nbd-client", (char *)"-s", (char *)"x", NULL };

	client_options_free(&o);
	o.nbdtab_path = tab_path;
	assert_int_equal(client_parse_args(&o, 4, argv_ok), 0);
	assert_int_equal(client_parse_args(&o, 4, argv_bad), -EINVAL);
	take_err();
	assert_true(o.persist && !o.swap);
	assert_string_equal(o.target.host, "h");
	assert_string_equal(o.device, "/dev/nbd0");
	assert_string_equal(o.nbdtab_path, tab_path);

	/* And a second success replaces everything. */
	assert_int_equal(client_parse_args(&o, 3, argv_again), 0);
	assert_true(o.swap && !o.persist);
	assert_null(o.device);
	assert_string_equal(o.target.host, "x");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_attach_forms),
		TEST(test_attach_subcommand),
		TEST(test_negotiated),
		TEST(test_client_flags),
		TEST(test_retry_delays),
		TEST(test_handshake_timeouts),
		TEST(test_nbdtab_option),
		TEST(test_commands),
		TEST(test_help_version),
		TEST(test_help_text),
		TEST(test_errors),
		TEST(test_failure_keeps_options),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
