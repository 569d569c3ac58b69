/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Loading the nbd module with libkmod, so that attaching works on a system that has not loaded it.
 *
 * libkmod is opened with dlopen() in a short-lived child process: it brings libcrypto, libzstd and
 * liblzma (about 2 MiB resident, and libcrypto cannot be unloaded), which a persistent device's
 * supervisor would otherwise carry for its whole life without using them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <libkmod.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "netlink/nbd-dev.h"

#define LIBKMOD_SONAME "libkmod.so.2"

struct kmod_api {
	void *handle;
	typeof(kmod_new) *new;
	typeof(kmod_unref) *unref;
	typeof(kmod_set_log_fn) *set_log_fn;
	typeof(kmod_module_new_from_name) *module_new_from_name;
	typeof(kmod_module_unref) *module_unref;
	typeof(kmod_module_probe_insert_module) *module_probe_insert_module;
};

static void kmod_api_close(struct kmod_api *k)
{
	if (k->handle)
		dlclose(k->handle);
	k->handle = NULL;
}

static int kmod_api_open(struct kmod_api *k)
{
	k->handle = dlopen(LIBKMOD_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!k->handle) {
		log_debug("Cannot open %s: %s", LIBKMOD_SONAME, dlerror());
		return -ELIBACC;
	}
#define SYM(field, name)                                                                           \
	if (!(k->field = (typeof(k->field))dlsym(k->handle, #name))) {                             \
		log_debug("%s has no %s", LIBKMOD_SONAME, #name);                                  \
		kmod_api_close(k);                                                                 \
		return -ELIBBAD;                                                                   \
	}
	SYM(new, kmod_new);
	SYM(unref, kmod_unref);
	SYM(set_log_fn, kmod_set_log_fn);
	SYM(module_new_from_name, kmod_module_new_from_name);
	SYM(module_unref, kmod_module_unref);
	SYM(module_probe_insert_module, kmod_module_probe_insert_module);
#undef SYM
	return 0;
}

/* libkmod's own messages become debug lines: the caller reports the failure once, in its words. */
_printf_(6, 0) static void kmod_log(void *data, int priority, const char *file, int line,
				    const char *fn, const char *format, va_list args)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), format, args);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libkmod: %s", msg);
}

static int load(const struct kmod_api *k, unsigned nbds_max, int max_part)
{
	struct kmod_ctx *ctx;
	struct kmod_module *mod = NULL;
	char options[64] = "";
	int r;

	ctx = k->new(NULL, NULL);
	if (!ctx)
		return -ENOMEM;
	k->set_log_fn(ctx, kmod_log, NULL);
	r = k->module_new_from_name(ctx, "nbd", &mod);
	if (r == 0) {
		if (nbds_max)
			snprintf(options, sizeof(options), "nbds_max=%u", nbds_max);
		if (max_part >= 0)
			snprintf(options + strlen(options), sizeof(options) - strlen(options),
				 "%smax_part=%d", nbds_max ? " " : "", max_part);
		r = k->module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, options, NULL,
						  NULL, NULL);
		if (r == -EPERM)
			r = -EACCES; /* not allowed to load modules: -EPERM means blacklisted */
		else if (r > 0)
			r = -EPERM; /* blacklisted */
		k->module_unref(mod);
	}
	k->unref(ctx);
	return r;
}

int nbd_module_load(unsigned nbds_max, int max_part)
{
	struct kmod_api k = { 0 };
	int r, status;
	pid_t pid;

	if (access("/sys/module/nbd", F_OK) == 0)
		return 0; /* loaded, or built into the kernel */
	fflush(NULL); /* the child must not write out the parent's buffered output again */
	pid = fork();
	if (pid < 0)
		return negative_errno();
	if (pid == 0) {
		r = kmod_api_open(&k);
		if (r == 0)
			r = load(&k, nbds_max, max_part);
		_exit(r < 0 ? MIN(-r, 255) : 0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return negative_errno();
	if (!WIFEXITED(status))
		return -EIO;
	return -WEXITSTATUS(status);
}
