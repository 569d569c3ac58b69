/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "proto/nbd-protocol.h"
#include "server/export.h"

int export_open(const struct export_config *config, struct export **ret)
{
	_cleanup_(export_closep) struct export *e = calloc(1, sizeof(*e));
	struct backend_open_args args = {
		.path = config->backend == EXPORT_FILE ? config->path : NULL,
		.size = config->size,
		/* Copy-on-write never writes the base. */
		.read_only = config->read_only || config->copy_on_write,
		.direct = config->direct_io,
		.sync = config->sync,
	};
	struct backend *b;
	uint16_t flags = NBD_FLAG_HAS_FLAGS;
	int r;

	if (!e)
		return -ENOMEM;
	r = backend_open(&args, &e->base);
	if (r < 0)
		return r;
	e->backend = e->base;
	if (config->copy_on_write && config->cow_path) {
		/* A named overlay is one for everyone, kept across connections and runs. */
		r = backend_open_cow(e->base, config->cow_path, &e->backend);
		if (r < 0)
			return r;
	}
	e->private_overlays = config->copy_on_write && !config->cow_path;
	b = e->backend;
	e->config = config;

	if (config->read_only)
		flags |= NBD_FLAG_READ_ONLY;
	if (config->flush)
		flags |= NBD_FLAG_SEND_FLUSH;
	if (config->fua)
		flags |= NBD_FLAG_SEND_FUA;
	if (config->rotational || b->rotational)
		flags |= NBD_FLAG_ROTATIONAL;
	if (config->trim && (b->can_trim || config->copy_on_write) && !config->read_only)
		flags |= NBD_FLAG_SEND_TRIM;
	if (!config->read_only)
		flags |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	/* Every connection shares one fd and so one page cache: a flush on any of them covers all
	 * writes acknowledged on every connection. DF is cleared again for clients without structured
	 * replies. */
	flags |= NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_DF;
	/* Private overlays mean each connection sees only its own writes: not one consistent disk. */
	if (!e->private_overlays)
		flags |= NBD_FLAG_CAN_MULTI_CONN;

	e->max_payload = NBD_DEFAULT_MAX_PAYLOAD;
	e->info = (struct srv_export){
		.name = config->name,
		.description = config->description,
		.size = b->size,
		.transmission_flags = flags,
		.block_minimum = b->alignment,
		.block_preferred = MAX(b->alignment, 4096u),
		.block_maximum = e->max_payload,
		/* O_DIRECT cannot serve misaligned requests, so only clients that promise to honour
		 * the minimum may use such an export. */
		.block_size_required = b->alignment > 1,
		.userdata = e,
	};
	*ret = TAKE_PTR(e);
	return 0;
}

struct export *export_close(struct export *e)
{
	if (!e)
		return NULL;
	if (e->backend != e->base)
		backend_close(e->backend);
	backend_close(e->base);
	free(e);
	return NULL;
}
