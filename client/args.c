/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client's command line: the reference nbd-client's forms, unchanged, and the subcommands.
 *
 * The reference parses with getopt_long_only(), so every long option works with one dash or two
 * ("-name", "--name") and a single-dash word that is no long option falls back to short options
 * ("-C4", "-sp"). The same call is used here, with the option string spelled out completely: the
 * reference lost -C's argument, -m, and -A/-F/-K from its string, and scripts that use them must
 * work.
 *
 * Arguments are collected first and interpreted once the whole line is known, because options may
 * stand anywhere (initramfs-tools puts -N between HOST and PORT, dracut puts options after the
 * device) and because which options apply depends on the command:
 *
 *  - A first argument that names a subcommand (attach, detach, status, list, info, reconnect, help,
 *    version) is that subcommand. A server really named "attach" is reached as nbd://attach.
 *  - Otherwise -d DEV, -c DEV and -l HOST [PORT] are the reference's modes, and anything else is
 *    the reference's attach form: HOST [PORT] [DEVICE], -u SOCKET [DEVICE], or a lone nbdN or
 *    /dev/nbdN looked up in nbdtab. HOST may also be an NBD URI or HOST:PORT.
 *  - Options given with a command they do not apply to are errors, except the reference's own
 *    options with -d, -c and -l, which the reference ignores and scripts may therefore pass.
 *
 * For `nbd-client nbd0`, options given on the command line win over the nbdtab line. The reference
 * lets the file win (it reads the file after the arguments), which makes a flag typed on the
 * command line silently do nothing; and it loses the command line's flags altogether when an
 * earlier line of the file names another device. Flags (-p, -s, ...) are combined from both.
 *
 * Everything is parsed into a fresh struct client_options that replaces the caller's only on
 * success, and every error is one line that names the option or argument and what is expected.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "client/options.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "netlink/nbd-dev.h"
#include "proto/nbd-protocol.h"

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
/* The kernel refuses nbds_max above 1 << (MINORBITS - part_shift); MINORBITS is 20. */
#define NBDS_MAX_LIMIT (1u << 20)
/* The kernel needs 1 << fls(max_part) to stay within DISK_MAX_PARTS (256). */
#define MAX_PART_LIMIT 255u
/* An hour between reconnection attempts is already more patience than any use needs. */
#define RETRY_DELAY_LIMIT_MS 3600000u
/* Transmission flags are 16 bits on the wire. */
#define FLAGS_LIMIT 0xffffu

enum {
	OPT_FD = 0x100,
	OPT_NEGOTIATED,
	OPT_FLAGS,
	OPT_FORCE,
	OPT_ALL,
	OPT_JSON,
	OPT_NBDS_MAX,
	OPT_MAX_PART,
	OPT_NBDTAB,
	OPT_DISCONNECT_ON_CLOSE,
	OPT_DESTROY_ON_DISCONNECT,
	OPT_RETRY_MIN,
	OPT_RETRY_MAX,
	OPT_LAST,
};

static const struct option options[] = {
	/* The reference's names, in its order. */
	{ "cacertfile", required_argument, NULL, 'A' },
	{ "block-size", required_argument, NULL, 'b' },
	{ "size", required_argument, NULL, 'B' },
	{ "check", required_argument, NULL, 'c' },
	{ "connections", required_argument, NULL, 'C' },
	{ "disconnect", required_argument, NULL, 'd' },
	{ "certfile", required_argument, NULL, 'F' },
	{ "no-optgo", no_argument, NULL, 'g' },
	{ "help", no_argument, NULL, 'h' },
	{ "tlshostname", required_argument, NULL, 'H' },
	{ "identifier", required_argument, NULL, 'i' },
	{ "keyfile", required_argument, NULL, 'K' },
	{ "list", no_argument, NULL, 'l' },
	{ "nonetlink", no_argument, NULL, 'L' },
	{ "systemd-mark", no_argument, NULL, 'm' },
	{ "nofork", no_argument, NULL, 'n' },
	{ "name", required_argument, NULL, 'N' },
	{ "persist", no_argument, NULL, 'p' },
	{ "preinit", no_argument, NULL, 'P' },
	{ "readonly", no_argument, NULL, 'R' },
	{ "swap", no_argument, NULL, 's' },
	{ "timeout", required_argument, NULL, 't' },
	{ "dead-timeout", required_argument, NULL, 'T' },
	{ "unix", no_argument, NULL, 'u' },
	{ "version", no_argument, NULL, 'V' },
	{ "enable-tls", no_argument, NULL, 'x' },
	{ "priority", required_argument, NULL, 'y' },
	/* Gone from the reference long ago, but still in its manual and in old scripts. Like the
	 * reference's table, this makes "-sd" a prefix of -sdp rather than -s -d. */
	{ "sdp", no_argument, NULL, 'S' },
	/* Ours. */
	{ "verbose", no_argument, NULL, 'v' },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "negotiated", no_argument, NULL, OPT_NEGOTIATED },
	{ "flags", required_argument, NULL, OPT_FLAGS },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "nbds-max", required_argument, NULL, OPT_NBDS_MAX },
	{ "max-part", required_argument, NULL, OPT_MAX_PART },
	{ "nbdtab", required_argument, NULL, OPT_NBDTAB },
	{ "disconnect-on-close", no_argument, NULL, OPT_DISCONNECT_ON_CLOSE },
	{ "destroy-on-disconnect", no_argument, NULL, OPT_DESTROY_ON_DISCONNECT },
	{ "retry-min-delay", required_argument, NULL, OPT_RETRY_MIN },
	{ "retry-max-delay", required_argument, NULL, OPT_RETRY_MAX },
	{},
};

/*
 * '-': non-options come back as 1, in order, so that positions are known and the first one can be
 * a subcommand; ':': a missing argument comes back as ':' and getopt prints nothing, so that every
 * message has one style.
 */
static const char short_options[] = "-:A:b:B:c:C:d:F:gH:hi:K:lLmnN:pPRsSt:T:uvVxy:";

/* Which commands an option applies to; options not listed apply to all. */
#define ON(c) (1u << (c))
#define ATTACH ON(CLIENT_ATTACH)
#define CONNECTING (ATTACH | ON(CLIENT_LIST) | ON(CLIENT_INFO))
#define TLS_USERS (CONNECTING | ON(CLIENT_RECONNECT))

static const struct {
	int code;
	unsigned applies;
} rules[] = {
	{ 'A', TLS_USERS },
	{ 'b', ATTACH },
	{ 'B', ATTACH },
	{ 'C', ATTACH },
	{ 'F', TLS_USERS },
	{ 'g', ATTACH | ON(CLIENT_INFO) },
	{ 'H', TLS_USERS },
	{ 'i', ATTACH | ON(CLIENT_DETACH) }, /* detach: only a device of this backend */
	{ 'K', TLS_USERS },
	{ 'L', ATTACH | ON(CLIENT_DETACH) | ON(CLIENT_CHECK) | ON(CLIENT_STATUS) },
	{ 'm', ATTACH },
	{ 'n', ATTACH },
	{ 'N', ATTACH | ON(CLIENT_INFO) },
	{ 'p', ATTACH },
	{ 'P', ATTACH },
	{ 'R', ATTACH },
	{ 's', ATTACH },
	{ 't', ATTACH },
	{ 'T', ATTACH },
	{ 'u', CONNECTING },
	{ 'x', TLS_USERS },
	{ 'y', TLS_USERS },
	{ OPT_FD, ATTACH },
	{ OPT_NEGOTIATED, ATTACH },
	{ OPT_FLAGS, ATTACH },
	{ OPT_FORCE, ON(CLIENT_DETACH) },
	{ OPT_ALL, ON(CLIENT_DETACH) },
	{ OPT_JSON, ON(CLIENT_STATUS) | ON(CLIENT_LIST) | ON(CLIENT_INFO) },
	{ OPT_NBDS_MAX, ATTACH },
	{ OPT_MAX_PART, ATTACH },
	{ OPT_NBDTAB, ATTACH },
	{ OPT_DISCONNECT_ON_CLOSE, ATTACH },
	{ OPT_DESTROY_ON_DISCONNECT, ATTACH },
	{ OPT_RETRY_MIN, ATTACH },
	{ OPT_RETRY_MAX, ATTACH },
};

static const char *const command_names[] = {
	[CLIENT_ATTACH] = "attach",
	[CLIENT_DETACH] = "detach",
	[CLIENT_CHECK] = "check",
	[CLIENT_STATUS] = "status",
	[CLIENT_LIST] = "list",
	[CLIENT_INFO] = "info",
	[CLIENT_RECONNECT] = "reconnect",
	[CLIENT_HELP] = "help",
	[CLIENT_VERSION] = "version",
};

/* How an option was spelled the last time, for messages; SPELL_NONE: not given. */
enum {
	SPELL_NONE,
	SPELL_SHORT,
	SPELL_OLD_BS,      /* the reference's positional bs=N */
	SPELL_OLD_TIMEOUT, /* and timeout=N */
	SPELL_LONG,        /* + index into options[] */
};

struct args {
	struct client_options *o;
	const char **pos; /* non-option arguments, in order */
	size_t n_pos;
	int spelled[OPT_LAST];
	int mode;                /* CLIENT_DETACH, _CHECK or _LIST from -d, -c or -l; or -1 */
	const char *mode_device; /* -d and -c */
	bool subcommand;
	bool unix_socket;        /* -u */
	const char *name;        /* -N */
	bool target_from_uri;
	bool tls_option;
};

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return log_oom();
	free(*field);
	*field = copy;
	return 0;
}

/* ------------------------------------------------------------------ shared value checks */

int client_parse_device(const char *arg, char **ret, uint32_t *ret_index, const char **ret_expected)
{
	const char *p = arg, *digits;
	uint32_t index;

	if (strncmp(p, "/dev/", 5) == 0)
		p += 5;
	if (strncmp(p, "nbd", 3) != 0)
		goto bad;
	digits = p + 3;
	p = digits + strspn(digits, "0123456789");
	if (p == digits)
		goto bad;
	if (*p == 'p' && p[1] != '\0' && p[1 + strspn(p + 1, "0123456789")] == '\0') {
		if (ret_expected)
			*ret_expected = "a partition: expected the whole device, /dev/nbdN";
		return -EINVAL;
	}
	if (*p != '\0' || (digits[0] == '0' && digits[1] != '\0') ||
	    parse_u32(digits, &index) < 0 || index > INT_MAX)
		goto bad;
	if (asprintf(ret, "/dev/nbd%" PRIu32, index) < 0)
		return -ENOMEM;
	if (ret_index)
		*ret_index = index;
	return 0;
bad:
	if (ret_expected)
		*ret_expected = "expected /dev/nbdN or nbdN";
	return -EINVAL;
}

int client_parse_block_size(const char *s, uint32_t *ret)
{
	uint32_t v;

	/* Only the server knows its preferred size; attach asks for it in the handshake. */
	if (strcmp(s, "preferred") == 0) {
		*ret = CLIENT_BLOCK_SIZE_PREFERRED;
		return 0;
	}
	/* The kernel takes powers of two from 512 up to the page size. 65536 is the largest page
	 * size Linux has; a value that the running kernel cannot take is refused when attaching. */
	if (parse_u32(s, &v) < 0 || v < CLIENT_BLOCK_SIZE_MIN || v > CLIENT_BLOCK_SIZE_MAX ||
	    (v & (v - 1)) != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int client_parse_connections(const char *s, unsigned *ret)
{
	uint32_t v;

	/* The kernel sets no limit. Each connection is a socket and a hardware queue, and past a
	 * few per CPU more of them only add handshakes; 64 leaves room and catches typos. */
	if (parse_u32(s, &v) < 0 || v < 1 || v > CLIENT_CONNECTIONS_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

int client_parse_port(const char *s, char **ret)
{
	uint16_t port;

	if (s[0] >= '0' && s[0] <= '9') {
		if (s[strspn(s, "0123456789")] != '\0' || parse_u16(s, &port) < 0 || port == 0)
			return -EINVAL;
		return asprintf(ret, "%u", port) < 0 ? -ENOMEM : 0;
	}
	/* A service name as /etc/services has them (RFC 6335: letters, digits, inner hyphens). */
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) || strlen(s) > 63)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return -EINVAL;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int client_parse_seconds(const char *s, uint32_t *ret)
{
	return parse_u32(s, ret) < 0 ? -EINVAL : 0;
}

int client_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v;
	int r;

	/* The reference read -B with strtoull(..., 0), so hexadecimal keeps working too. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		r = parse_u64(s, &v);
	else
		r = parse_size(s, &v);
	if (r < 0)
		return r;
	/* The kernel keeps sizes in a loff_t. */
	if (v > INT64_MAX)
		return -ERANGE;
	if (v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------------ options and targets */

void client_target_free(struct client_target *t)
{
	free(t->host);
	free(t->port);
	free(t->socket_path);
	free(t->export_name);
	free(t->tls_hostname);
	free(t->tls_type);
	free(t->user);
	*t = (struct client_target){ .tls_verify_peer = -1 };
}

void client_options_init(struct client_options *o)
{
	*o = (struct client_options){
		.command = CLIENT_ATTACH,
		.target = { .tls_verify_peer = -1 },
		.connections = 1,
		.nbdtab_path = NBDTAB_PATH,
	};
}

void client_options_free(struct client_options *o)
{
	const char *nbdtab_path = o->nbdtab_path;

	client_target_free(&o->target);
	free(o->device);
	free(o->identifier);
	free(o->fds);
	free(o->cacertfile);
	free(o->certfile);
	free(o->keyfile);
	free(o->tlshostname);
	free(o->priority);
	client_options_init(o);
	/* Not owned (argv or a constant); a caller's choice survives a reset. */
	o->nbdtab_path = nbdtab_path;
}

void client_print_help(void)
{
	printf("Usage: nbd-client [OPTIONS] HOST [PORT] [DEVICE]\n"
	       "       nbd-client [OPTIONS] -u SOCKET [DEVICE]\n"
	       "       nbd-client [OPTIONS] DEVICE          (as described in %s)\n"
	       "       nbd-client -d DEVICE | -c DEVICE | -l HOST [PORT]\n"
	       "       nbd-client COMMAND [ARGUMENTS] [OPTIONS]\n"
	       "\n"
	       "Attach NBD exports to /dev/nbdN devices, detach and inspect them.\n"
	       "\n"
	       "Commands:\n"
	       "  attach TARGET [DEVICE]     connect TARGET to DEVICE (default: a free one)\n"
	       "  detach DEVICE | --all      disconnect a device, or every device\n"
	       "  status [DEVICE]            show devices and their connections\n"
	       "  list TARGET                list the exports of a server\n"
	       "  info TARGET                show the size and flags of an export\n"
	       "  reconnect DEVICE           connect a device's server again\n"
	       "  help, version\n"
	       "\n"
	       "TARGET is an NBD URI (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH,\n"
	       "nbds://...), HOST, HOST:PORT, [IPV6]:PORT or a socket path starting with / or ./\n"
	       "(a server named like a command is reached with its URI). DEVICE is /dev/nbdN or\n"
	       "nbdN. Every long option may be given with one dash or two.\n"
	       "\n"
	       "Connection:\n"
	       "  -N, --name NAME            export name (default: the server's default export)\n"
	       "  -u, --unix                 HOST is the path of a Unix socket\n"
	       "  -C, --connections N        connections to the server (default 1)\n"
	       "  -g, --no-optgo             negotiate with NBD_OPT_EXPORT_NAME, not NBD_OPT_GO\n"
	       "      --fd FD                use the connected socket FD (repeatable)\n"
	       "      --negotiated           --fd sockets are past the handshake (needs --size)\n"
	       "      --flags FLAGS          their transmission flags (with --negotiated)\n"
	       "  -P, --preinit              hand the socket to the kernel without a handshake\n"
	       "                             (needs --size)\n"
	       "\n"
	       "Device:\n"
	       "  -b, --block-size BYTES     block size: a power of two from 512 to 65536, or\n"
	       "                             'preferred' (the server's preferred size); default\n"
	       "                             512, or the export's minimum when larger\n"
	       "  -B, --size BYTES           device size (default: the export's); K, M, G...\n"
	       "  -R, --readonly             attach read-only\n"
	       "  -t, --timeout SECONDS      fail a request the server has not answered by then\n"
	       "  -T, --dead-timeout SECONDS wait this long for a new connection before failing\n"
	       "  -p, --persist              reconnect when the connection is lost\n"
	       "      --retry-min-delay MS   -p: first delay between attempts (default 100)\n"
	       "      --retry-max-delay MS   -p: longest delay between attempts (default 1000)\n"
	       "  -s, --swap                 lock the client in memory, for swap on NBD\n"
	       "  -m, --systemd-mark         survive systemd's final kill, for root on NBD\n"
	       "  -n, --nofork               stay in the foreground\n"
	       "  -i, --identifier ID        backend identifier (/sys/block/nbdN/backend)\n"
	       "  -L, --nonetlink            use the ioctl interface instead of netlink\n"
	       "      --nbds-max N           number of devices when loading the nbd module\n"
	       "      --max-part N           partitions per device when loading the nbd module\n"
	       "      --nbdtab FILE          read FILE instead of %s\n"
	       "      --disconnect-on-close  netlink: disconnect when the last opener closes it\n"
	       "      --destroy-on-disconnect netlink: remove the device when it disconnects\n"
	       "\n"
	       "TLS (not available in this version):\n"
	       "  -A, --cacertfile FILE  -F, --certfile FILE  -K, --keyfile FILE\n"
	       "  -H, --tlshostname NAME  -y, --priority STRING  -x, --enable-tls\n"
	       "\n"
	       "Other:\n"
	       "  -d, --disconnect DEVICE    detach DEVICE\n"
	       "  -c, --check DEVICE         exit 0 if DEVICE is connected, 1 if not\n"
	       "  -l, --list                 list the exports of HOST\n"
	       "      --force                detach a device attached by someone else\n"
	       "      --all                  detach every device\n"
	       "      --json                 machine-readable output (status, list, info)\n"
	       "  -v, --verbose              log more (repeatable)\n"
	       "  -h, --help                 show this help\n"
	       "  -V, --version              show the version\n"
	       "\n"
	       "See nbd-client(8) and nbdtab(5).\n",
	       NBDTAB_PATH, NBDTAB_PATH);
}

/* ------------------------------------------------------------------ messages */

/* The option as the user spelled it (last): "-b", "--block-size", "bs=". */
static const char *option_name(const struct args *a, int code, char *buf, size_t size)
{
	int how = code < OPT_LAST ? a->spelled[code] : SPELL_NONE;

	if (how == SPELL_OLD_BS)
		return "bs=";
	if (how == SPELL_OLD_TIMEOUT)
		return "timeout=";
	if (how >= SPELL_LONG) {
		snprintf(buf, size, "--%s", options[how - SPELL_LONG].name);
		return buf;
	}
	if (code < 0x100) {
		snprintf(buf, size, "-%c", code);
		return buf;
	}
	for (const struct option *opt = options; opt->name; opt++)
		if (opt->val == code) {
			snprintf(buf, size, "--%s", opt->name);
			return buf;
		}
	return "?";
}

#define NAME(a, code) option_name((a), (code), (char[64]){ 0 }, 64)

/* Canonical names for conflicts, which may involve options the user has not typed. */
static const char *option_both(int code)
{
	switch (code) {
	case 'B':
		return "-B (--size)";
	case 'P':
		return "-P (--preinit)";
	case 'i':
		return "-i (--identifier)";
	case 'L':
		return "-L (--nonetlink)";
	}
	return "?";
}

/* The command as a message names it: "'status'" for a subcommand, or the reference's option. */
static const char *command_label(const struct args *a, char *buf, size_t size)
{
	if (a->subcommand) {
		snprintf(buf, size, "'%s'", command_names[a->o->command]);
		return buf;
	}
	switch (a->o->command) {
	case CLIENT_DETACH:
		return "-d";
	case CLIENT_CHECK:
		return "-c";
	case CLIENT_LIST:
		return "-l";
	default:
		return "attaching a device";
	}
}

/* "attach, status and info" for a mask of commands. */
static void format_commands(unsigned mask, char *buf, size_t size)
{
	size_t n = 0, total = 0, done = 0;

	for (unsigned c = 0; c < ELEMENTSOF(command_names); c++)
		total += !!(mask & ON(c));
	buf[0] = '\0';
	for (unsigned c = 0; c < ELEMENTSOF(command_names); c++) {
		const char *sep;

		if (!(mask & ON(c)))
			continue;
		done++;
		sep = done == 1 ? "" : done == total ? " and " : ", ";
		n += (size_t)snprintf(buf + n, size - MIN(n, size), "%s%s", sep, command_names[c]);
	}
}

/* Whether word[0..n) is a prefix of a long option with this val, as getopt would have read it. */
static bool long_option_prefix(const char *word, size_t n, int val)
{
	for (const struct option *opt = options; opt->name; opt++)
		if (opt->val == val && n > 0 && strncmp(opt->name, word, n) == 0)
			return true;
	return false;
}

/* The word at argv[optind - 1] without its dashes, if getopt read it as a long option of val. */
static const char *long_word(int argc, char **argv, int val, size_t *ret_n)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	const char *word;

	if (arg[0] != '-' || arg[1] == '\0')
		return NULL;
	word = arg + (arg[1] == '-' ? 2 : 1);
	*ret_n = strcspn(word, "=");
	if (val && !long_option_prefix(word, *ret_n, val))
		return NULL;
	return word;
}

/* ------------------------------------------------------------------ mistyped long options */

#define DISTANCE_FAR 1000u
#define DISTANCE_WORD_MAX 64

/*
 * The edit distance of a[0..n) and b, ignoring case: letters inserted, deleted, replaced, or two
 * neighbours swapped ("mrak" for "mark"), each one edit. Words longer than any option are far.
 */
static unsigned edit_distance(const char *a, size_t n, const char *b)
{
	unsigned rows[3][DISTANCE_WORD_MAX + 1];
	unsigned *before = rows[0], *prev = rows[1], *cur = rows[2], *t;
	size_t m = strlen(b);

	if (n > DISTANCE_WORD_MAX || m > DISTANCE_WORD_MAX)
		return DISTANCE_FAR;
	for (size_t j = 0; j <= m; j++)
		prev[j] = (unsigned)j;
	for (size_t i = 1; i <= n; i++) {
		int x = tolower((unsigned char)a[i - 1]);

		cur[0] = (unsigned)i;
		for (size_t j = 1; j <= m; j++) {
			int y = tolower((unsigned char)b[j - 1]);
			unsigned d = MIN(prev[j], cur[j - 1]) + 1;

			d = MIN(d, prev[j - 1] + (x != y));
			if (i > 1 && j > 1 && x == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == y)
				d = MIN(d, before[j - 2] + 1);
			cur[j] = d;
		}
		t = before;
		before = prev;
		prev = cur;
		cur = t;
	}
	return prev[m];
}

/*
 * The long option that word[0..n) was probably meant to be: the one nearest to it, if it is one
 * edit away (two for words of six letters or more, where two slips are as likely as one in a
 * short word) and no other option is as near. NULL otherwise: a guess between two names would
 * mislead as often as help.
 */
static const char *closest_option(const char *word, size_t n)
{
	unsigned best = DISTANCE_FAR, limit = n >= 6 ? 2 : 1;
	const char *found = NULL;
	bool tie = false;

	for (const struct option *opt = options; opt->name; opt++) {
		unsigned d;

		if (opt->val == 'S')
			continue; /* obsolete: never worth suggesting */
		d = edit_distance(word, n, opt->name);
		if (d < best) {
			best = d;
			found = opt->name;
			tie = false;
		} else if (d == best) {
			tie = true;
		}
	}
	return best <= limit && !tie ? found : NULL;
}

/* "unknown option '-word'", with the option it was probably meant to be, dashed alike. */
static int unknown_option(const char *arg)
{
	size_t dashes = arg[1] == '-' ? 2 : 1, n = strcspn(arg + dashes, "=");
	const char *near = closest_option(arg + dashes, n);

	if (near)
		log_error("unknown option '%.*s'; did you mean '%.*s%s'?", (int)(dashes + n), arg,
			  (int)dashes, "--", near);
	else
		log_error("unknown option '%.*s'; see 'nbd-client --help'", (int)(dashes + n), arg);
	return -EINVAL;
}

/* Whether getopt reads word (after its dash) as short options that all exist; *ret_upper: whether
 * one of them is an upper-case letter. */
static bool short_bundle(const char *word, bool *ret_upper)
{
	*ret_upper = false;
	for (const char *p = word; *p; p++) {
		/* Past "-:", the flags of the string itself. */
		const char *s = *p == ':' ? NULL : strchr(short_options + 2, *p);

		if (!s)
			return false;
		if (*p >= 'A' && *p <= 'Z')
			*ret_upper = true;
		if (s[1] == ':')
			return true; /* the rest of the word, or the next argument, is its value */
	}
	return true;
}

/*
 * A single-dash word that getopt has begun to read as a bundle of short options, because it is no
 * long option nor a prefix of one. getopt_long_only() does this for the reference too, so that a
 * mistyped long option turns into short ones: "-systemd-mrak" is -s plus -y (TLS priority)
 * "stemd-mrak", "-blocksize" is -b "locksize", "-persit" fails on an "-e" nobody typed. The rule:
 *
 *  - A word that is no valid bundle (one of its letters is no short option) is reported whole, as
 *    an unknown option, when it has 4 letters or more or is near a long option's name; a shorter
 *    one ("-pz") is left to getopt, which names the letter that is wrong.
 *  - A valid bundle is reported only when it has 4 letters or more (before any '='), uses no
 *    upper-case short option and is near a long option's name (see closest_option()). Long names
 *    are all lower case, so a bundle with -N, -C, -R... ("-Nname", "-C4", "-RnmgL") is meant as
 *    one; bundles that scripts write are short ("-sp", "-vv") or far from every name ("-b4096",
 *    "-t30", "-dnbd0"). What is reported here would have run with nonsense values: "-timout" as
 *    -t "imout", "-iname" as an identifier "name".
 *
 * Everything else is a bundle, as in the reference.
 */
static int check_bundle(const char *arg)
{
	const char *word = arg + 1;
	size_t n = strcspn(word, "=");
	bool upper;

	if (arg[0] != '-' || arg[1] == '-' || n < 2)
		return 0;
	if (short_bundle(word, &upper)) {
		if (n >= 4 && !upper && closest_option(word, n))
			return unknown_option(arg);
	} else if (n >= 4 || closest_option(word, n)) {
		return unknown_option(arg);
	}
	return 0;
}

static int bad_option(int argc, char **argv)
{
	const char *word;
	size_t n, matches = 0;

	word = long_word(argc, argv, optopt, &n);
	if (optopt && word && word[n] == '=') {
		log_error("option '%.*s' takes no argument", (int)(word + n - argv[optind - 1]),
			  argv[optind - 1]);
		return -EINVAL;
	}
	if (optopt) {
		log_error("unknown option '-%c'; see 'nbd-client --help'", optopt);
		return -EINVAL;
	}
	if (!word) {
		log_error("unknown option; see 'nbd-client --help'");
		return -EINVAL;
	}
	for (const struct option *o = options; o->name; o++)
		if (strncmp(o->name, word, n) == 0)
			matches++;
	if (matches <= 1)
		return unknown_option(argv[optind - 1]);
	log_error("ambiguous option '%.*s'; see 'nbd-client --help'",
		  (int)(word + n - argv[optind - 1]), argv[optind - 1]);
	return -EINVAL;
}

static int missing_argument(int argc, char **argv)
{
	const char *word;
	size_t n;

	word = long_word(argc, argv, optopt, &n);
	if (word && (optopt >= 0x100 || n > 1 || argv[optind - 1][1] == '-'))
		log_error("option '%.*s' needs an argument; see 'nbd-client --help'",
			  (int)(word + n - argv[optind - 1]), argv[optind - 1]);
	else
		log_error("option '-%c' needs an argument; see 'nbd-client --help'", optopt);
	return -EINVAL;
}

/* ------------------------------------------------------------------ options */

static int add_fd(struct client_options *o, const char *arg, const char *name)
{
	int fd, *fds;

	if (parse_int(arg, &fd) < 0 || fd < 0) {
		log_error("invalid file descriptor '%s' for %s: expected a number from 0 up", arg,
			  name);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->n_fds; i++)
		if (o->fds[i] == fd) {
			log_error("file descriptor %d is given twice with %s", fd, name);
			return -EINVAL;
		}
	fds = reallocarray(o->fds, o->n_fds + 1, sizeof(*fds));
	if (!fds)
		return log_oom();
	fds[o->n_fds++] = fd;
	o->fds = fds;
	return 0;
}

static int nonempty(char **field, const char *arg, const char *what, const char *name)
{
	if (*arg == '\0') {
		log_error("empty %s for %s", what, name);
		return -EINVAL;
	}
	return set_string(field, arg);
}

/* The reference's option for a mode. */
static const char *mode_option(int mode)
{
	return mode == CLIENT_DETACH ? "-d" : mode == CLIENT_CHECK ? "-c" : "-l";
}

static int set_mode(struct args *a, int mode, const char *device)
{
	if (a->mode >= 0) {
		if (a->mode == mode)
			log_error("%s is given twice", mode_option(mode));
		else
			log_error("%s and %s exclude each other", mode_option(a->mode),
				  mode_option(mode));
		return -EINVAL;
	}
	a->mode = mode;
	a->mode_device = device;
	return 0;
}

/* Returns 1 when parsing is over (-h, -V). */
static int apply_option(struct args *a, int c, const char *arg)
{
	struct client_options *o = a->o;
	const char *name = NAME(a, c);
	uint32_t u;
	int r;

	switch (c) {
	case 'A':
		a->tls_option = true;
		return nonempty(&o->cacertfile, arg, "file name", name);
	case 'b':
		if (client_parse_block_size(arg, &o->block_size) < 0) {
			log_error("invalid block size '%s' for %s: " CLIENT_BLOCK_SIZE_EXPECTED,
				  arg, name);
			return -EINVAL;
		}
		return 0;
	case 'B':
		r = client_parse_size(arg, &o->size);
		if (r == -ERANGE) {
			log_error("invalid size '%s' for %s: too large", arg, name);
			return -EINVAL;
		}
		if (r < 0) {
			log_error("invalid size '%s' for %s: " CLIENT_SIZE_EXPECTED, arg, name);
			return -EINVAL;
		}
		return 0;
	case 'c':
		return set_mode(a, CLIENT_CHECK, arg);
	case 'C':
		if (client_parse_connections(arg, &o->connections) < 0) {
			log_error("invalid number of connections '%s' for %s: "
				  CLIENT_CONNECTIONS_EXPECTED, arg, name);
			return -EINVAL;
		}
		return 0;
	case 'd':
		return set_mode(a, CLIENT_DETACH, arg);
	case 'F':
		a->tls_option = true;
		return nonempty(&o->certfile, arg, "file name", name);
	case 'g':
		o->no_opt_go = true;
		return 0;
	case 'h':
		o->command = CLIENT_HELP;
		return 1;
	case 'H':
		a->tls_option = true;
		return nonempty(&o->tlshostname, arg, "host name", name);
	case 'i':
		return nonempty(&o->identifier, arg, "identifier", name);
	case 'K':
		a->tls_option = true;
		return nonempty(&o->keyfile, arg, "file name", name);
	case 'l':
		return set_mode(a, CLIENT_LIST, NULL);
	case 'L':
		o->no_netlink = true;
		return 0;
	case 'm':
		o->systemd_mark = true;
		return 0;
	case 'n':
		o->nofork = true;
		return 0;
	case 'N':
		if (strlen(arg) > NBD_MAX_STRING) {
			log_error("the export name given with %s is longer than %u bytes, the most "
				  "NBD allows", name, NBD_MAX_STRING);
			return -EINVAL;
		}
		a->name = arg;
		return 0;
	case 'p':
		o->persist = true;
		return 0;
	case 'P':
		o->preinit = true;
		return 0;
	case 'R':
		o->read_only = true;
		return 0;
	case 's':
		o->swap = true;
		return 0;
	case 'S':
		/* Boot scripts written for old releases may still pass it: failing them would
		 * make a machine unbootable for an option that changes nothing today. */
		log_warning("%s is obsolete and ignored: SDP (the Sockets Direct Protocol) is no "
			    "longer supported; remove it", name);
		return 0;
	case 't':
	case 'T':
		if (client_parse_seconds(arg, c == 't' ? &o->timeout : &o->dead_timeout) < 0) {
			log_error("invalid %s '%s' for %s: " CLIENT_SECONDS_EXPECTED,
				  c == 't' ? "timeout" : "dead-connection timeout", arg, name);
			return -EINVAL;
		}
		return 0;
	case 'u':
		a->unix_socket = true;
		return 0;
	case 'v':
		o->verbosity++;
		return 0;
	case 'V':
		o->command = CLIENT_VERSION;
		return 1;
	case 'x':
		a->tls_option = true;
		return 0;
	case 'y':
		a->tls_option = true;
		return nonempty(&o->priority, arg, "priority string", name);
	case OPT_FD:
		return add_fd(o, arg, name);
	case OPT_NEGOTIATED:
		o->negotiated = true;
		return 0;
	case OPT_FLAGS:
		if (parse_u64(arg, &o->flags) < 0 || o->flags > FLAGS_LIMIT) {
			log_error("invalid transmission flags '%s' for %s: expected a number from "
				  "0 to 0xffff (decimal, or hexadecimal with 0x)", arg, name);
			return -EINVAL;
		}
		o->flags_given = true;
		return 0;
	case OPT_FORCE:
		o->force = true;
		return 0;
	case OPT_ALL:
		o->all = true;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_RETRY_MIN:
	case OPT_RETRY_MAX:
		if (parse_u32(arg, &u) < 0 || u < 1 || u > RETRY_DELAY_LIMIT_MS) {
			log_error("invalid delay '%s' for %s: expected milliseconds from 1 to %u", arg,
				  name, RETRY_DELAY_LIMIT_MS);
			return -EINVAL;
		}
		*(c == OPT_RETRY_MIN ? &o->retry_min_ms : &o->retry_max_ms) = u;
		return 0;
	case OPT_NBDS_MAX:
		if (parse_u32(arg, &u) < 0 || u < 1 || u > NBDS_MAX_LIMIT) {
			log_error("invalid number of devices '%s' for %s: expected a number from 1 "
				  "to %u", arg, name, NBDS_MAX_LIMIT);
			return -EINVAL;
		}
		o->nbds_max = u;
		return 0;
	case OPT_MAX_PART:
		if (parse_u32(arg, &u) < 0 || u > MAX_PART_LIMIT) {
			log_error("invalid number of partitions '%s' for %s: expected a number "
				  "from 0 to %u", arg, name, MAX_PART_LIMIT);
			return -EINVAL;
		}
		o->max_part = u;
		o->max_part_given = true;
		return 0;
	case OPT_DISCONNECT_ON_CLOSE:
		o->client_flags |= NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE;
		return 0;
	case OPT_DESTROY_ON_DISCONNECT:
		o->client_flags |= NBD_CLIENT_FLAG_DESTROY_ON_DISCONNECT;
		return 0;
	case OPT_NBDTAB:
		if (*arg == '\0') {
			log_error("empty file name for %s", name);
			return -EINVAL;
		}
		o->nbdtab_path = arg;
		return 0;
	}
	/* Every option in the tables above has a case. */
	log_error("unhandled option %d", c);
	return -EINVAL;
}

static void note_spelling(struct args *a, int c, int how)
{
	if (c >= 0 && c < OPT_LAST)
		a->spelled[c] = how;
}

/* "bs=N" and "timeout=N" before, between or after the reference's positional arguments. */
static int old_style(struct args *a, const char *arg, bool *ret_handled)
{
	const char *eq = strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : 0;
	int code, r;

	*ret_handled = false;
	/* Only a word before '=': URIs (nbd+unix:///?socket=x) and paths (./a=b) are arguments. */
	if (n == 0 || strspn(arg, "abcdefghijklmnopqrstuvwxyz_-") != n)
		return 0;
	*ret_handled = true;
	if (n == 2 && strncmp(arg, "bs", 2) == 0)
		code = 'b';
	else if (n == 7 && strncmp(arg, "timeout", 7) == 0)
		code = 't';
	else {
		log_error("unknown old-style argument '%s': only bs=N and timeout=N exist (now -b "
			  "N and -t N)", arg);
		return -EINVAL;
	}
	log_warning("the old-style argument '%s' is deprecated; use %s %s", arg,
		    code == 'b' ? "-b" : "-t", eq + 1);
	note_spelling(a, code, code == 'b' ? SPELL_OLD_BS : SPELL_OLD_TIMEOUT);
	r = apply_option(a, code, eq + 1);
	return r < 0 ? r : 0;
}

static int add_positional(struct args *a, const char *arg)
{
	bool handled;
	int r;

	r = old_style(a, arg, &handled);
	if (r < 0 || handled)
		return r;
	if (*arg == '\0') {
		log_error("empty argument%s; see 'nbd-client --help'",
			  a->n_pos == 0 ? "" : " after the others");
		return -EINVAL;
	}
	a->pos[a->n_pos++] = arg;
	return 0;
}

/* ------------------------------------------------------------------ positional forms */

static bool is_device_name(const char *arg)
{
	_cleanup_free_ char *dev = NULL;

	return client_parse_device(arg, &dev, NULL, NULL) == 0;
}

static int set_device(struct client_options *o, const char *arg)
{
	const char *why = NULL;
	char *dev;
	int r;

	r = client_parse_device(arg, &dev, NULL, &why);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("invalid device '%s': %s", arg, why);
		return -EINVAL;
	}
	free(o->device);
	o->device = dev;
	return 0;
}

/* -c answers for a partition's disk, as the reference does: "nbd0p1" checks nbd0. */
static int set_check_device(struct client_options *o, const char *arg)
{
	int disk = nbd_dev_disk_index(arg);
	char name[32];

	if (disk < 0)
		return set_device(o, arg);
	snprintf(name, sizeof(name), "/dev/nbd%d", disk);
	return set_device(o, name);
}

/* TARGET of any form; with -u, a socket path however it is written. */
static int parse_target(struct args *a, const char *arg)
{
	struct client_options *o = a->o;
	int r;

	if (a->unix_socket && !client_is_uri(arg)) {
		if (strlen(arg) > SOCKET_PATH_MAX) {
			log_error("socket path '%s' is longer than %zu bytes, the most a Unix "
				  "socket address holds", arg, SOCKET_PATH_MAX);
			return -EINVAL;
		}
		client_target_free(&o->target);
		o->target.kind = TARGET_UNIX;
		if (set_string(&o->target.socket_path, arg) < 0 ||
		    set_string(&o->target.export_name, "") < 0)
			return -ENOMEM;
		return 0;
	}
	r = client_parse_target(arg, &o->target);
	if (r < 0)
		return r;
	if (a->unix_socket && o->target.kind != TARGET_UNIX) {
		log_error("-u says the target is a Unix socket, but '%s' is a URI for TCP", arg);
		return -EINVAL;
	}
	a->target_from_uri = client_is_uri(arg);
	return 0;
}

/* Whether a TARGET names its port itself ("host:port", "[v6]:port" or any URI). */
static bool target_has_port(const char *arg)
{
	const char *colon = strchr(arg, ':');

	if (client_is_uri(arg))
		return true;
	if (arg[0] == '[')
		return strstr(arg, "]:") != NULL;
	return colon && !strchr(colon + 1, ':');
}

static int positional_port(struct args *a, const char *host, const char *arg)
{
	struct client_options *o = a->o;
	char *port;
	int r;

	if (o->target.kind != TARGET_TCP) {
		log_error("unexpected port '%s': a Unix socket has none", arg);
		return -EINVAL;
	}
	if (client_is_uri(host)) {
		log_error("unexpected port '%s': a URI gives the port itself, as in "
			  "nbd://HOST:%s/EXPORT", arg, arg);
		return -EINVAL;
	}
	if (target_has_port(host)) {
		log_error("unexpected port '%s': '%s' already gives the port", arg, host);
		return -EINVAL;
	}
	r = client_parse_port(arg, &port);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("invalid port '%s': expected a number from 1 to 65535", arg);
		return -EINVAL;
	}
	free(o->target.port);
	o->target.port = port;
	return 0;
}

static bool is_number(const char *s)
{
	return *s && s[strspn(s, "0123456789")] == '\0';
}

/*
 * nbd-client nbd0: the target and options from nbdtab, under the command line's. The line is read
 * into options of its own, so that what the command line set can be told from what it left alone.
 */
static int attach_from_nbdtab(struct args *a, const char *device)
{
	_cleanup_(client_options_free) struct client_options tab;
	struct client_options *o = a->o;
	int r;

	client_options_init(&tab);
	r = nbdtab_apply(o->nbdtab_path, device, &tab);
	if (r < 0)
		return r;

	free(o->device);
	o->device = TAKE_PTR(tab.device);
	client_target_free(&o->target);
	o->target = tab.target;
	tab.target = (struct client_target){ .tls_verify_peer = -1 };

	/* -u turns the line's host into a socket path, as it does in the reference. */
	if (a->unix_socket && o->target.kind == TARGET_TCP) {
		if (strlen(o->target.host) > SOCKET_PATH_MAX) {
			log_error("socket path '%s' is longer than %zu bytes, the most a Unix "
				  "socket address holds", o->target.host, SOCKET_PATH_MAX);
			return -EINVAL;
		}
		o->target.kind = TARGET_UNIX;
		o->target.socket_path = TAKE_PTR(o->target.host);
		free(o->target.port);
		o->target.port = NULL;
	}

#define TAKE_STRING(field, code)                                                                   \
	do {                                                                                       \
		if (!a->spelled[code] && tab.field) {                                              \
			free(o->field);                                                            \
			o->field = TAKE_PTR(tab.field);                                            \
		}                                                                                  \
	} while (0)
#define TAKE_VALUE(field, code)                                                                    \
	do {                                                                                       \
		if (!a->spelled[code])                                                             \
			o->field = tab.field;                                                      \
	} while (0)
	TAKE_STRING(cacertfile, 'A');
	TAKE_STRING(certfile, 'F');
	TAKE_STRING(keyfile, 'K');
	TAKE_STRING(tlshostname, 'H');
	TAKE_STRING(priority, 'y');
	TAKE_STRING(identifier, 'i');
	TAKE_VALUE(block_size, 'b');
	TAKE_VALUE(size, 'B');
	TAKE_VALUE(timeout, 't');
	TAKE_VALUE(dead_timeout, 'T');
	TAKE_VALUE(connections, 'C');
#undef TAKE_STRING
#undef TAKE_VALUE
	o->persist |= tab.persist;
	o->swap |= tab.swap;
	o->read_only |= tab.read_only;
	o->no_opt_go |= tab.no_opt_go;
	o->preinit |= tab.preinit;
	return 0;
}

static int too_many(const char *arg, const char *form)
{
	log_error("unexpected argument '%s': expected %s; see 'nbd-client --help'", arg, form);
	return -EINVAL;
}

/* The reference's attach form, and its -l HOST [PORT]. */
static int reference_positional(struct args *a, const char **pos, size_t n)
{
	struct client_options *o = a->o;
	bool list = o->command == CLIENT_LIST;
	const char *form = list ? "-l HOST [PORT]" : "HOST [PORT] [DEVICE]";
	size_t i = 0;
	int r;

	if (o->n_fds > 0 && !list) {
		/* The sockets are the target: only the device is left to name. */
		if (n > 1 || (n == 1 && !is_device_name(pos[0]))) {
			log_error("unexpected argument '%s': with --fd the sockets are the target, "
				  "and only a DEVICE may follow",
				  pos[n > 1 && is_device_name(pos[0])]);
			return -EINVAL;
		}
		o->target.kind = TARGET_FD;
		return n == 1 ? set_device(o, pos[0]) : 0;
	}
	if (n == 0) {
		if (list)
			log_error("-l needs the server: -l HOST [PORT]");
		else
			log_error("nothing to do: give HOST [PORT] [DEVICE], a DEVICE listed in "
				  "%s, or a command; see 'nbd-client --help'", o->nbdtab_path);
		return -EINVAL;
	}
	/* Even with -u, as in the reference: the line's host is then the socket. */
	if (!list && n == 1 && is_device_name(pos[0]))
		return attach_from_nbdtab(a, pos[0]);

	r = parse_target(a, pos[i++]);
	if (r < 0)
		return r;
	if (i < n && is_number(pos[i])) {
		r = positional_port(a, pos[0], pos[i++]);
		if (r < 0)
			return r;
	}
	if (i < n && !list) {
		if (i == 1 && !is_device_name(pos[i])) {
			log_error("invalid port or device '%s': expected a port number or "
				  "/dev/nbdN", pos[i]);
			return -EINVAL;
		}
		r = set_device(o, pos[i++]);
		if (r < 0)
			return r;
	}
	if (i < n)
		return too_many(pos[i], form);
	return 0;
}

static int need_device(const char *command, const char **pos, size_t n)
{
	if (n == 0) {
		log_error("'%s' needs a DEVICE; see 'nbd-client --help'", command);
		return -EINVAL;
	}
	if (n > 1)
		return too_many(pos[1], "a single DEVICE");
	return 0;
}

static int subcommand_positional(struct args *a, const char **pos, size_t n)
{
	struct client_options *o = a->o;
	int r;

	switch (o->command) {
	case CLIENT_ATTACH:
		if (o->n_fds > 0)
			return reference_positional(a, pos, n);
		if (n == 0) {
			log_error("'attach' needs a TARGET (or --fd); see 'nbd-client --help'");
			return -EINVAL;
		}
		if (n == 1 && is_device_name(pos[0]))
			return attach_from_nbdtab(a, pos[0]);
		r = parse_target(a, pos[0]);
		if (r < 0)
			return r;
		if (n > 1 && is_number(pos[1])) {
			log_error("'%s' is not a device: 'attach' takes the port with the host, as "
				  "HOST:%s", pos[1], pos[1]);
			return -EINVAL;
		}
		if (n > 1) {
			r = set_device(o, pos[1]);
			if (r < 0)
				return r;
		}
		return n > 2 ? too_many(pos[2], "attach TARGET [DEVICE]") : 0;

	case CLIENT_DETACH:
		if (o->all) {
			if (n > 0) {
				log_error("'detach' takes a DEVICE or --all, not both");
				return -EINVAL;
			}
			return 0;
		}
		if (n == 0) {
			log_error("'detach' needs a DEVICE, or --all for every device");
			return -EINVAL;
		}
		r = need_device("detach", pos, n);
		return r < 0 ? r : set_device(o, pos[0]);

	case CLIENT_STATUS:
		if (n > 1)
			return too_many(pos[1], "status [DEVICE]");
		return n == 1 ? set_device(o, pos[0]) : 0;

	case CLIENT_LIST:
	case CLIENT_INFO:
		if (n == 0) {
			log_error("'%s' needs a TARGET; see 'nbd-client --help'",
				  command_names[o->command]);
			return -EINVAL;
		}
		r = parse_target(a, pos[0]);
		if (r < 0)
			return r;
		if (n > 1 && is_number(pos[1])) {
			log_error("unexpected argument '%s': give the port with the host, as "
				  "HOST:%s", pos[1], pos[1]);
			return -EINVAL;
		}
		return n > 1 ? too_many(pos[1], o->command == CLIENT_LIST ? "list TARGET"
									  : "info TARGET")
			     : 0;

	case CLIENT_RECONNECT:
		r = need_device("reconnect", pos, n);
		return r < 0 ? r : set_device(o, pos[0]);

	case CLIENT_HELP:
		/* "help attach" and the like: there is one help text. */
		return 0;

	case CLIENT_VERSION:
		return n > 0 ? too_many(pos[0], "version alone") : 0;

	case CLIENT_CHECK:
		break;
	}
	log_error("unhandled command %d", o->command);
	return -EINVAL;
}

static int find_subcommand(const char *arg)
{
	for (unsigned c = 0; c < ELEMENTSOF(command_names); c++)
		/* "check" is the reference's -c only: a host named check keeps working. */
		if (c != CLIENT_CHECK && strcmp(arg, command_names[c]) == 0)
			return (int)c;
	return -1;
}

/* ------------------------------------------------------------------ checks */

static int check_applicable(struct args *a)
{
	char label[64], list[128];

	for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
		int code = rules[i].code;

		if (!a->spelled[code] || (rules[i].applies & ON(a->o->command)))
			continue;
		/* The reference ignores its attach options with -d, -c and -l; so do scripts. */
		if (code < 0x100 && !a->subcommand && a->mode >= 0) {
			log_debug("%s is ignored with %s", NAME(a, code),
				  command_label(a, label, sizeof(label)));
			continue;
		}
		format_commands(rules[i].applies, list, sizeof(list));
		log_error("%s does not apply to %s; it is for %s", NAME(a, code),
			  command_label(a, label, sizeof(label)), list);
		return -EINVAL;
	}
	return 0;
}

/* The export name and TLS settings, from options and the URI, onto the target. */
static int finish_target(struct args *a)
{
	struct client_options *o = a->o;
	struct client_target *t = &o->target;

	if (t->kind == TARGET_NONE)
		return 0;
	if (a->name) {
		if (a->target_from_uri) {
			log_error("%s and a URI both name the export; the URI's path is the export "
				  "name", NAME(a, 'N'));
			return -EINVAL;
		}
		if (set_string(&t->export_name, a->name) < 0)
			return -ENOMEM;
	}
	if (!t->export_name && set_string(&t->export_name, "") < 0)
		return -ENOMEM;

	if (t->tls_hostname) {
		if (a->spelled['H']) {
			log_error("%s and the URI's tls-hostname both give the TLS host name; "
				  "keep one", NAME(a, 'H'));
			return -EINVAL;
		}
		if (set_string(&o->tlshostname, t->tls_hostname) < 0)
			return -ENOMEM;
	}
	/* As in the reference: a key alone is a file with both the certificate and the key. */
	if (o->keyfile && !o->certfile && set_string(&o->certfile, o->keyfile) < 0)
		return -ENOMEM;
	if (a->tls_option || o->cacertfile || o->certfile || o->keyfile || o->tlshostname ||
	    o->priority)
		t->tls = true;
	return 0;
}

static int check_attach(struct args *a)
{
	struct client_options *o = a->o;
	/* The default and -b preferred are known only after the handshake, which checks the size
	 * against them; both are multiples of the smallest. */
	uint32_t bs = o->block_size && o->block_size != CLIENT_BLOCK_SIZE_PREFERRED
			      ? o->block_size
			      : CLIENT_BLOCK_SIZE_MIN;

	if (o->n_fds > 0) {
		if (a->spelled['C'] && o->connections != o->n_fds) {
			log_error("%s %u does not match the %zu socket%s given with --fd",
				  NAME(a, 'C'), o->connections, o->n_fds, o->n_fds == 1 ? "" : "s");
			return -EINVAL;
		}
		o->connections = (unsigned)o->n_fds;
	}
	if (o->negotiated) {
		if (o->n_fds == 0) {
			log_error("--negotiated says the sockets are past the handshake, but none "
				  "is given: add --fd");
			return -EINVAL;
		}
		if (o->size == 0) {
			log_error("--negotiated needs the export's size, which the handshake would "
				  "have told: add --size");
			return -EINVAL;
		}
		if (o->preinit) {
			log_error("--negotiated and -P (--preinit) exclude each other: the first "
				  "says the handshake is done, the second that there is none");
			return -EINVAL;
		}
	}
	if (o->flags_given && !o->negotiated) {
		log_error("--flags gives the transmission flags of a handshake done elsewhere; it "
			  "needs --negotiated");
		return -EINVAL;
	}
	if (o->preinit) {
		if (o->size == 0) {
			log_error("%s skips the handshake, which tells the size: give it with %s",
				  option_both('P'), option_both('B'));
			return -EINVAL;
		}
		if (o->target.tls) {
			log_error("%s skips the handshake, and TLS starts in it: they cannot be "
				  "combined", option_both('P'));
			return -EINVAL;
		}
	}
	if (o->identifier && o->no_netlink) {
		log_error("%s is set through netlink and cannot be combined with %s",
			  option_both('i'), option_both('L'));
		return -EINVAL;
	}
	if (o->size % bs != 0) {
		log_error("the size, %" PRIu64 " bytes, is not a multiple of the block size, "
			  "%" PRIu32 " bytes", o->size, bs);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ the whole line */

static int parse_all(struct args *a, int argc, char **argv)
{
	struct client_options *o = a->o;
	int c, r, longindex, before;
	bool word_start = true;

	/* 0, not 1: resets getopt's state completely, as each call (and each test) needs. */
	optind = 0;
	opterr = 0;
	for (;;) {
		longindex = -1;
		/* getopt starts at 1 after a reset, and leaves optind alone within a bundle. */
		before = optind > 0 ? optind : 1;
		c = getopt_long_only(argc, argv, short_options, options, &longindex);
		if (c == -1)
			break;
		if (c == '?')
			return bad_option(argc, argv);
		if (c == ':')
			return missing_argument(argc, argv);
		if (word_start && c != 1 && longindex < 0) {
			r = check_bundle(argv[before]);
			if (r < 0)
				return r;
		}
		word_start = optind != before;
		if (c == 1) {
			r = add_positional(a, optarg);
		} else {
			note_spelling(a, c, longindex >= 0 ? SPELL_LONG + longindex : SPELL_SHORT);
			r = apply_option(a, c, optarg);
		}
		if (r != 0)
			return r; /* 1: -h or -V, and nothing else matters */
	}
	/* After "--" every argument is positional. */
	for (; optind < argc; optind++) {
		r = add_positional(a, argv[optind]);
		if (r < 0)
			return r;
	}

	/* The command first, so that options that do not apply are reported before arguments. */
	if (a->n_pos > 0 && (c = find_subcommand(a->pos[0])) >= 0) {
		if (a->mode >= 0) {
			log_error("'%s' is a command and cannot be combined with %s", a->pos[0],
				  mode_option(a->mode));
			return -EINVAL;
		}
		a->subcommand = true;
		o->subcommand = true;
		o->command = (enum client_command)c;
	} else if (a->mode >= 0) {
		o->command = (enum client_command)a->mode;
	} else {
		o->command = CLIENT_ATTACH;
	}
	if (o->command != CLIENT_HELP && o->command != CLIENT_VERSION) {
		r = check_applicable(a);
		if (r < 0)
			return r;
	}

	if (a->subcommand)
		r = subcommand_positional(a, a->pos + 1, a->n_pos - 1);
	else if (o->command == CLIENT_DETACH || o->command == CLIENT_CHECK) {
		if (a->n_pos > 0)
			return too_many(a->pos[0], o->command == CLIENT_DETACH ? "-d DEVICE alone"
									       : "-c DEVICE alone");
		r = o->command == CLIENT_CHECK ? set_check_device(o, a->mode_device)
					       : set_device(o, a->mode_device);
	} else
		r = reference_positional(a, a->pos, a->n_pos);
	if (r < 0)
		return r;
	if (o->command == CLIENT_HELP || o->command == CLIENT_VERSION)
		return 0;

	r = finish_target(a);
	if (r < 0)
		return r;
	return o->command == CLIENT_ATTACH ? check_attach(a) : 0;
}

int client_parse_args(struct client_options *o, int argc, char **argv)
{
	_cleanup_(client_options_free) struct client_options n;
	_cleanup_free_ const char **pos = NULL;
	struct args a = { .o = &n, .mode = -1 };
	int r;

	client_options_init(&n);
	n.nbdtab_path = o->nbdtab_path ? o->nbdtab_path : NBDTAB_PATH;
	pos = calloc((size_t)MAX(argc, 1), sizeof(*pos));
	if (!pos)
		return log_oom();
	a.pos = pos;

	r = parse_all(&a, argc, argv);
	if (r < 0)
		return r;

	client_options_free(o);
	*o = n;
	client_options_init(&n);
	return 0;
}
