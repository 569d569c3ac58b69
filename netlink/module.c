/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading the nbd module with libkmod, so that attaching works on a system that has not loaded it. */
#include <errno.h>
#include <libkmod.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netlink/nbd-dev.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_ctx *, kmod_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_module *, kmod_module_unref);

int nbd_module_load(unsigned nbds_max, unsigned max_part)
{
	_cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
	_cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;
	char options[64] = "";
	int r;

	if (access("/sys/module/nbd", F_OK) == 0)
		return 0; /* loaded, or built into the kernel */
	ctx = kmod_new(NULL, NULL);
	if (!ctx)
		return -ENOMEM;
	r = kmod_module_new_from_name(ctx, "nbd", &mod);
	if (r < 0)
		return r;
	if (nbds_max)
		snprintf(options, sizeof(options), "nbds_max=%u", nbds_max);
	if (max_part)
		snprintf(options + strlen(options), sizeof(options) - strlen(options), "%smax_part=%u",
			 nbds_max ? " " : "", max_part);
	r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, options, NULL, NULL,
					    NULL);
	if (r > 0)
		return -EPERM; /* blacklisted */
	return r;
}
