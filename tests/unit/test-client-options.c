/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The options model (client/options.c): defaults, the merge of layers (defaults < nbdtab line <
 * command line) and the TLS settings. Links libnbdm-clientopts alone, as the nbdtab test does:
 * no command-line parser is needed to read nbdtab and merge options.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/nbdtab.h"
#include "client/options.h"
#include "common/log.h"
#include "common/macro.h"

static void test_defaults(void **state _unused_)
{
	struct client_options o;

	client_options_init(&o);
	assert_int_equal(o.command, CLIENT_ATTACH);
	assert_int_equal(o.connections, 1);
	assert_int_equal(o.given, 0);
	assert_int_equal(o.target.kind, TARGET_NONE);
	assert_false(o.target.tls.enabled);
	assert_int_equal(o.target.tls.verify_peer, -1);
	assert_int_equal(o.target.tls.given, 0);
	assert_string_equal(o.nbdtab_path, NBDTAB_PATH);
	client_options_free(&o);
}

static void test_later_layer_wins(void **state _unused_)
{
	struct client_options o, line;

	client_options_init(&o);
	client_options_init(&line);
	o.timeout = 5;
	o.swap = true;
	line.block_size = 4096;
	line.connections = 4;
	line.identifier = strdup("line");
	line.persist = true;
	line.given = CLIENT_GIVEN_BLOCK_SIZE | CLIENT_GIVEN_CONNECTIONS | CLIENT_GIVEN_IDENTIFIER;
	client_options_merge(&o, &line, line.given);
	assert_int_equal(o.block_size, 4096);
	assert_int_equal(o.connections, 4);
	assert_string_equal(o.identifier, "line");
	assert_null(line.identifier); /* moved, not copied */
	/* What the layer does not give stays; flags are turned on from either. */
	assert_int_equal(o.timeout, 5);
	assert_true(o.swap && o.persist);
	assert_int_equal(o.given, line.given);
	client_options_free(&o);
	client_options_free(&line);
}

static void test_earlier_layer_kept(void **state _unused_)
{
	struct client_options cmdline, line;

	/* The command line over its nbdtab line: the line fills only what the command line left. */
	client_options_init(&cmdline);
	client_options_init(&line);
	cmdline.timeout = 5;
	cmdline.identifier = strdup("cmdline");
	cmdline.given = CLIENT_GIVEN_TIMEOUT | CLIENT_GIVEN_IDENTIFIER;
	line.timeout = 30;
	line.dead_timeout = 60;
	line.identifier = strdup("line");
	line.read_only = true;
	line.given = CLIENT_GIVEN_TIMEOUT | CLIENT_GIVEN_DEAD_TIMEOUT | CLIENT_GIVEN_IDENTIFIER;
	client_options_merge(&cmdline, &line, line.given & ~cmdline.given);
	assert_int_equal(cmdline.timeout, 5);
	assert_int_equal(cmdline.dead_timeout, 60);
	assert_string_equal(cmdline.identifier, "cmdline");
	assert_true(cmdline.read_only);
	client_options_free(&cmdline);
	client_options_free(&line);
}

static void test_tls_merge(void **state _unused_)
{
	struct client_tls tls = CLIENT_TLS_INIT, uri = CLIENT_TLS_INIT, cmdline = CLIENT_TLS_INIT;

	uri.enabled = true;
	uri.hostname = strdup("uri.example");
	uri.username = strdup("alice");
	uri.verify_peer = 0;
	uri.given = CLIENT_TLS_HOSTNAME | CLIENT_TLS_USERNAME | CLIENT_TLS_VERIFY_PEER;
	client_tls_merge(&tls, &uri, uri.given);
	cmdline.cacertfile = strdup("/ca.pem");
	cmdline.hostname = strdup("cmd.example");
	cmdline.given = CLIENT_TLS_CACERTFILE | CLIENT_TLS_HOSTNAME;
	client_tls_merge(&tls, &cmdline, cmdline.given);

	assert_true(tls.enabled);
	assert_string_equal(tls.hostname, "cmd.example");
	assert_string_equal(tls.cacertfile, "/ca.pem");
	assert_string_equal(tls.username, "alice");
	assert_int_equal(tls.verify_peer, 0);
	assert_null(tls.certfile);
	assert_int_equal(tls.given, uri.given | cmdline.given);
	client_tls_free(&tls);
	client_tls_free(&uri);
	client_tls_free(&cmdline);
	assert_int_equal(tls.verify_peer, -1);
	assert_null(tls.hostname);
}

static void test_tls_finish(void **state _unused_)
{
	struct client_tls tls = CLIENT_TLS_INIT;

	assert_int_equal(client_tls_finish(&tls), 0);
	assert_false(tls.enabled);

	/* A key alone is a file with both the certificate and the key, as in the reference. */
	tls.keyfile = strdup("/both.pem");
	assert_int_equal(client_tls_finish(&tls), 0);
	assert_true(tls.enabled);
	assert_string_equal(tls.certfile, "/both.pem");
	client_tls_free(&tls);

	tls.keyfile = strdup("/key.pem");
	tls.certfile = strdup("/cert.pem");
	assert_int_equal(client_tls_finish(&tls), 0);
	assert_string_equal(tls.certfile, "/cert.pem");
	client_tls_free(&tls);

	tls.psk_file = strdup("/keys.psk");
	assert_int_equal(client_tls_finish(&tls), 0);
	assert_true(tls.enabled);
	client_tls_free(&tls);
}

/* The whole order, as nbd-client nbd0 -t 5 -H cmd.example applies it. */
static void test_defaults_nbdtab_cmdline(void **state _unused_)
{
	char path[] = "/tmp/nbdm-options-XXXXXX";
	const char line[] = "nbd0 host exp timeout=30,bs=4096,tlshostname=tab.example,"
			    "cacertfile=/tab-ca.pem,persist\n";
	struct client_options tab, cmdline;
	struct client_tls cmd_tls = CLIENT_TLS_INIT;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, sizeof(line) - 1), (ssize_t)sizeof(line) - 1);
	close(fd);

	client_options_init(&tab);
	assert_int_equal(nbdtab_apply(path, "nbd0", &tab), 0);
	unlink(path);
	assert_int_equal(tab.given, CLIENT_GIVEN_TIMEOUT | CLIENT_GIVEN_BLOCK_SIZE);
	assert_int_equal(tab.target.tls.given, CLIENT_TLS_HOSTNAME | CLIENT_TLS_CACERTFILE);
	assert_true(tab.target.tls.enabled);

	client_options_init(&cmdline);
	cmdline.timeout = 5;
	cmdline.given = CLIENT_GIVEN_TIMEOUT;
	cmd_tls.hostname = strdup("cmd.example");
	cmd_tls.given = CLIENT_TLS_HOSTNAME;

	cmdline.target = tab.target;
	tab.target = (struct client_target)CLIENT_TARGET_INIT;
	client_options_merge(&cmdline, &tab, tab.given & ~cmdline.given);
	client_tls_merge(&cmdline.target.tls, &cmd_tls, cmd_tls.given);
	assert_int_equal(client_tls_finish(&cmdline.target.tls), 0);

	assert_int_equal(cmdline.timeout, 5);           /* command line */
	assert_int_equal(cmdline.block_size, 4096);     /* nbdtab */
	assert_int_equal(cmdline.connections, 1);       /* default */
	assert_true(cmdline.persist);                   /* nbdtab's flag */
	assert_string_equal(cmdline.target.host, "host");
	assert_string_equal(cmdline.target.export_name, "exp");
	assert_string_equal(cmdline.target.tls.hostname, "cmd.example");
	assert_string_equal(cmdline.target.tls.cacertfile, "/tab-ca.pem");
	assert_true(cmdline.target.tls.enabled);
	client_tls_free(&cmd_tls);
	client_options_free(&cmdline);
	client_options_free(&tab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_later_layer_wins),
		cmocka_unit_test(test_earlier_layer_kept),
		cmocka_unit_test(test_tls_merge),
		cmocka_unit_test(test_tls_finish),
		cmocka_unit_test(test_defaults_nbdtab_cmdline),
	};

	log_open("nbd-client", LOG_TARGET_STDERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
