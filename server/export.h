/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An export as the running server holds it: its configuration, its open backend, and what the
 * handshake advertises (transmission flags, block sizes).
 */
#pragma once

#include <stdatomic.h>

#include "server/backend.h"
#include "server/config.h"
#include "server/handshake.h"

struct export {
	const struct export_config *config;
	struct backend *base;       /* the file, device or memory */
	struct backend *backend;    /* what connections use: the base, or a shared copy-on-write view */
	bool private_overlays;      /* each connection gets its own overlay, discarded when it closes */
	struct srv_export info;     /* name, size, flags and block sizes for the handshake */
	uint32_t max_payload;       /* largest READ/WRITE accepted */
	atomic_uint connections;
};

/* Opens the backend and works out the flags. Logs nothing: the caller names the export in its
 * message. */
int export_open(const struct export_config *config, struct export **ret);
struct export *export_close(struct export *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct export *, export_close);
