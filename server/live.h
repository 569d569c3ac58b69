/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration in force: the exports being served and the settings that apply to each new
 * connection (allow lists, connection limits, LIST). A SIGHUP replaces it as a whole (reload.c).
 *
 * It is reference-counted: the server holds one reference, and a connection in its handshake holds
 * the one it looked exports up in, so that what the handshake machine points at stays valid. Exports
 * are shared between the old and the new one where their configuration did not change.
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>

#include "server/allow.h"
#include "server/config.h"
#include "server/export.h"
#include "server/tls-creds.h"

struct live {
	atomic_uint refs;
	const struct server_config *config;
	struct server_config *owned; /* config, when this object owns it (after a reload) */
	struct export **exports;
	size_t n_exports;
	struct allow_list allow;   /* config->allow, parsed */
	struct srv_tls *tls;       /* TLS credentials (a reference), NULL: TLS is off */
};

/*
 * Opens every export of config (which must outlive the result unless `owned` is it, then the result
 * frees it). With prev, an export configured exactly as before is kept open as it is. Logs each
 * failure naming the export; on failure nothing of prev changes.
 */
int live_open(const struct server_config *config, struct server_config *owned,
	      const struct live *prev, struct live **ret);
struct live *live_ref(struct live *l);
struct live *live_unref(struct live *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct live *, live_unref);
struct export *live_find(const struct live *l, const char *name);
