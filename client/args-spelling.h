/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command-line parser's part for what getopt could not read, and for mistyped long options it
 * would misread. Not for use outside the parser (args.c).
 */
#pragma once

int args_check_bundle(const char *arg);
int args_bad_option(int argc, char **argv);
int args_missing_argument(int argc, char **argv);
