/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS transport: after NBD_OPT_STARTTLS, a GnuTLS session (tls/tls.h) over the connection's
 * socket, driven without blocking like everything on a worker. Every byte passes through the
 * session, so it claims neither sendfile nor splice.
 *
 * Two rules of GnuTLS shape send(). After -EAGAIN the same data must be offered again: what is
 * given to the session is first copied into `held` (one record at most), and while it is there it
 * is offered again before anything else; since nothing was reported as taken, the caller's next
 * bytes begin with the same ones. And decrypted bytes can wait inside the session, where epoll
 * cannot see them: recv() keeps reading while the session has some, and pending() tells the
 * connection that more is there without the socket becoming readable.
 *
 * Once negotiation is over, transport_tls_to_kernel() may hand the keys to the kernel's TLS
 * (tls/ktls.h): from then on the socket itself carries plain bytes for us, the session is gone,
 * and the transport claims sendfile() again (zero-copy READ replies, encrypted by the kernel).
 *
 * Test hooks, for the tests of peers that move their side into the kernel's TLS (whose kernels
 * cannot take a record other than data after that): read once at start from the environment, and
 * acting only on a session this server keeps in user space (--tls-ktls=no, or a kernel that refused
 * it), once per connection, after the N-th reply of transmission has been sent:
 *   NBDM_TLS_TEST_KEY_UPDATE_AFTER=N  a TLS 1.3 KeyUpdate (tls_session_key_update(), not asking
 *                                     the peer to update its own keys);
 *   NBDM_TLS_TEST_TICKET_AFTER=N      a late TLS 1.3 NewSessionTicket (tls_session_send_ticket());
 *   NBDM_TLS_TEST_KEY_UPDATE_MID_REPLY=BYTES  a KeyUpdate in the middle of a reply: between the
 *                                     first and second record of the first output that needs
 *                                     several records once BYTES have been sent (a large READ
 *                                     reply, cut after its header and first data).
 */
#include <errno.h>
#include <linux/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/io.h"
#include "common/log.h"
#include "common/parse.h"
#include "server/transport.h"
#include "tls/ktls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

/* The largest TLS record's payload. */
#define TLS_RECORD_MAX 16384u
/* TLS record content types, as the kernel reports them for non-data records. */
#define TLS_RECORD_ALERT 21
#define TLS_RECORD_APPLICATION_DATA 23

struct tls_transport {
	struct transport t;
	struct srv_tls *creds; /* a reference, for as long as the session lives */
	struct tls_session *s; /* NULL once the kernel has the keys */
	bool established;
	bool kernel;
	bool key_update_sent, ticket_sent, mid_reply_sent; /* the test hooks, once each */
	uint64_t sent;         /* bytes sent through the session, for the mid-reply hook */
	int error;             /* a failure after some bytes were returned, for the next call */
	size_t held_len;
	uint8_t held[TLS_RECORD_MAX];
	char why[256];
};

static struct tls_transport *tls_of(struct transport *t)
{
	return container_of(t, struct tls_transport, t);
}

/* After how many replies the test hooks act; 0: never. Set once, before the workers start. */
static uint64_t test_key_update_after, test_ticket_after, test_mid_reply_after;

static uint64_t test_hook_env(const char *name)
{
	const char *v = getenv(name);
	uint64_t n;

	if (!v || !*v)
		return 0;
	if (parse_u64(v, &n) < 0) {
		log_warning("Ignoring %s='%s': expected a number of replies", name, v);
		return 0;
	}
	log_notice("Test hook %s=%llu is set", name, (unsigned long long)n);
	return n;
}

void transport_tls_read_test_hooks(void)
{
	test_key_update_after = test_hook_env("NBDM_TLS_TEST_KEY_UPDATE_AFTER");
	test_ticket_after = test_hook_env("NBDM_TLS_TEST_TICKET_AFTER");
	test_mid_reply_after = test_hook_env("NBDM_TLS_TEST_KEY_UPDATE_MID_REPLY");
}

bool transport_tls_test_hooks_set(void)
{
	return test_key_update_after || test_ticket_after;
}

/* One hook: done (fired or failed for good), or not yet (-EAGAIN: GnuTLS wants the same call
 * again, which the next point where every reply has left makes; with nothing queued the socket
 * has room, so in practice it goes at once). */
static int test_hook(struct tls_transport *tt, const char *peer, const char *what, int r)
{
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r < 0)
		log_warning("Connection %s: test hook: sending a %s failed: %s", peer, what,
			    tls_session_error(tt->s));
	else
		log_info("Connection %s: test hook fired: sent a TLS %s", peer, what);
	return 0;
}

void transport_tls_replies_sent(struct transport *t, uint64_t replies, const char *peer)
{
	struct tls_transport *tt = tls_of(t);

	/* Only between records: nothing of a reply may be held half-sent. */
	if (tt->kernel || !tt->established || tt->held_len)
		return;
	if (test_key_update_after && !tt->key_update_sent && replies >= test_key_update_after &&
	    test_hook(tt, peer, "1.3 KeyUpdate", tls_session_key_update(tt->s)) == 0)
		tt->key_update_sent = true;
	if (test_ticket_after && !tt->ticket_sent && replies >= test_ticket_after &&
	    test_hook(tt, peer, "1.3 NewSessionTicket",
		      tls_session_send_ticket(tt->s)) == 0)
		tt->ticket_sent = true;
}

/* Kernel TLS: data records come back as plain bytes; anything else (an alert: close_notify or an
 * error) ends the stream, since the protocol has nothing more to say after it. */
static ssize_t kernel_recv(struct tls_transport *tt, void *buf, size_t len)
{
	char control[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	ssize_t n = recvmsg(tt->t.rfd, &msg, MSG_DONTWAIT);
	struct cmsghdr *cm;

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE &&
	    *(unsigned char *)CMSG_DATA(cm) != TLS_RECORD_APPLICATION_DATA)
		return *(unsigned char *)CMSG_DATA(cm) == TLS_RECORD_ALERT ? 0 : -EPROTO;
	return n;
}

static ssize_t tls_recv(struct transport *t, void *buf, size_t len)
{
	struct tls_transport *tt = tls_of(t);
	size_t got = 0;

	if (tt->kernel)
		return kernel_recv(tt, buf, len);
	if (tt->error)
		return tt->error;
	/* A record at a time: go on while there is room, so that what the session decrypted does
	 * not wait in it unseen. */
	while (got < len) {
		ssize_t n = tls_session_recv(tt->s, (uint8_t *)buf + got, len - got);

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && n != -EAGAIN && got)
			tt->error = (int)n;
		if (got)
			break;
		return n;
	}
	return (ssize_t)got;
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

static ssize_t tls_send(struct transport *t, const struct iovec *iov, int iovcnt, bool more)
{
	struct tls_transport *tt = tls_of(t);
	size_t taken = 0;
	ssize_t n;

	if (tt->kernel) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };

		n = sendmsg(t->wfd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (more ? MSG_MORE : 0));
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
		return n;
	}
	/* Record by record while the socket takes them. Nothing held: the next record's worth of
	 * the caller's bytes (after those already taken) is copied. Something held: those are the
	 * bytes the caller offers next, so they go first, as GnuTLS wants after -EAGAIN. */
	for (;;) {
		if (tt->held_len == 0) {
			size_t skip = taken;

			for (int i = 0; i < iovcnt && tt->held_len < sizeof(tt->held); i++) {
				size_t have = iov[i].iov_len, take;

				if (skip >= have) {
					skip -= have;
					continue;
				}
				take = MIN(have - skip, sizeof(tt->held) - tt->held_len);
				memcpy(tt->held + tt->held_len, (const uint8_t *)iov[i].iov_base + skip,
				       take);
				tt->held_len += take;
				skip = 0;
			}
			if (tt->held_len == 0)
				return (ssize_t)taken;
		}
		n = tls_session_send(tt->s, tt->held, tt->held_len);
		if (n < 0)
			return taken ? (ssize_t)taken : n;
		taken += (size_t)n;
		tt->held_len -= (size_t)n;
		memmove(tt->held, tt->held + n, tt->held_len);
		tt->sent += (size_t)n;
		if (test_mid_reply_after && !tt->mid_reply_sent && tt->established &&
		    tt->sent >= test_mid_reply_after && tt->held_len == 0 &&
		    taken < iov_total(iov, iovcnt) &&
		    test_hook(tt, "(mid-reply)", "1.3 KeyUpdate in the middle of a reply",
			      tls_session_key_update(tt->s)) == 0)
			tt->mid_reply_sent = true;
	}
}

static size_t tls_pending(struct transport *t)
{
	struct tls_transport *tt = tls_of(t);

	return tt->s && !tt->kernel && !tt->error ? tls_session_pending(tt->s) : 0;
}

static int tls_shutdown(struct transport *t)
{
	struct tls_transport *tt = tls_of(t);

	/* A close_notify only ends a session that was established; after a failed handshake
	 * nothing more is sent. The kernel's TLS sends none of its own. */
	if (tt->established && !tt->kernel)
		tls_session_bye(tt->s);
	if (shutdown(t->wfd, SHUT_WR) < 0)
		return negative_errno();
	return 0;
}

static void tls_close(struct transport *t)
{
	struct tls_transport *tt = tls_of(t);

	tls_session_free(tt->s);
	srv_tls_unref(tt->creds);
	safe_close(t->rfd);
	free(tt);
}

static const struct transport_ops tls_ops = {
	.name = "tls",
	.recv = tls_recv,
	.send = tls_send,
	.pending = tls_pending,
	.shutdown = tls_shutdown,
	.close = tls_close,
};

int transport_tls_new(struct transport *plain, struct srv_tls *creds, struct transport **ret)
{
	struct tls_transport *tt;
	int r;

	if (plain->rfd != plain->wfd)
		return -EOPNOTSUPP;
	tt = calloc(1, sizeof(*tt));
	if (!tt)
		return -ENOMEM;
	r = tls_session_new(creds->creds, plain->rfd, &tt->s);
	if (r < 0) {
		free(tt);
		return r;
	}
	tt->t = (struct transport){ .ops = &tls_ops, .rfd = plain->rfd, .wfd = plain->wfd };
	tt->creds = srv_tls_ref(creds);
	/* The socket is the new transport's now; the plain one only goes away. */
	plain->rfd = plain->wfd = -EBADF;
	transport_close(plain);
	*ret = &tt->t;
	return 0;
}

bool transport_is_tls(const struct transport *t)
{
	return t && t->ops == &tls_ops;
}

int transport_tls_handshake(struct transport *t)
{
	struct tls_transport *tt = tls_of(t);
	int r = tls_session_handshake(tt->s);

	if (r == 0)
		tt->established = true;
	return r;
}

bool transport_tls_wants_write(const struct transport *t)
{
	const struct tls_transport *tt = container_of(t, struct tls_transport, t);

	return !tt->established && tls_session_wants_write(tt->s);
}

const char *transport_tls_error(const struct transport *t)
{
	const struct tls_transport *tt = container_of(t, struct tls_transport, t);

	if (tt->why[0])
		return tt->why;
	return tt->s ? tls_session_error(tt->s) : "";
}

void transport_tls_describe(const struct transport *t, char *buf, size_t len)
{
	const struct tls_transport *tt = container_of(t, struct tls_transport, t);

	if (tt->s)
		tls_session_describe(tt->s, buf, len);
	else
		snprintf(buf, len, "kernel TLS");
}

int transport_tls_to_kernel(struct transport *t)
{
	struct tls_transport *tt = tls_of(t);
	int r;

	if (tt->kernel)
		return 0;
	if (!tt->established)
		return -EINVAL;
	if (tt->held_len || tls_session_pending(tt->s)) {
		snprintf(tt->why, sizeof(tt->why), "TLS data is still %s in user space",
			 tt->held_len ? "waiting to be sent" : "waiting to be read");
		return -EBUSY;
	}
	r = tls_session_to_kernel(tt->s);
	if (r < 0) {
		snprintf(tt->why, sizeof(tt->why), "%s", tls_session_error(tt->s));
		return r;
	}
	tt->why[0] = '\0';
	tt->kernel = true;
	tt->s = tls_session_free(tt->s);
	/* The bytes we hand the socket are the protocol's: the kernel encrypts them. */
	t->caps = TRANSPORT_CAN_SENDFILE;
	return 0;
}
