/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The options model: what nbd-client is asked to do, whichever source says it. The command line
 * (args.h), NBD URIs (uri.h) and /etc/nbdtab (nbdtab.h) all parse into these structures through the
 * value parsers below, and client_options_merge() is the one place where their layers meet:
 * defaults (client_options_init) < the nbdtab line < the command line.
 *
 * This module calls nothing else in client/, so that a program that only reads nbdtab (the systemd
 * generator) links it, nbdtab.c and uri.c alone (libnbdm-clientopts), without the argv parser.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

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

/* sun_path without its terminator: the longest path a Unix socket address holds. */
#define CLIENT_SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* The kernel's netlink client flags (NBD_CFLAG_* in linux/nbd.h, which cannot be included here). */
#define NBD_CLIENT_FLAG_DESTROY_ON_DISCONNECT (1u << 0)
#define NBD_CLIENT_FLAG_DISCONNECT_ON_CLOSE (1u << 1)

enum target_kind {
	TARGET_NONE,
	TARGET_TCP,         /* host (name, IPv4, or IPv6 without brackets) and port */
	TARGET_UNIX,        /* socket path */
	TARGET_FD,          /* already-connected sockets given with --fd */
	TARGET_LOCAL,       /* an image served by a server nbd-client starts itself (file:, memory:) */
};

/* Which fields of a struct client_tls a layer gives (client_tls.given). */
enum {
	CLIENT_TLS_CACERTFILE = 1u << 0,
	CLIENT_TLS_CERTFILE = 1u << 1,
	CLIENT_TLS_KEYFILE = 1u << 2,
	CLIENT_TLS_HOSTNAME = 1u << 3,
	CLIENT_TLS_PRIORITY = 1u << 4,
	CLIENT_TLS_PSK_FILE = 1u << 5,
	CLIENT_TLS_USERNAME = 1u << 6,
	CLIENT_TLS_TYPE = 1u << 7,
	CLIENT_TLS_VERIFY_PEER = 1u << 8,
	CLIENT_TLS_KTLS = 1u << 9,
};

/* Where an attached device's TLS sessions run (--tls-ktls, nbdtab ktls=). */
enum client_ktls {
	CLIENT_KTLS_AUTO, /* in the kernel's TLS where it can take them, else the relay */
	CLIENT_KTLS_YES,  /* in the kernel's TLS, or the attach fails */
	CLIENT_KTLS_NO,   /* the supervisor's relay (tls-relay.h) */
};
#define CLIENT_KTLS_EXPECTED "expected auto, yes or no"

/*
 * Every TLS setting of a connection, from the reference's options (-A/-cacertfile, -F/-certfile,
 * -K/-keyfile, -H/-tlshostname, -y/-priority, -x/-enable-tls), nbdtab's keys of the same names,
 * and a URI (nbds://, tls-hostname, tls-type, tls-verify-peer, the user name). Until TLS exists
 * they are parsed so that existing command lines get a clear "TLS is not available yet" error
 * instead of "unknown option".
 */
struct client_tls {
	bool enabled;       /* nbds://, -x, the nbdtab key tls, or any other TLS setting */
	char *cacertfile;
	char *certfile;
	char *keyfile;
	char *hostname;     /* the name the server's certificate must carry */
	char *priority;     /* a GnuTLS priority string */
	char *psk_file;     /* a PSK key file (user name and key per line) */
	char *username;     /* PSK user name (a URI's userinfo) */
	char *type;         /* a URI's tls-type: "anon", "x509" or "psk" */
	int verify_peer;    /* 0 or 1; -1: not given */
	enum client_ktls ktls;
	unsigned given;     /* CLIENT_TLS_*: the fields this layer sets */
};

#define CLIENT_TLS_INIT { .verify_peer = -1 }

struct client_target {
	enum target_kind kind;
	char *host;         /* TCP: a name or an address; IPv6 without brackets, "%zone" included */
	char *port;         /* TCP: a number (in decimal) or a service name (default "10809") */
	char *socket_path;  /* UNIX */
	bool socket_abstract; /* UNIX: socket_path names a Linux abstract socket (its leading NUL
			       * is not part of socket_path); only from a URI's socket=%00... */
	char *export_name;  /* "" = the server's default export */
	struct client_tls tls;
	uint32_t connect_timeout;   /* a URI's x-connect-timeout=, seconds; 0: none given */
	uint32_t negotiate_timeout; /* a URI's x-negotiate-timeout=, seconds; 0: none given */
	/* LOCAL: the image file (absolute), or a memory disk of memory_size bytes; an overlay file
	 * that takes every write (cow=), leaving the image unchanged */
	char *image_path;
	uint64_t memory_size;
	char *cow_path;
};

#define CLIENT_TARGET_INIT { .tls = CLIENT_TLS_INIT }

/* Which option fields a layer gives (client_options.given); flags are merged by OR instead. */
enum {
	CLIENT_GIVEN_BLOCK_SIZE = 1u << 0,
	CLIENT_GIVEN_SIZE = 1u << 1,
	CLIENT_GIVEN_TIMEOUT = 1u << 2,
	CLIENT_GIVEN_DEAD_TIMEOUT = 1u << 3,
	CLIENT_GIVEN_CONNECTIONS = 1u << 4,
	CLIENT_GIVEN_IDENTIFIER = 1u << 5,
	CLIENT_GIVEN_CONNECT_TIMEOUT = 1u << 6,
	CLIENT_GIVEN_NEGOTIATE_TIMEOUT = 1u << 7,
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
	uint32_t connect_timeout;   /* --connect-timeout seconds; 0: the default of each use */
	uint32_t negotiate_timeout; /* --negotiate-timeout seconds; 0: the default of each use */
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
	unsigned nbds_max;      /* --nbds-max N: module parameter when loading nbd; 0: default */
	unsigned max_part;      /* --max-part N (0 is a valid value: no partitions) */
	bool max_part_given;
	unsigned given;         /* CLIENT_GIVEN_*: the fields this layer sets */
	int verbosity;
	char *argv0;            /* the program's argv[0], for -m's mark; set by main (not owned) */
	const char *nbdtab_path; /* where nbdtab lookups read (default NBDTAB_PATH; --nbdtab). Not
				  * owned; client_parse_args() starts from the caller's value and
				  * client_options_free() keeps it. */
};

void client_options_init(struct client_options *o);
void client_options_free(struct client_options *o);
/* Frees the strings of t and leaves it empty (kind TARGET_NONE, TLS as CLIENT_TLS_INIT). */
void client_target_free(struct client_target *t);
/* Frees the strings of t and moves from into it, leaving from empty: how a parser hands over the
 * target it built, and a layer its target, once nothing can fail any more. */
void client_target_replace(struct client_target *t, struct client_target *from);
void client_tls_free(struct client_tls *tls);

/* Replaces *field with a copy of value. -ENOMEM (logged) on failure, *field unchanged. */
int client_set_string(char **field, const char *value);

/*
 * The merge of two layers, the one place where precedence is decided. Moves the fields of from
 * named in fields (CLIENT_GIVEN_*) onto o, replacing o's, and marks them given in o; turns on in o
 * every flag (-p, -s, -R, -g, -P) that from has. The caller chooses the mask: "from->given" lets
 * the later layer win (a nbdtab line over the defaults), "from->given & ~o->given" keeps o's own
 * (the command line over its nbdtab line). Strings moved are taken from from, whose other fields
 * the caller still frees. The target and device are not merged: a layer that names them names
 * them whole.
 */
void client_options_merge(struct client_options *o, struct client_options *from, unsigned fields);
/* The same for TLS settings (CLIENT_TLS_*); enabled is turned on when from has it. */
void client_tls_merge(struct client_tls *tls, struct client_tls *from, unsigned fields);
/* After the last merge: a key file alone is a file with both the certificate and the key (as in
 * the reference), and any setting asks for TLS. */
int client_tls_finish(struct client_tls *tls);

/*
 * Value checks shared by the command line, nbdtab and URIs. They do not log: on failure they return
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
/* The most connections one device is given (its tables in attachment.h are this long). */
#define CLIENT_CONNECTIONS_MAX 16u
#define CLIENT_CONNECTIONS_EXPECTED "expected a number from 1 to 16"
int client_parse_connections(const char *s, unsigned *ret);
#define CLIENT_PORT_EXPECTED "expected a port number from 1 to 65535 or a service name"
/* A number from 1 to 65535 (returned in decimal) or a service name such as "nbd". */
int client_parse_port(const char *s, char **ret);
/* Gives a TCP target without a port NBD's (10809), as the text client_parse_port() returns;
 * other targets are left alone. 0 or -ENOMEM. */
int client_target_default_port(struct client_target *t);
/* An IPv6 address as getaddrinfo() takes it, with an optional %zone after it. */
bool client_is_ipv6_address(const char *s);
#define CLIENT_SECONDS_EXPECTED "expected a number of seconds"
int client_parse_seconds(const char *s, uint32_t *ret);

/* How long to wait for the TCP (or Unix socket) connection, and for the handshake after it, in
 * milliseconds: the command line's or nbdtab's --connect-timeout/--negotiate-timeout, else the
 * URI's x-connect-timeout=/x-negotiate-timeout=, else default_ms (which differs between a first
 * attach and a supervisor's reconnection). */
int client_connect_timeout_ms(const struct client_options *o, int default_ms);
int client_negotiate_timeout_ms(const struct client_options *o, int default_ms);
/* The backend identifier an attach gives the kernel (/sys/block/nbdN/backend): -i's, else the
 * target as a URI ("nbd://host:port/export", "nbd+unix:///export?socket=PATH"). udev's stable
 * names and the generator's mount units are made from it, and a device is taken over only by an
 * attach that computes the same. A new string, or NULL when out of memory. */
char *client_backend_identifier(const struct client_options *o);
/* "auto", "yes" or "no" (also "kernel" and "relay"). 0 or -EINVAL. */
int client_parse_ktls(const char *s, enum client_ktls *ret);
#define CLIENT_SIZE_EXPECTED "expected a size in bytes greater than 0, optionally with a suffix " \
			     "such as K, M or G"
int client_parse_size(const char *s, uint64_t *ret);

