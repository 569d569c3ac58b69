/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/live.h"
#include "server/shards.h"

struct export *live_find(const struct live *l, const char *name)
{
	for (size_t i = 0; i < l->n_exports; i++)
		if (strcmp(l->exports[i]->config->name, name) == 0)
			return l->exports[i];
	return NULL;
}

static int open_one(const struct export_config *ec, struct export **ret)
{
	int r = export_open(ec, ret);

	if (r == -EBUSY && ec->copy_on_write && ec->cow_path)
		return log_error_errno(r, "Export '%s': overlay %s is in use by another export or "
					  "another nbd-server; an overlay has one user, or each would "
					  "overwrite the other's map: name another file with cowfile",
				       ec->name, ec->cow_path);
	if (r == -EINVAL && ec->copy_on_write && ec->cow_path)
		return log_error_errno(r, "Export '%s': overlay %s (with %s.map) does not match this "
					  "export (wrong size, or its map is missing); delete both "
					  "files to start a new overlay, or name another with cowfile",
				       ec->name, ec->cow_path, ec->cow_path);
	if (r == -ENOENT && ec->multifile)
		return log_error_errno(r, "Export '%s': %s.0 does not exist; a multifile export is "
					  "%s.0, %s.1, ... (create them, or drop multifile)",
				       ec->name, ec->path, ec->path, ec->path);
	if (r < 0 && ec->transactionlog && r != -ENOENT)
		return log_error_errno(r, "Export '%s': cannot open %s or its transaction log %s: %m",
				       ec->name, ec->backend == EXPORT_MEMORY ? "memory" : ec->path,
				       ec->transactionlog);
	if (r == -ENOMSG && ec->sharded)
		return log_error_errno(r, "Export '%s': %s has no %s file, so it is not a sharded "
					  "image; make one with nbd-server --to-shards IMAGE %s",
				       ec->name, ec->path, SHARDS_META, ec->path);
	if (r == -EBADMSG && ec->sharded)
		return log_error_errno(r, "Export '%s': %s/%s is malformed: expected "
					  SHARDS_META_EXPECTED, ec->name, ec->path, SHARDS_META);
	if (r < 0)
		return log_error_errno(r, "Export '%s': cannot open %s: %m", ec->name,
				       ec->backend == EXPORT_MEMORY ? "memory" : ec->path);
	return 0;
}

int live_open(const struct server_config *config, struct server_config *owned,
	      const struct live *prev, struct live **ret)
{
	_cleanup_(live_unrefp) struct live *l = calloc(1, sizeof(*l));
	int r;

	if (!l) {
		if (owned) {
			server_config_free(owned);
			free(owned);
		}
		return log_oom();
	}
	atomic_init(&l->refs, 1);
	l->config = config;
	l->owned = owned;
	l->allow.everyone = true;
	r = allow_list_compile(config->allow, &l->allow);
	if (r < 0)
		return log_error_errno(r, "Cannot use the server's allow list: %m");
	l->exports = calloc(config->n_exports ? config->n_exports : 1, sizeof(*l->exports));
	if (!l->exports)
		return log_oom();
	for (size_t i = 0; i < config->n_exports; i++) {
		const struct export_config *ec = &config->exports[i];
		struct export *old = prev ? live_find(prev, ec->name) : NULL;

		if (old && export_config_equal(old->config, ec)) {
			l->exports[l->n_exports++] = export_ref(old);
			continue;
		}
		/* Two overlays over one file would each overwrite the other's blocks and map. */
		if (old && old->config->cow_path && ec->cow_path &&
		    strcmp(old->config->cow_path, ec->cow_path) == 0) {
			log_error("Export '%s': its overlay %s is open for the connections on it, so "
				  "its changes cannot apply now; it keeps its old settings until the "
				  "server restarts", ec->name, ec->cow_path);
			l->exports[l->n_exports++] = export_ref(old);
			continue;
		}
		r = open_one(ec, &l->exports[i]);
		if (r < 0)
			return r;
		l->n_exports++;
		if (!prev) {
			const struct export *e = l->exports[i];

			if (e->per_client)
				log_info("Export '%s': a file per client, %s", ec->name, ec->path);
			else
				log_info("Export '%s': %s, %llu bytes%s%s", ec->name,
					 e->backend->description,
					 (unsigned long long)e->info.size,
					 ec->read_only ? ", read-only" : "",
					 ec->copy_on_write ? ", copy-on-write" : "");
		}
	}
	*ret = TAKE_PTR(l);
	return 0;
}

struct live *live_ref(struct live *l)
{
	atomic_fetch_add(&l->refs, 1);
	return l;
}

struct live *live_unref(struct live *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return NULL;
	for (size_t i = 0; i < l->n_exports; i++)
		export_unref(l->exports[i]);
	free(l->exports);
	allow_list_done(&l->allow);
	srv_tls_unref(l->tls);
	if (l->owned) {
		server_config_free(l->owned);
		free(l->owned);
	}
	free(l);
	return NULL;
}
