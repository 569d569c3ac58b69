/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NBD URIs as TARGET arguments (uri.h), per the NBD URI specification (doc/uri.md of the NBD
 * project); the other forms of TARGET are target.c's.
 *
 * The URI parser is strict where the specification asks for it: every NBD URI must also be a valid
 * RFC 3986 URI, a query parameter the client does not understand is to be diagnosed (an error here,
 * x- experimental ones included, but for this client's own x-connect-timeout= and
 * x-negotiate-timeout=), and a +unix scheme must have socket=.
 * Where the specification leaves a choice to the client, the choice is an error that says what to
 * write instead: a host in a +unix URI, a URI without a host for TCP, a fragment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "client/uri.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"

/* The longest URI quoted whole in a message. */
#define SHOWN_MAX 256

#define URI_FORMS                                                                                  \
	"nbd[s]://HOST[:PORT][/EXPORT] or nbd[s]+unix:///[EXPORT]?socket=PATH"

static const char *const tls_types[] = { "anon", "x509", "psk" };

static bool is_scheme_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '-' || c == '.';
}

/* Length of the RFC 3986 scheme at the start of s, including the ':', or 0 if there is none. */
static size_t scheme_length(const char *s)
{
	size_t n = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while (is_scheme_char(s[n]))
		n++;
	return s[n] == ':' ? n + 1 : 0;
}

bool client_is_uri(const char *arg)
{
	size_t n = scheme_length(arg);

	/* "host:port" also starts like a scheme; "//" after it, or a '+' that no host name
	 * contains, tells a URI apart. */
	return n > 0 && (strncmp(arg + n, "//", 2) == 0 || memchr(arg, '+', n));
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Characters RFC 3986 allows nowhere unencoded: controls, space and "<>\"{}|\\^`". Bytes from 0x80
 * up are let through, as browsers and most URI libraries do for UTF-8 export names.
 */
static bool is_forbidden(unsigned char c)
{
	return c < 0x20 || c == 0x7f || strchr(" <>\"{}|\\^`", c);
}

/* Checks the characters of a whole URI before it is taken apart, so that each message names one;
 * shown is the URI as messages quote it. */
static int check_characters(const char *uri, const char *shown)
{
	for (const char *p = uri; *p; p++) {
		if (is_forbidden((unsigned char)*p)) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				log_error("invalid URI '%s': it contains a control character "
					  "(write it as %%%02X)", shown, (unsigned char)*p);
			else
				log_error("invalid URI '%s': the character '%c' must be written as "
					  "%%%02X", shown, *p, (unsigned char)*p);
			return -EINVAL;
		}
		if (*p == '%' && (hex_value(p[1]) < 0 || hex_value(p[2]) < 0)) {
			log_error("invalid URI '%s': '%%' must start an escape of two hex digits "
				  "(write %%25 for '%%' itself)", shown);
			return -EINVAL;
		}
	}
	return 0;
}

/* Decodes %XX escapes of s[0..n) into a new string; *ret_len tells embedded NULs apart. */
static int percent_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
	char *out = malloc(n + 1), *w = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		/* check_characters() has made sure that two hex digits follow. */
		if (s[i] == '%') {
			*w++ = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	*ret = out;
	if (ret_len)
		*ret_len = (size_t)(w - out);
	return 0;
}

/* Decodes a component that may not contain NUL; what names it for the message. */
static int decode_text(const char *uri, const char *what, const char *s, size_t n, char **ret)
{
	_cleanup_free_ char *v = NULL;
	size_t len;

	if (percent_decode(s, n, &v, &len) < 0)
		return log_oom();
	if (strlen(v) != len) {
		log_error("invalid URI '%s': the %s contains %%00, a NUL character", uri, what);
		return -EINVAL;
	}
	*ret = TAKE_PTR(v);
	return 0;
}

/* A URI's port: digits only (RFC 3986), where a TARGET's may also be a service name. */
static int set_port(struct client_target *t, const char *s)
{
	if (s[strspn(s, "0123456789")] != '\0')
		return -EINVAL;
	return client_parse_port(s, &t->port);
}

struct uri_query {
	char *socket;
	size_t socket_len;
	char *tls_hostname;
	char *tls_type;
	char *tls_certificates;   /* a directory: ca-cert.pem, client-cert.pem, client-key.pem */
	char *tls_psk_file;
	char *tls_username;
	int tls_verify_peer;
	uint32_t connect_timeout, negotiate_timeout;
	bool have_connect_timeout, have_negotiate_timeout;
};

static void uri_query_free(struct uri_query *q)
{
	free(q->socket);
	free(q->tls_hostname);
	free(q->tls_type);
	free(q->tls_certificates);
	free(q->tls_psk_file);
	free(q->tls_username);
}

/* The query parameters that take any non-empty text, as libnbd names them. */
static char **text_param(struct uri_query *q, const char *key)
{
	if (strcmp(key, "tls-hostname") == 0)
		return &q->tls_hostname;
	if (strcmp(key, "tls-certificates") == 0)
		return &q->tls_certificates;
	if (strcmp(key, "tls-psk-file") == 0)
		return &q->tls_psk_file;
	if (strcmp(key, "tls-username") == 0)
		return &q->tls_username;
	return NULL;
}

static int query_param(const char *uri, struct uri_query *q, const char *param, size_t n)
{
	_cleanup_free_ char *key = NULL, *value = NULL;
	const char *eq = memchr(param, '=', n);
	size_t klen = eq ? (size_t)(eq - param) : n;
	int r;

	r = decode_text(uri, "query", param, klen, &key);
	if (r < 0)
		return r;
	if (!eq) {
		log_error("invalid URI '%s': query parameter '%s' has no value (expected %s=VALUE)",
			  uri, key, key);
		return -EINVAL;
	}

	if (strcmp(key, "socket") == 0) {
		if (q->socket)
			goto twice;
		/* The one value that may hold a NUL: the first byte of an abstract socket name. */
		if (percent_decode(eq + 1, n - klen - 1, &q->socket, &q->socket_len) < 0)
			return log_oom();
		return 0;
	}

	r = decode_text(uri, "query", eq + 1, n - klen - 1, &value);
	if (r < 0)
		return r;
	if (text_param(q, key)) {
		char **slot = text_param(q, key);

		if (*slot)
			goto twice;
		if (*value == '\0') {
			log_error("invalid URI '%s': %s is empty", uri, key);
			return -EINVAL;
		}
		*slot = TAKE_PTR(value);
		return 0;
	}
	if (strcmp(key, "tls-type") == 0) {
		if (q->tls_type)
			goto twice;
		for (size_t i = 0; i < ELEMENTSOF(tls_types); i++)
			if (strcmp(value, tls_types[i]) == 0) {
				q->tls_type = TAKE_PTR(value);
				return 0;
			}
		log_error("invalid URI '%s': invalid tls-type '%s': expected anon, x509 or psk",
			  uri, value);
		return -EINVAL;
	}
	if (strcmp(key, "tls-verify-peer") == 0) {
		if (q->tls_verify_peer >= 0)
			goto twice;
		if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
			log_error("invalid URI '%s': invalid tls-verify-peer '%s': expected 0 or 1",
				  uri, value);
			return -EINVAL;
		}
		q->tls_verify_peer = value[0] == '1';
		return 0;
	}
	if (strcmp(key, "x-connect-timeout") == 0 || strcmp(key, "x-negotiate-timeout") == 0) {
		bool connect = key[2] == 'c';
		bool *have = connect ? &q->have_connect_timeout : &q->have_negotiate_timeout;

		if (*have)
			goto twice;
		if (client_parse_seconds(value, connect ? &q->connect_timeout
							: &q->negotiate_timeout) < 0) {
			log_error("invalid URI '%s': invalid %s '%s': " CLIENT_SECONDS_EXPECTED, uri,
				  key, value);
			return -EINVAL;
		}
		*have = true;
		return 0;
	}
	log_error("invalid URI '%s': unknown query parameter '%s' (known: socket, tls-type, "
		  "tls-hostname, tls-verify-peer, tls-certificates, tls-psk-file, tls-username, "
		  "x-connect-timeout, x-negotiate-timeout)",
		  uri, key);
	return -EINVAL;

twice:
	log_error("invalid URI '%s': query parameter '%s' is given twice", uri, key);
	return -EINVAL;
}

/*
 * tls-certificates=DIR, in the layout libnbd, qemu and nbdkit share: DIR/ca-cert.pem (the CA;
 * required), and a client certificate DIR/client-cert.pem with its key DIR/client-key.pem when
 * both are there.
 */
static int certificates_dir(const char *uri, const char *dir, struct client_tls *tls)
{
	_cleanup_free_ char *ca = NULL, *cert = NULL, *key = NULL;

	if (asprintf(&ca, "%s/ca-cert.pem", dir) < 0 || asprintf(&cert, "%s/client-cert.pem", dir) < 0 ||
	    asprintf(&key, "%s/client-key.pem", dir) < 0)
		return log_oom();
	if (access(ca, R_OK) < 0) {
		log_error("invalid URI '%s': tls-certificates=%s has no readable ca-cert.pem (%m)", uri,
			  dir);
		return -EINVAL;
	}
	free(tls->cacertfile);
	tls->cacertfile = TAKE_PTR(ca);
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0) {
		free(tls->certfile);
		free(tls->keyfile);
		tls->certfile = TAKE_PTR(cert);
		tls->keyfile = TAKE_PTR(key);
	}
	return 0;
}

static int parse_query(const char *uri, const char *query, struct uri_query *q)
{
	for (const char *p = query; *p;) {
		size_t n = strcspn(p, "&");
		int r;

		/* "a&&b" and a trailing '&' are harmless; empty parameters are skipped. */
		if (n > 0) {
			r = query_param(uri, q, p, n);
			if (r < 0)
				return r;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* host[:port] of a TCP URI, host already without userinfo. */
static int parse_host_port(const char *uri, const char *s, size_t n, struct client_target *t)
{
	_cleanup_free_ char *port = NULL;
	const char *colon, *end = s + n;
	int r;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close) {
			log_error("invalid URI '%s': '[' without a closing ']' around an IPv6 "
				  "address", uri);
			return -EINVAL;
		}
		r = decode_text(uri, "host", s + 1, (size_t)(close - s - 1), &t->host);
		if (r < 0)
			return r;
		if (!client_is_ipv6_address(t->host)) {
			log_error("invalid URI '%s': '%s' in brackets is not an IPv6 address", uri,
				  t->host);
			return -EINVAL;
		}
		colon = close + 1;
		if (colon < end && *colon != ':') {
			log_error("invalid URI '%s': expected ':PORT' or '/EXPORT' after ']'", uri);
			return -EINVAL;
		}
	} else {
		colon = memchr(s, ':', n);
		r = decode_text(uri, "host", s, colon ? (size_t)(colon - s) : n, &t->host);
		if (r < 0)
			return r;
		if (!colon)
			colon = end;
		else if (memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			log_error("invalid URI '%s': an IPv6 address must be in brackets: "
				  "nbd://[ADDRESS]:PORT/EXPORT", uri);
			return -EINVAL;
		}
	}
	if (*t->host == '\0') {
		log_error("invalid URI '%s': no host; expected %s", uri, URI_FORMS);
		return -EINVAL;
	}

	/* RFC 3986: an empty port is the same as none. */
	if (colon < end && *colon == ':' && colon + 1 < end) {
		port = strndup(colon + 1, (size_t)(end - colon - 1));
		if (!port)
			return log_oom();
		r = set_port(t, port);
		if (r == -ENOMEM)
			return log_oom();
		if (r < 0) {
			log_error("invalid URI '%s': invalid port '%s': expected a number from 1 "
				  "to 65535", uri, port);
			return -EINVAL;
		}
	}
	return 0;
}

int client_parse_uri(const char *uri, struct client_target *t)
{
	_cleanup_(client_target_free) struct client_target n = CLIENT_TARGET_INIT;
	_cleanup_(uri_query_free) struct uri_query q = { .tls_verify_peer = -1 };
	_cleanup_free_ char *scheme = NULL, *query = NULL, *path = NULL;
	const char *p, *authority = NULL, *path_start, *at, *quoted = uri;
	char shown[SHOWN_MAX + 4];
	size_t slen, alen = 0, plen, len;
	bool is_unix;
	int r;

	/* Messages quote the URI, and a URI may be longer than a log line. */
	if (strlen(uri) > SHOWN_MAX) {
		snprintf(shown, sizeof(shown), "%.*s...", (int)SHOWN_MAX, uri);
		quoted = shown;
	}
	slen = scheme_length(uri);
	if (slen == 0) {
		log_error("invalid URI '%s': expected %s", quoted, URI_FORMS);
		return -EINVAL;
	}
	scheme = strndup(uri, slen - 1);
	if (!scheme)
		return log_oom();

	/* Schemes are case-insensitive (RFC 3986 3.1). */
	if (strcasecmp(scheme, "nbd") == 0 || strcasecmp(scheme, "nbds") == 0) {
		is_unix = false;
	} else if (strcasecmp(scheme, "nbd+unix") == 0 || strcasecmp(scheme, "nbds+unix") == 0) {
		is_unix = true;
	} else if (strcasecmp(scheme, "nbd+vsock") == 0 || strcasecmp(scheme, "nbds+vsock") == 0) {
		log_error("invalid URI '%s': NBD over vsock is not supported by this nbd-client",
			  quoted);
		return -EINVAL;
	} else {
		log_error("invalid URI '%s': unknown scheme '%s': expected nbd, nbds, nbd+unix or "
			  "nbds+unix", quoted, scheme);
		return -EINVAL;
	}
	n.tls.enabled = strncasecmp(scheme, "nbds", 4) == 0;

	r = check_characters(uri, quoted);
	if (r < 0)
		return r;
	if (strchr(uri, '#')) {
		log_error("invalid URI '%s': a fragment ('#...') has no meaning in an NBD URI "
			  "(write %%23 for a '#' in the export name)", quoted);
		return -EINVAL;
	}

	p = uri + slen;
	if (strncmp(p, "//", 2) == 0) {
		authority = p + 2;
		alen = strcspn(authority, "/?");
		p = authority + alen;
	}
	path_start = p;
	plen = strcspn(p, "?");
	if (p[plen] == '?') {
		query = strdup(p + plen + 1);
		if (!query)
			return log_oom();
		r = parse_query(quoted, query, &q);
		if (r < 0)
			return r;
	}

	/* The export name is the path without its leading '/' (so "//disk" is "/disk"). */
	if (plen > 0 && *path_start == '/') {
		path_start++;
		plen--;
	}
	r = decode_text(quoted, "export name", path_start, plen, &path);
	if (r < 0)
		return r;
	if (strlen(path) > NBD_MAX_STRING) {
		log_error("invalid URI '%s': the export name is longer than %u bytes, the most NBD "
			  "allows", quoted, NBD_MAX_STRING);
		return -EINVAL;
	}
	n.export_name = TAKE_PTR(path);

	if (authority) {
		at = memchr(authority, '@', alen);
		if (at) {
			r = decode_text(quoted, "user name", authority, (size_t)(at - authority),
					&n.tls.username);
			if (r < 0)
				return r;
			alen -= (size_t)(at + 1 - authority);
			authority = at + 1;
			if (memchr(authority, '@', alen)) {
				log_error("invalid URI '%s': more than one '@' before the host "
					  "(write %%40 for an '@' in the user name)", quoted);
				return -EINVAL;
			}
		}
	}

	if (is_unix) {
		if (alen > 0) {
			log_error("invalid URI '%s': a %s URI names no host or port: write %s:///"
				  "EXPORT?socket=PATH", quoted, scheme, scheme);
			return -EINVAL;
		}
		if (!q.socket) {
			log_error("invalid URI '%s': a %s URI needs the socket: add ?socket=PATH",
				  quoted, scheme);
			return -EINVAL;
		}
		len = q.socket_len;
		if (len > 0 && q.socket[0] == '\0') {
			n.socket_abstract = true;
			memmove(q.socket, q.socket + 1, len--);
		}
		if (strlen(q.socket) != len) {
			log_error("invalid URI '%s': the socket path contains %%00, a NUL "
				  "character", quoted);
			return -EINVAL;
		}
		if (len == 0) {
			log_error("invalid URI '%s': the socket path is empty", quoted);
			return -EINVAL;
		}
		if (len > CLIENT_SOCKET_PATH_MAX) {
			log_error("invalid URI '%s': the socket path is longer than %zu bytes, the "
				  "most a Unix socket address holds", quoted, CLIENT_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		n.kind = TARGET_UNIX;
		n.socket_path = TAKE_PTR(q.socket);
	} else {
		if (q.socket) {
			log_error("invalid URI '%s': socket= belongs to nbd+unix:// and "
				  "nbds+unix:// URIs, not to %s://", quoted, scheme);
			return -EINVAL;
		}
		if (!authority || alen == 0) {
			log_error("invalid URI '%s': no host; expected %s://HOST[:PORT][/EXPORT]",
				  quoted, scheme);
			return -EINVAL;
		}
		r = parse_host_port(quoted, authority, alen, &n);
		if (r < 0)
			return r;
		n.kind = TARGET_TCP;
	}
	if (client_target_default_port(&n) < 0)
		return log_oom();
	/* The URI's TLS settings, as a layer of their own for client_tls_merge(). */
	n.connect_timeout = q.connect_timeout;
	n.negotiate_timeout = q.negotiate_timeout;
	n.tls.type = TAKE_PTR(q.tls_type);
	n.tls.verify_peer = q.tls_verify_peer;
	n.tls.hostname = TAKE_PTR(q.tls_hostname);
	n.tls.psk_file = TAKE_PTR(q.tls_psk_file);
	/* tls-username wins over the userinfo, as in libnbd. */
	if (q.tls_username) {
		free(n.tls.username);
		n.tls.username = TAKE_PTR(q.tls_username);
	}
	if (q.tls_certificates) {
		r = certificates_dir(uri, q.tls_certificates, &n.tls);
		if (r < 0)
			return r;
	}
	n.tls.given = (n.tls.type ? CLIENT_TLS_TYPE : 0) |
		      (n.tls.verify_peer >= 0 ? CLIENT_TLS_VERIFY_PEER : 0) |
		      (n.tls.hostname ? CLIENT_TLS_HOSTNAME : 0) |
		      (n.tls.username ? CLIENT_TLS_USERNAME : 0) |
		      (n.tls.psk_file ? CLIENT_TLS_PSK_FILE : 0) |
		      (n.tls.cacertfile ? CLIENT_TLS_CACERTFILE : 0) |
		      (n.tls.certfile ? CLIENT_TLS_CERTFILE : 0) |
		      (n.tls.keyfile ? CLIENT_TLS_KEYFILE : 0);

	client_target_replace(t, &n);
	return 0;
}
