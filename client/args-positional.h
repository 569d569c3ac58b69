/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command-line parser's part for the non-option arguments of each form: the reference's
 * positional host, port, device and old options, and the subcommands' targets. Not for use outside
 * the parser (args.c).
 */
#pragma once

#include <stddef.h>

#include "client/args-table.h"
#include "client/options.h"

int args_find_subcommand(const char *arg);
int args_set_device(struct client_options *o, const char *arg);
int args_set_check_device(struct client_options *o, const char *arg);
int args_reference_positional(struct args *a, const char **pos, size_t n);
int args_subcommand_positional(struct args *a, const char **pos, size_t n);
