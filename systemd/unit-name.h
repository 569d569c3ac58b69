/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The names systemd gives units for paths (systemd.unit(5), "systemd-escape --path"): a mount
 * unit is named after its mount point and a device unit after its /dev path, so a generator that
 * writes a mount unit, or a .wants directory of a device, must spell them exactly as systemd does.
 * Pure string work.
 */
#pragma once

/* The longest unit name systemd accepts. */
#define UNIT_NAME_MAX 255

/*
 * path made simple as systemd makes it (repeated and trailing slashes dropped, "." components
 * removed). -EINVAL for a relative path or one with a ".." component, -ENOMEM.
 */
int path_simplify_absolute(const char *path, char **ret);

/*
 * The unit name of an absolute path with suffix (".mount", ".device"): the path made simple, its
 * leading slash dropped, '/' written '-', and '-', '\', a leading '.' and every byte other than
 * letters, digits, ':', '_' and '.' written \xhh; "/" alone is "-". -EINVAL as above,
 * -ENAMETOOLONG when the name would be longer than UNIT_NAME_MAX, -ENOMEM.
 */
int unit_name_from_path(const char *path, const char *suffix, char **ret);
