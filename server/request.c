/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/buffer.h"
#include "common/log.h"
#include "proto/names.h"
#include "server/request.h"

/* Below this a READ is copied through memory: one sendmsg beats a sendmsg plus two splices, and a
 * copy from a file's mapping into a buffer beats the send's own copy from it (4 KiB random reads:
 * about 8% more work per CPU second; bench/RESULTS.md). */
#define ZERO_COPY_MIN (16u << 10)
/* A BLOCK_STATUS reply describes at most this many extents; the client asks again for the rest. */
#define MAX_EXTENTS 2048

static bool is_write_type(uint16_t type)
{
	return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM || type == NBD_CMD_WRITE_ZEROES;
}

struct request_verdict request_check(const struct xmit *x, const struct nbd_request *req)
{
	struct request_verdict v = { 0 };
	uint64_t size = x->export->info.size;
	uint16_t allowed = 0;
	bool payload_len = req->flags & NBD_CMD_FLAG_PAYLOAD_LEN;

	/* First how many bytes follow, so that even a refused request leaves the stream in sync. */
	if (req->type == NBD_CMD_WRITE)
		v.payload = req->length;
	else if (x->extended && payload_len)
		v.payload = req->length; /* a payload where none belongs: read it, then refuse */
	if (x->extended && req->type == NBD_CMD_WRITE && !payload_len) {
		/* With extended headers a WRITE must say its payload length; without it the stream's
		 * framing is unknown. */
		v.fatal = true;
		return v;
	}
	if (v.payload > REQUEST_MAX_DISCARD && v.payload > x->export->max_payload) {
		v.fatal = true;
		return v;
	}

	if (req->type == NBD_CMD_DISC) {
		v.no_reply = true;
		return v;
	}

	/* Which flags each command may carry. FUA is tolerated everywhere once advertised, since some
	 * clients send it on reads. */
	if (x->flags & NBD_FLAG_SEND_FUA)
		allowed |= NBD_CMD_FLAG_FUA;
	switch (req->type) {
	case NBD_CMD_READ:
		if (x->flags & NBD_FLAG_SEND_DF)
			allowed |= NBD_CMD_FLAG_DF;
		break;
	case NBD_CMD_WRITE:
		if (x->extended)
			allowed |= NBD_CMD_FLAG_PAYLOAD_LEN;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE;
		if (x->flags & NBD_FLAG_SEND_FAST_ZERO)
			allowed |= NBD_CMD_FLAG_FAST_ZERO;
		break;
	case NBD_CMD_BLOCK_STATUS:
		allowed |= NBD_CMD_FLAG_REQ_ONE;
		break;
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_CACHE:
		break;
	default:
		v.error = NBD_EINVAL; /* unknown command (RESIZE is never advertised) */
		return v;
	}
	if (req->flags & ~allowed) {
		v.error = NBD_EINVAL;
		return v;
	}
	if (v.payload && req->type != NBD_CMD_WRITE) {
		v.error = NBD_EINVAL;
		return v;
	}

	/* A write of any kind to a read-only export is refused as such, before asking whether the
	 * command was advertised (read-only exports advertise no TRIM or WRITE_ZEROES). */
	if (is_write_type(req->type) && (x->flags & NBD_FLAG_READ_ONLY)) {
		v.error = NBD_EPERM;
		return v;
	}
	/* The command must have been advertised. */
	if ((req->type == NBD_CMD_FLUSH && !(x->flags & NBD_FLAG_SEND_FLUSH)) ||
	    (req->type == NBD_CMD_TRIM && !(x->flags & NBD_FLAG_SEND_TRIM)) ||
	    (req->type == NBD_CMD_WRITE_ZEROES && !(x->flags & NBD_FLAG_SEND_WRITE_ZEROES)) ||
	    (req->type == NBD_CMD_BLOCK_STATUS && !x->base_allocation_id)) {
		v.error = NBD_EINVAL;
		return v;
	}
	if (req->type == NBD_CMD_FLUSH) {
		if (req->offset || req->length)
			v.error = NBD_EINVAL;
		return v;
	}

	/* Range: inside the export (writes past the end are out of space, the rest invalid). */
	if (req->offset > size || req->length > size - req->offset) {
		bool read_crossing_end = req->type == NBD_CMD_READ && req->offset < size &&
					 (x->structured || x->extended);

		/* A structured READ that starts inside gets the valid part and an error for the rest. */
		if (!read_crossing_end) {
			v.error = (req->type == NBD_CMD_WRITE || req->type == NBD_CMD_WRITE_ZEROES)
					  ? NBD_ENOSPC
					  : NBD_EINVAL;
			return v;
		}
	}
	if (x->min_block > 1 && (req->offset % x->min_block || req->length % x->min_block)) {
		v.error = NBD_EINVAL;
		return v;
	}
	if ((req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE) &&
	    req->length > x->export->max_payload) {
		v.error = NBD_EINVAL;
		return v;
	}
	if (req->type == NBD_CMD_BLOCK_STATUS && req->length == 0)
		v.error = NBD_EINVAL; /* no extent can describe nothing */
	return v;
}

/* ---- reply framing ---- */

static int push_chunk_header(const struct xmit *x, const struct nbd_request *req, uint16_t flags,
			     uint16_t type, uint64_t length, struct outq *q)
{
	uint8_t hdr[NBD_REPLY_HEADER_MAX];
	struct nbd_reply_header h = {
		.format = x->extended ? NBD_REPLY_FORMAT_EXTENDED : NBD_REPLY_FORMAT_STRUCTURED,
		.flags = flags,
		.type = type,
		.cookie = req->cookie,
		.offset = req->offset,
		.length = length,
	};
	int n = nbd_chunk_header_encode(&h, hdr, sizeof(hdr));

	if (n < 0)
		return n;
	/* The final chunk stands for the reply in the transaction log; errors log their own. */
	if ((flags & NBD_REPLY_FLAG_DONE) && type != NBD_REPLY_TYPE_ERROR &&
	    type != NBD_REPLY_TYPE_ERROR_OFFSET)
		translog_reply(x->log, req->cookie, 0);
	return outq_push_copy(q, hdr, (size_t)n);
}

static int push_simple(const struct xmit *x, const struct nbd_request *req, uint32_t error,
		       struct outq *q)
{
	uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];

	translog_reply(x->log, req->cookie, error);
	nbd_simple_reply_encode(req->cookie, error, hdr, sizeof(hdr));
	return outq_push_copy(q, hdr, sizeof(hdr));
}

static int push_error_chunk(const struct xmit *x, const struct nbd_request *req, uint32_t error,
			    const char *message, bool with_offset, uint64_t offset, bool done,
			    struct outq *q)
{
	_cleanup_buffer_ struct buffer payload = BUFFER_INIT;
	int r;

	r = nbd_chunk_error_encode(&payload, error, message, with_offset, offset);
	if (r < 0)
		return r;
	if (done)
		translog_reply(x->log, req->cookie, error);
	r = push_chunk_header(x, req, done ? NBD_REPLY_FLAG_DONE : 0,
			      with_offset ? NBD_REPLY_TYPE_ERROR_OFFSET : NBD_REPLY_TYPE_ERROR,
			      payload.len, q);
	if (r < 0)
		return r;
	return outq_push_copy(q, payload.data, payload.len);
}

int request_reply_error(const struct xmit *x, const struct nbd_request *req, uint32_t error,
			const char *message, struct outq *q)
{
	/* A success without data may be a simple reply even with structured replies on (not for a
	 * READ, and not with extended headers, which have no simple reply): 16 bytes a client reads
	 * as they come, where a chunk is 20 read as a header and a type. */
	if (!x->extended && (!x->structured || (error == 0 && req->type != NBD_CMD_READ)))
		return push_simple(x, req, error, q);
	if (error == 0)
		return push_chunk_header(x, req, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, 0, q);
	if (!message)
		message = nbd_error_name(error);
	return push_error_chunk(x, req, error, message, false, 0, true, q);
}

static uint32_t nbd_error(int r)
{
	return nbd_error_from_errno(r);
}

/* ---- READ ---- */

static bool use_zero_copy(const struct xmit *x, size_t len)
{
	const struct backend *b = x->backend;

	/* A copy-on-write view has no single file to send from. */
	return x->zero_copy_read && len >= ZERO_COPY_MIN && !b->direct && b->fd >= 0;
}

/* Whether a READ's data may go out with sendfile() after its header (outq_push_file()): from a file
 * in memory (the backend maps only those: tmpfs, ramfs, a memfd), which has no read error to report
 * once the header has gone. A hole sent this way reads as zeros without being allocated, unlike
 * one read through the mapping. */
static bool send_with_sendfile(const struct xmit *x, uint64_t offset, size_t len)
{
	struct backend *b = x->backend;

	return use_zero_copy(x, len) && b->map && offset + len <= b->size;
}

static int read_simple(const struct xmit *x, const struct nbd_request *req, struct outq *q)
{
	struct backend *b = x->backend;
	size_t len = (size_t)req->length;
	void *buf;
	int r;

	if (send_with_sendfile(x, req->offset, len)) {
		r = push_simple(x, req, 0, q);
		return r < 0 ? r : outq_push_file(q, b->fd, req->offset, len);
	}
	if (use_zero_copy(x, len)) {
		struct outq_item *staged;

		/* Staged before the header: a failed read still gets its error reply. When staging
		 * fails, the read through a buffer below tells a storage error from a pipe's. */
		if (outq_stage_file(b->fd, req->offset, len, &staged) == 0) {
			r = push_simple(x, req, 0, q);
			if (r < 0) {
				outq_staged_free(staged);
				return r;
			}
			outq_push_staged(q, staged);
			return 0;
		}
	}
	if (len == 0)
		return push_simple(x, req, 0, q);
	if (posix_memalign(&buf, 4096, len) != 0)
		return -ENOMEM;
	r = backend_pread(b, buf, len, req->offset);
	if (r < 0) {
		free(buf);
		request_storage_failed(x, req, r);
		return push_simple(x, req, nbd_error(r), q);
	}
	r = push_simple(x, req, 0, q);
	if (r < 0) {
		free(buf);
		return r;
	}
	return outq_push_owned(q, buf, len);
}

/* One OFFSET_DATA chunk for [offset, offset+len). */
static int read_data_chunk(const struct xmit *x, const struct nbd_request *req, uint64_t offset,
			   size_t len, bool done, struct outq *q)
{
	struct backend *b = x->backend;
	bool in_memory = send_with_sendfile(x, offset, len);
	struct outq_item *staged = NULL;
	uint8_t prefix[8];
	void *buf = NULL;
	int r;

	/* Staged before the chunk header, as in read_simple(). */
	if (!in_memory &&
	    (!use_zero_copy(x, len) || outq_stage_file(b->fd, offset, len, &staged) < 0)) {
		if (posix_memalign(&buf, 4096, len) != 0)
			return -ENOMEM;
		r = backend_pread(b, buf, len, offset);
		if (r < 0) {
			free(buf);
			request_storage_failed(x, req, r);
			/* Nothing of this chunk went out yet: report the error for its range. */
			return push_error_chunk(x, req, nbd_error(r), "read failed", true, offset, true,
						q) < 0 ? -ENOMEM : 1;
		}
	}
	r = push_chunk_header(x, req, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_DATA,
			      8 + (uint64_t)len, q);
	if (r >= 0) {
		nbd_chunk_offset_data_prefix(offset, prefix);
		r = outq_push_copy(q, prefix, sizeof(prefix));
	}
	if (r < 0) {
		free(buf);
		outq_staged_free(staged);
		return r;
	}
	if (in_memory)
		return outq_push_file(q, b->fd, offset, len);
	if (buf)
		return outq_push_owned(q, buf, len);
	outq_push_staged(q, staged);
	return 0;
}

static int read_hole_chunk(const struct xmit *x, const struct nbd_request *req, uint64_t offset,
			   uint32_t len, bool done, struct outq *q)
{
	uint8_t payload[NBD_CHUNK_OFFSET_HOLE_SIZE];
	int r;

	r = push_chunk_header(x, req, done ? NBD_REPLY_FLAG_DONE : 0, NBD_REPLY_TYPE_OFFSET_HOLE,
			      sizeof(payload), q);
	if (r < 0)
		return r;
	nbd_chunk_offset_hole_encode(offset, len, payload);
	return outq_push_copy(q, payload, sizeof(payload));
}

static int read_structured(const struct xmit *x, const struct nbd_request *req, struct outq *q)
{
	struct backend *b = x->backend;
	uint64_t size = b->size, offset = req->offset;
	uint64_t end = MIN(req->offset + req->length, size);
	bool past_end = req->offset + req->length > size;
	bool df = req->flags & NBD_CMD_FLAG_DF;
	int r;

	if (req->length == 0)
		return request_reply_error(x, req, 0, NULL, q);

	while (offset < end) {
		uint64_t run = end - offset;
		bool hole = false, last;

		/* DF asks for one contiguous data chunk; otherwise holes are sent as holes. */
		if (!df) {
			r = backend_read_extent(b, offset, run, &hole, &run);
			if (r < 0)
				return push_error_chunk(x, req, nbd_error(r), "extent lookup failed",
							true, offset, true, q);
		}
		last = offset + run == end && !past_end;
		if (hole)
			r = read_hole_chunk(x, req, offset, (uint32_t)run, last, q);
		else
			r = read_data_chunk(x, req, offset, (size_t)run, last, q);
		if (r < 0)
			return r;
		if (r > 0)
			return 0; /* an error chunk ended the reply */
		offset += run;
	}
	if (past_end)
		return push_error_chunk(x, req, NBD_EINVAL, "read past the end of the export", true,
					size, true, q);
	return 0;
}

/* ---- BLOCK_STATUS ---- */

static uint64_t extent_flags(bool hole)
{
	return hole ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0;
}

static int block_status(const struct xmit *x, const struct nbd_request *req, struct outq *q)
{
	struct backend *b = x->backend;
	_cleanup_free_ struct nbd_extent *extents = NULL;
	_cleanup_buffer_ struct buffer payload = BUFFER_INIT;
	uint64_t offset = req->offset, end = req->offset + req->length;
	/* Compact replies carry 32-bit lengths: keep each extent block-aligned below 4 GiB. */
	uint64_t max_run = x->extended ? UINT64_MAX : UINT32_MAX & ~(uint64_t)4095;
	size_t n = 0;
	int r;

	extents = calloc(MAX_EXTENTS, sizeof(*extents));
	if (!extents)
		return -ENOMEM;
	while (offset < end && n < MAX_EXTENTS) {
		bool hole;
		uint64_t run;

		r = backend_extent(b, offset, end - offset, &hole, &run);
		if (r < 0)
			return request_reply_error(x, req, nbd_error(r), "extent lookup failed", q);
		run = MIN(run, max_run);
		/* Consecutive extents should differ, so runs of the same kind are merged. */
		if (n && extents[n - 1].flags == extent_flags(hole) &&
		    extents[n - 1].length <= max_run - run)
			extents[n - 1].length += run;
		else
			extents[n++] = (struct nbd_extent){ .length = run, .flags = extent_flags(hole) };
		offset += run;
		if (req->flags & NBD_CMD_FLAG_REQ_ONE)
			break;
	}
	r = nbd_chunk_block_status_encode(&payload, x->extended, x->base_allocation_id, extents, n);
	if (r < 0)
		return r;
	r = push_chunk_header(x, req, NBD_REPLY_FLAG_DONE,
			      x->extended ? NBD_REPLY_TYPE_BLOCK_STATUS_EXT : NBD_REPLY_TYPE_BLOCK_STATUS,
			      payload.len, q);
	if (r < 0)
		return r;
	return outq_push_copy(q, payload.data, payload.len);
}

void request_storage_failed(const struct xmit *x, const struct nbd_request *req, int r)
{
	if (atomic_exchange(&x->export->failing, -r) == -r)
		return;
	log_warning("Export '%s': %s of %llu bytes at offset %llu failed: %s; the client gets the "
		    "error (further failures of this kind are not logged until a request succeeds)",
		    x->export->config->name, nbd_cmd_name(req->type) ?: "request",
		    (unsigned long long)req->length, (unsigned long long)req->offset, strerror(-r));
}

void request_storage_ok(const struct xmit *x)
{
	if (atomic_load_explicit(&x->export->failing, memory_order_relaxed))
		atomic_store(&x->export->failing, 0);
}

int request_run(const struct xmit *x, const struct nbd_request *req, void *payload, struct outq *q)
{
	struct backend *b = x->backend;
	bool fua = req->flags & NBD_CMD_FLAG_FUA;
	int r;

	switch (req->type) {
	case NBD_CMD_READ:
		if (x->structured || x->extended)
			return read_structured(x, req, q);
		return read_simple(x, req, q);
	case NBD_CMD_WRITE:
		/* A zero-length WRITE has no payload buffer (NULL), which pwrite_full() must not get. */
		r = req->length ? backend_pwrite(b, payload, (size_t)req->length, req->offset, fua)
				: fua ? backend_flush(b) : 0;
		break;
	case NBD_CMD_FLUSH:
		r = backend_flush(b);
		break;
	case NBD_CMD_TRIM:
		r = backend_trim(b, req->offset, req->length, fua);
		break;
	case NBD_CMD_WRITE_ZEROES:
		r = backend_zero(b, req->offset, req->length, !(req->flags & NBD_CMD_FLAG_NO_HOLE),
				 req->flags & NBD_CMD_FLAG_FAST_ZERO, fua);
		break;
	case NBD_CMD_CACHE:
		r = backend_cache(b, req->offset, req->length);
		break;
	case NBD_CMD_BLOCK_STATUS:
		return block_status(x, req, q);
	default:
		return request_reply_error(x, req, NBD_EINVAL, NULL, q);
	}
	/* A FAST_ZERO the storage cannot do fast is the answer the client asked for, not a failure. */
	if (r < 0 && !(r == -EOPNOTSUPP && (req->flags & NBD_CMD_FLAG_FAST_ZERO)))
		request_storage_failed(x, req, r);
	else if (r >= 0 && req->type != NBD_CMD_CACHE)
		request_storage_ok(x);
	return request_reply_error(x, req, r < 0 ? nbd_error(r) : 0, NULL, q);
}
