/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The stable names of NBD devices, /dev/disk/by-id/nbd-SERVER-EXPORT, made from a device's backend
 * identifier. The udev helper (nbdm-udev-id) names an attached device from /sys/block/nbdN/backend;
 * nbd-generator names the same export from its nbdtab line, to mount it by that name. Both must
 * come to the same name, so both call these functions. Pure string work: no I/O, no logging.
 */
#pragma once

#include <stddef.h>

/* The default port, which a name leaves out. */
#define NBD_STABLE_NAME_DEFAULT_PORT "10809"
/* The longest name made: a link's name may have 255 bytes (NAME_MAX), and a partition's adds
 * "-partNNN" to its disk's. */
#define NBD_STABLE_NAME_MAX 240

/* An identifier of the forms nbd-client gives the kernel by default, taken apart. */
struct nbd_backend {
	char *host;        /* TCP: a name or an address, IPv6 without brackets; else NULL */
	char *port;        /* TCP: as the identifier writes it (a number or a service name) */
	char *socket_path; /* a Unix socket; else NULL */
	char *export_name; /* "" for the server's default export */
};

/*
 * Parses nbd://HOST:PORT/EXPORT (an IPv6 HOST in brackets) and nbd+unix:///EXPORT?socket=PATH,
 * which is what nbd-client gives the kernel unless -i says otherwise. The export is taken as
 * written, without percent-decoding, as nbd-client writes it. For a Unix socket, the last
 * "?socket=" ends the export. -EINVAL for any other identifier (one given with -i, another
 * client's), -ENOMEM; *ret is unchanged on failure.
 */
int nbd_backend_parse(const char *identifier, struct nbd_backend *ret);
void nbd_backend_free(struct nbd_backend *b);

/*
 * udev's encoding of a name in /dev: digits, letters and "#+-.:=@_" stay, every other byte
 * (a '/', a space, a backslash, bytes above 127) becomes \xHH, as udev writes its own links.
 * Returns a new string or NULL (out of memory).
 */
char *udev_escape(const char *s);

/*
 * The stable name of an export, without the directory: "nbd-" HOST "-" EXPORT, HOST followed by
 * ":" PORT unless the port is 10809 (an IPv6 address then in brackets), or "nbd-" PATH "-" EXPORT
 * for a Unix socket; each part escaped with udev_escape(). -ENAMETOOLONG when longer than
 * NBD_STABLE_NAME_MAX, -ENOMEM.
 */
int nbd_stable_name(const struct nbd_backend *b, char **ret);

/* nbd_backend_parse() and nbd_stable_name() at once. */
int nbd_stable_name_from_identifier(const char *identifier, char **ret);
