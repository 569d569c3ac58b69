/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbdm-udev-id NAME: the ID_NBD_* properties of /dev/NAME for udev (60-nbdm.rules runs it with
 * IMPORT{program}); see udev-id.h. NBDM_SYSFS_ROOT and NBDM_RUNTIME_DIR replace /sys and
 * /run/nbd-client, as they do for nbd-client, for tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "udev/udev-id.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

int main(int argc, char **argv)
{
	int r;

	log_open("nbdm-udev-id", LOG_TARGET_AUTO);
	if (argc != 2) {
		log_error("usage: nbdm-udev-id NAME (the kernel's name of an NBD disk, as nbd0)");
		return 2;
	}
	r = udev_id_print(env_or("NBDM_SYSFS_ROOT", "/sys"),
			  env_or("NBDM_RUNTIME_DIR", "/run/nbd-client"), argv[1], stdout);
	if (r < 0) {
		log_error_errno(r, "'%s' is not an NBD disk (nbdN)", argv[1]);
		return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
