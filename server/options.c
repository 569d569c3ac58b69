/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server's command line: the reference form (`[ADDRESS@]PORT FILE [SIZE]` with its short
 * options) and the modern long options.
 *
 * The arguments are parsed twice. The first pass checks them and finds out whether a config file
 * is to be read (-C, or the default one when no export is given); the second applies them again on
 * top of what the file set. That is how the command line overrides the file without a record of
 * which setting came from where. The second pass cannot fail where the first succeeded, except
 * where the file is involved (an export name used by both).
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

/* --tls-certificates DIR: the file names nbdkit and qemu read from such a directory. */
static int finish_tls(struct server_config *cfg, struct pass *ps)
{
	if (ps->tls_dir) {
		free(cfg->certfile);
		free(cfg->keyfile);
		cfg->certfile = cfg->keyfile = NULL;
		if (asprintf(&cfg->certfile, "%s/server-cert.pem", ps->tls_dir) < 0 ||
		    asprintf(&cfg->keyfile, "%s/server-key.pem", ps->tls_dir) < 0) {
			cfg->certfile = cfg->keyfile = NULL;
			return log_oom();
		}
		if (ps->tls_verify_peer) {
			free(cfg->cacertfile);
			if (asprintf(&cfg->cacertfile, "%s/ca-cert.pem", ps->tls_dir) < 0) {
				cfg->cacertfile = NULL;
				return log_oom();
			}
		}
	} else if (ps->tls_verify_peer && !cfg->cacertfile) {
		log_error("--tls-verify-peer checks client certificates against a CA: give "
			  "--tls-certificates DIR (with DIR/ca-cert.pem) or --cacertfile FILE");
		return -EINVAL;
	}
	return 0;
}

static int finish_pass(struct server_config *cfg, struct pass *ps)
{
	bool files = false;
	int r;

	if (ps->ipv4_only && ps->ipv6_only) {
		log_error("-4 (--ipv4-only) and -6 (--ipv6-only) exclude each other; give neither "
			  "to listen on both");
		return -EINVAL;
	}
	if (cfg->stdio && ps->listen_option) {
		log_error("%s serves one client on stdin and stdout and cannot be combined with %s",
			  ps->stdio_by_port ? "PORT 0" : "--stdio", ps->listen_option);
		return -EINVAL;
	}
	if ((cfg->n_client_fds || cfg->accept_fds_given) && (ps->listen_option || cfg->stdio)) {
		log_error("%s serves the sockets it is given and cannot be combined with %s",
			  cfg->n_client_fds ? "--fd" : "--accept-fds",
			  cfg->stdio ? (ps->stdio_by_port ? "PORT 0" : "--stdio") : ps->listen_option);
		return -EINVAL;
	}
	if (cfg->unix_path && ps->tcp_option)
		cfg->dual_listen = true;

	/*
	 * The reference's -r and -c apply wherever they stand, and so do the other export flags.
	 * Those about files leave memory exports alone, so that one command line can mix both.
	 */
	r = finish_tls(cfg, ps);
	if (r < 0)
		return r;
	for (size_t i = ps->first_export; i < cfg->n_exports; i++) {
		struct export_config *e = &cfg->exports[i];

		e->tls_only |= ps->tls_only;
		e->read_only |= ps->read_only;
		e->sync |= ps->sync;
		if (e->backend != EXPORT_FILE)
			continue;
		e->copy_on_write |= ps->copy_on_write;
		e->direct_io |= ps->direct;
		e->multifile |= ps->multifile;
		files = true;
	}
	if (!ps->quiet && (ps->read_only || ps->sync) && ps->first_export == cfg->n_exports)
		log_warning("%s has no effect: it applies to the exports given on the command "
			    "line, and there is none",
			    ps->read_only ? "--read-only (-r)" : "--sync");
	if (!ps->quiet && (ps->copy_on_write || ps->direct) && !files)
		log_warning("%s has no effect: it applies to the file exports given on the command "
			    "line, and there is none", ps->copy_on_write ? "--copy-on-write (-c)"
									 : "--direct");
	return 0;
}

static void pass_done(struct pass *ps)
{
	free(ps->tls_dir);
	ps->tls_dir = NULL;
}

static int parse_pass(struct server_config *cfg, struct pass *ps, bool quiet, int argc,
		      char **argv)
{
	int c, r;

	free(ps->tls_dir);
	*ps = (struct pass){ .first_export = cfg->n_exports, .quiet = quiet };
	/* 0, not 1: resets getopt's state completely, as each pass and each test needs. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, server_short_options, server_options, NULL)) != -1) {
		if (c == '?')
			return bad_option(argc, argv);
		if (c == ':') {
			log_error("option '%s' needs an argument; see 'nbd-server --help'",
				  argv[optind - 1]);
			return -EINVAL;
		}
		r = apply_option(cfg, ps, c, optarg);
		if (r != 0)
			return r;
	}
	/* After "--" every argument is positional. */
	for (; optind < argc; optind++) {
		r = positional(cfg, ps, argv[optind]);
		if (r < 0)
			return r;
	}
	return finish_pass(cfg, ps);
}

/* -o: the command-line exports as config sections, the default one named SECTION. */
static int output_config(struct server_config *cfg, const struct pass *ps)
{
	struct export_config *def = default_export(cfg, ps);
	int r;

	if (!def) {
		log_error("-o %s writes the command-line export as a config section, but none is "
			  "given: add PORT FILE (or --memory SIZE)", ps->section);
		return -EINVAL;
	}
	if (cfg->allow)
		log_warning("--allow entries have no config key; list them in a file and name it "
			    "with authfile");

	for (size_t i = ps->first_export; i < cfg->n_exports; i++) {
		struct export_config *e = &cfg->exports[i];
		/* The reference's -l belongs to its one export, so the section carries it. */
		bool lend = cfg->authfile && !e->authfile;

		if (lend)
			e->authfile = cfg->authfile;
		if (i > ps->first_export)
			putchar('\n');
		r = export_config_write(stdout, e, e == def ? ps->section : e->name);
		if (lend)
			e->authfile = NULL;
		if (r < 0)
			return r;
	}
	return 1;
}

int server_config_parse_args(struct server_config *cfg, int argc, char **argv)
{
	_cleanup_(server_config_free) struct server_config first, result;
	const char *path;
	_cleanup_(pass_done) struct pass ps = {};
	int r;

	server_config_init(&first);
	server_config_init(&result);

	r = parse_pass(&first, &ps, false, argc, argv);
	if (r != 0)
		return r;
	if (ps.section)
		return output_config(&first, &ps);

	/*
	 * Like the reference, the default config file is read whenever -C is not given, also next to
	 * exports on the command line: its [generic] section (user, group, listenaddr, ...) is how a
	 * Debian system runs nbd-server, and its exports are served too. A missing file is no error;
	 * an unreadable one only is when nothing else is to be served.
	 */
	path = ps.config;
	if (!path) {
		const char *def = server_config_default_path();

		if (access(def, F_OK) < 0) {
			if (first.n_exports == 0 && !ps.section) {
				log_error("no export given: serve a file with 'nbd-server PORT FILE' or "
					  "'--export NAME=FILE', memory with '--memory SIZE', or "
					  "describe exports in %s (or a file named with -C)", def);
				return -EINVAL;
			}
		} else if (access(def, R_OK) < 0 && first.n_exports > 0) {
			log_warning("Cannot read the default config file %s: %m; serving only the "
				    "exports of the command line (-C FILE names another file)", def);
		} else {
			path = def;
		}
	}

	if (path) {
		r = server_config_load_file(&result, path);
		if (r < 0) {
			if (!ps.config)
				log_error("The default config file %s is read also when exports are "
					  "given on the command line; fix it, or name another with -C "
					  "(-C /dev/null reads none)", path);
			return r;
		}
	}
	r = parse_pass(&result, &ps, true, argc, argv);
	if (r != 0)
		return r < 0 ? r : -EINVAL;
	if (result.n_exports == 0) {
		log_error("no export to serve: %s defines none and none is given on the command "
			  "line", path);
		return -EINVAL;
	}
	r = server_config_check(&result);
	if (r < 0)
		return r;
	r = server_config_load_allow_lists(&result);
	if (r < 0)
		return r;

	server_config_free(cfg);
	*cfg = result;
	server_config_init(&result);
	return 0;
}
