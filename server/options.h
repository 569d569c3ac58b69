/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the command-line parser: options.c runs the passes and merges them with the config file;
 * options-apply.c has the option table and what each option and reference argument does, with
 * --help in options-help.c and the given sockets (--fd, --accept-fds) in options-fds.c.
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"

/* What one pass over the arguments found, beyond what it wrote into the config. */
struct pass {
	const char *config;         /* -C */
	const char *section;        /* -o */
	unsigned positional;        /* reference arguments seen so far: PORT, FILE, SIZE */
	bool stdio_by_port;         /* stdio came from PORT 0 */
	const char *listen_option;  /* an option that asks for listening, for --stdio's message */
	bool tcp_option;            /* --bind, --port or PORT: TCP wanted, also next to --unix */
	bool addresses_replaced;    /* the first --bind replaces the file's listenaddr */
	bool ipv4_only, ipv6_only;
	bool read_only, copy_on_write, direct, sync, multifile; /* for every command-line export */
	size_t first_export;        /* cfg->exports from here on come from the command line */
	size_t last_export;         /* + 1; 0: none yet. What --description and --cow-file change */
	size_t default_export;      /* + 1; 0: none yet. The export "" from FILE or --memory */
	const char *default_by;     /* "FILE" or "--memory" */
	bool quiet;                 /* the second pass: warnings were given by the first */
	char *tls_dir;              /* --tls-certificates, made absolute (owned) */
	bool tls_verify_peer;       /* --tls-verify-peer */
	bool tls_only;              /* --tls-only: for every command-line export */
};

extern const struct option server_options[];
extern const char server_short_options[];

/* Applies one option as getopt_long() returned it: 0 to go on, 1 when answered (--help,
 * --version), or a negative errno (logged). */
int apply_option(struct server_config *cfg, struct pass *ps, int c, const char *arg);
/* One argument of the reference form: PORT, FILE, then SIZE. */
int positional(struct server_config *cfg, struct pass *ps, const char *arg);
/* The export "" made from FILE or --memory, or NULL. */
struct export_config *default_export(struct server_config *cfg, const struct pass *ps);
/* --help (options-help.c). */
void options_help(void);
/* --fd N and --accept-fds N, checked at once (options-fds.c): 0, or a negative errno (logged). */
int options_add_client_fd(struct server_config *cfg, const char *arg);
int options_set_accept_fds(struct server_config *cfg, const char *arg);
/* Reports the option getopt did not know, with a suggestion. */
int bad_option(int argc, char **argv);
