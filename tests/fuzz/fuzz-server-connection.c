/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A whole server connection from arbitrary client bytes: the handshake machine (server/handshake.h)
 * with the exports and policy the server gives it, then the transmission phase as dispatch.c runs
 * it (request_check(), the payload, request_run() or the refusal's reply) over memory exports. No
 * sockets or threads: what the server would send is taken and checked, and dropped.
 *
 * Byte 0: bit 0 extended headers offered, bit 1 LIST allowed, bit 2 the default export is
 *         read-only, bit 3 it is a private copy-on-write overlay (as copyonwrite without
 *         cowfile), bit 4 the export "ro" requires block sizes to be honoured.
 * The rest is everything the client sends; its end is the client closing the connection.
 * Exports: "" (the default, 256 KiB), "ro" (read-only, 64 KiB, block sizes 4096/4096/64 KiB).
 * make-seeds.py builds its seeds with the same layout.
 *
 * Besides not crashing, leaking or reading out of bounds: the machine makes progress and ends in
 * DONE or FAILED, every failure is described, and every request that wants a reply gets one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/nbd-protocol.h"
#include "server/backend.h"
#include "server/export.h"
#include "server/handshake.h"
#include "server/request.h"
#include "tests/fuzz/fuzz.h"

struct exports {
	struct export *e[2];
};

static const struct srv_export *lookup(void *userdata, const char *name)
{
	struct exports *x = userdata;

	for (size_t i = 0; i < 2; i++)
		if (strcmp(x->e[i]->info.name, name) == 0)
			return &x->e[i]->info;
	return NULL;
}

static const struct srv_export *nth(void *userdata, size_t i)
{
	struct exports *x = userdata;

	return i < 2 ? &x->e[i]->info : NULL;
}

static struct export *open_export(const char *name, uint64_t size, bool read_only, bool cow,
				  bool block_size_required)
{
	struct export_config config = {
		.name = (char *)name,
		.backend = EXPORT_MEMORY,
		.size = size,
		.read_only = read_only,
		.copy_on_write = cow,
		.flush = true,
		.fua = true,
		.trim = true,
	};
	struct export *e = NULL;

	FUZZ_CHECK(export_open(&config, &e) == 0);
	if (block_size_required) {
		e->info.block_minimum = 4096;
		e->info.block_preferred = 4096;
		e->info.block_maximum = 65536;
		e->info.block_size_required = true;
	}
	return e;
}

/* Requests until the input ends or the server would close the connection. */
static void transmission(const struct srv_hs_result *res, struct backend *backend,
			 const uint8_t *data, size_t size)
{
	struct export *e = res->export->userdata;
	struct xmit x = {
		.export = e,
		.backend = backend,
		.flags = e->info.transmission_flags,
		.structured = res->structured_replies,
		.extended = res->extended_headers,
		.base_allocation_id = res->base_allocation_id,
		.min_block = res->block_size_promised ? e->info.block_minimum : 1,
	};
	size_t pos = 0, header = nbd_request_size(x.extended);
	struct outq q = { 0 };

	if (!x.structured && !x.extended)
		x.flags &= (uint16_t)~NBD_FLAG_SEND_DF;
	while (size - pos >= header) {
		struct nbd_request req;
		struct request_verdict v;
		void *payload = NULL;

		if (nbd_request_decode(data + pos, header, x.extended, &req) < 0)
			break; /* bad magic: the server closes */
		pos += header;
		v = request_check(&x, &req);
		if (v.fatal || v.no_reply)
			break;
		if (v.payload > size - pos)
			break; /* the client left mid-payload */
		if (!v.error && v.payload) {
			payload = malloc(v.payload);
			FUZZ_CHECK(payload);
			memcpy(payload, data + pos, v.payload);
		}
		pos += v.payload;
		if (v.error)
			FUZZ_CHECK(request_reply_error(&x, &req, v.error, NULL, &q) == 0);
		else
			FUZZ_CHECK(request_run(&x, &req, payload, &q) == 0);
		free(payload);
		FUZZ_CHECK(!outq_empty(&q));
		outq_clear(&q);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct exports x;
	struct srv_hs *hs = NULL;
	struct backend *overlay = NULL;
	size_t pos = 1;
	uint8_t config;
	unsigned stalls = 0;

	if (size < 1)
		return 0;
	config = data[0];
	x.e[0] = open_export("", 256 << 10, config & 4, config & 8, false);
	x.e[1] = open_export("ro", 64 << 10, true, false, config & 16);
	{
		struct srv_hs_config hc = {
			.lookup = lookup,
			.nth = nth,
			.userdata = &x,
			.allow_list = config & 2,
			.allow_extended_headers = config & 1,
			.tls = SRV_TLS_OFF,
		};

		FUZZ_CHECK(srv_hs_new(&hc, &hs) == 0);
	}
	for (bool done = false; !done;) {
		const void *out;
		size_t len, want;
		ssize_t n;

		switch (srv_hs_want(hs)) {
		case SRV_HS_WANT_WRITE:
			out = srv_hs_output(hs, &len);
			FUZZ_CHECK(out && len > 0);
			srv_hs_output_done(hs, len);
			break;
		case SRV_HS_WANT_READ:
			if (pos == size) {
				(void)srv_hs_eof(hs);
				FUZZ_CHECK(srv_hs_want(hs) == SRV_HS_DONE ||
					   srv_hs_want(hs) == SRV_HS_FAILED);
				break;
			}
			want = srv_hs_input_wanted(hs);
			FUZZ_CHECK(want > 0);
			n = srv_hs_feed(hs, data + pos, want < size - pos ? want : size - pos);
			if (n > 0)
				pos += (size_t)n;
			/* A machine that takes nothing and asks for nothing else would hang the
			 * connection. */
			FUZZ_CHECK(n != 0 || ++stalls < 3);
			break;
		case SRV_HS_WANT_TLS:
			FUZZ_CHECK(!"STARTTLS accepted with TLS off");
			break;
		case SRV_HS_DONE: {
			const struct srv_hs_result *res = srv_hs_result(hs);
			struct export *e;

			done = true;
			if (!res->export)
				break;
			e = res->export->userdata;
			if (e->private_overlays)
				FUZZ_CHECK(export_open_private_overlay(e, &overlay) == 0);
			transmission(res, overlay ? overlay : e->backend, data + pos, size - pos);
			break;
		}
		case SRV_HS_FAILED:
			FUZZ_CHECK(srv_hs_error_message(hs) && *srv_hs_error_message(hs));
			done = true;
			break;
		}
	}
	backend_close(overlay);
	srv_hs_free(hs);
	export_unref(x.e[0]);
	export_unref(x.e[1]);
	return 0;
}
