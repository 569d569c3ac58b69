/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A connection's requests: taking each header from the input, then running the request where it
 * belongs. On the event loop when its backend never blocks; through io_uring for the plain file
 * READ, WRITE and FLUSH of simple replies (the Linux kernel's traffic); in the pool otherwise. A
 * request that ran elsewhere comes back to its worker and reaches its connection through
 * c->complete, so replies go out in completion order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "proto/names.h"
#include "server/conn.h"
#include "server/pool.h"
#include "server/uring.h"
#include "server/wakeup.h"

/* A request running in the pool. Its replies collect in its own queue and join the connection's
 * when it comes back, so replies go out in completion order. */
struct job {
	struct pool_job pj;
	struct job *next;
	struct conn *conn;
	struct nbd_request req;
	void *payload;
	struct outq out;
	int error; /* out of memory while queueing replies */
};

struct flush_job {
	struct pool_job pj;
	struct export *export;
	struct backend *backend;
};

static void flush_job_run(struct pool_job *pj)
{
	struct flush_job *job = container_of(pj, struct flush_job, pj);

	(void)backend_flush(job->backend);
	export_unref(job->export);
	free(job);
}

/* fdatasync can take seconds on a disk; the event loop must not wait for it. The job holds a
 * reference to the export, which a reload may have dropped meanwhile. */
void dispatch_flush_in_background(struct worker *w, struct export *e, struct backend *b)
{
	struct flush_job *job;

	if (!b->may_block) {
		(void)backend_flush(b);
		return;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		(void)backend_flush(b);
		return;
	}
	*job = (struct flush_job){ .pj.run = flush_job_run, .export = export_ref(e), .backend = b };
	pool_submit(w->host->pool, &job->pj);
}

size_t dispatch_header_size(const struct conn *c)
{
	return nbd_request_size(c->xmit.extended);
}

int dispatch_take_request(struct conn *c)
{
	size_t hs = dispatch_header_size(c);
	int r;

	if (c->in_end - c->in_start < hs)
		return 0;
	r = nbd_request_decode(c->in + c->in_start, hs, c->xmit.extended, &c->req);
	if (r < 0) {
		log_info("Connection %s: request with a bad magic number; closing", c->peer);
		return -EPROTO;
	}
	c->in_start += hs;
	translog_request(c->xmit.log, &c->req);
	c->verdict = request_check(&c->xmit, &c->req);
	if (c->verdict.fatal) {
		log_info("Connection %s: %s request with a %llu-byte payload cannot be framed; "
			 "closing", c->peer, nbd_cmd_name(c->req.type) ?: "unknown",
			 (unsigned long long)c->req.length);
		return -EPROTO;
	}
	if (c->verdict.no_reply) {
		log_debug("Connection %s: client disconnected", c->peer);
		return -ECONNRESET;
	}
	c->have_request = true;
	c->requests++;
	if (c->verdict.payload) {
		if (c->verdict.error)
			c->discard_left = c->verdict.payload;
		else if (payload_setup(c) < 0)
			return -ENOMEM;
	}
	return 1;
}

static void job_run(struct pool_job *pj)
{
	struct job *job = container_of(pj, struct job, pj);
	struct worker *w = job->conn->worker;
	uint64_t one = 1;
	bool wake;

	job->error = request_run(&job->conn->xmit, &job->req, job->payload, &job->out);
	pthread_mutex_lock(&w->done_lock);
	wake = !w->done;
	job->next = w->done;
	w->done = job;
	pthread_mutex_unlock(&w->done_lock);
	if (wake)
		(void)!write(w->done_src.fd, &one, sizeof(one));
}

/* A READ, WRITE or FLUSH with simple replies on a plain file, going through io_uring. */
struct aio {
	struct uring_op op;
	struct conn *conn;
	struct nbd_request req;
	void *buf;
};

static void aio_done(struct uring_op *op, int res)
{
	struct aio *a = container_of(op, struct aio, op);
	struct conn *c = a->conn;
	int r = 0;

	if (!c->zombie) {
		if (res < 0)
			request_storage_failed(&c->xmit, &a->req, res);
		else if (a->req.type != NBD_CMD_READ)
			request_storage_ok(&c->xmit);
		r = request_reply_error(&c->xmit, &a->req, res < 0 ? nbd_error_from_errno(res) : 0,
					NULL, &c->out);
		if (r >= 0 && res >= 0 && a->req.type == NBD_CMD_READ) {
			r = outq_push_owned(&c->out, a->buf, (size_t)a->req.length);
			a->buf = NULL;
		}
	}
	free(a->buf);
	free(a);
	c->complete(c, r);
}

/* Whether io_uring can run this request: plain reads, writes and flushes of a file, answered with
 * simple replies (the kernel's traffic). Everything else that may block goes to the pool. */
static bool runs_in_uring(const struct conn *c, const struct nbd_request *req)
{
	if (!c->worker->uring || c->xmit.structured || c->xmit.extended || c->xmit.backend->fd < 0)
		return false;
	return req->type == NBD_CMD_READ || req->type == NBD_CMD_WRITE ||
	       req->type == NBD_CMD_FLUSH;
}

static int submit_aio(struct conn *c, const struct nbd_request *req)
{
	struct backend *b = c->xmit.backend;
	bool fua = (req->flags & NBD_CMD_FLAG_FUA) || b->sync;
	struct aio *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	*a = (struct aio){ .op.done = aio_done, .conn = c, .req = *req };
	switch (req->type) {
	case NBD_CMD_READ:
		if (req->length && posix_memalign(&a->buf, 4096, (size_t)req->length) != 0) {
			free(a);
			return -ENOMEM;
		}
		r = uring_read(c->worker->uring, &a->op, b->fd, a->buf, (size_t)req->length,
			       req->offset);
		break;
	case NBD_CMD_WRITE:
		a->buf = c->payload;
		c->payload = NULL;
		r = uring_write(c->worker->uring, &a->op, b->fd, a->buf, (size_t)req->length,
				req->offset, fua);
		break;
	default:
		r = uring_fdatasync(c->worker->uring, &a->op, b->fd);
		break;
	}
	if (r < 0) {
		/* Not submitted: the caller answers inline instead. */
		if (req->type == NBD_CMD_WRITE)
			c->payload = a->buf;
		else
			free(a->buf);
		free(a);
		return r;
	}
	c->inflight++;
	if (c->inflight >= CONN_MAX_INFLIGHT)
		c->read_paused = true;
	return 0;
}

/* Whether a request may wait on a device: then it runs in the pool, not on the event loop. */
static bool runs_in_pool(const struct conn *c, const struct nbd_request *req)
{
	return c->xmit.backend->may_block && req->type != NBD_CMD_DISC;
}

/* Runs the current request (its payload, if any, complete) and queues its reply, or hands it to the
 * pool. */
int dispatch_finish_request(struct conn *c)
{
	const struct nbd_request *req = &c->req;
	int r;

	c->have_request = false;
	wakeup_request_done(c);
	if (c->mode == PAYLOAD_PIPE || c->mode == PAYLOAD_MAPPED) {
		r = c->mode == PAYLOAD_PIPE ? payload_pipe_to_file(c) : 0;
		if (r == 0 && ((req->flags & NBD_CMD_FLAG_FUA) || c->xmit.backend->sync))
			r = backend_flush(c->xmit.backend);
		c->mode = PAYLOAD_BUFFER;
		c->payload_have = 0;
		c->header_only = true;
		return request_reply_error(&c->xmit, req, r < 0 ? nbd_error_from_errno(r) : 0, NULL,
					   &c->out);
	}
	if (c->mode == PAYLOAD_INPLACE) {
		r = request_run(&c->xmit, req, c->payload, &c->out);
		c->payload = NULL; /* it was the input buffer's */
		c->payload_have = 0;
		c->mode = PAYLOAD_BUFFER;
		return r;
	}
	if (!c->verdict.error && runs_in_pool(c, req) && runs_in_uring(c, req) &&
	    submit_aio(c, req) == 0) {
		c->payload_have = 0;
		return 0;
	}
	if (!c->verdict.error && runs_in_pool(c, req)) {
		struct job *job = calloc(1, sizeof(*job));

		if (!job)
			return -ENOMEM;
		*job = (struct job){ .pj.run = job_run, .conn = c, .req = *req, .payload = c->payload };
		c->payload = NULL;
		c->payload_have = 0;
		c->inflight++;
		if (c->inflight >= CONN_MAX_INFLIGHT)
			c->read_paused = true;
		pool_submit(c->worker->host->pool, &job->pj);
		return 0;
	}
	if (c->verdict.error)
		r = request_reply_error(&c->xmit, req, c->verdict.error, NULL, &c->out);
	else
		r = request_run(&c->xmit, req, c->payload, &c->out);
	free(c->payload);
	c->payload = NULL;
	c->payload_have = 0;
	return r;
}

/* Jobs came back from the pool: their replies join their connections' queues. */
void dispatch_done(struct loop_source *s, uint32_t events)
{
	struct worker *w = container_of(s, struct worker, done_src);
	struct job *list, *job, *reversed = NULL;
	uint64_t count;

	(void)!read(s->fd, &count, sizeof(count));
	pthread_mutex_lock(&w->done_lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->done_lock);
	/* The list was built newest first; replies go out in completion order. */
	while (list) {
		job = list;
		list = job->next;
		job->next = reversed;
		reversed = job;
	}
	while ((job = reversed)) {
		struct conn *c = job->conn;
		int error = job->error;

		reversed = job->next;
		outq_append(&c->out, &job->out);
		free(job->payload);
		free(job);
		c->complete(c, error);
	}
}
