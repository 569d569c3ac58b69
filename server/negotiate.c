/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The handshake of a connection, the one place the server negotiates: it runs the handshake
 * machine (handshake.c, which has no I/O) over the connection's input buffer and output queue,
 * looks exports up in the configuration in force, and starts transmission once an export is
 * admitted (admit.c).
 *
 * TLS joins here. The TLS mode of a connection is fixed when it starts, from the configuration in
 * force then: off without credentials, required with force_tls (--tls=require), else offered, with
 * tlsonly exports needing it. When the machine answers STARTTLS it asks for TLS (SRV_HS_WANT_TLS);
 * once the ACK has left in the clear, this file swaps the connection's transport for a TLS one
 * over the same socket (transport-tls.c), steps that session's handshake without blocking in the
 * CONN_TLS_HANDSHAKE phase, and resumes the options over it. When transmission starts, the session
 * may move into the kernel's TLS, which lets READ replies be spliced from the file again.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "server/conn.h"

/* The configuration in force, for this connection's next lookups. The previous one is released:
 * the handshake machine keeps no export pointer from one option to the next. */
static struct live *conn_live(struct conn *c)
{
	struct live *now = worker_live(c->worker);

	live_unref(c->live);
	c->live = now;
	return now;
}

static const struct srv_export *hs_lookup(void *userdata, const char *name)
{
	struct conn *c = userdata;
	struct export *e = live_find(conn_live(c), name);
	int r;

	if (!e)
		return NULL;
	if (!e->per_client)
		return &e->info;
	/* virtstyle: this client's own file, opened now so that INFO and GO tell its size. When it
	 * cannot be opened, admission refuses the template with the reason. */
	c->client_export = export_unref(c->client_export);
	r = export_open_for_client(e, &c->peer_addr, &c->client_export);
	if (r < 0) {
		log_notice("Connection %s: export '%s': cannot open this client's file (from %s): "
			   "%s", c->peer, name, e->config->path, strerror(-r));
		return &e->info;
	}
	return &c->client_export->info;
}

static const struct srv_export *hs_nth(void *userdata, size_t i)
{
	struct conn *c = userdata;
	struct live *l = i == 0 || !c->live ? conn_live(c) : c->live;

	for (size_t k = 0, seen = 0; k < l->n_exports; k++) {
		if (!admit_permits(c, l->exports[k]))
			continue;
		if (seen++ == i)
			return &l->exports[k]->info;
	}
	return NULL;
}

/* Kernel TLS for transmission, when allowed: the first outcome of each kind is logged at info, the
 * rest at debug (asked for with --tls-ktls=yes, a refusal is a warning every time). */
static int try_kernel_tls(struct conn *c)
{
	static atomic_bool told_kernel, told_user;
	char desc[128];
	int r;

	if (!c->tls || c->tls->ktls == KTLS_NO)
		return 0;
	transport_tls_describe(c->t, desc, sizeof(desc));
	r = transport_tls_to_kernel(c->t);
	if (r == 0) {
		log_full_errno(atomic_exchange(&told_kernel, true) ? LOG_DEBUG : LOG_INFO, 0,
			 "Connection %s: TLS (%s) moved into the kernel; READ replies go out with "
			 "splice()", c->peer, desc);
		return 0;
	}
	if (r == -EREMOTEIO) {
		log_error("Connection %s: moving TLS into the kernel failed half-way (%s); closing",
			  c->peer, transport_tls_error(c->t));
		/* Neither the session nor the socket can send the GO reply any more. */
		outq_clear(&c->out);
		return r;
	}
	if (c->tls->ktls == KTLS_YES)
		log_warning("Connection %s: the kernel's TLS refused the session: %s; it stays in "
			    "user space", c->peer, transport_tls_error(c->t));
	else
		log_full_errno(atomic_exchange(&told_user, true) ? LOG_DEBUG : LOG_INFO, 0,
			 "Connection %s: TLS stays in user space (the kernel's TLS is not available: "
			 "%s)", c->peer, transport_tls_error(c->t));
	return 0;
}

/* What the handshake agreed on, or what --negotiated assumes. */
struct terms {
	const struct srv_export *export;
	bool structured;
	bool extended;
	uint32_t base_allocation_id;
	bool block_size_promised;
};

static int start_transmission(struct conn *c, const struct terms *terms)
{
	struct export *e = c->export;
	int r;

	/* admit_export() took the export when it said yes to GO or EXPORT_NAME. */
	if (!e || e != terms->export->userdata)
		return -EINVAL;
	if (transport_is_tls(c->t)) {
		r = try_kernel_tls(c);
		if (r < 0)
			return r;
	}
	if (e->private_overlays) {
		r = export_open_private_overlay(e, &c->own_backend);

		if (r < 0) {
			log_error_errno(r, "Connection %s: cannot create a copy-on-write overlay for "
					   "export '%s'%s%s: %m", c->peer, e->config->name,
					e->config->cowdir ? " in " : "",
					e->config->cowdir ? e->config->cowdir : "");
			return r;
		}
	}
	c->xmit = (struct xmit){
		.export = e,
		.backend = c->own_backend ? c->own_backend : e->backend,
		.flags = e->info.transmission_flags,
		.structured = terms->structured,
		.extended = terms->extended,
		.base_allocation_id = terms->base_allocation_id,
		.min_block = terms->block_size_promised ? e->info.block_minimum : 1,
		.log = e->log,
		.zero_copy_read = c->t->caps & TRANSPORT_CAN_SENDFILE,
	};
	if (!c->xmit.structured && !c->xmit.extended)
		c->xmit.flags &= (uint16_t)~NBD_FLAG_SEND_DF;
	log_info("Connection %s: serving export '%s'%s%s%s", c->peer, e->config->name,
		 c->xmit.structured ? " (structured replies)" : "",
		 c->xmit.extended ? " (extended headers)" : "",
		 transport_is_tls(c->t) ? " over TLS" : "");
	srv_hs_free(c->hs);
	c->hs = NULL;
	/* The handshake's lookups are over; the admitted export is all this connection needs. */
	c->live = live_unref(c->live);
	c->client_export = export_unref(c->client_export);
	c->state = CONN_TRANSMISSION;
	return 0;
}

static int start_after_handshake(struct conn *c)
{
	const struct srv_hs_result *res = srv_hs_result(c->hs);

	return start_transmission(c, &(struct terms){
		.export = res->export,
		.structured = res->structured_replies,
		.extended = res->extended_headers,
		.base_allocation_id = res->base_allocation_id,
		.block_size_promised = res->block_size_promised,
	});
}

/* --negotiated: the export the command line names goes through the same admission as a GO, then
 * transmission starts with simple replies. The client is taken to honour the export's block sizes:
 * the kernel, the usual such client, sends whole blocks of the size it was given. */
static int start_without_handshake(struct conn *c)
{
	const char *name = c->live->config->negotiated_export;
	const struct srv_export *se;

	/* Without a name, the configuration has exactly one export (server_config_check()). */
	if (!*name && c->live->n_exports == 1)
		name = c->live->exports[0]->config->name;
	se = hs_lookup(c, name);
	char why[512] = "";
	uint32_t refused;

	if (!se) {
		log_error("Connection %s: --negotiated names export '%s', which this server does not "
			  "have", c->peer, name);
		return -ENOENT;
	}
	refused = admit_export(c, se, true, why, sizeof(why));
	if (refused) {
		log_notice("Connection %s: %s", c->peer, why);
		return -EACCES;
	}
	return start_transmission(c, &(struct terms){ .export = se, .block_size_promised = true });
}

int negotiate_step(struct conn *c)
{
	if (c->skip_handshake) {
		c->skip_handshake = false;
		return start_without_handshake(c) < 0 ? -EBUSY : 1;
	}
	for (;;) {
		const void *out;
		size_t len;
		ssize_t n;

		switch (srv_hs_want(c->hs)) {
		case SRV_HS_WANT_WRITE:
			out = srv_hs_output(c->hs, &len);
			if (outq_push_copy(&c->out, out, len) < 0)
				return -ENOMEM;
			srv_hs_output_done(c->hs, len);
			break;
		case SRV_HS_WANT_READ:
			if (c->in_end == c->in_start)
				return 0;
			n = srv_hs_feed(c->hs, c->in + c->in_start, c->in_end - c->in_start);
			if (n > 0)
				c->in_start += (size_t)n;
			break;
		case SRV_HS_WANT_TLS:
			/* The client waits for the ACK before its TLS handshake: bytes already here
			 * came before it, in the clear, and must not be taken as part of TLS (nor
			 * of the options after it). */
			if (c->in_end != c->in_start) {
				log_info("Connection %s: client sent data after NBD_OPT_STARTTLS "
					 "before its reply; closing", c->peer);
				return -EPROTO;
			}
			c->state = CONN_TLS_HANDSHAKE;
			c->tls_wants_write = false;
			return 0;
		case SRV_HS_DONE:
			if (!srv_hs_result(c->hs)->export) {
				log_debug("Connection %s: client ended the handshake", c->peer);
				return -ECONNRESET;
			}
			return start_after_handshake(c) < 0 ? -EBUSY : 1;
		case SRV_HS_FAILED:
			log_info("Connection %s: %s", c->peer, srv_hs_error_message(c->hs));
			return srv_hs_error(c->hs);
		}
	}
}

int negotiate_tls_step(struct conn *c)
{
	char desc[128];
	int r;

	if (!transport_is_tls(c->t)) {
		struct transport *t;

		r = transport_tls_new(c->t, c->tls, &t);
		if (r < 0) {
			log_error_errno(r, "Connection %s: cannot start a TLS session: %m", c->peer);
			return r;
		}
		c->t = t;
		c->can_splice = false;
		/* SO_RCVLOWAT would count ciphertext, and decrypted input may wait in the session
		 * where epoll cannot see it: no waiting for whole payloads or several requests. */
		c->lowat_max = 0;
	}
	r = transport_tls_handshake(c->t);
	if (r == -EAGAIN) {
		c->tls_wants_write = transport_tls_wants_write(c->t);
		return 0;
	}
	if (r < 0) {
		log_info("Connection %s: TLS handshake failed: %s; closing", c->peer,
			 *transport_tls_error(c->t) ? transport_tls_error(c->t) : strerror(-r));
		return r;
	}
	transport_tls_describe(c->t, desc, sizeof(desc));
	log_info("Connection %s: TLS established (%s)", c->peer, desc);
	c->tls_wants_write = false;
	c->state = CONN_HANDSHAKE;
	/* Everything negotiated before STARTTLS is forgotten; options are read anew. */
	srv_hs_tls_done(c->hs);
	return 1;
}

int negotiate_start(struct conn *c)
{
	_cleanup_(live_unrefp) struct live *live = worker_live(c->worker);
	struct srv_hs_config hs = {
		.lookup = hs_lookup,
		.nth = hs_nth,
		.admit = admit_export,
		.allow_list = live->config->allow_list,
		.allow_extended_headers = true,
		.tls = !live->tls ? SRV_TLS_OFF
			: server_config_tls_required(live->config) ? SRV_TLS_REQUIRED
								     : SRV_TLS_SELECTIVE,
		.userdata = c,
	};
	int r;

	c->request_timeout = live->config->request_timeout;
	if (live->config->negotiated_export) {
		/* No handshake, no TLS: the first step starts transmission, with the export looked
		 * up in this configuration. */
		c->live = TAKE_PTR(live);
		c->skip_handshake = true;
		return 0;
	}
	/* TLS is not for the two fds of --stdio (the configuration refuses it there). */
	if (c->rsrc.fd != c->wsrc.fd)
		hs.tls = SRV_TLS_OFF;
	r = srv_hs_new(&hs, &c->hs);
	if (r < 0)
		return r;
	c->handshake_timeout = live->config->handshake_timeout;
	c->handshake_deadline = c->handshake_timeout ? now_ms() + c->handshake_timeout * 1000ll : 0;
	if (hs.tls != SRV_TLS_OFF)
		c->tls = srv_tls_ref(live->tls);
	return 0;
}

void negotiate_done(struct conn *c)
{
	c->client_export = export_unref(c->client_export);
	c->live = live_unref(c->live);
	srv_hs_free(c->hs);
	c->hs = NULL;
	c->tls = srv_tls_unref(c->tls);
}
