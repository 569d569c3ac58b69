/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A multifile export (the `multifile` key, -m): PATH.0, PATH.1, ... up to the first number that does
 * not exist, served as one disk made of the files one after another, each with the size it has (as
 * the reference nbd-server does: filesize does not apply). The parts are opened at start-up, so a
 * part added later is not seen until the export is opened again (a reload that changes it, or a
 * restart).
 *
 * A backend (backend.h): thread-safe, 0 or a negative errno, all or nothing per call.
 */
#pragma once

#include "server/backend.h"

/* -ENOENT when PATH.0 does not exist. */
int multifile_backend_open(const struct backend_open_args *args, struct backend **ret);
