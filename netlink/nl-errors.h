/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libnl's error codes as errno values and messages, so that netlink/ keeps the negative-errno
 * contract and a log line can still name libnl's own reason.
 */
#pragma once

/* A POSITIVE errno for a (positive or negative) NLE_* code (callers negate it), 0 for success, EIO
 * for codes without a closer errno. */
int errno_from_libnl(int nl_error);
/* libnl's own static message, never NULL. */
const char *libnl_error_message(int nl_error);
