/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local targets: an image served by a server nbd-client starts itself (local-server.h), named
 *   file:///PATH[?cow=OVERLAY]   (also file:PATH): the file or block device at PATH;
 *   memory:SIZE                  a memory disk of SIZE bytes (suffixes K, M, G, ...).
 * With cow=, every write goes to OVERLAY (created when missing, reopened when it matches) and the
 * image stays as it is.
 */
#pragma once

#include <stdbool.h>

#include "client/options.h"

/* Whether arg is written as a local target (starts with "file:" or "memory:"). */
bool client_is_local_target(const char *arg);
/* Parses a local target into t (replaced on success, left alone on failure); the image must exist.
 * -EINVAL (or -ENOENT, ...) with a logged reason. */
int client_parse_local_target(const char *arg, struct client_target *t);
