/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A sharded export (--export NAME=shards:DIR, or sharded = true in the config file): the image is
 * the directory DIR of chunk files described in shards.h, sparse, with a file only where it has data.
 *
 * A backend (backend.h): thread-safe, 0 or a negative errno, all or nothing per call.
 */
#pragma once

#include "server/backend.h"

/* args->path is the directory. -ENOMSG when it has no nbd-shards file (not a sharded image),
 * -EBADMSG when that file is malformed. */
int sharded_backend_open(const struct backend_open_args *args, struct backend **ret);
