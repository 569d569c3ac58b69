/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TARGET arguments: an NBD URI, a local image, or HOST, HOST:PORT, [IPv6]:PORT and socket paths. */
#pragma once

#include "client/options.h"

/* Parses a TARGET argument: a local image (file:, memory:), an NBD URI, a Unix socket path (starts
 * with /, ./ or ../), "[v6addr]:port", "[v6addr]", "host:port" or "host" (an IPv6 address with
 * several ':' is a host without a port). The export name is "" unless the URI has one. -EINVAL
 * with a logged reason on a bad target. t must be initialised (client_options_init or
 * client_target_free); it is replaced on success and left alone on failure. */
int client_parse_target(const char *arg, struct client_target *t);
