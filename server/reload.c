/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SIGHUP: the command line and the config file are read again, exactly as at start-up, and the
 * result is put in force for new connections. Exports configured as before stay open as they are;
 * new ones are opened, changed ones opened anew (connections on the old one carry on with it until
 * they end), removed ones refuse new clients ("no export named"). Allow lists and connection limits
 * apply to the next client. What cannot change without a restart (where the server listens, its
 * user, its threads) is reported and left as it is. Any error, in the file or opening an export,
 * keeps the whole configuration in force as it was.
 *
 * It runs on the main thread, which is the only one that replaces srv->live.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/server.h"

static bool str_same(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

/* [generic] settings that only a restart applies. */
static void report_fixed(const struct server_config *old, const struct server_config *now)
{
	const char *what[8];
	size_t n = 0;

	if (old->port != now->port || !strv_equal(old->addresses, now->addresses) ||
	    old->family != now->family || old->dual_listen != now->dual_listen)
		what[n++] = "listen addresses and port";
	if (!str_same(old->unix_path, now->unix_path))
		what[n++] = "unixsock";
	if (!str_same(old->user, now->user) || !str_same(old->group, now->group))
		what[n++] = "user and group";
	if (old->threads != now->threads)
		what[n++] = "max_threads";
	if (!str_same(old->pidfile, now->pidfile))
		what[n++] = "the pid file";
	for (size_t i = 0; i < n; i++)
		log_warning("Reload: %s changed; that takes effect only when the server restarts",
			    what[i]);
}

static bool tls_files_same(const struct server_config *a, const struct server_config *b)
{
	return a->tls == b->tls && a->force_tls == b->force_tls && str_same(a->certfile, b->certfile) &&
	       str_same(a->keyfile, b->keyfile) && str_same(a->cacertfile, b->cacertfile) &&
	       str_same(a->pskfile, b->pskfile) && str_same(a->tls_priority, b->tls_priority);
}

static void report_changes(const struct live *old, const struct live *now)
{
	const struct server_config *a = old->config, *b = now->config;
	unsigned added = 0, removed = 0, changed = 0;

	for (size_t i = 0; i < now->n_exports; i++) {
		const struct export *e = now->exports[i], *was = live_find(old, e->config->name);

		if (!was) {
			log_notice("Reload: export '%s' added (%s)", e->config->name,
				   e->per_client ? e->config->path : e->backend->description);
			added++;
		} else if (was != e) {
			log_notice("Reload: export '%s' changed; new connections use the new settings, "
				   "connections already on it keep the old ones", e->config->name);
			changed++;
		}
	}
	for (size_t i = 0; i < old->n_exports; i++)
		if (!live_find(now, old->exports[i]->config->name)) {
			log_notice("Reload: export '%s' removed; it refuses new clients, connections "
				   "already on it carry on", old->exports[i]->config->name);
			removed++;
		}
	if (!strv_equal(a->allow, b->allow))
		log_notice("Reload: the server's allow list changed; it applies to new clients");
	if (a->max_connections != b->max_connections)
		log_notice("Reload: the server's connection limit is now %u (was %u; 0: none)",
			   b->max_connections, a->max_connections);
	if (a->allow_list != b->allow_list)
		log_notice("Reload: listing exports is now %s", b->allow_list ? "allowed" : "refused");
	log_notice("Reload done: %u export%s added, %u changed, %u removed, %zu served", added,
		   added == 1 ? "" : "s", changed, removed, now->n_exports);
}

void server_reload(struct server *srv)
{
	struct server_config *cfg = calloc(1, sizeof(*cfg));
	struct live *now, *old = srv->live;
	struct srv_tls *tls = NULL;
	int r;

	log_notice("Received SIGHUP: reading the configuration again");
	if (!cfg) {
		log_oom();
		return;
	}
	server_config_init(cfg);
	r = server_config_parse_args(cfg, srv->argc, srv->argv);
	if (r != 0) {
		log_error("Reload failed: the configuration above has errors; the one in force is "
			  "kept (fix it and send SIGHUP again)");
		server_config_free(cfg);
		free(cfg);
		return;
	}
	report_fixed(srv->config, cfg);
	r = srv_tls_load(cfg, &tls);
	if (r < 0 && old->tls && tls_files_same(old->config, cfg)) {
		/* Key files only root may read cannot be read again once privileges are dropped. */
		log_warning("Reload: the TLS credentials could not be read again (see above); the "
			    "ones loaded before are kept");
		tls = srv_tls_ref(old->tls);
	} else if (r < 0) {
		log_error("Reload failed: the TLS credentials could not be loaded (see above); the "
			  "configuration in force is kept");
		server_config_free(cfg);
		free(cfg);
		return;
	}
	/* live_open() owns cfg from here, also when it fails. */
	r = live_open(cfg, cfg, old, &now);
	if (r < 0) {
		srv_tls_unref(tls);
		log_error("Reload failed: an export could not be opened (see above); the "
			  "configuration in force is kept");
		return;
	}
	now->tls = tls;
	if (!!old->tls != !!tls || server_config_tls_required(old->config) !=
					   server_config_tls_required(now->config))
		log_notice("Reload: TLS is now %s", !tls ? "off"
						 : server_config_tls_required(now->config)
						       ? "required"
						       : "offered");
	report_changes(old, now);
	pthread_mutex_lock(&srv->live_lock);
	srv->live = now;
	pthread_mutex_unlock(&srv->live_lock);
	live_unref(old);
}
