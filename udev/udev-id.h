/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What nbdm-udev-id tells udev about an NBD device (60-nbdm.rules imports it): KEY=value lines.
 *
 *   ID_NBD_BACKEND      the backend identifier the kernel holds
 *   ID_NBD_SERVER       the server's host (TCP), and ID_NBD_PORT its port
 *   ID_NBD_SOCKET       the server's Unix socket
 *   ID_NBD_EXPORT       the export's name
 *   ID_NBD_CONNECTIONS  how many connections nbd-client gave the kernel
 *   ID_NBD_TLS          "none", or where the TLS sessions run ("kernel", "relay")
 *   ID_NBD_NAME         the stable name, for /dev/disk/by-id (stable-name.h)
 *
 * Values are written with the bytes udev could misread (control characters, quotes, backslashes)
 * as \xHH; ID_NBD_NAME is in udev's own encoding already. A property that cannot be known is left
 * out.
 */
#pragma once

#include <stdio.h>

/*
 * Writes the properties of device name ("nbd0") to out. sysfs_root is where "block/NAME/pid" and
 * "block/NAME/backend" are read (normally "/sys"); run_dir is nbd-client's runtime directory
 * (normally "/run/nbd-client"), whose NAME.conns record gives the connections and TLS, and the
 * identifier of an ioctl attachment, which has none in sysfs. A device that is not attached gets
 * nothing. 0, or -EINVAL for a name that is no NBD disk.
 */
int udev_id_print(const char *sysfs_root, const char *run_dir, const char *name, FILE *out);
