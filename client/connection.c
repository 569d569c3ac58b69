/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/connection.h"
#include "client/local-server.h"
#include "client/transport-tls.h"
#include "client/transport.h"
#include "common/clock.h"
#include "common/io.h"
#include "common/log.h"
#include "tls/tls.h"

/* Keepalive: probe after 10 s of silence, every 5 s, 3 times; unacknowledged data fails after 30 s.
 * A server that vanished without closing is then noticed in well under a minute. */
#define KEEPALIVE_IDLE_S 10
#define KEEPALIVE_INTERVAL_S 5
#define KEEPALIVE_COUNT 3
#define USER_TIMEOUT_MS 30000

const char *client_target_string(const struct client_target *t, char *buf, size_t len)
{
	switch (t->kind) {
	case TARGET_UNIX:
		snprintf(buf, len, "%s", t->socket_path);
		break;
	case TARGET_TCP:
		snprintf(buf, len, strchr(t->host, ':') ? "[%s]:%s" : "%s:%s", t->host,
			 t->port ? t->port : "10809");
		break;
	case TARGET_FD:
		snprintf(buf, len, "the given file descriptor");
		break;
	case TARGET_LOCAL:
		if (t->image_path)
			snprintf(buf, len, "the local server of %s", t->image_path);
		else
			snprintf(buf, len, "the local server of a %" PRIu64 "-byte memory disk",
				 t->memory_size);
		break;
	default:
		snprintf(buf, len, "(no target)");
		break;
	}
	return buf;
}

/* connect() with a deadline: non-blocking connect, then wait for writability. */
static int connect_deadline(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	int err = 0;
	socklen_t errlen = sizeof(err);
	int r;

	if (fd_set_nonblock(fd, true) < 0)
		return negative_errno();
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return negative_errno();
		r = fd_wait_for(fd, POLLOUT, deadline < 0 ? -1 : (int)MAX(deadline - now_ms(), 0));
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
			return negative_errno();
		if (err)
			return -err;
	}
	return fd_set_nonblock(fd, false);
}

static int connect_unix(const char *path, int64_t deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return negative_errno();
	r = connect_deadline(fd, (struct sockaddr *)&sa, sizeof(sa), deadline);
	if (r < 0)
		return r;
	return TAKE_FD(fd);
}

/* *ret_gai (may be NULL): getaddrinfo()'s error when the name did not resolve, for the message. */
/* The address this process last reached a host at. A supervisor started in an initramfs loses the
 * means to resolve names (its /etc/hosts, resolv.conf and NSS modules) at the switch to the real
 * root, and a name server may be down when the server is not: a reconnection that cannot resolve
 * the name tries the address that worked before. */
static struct {
	char *host, *port;
	struct sockaddr_storage addr;
	socklen_t len;
	int family;
} last_good;

static void remember_address(const char *host, const char *port, const struct addrinfo *ai)
{
	if (!last_good.host || strcmp(last_good.host, host) != 0 ||
	    strcmp(last_good.port, port) != 0) {
		char *h = strdup(host), *p = strdup(port);

		if (!h || !p) {
			free(h);
			free(p);
			return;
		}
		free(last_good.host);
		free(last_good.port);
		last_good.host = h;
		last_good.port = p;
	}
	memcpy(&last_good.addr, ai->ai_addr, ai->ai_addrlen);
	last_good.len = ai->ai_addrlen;
	last_good.family = ai->ai_family;
}

/* After a failed lookup: the last address that worked for host and port, as a one-entry list. */
static bool last_address(const char *host, const char *port, struct addrinfo *ret)
{
	if (!last_good.host || strcmp(last_good.host, host) != 0 || strcmp(last_good.port, port) != 0)
		return false;
	*ret = (struct addrinfo){ .ai_family = last_good.family, .ai_socktype = SOCK_STREAM,
				  .ai_addr = (struct sockaddr *)&last_good.addr,
				  .ai_addrlen = last_good.len };
	return true;
}

static int connect_tcp(const char *host, const char *port, int64_t deadline, int *ret_gai)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, cached;
	int r, last = -EHOSTUNREACH;

	port = port ? port : "10809";
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0 && last_address(host, port, &cached)) {
		res = &cached;
	} else if (r != 0) {
		if (ret_gai)
			*ret_gai = r;
		return r == EAI_SYSTEM ? negative_errno() : (r == EAI_NONAME ? -ENXIO : -EHOSTUNREACH);
	}
	/* Every address in turn: a host with an unreachable IPv6 address may answer on IPv4. */
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		_cleanup_close_ int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
						ai->ai_protocol);

		if (fd < 0) {
			last = negative_errno();
			continue;
		}
		r = connect_deadline(fd, ai->ai_addr, ai->ai_addrlen, deadline);
		if (r < 0) {
			last = r;
			if (r == -ETIMEDOUT)
				break;
			continue;
		}
		(void)socket_set_nodelay(fd);
		(void)socket_set_keepalive(fd, KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT);
		(void)socket_set_user_timeout(fd, USER_TIMEOUT_MS);
		if (res != &cached) {
			remember_address(host, port, ai);
			freeaddrinfo(res);
		}
		return TAKE_FD(fd);
	}
	if (res != &cached)
		freeaddrinfo(res);
	return last;
}

static int connect_target(const struct client_target *t, int timeout_ms, int *ret_gai)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	switch (t->kind) {
	case TARGET_UNIX:
		return connect_unix(t->socket_path, deadline);
	case TARGET_TCP:
		return connect_tcp(t->host, t->port, deadline, ret_gai);
	default:
		return -EINVAL;
	}
}

/* A name that does not resolve is the user's to fix, not a network fault: say which name. */
static int resolve_message(const struct client_target *t, int gai, int r, char **ret)
{
	const char *why = gai == EAI_SYSTEM ? strerror(-r) : gai_strerror(gai);

	if (gai == EAI_SERVICE)
		return asprintf(ret, "Cannot resolve port '%s' of host '%s': %s; use a port number "
			       "or a service name from /etc/services", t->port, t->host, why);
	return asprintf(ret, "Cannot resolve host '%s': %s; check the name or use an address",
			t->host, why);
}

int client_negotiate(struct client_transport *t, const struct nbd_neg_config *cfg,
		     const struct tls_creds *tls, int timeout_ms, struct nbd_neg_result **ret,
		     char **ret_message)
{
	char why[512];
	_cleanup_(nbd_neg_freep) struct nbd_neg *n = NULL;
	/* One deadline for the whole handshake: a server that answers each step slowly (or lists
	 * exports one at a time) must not hold the client longer than a silent one. */
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t buf[4096];
	int r;

	r = nbd_neg_new(cfg, &n);
	if (r < 0)
		return r;
	for (;;) {
		int left = deadline < 0 ? -1 : (int)MAX(deadline - now_ms(), 0);
		const void *out;
		size_t len;
		ssize_t got;

		if (left == 0) {
			r = -ETIMEDOUT;
			goto io_error;
		}
		switch (nbd_neg_want(n)) {
		case NBD_NEG_WANT_WRITE:
			out = nbd_neg_output(n, &len);
			r = client_transport_send(t, out, len, left);
			if (r < 0)
				goto io_error;
			nbd_neg_output_done(n, len);
			break;
		case NBD_NEG_WANT_READ:
			len = MIN(nbd_neg_input_wanted(n), sizeof(buf));
			got = client_transport_recv(t, buf, len, left);
			if (got == -ECONNRESET || got == -EPIPE) {
				/* A reset is a close: fine after ABORT (servers that read only part of it
				 * reset the connection), the machine's own failure otherwise. */
				(void)nbd_neg_eof(n);
				break;
			}
			if (got < 0) {
				r = (int)got;
				goto io_error;
			}
			if ((size_t)got < len) {
				/* End of stream: feed what came, then tell the machine. */
				if (got > 0)
					(void)nbd_neg_feed(n, buf, (size_t)got);
				if (nbd_neg_want(n) == NBD_NEG_WANT_READ)
					(void)nbd_neg_eof(n);
				break;
			}
			(void)nbd_neg_feed(n, buf, (size_t)got);
			break;
		case NBD_NEG_WANT_TLS:
			if (!tls)
				return -EINVAL; /* the machine asks only when cfg->tls is set */
			r = client_transport_start_tls(t, tls, left, why, sizeof(why));
			if (r < 0) {
				if (ret_message)
					*ret_message = strdup(why);
				return r;
			}
			log_debug("TLS: %s", t->note);
			nbd_neg_tls_done(n);
			break;
		case NBD_NEG_DONE:
			*ret = nbd_neg_steal_result(n);
			return 0;
		case NBD_NEG_FAILED:
			if (ret_message)
				*ret_message = strdup(nbd_neg_error_message(n));
			return nbd_neg_error(n);
		}
	}
io_error:
	if (ret_message) {
		if (r == -ETIMEDOUT) {
			(void)nbd_neg_timed_out(n);
			bool whole = timeout_ms % 1000 == 0;

			if (asprintf(ret_message, "%s within %d %s; it may be overloaded, or not an "
						  "NBD server (--negotiate-timeout sets how long)",
				     nbd_neg_error_message(n), whole ? timeout_ms / 1000 : timeout_ms,
				     whole ? "s" : "ms") < 0)
				*ret_message = NULL;
		} else if (asprintf(ret_message, "Connection failed during the handshake: %s",
				    client_transport_error(t) ?: strerror(-r)) < 0) {
			*ret_message = NULL;
		}
	}
	return r;
}

/*
 * The credentials loaded last, kept for a connection that cannot read the files again: the
 * supervisor of a root on NBD keeps the initramfs as its root, which is emptied at switch-root, and
 * a file may be replaced or removed meanwhile. Each connection still reads the files first, so a
 * renewed certificate is taken up. Reconnections run in a thread of their own (reconnect-attempt.c),
 * which may be cancelled: the lock covers no cancellation point.
 */
static pthread_mutex_t loaded_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tls_creds *loaded;

/* Keeps c as the credentials loaded last; whether there were none before. */
static bool remember_creds(struct tls_creds *c)
{
	struct tls_creds *before;

	tls_creds_ref(c);
	pthread_mutex_lock(&loaded_lock);
	before = loaded;
	loaded = c;
	pthread_mutex_unlock(&loaded_lock);
	tls_creds_unref(before);
	return !before;
}

/* A reference to the credentials loaded last, or NULL. */
static struct tls_creds *creds_loaded_before(void)
{
	struct tls_creds *c;

	pthread_mutex_lock(&loaded_lock);
	c = tls_creds_ref(loaded);
	pthread_mutex_unlock(&loaded_lock);
	return c;
}

/* The credentials of the target's TLS settings, or NULL (and 0) without TLS. */
static int load_tls(const struct client_target *target, struct tls_creds **ret, char **ret_message)
{
	const struct client_tls *tls = &target->tls;
	struct tls_config cfg = {
		.cacertfile = tls->cacertfile,
		.certfile = tls->certfile,
		.keyfile = tls->keyfile,
		.pskfile = tls->psk_file,
		.username = tls->username,
		/* The name the certificate must carry: -H, else the host connected to. */
		.hostname = tls->hostname ? tls->hostname
			    : target->kind == TARGET_TCP ? target->host : NULL,
		.priority = tls->priority,
		.verify_peer = tls->verify_peer != 0,
	};
	char why[512];
	int r;

	*ret = NULL;
	if (!tls->enabled)
		return 0;
	if (tls->type && strcmp(tls->type, "anon") == 0) {
		*ret_message = strdup("tls-type=anon (anonymous TLS) is not supported: it encrypts "
				      "without knowing who the server is; use a certificate or a PSK");
		return -EOPNOTSUPP;
	}
	if (tls->type && strcmp(tls->type, "psk") == 0 && !tls->psk_file) {
		*ret_message = strdup("tls-type=psk needs the key file: tls-psk-file=FILE");
		return -EINVAL;
	}
	r = tls_creds_load(TLS_CLIENT, &cfg, ret, why, sizeof(why));
	if ((r == -ENOENT || r == -EACCES) && (*ret = creds_loaded_before())) {
		log_notice("%s; this connection uses the credentials read before", why);
		return 0;
	}
	if (r < 0) {
		*ret_message = strdup(why);
		return r;
	}
	/* Said once, not at every reconnection. */
	if (!remember_creds(*ret))
		return 0;
	/* With PSK, the key itself proves the server: there is no certificate to verify. */
	if (!cfg.verify_peer && !cfg.pskfile)
		log_warning("TLS without verifying the server's certificate (tls-verify-peer=0): "
			    "anyone between here and the server can read and change the data");
	else if (cfg.verify_peer && !cfg.pskfile && !cfg.hostname)
		log_notice("The server's certificate is checked against the CAs, not against a name: "
			   "a Unix socket or a descriptor has no host name; give the name it must "
			   "carry with -H (tls-hostname=)");
	return 0;
}

int client_open_export(const struct client_options *o, int given_fd, enum nbd_neg_mode mode,
		       int connect_timeout_ms, int negotiate_timeout_ms, int *ret_fd,
		       struct tls_relay **ret_relay, struct nbd_neg_result **ret_res,
		       char **ret_message)
{
	const struct nbd_neg_config cfg = {
		.mode = mode,
		.export_name = o->target.export_name,
		.no_opt_go = o->no_opt_go,
		.block_size = true,
		.tls = o->target.tls.enabled,
	};
	_cleanup_(client_transport_close) struct client_transport t = CLIENT_TRANSPORT_NONE;
	_cleanup_(tls_creds_unrefp) struct tls_creds *creds = NULL;
	_cleanup_free_ char *reason = NULL;
	/* Without a supervisor to run it, there can be no relay. */
	enum client_ktls ktls = ret_relay ? o->target.tls.ktls : CLIENT_KTLS_YES;
	struct tls_relay *relay = NULL;
	char where[512], why[512];
	int r, fd, gai = 0;

	*ret_message = NULL;
	*ret_res = NULL;
	if (ret_relay)
		*ret_relay = NULL;
	client_target_string(&o->target, where, sizeof(where));
	if (mode == NBD_NEG_ATTACH && !ret_relay && o->target.tls.ktls == CLIENT_KTLS_NO) {
		*ret_message = strdup("--tls-ktls=no needs the supervisor that runs the relay, which "
				      "--fd and -nonetlink attaches do not have; use --tls-ktls=yes");
		return -EINVAL;
	}
	/* Before connecting: a missing certificate is the user's to fix, whatever the server. */
	r = load_tls(&o->target, &creds, ret_message);
	if (r < 0)
		return r;
	if (given_fd >= 0) {
		/* Our own reference, above the standard streams: the caller's stays theirs. */
		fd = fcntl(given_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			r = negative_errno();
			if (asprintf(ret_message, "File descriptor %d (--fd) is not open: %s",
				     given_fd, strerror(-r)) < 0)
				*ret_message = NULL;
			return r;
		}
	} else if (o->target.kind == TARGET_LOCAL) {
		fd = local_server_connect(o, ret_message);
		if (fd < 0 && *ret_message)
			return fd;
	} else {
		fd = connect_target(&o->target, connect_timeout_ms, &gai);
	}
	if (fd < 0) {
		if (gai != 0)
			r = resolve_message(&o->target, gai, fd, ret_message);
		else
			r = asprintf(ret_message, "Cannot connect to %s: %s%s", where,
				     strerror(-fd),
				     fd == -ECONNREFUSED ? " (is an NBD server running there?)"
				     : fd == -ETIMEDOUT ? " (no answer within the connect timeout: is "
							  "the address right and the server up? "
							  "--connect-timeout sets how long)"
							: "");
		if (r < 0)
			*ret_message = NULL;
		return fd;
	}
	client_transport_plain(&t, fd);
	if (mode != NBD_NEG_ATTACH || (!o->negotiated && !o->preinit)) {
		r = client_negotiate(&t, &cfg, creds, negotiate_timeout_ms, ret_res, &reason);
		if (r < 0) {
			if (asprintf(ret_message, "%s: %s", where, reason ? reason : strerror(-r)) < 0)
				*ret_message = NULL;
			return r;
		}
	}
	if (mode != NBD_NEG_ATTACH) {
		/* Nothing follows a query: end the session (TLS's close_notify) and the connection. */
		client_transport_close(&t);
		*ret_fd = -1;
		return 0;
	}
	why[0] = '\0';
	fd = client_transport_release(&t, ktls, &relay, why, sizeof(why));
	if (fd < 0) {
		/* What would carry the session instead: a relay, where a supervisor can run one. */
		const char *instead =
			fd == -EREMOTEIO || !o->target.tls.enabled ? ""
			: ret_relay ? " (--tls-ktls=auto relays it in the supervisor instead)"
				    : " (--fd and -nonetlink attaches have no supervisor to relay it: "
				      "the kernel must hold the session)";

		nbd_neg_result_free(TAKE_PTR(*ret_res));
		if (asprintf(ret_message, "%s: cannot hand the connection to the kernel: %s%s",
			     where, why[0] ? why : strerror(-fd), instead) < 0)
			*ret_message = NULL;
		return fd;
	}
	if (relay && why[0])
		log_notice("%s: %s; the supervisor relays it instead", where, why);
	if (ret_relay)
		*ret_relay = relay;
	*ret_fd = fd;
	return 0;
}

int client_load_tls(const struct client_options *o, char **ret_message)
{
	struct tls_creds *creds = NULL;
	int r;

	*ret_message = NULL;
	r = load_tls(&o->target, &creds, ret_message);
	tls_creds_unref(creds);
	return r;
}

void client_log_exports(const struct client_options *o)
{
	_cleanup_free_ char *message = NULL;
	struct nbd_neg_result *res = NULL;
	size_t shown = 0;
	int fd = -1;

	if (client_open_export(o, -1, NBD_NEG_LIST, 5000, 5000, &fd, NULL, &res, &message) < 0) {
		log_notice("The server does not say which exports it has.");
		return;
	}
	close(fd);
	if (res->n_exports == 0)
		log_notice("The server lists no exports.");
	else
		log_notice("The server has these exports:");
	/* Enough to find the right name without flooding the terminal. */
	for (size_t i = 0; i < res->n_exports && shown < 20; i++, shown++)
		log_notice("  '%s'%s%s", res->exports[i].name, *res->exports[i].description ? ": " : "",
			   res->exports[i].description);
	if (res->n_exports > shown)
		log_notice("  ... and %zu more (nbd-client list)", res->n_exports - shown);
	nbd_neg_result_free(res);
}
