/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nbd-protocol.h"
#include "server/backend-sharded.h"
#include "server/cow.h"
#include "server/export.h"
#include "server/multifile.h"
#include "server/virt.h"

static int open_storage(struct export *e)
{
	const struct export_config *config = e->config;
	struct backend_open_args args = {
		.path = config->backend == EXPORT_FILE ? config->path : NULL,
		.size = config->size,
		/* Copy-on-write never writes the base. */
		.read_only = config->read_only || config->copy_on_write,
		.direct = config->direct_io,
		.sync = config->sync,
		/* A temporary copy-on-write export only needs its overlays to go, which private
		 * ones do anyway; the base is served as it is. */
		.temporary = config->temporary && !config->copy_on_write,
	};
	int r;

	/* The storage, then the views over it. */
	r = config->sharded     ? sharded_backend_open(&args, &e->base)
	    : config->multifile ? multifile_backend_open(&args, &e->base)
				: file_backend_open(&args, &e->base);
	if (r < 0)
		return r;
	e->backend = e->base;
	if (config->copy_on_write && config->cow_path) {
		/* A named overlay is one for everyone, kept across connections and runs. */
		r = cow_backend_open(e->base, config->cow_path, &e->backend);
		if (r < 0)
			return r;
	}
	e->private_overlays = config->copy_on_write && !config->cow_path;
	return 0;
}

static void work_out_info(struct export *e)
{
	const struct export_config *config = e->config;
	struct backend *b = e->backend;
	uint16_t flags = NBD_FLAG_HAS_FLAGS;

	if (config->read_only)
		flags |= NBD_FLAG_READ_ONLY;
	if (config->flush)
		flags |= NBD_FLAG_SEND_FLUSH;
	if (config->fua)
		flags |= NBD_FLAG_SEND_FUA;
	if (config->rotational || (b && b->rotational))
		flags |= NBD_FLAG_ROTATIONAL;
	if (config->trim && ((b && b->can_trim) || config->copy_on_write) && !config->read_only)
		flags |= NBD_FLAG_SEND_TRIM;
	if (!config->read_only)
		flags |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	/* Every connection shares one fd and so one page cache: a flush on any of them covers all
	 * writes acknowledged on every connection. DF is cleared again for clients without structured
	 * replies. */
	flags |= NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_DF;
	/* Private overlays mean each connection sees only its own writes: not one consistent disk.
	 * Neither is a per-client export shared by anyone. */
	if (!e->private_overlays && !e->per_client)
		flags |= NBD_FLAG_CAN_MULTI_CONN;

	e->max_payload = NBD_DEFAULT_MAX_PAYLOAD;
	e->info = (struct srv_export){
		.name = config->name,
		.description = config->description,
		.size = b ? b->size : 0,
		.transmission_flags = flags,
		.block_minimum = b ? b->alignment : 1,
		.block_preferred = MAX(b ? b->alignment : 1, 4096u),
		.block_maximum = e->max_payload,
		/* O_DIRECT cannot serve misaligned requests, so only clients that promise to honour
		 * the minimum may use such an export. */
		.block_size_required = b && b->alignment > 1,
		.tls_only = config->tls_only,
		.userdata = e,
	};
}

static int export_new(const struct export_config *config, struct export **ret)
{
	struct export *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	atomic_init(&e->refs, 1);
	r = export_config_copy(&e->own_config, config);
	if (r < 0) {
		free(e);
		return r;
	}
	e->config = &e->own_config;
	r = allow_list_compile(config->allow, &e->allow);
	if (r < 0) {
		export_config_free(&e->own_config);
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

static int finish_open(struct export *e)
{
	const struct export_config *config = e->config;
	int r;

	if (config->backend == EXPORT_FILE) {
		e->file = strdup(config->path);
		if (!e->file)
			return -ENOMEM;
	}
	if (config->transactionlog) {
		r = translog_open(config->transactionlog, &e->log);
		if (r < 0)
			return r;
	}
	work_out_info(e);
	return 0;
}

int export_open(const struct export_config *config, struct export **ret)
{
	_cleanup_(export_unrefp) struct export *e = NULL;
	int r;

	r = export_new(config, &e);
	if (r < 0)
		return r;
	e->per_client = export_config_per_client(config);
	if (!e->per_client) {
		r = open_storage(e);
		if (r < 0)
			return r;
	}
	r = finish_open(e);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(e);
	return 0;
}

int export_open_for_client(const struct export *tmpl, const struct sockaddr_storage *peer,
			   struct export **ret)
{
	_cleanup_(export_unrefp) struct export *e = NULL;
	char *path = NULL;
	int r;

	r = virt_path(tmpl->config->path, tmpl->config->virtstyle, tmpl->config->virt_cidr, peer,
		      &path);
	if (r < 0)
		return r;
	r = export_new(tmpl->config, &e);
	if (r < 0) {
		free(path);
		return r;
	}
	free(e->own_config.path);
	e->own_config.path = path;
	e->own_config.virtstyle = VIRT_NONE;
	r = open_storage(e);
	if (r < 0)
		return r;
	r = finish_open(e);
	if (r < 0)
		return r;
	/* Only this client uses it: no other connection can be consistent with it. */
	e->info.transmission_flags &= (uint16_t)~NBD_FLAG_CAN_MULTI_CONN;
	*ret = TAKE_PTR(e);
	return 0;
}

int export_open_private_overlay(const struct export *e, struct backend **ret)
{
	if (e->config->cowdir)
		return cow_backend_open_in(e->base, e->config->cowdir, ret);
	return cow_backend_open(e->base, NULL, ret);
}

struct export *export_ref(struct export *e)
{
	atomic_fetch_add(&e->refs, 1);
	return e;
}

struct export *export_unref(struct export *e)
{
	if (!e || atomic_fetch_sub(&e->refs, 1) != 1)
		return NULL;
	if (e->backend != e->base)
		backend_close(e->backend);
	backend_close(e->base);
	translog_close(e->log);
	free(e->file);
	allow_list_done(&e->allow);
	export_config_free(&e->own_config);
	free(e);
	return NULL;
}
