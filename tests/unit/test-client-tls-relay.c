/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS relay (client/tls-relay.c) between a real TLS server session and the "kernel's" end of
 * its socketpair, played here by the test: bytes both ways, more than its buffers hold; a TLS 1.3
 * key update and a TLS 1.2 session carried through; and how a connection ends (the server's
 * close_notify, the device letting its end go), each with its sentence.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/tls-relay.h"
#include "common/io.h"
#include "common/macro.h"
#include "tls/session.h" /* the server's GnuTLS session, to send a key update */
#include "tls/tls.h"
#include "tests/unit/tls-material.h"

struct rig {
	struct tls_creds *cc, *sc;
	struct tls_session *server;
	struct tls_relay *relay;
	int server_fd;
	int kernel_fd; /* the end the nbd driver would have */
};

static void rig_free(struct rig *g)
{
	tls_relay_free(g->relay);
	tls_session_free(g->server);
	tls_creds_unref(g->cc);
	tls_creds_unref(g->sc);
	safe_close(g->server_fd);
	safe_close(g->kernel_fd);
}

/* A finished handshake over a non-blocking socket pair, then the client's side to a relay. */
static void rig_up(struct rig *g, const char *priority)
{
	struct tls_config c = { .cacertfile = tls_path("ca.pem"), .hostname = "localhost",
				.verify_peer = true, .priority = priority };
	struct tls_config s = { .certfile = tls_path("server.pem"),
				.keyfile = tls_path("server-key.pem") };
	struct tls_session *client = NULL;
	int fd[2], cr = -EAGAIN, sr = -EAGAIN;
	char why[256];

	*g = (struct rig){ .server_fd = -1, .kernel_fd = -1 };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
	g->server_fd = fd[1];
	assert_int_equal(tls_creds_load(TLS_CLIENT, &c, &g->cc, why, sizeof(why)), 0);
	assert_int_equal(tls_creds_load(TLS_SERVER, &s, &g->sc, why, sizeof(why)), 0);
	assert_int_equal(tls_session_new(g->cc, fd[0], &client), 0);
	assert_int_equal(tls_session_new(g->sc, fd[1], &g->server), 0);
	for (int i = 0; i < 1000 && (cr == -EAGAIN || sr == -EAGAIN); i++) {
		if (cr == -EAGAIN)
			cr = tls_session_handshake(client);
		if (sr == -EAGAIN)
			sr = tls_session_handshake(g->server);
	}
	assert_int_equal(cr, 0);
	assert_int_equal(sr, 0);
	assert_int_equal(tls_relay_new(client, fd[0], &g->relay, &g->kernel_fd), 0);
	assert_int_equal(fd_set_nonblock(g->kernel_fd, true), 0);
}

static unsigned char pattern(size_t i, unsigned seed)
{
	return (unsigned char)((i * 131 + seed) ^ (i >> 9));
}

/* Sends n patterned bytes from the "kernel" and from the server at once, pumping the relay, and
 * checks that each side receives exactly the other's bytes. */
static void both_ways(struct rig *g, size_t n, unsigned seed)
{
	size_t k_sent = 0, k_got = 0, s_sent = 0, s_got = 0, s_retry = 0;
	unsigned char buf[8192];

	for (int rounds = 0; rounds < 100000 && (k_got < n || s_got < n); rounds++) {
		ssize_t r;

		if (k_sent < n) {
			size_t len = MIN(n - k_sent, sizeof(buf));

			for (size_t i = 0; i < len; i++)
				buf[i] = pattern(k_sent + i, seed);
			r = send(g->kernel_fd, buf, len, MSG_DONTWAIT);
			if (r > 0)
				k_sent += (size_t)r;
		}
		if (s_sent < n) {
			/* GnuTLS wants the same length offered again after "again". */
			size_t len = s_retry ? s_retry : MIN(n - s_sent, sizeof(buf));

			for (size_t i = 0; i < len; i++)
				buf[i] = pattern(s_sent + i, seed + 1);
			r = tls_session_send(g->server, buf, len);
			s_retry = r == -EAGAIN ? len : 0;
			if (r > 0)
				s_sent += (size_t)r;
			else
				assert_int_equal(r, -EAGAIN);
		}
		assert_int_equal(tls_relay_pump(g->relay), 0);
		r = tls_session_recv(g->server, buf, sizeof(buf));
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				assert_int_equal(buf[i], pattern(s_got + (size_t)i, seed));
			s_got += (size_t)r;
		} else {
			assert_int_equal(r, -EAGAIN);
		}
		r = recv(g->kernel_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				assert_int_equal(buf[i], pattern(k_got + (size_t)i, seed + 1));
			k_got += (size_t)r;
		}
	}
	assert_int_equal(s_got, n);
	assert_int_equal(k_got, n);
}

static void test_both_ways(void **state _unused_)
{
	struct rig g;
	uint64_t sent = 0, received = 0;

	rig_up(&g, NULL);
	/* Several times the relay's buffers each way, so that a full buffer holds back its source. */
	both_ways(&g, 1536 * 1024, 7);
	assert_int_equal(tls_relay_records(g.relay, &sent, &received), 0);
	/* At most 16 KiB a record: the counts say the records were the session's own. */
	assert_true(sent >= 1536 * 1024 / 16384);
	assert_true(received >= 1536 * 1024 / 16384);
	rig_free(&g);
}

static void test_key_update(void **state _unused_)
{
	struct rig g;

	rig_up(&g, NULL);
	both_ways(&g, 64 * 1024, 1);
	/* The record the kernel's TLS cannot read: the relay's GnuTLS takes it, and answers it
	 * (GNUTLS_KU_PEER asks the other side to update its own key too). */
	assert_int_equal(gnutls_session_key_update(g.server->g, GNUTLS_KU_PEER), 0);
	both_ways(&g, 256 * 1024, 2);
	assert_int_equal(gnutls_session_key_update(g.server->g, 0), 0);
	both_ways(&g, 64 * 1024, 3);
	rig_free(&g);
}

/* Server records behind a key update reach the driver in the same pump: nothing else will wake
 * an edge-triggered loop for them. */
static void test_records_after_key_update(void **state _unused_)
{
	struct rig g;
	char buf[16];

	rig_up(&g, NULL);
	assert_int_equal(tls_session_key_update(g.server), 0);
	assert_int_equal(tls_session_send(g.server, "hello", 5), 5);
	assert_int_equal(tls_relay_pump(g.relay), 0);
	assert_int_equal(recv(g.kernel_fd, buf, sizeof(buf), MSG_DONTWAIT), 5);
	assert_memory_equal(buf, "hello", 5);
	rig_free(&g);
}

/* The driver's bytes go out exactly once even when the server asks for a key update while they
 * wait for room on the socket (GnuTLS, told "again", would send them twice). */
static void test_key_update_while_sending(void **state _unused_)
{
	const size_t total = 512 * 1024;
	unsigned char buf[8192];
	size_t sent = 0, got = 0;
	struct rig g;

	rig_up(&g, NULL);
	/* Fill the way to the server without the server reading. */
	for (int i = 0; i < 1000 && sent < total; i++) {
		size_t len = MIN(total - sent, sizeof(buf));
		ssize_t n;

		for (size_t j = 0; j < len; j++)
			buf[j] = pattern(sent + j, 9);
		n = send(g.kernel_fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			sent += (size_t)n;
		assert_int_equal(tls_relay_pump(g.relay), 0);
	}
	assert_int_equal(gnutls_session_key_update(g.server->g, GNUTLS_KU_PEER), 0);
	for (int i = 0; i < 100000 && got < total; i++) {
		ssize_t n;

		if (sent < total) {
			size_t len = MIN(total - sent, sizeof(buf));

			for (size_t j = 0; j < len; j++)
				buf[j] = pattern(sent + j, 9);
			n = send(g.kernel_fd, buf, len, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
		}
		assert_int_equal(tls_relay_pump(g.relay), 0);
		n = tls_session_recv(g.server, buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t j = 0; j < n; j++)
				assert_int_equal(buf[j], pattern(got + (size_t)j, 9));
			got += (size_t)n;
		}
	}
	assert_int_equal(got, total);
	/* And not one byte more. */
	assert_int_equal(tls_relay_pump(g.relay), 0);
	assert_int_equal(tls_session_recv(g.server, buf, sizeof(buf)), -EAGAIN);
	rig_free(&g);
}

/* What the driver wrote last before letting its end go (NBD_CMD_DISC) reaches the server. */
static void test_last_words_reach_server(void **state _unused_)
{
	char buf[64];
	struct rig g;

	rig_up(&g, NULL);
	assert_int_equal(send(g.kernel_fd, "disconnect-request-28-bytes!", 28, 0), 28);
	g.kernel_fd = safe_close(g.kernel_fd);
	assert_int_equal(tls_relay_pump(g.relay), -ESHUTDOWN);
	g.relay = tls_relay_free(g.relay);
	assert_int_equal(tls_session_recv(g.server, buf, sizeof(buf)), 28);
	assert_memory_equal(buf, "disconnect-request-28-bytes!", 28);
	assert_int_equal(tls_session_recv(g.server, buf, sizeof(buf)), 0);
	rig_free(&g);
}

/* Ending a relay reads what the driver wrote last: disconnecting a device, the supervisor frees the
 * relay right after the kernel wrote its NBD_CMD_DISC, with no pump in between. */
static void test_last_words_at_free(void **state _unused_)
{
	char buf[64];
	struct rig g;

	rig_up(&g, NULL);
	both_ways(&g, 1000, 2);
	assert_int_equal(send(g.kernel_fd, "disconnect-request-28-bytes!", 28, 0), 28);
	g.relay = tls_relay_free(g.relay);
	assert_int_equal(tls_session_recv(g.server, buf, sizeof(buf)), 28);
	assert_memory_equal(buf, "disconnect-request-28-bytes!", 28);
	assert_int_equal(tls_session_recv(g.server, buf, sizeof(buf)), 0);
	rig_free(&g);
}

static void test_tls12(void **state _unused_)
{
	struct rig g;

	rig_up(&g, "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM");
	both_ways(&g, 300 * 1024, 4);
	rig_free(&g);
}

static void test_server_ends_session(void **state _unused_)
{
	struct rig g;

	rig_up(&g, NULL);
	both_ways(&g, 1000, 5);
	tls_session_bye(g.server);
	assert_int_equal(tls_relay_pump(g.relay), -ECONNRESET);
	assert_string_equal(tls_relay_error(g.relay), "the server ended the TLS session");
	rig_free(&g);
}

static void test_server_vanishes(void **state _unused_)
{
	struct rig g;
	int r;

	rig_up(&g, NULL);
	g.server_fd = safe_close(g.server_fd);
	r = tls_relay_pump(g.relay);
	assert_true(r < 0);
	assert_non_null(strstr(tls_relay_error(g.relay), "TLS from the server failed"));
	rig_free(&g);
}

static void test_device_lets_go(void **state _unused_)
{
	struct rig g;

	rig_up(&g, NULL);
	g.kernel_fd = safe_close(g.kernel_fd);
	assert_int_equal(tls_relay_pump(g.relay), -ESHUTDOWN);
	assert_string_equal(tls_relay_error(g.relay), "the device let the connection go");
	/* Ending the relay ends the session cleanly: the server reads a close_notify. */
	g.relay = tls_relay_free(g.relay);
	assert_int_equal(tls_session_recv(g.server, &(char){ 0 }, 1), 0);
	rig_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_ways),
		cmocka_unit_test(test_key_update),
		cmocka_unit_test(test_records_after_key_update),
		cmocka_unit_test(test_key_update_while_sending),
		cmocka_unit_test(test_last_words_reach_server),
		cmocka_unit_test(test_last_words_at_free),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_server_ends_session),
		cmocka_unit_test(test_server_vanishes),
		cmocka_unit_test(test_device_lets_go),
	};

	return cmocka_run_group_tests(tests, tls_material_make, tls_material_remove);
}
