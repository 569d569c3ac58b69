/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The non-option arguments of each form: the reference's HOST [PORT] [DEVICE], -u SOCKET [DEVICE],
 * a lone nbdN looked up in nbdtab (under the command line's options), --fd, and the subcommands'
 * TARGET and DEVICE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/args-positional.h"
#include "client/nbdtab.h"
#include "client/target.h"
#include "client/uri.h"
#include "common/log.h"
#include "common/macro.h"
#include "netlink/nbd-dev.h"

static bool is_device_name(const char *arg)
{
	_cleanup_free_ char *dev = NULL;

	return client_parse_device(arg, &dev, NULL, NULL) == 0;
}

int args_set_device(struct client_options *o, const char *arg)
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
int args_set_check_device(struct client_options *o, const char *arg)
{
	int disk = nbd_dev_disk_index(arg);
	char name[32];

	if (disk < 0)
		return args_set_device(o, arg);
	snprintf(name, sizeof(name), "/dev/nbd%d", disk);
	return args_set_device(o, name);
}

/* TARGET of any form; with -u, a socket path however it is written. */
static int parse_target(struct args *a, const char *arg)
{
	struct client_options *o = a->o;
	int r;

	if (a->unix_socket && !client_is_uri(arg)) {
		if (strlen(arg) > CLIENT_SOCKET_PATH_MAX) {
			log_error("socket path '%s' is longer than %zu bytes, the most a Unix "
				  "socket address holds", arg, CLIENT_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		client_target_free(&o->target);
		o->target.kind = TARGET_UNIX;
		if (client_set_string(&o->target.socket_path, arg) < 0 ||
		    client_set_string(&o->target.export_name, "") < 0)
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
	client_target_replace(&o->target, &tab.target);

	/* -u turns the line's host into a socket path, as it does in the reference. */
	if (a->unix_socket && o->target.kind == TARGET_TCP) {
		if (strlen(o->target.host) > CLIENT_SOCKET_PATH_MAX) {
			log_error("socket path '%s' is longer than %zu bytes, the most a Unix "
				  "socket address holds", o->target.host, CLIENT_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		o->target.kind = TARGET_UNIX;
		o->target.socket_path = TAKE_PTR(o->target.host);
		free(o->target.port);
		o->target.port = NULL;
	}

	/* Defaults < the line < the command line: what the command line gave is kept. The line's
	 * TLS settings came with its target; the command line's go over them in finish_target(). */
	client_options_merge(o, &tab, tab.given & ~o->given);
	return 0;
}

/* The reference's attach form, and its -l HOST [PORT]. */
int args_reference_positional(struct args *a, const char **pos, size_t n)
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
		return n == 1 ? args_set_device(o, pos[0]) : 0;
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
		r = args_set_device(o, pos[i++]);
		if (r < 0)
			return r;
	}
	if (i < n)
		return args_too_many(pos[i], form);
	return 0;
}

static int need_device(const char *command, const char **pos, size_t n)
{
	if (n == 0) {
		log_error("'%s' needs a DEVICE; see 'nbd-client --help'", command);
		return -EINVAL;
	}
	if (n > 1)
		return args_too_many(pos[1], "a single DEVICE");
	return 0;
}

int args_subcommand_positional(struct args *a, const char **pos, size_t n)
{
	struct client_options *o = a->o;
	int r;

	switch (o->command) {
	case CLIENT_ATTACH:
		if (o->n_fds > 0)
			return args_reference_positional(a, pos, n);
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
			r = args_set_device(o, pos[1]);
			if (r < 0)
				return r;
		}
		return n > 2 ? args_too_many(pos[2], "attach TARGET [DEVICE]") : 0;

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
		return r < 0 ? r : args_set_device(o, pos[0]);

	case CLIENT_STATUS:
		if (n > 1)
			return args_too_many(pos[1], "status [DEVICE]");
		return n == 1 ? args_set_device(o, pos[0]) : 0;

	case CLIENT_LIST:
	case CLIENT_INFO:
		if (n == 0) {
			log_error("'%s' needs a TARGET; see 'nbd-client --help'",
				  args_command_names[o->command]);
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
		return n > 1 ? args_too_many(pos[1], o->command == CLIENT_LIST ? "list TARGET"
									  : "info TARGET")
			     : 0;

	case CLIENT_RECONNECT:
		r = need_device("reconnect", pos, n);
		return r < 0 ? r : args_set_device(o, pos[0]);

	case CLIENT_HELP:
		/* "help attach" and the like: there is one help text. */
		return 0;

	case CLIENT_VERSION:
		return n > 0 ? args_too_many(pos[0], "version alone") : 0;

	case CLIENT_CHECK:
		break;
	}
	log_error("unhandled command %d", o->command);
	return -EINVAL;
}

int args_find_subcommand(const char *arg)
{
	for (unsigned c = 0; c < ELEMENTSOF(args_command_names); c++)
		/* "check" is the reference's -c only: a host named check keeps working. */
		if (c != CLIENT_CHECK && strcmp(arg, args_command_names[c]) == 0)
			return (int)c;
	return -1;
}
