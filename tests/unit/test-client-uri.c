/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NBD URIs and TARGET arguments (client/uri.c).
 *
 * fd 2 is a memfd for each test, so that every refusal is asserted by its message, and tables
 * carry the cases: a failing case is reported by its input.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/target.h"
#include "client/uri.h"
#include "common/log.h"
#include "tests/unit/capture.h"

static struct capture cap = CAPTURE_INIT;

static int setup(void **state _unused_)
{
	unsetenv("NBDM_LOG_LEVEL");
	unsetenv("JOURNAL_STREAM");
	log_close();
	log_open("nbd-client", LOG_TARGET_STDERR);
	if (capture_begin(&cap) < 0)
		return -1;
	return 0;
}

static int teardown(void **state _unused_)
{
	log_close();
	capture_end(&cap);
	return 0;
}

static const char *take_err(void)
{
	return capture_take(&cap, cap.err_fd);
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

typedef int (*parse_fn)(const char *arg, struct client_target *t);

struct good_case {
	const char *input;
	enum target_kind kind;
	const char *host, *port, *socket, *export_name;
	bool tls, abstract;
	const char *user, *tls_hostname, *tls_type, *psk_file;
	int verify; /* tls-verify-peer + 1; 0: not given */
};

static void check_good(const struct good_case *c, parse_fn parse)
{
	struct client_target t = CLIENT_TARGET_INIT;
	int r;

	r = parse(c->input, &t);
	if (r != 0)
		fail_msg("case '%s': returned %d: %s", c->input, r, take_err());
	CASE_CHECK(c->input, t.kind == c->kind);
	CASE_CHECK(c->input, str_eq(t.host, c->host));
	CASE_CHECK(c->input, str_eq(t.port, c->port));
	CASE_CHECK(c->input, str_eq(t.socket_path, c->socket));
	CASE_CHECK(c->input, str_eq(t.export_name, c->export_name));
	CASE_CHECK(c->input, t.tls.enabled == c->tls);
	CASE_CHECK(c->input, t.socket_abstract == c->abstract);
	CASE_CHECK(c->input, str_eq(t.tls.username, c->user));
	CASE_CHECK(c->input, str_eq(t.tls.hostname, c->tls_hostname));
	CASE_CHECK(c->input, str_eq(t.tls.type, c->tls_type));
	CASE_CHECK(c->input, str_eq(t.tls.psk_file, c->psk_file));
	CASE_CHECK(c->input, t.tls.verify_peer == c->verify - 1);
	CASE_CHECK(c->input, strcmp(take_err(), "") == 0);
	client_target_free(&t);
	CASE_CHECK(c->input, t.kind == TARGET_NONE && !t.host && t.tls.verify_peer == -1);
}

#define TCP TARGET_TCP
#define UNIX TARGET_UNIX

static const struct good_case good_uris[] = {
	/* The specification's own examples. */
	{ "nbd://example.com/disk", TCP, "example.com", "10809", .export_name = "disk" },
	{ "nbd+unix:///disk?socket=sock", UNIX, .socket = "sock", .export_name = "disk" },
	{ "nbd://example.com/", TCP, "example.com", "10809", .export_name = "" },
	{ "nbd://example.com", TCP, "example.com", "10809", .export_name = "" },
	{ "nbd://example.com//disk", TCP, "example.com", "10809", .export_name = "/disk" },
	{ "nbd://example.com/hello%20world", TCP, "example.com", "10809",
	  .export_name = "hello world" },
	{ "nbd+unix:///?socket=%00/abstract", UNIX, .socket = "/abstract", .export_name = "",
	  .abstract = true },
	/* Ports, schemes and hosts. */
	{ "nbd://example.com:10810/disk", TCP, "example.com", "10810", .export_name = "disk" },
	{ "nbd://example.com:/disk", TCP, "example.com", "10809", .export_name = "disk" },
	{ "nbd://h:00080/", TCP, "h", "80", .export_name = "" },
	{ "nbds://example.com/disk", TCP, "example.com", "10809", .export_name = "disk",
	  .tls = true },
	{ "NBD://Example.COM/x", TCP, "Example.COM", "10809", .export_name = "x" },
	{ "NbDs+UnIx:///x?socket=/s", UNIX, .socket = "/s", .export_name = "x", .tls = true },
	{ "nbd://192.0.2.1:2000/a/b", TCP, "192.0.2.1", "2000", .export_name = "a/b" },
	{ "nbd://[::1]/disk", TCP, "::1", "10809", .export_name = "disk" },
	{ "nbd://[2001:db8::7]:2000/", TCP, "2001:db8::7", "2000", .export_name = "" },
	{ "nbd://[fe80::1%25eth0]:2000/x", TCP, "fe80::1%eth0", "2000", .export_name = "x" },
	{ "nbd://[::ffff:192.0.2.1]", TCP, "::ffff:192.0.2.1", "10809", .export_name = "" },
	{ "nbd://ex%61mple.com/", TCP, "example.com", "10809", .export_name = "" },
	/* Export names: escapes, reserved characters, UTF-8 encoded and raw. */
	{ "nbd://h/a%2Fb", TCP, "h", "10809", .export_name = "a/b" },
	{ "nbd://h/%C3%A9t%C3%A9", TCP, "h", "10809", .export_name = "\xc3\xa9t\xc3\xa9" },
	{ "nbd://h/caf\xc3\xa9", TCP, "h", "10809", .export_name = "caf\xc3\xa9" },
	{ "nbd://h/a:b@c!$&'()*+,;=", TCP, "h", "10809", .export_name = "a:b@c!$&'()*+,;=" },
	{ "nbd://h/100%25", TCP, "h", "10809", .export_name = "100%" },
	{ "nbd://h/%23x%3F", TCP, "h", "10809", .export_name = "#x?" },
	{ "nbd://h/a+b", TCP, "h", "10809", .export_name = "a+b" },
	/* Userinfo, for TLS PSK. */
	{ "nbd://alice@h/x", TCP, "h", "10809", .export_name = "x", .user = "alice" },
	{ "nbds://al%40ice@[::1]:99/x", TCP, "::1", "99", .export_name = "x", .user = "al@ice",
	  .tls = true },
	/* Unix sockets. */
	{ "nbd+unix:///?socket=nbd.sock", UNIX, .socket = "nbd.sock", .export_name = "" },
	{ "nbd+unix://?socket=/run/s", UNIX, .socket = "/run/s", .export_name = "" },
	{ "nbd+unix:/disk?socket=/s", UNIX, .socket = "/s", .export_name = "disk" },
	{ "nbds+unix:///x?socket=%2Frun%2Fn%20s", UNIX, .socket = "/run/n s", .export_name = "x",
	  .tls = true },
	{ "nbd+unix:///x?socket=/a?b=c", UNIX, .socket = "/a?b=c", .export_name = "x" },
	/* Query: empty parameters are skipped; TLS parameters are kept. */
	{ "nbd://h/x?", TCP, "h", "10809", .export_name = "x" },
	{ "nbd://h/x?&&", TCP, "h", "10809", .export_name = "x" },
	{ "nbd://h/x?tls-type=x509&tls-hostname=srv.example&tls-verify-peer=0", TCP, "h", "10809",
	  .export_name = "x", .tls_hostname = "srv.example", .tls_type = "x509", .verify = 1 },
	{ "nbds+unix:///x?socket=/s&tls-type=psk&tls-verify-peer=1", UNIX, .socket = "/s",
	  .export_name = "x", .tls = true, .tls_type = "psk", .verify = 2 },
	{ "nbd://h/?tls-type=anon", TCP, "h", "10809", .export_name = "", .tls_type = "anon" },
	/* libnbd's names; tls-username wins over the userinfo. */
	{ "nbds://bob@h/x?tls-psk-file=/k.psk&tls-username=alice", TCP, "h", "10809",
	  .export_name = "x", .tls = true, .user = "alice", .psk_file = "/k.psk" },
};

static void test_uri_good(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(good_uris); i++) {
		check_good(&good_uris[i], client_parse_uri);
		/* A URI is a TARGET too. */
		check_good(&good_uris[i], client_parse_target);
	}
}

struct bad_case {
	const char *input;
	const char *message; /* the whole line after "nbd-client: " */
};

#define URI_FORMS "nbd[s]://HOST[:PORT][/EXPORT] or nbd[s]+unix:///[EXPORT]?socket=PATH"
#define QUERY_KEYS \
	"(known: socket, tls-type, tls-hostname, tls-verify-peer, tls-certificates, tls-psk-file, " \
	"tls-username, x-connect-timeout, x-negotiate-timeout)"
#define ESCAPE "'%' must start an escape of two hex digits (write %25 for '%' itself)"

static const struct bad_case bad_uris[] = {
	{ "nbd:", "invalid URI 'nbd:': no host; expected nbd://HOST[:PORT][/EXPORT]" },
	{ "nbd:///disk",
	  "invalid URI 'nbd:///disk': no host; expected nbd://HOST[:PORT][/EXPORT]" },
	{ "nbds://:2000/disk", "invalid URI 'nbds://:2000/disk': no host; expected " URI_FORMS },
	{ "http://h/x",
	  "invalid URI 'http://h/x': unknown scheme 'http': expected nbd, nbds, nbd+unix or "
	  "nbds+unix" },
	{ "nbd+vsock://2:10809/x",
	  "invalid URI 'nbd+vsock://2:10809/x': NBD over vsock is not supported by this "
	  "nbd-client" },
	{ "//h/x", "invalid URI '//h/x': expected " URI_FORMS },
	{ "nbd://h:0/x",
	  "invalid URI 'nbd://h:0/x': invalid port '0': expected a number from 1 to 65535" },
	{ "nbd://h:65536/",
	  "invalid URI 'nbd://h:65536/': invalid port '65536': expected a number from 1 to 65535" },
	{ "nbd://h:nbd/",
	  "invalid URI 'nbd://h:nbd/': invalid port 'nbd': expected a number from 1 to 65535" },
	{ "nbd://::1/x",
	  "invalid URI 'nbd://::1/x': an IPv6 address must be in brackets: "
	  "nbd://[ADDRESS]:PORT/EXPORT" },
	{ "nbd://[::1/x",
	  "invalid URI 'nbd://[::1/x': '[' without a closing ']' around an IPv6 address" },
	{ "nbd://[host]/",
	  "invalid URI 'nbd://[host]/': 'host' in brackets is not an IPv6 address" },
	{ "nbd://[v1.x]/",
	  "invalid URI 'nbd://[v1.x]/': 'v1.x' in brackets is not an IPv6 address" },
	{ "nbd://[::1]x/", "invalid URI 'nbd://[::1]x/': expected ':PORT' or '/EXPORT' after ']'" },
	{ "nbd://h/disk?socket=/s",
	  "invalid URI 'nbd://h/disk?socket=/s': socket= belongs to nbd+unix:// and nbds+unix:// "
	  "URIs, not to nbd://" },
	{ "nbd+unix:///disk",
	  "invalid URI 'nbd+unix:///disk': a nbd+unix URI needs the socket: add ?socket=PATH" },
	{ "nbd+unix://h/disk?socket=/s",
	  "invalid URI 'nbd+unix://h/disk?socket=/s': a nbd+unix URI names no host or port: write "
	  "nbd+unix:///EXPORT?socket=PATH" },
	{ "nbds+unix://:1/?socket=/s",
	  "invalid URI 'nbds+unix://:1/?socket=/s': a nbds+unix URI names no host or port: write "
	  "nbds+unix:///EXPORT?socket=PATH" },
	{ "nbd+unix:///x?socket=",
	  "invalid URI 'nbd+unix:///x?socket=': the socket path is empty" },
	{ "nbd+unix:///x?socket=%00",
	  "invalid URI 'nbd+unix:///x?socket=%00': the socket path is empty" },
	{ "nbd+unix:///x?socket=/a%00b",
	  "invalid URI 'nbd+unix:///x?socket=/a%00b': the socket path contains %00, a NUL "
	  "character" },
	{ "nbd+unix:///x?socket=/a&socket=/b",
	  "invalid URI 'nbd+unix:///x?socket=/a&socket=/b': query parameter 'socket' is given "
	  "twice" },
	{ "nbd://h/a%00b",
	  "invalid URI 'nbd://h/a%00b': the export name contains %00, a NUL character" },
	{ "nbd://h%00x/", "invalid URI 'nbd://h%00x/': the host contains %00, a NUL character" },
	{ "nbd://h/a%zz", "invalid URI 'nbd://h/a%zz': " ESCAPE },
	{ "nbd://h/a%2", "invalid URI 'nbd://h/a%2': " ESCAPE },
	{ "nbd://h/a b", "invalid URI 'nbd://h/a b': the character ' ' must be written as %20" },
	{ "nbd://h/a\"b", "invalid URI 'nbd://h/a\"b': the character '\"' must be written as %22" },
	{ "nbd://h/a\tb",
	  "invalid URI 'nbd://h/a\tb': it contains a control character (write it as %09)" },
	{ "nbd://h/x#frag",
	  "invalid URI 'nbd://h/x#frag': a fragment ('#...') has no meaning in an NBD URI (write "
	  "%23 for a '#' in the export name)" },
	{ "nbd://h/x?foo=bar",
	  "invalid URI 'nbd://h/x?foo=bar': unknown query parameter 'foo' " QUERY_KEYS },
	{ "nbd://h/x?x-foo=1",
	  "invalid URI 'nbd://h/x?x-foo=1': unknown query parameter 'x-foo' " QUERY_KEYS },
	{ "nbd://h/x?tls-type=rsa",
	  "invalid URI 'nbd://h/x?tls-type=rsa': invalid tls-type 'rsa': expected anon, x509 or "
	  "psk" },
	{ "nbd://h/x?tls-verify-peer=yes",
	  "invalid URI 'nbd://h/x?tls-verify-peer=yes': invalid tls-verify-peer 'yes': expected 0 "
	  "or 1" },
	{ "nbd://h/x?tls-hostname=",
	  "invalid URI 'nbd://h/x?tls-hostname=': tls-hostname is empty" },
	{ "nbd://h/x?tls-psk-file=",
	  "invalid URI 'nbd://h/x?tls-psk-file=': tls-psk-file is empty" },
	{ "nbds://h/x?tls-certificates=/nonexistent",
	  "invalid URI 'nbds://h/x?tls-certificates=/nonexistent': tls-certificates=/nonexistent has "
	  "no readable ca-cert.pem (No such file or directory)" },
	{ "nbd://h/x?tls-hostname=a&tls-hostname=b",
	  "invalid URI 'nbd://h/x?tls-hostname=a&tls-hostname=b': query parameter "
	  "'tls-hostname' is given twice" },
	{ "nbd://h/x?x-connect-timeout=soon",
	  "invalid URI 'nbd://h/x?x-connect-timeout=soon': invalid x-connect-timeout 'soon': "
	  "expected a number of seconds" },
	{ "nbd://h/x?x-negotiate-timeout=-1",
	  "invalid URI 'nbd://h/x?x-negotiate-timeout=-1': invalid x-negotiate-timeout '-1': "
	  "expected a number of seconds" },
	{ "nbd://h/x?x-negotiate-timeout=1&x-negotiate-timeout=2",
	  "invalid URI 'nbd://h/x?x-negotiate-timeout=1&x-negotiate-timeout=2': query parameter "
	  "'x-negotiate-timeout' is given twice" },
	{ "nbd://h/x?tls-type",
	  "invalid URI 'nbd://h/x?tls-type': query parameter 'tls-type' has no value (expected "
	  "tls-type=VALUE)" },
	{ "nbd://a@b@h/",
	  "invalid URI 'nbd://a@b@h/': more than one '@' before the host (write %40 for an '@' in "
	  "the user name)" },
};

/* This client's own query parameters: the timeouts reach the target, in seconds. */
static void test_uri_timeouts(void **state)
{
	struct client_target t = CLIENT_TARGET_INIT;

	(void)state;
	assert_int_equal(client_parse_uri("nbd://h/x?x-connect-timeout=7&x-negotiate-timeout=11", &t),
			 0);
	assert_int_equal(t.connect_timeout, 7);
	assert_int_equal(t.negotiate_timeout, 11);
	assert_string_equal(t.export_name, "x");
	client_target_free(&t);
	assert_int_equal(client_parse_uri("nbds+unix:///x?socket=/s&x-negotiate-timeout=3", &t), 0);
	assert_int_equal(t.connect_timeout, 0);
	assert_int_equal(t.negotiate_timeout, 3);
	client_target_free(&t);
	assert_string_equal(take_err(), "");
}

static void check_bad(const struct bad_case *c, parse_fn parse)
{
	struct client_target t = CLIENT_TARGET_INIT;
	char want[8192];
	const char *err;
	int r;

	/* A failure leaves the target as it was. */
	t.kind = TARGET_TCP;
	t.host = strdup("before");
	r = parse(c->input, &t);
	err = take_err();
	if (r != -EINVAL)
		fail_msg("case '%s': returned %d: %s", c->input, r, err);
	snprintf(want, sizeof(want), "nbd-client: %s\n", c->message);
	if (strcmp(err, want) != 0)
		fail_msg("case '%s':\n  expected: %s  got:      %s", c->input, want, err);
	CASE_CHECK(c->input, t.kind == TARGET_TCP && strcmp(t.host, "before") == 0);
	client_target_free(&t);
}

static void test_uri_bad(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(bad_uris); i++) {
		check_bad(&bad_uris[i], client_parse_uri);
		/* "//h/x" and "nbd:" do not look like URIs to client_parse_target(). */
		if (client_is_uri(bad_uris[i].input))
			check_bad(&bad_uris[i], client_parse_target);
	}
}

static void test_uri_limits(void **state _unused_)
{
	struct client_target t = CLIENT_TARGET_INIT;
	char uri[8192], *want;

	/* The longest export name NBD allows, and one more byte. */
	strcpy(uri, "nbd://h/");
	memset(uri + 8, 'e', 4096);
	uri[8 + 4096] = '\0';
	assert_int_equal(client_parse_uri(uri, &t), 0);
	assert_int_equal(strlen(t.export_name), 4096);
	strcat(uri, "e");
	assert_int_equal(client_parse_uri(uri, &t), -EINVAL);
	/* Messages quote a long URI by its first 256 bytes. */
	assert_true(asprintf(&want,
			     "nbd-client: invalid URI '%.256s...': the export name is longer than "
			     "4096 bytes, the most NBD allows\n",
			     uri) > 0);
	assert_string_equal(take_err(), want);
	free(want);

	/* The longest socket path an address holds (107 bytes), and one more. */
	strcpy(uri, "nbd+unix:///?socket=/");
	memset(uri + strlen(uri), 's', 106);
	uri[21 + 106] = '\0';
	assert_int_equal(client_parse_uri(uri, &t), 0);
	assert_int_equal(strlen(t.socket_path), 107);
	strcat(uri, "s");
	assert_int_equal(client_parse_uri(uri, &t), -EINVAL);
	assert_non_null(strstr(take_err(), "the socket path is longer than 107 bytes"));

	/* An abstract name may be as long, its NUL not counted. */
	strcpy(uri, "nbd+unix:///?socket=%00");
	memset(uri + strlen(uri), 'a', 107);
	uri[23 + 107] = '\0';
	assert_int_equal(client_parse_uri(uri, &t), 0);
	assert_true(t.socket_abstract);
	assert_int_equal(strlen(t.socket_path), 107);
	client_target_free(&t);
	assert_string_equal(take_err(), "");
}

/* file: and memory: targets: the local image nbd-client serves itself. */
static void test_local_targets(void **state _unused_)
{
	struct client_target t = CLIENT_TARGET_INIT;
	char dir[] = "/tmp/nbdm-local.XXXXXX", path[64], arg[128], *cwd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/img", dir);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));

	snprintf(arg, sizeof(arg), "file://%s", path);
	assert_int_equal(client_parse_target(arg, &t), 0);
	assert_int_equal(t.kind, TARGET_LOCAL);
	assert_string_equal(t.image_path, path);
	assert_null(t.cow_path);
	assert_string_equal(t.export_name, "image");

	/* file:PATH, relative, with an overlay that need not exist yet: both made absolute. */
	cwd = getcwd(NULL, 0);
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(client_parse_target("file:img?cow=over.cow", &t), 0);
	assert_string_equal(t.image_path, path);
	snprintf(arg, sizeof(arg), "%s/over.cow", dir);
	assert_string_equal(t.cow_path, arg);
	assert_int_equal(chdir(cwd), 0);
	free(cwd);

	assert_int_equal(client_parse_target("memory:64M", &t), 0);
	assert_int_equal(t.kind, TARGET_LOCAL);
	assert_null(t.image_path);
	assert_int_equal(t.memory_size, 64u << 20);
	assert_string_equal(take_err(), "");

	/* Refusals leave the target as it was and say why. */
	assert_int_equal(client_parse_target("memory:lots", &t), -EINVAL);
	assert_non_null(strstr(take_err(), "invalid memory disk 'memory:lots'"));
	assert_int_equal(client_parse_target("file://host/img", &t), -EINVAL);
	assert_non_null(strstr(take_err(), "without a host: file:///PATH"));
	snprintf(arg, sizeof(arg), "file://%s?size=1G", path);
	assert_int_equal(client_parse_target(arg, &t), -EINVAL);
	assert_non_null(strstr(take_err(), "the only query a file: target takes is cow="));
	assert_int_equal(client_parse_target("file:///nonexistent/img", &t), -ENOENT);
	assert_non_null(strstr(take_err(), "Cannot use the image /nonexistent/img"));
	assert_int_equal(t.memory_size, 64u << 20);

	client_target_free(&t);
	unlink(path);
	rmdir(dir);
}

static void test_is_uri(void **state _unused_)
{
	assert_true(client_is_uri("nbd://h"));
	assert_true(client_is_uri("nbds://h/x"));
	assert_true(client_is_uri("http://h"));
	assert_true(client_is_uri("nbd+unix:///x?socket=s"));
	assert_true(client_is_uri("nbd+unix:/x?socket=s"));
	assert_false(client_is_uri("nbd:10809"));
	assert_false(client_is_uri("host:10809"));
	assert_false(client_is_uri("host"));
	assert_false(client_is_uri("::1"));
	assert_false(client_is_uri("[::1]:2000"));
	assert_false(client_is_uri("/run/nbd.sock"));
	assert_false(client_is_uri("./x://y"));
	assert_false(client_is_uri("1nbd://h"));
	assert_false(client_is_uri(""));
}

static const struct good_case good_targets[] = {
	{ "host", TCP, "host", "10809", .export_name = "" },
	{ "nbd.example.com", TCP, "nbd.example.com", "10809", .export_name = "" },
	{ "host:2000", TCP, "host", "2000", .export_name = "" },
	{ "host:nbd", TCP, "host", "nbd", .export_name = "" },
	{ "nbd:10809", TCP, "nbd", "10809", .export_name = "" },
	{ "192.0.2.1:2000", TCP, "192.0.2.1", "2000", .export_name = "" },
	{ "192.0.2.1", TCP, "192.0.2.1", "10809", .export_name = "" },
	{ "[::1]:2000", TCP, "::1", "2000", .export_name = "" },
	{ "[::1]", TCP, "::1", "10809", .export_name = "" },
	{ "[fe80::1%eth0]:7", TCP, "fe80::1%eth0", "7", .export_name = "" },
	{ "::1", TCP, "::1", "10809", .export_name = "" },
	{ "2001:db8::1", TCP, "2001:db8::1", "10809", .export_name = "" },
	{ "fe80::1%eth0", TCP, "fe80::1%eth0", "10809", .export_name = "" },
	{ "::ffff:192.0.2.1", TCP, "::ffff:192.0.2.1", "10809", .export_name = "" },
	{ "/run/nbd.sock", UNIX, .socket = "/run/nbd.sock", .export_name = "" },
	{ "./nbd.sock", UNIX, .socket = "./nbd.sock", .export_name = "" },
	{ "../dir/nbd.sock", UNIX, .socket = "../dir/nbd.sock", .export_name = "" },
	{ "/dev/nbd0", UNIX, .socket = "/dev/nbd0", .export_name = "" },
	{ "nbd://h:2/e", TCP, "h", "2", .export_name = "e" },
	{ "nbd+unix:/e?socket=/s", UNIX, .socket = "/s", .export_name = "e" },
};

static void test_target_good(void **state _unused_)
{
	for (size_t i = 0; i < ELEMENTSOF(good_targets); i++)
		check_good(&good_targets[i], client_parse_target);
}

#define TARGET_FORMS "expected HOST, HOST:PORT, [IPV6]:PORT, a socket path or an NBD URI"
#define PORT_FORMS "expected a port number from 1 to 65535 or a service name"

static const struct bad_case bad_targets[] = {
	{ "", "invalid target '': " TARGET_FORMS },
	{ "-host", "invalid target '-host': " TARGET_FORMS },
	{ "a host", "invalid target 'a host': " TARGET_FORMS },
	{ "h@x", "invalid target 'h@x': " TARGET_FORMS },
	{ ":2000", "invalid target ':2000': " TARGET_FORMS },
	{ "host:", "invalid target 'host:': nothing after ':' (leave the ':' out for port 10809)" },
	{ "host:0", "invalid port '0' in 'host:0': " PORT_FORMS },
	{ "host:65536", "invalid port '65536' in 'host:65536': " PORT_FORMS },
	{ "host:12ab", "invalid port '12ab' in 'host:12ab': " PORT_FORMS },
	{ "host:a_b", "invalid port 'a_b' in 'host:a_b': " PORT_FORMS },
	{ "[::1]:",
	  "invalid target '[::1]:': nothing after ':' (leave the ':' out for port 10809)" },
	{ "[::1",
	  "invalid target '[::1': '[' without a closing ']'; expected [ADDRESS] or "
	  "[ADDRESS]:PORT" },
	{ "[host]:1", "invalid target '[host]:1': 'host' in brackets is not an IPv6 address" },
	{ "[::1]x", "invalid target '[::1]x': expected ':PORT' or nothing after ']'" },
	{ "a:b:c",
	  "invalid target 'a:b:c': not an IPv6 address (write [ADDRESS]:PORT to give an IPv6 "
	  "address a port)" },
	{ "::1:99999",
	  "invalid target '::1:99999': not an IPv6 address (write [ADDRESS]:PORT to give an IPv6 "
	  "address a port)" },
	{ "dir/nbd.sock", "invalid target 'dir/nbd.sock': a Unix socket path starts with / or ./" },
	{ "nbd+unix:///x",
	  "invalid URI 'nbd+unix:///x': a nbd+unix URI needs the socket: add ?socket=PATH" },
};

static void test_target_bad(void **state _unused_)
{
	char path[256], want[512];
	struct client_target t = CLIENT_TARGET_INIT;

	for (size_t i = 0; i < ELEMENTSOF(bad_targets); i++)
		check_bad(&bad_targets[i], client_parse_target);

	path[0] = '/';
	memset(path + 1, 'p', 107);
	path[108] = '\0';
	assert_int_equal(client_parse_target(path, &t), -EINVAL);
	snprintf(want, sizeof(want),
		 "nbd-client: socket path '%s' is longer than 107 bytes, the most a Unix socket "
		 "address holds\n",
		 path);
	assert_string_equal(take_err(), want);
	path[107] = '\0';
	assert_int_equal(client_parse_target(path, &t), 0);
	assert_int_equal(t.kind, TARGET_UNIX);
	client_target_free(&t);
}

/* A parse replaces everything the target held before. */
static void test_target_replaced(void **state _unused_)
{
	struct client_target t = CLIENT_TARGET_INIT;

	assert_int_equal(client_parse_uri("nbds://u@h:1/x?tls-type=psk&tls-hostname=n", &t), 0);
	assert_int_equal(client_parse_target("/s", &t), 0);
	assert_int_equal(t.kind, TARGET_UNIX);
	assert_null(t.host);
	assert_null(t.port);
	assert_null(t.tls.username);
	assert_null(t.tls.type);
	assert_null(t.tls.hostname);
	assert_false(t.tls.enabled);
	assert_string_equal(t.socket_path, "/s");
	assert_int_equal(client_parse_target("h", &t), 0);
	assert_null(t.socket_path);
	assert_string_equal(t.host, "h");
	client_target_free(&t);
	assert_string_equal(take_err(), "");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_uri_good),
		TEST(test_uri_timeouts),
		TEST(test_uri_bad),
		TEST(test_uri_limits),
		TEST(test_is_uri),
		TEST(test_local_targets),
		TEST(test_target_good),
		TEST(test_target_bad),
		TEST(test_target_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
