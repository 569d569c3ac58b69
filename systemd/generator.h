/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What nbd-generator writes for each line of nbdtab (nbd-generator(8)), into the directory that
 * systemd gives a generator for units of normal priority:
 *
 *  - remote-fs.target.wants/nbd@nbdN.service, a link to the template, unless the line has noauto;
 *  - nbd@nbdN.service.d/50-nbdtab.conf, the line's settings: the service type (a supervisor in
 *    the foreground for persist and TLS lines, a oneshot that stays active otherwise), and with
 *    mount= an ExecStop= list that unmounts before it detaches;
 *  - with mount=: the mount unit for the mount point, over the export's stable name in
 *    /dev/disk/by-id, wanted by that device unit (so it is mounted whenever the export is
 *    attached, whoever attaches it) and, unless noauto, by remote-fs.target.
 *
 * A bad line is logged with the file's name and the line's number and gets nothing; the other lines
 * get their units all the same.
 */
#pragma once

struct generator_config {
	const char *nbdtab;     /* the file read */
	const char *dir;        /* where the units go */
	const char *unit_dir;   /* where nbd@.service is installed, for the .wants links */
	const char *nbd_client; /* the program ExecStop= runs, in the drop-ins that list it again */
	const char *proc_dir;   /* procfs (NULL: /proc), where the supervisor of a device the
				 * initramfs attached shows its mark; sysfs is netlink/'s
				 * (NBDM_SYSFS_ROOT) */
};

/* 0 when every line got its units; > 0 when some did not, or not all of them (each is logged);
 * a negative errno (logged) when nothing more could be written. A missing nbdtab is no error:
 * there is nothing to do. */
int generate(const struct generator_config *c);
