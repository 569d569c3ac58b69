/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The main thread: accepts connections, hands them to workers, watches signals, and decides when the
 * server is done (SIGTERM/SIGINT, or the last connection closing in oneshot and stdio modes).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/fd-passing.h"
#include "common/io.h"
#include "common/log.h"
#include "common/sockaddr-name.h"
#include "server/server.h"

/* Clients past the connection limit still get their handshake, so that they learn why they are
 * refused; this many of them at once, and further ones are closed at once. */
#define HANDSHAKE_SLACK 16

struct live *server_live(struct server *srv)
{
	struct live *l;

	pthread_mutex_lock(&srv->live_lock);
	l = live_ref(srv->live);
	pthread_mutex_unlock(&srv->live_lock);
	return l;
}

int server_listen(struct server *srv, const struct server_config *config, int argc, char **argv)
{
	*srv = (struct server){ .config = config, .argc = argc, .argv = argv, .epfd = -EBADF };
	srv->signals.fd = srv->closed.fd = srv->inbox.fd = -EBADF;
	pthread_mutex_init(&srv->live_lock, NULL);
	slots_init(&srv->slots);
	peer_counts_init(&srv->peers);
	if (config->stdio || config->n_client_fds || config->accept_fds_given)
		return 0;
	return listeners_open(&srv->listeners, config);
}

int server_open_exports(struct server *srv)
{
	int r = live_open(srv->config, NULL, NULL, &srv->live);

	if (r < 0)
		return r;
	srv->live->tls = TAKE_PTR(srv->tls);
	if (srv->live->tls)
		log_info("TLS: %s%s", srv->live->tls->kind,
			 server_config_tls_required(srv->config) ? ", required for every export" : "");
	return 0;
}

bool server_socket_activated(const struct server *srv)
{
	return srv->listeners.n && strncmp(srv->listeners.items[0].name, "activated", 9) == 0;
}

/* The workers' worker_host callbacks. */
static struct live *host_live(void *userdata)
{
	return server_live(userdata);
}

static void host_closed(void *userdata, const struct sockaddr_storage *peer)
{
	struct server *srv = userdata;
	uint64_t one = 1;

	peer_counts_give(&srv->peers, peer);
	atomic_fetch_sub(&srv->connections, 1);
	/* The main thread decides whether that was the last one. */
	if (srv->closed.fd >= 0)
		(void)!write(srv->closed.fd, &one, sizeof(one));
}

/* Hands a connection to a worker, counting it (and its address) as open until the worker says it
 * is gone. -EUSERS: its address has max_per_address connections already (0: no limit), the number
 * in *ret_count. */
static int adopt(struct server *srv, int rfd, int wfd, const struct sockaddr_storage *peer,
		 socklen_t peer_len, unsigned max_per_address, unsigned *ret_count)
{
	int r;

	r = peer_counts_take(&srv->peers, peer, max_per_address, ret_count);
	if (r < 0)
		return r;
	atomic_fetch_add(&srv->connections, 1);
	r = worker_adopt(&srv->workers, rfd, wfd, peer, peer_len);
	if (r < 0) {
		atomic_fetch_sub(&srv->connections, 1);
		peer_counts_give(&srv->peers, peer);
	}
	return r;
}

/* A listening socket in the main loop. */
struct acceptor {
	struct loop_source src;
	struct server *srv;
};

static void accept_dispatch(struct loop_source *s, uint32_t events)
{
	struct server *srv = container_of(s, struct acceptor, src)->srv;

	for (int burst = 0; burst < 64; burst++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		const struct server_config *cfg = srv->live->config;
		unsigned count = 0;
		int r, fd = accept4(s->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);

		if (fd < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (errno == EMFILE || errno == ENFILE)
				log_warning("Cannot accept a connection: too many open files; raise the "
					    "limit (ulimit -n) or lower --max-connections");
			return;
		}
		if (srv->stopping) {
			safe_close(fd);
			continue;
		}
		/* The allow lists and the limits are applied in the handshake, where the client can
		 * be told why (ERR_POLICY); only a flood past the limit is cut off here, and an
		 * address past its own limit, counted from here so that the connections it leaves
		 * in their handshake count too. */
		if (cfg->max_connections &&
		    atomic_load(&srv->connections) >= cfg->max_connections + HANDSHAKE_SLACK) {
			log_notice("Refused a connection: the server has its maximum of %u connections "
				   "and %u more in their handshake", cfg->max_connections,
				   HANDSHAKE_SLACK);
			safe_close(fd);
			continue;
		}
		r = adopt(srv, fd, fd, &peer, len, cfg->max_connections_per_address, &count);
		if (r == -EUSERS) {
			char who[INET6_ADDRSTRLEN + 16];

			log_notice("Refused a connection from %s: that address has %u connections "
				   "open, its maximum (--max-connections-per-address, "
				   "max_connections_per_address)",
				   sockaddr_name(&peer, len, who, sizeof(who)), count);
			safe_close(fd);
			continue;
		}
		srv->accepted++;
		if (r < 0)
			safe_close(fd);
	}
}

/* A connected socket given to the server (--fd, --accept-fds) becomes a connection of its own. */
static int adopt_given(struct server *srv, int fd, const char *origin)
{
	struct sockaddr_storage peer = { 0 };
	socklen_t len = sizeof(peer);
	int r;

	/* Not connected: a listening socket, or one whose client is gone already. */
	if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
		return log_error_errno(errno, "%s %d: not a connected socket: %m", origin, fd);
	(void)fd_set_cloexec(fd, true);
	srv->accepted++;
	r = adopt(srv, fd, fd, &peer, len, 0, NULL);
	if (r < 0)
		return log_error_errno(r, "Failed to serve the socket of %s %d: %m", origin, fd);
	return 0;
}

static int adopt_client_fds(struct server *srv)
{
	const struct server_config *cfg = srv->config;

	for (size_t i = 0; i < cfg->n_client_fds; i++) {
		int r = adopt_given(srv, cfg->client_fds[i], "--fd");

		if (r < 0)
			return r;
	}
	return 0;
}

/* Servers that end with their last connection: --oneshot and --stdio once one came, --fd, and
 * --accept-fds once its socket closed too (no more can come). */
static bool last_connection_gone(const struct server *srv)
{
	const struct server_config *cfg = srv->config;

	if (atomic_load(&srv->connections) != 0)
		return false;
	if (cfg->accept_fds_given)
		return srv->inbox.fd < 0;
	return (cfg->oneshot || cfg->stdio || cfg->n_client_fds) && srv->accepted;
}

static void inbox_dispatch(struct loop_source *s, uint32_t events)
{
	struct server *srv = container_of(s, struct server, inbox);

	for (;;) {
		int fd, r = fd_receive(s->fd, &fd);

		if (r == -EAGAIN)
			return;
		if (r == 1) {
			if (srv->stopping || adopt_given(srv, fd, "--accept-fds") < 0)
				safe_close(fd);
			continue;
		}
		if (r < 0)
			log_warning("Receiving a socket on --accept-fds %d failed: %s; no more "
				    "connections will come", s->fd, strerror(-r));
		/* The sender is gone: serve what is open, then exit. */
		(void)epoll_ctl(srv->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->fd = safe_close(s->fd);
		if (last_connection_gone(srv)) {
			log_info("No connection is left and none can come; exiting");
			srv->stopping = true;
		}
		return;
	}
}

static void signal_dispatch(struct loop_source *s, uint32_t events)
{
	struct server *srv = container_of(s, struct server, signals);
	struct signalfd_siginfo si;

	while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("Received %s: finishing requests in flight and exiting",
				   strsignal((int)si.ssi_signo));
			srv->stopping = true;
			break;
		case SIGHUP:
			server_reload(srv);
			break;
		default:
			break;
		}
	}
}

static void closed_dispatch(struct loop_source *s, uint32_t events)
{
	struct server *srv = container_of(s, struct server, closed);
	uint64_t count;

	(void)!read(s->fd, &count, sizeof(count));
	if (last_connection_gone(srv)) {
		log_info("The last connection closed; exiting");
		srv->stopping = true;
	}
}

static int watch(struct server *srv, struct loop_source *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };

	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? negative_errno() : 0;
}

/* Threads for blocking I/O: enough to keep a few disk requests in flight per worker. */
#define POOL_THREADS 8

static unsigned default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
}

int server_run(struct server *srv)
{
	const struct server_config *cfg = srv->config;
	unsigned threads = cfg->threads ? cfg->threads : default_threads();
	_cleanup_free_ struct acceptor *acceptors = NULL;
	sigset_t mask;
	int r;

	daemon_signal_mask(&mask);
	/* Blocked before the workers start, so that only the signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0)
		return log_error_errno(errno, "Failed to create the event loop: %m");
	srv->signals = (struct loop_source){ .dispatch = signal_dispatch,
					     .fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK) };
	srv->closed = (struct loop_source){ .dispatch = closed_dispatch,
					    .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	if (srv->signals.fd < 0 || srv->closed.fd < 0)
		return log_error_errno(errno, "Failed to set up signal handling: %m");
	if (watch(srv, &srv->signals) < 0 || watch(srv, &srv->closed) < 0)
		return log_error_errno(errno, "Failed to set up the event loop: %m");

	acceptors = calloc(srv->listeners.n, sizeof(*acceptors));
	if (!acceptors && srv->listeners.n)
		return log_oom();
	for (size_t i = 0; i < srv->listeners.n; i++) {
		acceptors[i] = (struct acceptor){
			.src = { .fd = srv->listeners.items[i].fd, .dispatch = accept_dispatch },
			.srv = srv,
		};
		r = watch(srv, &acceptors[i].src);
		if (r < 0)
			return log_error_errno(r, "Failed to watch %s: %m", srv->listeners.items[i].name);
	}

	r = pool_start(&srv->pool, POOL_THREADS);
	if (r < 0)
		return log_error_errno(r, "Failed to start the I/O threads: %m");
	srv->host = (struct worker_host){
		.pool = &srv->pool,
		.slots = &srv->slots,
		.live = host_live,
		.closed = host_closed,
		.userdata = srv,
	};
	r = workers_start(&srv->workers, &srv->host, cfg->stdio ? 1 : threads);
	if (r < 0) {
		workers_stop(&srv->workers);
		pool_stop(&srv->pool);
		return r;
	}
	if (cfg->stdio) {
		srv->accepted = 1;
		r = adopt(srv, STDIN_FILENO, STDOUT_FILENO, &(struct sockaddr_storage){ 0 }, 0, 0, NULL);
		if (r < 0) {
			workers_stop(&srv->workers);
			pool_stop(&srv->pool);
			return log_error_errno(r, "Failed to serve stdin: %m");
		}
	}
	r = adopt_client_fds(srv);
	if (r == 0 && cfg->accept_fds_given) {
		srv->inbox = (struct loop_source){ .fd = cfg->accept_fds, .dispatch = inbox_dispatch };
		(void)fd_set_nonblock(srv->inbox.fd, true);
		(void)fd_set_cloexec(srv->inbox.fd, true);
		r = watch(srv, &srv->inbox);
		if (r < 0)
			log_error_errno(r, "Failed to watch --accept-fds %d: %m", srv->inbox.fd);
	}
	if (r < 0) {
		workers_stop(&srv->workers);
		pool_stop(&srv->pool);
		return r;
	}

	while (!srv->stopping) {
		struct epoll_event events[16];
		int n = epoll_wait(srv->epfd, events, (int)ELEMENTSOF(events), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = log_error_errno(errno, "Event loop failed: %m");
			break;
		}
		for (int i = 0; i < n; i++) {
			struct loop_source *s = events[i].data.ptr;

			s->dispatch(s, events[i].events);
		}
	}
	/* No new clients; workers send the replies they owe, flush, and close. */
	listeners_close(&srv->listeners, cfg);
	/* Workers first: they wait for their connections' jobs, which the pool still runs. */
	workers_stop(&srv->workers);
	pool_stop(&srv->pool);
	return r < 0 ? r : 0;
}

void server_free(struct server *srv)
{
	live_unref(srv->live);
	srv->live = NULL;
	srv->tls = srv_tls_unref(srv->tls);
	slots_free(&srv->slots);
	peer_counts_free(&srv->peers);
	pthread_mutex_destroy(&srv->live_lock);
	listeners_close(&srv->listeners, srv->config);
	srv->epfd = safe_close(srv->epfd);
	srv->signals.fd = safe_close(srv->signals.fd);
	srv->closed.fd = safe_close(srv->closed.fd);
	srv->inbox.fd = safe_close(srv->inbox.fd);
}
