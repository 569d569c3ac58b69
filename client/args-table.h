/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the command-line parser's parts (args.c and the args-*.c files it calls) share: the option
 * table, how each option was spelled, and the messages that name options and commands
 * (args-table.c). Not for use outside the parser.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "client/options.h"

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
	OPT_TLS_KTLS,
	OPT_CONNECT_TIMEOUT,
	OPT_NEGOTIATE_TIMEOUT,
	OPT_LAST,
};

/* Which commands an option applies to; options not listed apply to all. */
#define ON(c) (1u << (c))
#define ATTACH ON(CLIENT_ATTACH)
#define CONNECTING (ATTACH | ON(CLIENT_LIST) | ON(CLIENT_INFO))
#define TLS_USERS (CONNECTING | ON(CLIENT_RECONNECT))

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
	struct client_tls tls;   /* -A, -F, -K, -H, -y, -x: merged over the target's at the end */
};

extern const struct option args_options[];
extern const char args_short_options[];
extern const char *const args_command_names[CLIENT_VERSION + 1];

/* The option as the user spelled it (last): "-b", "--block-size", "bs=". */
const char *args_option_name(const struct args *a, int code, char *buf, size_t size);
#define NAME(a, code) args_option_name((a), (code), (char[64]){ 0 }, 64)
/* Canonical names for conflicts, which may involve options the user has not typed. */
const char *args_option_both(int code);
/* The command as a message names it: "'status'" for a subcommand, or the reference's option. */
const char *args_command_label(const struct args *a, char *buf, size_t size);
/* "attach, status and info" for a mask of commands. */
void args_format_commands(unsigned mask, char *buf, size_t size);
/* The reference's option for a mode. */
const char *args_mode_option(int mode);
/* "unexpected argument": logs and returns -EINVAL. */
int args_too_many(const char *arg, const char *form);
