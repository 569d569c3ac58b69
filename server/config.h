/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What nbd-server is told to do: its exports, where it listens and how it runs, gathered from the
 * command line (reference and modern forms) and the reference config file format.
 *
 * Parsing belongs to the program layer, so these functions log what is wrong (naming the file and
 * line, or the option) and return a negative errno; callers only exit.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "server/strv.h"

enum export_backend {
	EXPORT_FILE,   /* a regular file or a block device */
	EXPORT_MEMORY, /* sparse memory of a given size, gone at exit */
};

/* How a per-client export (virtstyle) turns the client's address into its file name. */
enum virtstyle {
	VIRT_NONE,      /* exportname is used as it is, even with a %s in it */
	VIRT_IPLITERAL, /* %s: the address as text ("unix" over a Unix socket) */
	VIRT_IPHASH,    /* the same with the dots of an IPv4 address made into '/' */
	VIRT_CIDRHASH,  /* "NETWORK/ADDRESS", NETWORK the address masked to virt_cidr bits */
};

struct export_config {
	char *name;             /* "" is the default export */
	char *description;      /* NULL: none */
	enum export_backend backend;
	char *path;             /* EXPORT_FILE: the file or device */
	uint64_t size;          /* EXPORT_MEMORY: required; EXPORT_FILE: 0 = the file's size, else
				 * the size to serve (the file is created or extended to it) */
	bool read_only;
	bool copy_on_write;     /* writes go to an overlay; the file itself is never written */
	char *cow_path;         /* with copy_on_write: keep the overlay in this file (NULL: discard) */
	bool direct_io;         /* O_DIRECT */
	bool sync;              /* every write is durable before it is acknowledged */
	bool flush;             /* advertise FLUSH and FUA (default true) */
	bool fua;
	bool trim;              /* advertise TRIM (default true) */
	bool rotational;        /* advertise ROTATIONAL (default false) */
	char *authfile;         /* per-export allow list file: one address or CIDR per line */
	char **allow;           /* per-export allow list entries (NULL-terminated) or NULL:
				 * everyone; an empty array (allow[0] == NULL) lets no one in */
	unsigned max_connections; /* 0: no limit */
	bool multifile;         /* the export is PATH.0, PATH.1, ... concatenated */
	bool sharded;           /* PATH is a directory of chunk files (backend-sharded.h) */
	bool temporary;         /* serve a fresh file made from PATH, removed at once (or, with
				 * copy_on_write, overlays that are removed) */
	char *cowdir;           /* with copy_on_write: per-connection overlays live in files here
				 * (removed when the connection ends) instead of memory */
	char *prerun;           /* shell command run before a connection is served; %s: the file */
	char *postrun;          /* shell command run when a connection has ended; %s: the file */
	char *transactionlog;   /* append every request and reply header to this file */
	enum virtstyle virtstyle;
	unsigned virt_cidr;     /* VIRT_CIDRHASH: prefix length */
	char *origin;           /* "FILE:LINE" of its section, NULL: the command line */
	bool tls_only;          /* tlsonly: served only over TLS (hidden from LIST before it) */
};

/* --tls: whether the server offers TLS. */
enum tls_setting {
	TLS_SETTING_DEFAULT, /* on when credentials are configured, off otherwise */
	TLS_SETTING_OFF,     /* STARTTLS is refused, even with credentials */
	TLS_SETTING_ON,      /* offered; exports with tlsonly need it */
	TLS_SETTING_REQUIRE, /* every export needs it (force_tls) */
};

/* --tls-ktls: whether a finished TLS session moves into the kernel's TLS for transmission. */
enum ktls_setting {
	KTLS_AUTO, /* try it, stay in user space when the kernel refuses */
	KTLS_NO,
	KTLS_YES,  /* log a warning each time the kernel refuses */
};

struct server_config {
	struct export_config *exports;
	size_t n_exports;

	/* Listening. TCP on `addresses` (NULL: all of them, IPv6 and IPv4) unless only a Unix socket is
	 * configured; family restricts "all" to one family (AF_INET or AF_INET6; AF_UNSPEC: both). */
	char **addresses;       /* NULL-terminated, or NULL */
	uint16_t port;          /* default 10809 */
	int family;
	char *unix_path;
	bool dual_listen;       /* Unix socket and TCP both */
	bool stdio;             /* -s: one client on stdin/stdout, no listening */
	int *client_fds;        /* --fd: connected sockets to serve, no listening */
	bool mlock;             /* --mlock: never paged out (it serves a swap device) */
	bool accept_fds_given;  /* --accept-fds: more of them arrive on a Unix socket, */
	int accept_fds;         /* this one */
	size_t n_client_fds;
	/* --negotiated: the --fd sockets skip the handshake and are served this export (NULL: they
	 * have one) */
	char *negotiated_export;

	bool allow_list;        /* clients may list exports (default true) */
	char **allow;           /* global allow list entries, or NULL: everyone (as above) */
	char *authfile;         /* global allow list file */
	unsigned max_connections; /* whole server; 0: no limit */
	unsigned max_connections_per_address; /* one client address (IPv4/IPv6); 0: no limit */
	/* Seconds a client has from its connection to the start of transmission (the options, a
	 * STARTTLS and its TLS handshake); 0: no limit. A client that stalls in between would
	 * otherwise hold its socket, and a place among those past -M, for ever. */
	unsigned handshake_timeout;
	/* Seconds a client in transmission may stay silent in the middle of a request (a header
	 * begun, a WRITE payload not whole); 0: no limit. Between requests it may be idle for ever. */
	unsigned request_timeout;

	char *user;             /* drop privileges to these after binding */
	char *group;
	char *pidfile;
	bool foreground;        /* do not daemonize (-n, -d, --foreground) */
	bool oneshot;           /* exit when the last connection closes (-d, --oneshot) */
	unsigned threads;       /* event loop threads; 0: one per CPU */
	int verbosity;          /* number of -v */
	char *config_path;      /* the config file read, if any */

	/* TLS. X.509 (certfile and keyfile; with cacertfile, client certificates are required and
	 * checked against it) or PSK (pskfile, psktool's format): one of the two. */
	enum tls_setting tls;
	bool force_tls;         /* force_tls: every export requires TLS (as --tls=require) */
	char *certfile;
	char *keyfile;
	char *cacertfile;
	char *pskfile;
	char *tls_priority;     /* tlsprio: a GnuTLS priority string, NULL: the library's default */
	enum ktls_setting ktls;
};

/* Replaces *field with a copy of value; logs running out of memory (the parsers' setter). */
int config_set_string(char **field, const char *value);
/* Default values for everything, exports empty. */
void server_config_init(struct server_config *cfg);
/* Frees everything and leaves cfg as server_config_init() does, so it may be freed twice. */
void server_config_free(struct server_config *cfg);
/* Initialises an export with the defaults (flush, fua, trim on) and the given name. */
int export_config_init(struct export_config *e, const char *name);
void export_config_free(struct export_config *e);
/* A deep copy, for an export that outlives the config it was read from (a reload). */
int export_config_copy(struct export_config *dst, const struct export_config *src);
/* Whether two exports are configured alike (every field but the origin): a reload keeps such an
 * export open as it is. */
bool export_config_equal(const struct export_config *a, const struct export_config *b);
/* Whether the file name depends on the client (virtstyle with a %s in the path). */
bool export_config_per_client(const struct export_config *e);
/* Appends an export initialised with export_config_init(); the pointer is valid until the next
 * export is added. */
int server_config_add_export(struct server_config *cfg, const char *name,
			     struct export_config **ret);
struct export_config *server_config_find_export(const struct server_config *cfg, const char *name);

/*
 * Parses the command line into cfg, which server_config_init() prepared: the reference form
 *   nbd-server [ip@|ip:]PORT FILE [SIZE] [-r] [-c] [-C CONFIG] [-p PIDFILE] [-M MAX] [-n] [-d] [-V]
 * and the modern options (--bind, --port, --unix, --memory, --export NAME=FILE, --read-only,
 * --foreground, ...). Reads the config file named by -C (or the default one when it exists and no
 * export is given on the command line). Settings on the command line override the file's; exports
 * from both are served (file first), and a name given twice is an error. Finally checks the result
 * (server_config_check()) and reads the allow list files into the allow arrays
 * (server_config_load_allow_lists()), so the engine only looks at `allow`.
 * Returns 0 to run, 1 when the request was answered (--help, --version, -o), or a negative errno;
 * cfg is only changed when 0 is returned.
 */
int server_config_parse_args(struct server_config *cfg, int argc, char **argv);

/* Reads a reference-format config file ([generic] and one section per export, includedir) into
 * cfg: [generic] keys override cfg's values, exports are appended, each checked when its section
 * ends. An unknown key or bad value is an error naming the file and the line. On failure cfg may
 * hold part of the file; the caller frees it. */
int server_config_load_file(struct server_config *cfg, const char *path);

/* Checks one export on its own: complete and consistent. Logs the problem, naming where the export
 * was defined. */
int export_config_check(const struct export_config *e);

/* Checks what no single line or option can: there is an export, every export is complete and
 * consistent, names are unique, the Unix socket path fits, addresses match -4/-6. Logs the
 * problem, naming where the export was defined. */
int server_config_check(const struct server_config *cfg);

/* Whether the server offers TLS (STARTTLS) with this configuration, and whether every export
 * requires it. */
bool server_config_tls_enabled(const struct server_config *cfg);
bool server_config_tls_required(const struct server_config *cfg);

/* Reads cfg->authfile into cfg->allow and each export's authfile into its allow (appending to what
 * is there), so that a missing file stops the server instead of opening it to everyone. */
int server_config_load_allow_lists(struct server_config *cfg);

/* Writes an export as a config file section named `section` (the -o option); -EINVAL when the
 * name or a value cannot be written in that format. */
int export_config_write(FILE *f, const struct export_config *e, const char *section);

/* Reads an allow list file into a NULL-terminated array of entries. A file that cannot be read is
 * an error: access control fails closed. An empty file gives an empty array: no one is let in. */
int allow_list_load(const char *path, char ***ret);
/* Whether s is an allow list entry: an IPv4 or IPv6 address, optionally with /PREFIX in range.
 * -EINVAL (not an address) or -ERANGE (prefix too long); logs nothing. */
int allow_entry_check(const char *s);
/* A TCP port: a number from 1 to 65535 or a service name (getservbyname(), "nbd" is 10809). */
int port_parse(const char *s, uint16_t *ret);
/* A virtstyle value: none, ipliteral, iphash, or cidrhash N (also "cidrhashN", "cidrN"). */
int virtstyle_parse(const char *s, enum virtstyle *ret, unsigned *ret_cidr);
/* Whether s may be a listen address: an IPv4 or IPv6 address, or a host name. */
bool listen_address_valid(const char *s);

/* The config file read when -C is not given: /etc/nbd-server/config, as for the reference server,
 * whatever the install prefix. The environment variable NBD_SERVER_CONFIG names another one (the
 * test suite's way of not depending on the machine's /etc). */
const char *server_config_default_path(void);
/* The pid file written when the server becomes a daemon and no -p is given, as the reference does
 * (/var/run is /run on current systems, where Debian's unit expects it). */
#define SERVER_DEFAULT_PIDFILE "/var/run/nbd-server.pid"
/* The handshake timeout without --handshake-timeout or handshake_timeout: long enough for a slow
 * link and a TLS handshake over it, short enough that stalled clients do not pile up. */
#define SERVER_DEFAULT_HANDSHAKE_TIMEOUT 30
/* The most --handshake-timeout (and --request-timeout) takes: a day. */
#define SERVER_MAX_HANDSHAKE_TIMEOUT 86400
/* The request timeout without --request-timeout or request_timeout: a client that has begun a
 * request sends the rest at once; half a minute of silence in the middle is a stalled one. */
#define SERVER_DEFAULT_REQUEST_TIMEOUT 30

