/* SPDX-License-Identifier: GPL-2.0-or-later */
/* NBD URIs as TARGET arguments (the other forms: target.h). */
#pragma once

#include <stdbool.h>

#include "client/options.h"

/* Parses an NBD URI (nbd://, nbd+unix://, nbds://, nbds+unix://, with export name, port and socket=
 * query, per the NBD URI specification) into t. -EINVAL with a logged reason on a bad URI. t must
 * be initialised (client_options_init or client_target_free); it is replaced on success and left
 * alone on failure. */
int client_parse_uri(const char *uri, struct client_target *t);
/* Whether arg is written as a URI ("scheme://...", or a scheme with a '+' such as
 * "nbd+unix:/x?socket=y", which no host name can be), as opposed to HOST:PORT. */
bool client_is_uri(const char *arg);
