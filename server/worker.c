/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads and the connections they serve.
 *
 * Each worker runs an epoll loop over its connections. A connection reads as much as the socket has
 * into one buffer, runs every complete request in it, and sends the replies of the whole batch with
 * as few system calls as possible (the output queue gathers them). When replies pile up faster than
 * the client takes them, reading pauses until the queue drains: memory per connection stays bounded.
 *
 * New connections arrive through a pipe carrying pointers, written by the accepting thread; a NULL
 * pointer asks the worker to finish its connections and exit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <limits.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "proto/names.h"
#include "server/handshake.h"
#include "server/hooks.h"
#include "server/pool.h"
#include "server/uring.h"
#include "server/request.h"
#include "server/server.h"

/* Input is read in batches this large: many request headers per recv(). */
#define CONN_INPUT_SIZE (256u << 10)
/* Reading pauses while this much reply data waits to be sent. */
#define CONN_OUTPUT_HIGH (16u << 20)
/* ... or while this many requests of the connection are in the pool. */
#define CONN_MAX_INFLIGHT 64
/* Replies smaller than this in all wait until the socket has no more requests to read: on loopback,
 * each sendmsg() costs a TCP segment and the client's receive path, so one per small reply was half
 * of the server's CPU time with 4 KiB writes. Larger replies go at once so that big reads stream. */
#define CONN_OUTPUT_EAGER (64u << 10)
/* WRITE payloads with at least this much still in the socket are spliced from it into a pipe, and
 * from the pipe into the file once complete: the kernel copies the bytes once (into the page cache)
 * instead of twice (into our buffer, then into the page cache). Below it, the extra system calls cost
 * more than the copy saves. */
#define SPLICE_MIN (64u << 10)
/* The pipe's capacity, and so the largest payload spliced (1 MiB is what unprivileged processes may
 * ask for by default; with a smaller pipe, fewer payloads qualify). */
#define SPLICE_PIPE_SIZE (1u << 20)

struct worker {
	struct server *srv;
	pthread_t thread;
	int epfd;
	int pipe[2];
	struct loop_source inbox;
	/* Jobs the pool finished, handed back through an eventfd. */
	pthread_mutex_t done_lock;
	struct job *done;
	struct loop_source done_src;
	/* io_uring for plain file I/O, when available; NULL otherwise (the pool does it all). */
	struct uring *uring;
	struct loop_source uring_src;
	struct conn *conns; /* list, for shutdown */
	bool stopping;
	bool started;
};

enum payload_mode {
	PAYLOAD_BUFFER, /* copied into c->payload */
	PAYLOAD_INPLACE, /* whole in the input buffer: written from there (a backend that never blocks) */
	PAYLOAD_PIPE,   /* spliced from the socket into c->spipe, then into the file */
};

enum conn_state {
	CONN_HANDSHAKE,
	CONN_TRANSMISSION,
	CONN_DRAINING, /* send what is queued, then close */
};

struct conn {
	struct loop_source rsrc;
	struct loop_source wsrc; /* only used when the write fd differs (stdio mode) */
	struct worker *worker;
	struct conn *prev, *next;
	int rfd, wfd;
	struct sockaddr_storage peer_addr;
	char peer[INET6_ADDRSTRLEN + 16];
	enum conn_state state;
	uint32_t rev, wev; /* events registered */

	struct srv_hs *hs;
	struct live *live;     /* the configuration the handshake looked exports up in (a reference) */
	struct export *client_export; /* a per-client export opened for a lookup (a reference) */
	struct xmit xmit;
	struct export *export; /* admitted: holds a reference and a connection slot */
	bool prerun_done;      /* postrun is owed when the connection ends */
	struct backend *own_backend; /* a private copy-on-write overlay, discarded at close */

	uint8_t *in;
	size_t in_start, in_end;

	bool have_request;
	struct nbd_request req;
	struct request_verdict verdict;
	uint8_t *payload;
	size_t payload_have;
	uint64_t discard_left;
	/* Where the current WRITE's payload waits until it is whole (a WRITE lands whole or not at
	 * all, even when the client vanishes mid-payload). */
	enum payload_mode mode;
	bool can_splice;  /* rfd is a socket */
	bool header_only; /* the last request was spliced: read the next header alone */
	int spipe[2];     /* for splicing payloads; -1 until the first one */
	size_t spipe_size;

	struct outq out;
	bool read_paused;
	bool eof;
	unsigned inflight; /* requests running in the pool */
	bool zombie;       /* closed, waiting for its jobs to come back before it is freed */
};

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

/* Requests already buffered while reading was paused get their turn once it resumes. */
static bool has_buffered_requests(const struct conn *c)
{
	return c->state == CONN_TRANSMISSION && !c->read_paused && c->in_start != c->in_end;
}

static void conn_dispatch_read(struct loop_source *s, uint32_t events);
static void conn_dispatch_write(struct loop_source *s, uint32_t events);
static void conn_on_readable(struct conn *c);
static int pipe_to_file(struct conn *c);

static const char *describe_peer(const struct sockaddr_storage *a, socklen_t len, char *buf,
				 size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (len == 0 || a->ss_family == AF_UNIX)
		snprintf(buf, size, "local");
	else if (a->ss_family == AF_INET &&
		 inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof(host)))
		snprintf(buf, size, "%s:%u", host, ntohs(((const struct sockaddr_in *)a)->sin_port));
	else if (a->ss_family == AF_INET6 &&
		 inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host, sizeof(host)))
		snprintf(buf, size, "[%s]:%u", host,
			 ntohs(((const struct sockaddr_in6 *)a)->sin6_port));
	else
		snprintf(buf, size, "unknown");
	return buf;
}

/* ---- event registration ---- */

static int set_events(struct conn *c, bool want_read, bool want_write)
{
	uint32_t rev = want_read ? EPOLLIN | EPOLLRDHUP : 0;
	uint32_t wev = want_write ? EPOLLOUT : 0;
	struct epoll_event ev;

	if (c->rfd == c->wfd) {
		if (rev == c->rev && wev == c->wev)
			return 0;
		ev = (struct epoll_event){ .events = rev | wev, .data.ptr = &c->rsrc };
		if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->rfd, &ev) < 0)
			return negative_errno();
	} else {
		if (rev != c->rev) {
			ev = (struct epoll_event){ .events = rev, .data.ptr = &c->rsrc };
			if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->rfd, &ev) < 0)
				return negative_errno();
		}
		if (wev != c->wev) {
			ev = (struct epoll_event){ .events = wev, .data.ptr = &c->wsrc };
			if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->wfd, &ev) < 0)
				return negative_errno();
		}
	}
	c->rev = rev;
	c->wev = wev;
	return 0;
}

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
static void flush_in_background(struct worker *w, struct export *e, struct backend *b)
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
	pool_submit(&w->srv->pool, &job->pj);
}

/* postrun, once the connection is over (the reference runs it when its child exits). */
static void run_postrun(const struct conn *c)
{
	const struct export *e = c->export;
	_cleanup_free_ char *cmd = NULL;

	if (!c->prerun_done || !e->config->postrun)
		return;
	if (hook_command(e->config->postrun, e->file ? e->file : "", &cmd) < 0) {
		log_warning("Connection %s: out of memory; postrun of export '%s' not run", c->peer,
			    e->config->name);
		return;
	}
	hook_run_background(cmd, e->config->name);
}

static void conn_destroy(struct conn *c)
{
	struct worker *w = c->worker;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;

	if (c->export) {
		/* A client that leaves without FLUSH still gets what it wrote onto stable storage
		 * (a private overlay is simply dropped). */
		if (!c->hs && !c->own_backend &&
		    !(c->export->info.transmission_flags & NBD_FLAG_READ_ONLY))
			flush_in_background(w, c->export, c->xmit.backend);
		backend_close(c->own_backend);
		c->own_backend = NULL;
		run_postrun(c);
		slots_give(&w->srv->slots, c->export->config->name);
		export_unref(c->export);
	}
	export_unref(c->client_export);
	live_unref(c->live);
	outq_clear(&c->out);
	backend_close(c->own_backend);
	srv_hs_free(c->hs);
	free(c->in);
	free(c->payload);
	if (c->spipe[0] >= 0) {
		close(c->spipe[0]);
		close(c->spipe[1]);
	}
	free(c);
	server_connection_closed(w->srv);
}

/* Closes the connection's sockets now; the memory goes once no job of it is left in the pool. */
static void conn_free(struct conn *c)
{
	struct worker *w = c->worker;

	if (c->zombie)
		return;
	(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->rfd, NULL);
	if (c->wfd != c->rfd)
		(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->wfd, NULL);
	close(c->rfd);
	if (c->wfd != c->rfd)
		close(c->wfd);
	c->zombie = true;
	outq_clear(&c->out);
	if (c->inflight == 0)
		conn_destroy(c);
}

/* Sends what is queued; closes the connection when that fails or when it is draining and done. Returns
 * false when the connection is gone. */
static bool conn_flush(struct conn *c)
{
	int r;

	if (c->zombie)
		return false;
	r = outq_flush(&c->out, c->wfd);

	if (r < 0 && r != -EAGAIN) {
		log_info("Connection %s: sending failed: %s", c->peer, strerror(-r));
		conn_free(c);
		return false;
	}
	if (outq_empty(&c->out) && c->state == CONN_DRAINING && c->inflight == 0) {
		conn_free(c);
		return false;
	}
	if (c->read_paused && c->out.bytes < CONN_OUTPUT_HIGH / 2 &&
	    c->inflight < CONN_MAX_INFLIGHT / 2)
		c->read_paused = false;
	if (set_events(c, c->state != CONN_DRAINING && !c->read_paused && !c->eof,
		       !outq_empty(&c->out)) < 0) {
		conn_free(c);
		return false;
	}
	return true;
}

static void conn_drain_and_close(struct conn *c)
{
	c->state = CONN_DRAINING;
	(void)conn_flush(c);
}

/* ---- handshake ---- */

/* The configuration in force, for this connection's next lookups. The previous one is released:
 * the handshake machine keeps no export pointer from one option to the next. */
static struct live *conn_live(struct conn *c)
{
	struct live *now = server_live(c->worker->srv);

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

static bool peer_permitted(const struct conn *c, const struct export *e)
{
	return allow_list_permits(&c->live->allow, &c->peer_addr) &&
	       allow_list_permits(&e->allow, &c->peer_addr);
}

static const struct srv_export *hs_nth(void *userdata, size_t i)
{
	struct conn *c = userdata;
	struct live *l = i == 0 || !c->live ? conn_live(c) : c->live;

	for (size_t k = 0, seen = 0; k < l->n_exports; k++) {
		if (!peer_permitted(c, l->exports[k]))
			continue;
		if (seen++ == i)
			return &l->exports[k]->info;
	}
	return NULL;
}

/* Which allow list refuses the client, for the log: the file it came from, or the options. */
static const char *allow_rule(char *const *allow, const char *file, char *buf, size_t size)
{
	if (!allow[0])
		snprintf(buf, size, "the allow list %s is empty, which lets no one in",
			 file ? file : "(--allow)");
	else if (file)
		snprintf(buf, size, "not in the allow list %s", file);
	else
		snprintf(buf, size, "not in the --allow list");
	return buf;
}

static int run_prerun(struct conn *c, const struct export *e, char *msg, size_t size)
{
	_cleanup_free_ char *cmd = NULL;
	int r, status = 0;

	r = hook_command(e->config->prerun, e->file ? e->file : "", &cmd);
	if (r < 0)
		return r;
	r = hook_run(cmd, &status);
	if (r == -ECHILD)
		log_notice("Connection %s: export '%s' refused: prerun command '%s' exited with "
			   "status %d", c->peer, e->config->name, cmd,
			   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (r < 0)
		log_warning("Connection %s: export '%s' refused: cannot run prerun command '%s': "
			    "%s", c->peer, e->config->name, cmd, strerror(-r));
	if (r < 0)
		snprintf(msg, size, "export '%s' is not available: its prerun command failed",
			 e->config->name);
	return r;
}

/* The handshake's admission: allow lists, connection limits, the per-client file, prerun. */
static uint32_t hs_admit(void *userdata, const struct srv_export *se, bool take, char *msg,
			 size_t size)
{
	struct conn *c = userdata;
	struct export *e = se->userdata;
	const struct server_config *cfg = c->live->config;
	char rule[PATH_MAX + 96];
	unsigned max = e->config->max_connections;
	int r;

	if (!peer_permitted(c, e)) {
		bool global = !allow_list_permits(&c->live->allow, &c->peer_addr);

		log_notice("Connection %s: refused export '%s': %s", c->peer, e->config->name,
			   global ? allow_rule(cfg->allow, cfg->authfile, rule, sizeof(rule))
				  : allow_rule(e->config->allow, e->config->authfile, rule,
					       sizeof(rule)));
		snprintf(msg, size, "access to export '%s' is denied to this client's address by "
			 "the server's %s", e->config->name,
			 global ? "allow list" : "allow list for this export");
		return NBD_REP_ERR_POLICY;
	}
	if (e->per_client) {
		snprintf(msg, size, "export '%s' is not available to this client (its file cannot "
			 "be opened)", e->config->name);
		return NBD_REP_ERR_UNKNOWN;
	}
	r = slots_take(&c->worker->srv->slots, e->config->name, max, cfg->max_connections, take);
	if (r == -EBUSY || r == -EUSERS) {
		if (take)
			log_notice("Connection %s: refused export '%s': %s has reached its "
				   "connection limit of %u", c->peer, e->config->name,
				   r == -EBUSY ? "the export" : "the server",
				   r == -EBUSY ? max : cfg->max_connections);
		if (r == -EBUSY)
			snprintf(msg, size, "export '%s' has reached its connection limit of %u; "
				 "try again when a connection has closed", e->config->name, max);
		else
			snprintf(msg, size, "the server has reached its connection limit of %u; "
				 "try again when a connection has closed", cfg->max_connections);
		return NBD_REP_ERR_POLICY;
	}
	if (r < 0) {
		snprintf(msg, size, "the server is out of memory");
		return NBD_REP_ERR_SHUTDOWN;
	}
	if (!take)
		return 0;
	/* From here the connection holds the slot and the export until it ends. */
	c->export = export_ref(e);
	if (e->config->prerun) {
		if (run_prerun(c, e, msg, size) < 0) {
			slots_give(&c->worker->srv->slots, e->config->name);
			c->export = export_unref(c->export);
			return NBD_REP_ERR_UNKNOWN;
		}
		c->prerun_done = true;
	}
	return 0;
}

static int start_transmission(struct conn *c)
{
	const struct srv_hs_result *res = srv_hs_result(c->hs);
	struct export *e = c->export;

	/* hs_admit() took the export when it said yes to GO or EXPORT_NAME. */
	if (!e || e != res->export->userdata)
		return -EINVAL;
	if (e->private_overlays) {
		int r = export_open_private_overlay(e, &c->own_backend);

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
		.structured = res->structured_replies,
		.extended = res->extended_headers,
		.base_allocation_id = res->base_allocation_id,
		.min_block = res->block_size_promised ? e->info.block_minimum : 1,
		.log = e->log,
	};
	if (!c->xmit.structured && !c->xmit.extended)
		c->xmit.flags &= (uint16_t)~NBD_FLAG_SEND_DF;
	log_info("Connection %s: serving export '%s'%s%s", c->peer, e->config->name,
		 c->xmit.structured ? " (structured replies)" : "",
		 c->xmit.extended ? " (extended headers)" : "");
	srv_hs_free(c->hs);
	c->hs = NULL;
	/* The handshake's lookups are over; the admitted export is all this connection needs. */
	c->live = live_unref(c->live);
	c->client_export = export_unref(c->client_export);
	c->state = CONN_TRANSMISSION;
	return 0;
}

/* Runs the handshake machine over buffered input. Returns 1 to keep going, 0 when more input is
 * needed, negative to close. */
static int handshake_step(struct conn *c)
{
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
			/* STARTTLS is only acknowledged when TLS is configured, which is not possible
			 * yet; the machine never gets here. */
			return -EPROTO;
		case SRV_HS_DONE:
			if (!srv_hs_result(c->hs)->export) {
				log_debug("Connection %s: client ended the handshake", c->peer);
				return -ECONNRESET;
			}
			return start_transmission(c) < 0 ? -EBUSY : 1;
		case SRV_HS_FAILED:
			log_info("Connection %s: %s", c->peer, srv_hs_error_message(c->hs));
			return srv_hs_error(c->hs);
		}
	}
}

/* ---- transmission ---- */

static size_t header_size(const struct conn *c)
{
	return nbd_request_size(c->xmit.extended);
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
	int r;

	c->inflight--;
	if (c->zombie) {
		free(a->buf);
		free(a);
		if (c->inflight == 0)
			conn_destroy(c);
		return;
	}
	r = request_reply_error(&c->xmit, &a->req, res < 0 ? nbd_error_from_errno(res) : 0, NULL,
				&c->out);
	if (r >= 0 && res >= 0 && a->req.type == NBD_CMD_READ) {
		r = outq_push_owned(&c->out, a->buf, (size_t)a->req.length);
		a->buf = NULL;
	}
	free(a->buf);
	free(a);
	if (r < 0) {
		log_error("Connection %s: out of memory; closing", c->peer);
		conn_free(c);
		return;
	}
	if (conn_flush(c) && has_buffered_requests(c))
		conn_on_readable(c);
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
static int finish_request(struct conn *c)
{
	const struct nbd_request *req = &c->req;
	int r;

	c->have_request = false;
	if (c->mode == PAYLOAD_PIPE) {
		r = pipe_to_file(c);
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
		pool_submit(&c->worker->srv->pool, &job->pj);
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
static void done_dispatch(struct loop_source *s, uint32_t events)
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

		reversed = job->next;
		c->inflight--;
		outq_append(&c->out, &job->out);
		free(job->payload);
		if (job->error < 0)
			log_error("Connection %s: out of memory; closing", c->peer);
		if (c->zombie) {
			outq_clear(&c->out);
			if (c->inflight == 0)
				conn_destroy(c);
		} else if (job->error < 0) {
			conn_free(c);
		} else if (conn_flush(c) && has_buffered_requests(c)) {
			conn_on_readable(c);
		}
		free(job);
	}
}

/* Whether the current WRITE may skip its own buffer: the backend is a plain file or memfd that never
 * blocks the event loop. Anything else gets a buffer and runs whole (in the pool or io_uring). */
static bool writes_direct(const struct conn *c)
{
	const struct backend *b = c->xmit.backend;

	return c->req.type == NBD_CMD_WRITE && !c->verdict.error && !b->may_block && b->fd >= 0 &&
	       !b->cow && !b->direct && !b->read_only;
}

static int pipe_open(struct conn *c)
{
	int size;

	if (c->spipe[0] >= 0)
		return 0;
	if (pipe2(c->spipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		c->spipe[0] = c->spipe[1] = -1;
		return negative_errno();
	}
	(void)fcntl(c->spipe[1], F_SETPIPE_SZ, (int)SPLICE_PIPE_SIZE);
	size = fcntl(c->spipe[1], F_GETPIPE_SZ);
	c->spipe_size = size > 0 ? (size_t)size : 65536;
	return 0;
}

/* Empties the splice pipe: into the payload buffer when there is one, else nowhere. */
static void pipe_drain(struct conn *c)
{
	uint8_t scratch[16384];
	size_t have = 0;
	ssize_t n;

	for (;;) {
		n = c->payload ? read(c->spipe[0], c->payload + have, c->payload_have - have)
			       : read(c->spipe[0], scratch, sizeof(scratch));
		if (n <= 0 || (c->payload && (have += (size_t)n) == c->payload_have))
			break;
	}
}

/* Writes the whole payload, waiting in the pipe, to the file. */
static int pipe_to_file(struct conn *c)
{
	loff_t off = (loff_t)c->req.offset;
	size_t left = (size_t)c->verdict.payload;
	ssize_t n;

	while (left) {
		n = splice(c->spipe[0], NULL, c->xmit.backend->fd, &off, left, SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = n < 0 ? negative_errno() : -EIO;

			pipe_drain(c);
			return r;
		}
		left -= (size_t)n;
	}
	return 0;
}

/* Decides where the payload of the request just taken waits until it is whole. */
static int payload_setup(struct conn *c)
{
	size_t avail = c->in_end - c->in_start, len = (size_t)c->verdict.payload;

	c->mode = PAYLOAD_BUFFER;
	if (writes_direct(c)) {
		if (avail >= len) {
			c->mode = PAYLOAD_INPLACE;
			return 0;
		}
		if (c->can_splice && len - avail >= SPLICE_MIN && pipe_open(c) == 0 &&
		    len <= c->spipe_size) {
			/* What already came with the header goes into the pipe ahead of the rest. */
			if (avail && write(c->spipe[1], c->in + c->in_start, avail) != (ssize_t)avail)
				pipe_drain(c);
			else {
				c->mode = PAYLOAD_PIPE;
				c->payload_have = avail;
				c->in_start += avail;
				return 0;
			}
		}
	}
	if (posix_memalign((void **)&c->payload, 4096, len) != 0) {
		c->payload = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Takes the next request header from the input, or returns 0 when there is not a whole one. */
static int take_request(struct conn *c)
{
	size_t hs = header_size(c);
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
	if (c->verdict.payload) {
		if (c->verdict.error)
			c->discard_left = c->verdict.payload;
		else if (payload_setup(c) < 0)
			return -ENOMEM;
	}
	return 1;
}

/* Moves buffered input into the current request's payload (or discards it). Returns true when the
 * payload is complete. */
static bool fill_payload(struct conn *c)
{
	size_t avail = c->in_end - c->in_start, n;

	if (c->discard_left) {
		n = (size_t)MIN((uint64_t)avail, c->discard_left);
		c->discard_left -= n;
		c->in_start += n;
		return c->discard_left == 0;
	}
	if (c->mode == PAYLOAD_PIPE)
		return c->payload_have == c->verdict.payload; /* it comes from the socket only */
	n = MIN(avail, (size_t)c->verdict.payload - c->payload_have);
	if (c->mode == PAYLOAD_INPLACE) {
		c->payload = c->in + c->in_start; /* borrowed until finish_request() */
		c->payload_have = n;
		c->in_start += n;
		return true;
	}
	memcpy(c->payload + c->payload_have, c->in + c->in_start, n);
	c->payload_have += n;
	c->in_start += n;
	return c->payload_have == c->verdict.payload;
}

/* Runs every complete request in the buffer. Returns 0, or negative to close. */
static int process_requests(struct conn *c)
{
	int r;

	while (c->state == CONN_TRANSMISSION && !c->read_paused) {
		if (!c->have_request) {
			r = take_request(c);
			if (r <= 0)
				return r;
		}
		if (c->verdict.payload && !fill_payload(c))
			return 0;
		r = finish_request(c);
		if (r < 0)
			return r;
		if (c->out.bytes >= CONN_OUTPUT_HIGH) {
			if (!conn_flush(c))
				return -ECANCELED; /* already freed */
			if (c->out.bytes >= CONN_OUTPUT_HIGH)
				c->read_paused = true;
		}
	}
	return 0;
}

/* Falls back from the pipe to a buffer: the socket has more of the payload, but the pipe has no room
 * (it counts pieces, not bytes, and a client sending tiny segments fills it early) or refuses it. */
static int pipe_to_buffer(struct conn *c)
{
	if (posix_memalign((void **)&c->payload, 4096, (size_t)c->verdict.payload) != 0) {
		c->payload = NULL;
		return -ENOMEM;
	}
	pipe_drain(c);
	c->mode = PAYLOAD_BUFFER;
	return 0;
}

/* Moves what the socket has of the current WRITE's payload into the pipe. Returns bytes taken, 0 at
 * EOF, -EAGAIN when there is nothing, or another negative errno. */
static ssize_t splice_payload(struct conn *c)
{
	size_t left = (size_t)c->verdict.payload - c->payload_have;
	ssize_t n;
	int queued = 0, r;

	n = splice(c->rfd, NULL, c->spipe[1], NULL, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0)
		c->payload_have += (size_t)n;
	if (n >= 0)
		return n;
	if (errno == EAGAIN && (ioctl(c->rfd, FIONREAD, &queued) < 0 || queued == 0))
		return -EAGAIN;
	if (errno != EAGAIN)
		c->can_splice = false; /* a socket splice() cannot take from */
	r = pipe_to_buffer(c);
	return r < 0 ? r : -EINTR; /* the event loop comes back with the rest, for the buffer now */
}

/* Reads once into the input buffer (or, for a large WRITE, straight into its payload or its file).
 * Returns bytes read, 0 at EOF, -EAGAIN when there is nothing, or another negative errno. */
static ssize_t conn_read(struct conn *c)
{
	ssize_t n;

	if (c->have_request && c->mode == PAYLOAD_PIPE)
		return splice_payload(c);

	/* A large payload goes straight to its buffer once the input buffer holds nothing more. */
	if (c->have_request && c->payload && c->in_start == c->in_end &&
	    c->verdict.payload - c->payload_have >= CONN_INPUT_SIZE / 2) {
		n = read(c->rfd, c->payload + c->payload_have,
			 (size_t)c->verdict.payload - c->payload_have);
		if (n > 0)
			c->payload_have += (size_t)n;
		return n < 0 ? negative_errno() : n;
	}
	if (c->in_start == c->in_end) {
		c->in_start = c->in_end = 0;
	} else if (c->in_start > 0 && CONN_INPUT_SIZE - c->in_end < NBD_EXTENDED_REQUEST_SIZE) {
		memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
		c->in_end -= c->in_start;
		c->in_start = 0;
	}
	/* After a spliced payload the next header is read alone, so that the payload of a WRITE after it
	 * stays in the socket, to be spliced too. */
	n = read(c->rfd, c->in + c->in_end,
		 c->header_only ? MIN(header_size(c), CONN_INPUT_SIZE - c->in_end)
				: CONN_INPUT_SIZE - c->in_end);
	c->header_only = false;
	if (n > 0)
		c->in_end += (size_t)n;
	return n < 0 ? negative_errno() : n;
}

static void conn_on_readable(struct conn *c)
{
	int r = 0;

	if (has_buffered_requests(c)) {
		r = process_requests(c);
		if (r == -ECANCELED)
			return;
		if (r < 0) {
			conn_drain_and_close(c);
			return;
		}
	}

	/* Bounded so that one busy client cannot starve the others on this worker. */
	for (int rounds = 0; rounds < 16 && !c->read_paused && c->state != CONN_DRAINING; rounds++) {
		ssize_t n = conn_read(c);

		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n <= 0) {
			if (n < 0)
				log_info("Connection %s: receiving failed: %s", c->peer,
					 strerror((int)-n));
			else if (c->state == CONN_HANDSHAKE || c->have_request ||
				 c->in_start != c->in_end)
				log_info("Connection %s: client closed the connection mid-message",
					 c->peer);
			c->eof = true;
			r = -ECONNRESET;
			break;
		}
		if (c->state == CONN_HANDSHAKE) {
			r = handshake_step(c);
			if (r <= 0)
				break;
		}
		if (c->have_request && (c->payload || c->mode == PAYLOAD_PIPE) &&
		    c->payload_have == c->verdict.payload &&
		    c->in_start == c->in_end) {
			r = finish_request(c);
			if (r < 0)
				break;
		}
		r = process_requests(c);
		if (r == -ECANCELED)
			return; /* freed while flushing */
		if (r < 0)
			break;
		/* Large replies leave as soon as a batch is done: the client is waiting on them to
		 * send more. Small ones gather until reading would block (the flush below). */
		if (c->out.bytes >= CONN_OUTPUT_EAGER && !conn_flush(c))
			return;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			log_error("Connection %s: out of memory; closing", c->peer);
		conn_drain_and_close(c);
		return;
	}
	(void)conn_flush(c);
}

static void conn_dispatch_read(struct loop_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, rsrc);

	if (c->rfd == c->wfd && (events & EPOLLOUT)) {
		if (!conn_flush(c))
			return;
	}
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || has_buffered_requests(c))
		conn_on_readable(c);
}

static void conn_dispatch_write(struct loop_source *s, uint32_t events)
{
	struct conn *c = container_of(s, struct conn, wsrc);

	if (conn_flush(c) && has_buffered_requests(c))
		conn_on_readable(c);
}

static int conn_new(struct worker *w, int rfd, int wfd, const struct sockaddr_storage *peer,
		    socklen_t peer_len)
{
	struct server *srv = w->srv;
	_cleanup_(live_unrefp) struct live *live = server_live(srv);
	struct srv_hs_config hs = {
		.lookup = hs_lookup,
		.nth = hs_nth,
		.admit = hs_admit,
		.allow_list = live->config->allow_list,
		.allow_extended_headers = true,
		.tls = SRV_TLS_OFF,
	};
	struct epoll_event ev;
	struct conn *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->worker = w;
	c->rfd = rfd;
	c->wfd = wfd;
	c->spipe[0] = c->spipe[1] = -1;
	c->can_splice = rfd == wfd; /* a socket; stdio mode reads a pipe */
	c->rsrc = (struct loop_source){ .fd = rfd, .dispatch = conn_dispatch_read };
	c->wsrc = (struct loop_source){ .fd = wfd, .dispatch = conn_dispatch_write };
	if (peer_len)
		memcpy(&c->peer_addr, peer, sizeof(*peer));
	describe_peer(peer, peer_len, c->peer, sizeof(c->peer));
	c->in = malloc(CONN_INPUT_SIZE);
	hs.userdata = c;
	r = c->in ? srv_hs_new(&hs, &c->hs) : -ENOMEM;
	if (r < 0) {
		free(c->in);
		free(c);
		return r;
	}
	(void)fd_set_nonblock(rfd, true);
	if (wfd != rfd)
		(void)fd_set_nonblock(wfd, true);
	(void)socket_set_nodelay(wfd);

	c->rev = EPOLLIN | EPOLLRDHUP;
	ev = (struct epoll_event){ .events = c->rev, .data.ptr = &c->rsrc };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, rfd, &ev) < 0) {
		r = negative_errno();
		srv_hs_free(c->hs);
		free(c->in);
		free(c);
		return r;
	}
	if (wfd != rfd) {
		ev = (struct epoll_event){ .events = 0, .data.ptr = &c->wsrc };
		(void)epoll_ctl(w->epfd, EPOLL_CTL_ADD, wfd, &ev);
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	log_debug("Connection %s: accepted", c->peer);

	/* The greeting goes out at once. */
	if (handshake_step(c) < 0) {
		conn_drain_and_close(c);
		return 0;
	}
	(void)conn_flush(c);
	return 0;
}

/* ---- the worker thread ---- */

struct adoption {
	int rfd, wfd;
	socklen_t peer_len;
	struct sockaddr_storage peer;
};

static void worker_begin_stop(struct worker *w)
{
	struct conn *c, *next;

	w->stopping = true;
	/* Requests already read have run; what remains is to send their replies. */
	for (c = w->conns; c; c = next) {
		next = c->next;
		conn_drain_and_close(c);
	}
}

static void inbox_dispatch(struct loop_source *s, uint32_t events)
{
	struct worker *w = container_of(s, struct worker, inbox);
	struct adoption *a;

	for (;;) {
		ssize_t n = read(w->pipe[0], &a, sizeof(a));

		if (n != (ssize_t)sizeof(a))
			return;
		if (!a) {
			worker_begin_stop(w);
			continue;
		}
		if (w->stopping || conn_new(w, a->rfd, a->wfd, &a->peer, a->peer_len) < 0) {
			close(a->rfd);
			if (a->wfd != a->rfd)
				close(a->wfd);
			server_connection_closed(w->srv);
		}
		free(a);
	}
}

static void uring_dispatch(struct loop_source *s, uint32_t events)
{
	struct worker *w = container_of(s, struct worker, uring_src);

	uring_complete(w->uring);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event events[64];

	while (!w->stopping || w->conns) {
		int n = epoll_wait(w->epfd, events, (int)ELEMENTSOF(events), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error_errno(errno, "Worker event loop failed: %m");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct loop_source *s = events[i].data.ptr;

			s->dispatch(s, events[i].events);
		}
	}
	return NULL;
}

int workers_start(struct server *srv, unsigned n)
{
	srv->workers = calloc(n, sizeof(*srv->workers));
	if (!srv->workers)
		return -ENOMEM;
	srv->n_workers = n;
	/* Every worker's fds are unset before any is made: a failure part-way leaves workers_stop()
	 * nothing to close that is not ours (calloc's zeros would be stdin). */
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		w->epfd = w->pipe[0] = w->pipe[1] = -EBADF;
		w->done_src.fd = -EBADF;
		pthread_mutex_init(&w->done_lock, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &srv->workers[i];
		struct epoll_event ev;
		int r;

		w->done_src = (struct loop_source){ .dispatch = done_dispatch,
						    .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
		if (w->done_src.fd < 0)
			return log_error_errno(errno, "Failed to create an eventfd: %m");
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			return log_error_errno(errno, "Failed to create an event loop: %m");
		if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			return log_error_errno(errno, "Failed to create a pipe: %m");
		w->inbox = (struct loop_source){ .fd = w->pipe[0], .dispatch = inbox_dispatch };
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->inbox };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->pipe[0], &ev) < 0)
			return log_error_errno(errno, "Failed to watch a pipe: %m");
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->done_src };
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->done_src.fd, &ev) < 0)
			return log_error_errno(errno, "Failed to watch an eventfd: %m");
		if (uring_new(256, &w->uring) == 0) {
			w->uring_src = (struct loop_source){ .fd = uring_eventfd(w->uring),
							     .dispatch = uring_dispatch };
			ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->uring_src };
			if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->uring_src.fd, &ev) < 0) {
				uring_free(w->uring);
				w->uring = NULL;
			}
		}
		r = pthread_create(&w->thread, NULL, worker_main, w);
		if (r != 0)
			return log_error_errno(r, "Failed to start a worker thread: %m");
		w->started = true;
	}
	return 0;
}

static int send_to_worker(struct worker *w, struct adoption *a)
{
	/* Pointer-sized pipe writes are atomic, and the pipe holds thousands of them. */
	int r = write_full(w->pipe[1], &a, sizeof(a), -1);

	return r;
}

int worker_adopt(struct server *srv, int rfd, int wfd, const struct sockaddr_storage *peer,
		 socklen_t peer_len)
{
	struct worker *w = &srv->workers[srv->next_worker++ % srv->n_workers];
	struct adoption *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	*a = (struct adoption){ .rfd = rfd, .wfd = wfd, .peer_len = peer_len };
	if (peer_len)
		memcpy(&a->peer, peer, MIN((size_t)peer_len, sizeof(a->peer)));
	atomic_fetch_add(&srv->connections, 1);
	r = send_to_worker(w, a);
	if (r < 0) {
		atomic_fetch_sub(&srv->connections, 1);
		free(a);
	}
	return r;
}

void workers_stop(struct server *srv)
{
	struct adoption *stop = NULL;

	for (unsigned i = 0; i < srv->n_workers; i++)
		if (srv->workers[i].started)
			(void)write_full(srv->workers[i].pipe[1], &stop, sizeof(stop), -1);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];

		if (w->started)
			pthread_join(w->thread, NULL);
		w->epfd = safe_close(w->epfd);
		w->pipe[0] = safe_close(w->pipe[0]);
		w->pipe[1] = safe_close(w->pipe[1]);
		w->done_src.fd = safe_close(w->done_src.fd);
		pthread_mutex_destroy(&w->done_lock);
		uring_free(w->uring);
	}
	free(srv->workers);
	srv->workers = NULL;
	srv->n_workers = 0;
}
