/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An export as the running server holds it: its configuration (its own copy), its open backend, and
 * what the handshake advertises (transmission flags, block sizes).
 *
 * Exports are reference-counted: the configuration in force holds one reference and every connection
 * serving it another, so that a reload can drop or replace an export while connections carry on with
 * the one they started on.
 */
#pragma once

#include <stdatomic.h>
#include <sys/socket.h>

#include "server/allow.h"
#include "server/backend.h"
#include "server/config.h"
#include "server/handshake.h"
#include "server/translog.h"

struct export {
	atomic_uint refs;
	struct export_config own_config;
	const struct export_config *config; /* &own_config */
	struct backend *base;       /* the file, device or memory; NULL for a per-client template */
	struct backend *backend;    /* what connections use: the base, or a shared copy-on-write view */
	bool private_overlays;      /* each connection gets its own overlay, discarded when it closes */
	bool per_client;            /* a template (virtstyle): each connection opens its own file */
	char *file;                 /* the file served (prerun's and postrun's %s), NULL for memory */
	struct translog *log;       /* the transaction log, NULL: none */
	struct srv_export info;     /* name, size, flags and block sizes for the handshake */
	uint32_t max_payload;       /* largest READ/WRITE accepted */
	struct allow_list allow;    /* config->allow, parsed */
	atomic_int failing;         /* the errno of the storage failure last logged (0: none since a
				     * success), so that a full disk is said once, not per request */
};

/* Opens the backend and works out the flags; a per-client export opens nothing yet. Logs nothing:
 * the caller names the export in its message. The export starts with one reference. */
int export_open(const struct export_config *config, struct export **ret);
/* For a per-client template: the client's own export, its file named after the client's address. */
int export_open_for_client(const struct export *tmpl, const struct sockaddr_storage *peer,
			   struct export **ret);
struct export *export_ref(struct export *e);
struct export *export_unref(struct export *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct export *, export_unref);
/* Opens a private overlay for one connection (copyonwrite without cowfile). */
int export_open_private_overlay(const struct export *e, struct backend **ret);
