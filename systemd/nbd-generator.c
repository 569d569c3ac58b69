/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]: units for the lines of nbdtab (generator.h), run by
 * systemd at boot and at every daemon-reload (systemd.generator(7)). It runs before journald and
 * syslog listen, so it logs to the kernel's log. It must never fail the boot: a bad line costs that
 * line its units, and the exit status is 0 unless it was started wrongly.
 *
 * NBDM_NBDTAB_PATH names another nbdtab, for tests (NBDM_KMSG_PATH another kernel log, log.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "systemd/generator.h"

int main(int argc, char **argv)
{
	const char *tab = getenv("NBDM_NBDTAB_PATH");
	const struct generator_config c = {
		.nbdtab = tab && *tab ? tab : NBDTAB_PATH,
		.dir = argc > 1 ? argv[1] : NULL,
		.unit_dir = SYSTEMDUNITDIR,
		.nbd_client = NBD_CLIENT_PATH,
	};
	int r;

	log_open("nbd-generator", LOG_TARGET_KMSG);
	if (argc != 2 && argc != 4) {
		log_error("usage: nbd-generator NORMAL_DIR [EARLY_DIR LATE_DIR]");
		return 1;
	}
	/* The initramfs attaches a root on NBD with its own hooks; units made here would be
	 * stopped, and their devices detached, when the initrd's units are cleaned up. */
	if (access("/etc/initrd-release", F_OK) == 0)
		return 0;
	r = generate(&c);
	if (r > 0)
		log_notice("%s: some lines got no units, or not all of them; the messages above say "
			   "which and why", c.nbdtab);
	return 0;
}
