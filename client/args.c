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
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/args-positional.h"
#include "client/args-spelling.h"
#include "client/args-table.h"
#include "client/args.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"

/* The kernel refuses nbds_max above 1 << (MINORBITS - part_shift); MINORBITS is 20. */
#define NBDS_MAX_LIMIT (1u << 20)
/* The kernel needs 1 << fls(max_part) to stay within DISK_MAX_PARTS (256). */
#define MAX_PART_LIMIT 255u
/* An hour between reconnection attempts is already more patience than any use needs. */
#define RETRY_DELAY_LIMIT_MS 3600000u
/* Transmission flags are 16 bits on the wire. */
#define FLAGS_LIMIT 0xffffu

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
	{ OPT_CONNECT_TIMEOUT, CONNECTING },
	{ OPT_NEGOTIATE_TIMEOUT, CONNECTING },
};

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
	return client_set_string(field, arg);
}

static int set_mode(struct args *a, int mode, const char *device)
{
	if (a->mode >= 0) {
		if (a->mode == mode)
			log_error("%s is given twice", args_mode_option(mode));
		else
			log_error("%s and %s exclude each other", args_mode_option(a->mode),
				  args_mode_option(mode));
		return -EINVAL;
	}
	a->mode = mode;
	a->mode_device = device;
	return 0;
}

/* Returns 1 when parsing is over (-h, -V). */
static int apply_value(struct args *a, int c, const char *arg)
{
	struct client_options *o = a->o;
	const char *name = NAME(a, c);
	uint32_t u;
	int r;

	switch (c) {
	case 'A':
		return nonempty(&a->tls.cacertfile, arg, "file name", name);
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
		return nonempty(&a->tls.certfile, arg, "file name", name);
	case 'g':
		o->no_opt_go = true;
		return 0;
	case 'h':
		o->command = CLIENT_HELP;
		return 1;
	case 'H':
		return nonempty(&a->tls.hostname, arg, "host name", name);
	case 'i':
		return nonempty(&o->identifier, arg, "identifier", name);
	case 'K':
		return nonempty(&a->tls.keyfile, arg, "file name", name);
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
	case OPT_CONNECT_TIMEOUT:
	case OPT_NEGOTIATE_TIMEOUT:
		if (client_parse_seconds(arg, c == OPT_CONNECT_TIMEOUT ? &o->connect_timeout
								: &o->negotiate_timeout) < 0) {
			log_error("invalid timeout '%s' for %s: " CLIENT_SECONDS_EXPECTED
				  " (0: the default)", arg, name);
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
		return 0;
	case 'y':
		return nonempty(&a->tls.priority, arg, "priority string", name);
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
	case OPT_TLS_KTLS:
		if (client_parse_ktls(arg, &a->tls.ktls) < 0) {
			log_error("invalid value '%s' for %s: %s", arg, name, CLIENT_KTLS_EXPECTED);
			return -EINVAL;
		}
		/* Where TLS runs, not whether: unlike the certificate options, no TLS by itself. */
		a->tls.given |= CLIENT_TLS_KTLS;
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

/* Which field of the options model an option gives, for the merge with nbdtab's line. */
static unsigned given_field(int c)
{
	switch (c) {
	case 'b':
		return CLIENT_GIVEN_BLOCK_SIZE;
	case 'B':
		return CLIENT_GIVEN_SIZE;
	case 't':
		return CLIENT_GIVEN_TIMEOUT;
	case 'T':
		return CLIENT_GIVEN_DEAD_TIMEOUT;
	case 'C':
		return CLIENT_GIVEN_CONNECTIONS;
	case 'i':
		return CLIENT_GIVEN_IDENTIFIER;
	case OPT_CONNECT_TIMEOUT:
		return CLIENT_GIVEN_CONNECT_TIMEOUT;
	case OPT_NEGOTIATE_TIMEOUT:
		return CLIENT_GIVEN_NEGOTIATE_TIMEOUT;
	}
	return 0;
}

static unsigned given_tls_field(int c)
{
	switch (c) {
	case 'A':
		return CLIENT_TLS_CACERTFILE;
	case 'F':
		return CLIENT_TLS_CERTFILE;
	case 'K':
		return CLIENT_TLS_KEYFILE;
	case 'H':
		return CLIENT_TLS_HOSTNAME;
	case 'y':
		return CLIENT_TLS_PRIORITY;
	}
	return 0;
}

/* Every TLS option asks for TLS, -x with nothing else. */
static bool is_tls_option(int c)
{
	return given_tls_field(c) || c == 'x';
}

static int apply_option(struct args *a, int c, const char *arg)
{
	int r = apply_value(a, c, arg);

	if (r < 0)
		return r;
	a->o->given |= given_field(c);
	a->tls.given |= given_tls_field(c);
	if (is_tls_option(c))
		a->tls.enabled = true;
	return r;
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
				  args_command_label(a, label, sizeof(label)));
			continue;
		}
		args_format_commands(rules[i].applies, list, sizeof(list));
		log_error("%s does not apply to %s; it is for %s", NAME(a, code),
			  args_command_label(a, label, sizeof(label)), list);
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
		if (client_set_string(&t->export_name, a->name) < 0)
			return -ENOMEM;
	}
	if (!t->export_name && client_set_string(&t->export_name, "") < 0)
		return -ENOMEM;

	/* The command line's TLS settings over the target's (a URI's, or nbdtab's line). */
	if (a->target_from_uri && (t->tls.given & CLIENT_TLS_HOSTNAME) &&
	    (a->tls.given & CLIENT_TLS_HOSTNAME)) {
		log_error("%s and the URI's tls-hostname both give the TLS host name; keep one",
			  NAME(a, 'H'));
		return -EINVAL;
	}
	client_tls_merge(&t->tls, &a->tls, a->tls.given);
	return client_tls_finish(&t->tls);
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
				  args_option_both('P'), args_option_both('B'));
			return -EINVAL;
		}
		if (o->target.tls.enabled) {
			log_error("%s skips the handshake, and TLS starts in it: they cannot be "
				  "combined", args_option_both('P'));
			return -EINVAL;
		}
	}
	if (o->identifier && o->no_netlink) {
		log_error("%s is set through netlink and cannot be combined with %s",
			  args_option_both('i'), args_option_both('L'));
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
		c = getopt_long_only(argc, argv, args_short_options, args_options, &longindex);
		if (c == -1)
			break;
		if (c == '?')
			return args_bad_option(argc, argv);
		if (c == ':')
			return args_missing_argument(argc, argv);
		if (word_start && c != 1 && longindex < 0) {
			r = args_check_bundle(argv[before]);
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
	if (a->n_pos > 0 && (c = args_find_subcommand(a->pos[0])) >= 0) {
		if (a->mode >= 0) {
			log_error("'%s' is a command and cannot be combined with %s", a->pos[0],
				  args_mode_option(a->mode));
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
		r = args_subcommand_positional(a, a->pos + 1, a->n_pos - 1);
	else if (o->command == CLIENT_DETACH || o->command == CLIENT_CHECK) {
		if (a->n_pos > 0)
			return args_too_many(a->pos[0], o->command == CLIENT_DETACH ? "-d DEVICE alone"
									       : "-c DEVICE alone");
		r = o->command == CLIENT_CHECK ? args_set_check_device(o, a->mode_device)
					       : args_set_device(o, a->mode_device);
	} else
		r = args_reference_positional(a, a->pos, a->n_pos);
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
	struct args a = { .o = &n, .mode = -1, .tls = CLIENT_TLS_INIT };
	int r;

	client_options_init(&n);
	n.nbdtab_path = o->nbdtab_path ? o->nbdtab_path : NBDTAB_PATH;
	pos = calloc((size_t)MAX(argc, 1), sizeof(*pos));
	if (!pos)
		return log_oom();
	a.pos = pos;

	r = parse_all(&a, argc, argv);
	client_tls_free(&a.tls);
	if (r < 0)
		return r;

	client_options_free(o);
	*o = n;
	client_options_init(&n);
	return 0;
}
