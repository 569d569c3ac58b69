/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Real TLS between a client and a server session of tls/, over a non-blocking socket pair, with
 * certificates and PSK files made at test time by tests/tls/make-certs.sh (certtool, psktool):
 * what must be accepted (X.509 with and without client certificates, TLS 1.2 and 1.3, PSK), what
 * must be refused, and the sentence each refusal leaves for the log.
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

#include "common/macro.h"
#include "tls/tls.h"
#include "tests/unit/tls-material.h"

struct pair {
	int fd[2];
	struct tls_creds *cc, *sc;
	struct tls_session *client, *server;
	int client_r, server_r;
	char why[512];
};

static void pair_free(struct pair *p)
{
	tls_session_free(p->client);
	tls_session_free(p->server);
	tls_creds_unref(p->cc);
	tls_creds_unref(p->sc);
	close(p->fd[0]);
	close(p->fd[1]);
}

/* test_sessions_keep_creds(): the loader drops its credentials once the sessions exist. */
static bool drop_creds;

/* Loads both sides' credentials (asserting success) and runs both handshakes to their end, one
 * step each in turn, as two event loops would. */
static void handshake(struct pair *p, const struct tls_config *client,
		      const struct tls_config *server)
{
	bool client_done = false, server_done = false;

	*p = (struct pair){ .client_r = -EAGAIN, .server_r = -EAGAIN };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
	assert_int_equal(tls_creds_load(TLS_CLIENT, client, &p->cc, p->why, sizeof(p->why)), 0);
	assert_int_equal(tls_creds_load(TLS_SERVER, server, &p->sc, p->why, sizeof(p->why)), 0);
	assert_int_equal(tls_session_new(p->cc, p->fd[0], &p->client), 0);
	assert_int_equal(tls_session_new(p->sc, p->fd[1], &p->server), 0);
	if (drop_creds) {
		p->cc = tls_creds_unref(p->cc);
		p->sc = tls_creds_unref(p->sc);
	}
	for (int i = 0; i < 1000 && !(client_done && server_done); i++) {
		if (!client_done) {
			p->client_r = tls_session_handshake(p->client);
			client_done = p->client_r != -EAGAIN;
		}
		if (!server_done) {
			p->server_r = tls_session_handshake(p->server);
			server_done = p->server_r != -EAGAIN;
		}
		/* A side that failed has sent its alert; the other then fails too, or would wait
		 * forever for a message that never comes. */
		if ((client_done && p->client_r < 0) || (server_done && p->server_r < 0)) {
			for (int j = 0; j < 10; j++) {
				if (!client_done && (p->client_r = tls_session_handshake(p->client)) != -EAGAIN)
					client_done = true;
				if (!server_done && (p->server_r = tls_session_handshake(p->server)) != -EAGAIN)
					server_done = true;
			}
			break;
		}
	}
}

/* Data both ways once the handshake is done. */
static void exchange(struct pair *p)
{
	char buf[64];

	assert_int_equal(tls_session_send(p->client, "request", 7), 7);
	assert_int_equal(tls_session_recv(p->server, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "request", 7);
	assert_int_equal(tls_session_send(p->server, "reply", 5), 5);
	/* Two records, read a byte at a time: the rest waits inside the session, not the socket. */
	assert_int_equal(tls_session_send(p->server, "more", 4), 4);
	assert_int_equal(tls_session_recv(p->client, buf, 1), 1);
	assert_int_equal(tls_session_pending(p->client), 4);
	assert_int_equal(tls_session_recv(p->client, buf + 1, 4), 4);
	assert_memory_equal(buf, "reply", 5);
	assert_int_equal(tls_session_recv(p->client, buf, sizeof(buf)), 4);
	assert_int_equal(tls_session_recv(p->client, buf, sizeof(buf)), -EAGAIN);
}

static struct tls_config server_x509(void)
{
	return (struct tls_config){ .certfile = tls_path("server.pem"),
				    .keyfile = tls_path("server-key.pem") };
}

static struct tls_config client_x509(const char *ca, const char *host)
{
	return (struct tls_config){ .cacertfile = tls_path(ca), .hostname = host, .verify_peer = true };
}

static void test_x509(void **state _unused_)
{
	struct tls_config c = client_x509("ca.pem", "localhost"), s = server_x509();
	struct pair p;
	char what[128];

	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	exchange(&p);
	tls_session_describe(p.client, what, sizeof(what));
	assert_string_equal(what, "TLS1.3, AES-256-GCM, X.509");
	pair_free(&p);

	/* The certificate names 127.0.0.1 too, and an address is checked as an address. */
	c.hostname = "127.0.0.1";
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	pair_free(&p);
}

/* A session holds its credentials: a relay outlives the connect that loaded them, and the loader
 * drops its reference when it returns. */
static void test_sessions_keep_creds(void **state _unused_)
{
	struct tls_config c = client_x509("ca.pem", "localhost"), s = server_x509();
	struct pair p;

	drop_creds = true;
	handshake(&p, &c, &s);
	drop_creds = false;
	assert_null(p.cc);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	exchange(&p);
	pair_free(&p);
}

static void test_tls12(void **state _unused_)
{
	struct tls_config c = client_x509("ca.pem", "localhost"), s = server_x509();
	struct pair p;
	char what[128];

	c.priority = "NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-GCM";
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	exchange(&p);
	tls_session_describe(p.client, what, sizeof(what));
	assert_string_equal(what, "TLS1.2, AES-128-GCM, X.509");
	pair_free(&p);
}

static void refused(const char *ca, const char *host, const char *cert, const char *key,
		    const char *reason)
{
	struct tls_config c = client_x509(ca, host), s = server_x509();
	struct pair p;

	s.certfile = tls_path(cert);
	s.keyfile = tls_path(key);
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, -EACCES);
	assert_true(p.server_r < 0);
	if (!strstr(tls_session_error(p.client), reason))
		fail_msg("'%s' does not say '%s'", tls_session_error(p.client), reason);
	pair_free(&p);
}

static void test_refusals(void **state _unused_)
{
	refused("other-ca.pem", "localhost", "server.pem", "server-key.pem", "issuer is unknown");
	refused("ca.pem", "localhost", "wrongname.pem", "wrongname-key.pem",
		"does not match the expected");
	refused("ca.pem", "localhost", "expired.pem", "expired-key.pem", "expired");
	refused("ca.pem", "elsewhere.example", "server.pem", "server-key.pem",
		"does not match the expected");
	/* A certificate issued to a client (its key for TLS clients only) does not make a server,
	 * even where there is no name to check: a Unix socket, a descriptor. */
	refused("ca.pem", NULL, "client.pem", "client-key.pem", "intended purpose");
	refused("ca.pem", "localhost", "client.pem", "client-key.pem", "intended purpose");
}

/* Verification off: anything goes, as asked. */
static void test_no_verify(void **state _unused_)
{
	struct tls_config c = client_x509("other-ca.pem", "nowhere.example"), s = server_x509();
	struct pair p;

	c.verify_peer = false;
	s.certfile = tls_path("expired.pem");
	s.keyfile = tls_path("expired-key.pem");
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	pair_free(&p);
}

static void test_client_certificates(void **state _unused_)
{
	struct tls_config c = client_x509("ca.pem", "localhost"), s = server_x509();
	struct pair p;

	/* A server with a CA requires a certificate signed by it. */
	s.cacertfile = tls_path("ca.pem");
	handshake(&p, &c, &s);
	assert_int_equal(p.server_r, -EACCES);
	assert_non_null(strstr(tls_session_error(p.server), "no certificate"));
	/* In TLS 1.3 the client is done before the server has looked at its (missing) certificate:
	 * the refusal reaches it as an alert in place of the first record. */
	if (p.client_r == 0) {
		char buf[8];
		ssize_t r = tls_session_recv(p.client, buf, sizeof(buf));

		assert_true(r < 0 && r != -EAGAIN);
		/* The alert is named, with what the client can do about it. */
		if (!strstr(tls_session_error(p.client), "Certificate is required") ||
		    !strstr(tls_session_error(p.client), "-F and -K"))
			fail_msg("'%s' does not name the alert and the remedy",
				 tls_session_error(p.client));
	} else {
		assert_true(p.client_r < 0);
	}
	pair_free(&p);

	/* A server's certificate does not pass for a client's. */
	c.certfile = tls_path("server.pem");
	c.keyfile = tls_path("server-key.pem");
	handshake(&p, &c, &s);
	assert_int_equal(p.server_r, -EACCES);
	if (!strstr(tls_session_error(p.server), "intended purpose"))
		fail_msg("'%s' does not say 'intended purpose'", tls_session_error(p.server));
	pair_free(&p);

	c.certfile = tls_path("client.pem");
	c.keyfile = tls_path("client-key.pem");
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	exchange(&p);
	pair_free(&p);

	/* -K alone, as the reference allows: the key file holds the certificate too. */
	{
		char both[160], cmd[400];

		snprintf(both, sizeof(both), "%s/both.pem", tls_dir);
		snprintf(cmd, sizeof(cmd), "cat %s %s > %s", tls_path("client.pem"), tls_path("client-key.pem"),
			 both);
		assert_int_equal(system(cmd), 0);
		c.certfile = NULL;
		c.keyfile = both;
		handshake(&p, &c, &s);
		assert_int_equal(p.client_r, 0);
		pair_free(&p);
	}
}

static void test_psk(void **state _unused_)
{
	struct tls_config c = { .pskfile = tls_path("psk.txt"), .username = "alice" };
	struct tls_config s = { .pskfile = tls_path("psk.txt") };
	struct pair p;
	char what[128];

	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	assert_int_equal(p.server_r, 0);
	exchange(&p);
	tls_session_describe(p.server, what, sizeof(what));
	assert_non_null(strstr(what, "PSK"));
	pair_free(&p);

	/* The first user of the file when none is named. */
	c.username = NULL;
	handshake(&p, &c, &s);
	assert_int_equal(p.client_r, 0);
	pair_free(&p);

	/* Under TLS 1.3 (the default) and 1.2, both sides say that the keys may differ. */
	c.pskfile = tls_path("other-psk.txt");
	for (int tls12 = 0; tls12 <= 1; tls12++) {
		c.priority = tls12 ? "NORMAL:-VERS-ALL:+VERS-TLS1.2" : NULL;
		s.priority = c.priority;
		handshake(&p, &c, &s);
		assert_true(p.client_r < 0);
		assert_true(p.server_r < 0);
		if (!strstr(tls_session_error(p.client), "PSK") &&
		    !strstr(tls_session_error(p.client), "pre-shared keys"))
			fail_msg("TLS 1.%d client: '%s' says nothing of the keys", tls12 ? 2 : 3,
				 tls_session_error(p.client));
		if (!strstr(tls_session_error(p.server), "pre-shared keys"))
			fail_msg("TLS 1.%d server: '%s' says nothing of the keys", tls12 ? 2 : 3,
				 tls_session_error(p.server));
		pair_free(&p);
	}
}

static void load_fails(enum tls_role role, const struct tls_config *cfg, int err, const char *words)
{
	struct tls_creds *c = NULL;
	char why[512] = "";

	int r = tls_creds_load(role, cfg, &c, why, sizeof(why));

	if (err)
		assert_int_equal(r, err);
	else
		assert_true(r < 0);
	assert_null(c);
	if (!strstr(why, words))
		fail_msg("'%s' does not say '%s'", why, words);
}

static void test_load_errors(void **state _unused_)
{
	struct tls_config cfg = { .cacertfile = "/nonexistent/ca.pem", .verify_peer = true };

	load_fails(TLS_CLIENT, &cfg, -ENOENT, "/nonexistent/ca.pem");
	cfg = (struct tls_config){ .verify_peer = true };
	load_fails(TLS_SERVER, &cfg, -EINVAL, "needs a certificate");
	cfg = server_x509();
	cfg.keyfile = tls_path("client-key.pem"); /* not the certificate's key */
	load_fails(TLS_SERVER, &cfg, 0, "client-key.pem");
	cfg = server_x509();
	cfg.priority = "NORMAL:+NO-SUCH-THING";
	load_fails(TLS_SERVER, &cfg, -EINVAL, "priority string");
	cfg = (struct tls_config){ .pskfile = tls_path("psk.txt"), .username = "bob" };
	load_fails(TLS_CLIENT, &cfg, -ESRCH, "no key for user 'bob'");
	/* A PSK file that is not there is said to be missing, not to lack the key. */
	cfg = (struct tls_config){ .pskfile = "/nonexistent/psk.txt", .username = "alice" };
	load_fails(TLS_CLIENT, &cfg, -ENOENT, "/nonexistent/psk.txt: No such file or directory");
}

static void test_psk_file(void **state _unused_)
{
	char *user = NULL, *hex = NULL, bad[160];
	FILE *f;

	assert_int_equal(tls_psk_lookup(tls_path("psk.txt"), "alice", &user, &hex), 0);
	assert_string_equal(user, "alice");
	assert_int_equal(strlen(hex), 64);
	free(user);
	free(hex);
	assert_int_equal(tls_psk_lookup(tls_path("psk.txt"), "bob", &user, &hex), -ESRCH);
	assert_int_equal(tls_psk_lookup("/nonexistent/psk", NULL, &user, &hex), -ENOENT);
	snprintf(bad, sizeof(bad), "%s/bad-psk.txt", tls_dir);
	f = fopen(bad, "w");
	assert_non_null(f);
	fputs("alice:not-hex\n", f);
	fclose(f);
	assert_int_equal(tls_psk_lookup(bad, "alice", &user, &hex), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x509),
		cmocka_unit_test(test_sessions_keep_creds),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_no_verify),
		cmocka_unit_test(test_client_certificates),
		cmocka_unit_test(test_psk),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_psk_file),
	};

	return cmocka_run_group_tests(tests, tls_material_make, tls_material_remove);
}
