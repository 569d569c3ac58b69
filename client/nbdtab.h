/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/nbdtab (nbdtab(5)). Uses only the options model (options.h), so that the systemd generator
 * can read the file without linking the command-line parser.
 */
#pragma once

#include "client/options.h"

/*
 * Looks up device (nbd0 or /dev/nbd0) in an nbdtab file and applies the line to o: o->device, the
 * target (replaced: host or socket, port, export) and every option the line sets, TLS settings
 * included (merged with client_options_merge() and client_tls_merge(): the line's values replace
 * o's, flags are only ever turned on). The first line that names the device counts; a later
 * one is reported and ignored. Every line must be well-formed; the options are checked on the line
 * applied only (unknown ones are warned about, names starting with '_' are skipped silently).
 * Returns 0, -ENOENT (logged) when no line names the device or the file does not exist, or
 * -EINVAL (logged with file:line) for a malformed file. o is unchanged on failure.
 */
int nbdtab_apply(const char *path, const char *device, struct client_options *o);

/* Every device line of an nbdtab, for the systemd generator: calls fn for each, in file order,
 * skipping (with a warning) a later line for a device already seen. A negative return from fn
 * stops the walk and is returned. A malformed line is logged with file:line and skipped, so that
 * one bad line does not cost the others their devices; the walk then returns -EINVAL at its end,
 * after fn has seen every good line. -ENOENT (logged) when the file does not exist. */
struct nbdtab_entry {
	char *device;      /* "/dev/nbdN", whichever way the line writes it */
	char *host;        /* a host, or a socket path when the options say "unix" */
	char *export_name;
	char *options;     /* the raw option field, or NULL */
	unsigned line;
};
int nbdtab_read(const char *path, int (*fn)(const struct nbdtab_entry *e, void *userdata),
		void *userdata);

/* What a line asks of systemd (nbd-generator(8)). nbd-client accepts these keys and leaves them
 * alone. */
struct nbdtab_systemd {
	bool noauto;         /* not attached at boot, only when asked */
	char *mount;         /* mount=: where the file system on the device is mounted; NULL: none */
	char *fstype;        /* fstype=; NULL: the mount's own detection */
	char *mount_options; /* every mountopt=, joined with ',' in the line's order; NULL: none */
};
void nbdtab_systemd_free(struct nbdtab_systemd *sd);

/* One entry of nbdtab_read(), read as nbdtab_apply() reads its line: o gets the device, the target
 * and every option (checked; o initialised by the caller), sd the systemd keys. -EINVAL (logged
 * with file:line) for a bad value; o and sd are unchanged on failure. */
int nbdtab_entry_options(const char *path, const struct nbdtab_entry *e, struct client_options *o,
			 struct nbdtab_systemd *sd);
