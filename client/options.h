/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What nbd-client is asked to do, from its command line (the reference nbd-client's syntax, single-
 * and double-dash long options alike, and the subcommands attach, detach, status, list, info), from
 * /etc/nbdtab, and from NBD URIs.
 *
 * Parsing belongs to the program layer: these functions log what is wrong (the option, or the nbdtab
 * file and line) and return a negative errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum client_command {
	CLIENT_ATTACH,      /* nbd-client HOST [PORT] DEV ..., nbd-client nbdX, attach TARGET [DEV] */
	CLIENT_DETACH,      /* -d DEV, detach DEV|--all */
	CLIENT_CHECK,       /* -c DEV (reference exit codes) */
	CLIENT_STATUS,      /* status [DEV] [--json] */
	CLIENT_LIST,        /* -l HOST [PORT], list TARGET [--json] */
	CLIENT_INFO,        /* info TARGET [--json] */
	CLIENT_RECONNECT,   /* reconnect DEV (planned server maintenance) */
	CLIENT_HELP,
	CLIENT_VERSION,
};

/* The kernel's netlink client flags (NBD_CFLAG_* in linux/nbd.h, which cannot be included here). */
#define NBD_CLIENT_FLAG_DESTROY_ON_DISCONNECT (1u << 0)
#define NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE (1u << 1)

enum target_kind {
	TARGET_NONE,
	TARGET_TCP,         /* host (name, IPv4, or IPv6 without brackets) and port */
	TARGET_UNIX,        /* socket path */
	TARGET_FD,          /* already-connected sockets given with --fd */
};

struct client_target {
	enum target_kind kind;
	char *host;         /* TCP: a name or an address; IPv6 without brackets, "%zone" included */
	char *port;         /* TCP: a number (in decimal) or a service name (default "10809") */
	char *socket_path;  /* UNIX */
	bool socket_abstract; /* UNIX: socket_path names a Linux abstract socket (its leading NUL
			       * is not part of socket_path); only from a URI's socket=%00... */
	char *export_name;  /* "" = the server's default export */
	bool tls;           /* nbds:// or nbds+unix://, or TLS options: refused until TLS exists */
	/* From a URI only (the NBD URI specification's TLS parameters and userinfo); NULL or -1
	 * when not given. client_parse_args() copies tls_hostname to client_options.tlshostname. */
	char *tls_hostname; /* tls-hostname */
	char *tls_type;     /* tls-type: "anon", "x509" or "psk" */
	int tls_verify_peer; /* tls-verify-peer: 0 or 1 */
	char *user;         /* userinfo before '@': a user name for TLS PSK */
};

struct client_options {
	enum client_command command;
	struct client_target target;
	char *device;           /* "/dev/nbdN" as given, normalised to start with /dev/; NULL: any */
	bool all;               /* detach --all */
	bool json;              /* status/list/info --json */
	bool subcommand;        /* given as a subcommand (attach ...), not the reference's form */

	/* attach */
	uint32_t block_size;    /* -b; 0: the reference's default (512, or the export's minimum
				 * when larger); CLIENT_BLOCK_SIZE_PREFERRED: the server's choice */
	uint64_t size;          /* -B / --size; 0: from the server */
	uint32_t timeout;       /* -t seconds; 0: none given */
	uint32_t dead_timeout;  /* -T seconds; 0: none given */
	unsigned connections;   /* -C; default 1 */
	bool persist;           /* -p */
	unsigned retry_min_ms;  /* --retry-min-delay; 0: default */
	unsigned retry_max_ms;  /* --retry-max-delay; 0: default */
	bool swap;              /* -s */
	bool systemd_mark;      /* -m */
	bool read_only;         /* -R */
	bool no_netlink;        /* -L */
	bool no_opt_go;         /* -g */
	bool preinit;           /* -P: hand the socket over without a handshake (needs -B) */
	bool nofork;            /* -n */
	bool force;             /* detach: even a device attached by someone else */
	uint64_t client_flags;  /* NBD_CLIENT_FLAG_*: netlink client flags asked for */
	char *identifier;       /* -i backend identifier */
	int *fds;               /* --fd N (repeatable) */
	size_t n_fds;
	bool negotiated;        /* --negotiated: the fds are past the handshake */
	uint64_t flags;         /* --flags F with --negotiated: transmission flags */
	bool flags_given;
	/* TLS options of the reference (-A/-cacertfile, -F/-certfile, -K/-keyfile, -H/-tlshostname,
	 * -y/-priority, -x/-enable-tls): accepted by the parser so that existing command lines get a clear
	 * "TLS is not available yet" error instead of "unknown option". */
	char *cacertfile, *certfile, *keyfile, *tlshostname, *priority;
	unsigned nbds_max;      /* --nbds-max N: module parameter when loading nbd; 0: default */
	unsigned max_part;      /* --max-part N (0 is a valid value: no partitions) */
	bool max_part_given;
	int verbosity;
	char *argv0;            /* the program's argv[0], for -m's mark; set by main (not owned) */
	const char *nbdtab_path; /* where nbdtab lookups read (default NBDTAB_PATH; --nbdtab). Not
				  * owned; client_parse_args() starts from the caller's value and
				  * client_options_free() keeps it. */
};

void client_options_init(struct client_options *o);
void client_options_free(struct client_options *o);
/* Frees the strings of t and leaves it empty (kind TARGET_NONE, tls_verify_peer -1). */
void client_target_free(struct client_target *t);
/* The usage text, on stdout, for --help and "nbd-client help". */
void client_print_help(void);

/*
 * Parses argv into o (initialised by the caller). Returns 0 (run o->command; -h and -V come back
 * as CLIENT_HELP and CLIENT_VERSION, and nothing is printed), or a negative errno after logging
 * one line about what is wrong; o is replaced only on success. A device named alone ("nbd-client
 * nbd0") is looked up in o->nbdtab_path, and options given on the command line win over the line's.
 * Any TLS option, an nbds URI or a TLS key in nbdtab sets target.tls; -K without -F sets certfile
 * to the key file, as the reference does. With --fd the target is TARGET_FD and connections is the
 * number of sockets.
 */
int client_parse_args(struct client_options *o, int argc, char **argv);

/* Parses an NBD URI (nbd://, nbd+unix://, nbds://, nbds+unix://, with export name, port and socket=
 * query, per the NBD URI specification) into t. -EINVAL with a logged reason on a bad URI. t must
 * be initialised (client_options_init or client_target_free); it is replaced on success and left
 * alone on failure. */
int client_parse_uri(const char *uri, struct client_target *t);
/* Parses a TARGET argument: an NBD URI, a Unix socket path (starts with /, ./ or ../),
 * "[v6addr]:port", "[v6addr]", "host:port" or "host" (an IPv6 address with several ':' is a host
 * without a port). The export name is "" unless the URI has one. Same contract as above. */
int client_parse_target(const char *arg, struct client_target *t);
/* Whether arg is written as a URI ("scheme://...", or a scheme with a '+' such as
 * "nbd+unix:/x?socket=y", which no host name can be), as opposed to HOST:PORT. */
bool client_is_uri(const char *arg);

/*
 * Value checks shared by the command line and nbdtab. They do not log: on failure they return
 * -EINVAL (or -ERANGE) and the caller says where the value came from, followed by the text of the
 * matching *_EXPECTED macro.
 */
/* "nbdN" or "/dev/nbdN" (N without leading zeros) as a new "/dev/nbdN"; *ret_index (may be NULL)
 * is N. On failure *ret_expected (may be NULL) says what a device looks like. */
int client_parse_device(const char *arg, char **ret, uint32_t *ret_index,
			const char **ret_expected);
#define CLIENT_BLOCK_SIZE_MIN 512u
#define CLIENT_BLOCK_SIZE_MAX 65536u
/* -b preferred: the export's preferred block size (NBD_INFO_BLOCK_SIZE), within kernel limits. */
#define CLIENT_BLOCK_SIZE_PREFERRED UINT32_MAX
/* The range as --help, nbd-client(8) and every error state it, in the same words. */
#define CLIENT_BLOCK_SIZE_RANGE "a power of two from 512 to 65536, or 'preferred'"
#define CLIENT_BLOCK_SIZE_EXPECTED "expected " CLIENT_BLOCK_SIZE_RANGE
/* A power of two from CLIENT_BLOCK_SIZE_MIN to CLIENT_BLOCK_SIZE_MAX, or "preferred" for
 * CLIENT_BLOCK_SIZE_PREFERRED. */
int client_parse_block_size(const char *s, uint32_t *ret);
#define CLIENT_CONNECTIONS_MAX 64u
#define CLIENT_CONNECTIONS_EXPECTED "expected a number from 1 to 64"
int client_parse_connections(const char *s, unsigned *ret);
#define CLIENT_PORT_EXPECTED "expected a port number from 1 to 65535 or a service name"
/* A number from 1 to 65535 (returned in decimal) or a service name such as "nbd". */
int client_parse_port(const char *s, char **ret);
#define CLIENT_SECONDS_EXPECTED "expected a number of seconds"
int client_parse_seconds(const char *s, uint32_t *ret);
#define CLIENT_SIZE_EXPECTED "expected a size in bytes greater than 0, optionally with a suffix " \
			     "such as K, M or G"
int client_parse_size(const char *s, uint64_t *ret);

/*
 * Looks up device (nbd0 or /dev/nbd0) in an nbdtab file and applies the line to o: o->device, the
 * target (replaced: host or socket, port, export) and every option the line sets (replacing o's
 * value; flags are only ever turned on). The first line that names the device counts; a later
 * one is reported and ignored. Every line must be well-formed; the options are checked on the line
 * applied only (unknown ones are warned about, names starting with '_' are skipped silently).
 * Returns 0, -ENOENT (logged) when no line names the device or the file does not exist, or
 * -EINVAL (logged with file:line) for a malformed file. o is unchanged on failure.
 */
int nbdtab_apply(const char *path, const char *device, struct client_options *o);

/* Every device line of an nbdtab, for the systemd generator: calls fn for each, in file order,
 * skipping (with a warning) a later line for a device already seen. A negative return from fn
 * stops the walk and is returned. -EINVAL (logged with file:line) for a malformed line, before or
 * after some calls of fn; -ENOENT (logged) when the file does not exist. */
struct nbdtab_entry {
	char *device;      /* "/dev/nbdN", whichever way the line writes it */
	char *host;        /* a host, or a socket path when the options say "unix" */
	char *export_name;
	char *options;     /* the raw option field, or NULL */
	unsigned line;
};
int nbdtab_read(const char *path, int (*fn)(const struct nbdtab_entry *e, void *userdata),
		void *userdata);
