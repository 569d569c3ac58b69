/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Admission, the handshake machine's admit callback: whether this client may have this export.
 * Allow lists first (parsed when the configuration was put in force), then connection slots
 * (counted by export name so that they survive reloads), then the per-client file, then prerun.
 * What admission takes (the export, a slot, a postrun owed) the connection gives back at its end
 * with admit_release().
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/log.h"
#include "server/conn.h"
#include "server/hooks.h"

bool admit_permits(const struct conn *c, const struct export *e)
{
	return allow_list_permits(&c->live->allow, &c->peer_addr) &&
	       allow_list_permits(&e->allow, &c->peer_addr);
}

/* Which allow list refuses the client, for the log: the file it came from, or the options. */
static const char *allow_rule(char *const *allow, const char *file, char *buf, size_t size)
{
	if (!allow[0])
		snprintf(buf, size, "the allow list %s is empty, which lets no one in",
			 file ? file : "(--allow)");
	else if (file)
		snprintf(buf, size, "not in the allow list %s", file);
	else
		snprintf(buf, size, "not in the --allow list");
	return buf;
}

static int run_prerun(struct conn *c, const struct export *e, char *msg, size_t size)
{
	_cleanup_free_ char *cmd = NULL;
	int r, status = 0;

	r = hook_command(e->config->prerun, e->file ? e->file : "", &cmd);
	if (r < 0)
		return r;
	r = hook_run(cmd, &status);
	if (r == -ECHILD)
		log_notice("Connection %s: export '%s' refused: prerun command '%s' exited with "
			   "status %d", c->peer, e->config->name, cmd,
			   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (r < 0)
		log_warning("Connection %s: export '%s' refused: cannot run prerun command '%s': "
			    "%s", c->peer, e->config->name, cmd, strerror(-r));
	if (r < 0)
		snprintf(msg, size, "export '%s' is not available: its prerun command failed",
			 e->config->name);
	return r;
}

/* The handshake's admission: allow lists, connection limits, the per-client file, prerun. */
uint32_t admit_export(void *userdata, const struct srv_export *se, bool take, char *msg,
		      size_t size)
{
	struct conn *c = userdata;
	struct export *e = se->userdata;
	const struct server_config *cfg = c->live->config;
	char rule[PATH_MAX + 96];
	unsigned max = e->config->max_connections;
	int r;

	if (!admit_permits(c, e)) {
		bool global = !allow_list_permits(&c->live->allow, &c->peer_addr);

		log_notice("Connection %s: refused export '%s': %s", c->peer, e->config->name,
			   global ? allow_rule(cfg->allow, cfg->authfile, rule, sizeof(rule))
				  : allow_rule(e->config->allow, e->config->authfile, rule,
					       sizeof(rule)));
		snprintf(msg, size, "access to export '%s' is denied to this client's address by "
			 "the server's %s", e->config->name,
			 global ? "allow list" : "allow list for this export");
		return NBD_REP_ERR_POLICY;
	}
	if (e->per_client) {
		snprintf(msg, size, "export '%s' is not available to this client (its file cannot "
			 "be opened)", e->config->name);
		return NBD_REP_ERR_UNKNOWN;
	}
	r = slots_take(c->worker->host->slots, e->config->name, max, cfg->max_connections, take);
	if (r == -EBUSY || r == -EUSERS) {
		if (take)
			log_notice("Connection %s: refused export '%s': %s has reached its "
				   "connection limit of %u", c->peer, e->config->name,
				   r == -EBUSY ? "the export" : "the server",
				   r == -EBUSY ? max : cfg->max_connections);
		if (r == -EBUSY)
			snprintf(msg, size, "export '%s' has reached its connection limit of %u; "
				 "try again when a connection has closed", e->config->name, max);
		else
			snprintf(msg, size, "the server has reached its connection limit of %u; "
				 "try again when a connection has closed", cfg->max_connections);
		return NBD_REP_ERR_POLICY;
	}
	if (r < 0) {
		snprintf(msg, size, "the server is out of memory");
		return NBD_REP_ERR_SHUTDOWN;
	}
	if (!take)
		return 0;
	/* From here the connection holds the slot and the export until it ends. */
	c->export = export_ref(e);
	if (e->config->prerun) {
		if (run_prerun(c, e, msg, size) < 0) {
			slots_give(c->worker->host->slots, e->config->name);
			c->export = export_unref(c->export);
			return NBD_REP_ERR_UNKNOWN;
		}
		c->prerun_done = true;
	}
	return 0;
}

/* postrun, once the connection is over (the reference runs it when its child exits). */
static void run_postrun(const struct conn *c)
{
	const struct export *e = c->export;
	_cleanup_free_ char *cmd = NULL;

	if (!c->prerun_done || !e->config->postrun)
		return;
	if (hook_command(e->config->postrun, e->file ? e->file : "", &cmd) < 0) {
		log_warning("Connection %s: out of memory; postrun of export '%s' not run", c->peer,
			    e->config->name);
		return;
	}
	hook_run_background(cmd, e->config->name);
}

void admit_release(struct conn *c)
{
	run_postrun(c);
	slots_give(c->worker->host->slots, c->export->config->name);
	c->export = export_unref(c->export);
}
