/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server's options and reference arguments: the table, --help, and what each one sets in the
 * configuration (options.h). The passes that run them are in options.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"
#include "server/config.h"
#include "server/options.h"

#define MAX_THREADS 4096

enum {
	OPT_BIND = 0x100,
	OPT_PORT,
	OPT_UNIX,
	OPT_MEMORY,
	OPT_EXPORT,
	OPT_DESCRIPTION,
	OPT_COW_FILE,
	OPT_DIRECT,
	OPT_SYNC,
	OPT_NO_LIST,
	OPT_ONESHOT,
	OPT_THREADS,
	OPT_USER,
	OPT_GROUP,
	OPT_ALLOW,
	OPT_TLS,
	OPT_TLS_CERTIFICATES,
	OPT_TLS_PSK,
	OPT_TLS_VERIFY_PEER,
	OPT_TLS_PRIORITY,
	OPT_TLS_KTLS,
	OPT_CERTFILE,
	OPT_KEYFILE,
	OPT_CACERTFILE,
	OPT_TLSONLY,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_MAX_PER_ADDRESS,
	OPT_REQUEST_TIMEOUT,
	OPT_FD,
	OPT_NEGOTIATED,
	OPT_ACCEPT_FDS,
	OPT_MLOCK,
};

const struct option server_options[] = {
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "unix", required_argument, NULL, OPT_UNIX },
	{ "ipv4-only", no_argument, NULL, '4' },
	{ "ipv6-only", no_argument, NULL, '6' },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "export", required_argument, NULL, OPT_EXPORT },
	{ "description", required_argument, NULL, OPT_DESCRIPTION },
	{ "read-only", no_argument, NULL, 'r' },
	{ "copy-on-write", no_argument, NULL, 'c' },
	{ "cow-file", required_argument, NULL, OPT_COW_FILE },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "sync", no_argument, NULL, OPT_SYNC },
	{ "no-list", no_argument, NULL, OPT_NO_LIST },
	{ "foreground", no_argument, NULL, 'n' },
	{ "oneshot", no_argument, NULL, OPT_ONESHOT },
	{ "stdio", no_argument, NULL, 's' },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "negotiated", optional_argument, NULL, OPT_NEGOTIATED },
	{ "accept-fds", required_argument, NULL, OPT_ACCEPT_FDS },
	{ "mlock", no_argument, NULL, OPT_MLOCK },
	{ "config", required_argument, NULL, 'C' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "max-connections", required_argument, NULL, 'M' },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
	{ "max-connections-per-address", required_argument, NULL, OPT_MAX_PER_ADDRESS },
	{ "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "allow", required_argument, NULL, OPT_ALLOW },
	{ "authfile", required_argument, NULL, 'l' },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "tls-certificates", required_argument, NULL, OPT_TLS_CERTIFICATES },
	{ "tls-psk", required_argument, NULL, OPT_TLS_PSK },
	{ "tls-verify-peer", no_argument, NULL, OPT_TLS_VERIFY_PEER },
	{ "tls-priority", required_argument, NULL, OPT_TLS_PRIORITY },
	{ "tls-ktls", required_argument, NULL, OPT_TLS_KTLS },
	{ "certfile", required_argument, NULL, OPT_CERTFILE },
	{ "keyfile", required_argument, NULL, OPT_KEYFILE },
	{ "cacertfile", required_argument, NULL, OPT_CACERTFILE },
	{ "tls-only", no_argument, NULL, OPT_TLSONLY },
	{ "output-config", required_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	/* The reference nbd-server's long names, so that scripts written for it keep working. */
	{ "multi-file", no_argument, NULL, 'm' },
	{ "nodaemon", no_argument, NULL, 'n' },
	{ "dont-fork", no_argument, NULL, 'd' },
	{ "authorize-file", required_argument, NULL, 'l' },
	{ "config-file", required_argument, NULL, 'C' },
	{ "pid-file", required_argument, NULL, 'p' },
	{ "max-connection", required_argument, NULL, 'M' },
	{},
};

/*
 * '-': arguments that are not options come back as 1 in their place, so the reference form's PORT,
 * FILE and SIZE are told apart by position; ':': a missing argument is reported as ':' and no
 * message is printed by getopt, so that every message here has one style.
 */
const char server_short_options[] = "-:46C:cdhl:M:mno:p:rsvV";


/* The daemon leaves the directory it started in, so a relative path is resolved now. */
static int set_path(char **field, const char *what, const char *path)
{
	_cleanup_free_ char *cwd = NULL;
	char *abs;

	if (*path == '\0') {
		log_error("empty %s", what);
		return -EINVAL;
	}
	if (path[0] == '/')
		return config_set_string(field, path);

	cwd = get_current_dir_name();
	if (!cwd)
		return log_error_errno(errno, "Cannot make %s %s absolute: %m", what, path);
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; *path == '/'; path++)
			;
	if (asprintf(&abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
		     *path ? path : ".") < 0)
		return log_oom();
	free(*field);
	*field = abs;
	return 0;
}

static int parse_port(const char *s, uint16_t *ret)
{
	uint16_t port;

	if (port_parse(s, &port) < 0) {
		log_error("invalid port '%s': expected a number from 1 to 65535 or a TCP service "
			  "name from /etc/services (nbd)", s);
		return -EINVAL;
	}
	*ret = port;
	return 0;
}

static int parse_size_arg(const char *what, const char *s, bool reference, uint64_t *ret)
{
	char buf[64];
	uint64_t v;
	int r;

	/* The reference takes a lowercase m for MiB after SIZE; "m" is no unit anywhere else. */
	if (reference && strlen(s) < sizeof(buf) && strlen(s) > 1 && s[strlen(s) - 1] == 'm') {
		strcpy(buf, s);
		buf[strlen(buf) - 1] = 'M';
		s = buf;
	}
	r = parse_size(s, &v);
	if (r == -ERANGE || (r == 0 && v > INT64_MAX)) {
		log_error("invalid %s '%s': too large", what, s);
		return -EINVAL;
	}
	if (r < 0) {
		log_error("invalid %s '%s': expected a size in bytes, optionally with a suffix "
			  "such as K, M, G or T", what, s);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int parse_unsigned(const char *what, const char *s, unsigned max, const char *hint,
			  unsigned *ret)
{
	uint32_t v;

	if (parse_u32(s, &v) < 0 || v > max) {
		log_error("invalid %s '%s': expected a number from 0 to %u%s", what, s, max, hint);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int add_address(struct server_config *cfg, struct pass *ps, const char *addr,
		       const char *context)
{
	_cleanup_free_ char *bare = NULL;
	size_t n = strlen(addr);

	/* [::1] is how an IPv6 address is usually written next to a port; accept it alone too. */
	if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
		bare = strndup(addr + 1, n - 2);
		if (!bare)
			return log_oom();
		addr = bare;
	}
	if (!listen_address_valid(addr)) {
		log_error("invalid address '%s'%s%s: expected an IPv4 or IPv6 address or a host "
			  "name%s", addr, context ? " in " : "", context ? context : "",
			  strpbrk(addr, ":@") && !context ? " (the port is set with --port)" : "");
		return -EINVAL;
	}
	if (!ps->addresses_replaced) {
		strv_free(cfg->addresses);
		cfg->addresses = NULL;
		ps->addresses_replaced = true;
	}
	if (strv_push(&cfg->addresses, addr) < 0)
		return log_oom();
	return 0;
}

/* The reference's first argument: PORT, ADDRESS@PORT, ADDRESS:PORT or [ADDRESS]:PORT. */
static int positional_port(struct server_config *cfg, struct pass *ps, const char *arg)
{
	_cleanup_free_ char *addr = NULL;
	const char *port_s = arg, *sep;
	uint16_t port;
	int r;

	if ((sep = strrchr(arg, '@'))) {
		addr = strndup(arg, (size_t)(sep - arg));
		port_s = sep + 1;
	} else if (arg[0] == '[') {
		sep = strchr(arg, ']');
		if (!sep || sep[1] != ':') {
			log_error("invalid address and port '%s': expected [ADDRESS]:PORT", arg);
			return -EINVAL;
		}
		addr = strndup(arg + 1, (size_t)(sep - arg - 1));
		port_s = sep + 2;
	} else if ((sep = strrchr(arg, ':'))) {
		/* At the last ':', so that ::1:10809 is ::1 and port 10809. */
		addr = strndup(arg, (size_t)(sep - arg));
		port_s = sep + 1;
	}
	if (port_s != arg && !addr)
		return log_oom();

	if (!addr && strchr(arg, '/')) {
		log_error("'%s' is not a port: the reference form is 'nbd-server [ADDRESS@]PORT "
			  "FILE [SIZE]' (--export NAME=FILE serves a file on the default port)",
			  arg);
		return -EINVAL;
	}
	/* A service name ("nbd") is a port too, as in the config file. */
	if (parse_u16(port_s, &port) < 0 && port_parse(port_s, &port) < 0) {
		log_error("invalid port '%s': expected a number from 1 to 65535, a TCP service name "
			  "from /etc/services (nbd), or 0 to serve one client on stdin", port_s);
		return -EINVAL;
	}
	if (port == 0) {
		if (addr) {
			log_error("'%s': port 0 serves one client on stdin, which has no address",
				  arg);
			return -EINVAL;
		}
		cfg->stdio = true;
		ps->stdio_by_port = true;
		return 0;
	}

	if (addr) {
		if (*addr == '\0') {
			log_error("invalid address and port '%s': the address before the port is "
				  "empty", arg);
			return -EINVAL;
		}
		r = add_address(cfg, ps, addr, arg);
		if (r < 0)
			return r;
	}
	cfg->port = port;
	ps->tcp_option = true;
	ps->listen_option = "a listening PORT";
	return 0;
}

struct export_config *default_export(struct server_config *cfg, const struct pass *ps)
{
	return ps->default_export ? &cfg->exports[ps->default_export - 1] : NULL;
}

/* Adds a command-line export, refusing a name that is taken. */
static int add_export(struct server_config *cfg, struct pass *ps, const char *name,
		      struct export_config **ret)
{
	struct export_config *dup = server_config_find_export(cfg, name);
	int r;

	if (dup) {
		if (dup->origin)
			log_error("export '%s' is given on the command line and at %s", name,
				  dup->origin);
		else if (*name == '\0')
			log_error("the default export is given twice on the command line");
		else
			log_error("export '%s' is given twice on the command line", name);
		return -EINVAL;
	}
	if (strlen(name) > NBD_MAX_STRING) {
		log_error("export name '%.32s...' is longer than %u bytes, the most NBD allows",
			  name, NBD_MAX_STRING);
		return -EINVAL;
	}
	r = server_config_add_export(cfg, name, ret);
	if (r < 0)
		return log_oom();
	ps->last_export = cfg->n_exports;
	return 0;
}

static int add_default_export(struct server_config *cfg, struct pass *ps, const char *by,
			      struct export_config **ret)
{
	int r;

	if (ps->default_export) {
		log_error("%s and %s both give the default export; keep one (--export NAME=FILE "
			  "adds more exports)", ps->default_by, by);
		return -EINVAL;
	}
	r = add_export(cfg, ps, "", ret);
	if (r < 0)
		return r;
	ps->default_export = cfg->n_exports;
	ps->default_by = by;
	return 0;
}

int positional(struct server_config *cfg, struct pass *ps, const char *arg)
{
	struct export_config *e;
	uint64_t size;
	int r;

	switch (ps->positional++) {
	case 0:
		return positional_port(cfg, ps, arg);
	case 1:
		r = add_default_export(cfg, ps, "FILE", &e);
		if (r < 0)
			return r;
		return set_path(&e->path, "file name", arg);
	case 2:
		r = parse_size_arg("size", arg, true, &size);
		if (r < 0)
			return r;
		default_export(cfg, ps)->size = size;
		return 0;
	default:
		log_error("unexpected argument '%s': the reference form is 'nbd-server "
			  "[ADDRESS@]PORT FILE [SIZE]'", arg);
		return -EINVAL;
	}
}

static int option_export(struct server_config *cfg, struct pass *ps, const char *arg)
{
	_cleanup_free_ char *name = NULL;
	const char *eq = strchr(arg, '='), *spec;
	struct export_config *e;
	uint64_t size;
	int r;

	if (!eq || eq[1] == '\0') {
		log_error("invalid --export '%s': expected NAME=FILE, NAME=memory:SIZE or "
			  "NAME=shards:DIR", arg);
		return -EINVAL;
	}
	name = strndup(arg, (size_t)(eq - arg));
	if (!name)
		return log_oom();
	spec = eq + 1;

	/* A file really named "memory:..." is still reachable as ./memory:... */
	if (strncmp(spec, "memory:", 7) == 0) {
		r = parse_size_arg("memory size", spec + 7, false, &size);
		if (r < 0)
			return r;
		if (size == 0) {
			log_error("invalid --export '%s': a memory export needs a size greater "
				  "than 0", arg);
			return -EINVAL;
		}
		r = add_export(cfg, ps, name, &e);
		if (r < 0)
			return r;
		e->backend = EXPORT_MEMORY;
		e->size = size;
		return 0;
	}
	r = add_export(cfg, ps, name, &e);
	if (r < 0)
		return r;
	/* Likewise a directory named "shards:...". */
	if (strncmp(spec, "shards:", 7) == 0) {
		e->sharded = true;
		return set_path(&e->path, "directory of a sharded image", spec + 7);
	}
	return set_path(&e->path, "file name", spec);
}

static struct export_config *last_export(struct server_config *cfg, const struct pass *ps,
					 const char *option)
{
	if (!ps->last_export) {
		log_error("%s applies to the export given before it, but none is: put it after "
			  "FILE, --memory or --export", option);
		return NULL;
	}
	return &cfg->exports[ps->last_export - 1];
}

int bad_option(int argc, char **argv)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
	size_t n, matches = 0;

	if (strncmp(arg, "--", 2) != 0) {
		log_error("unknown option '-%c'; see 'nbd-server --help'", optopt);
		return -EINVAL;
	}
	n = strcspn(arg + 2, "=");
	if (optopt) {
		log_error("option '%.*s' takes no argument", (int)n + 2, arg);
		return -EINVAL;
	}
	for (const struct option *o = server_options; o->name; o++)
		if (strncmp(o->name, arg + 2, n) == 0)
			matches++;
	log_error("%s option '%.*s'; see 'nbd-server --help'",
		  matches > 1 ? "ambiguous" : "unknown", (int)n + 2, arg);
	return -EINVAL;
}

int apply_option(struct server_config *cfg, struct pass *ps, int c, const char *arg)
{
	struct export_config *e;
	uint64_t size;
	int r;

	switch (c) {
	case 1:
		return positional(cfg, ps, arg);
	case '4':
		ps->ipv4_only = true;
		cfg->family = AF_INET;
		ps->listen_option = "-4";
		return 0;
	case '6':
		ps->ipv6_only = true;
		cfg->family = AF_INET6;
		ps->listen_option = "-6";
		return 0;
	case 'C':
		if (*arg == '\0') {
			log_error("empty config file name");
			return -EINVAL;
		}
		ps->config = arg;
		return 0;
	case 'c':
		ps->copy_on_write = true;
		return 0;
	case 'd':
		cfg->foreground = true;
		cfg->oneshot = true;
		return 0;
	case 'h':
		options_help();
		return 1;
	case 'l':
		return set_path(&cfg->authfile, "allow list file name", arg);
	case 'M':
		return parse_unsigned("maximum number of connections", arg, UINT32_MAX,
				      " (0 means no limit)", &cfg->max_connections);
	case 'm':
		ps->multifile = true;
		return 0;
	case 'n':
		cfg->foreground = true;
		return 0;
	case 'o':
		ps->section = arg;
		return 0;
	case 'p':
		return set_path(&cfg->pidfile, "PID file name", arg);
	case 'r':
		ps->read_only = true;
		return 0;
	case 's':
		cfg->stdio = true;
		return 0;
	case 'v':
		cfg->verbosity++;
		return 0;
	case 'V':
		printf("nbd-server (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return 1;
	case OPT_BIND:
		ps->tcp_option = true;
		ps->listen_option = "--bind";
		return add_address(cfg, ps, arg, NULL);
	case OPT_PORT:
		ps->tcp_option = true;
		ps->listen_option = "--port";
		return parse_port(arg, &cfg->port);
	case OPT_UNIX:
		ps->listen_option = "--unix";
		return set_path(&cfg->unix_path, "Unix socket path", arg);
	case OPT_MEMORY:
		r = parse_size_arg("memory size", arg, false, &size);
		if (r < 0)
			return r;
		if (size == 0) {
			log_error("invalid memory size '%s': a memory export needs a size greater "
				  "than 0", arg);
			return -EINVAL;
		}
		r = add_default_export(cfg, ps, "--memory", &e);
		if (r < 0)
			return r;
		e->backend = EXPORT_MEMORY;
		e->size = size;
		return 0;
	case OPT_EXPORT:
		return option_export(cfg, ps, arg);
	case OPT_DESCRIPTION:
		e = last_export(cfg, ps, "--description");
		if (!e)
			return -EINVAL;
		if (strlen(arg) > NBD_MAX_STRING) {
			log_error("--description is longer than %u bytes, the most NBD allows",
				  NBD_MAX_STRING);
			return -EINVAL;
		}
		if (*arg == '\0') {
			free(e->description);
			e->description = NULL;
			return 0;
		}
		return config_set_string(&e->description, arg);
	case OPT_COW_FILE:
		e = last_export(cfg, ps, "--cow-file");
		if (!e)
			return -EINVAL;
		return set_path(&e->cow_path, "copy-on-write file name", arg);
	case OPT_DIRECT:
		ps->direct = true;
		return 0;
	case OPT_SYNC:
		ps->sync = true;
		return 0;
	case OPT_NO_LIST:
		cfg->allow_list = false;
		return 0;
	case OPT_ONESHOT:
		cfg->oneshot = true;
		return 0;
	case OPT_MAX_PER_ADDRESS:
		return parse_unsigned("maximum number of connections per address", arg, UINT32_MAX,
				      " (0 means no limit)", &cfg->max_connections_per_address);
	case OPT_FD:
		return options_add_client_fd(cfg, arg);
	case OPT_ACCEPT_FDS:
		return options_set_accept_fds(cfg, arg);
	case OPT_MLOCK:
		cfg->mlock = true;
		return 0;
	case OPT_NEGOTIATED:
		return config_set_string(&cfg->negotiated_export, arg ? arg : "");
	case OPT_REQUEST_TIMEOUT:
		return parse_unsigned("request timeout", arg, SERVER_MAX_HANDSHAKE_TIMEOUT,
				      " seconds (0 means no limit)", &cfg->request_timeout);
	case OPT_HANDSHAKE_TIMEOUT:
		return parse_unsigned("handshake timeout", arg, SERVER_MAX_HANDSHAKE_TIMEOUT,
				      " seconds (0 means no limit)", &cfg->handshake_timeout);
	case OPT_THREADS:
		return parse_unsigned("number of threads", arg, MAX_THREADS,
				      " (0 means one per CPU)", &cfg->threads);
	case OPT_USER:
	case OPT_GROUP:
		if (*arg == '\0') {
			log_error("empty %s name", c == OPT_USER ? "user" : "group");
			return -EINVAL;
		}
		return config_set_string(c == OPT_USER ? &cfg->user : &cfg->group, arg);
	case OPT_ALLOW:
		r = allow_entry_check(arg);
		if (r < 0) {
			log_error("invalid --allow '%s': %s", arg,
				  r == -ERANGE ? "the prefix length is too long for the address "
						 "(at most /32 for IPv4, /128 for IPv6)"
					       : "expected an IPv4 or IPv6 address, optionally "
						 "with /PREFIX");
			return -EINVAL;
		}
		if (strv_push(&cfg->allow, arg) < 0)
			return log_oom();
		return 0;
	case OPT_TLS:
		if (strcmp(arg, "off") == 0)
			cfg->tls = TLS_SETTING_OFF;
		else if (strcmp(arg, "on") == 0)
			cfg->tls = TLS_SETTING_ON;
		else if (strcmp(arg, "require") == 0)
			cfg->tls = TLS_SETTING_REQUIRE;
		else {
			log_error("invalid --tls '%s': expected off, on or require", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_TLS_CERTIFICATES:
		return set_path(&ps->tls_dir, "TLS certificate directory", arg);
	case OPT_TLS_PSK:
		return set_path(&cfg->pskfile, "PSK file name", arg);
	case OPT_TLS_VERIFY_PEER:
		ps->tls_verify_peer = true;
		return 0;
	case OPT_TLS_PRIORITY:
		if (*arg == '\0') {
			log_error("empty --tls-priority: give a GnuTLS priority string, or leave the "
				  "option out for the default");
			return -EINVAL;
		}
		return config_set_string(&cfg->tls_priority, arg);
	case OPT_TLS_KTLS:
		if (strcmp(arg, "auto") == 0)
			cfg->ktls = KTLS_AUTO;
		else if (strcmp(arg, "no") == 0 || strcmp(arg, "off") == 0)
			cfg->ktls = KTLS_NO;
		else if (strcmp(arg, "yes") == 0 || strcmp(arg, "on") == 0)
			cfg->ktls = KTLS_YES;
		else {
			log_error("invalid --tls-ktls '%s': expected auto, no or yes", arg);
			return -EINVAL;
		}
		return 0;
	case OPT_CERTFILE:
		return set_path(&cfg->certfile, "certificate file name", arg);
	case OPT_KEYFILE:
		return set_path(&cfg->keyfile, "key file name", arg);
	case OPT_CACERTFILE:
		return set_path(&cfg->cacertfile, "CA certificate file name", arg);
	case OPT_TLSONLY:
		ps->tls_only = true;
		return 0;
	}
	/* Every option in the tables above has a case. */
	log_error("unhandled option %d", c);
	return -EINVAL;
}
