/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nbd-client's option table, and the messages that name options and commands. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/args-table.h"
#include "common/log.h"
#include "common/macro.h"

const struct option args_options[] = {
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
	{ "tls-ktls", required_argument, NULL, OPT_TLS_KTLS },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "negotiate-timeout", required_argument, NULL, OPT_NEGOTIATE_TIMEOUT },
	{},
};

/*
 * '-': non-options come back as 1, in order, so that positions are known and the first one can be
 * a subcommand; ':': a missing argument comes back as ':' and getopt prints nothing, so that every
 * message has one style.
 */
const char args_short_options[] = "-:A:b:B:c:C:d:F:gH:hi:K:lLmnN:pPRsSt:T:uvVxy:";

const char *const args_command_names[CLIENT_VERSION + 1] = {
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

/* The option as the user spelled it (last): "-b", "--block-size", "bs=". */
const char *args_option_name(const struct args *a, int code, char *buf, size_t size)
{
	int how = code < OPT_LAST ? a->spelled[code] : SPELL_NONE;

	if (how == SPELL_OLD_BS)
		return "bs=";
	if (how == SPELL_OLD_TIMEOUT)
		return "timeout=";
	if (how >= SPELL_LONG) {
		snprintf(buf, size, "--%s", args_options[how - SPELL_LONG].name);
		return buf;
	}
	if (code < 0x100) {
		snprintf(buf, size, "-%c", code);
		return buf;
	}
	for (const struct option *opt = args_options; opt->name; opt++)
		if (opt->val == code) {
			snprintf(buf, size, "--%s", opt->name);
			return buf;
		}
	return "?";
}

/* Canonical names for conflicts, which may involve options the user has not typed. */
const char *args_option_both(int code)
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
const char *args_command_label(const struct args *a, char *buf, size_t size)
{
	if (a->subcommand) {
		snprintf(buf, size, "'%s'", args_command_names[a->o->command]);
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
void args_format_commands(unsigned mask, char *buf, size_t size)
{
	size_t n = 0, total = 0, done = 0;

	for (unsigned c = 0; c < ELEMENTSOF(args_command_names); c++)
		total += !!(mask & ON(c));
	buf[0] = '\0';
	for (unsigned c = 0; c < ELEMENTSOF(args_command_names); c++) {
		const char *sep;

		if (!(mask & ON(c)))
			continue;
		done++;
		sep = done == 1 ? "" : done == total ? " and " : ", ";
		n += (size_t)snprintf(buf + n, size - MIN(n, size), "%s%s", sep, args_command_names[c]);
	}
}


/* The reference's option for a mode. */
const char *args_mode_option(int mode)
{
	return mode == CLIENT_DETACH ? "-d" : mode == CLIENT_CHECK ? "-c" : "-l";
}

int args_too_many(const char *arg, const char *form)
{
	log_error("unexpected argument '%s': expected %s; see 'nbd-client --help'", arg, form);
	return -EINVAL;
}
