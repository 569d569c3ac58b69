/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading the nbd module with libkmod, so that attaching works on a system that has not loaded it. */
#include <errno.h>
#include <libkmod.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "netlink/nbd-dev.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_ctx *, kmod_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_module *, kmod_module_unref);

/* libkmod's own messages become debug lines: the caller reports the failure once, in its words. */
_printf_(6, 0) static void kmod_log(void *data, int priority, const char *file, int line,
				    const char *fn, const char *format, va_list args)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), format, args);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libkmod: %s", msg);
}

int nbd_module_load(unsigned nbds_max, int max_part)
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
	kmod_set_log_fn(ctx, kmod_log, NULL);
	r = kmod_module_new_from_name(ctx, "nbd", &mod);
	if (r < 0)
		return r;
	if (nbds_max)
		snprintf(options, sizeof(options), "nbds_max=%u", nbds_max);
	if (max_part >= 0)
		snprintf(options + strlen(options), sizeof(options) - strlen(options), "%smax_part=%d",
			 nbds_max ? " " : "", max_part);
	r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, options, NULL, NULL,
					    NULL);
	if (r > 0)
		return -EPERM; /* blacklisted */
	return r;
}
