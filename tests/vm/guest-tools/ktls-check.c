/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ktls-check VERSION BITS [CERTDIR]: a TLS connection over loopback between two sessions of tls/
 * (X.509 with the certificates of tests/tls/make-certs.sh in CERTDIR, else PSK),
 * after which the client's session moves into the kernel (tls_session_to_kernel) and the data
 * goes through plain write() and read() on its socket, checked byte for byte on the other side,
 * which stays in GnuTLS. VERSION is 1.2 or 1.3, BITS 128 or 256 (AES-GCM). Records are exchanged
 * through the sessions before the hand-off, so that the kernel starts from sequence numbers other
 * than 0. Exit status 0 when everything arrived intact; otherwise a line on stderr says what failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tls/ktls.h"
#include "tls/tls.h"

#define AMOUNT (256 * 1024)

static int die(const char *what, const char *why)
{
	fprintf(stderr, "ktls-check: %s: %s\n", what, why);
	exit(1);
}

static void wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 10000) != 1)
		die("poll", "nothing happened for 10 s");
}

static void tcp_pair(int *client, int *server)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&a, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("listen", strerror(errno));
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&a, len) < 0)
		die("connect", strerror(errno));
	*server = accept(l, NULL, NULL);
	if (*server < 0)
		die("accept", strerror(errno));
	close(l);
}

/* Sends all of buf through a session on a non-blocking socket. */
static void session_send_all(struct tls_session *s, int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = tls_session_send(s, buf, len);

		if (n == -EAGAIN) {
			wait_for(fd, POLLOUT);
			continue;
		}
		if (n < 0)
			die("send through the session", tls_session_error(s));
		buf += n;
		len -= (size_t)n;
	}
}

static void session_recv_all(struct tls_session *s, int fd, char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = tls_session_recv(s, buf, len);

		if (n == -EAGAIN) {
			wait_for(fd, POLLIN);
			continue;
		}
		if (n <= 0)
			die("receive through the session", n == 0 ? "closed" : tls_session_error(s));
		buf += n;
		len -= (size_t)n;
	}
}

static void fill(char *buf, unsigned mul)
{
	for (size_t i = 0; i < AMOUNT; i++)
		buf[i] = (char)(i * mul + i / 251);
}

int main(int argc, char **argv)
{
	static char out[AMOUNT], in[AMOUNT];
	char priority[160], why[512], desc[96];
	struct tls_creds *cc, *sc;
	struct tls_session *client, *server;
	int cfd, sfd, rc = -EAGAIN, rs = -EAGAIN, status;
	pid_t child;
	FILE *f;

	if (argc != 3 && argc != 4)
		die("usage", "ktls-check 1.2|1.3 128|256 [CERTDIR]");
	f = fopen("/tmp/ktls-check.psk", "w");
	if (!f)
		die("/tmp/ktls-check.psk", strerror(errno));
	fputs("check:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	snprintf(priority, sizeof(priority), "NORMAL:-VERS-ALL:+VERS-TLS%s:-CIPHER-ALL:+AES-%s-GCM",
		 argv[1], argv[2]);
	if (argc == 4) {
		char ca[256], cert[256], key[256];
		struct tls_config c = { .cacertfile = ca, .hostname = "localhost", .verify_peer = true,
					.priority = priority };
		struct tls_config s = { .certfile = cert, .keyfile = key, .priority = priority };

		snprintf(ca, sizeof(ca), "%s/ca.pem", argv[3]);
		snprintf(cert, sizeof(cert), "%s/server.pem", argv[3]);
		snprintf(key, sizeof(key), "%s/server-key.pem", argv[3]);
		if (tls_creds_load(TLS_CLIENT, &c, &cc, why, sizeof(why)) < 0 ||
		    tls_creds_load(TLS_SERVER, &s, &sc, why, sizeof(why)) < 0)
			die("credentials", why);
	} else {
		/* GnuTLS 3.7's keys are SHA-256 ones: TLS 1.3 with AES-256-GCM (SHA-384) needs
		 * X.509. */
		struct tls_config c = { .pskfile = "/tmp/ktls-check.psk", .priority = priority };

		if (tls_creds_load(TLS_CLIENT, &c, &cc, why, sizeof(why)) < 0 ||
		    tls_creds_load(TLS_SERVER, &c, &sc, why, sizeof(why)) < 0)
			die("credentials", why);
	}
	tcp_pair(&cfd, &sfd);
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	fcntl(sfd, F_SETFL, O_NONBLOCK);
	if (tls_session_new(cc, cfd, &client) < 0 || tls_session_new(sc, sfd, &server) < 0)
		die("session", "cannot make one");
	for (int i = 0; i < 10000 && (rc == -EAGAIN || rs == -EAGAIN); i++) {
		if (rc == -EAGAIN)
			rc = tls_session_handshake(client);
		if (rs == -EAGAIN)
			rs = tls_session_handshake(server);
		if (rc == -EAGAIN && rs == -EAGAIN)
			usleep(1000);
	}
	if (rc < 0 || rs < 0)
		die("handshake", rc < 0 ? tls_session_error(client) : tls_session_error(server));
	tls_session_describe(client, desc, sizeof(desc));
	/* A few records first, as the NBD options after STARTTLS would be. */
	session_send_all(client, cfd, "option", 6);
	session_recv_all(server, sfd, in, 6);
	session_send_all(server, sfd, "reply!", 6);
	session_recv_all(client, cfd, in, 6);

	if (tls_session_to_kernel(client) < 0)
		die("hand-off to the kernel", tls_session_error(client));
	fcntl(cfd, F_SETFL, 0);
	fill(out, 7);
	/* The other side, in GnuTLS, in a process of its own so that neither waits for the other's
	 * socket buffer. */
	child = fork();
	if (child < 0)
		die("fork", strerror(errno));
	if (child == 0) {
		session_recv_all(server, sfd, in, sizeof(in));
		if (memcmp(in, out, sizeof(out)) != 0)
			die("client to server (kernel encrypts, GnuTLS decrypts)", "the data differs");
		fill(out, 13);
		session_send_all(server, sfd, out, sizeof(out));
		_exit(0);
	}
	for (size_t done = 0; done < sizeof(out);) {
		ssize_t n = write(cfd, out + done, sizeof(out) - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write() on the kernel's TLS socket", strerror(errno));
		done += (size_t)n;
	}
	fill(out, 13);
	for (size_t done = 0; done < sizeof(in);) {
		ssize_t n = read(cfd, in + done, sizeof(in) - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("read() on the kernel's TLS socket", n == 0 ? "closed" : strerror(errno));
		done += (size_t)n;
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("the GnuTLS side", "failed (see above)");
	if (memcmp(in, out, sizeof(out)) != 0)
		die("server to client (GnuTLS encrypts, the kernel decrypts)", "the data differs");
	printf("%s: %d KiB each way through the kernel's TLS\n", desc, AMOUNT / 1024);
	tls_session_free(client);
	tls_session_free(server);
	tls_creds_unref(cc);
	tls_creds_unref(sc);
	close(cfd);
	close(sfd);
	return 0;
}
