/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Taking over a device whose supervisor is gone (adopt.c). */
#pragma once

#include "client/attachment.h"

/*
 * Whether /dev/nbd<index> is attached to backend with no supervisor, and can be taken over: 1 with
 * a filled (its size, block size, connections, each watched by its socket's inode, or dead); 0
 * when the device is not attached to backend (attach as usual, or be refused as usual); a
 * negative errno, logged, when it is attached to backend but cannot be taken over (a supervisor
 * already runs, or nbd-client did not attach it).
 */
int attachment_adopt(int index, const char *backend, struct attachment *a);
