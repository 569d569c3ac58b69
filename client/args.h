/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-client's command line: the reference nbd-client's syntax (single- and double-dash long
 * options alike) and the subcommands attach, detach, status, list, info, reconnect. Parsing
 * belongs to the program layer: it logs what is wrong and returns a negative errno.
 */
#pragma once

#include "client/options.h"

/*
 * Parses argv into o (initialised by the caller). Returns 0 (run o->command; -h and -V come back
 * as CLIENT_HELP and CLIENT_VERSION, and nothing is printed), or a negative errno after logging
 * one line about what is wrong; o is replaced only on success. A device named alone ("nbd-client
 * nbd0") is looked up in o->nbdtab_path, and options given on the command line win over the line's.
 * Any TLS option, an nbds URI or a TLS key in nbdtab sets target.tls.enabled; -K without -F
 * sets the certificate file to the key file, as the reference does. With --fd the target is
 * TARGET_FD and connections is the number of sockets.
 */
int client_parse_args(struct client_options *o, int argc, char **argv);

/* The usage text, on stdout, for --help and "nbd-client help". */
void client_print_help(void);
