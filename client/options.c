/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The options model: initialisation, the value parsers every source shares, and the merge of the
 * layers (see options.h). Nothing here knows where a value was written; the callers say so in
 * their messages.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/options.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"

int client_set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return log_oom();
	free(*field);
	*field = copy;
	return 0;
}

/* ------------------------------------------------------------------ value parsers */

int client_parse_device(const char *arg, char **ret, uint32_t *ret_index, const char **ret_expected)
{
	const char *p = arg, *digits;
	uint32_t index;

	if (strncmp(p, "/dev/", 5) == 0)
		p += 5;
	if (strncmp(p, "nbd", 3) != 0)
		goto bad;
	digits = p + 3;
	p = digits + strspn(digits, "0123456789");
	if (p == digits)
		goto bad;
	if (*p == 'p' && p[1] != '\0' && p[1 + strspn(p + 1, "0123456789")] == '\0') {
		if (ret_expected)
			*ret_expected = "a partition: expected the whole device, /dev/nbdN";
		return -EINVAL;
	}
	if (*p != '\0' || (digits[0] == '0' && digits[1] != '\0') ||
	    parse_u32(digits, &index) < 0 || index > INT_MAX)
		goto bad;
	if (asprintf(ret, "/dev/nbd%" PRIu32, index) < 0)
		return -ENOMEM;
	if (ret_index)
		*ret_index = index;
	return 0;
bad:
	if (ret_expected)
		*ret_expected = "expected /dev/nbdN or nbdN";
	return -EINVAL;
}

int client_parse_block_size(const char *s, uint32_t *ret)
{
	uint32_t v;

	/* Only the server knows its preferred size; attach asks for it in the handshake. */
	if (strcmp(s, "preferred") == 0) {
		*ret = CLIENT_BLOCK_SIZE_PREFERRED;
		return 0;
	}
	/* The kernel takes powers of two from 512 up to the page size. 65536 is the largest page
	 * size Linux has; a value that the running kernel cannot take is refused when attaching. */
	if (parse_u32(s, &v) < 0 || v < CLIENT_BLOCK_SIZE_MIN || v > CLIENT_BLOCK_SIZE_MAX ||
	    (v & (v - 1)) != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int client_parse_connections(const char *s, unsigned *ret)
{
	uint32_t v;

	/* The kernel sets no limit. Each connection is a socket and a hardware queue, and past a
	 * few per CPU more of them only add handshakes; 64 leaves room and catches typos. */
	if (parse_u32(s, &v) < 0 || v < 1 || v > CLIENT_CONNECTIONS_MAX)
		return -EINVAL;
	*ret = v;
	return 0;
}

int client_parse_port(const char *s, char **ret)
{
	uint16_t port;

	if (s[0] >= '0' && s[0] <= '9') {
		if (s[strspn(s, "0123456789")] != '\0' || parse_u16(s, &port) < 0 || port == 0)
			return -EINVAL;
		return asprintf(ret, "%u", port) < 0 ? -ENOMEM : 0;
	}
	/* A service name as /etc/services has them (RFC 6335: letters, digits, inner hyphens). */
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) || strlen(s) > 63)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-'))
			return -EINVAL;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int client_target_default_port(struct client_target *t)
{
	if (t->kind != TARGET_TCP || t->port)
		return 0;
	if (asprintf(&t->port, "%u", NBD_DEFAULT_PORT) < 0) {
		t->port = NULL;
		return -ENOMEM;
	}
	return 0;
}

bool client_is_ipv6_address(const char *s)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;
	size_t n = strcspn(s, "%");

	if (n >= sizeof(buf) || (s[n] == '%' && s[n + 1] == '\0'))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

int client_parse_seconds(const char *s, uint32_t *ret)
{
	return parse_u32(s, ret) < 0 ? -EINVAL : 0;
}

static int seconds_to_ms(uint32_t given, uint32_t from_uri, int default_ms)
{
	uint32_t s = given ? given : from_uri;

	if (!s)
		return default_ms;
	return s > INT_MAX / 1000 ? INT_MAX : (int)s * 1000;
}

int client_connect_timeout_ms(const struct client_options *o, int default_ms)
{
	return seconds_to_ms(o->connect_timeout, o->target.connect_timeout, default_ms);
}

int client_negotiate_timeout_ms(const struct client_options *o, int default_ms)
{
	return seconds_to_ms(o->negotiate_timeout, o->target.negotiate_timeout, default_ms);
}

char *client_backend_identifier(const struct client_options *o)
{
	const char *name = o->target.export_name ? o->target.export_name : "";
	char *s = NULL;
	int r;

	if (o->identifier)
		return strdup(o->identifier);
	if (o->target.kind == TARGET_UNIX)
		r = asprintf(&s, "nbd+unix:///%s?socket=%s", name, o->target.socket_path);
	else if (o->target.kind == TARGET_TCP)
		r = asprintf(&s, strchr(o->target.host, ':') ? "nbd://[%s]:%s/%s" : "nbd://%s:%s/%s",
			     o->target.host, o->target.port ? o->target.port : "10809", name);
	else if (o->target.kind == TARGET_LOCAL && o->target.image_path)
		r = asprintf(&s, "file://%s", o->target.image_path);
	else if (o->target.kind == TARGET_LOCAL)
		r = asprintf(&s, "memory:%" PRIu64, o->target.memory_size);
	else
		return strdup("nbd-client");
	return r < 0 ? NULL : s;
}

int client_parse_ktls(const char *s, enum client_ktls *ret)
{
	if (strcmp(s, "auto") == 0)
		*ret = CLIENT_KTLS_AUTO;
	else if (strcmp(s, "yes") == 0 || strcmp(s, "kernel") == 0)
		*ret = CLIENT_KTLS_YES;
	else if (strcmp(s, "no") == 0 || strcmp(s, "relay") == 0)
		*ret = CLIENT_KTLS_NO;
	else
		return -EINVAL;
	return 0;
}

int client_parse_size(const char *s, uint64_t *ret)
{
	uint64_t v;
	int r;

	/* The reference read -B with strtoull(..., 0), so hexadecimal keeps working too. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		r = parse_u64(s, &v);
	else
		r = parse_size(s, &v);
	if (r < 0)
		return r;
	/* The kernel keeps sizes in a loff_t. */
	if (v > INT64_MAX)
		return -ERANGE;
	if (v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------------ options and targets */

void client_tls_free(struct client_tls *tls)
{
	free(tls->cacertfile);
	free(tls->certfile);
	free(tls->keyfile);
	free(tls->hostname);
	free(tls->priority);
	free(tls->psk_file);
	free(tls->username);
	free(tls->type);
	*tls = (struct client_tls)CLIENT_TLS_INIT;
}

void client_target_free(struct client_target *t)
{
	free(t->host);
	free(t->port);
	free(t->socket_path);
	free(t->export_name);
	free(t->image_path);
	free(t->cow_path);
	client_tls_free(&t->tls);
	*t = (struct client_target)CLIENT_TARGET_INIT;
}

void client_target_replace(struct client_target *t, struct client_target *from)
{
	client_target_free(t);
	*t = *from;
	*from = (struct client_target)CLIENT_TARGET_INIT;
}

void client_options_init(struct client_options *o)
{
	*o = (struct client_options){
		.command = CLIENT_ATTACH,
		.target = CLIENT_TARGET_INIT,
		.connections = 1,
		.nbdtab_path = NBDTAB_PATH,
	};
}

void client_options_free(struct client_options *o)
{
	const char *nbdtab_path = o->nbdtab_path;

	client_target_free(&o->target);
	free(o->device);
	free(o->identifier);
	free(o->fds);
	client_options_init(o);
	/* Not owned (argv or a constant); a caller's choice survives a reset. */
	o->nbdtab_path = nbdtab_path;
}

/* ------------------------------------------------------------------ merging layers */

static void take_string(char **field, char **from)
{
	free(*field);
	*field = TAKE_PTR(*from);
}

void client_options_merge(struct client_options *o, struct client_options *from, unsigned fields)
{
	if (fields & CLIENT_GIVEN_BLOCK_SIZE)
		o->block_size = from->block_size;
	if (fields & CLIENT_GIVEN_SIZE)
		o->size = from->size;
	if (fields & CLIENT_GIVEN_TIMEOUT)
		o->timeout = from->timeout;
	if (fields & CLIENT_GIVEN_DEAD_TIMEOUT)
		o->dead_timeout = from->dead_timeout;
	if (fields & CLIENT_GIVEN_CONNECT_TIMEOUT)
		o->connect_timeout = from->connect_timeout;
	if (fields & CLIENT_GIVEN_NEGOTIATE_TIMEOUT)
		o->negotiate_timeout = from->negotiate_timeout;
	if (fields & CLIENT_GIVEN_CONNECTIONS)
		o->connections = from->connections;
	if (fields & CLIENT_GIVEN_IDENTIFIER)
		take_string(&o->identifier, &from->identifier);
	o->given |= fields;
	o->persist |= from->persist;
	o->swap |= from->swap;
	o->read_only |= from->read_only;
	o->no_opt_go |= from->no_opt_go;
	o->preinit |= from->preinit;
}

void client_tls_merge(struct client_tls *tls, struct client_tls *from, unsigned fields)
{
	if (fields & CLIENT_TLS_CACERTFILE)
		take_string(&tls->cacertfile, &from->cacertfile);
	if (fields & CLIENT_TLS_CERTFILE)
		take_string(&tls->certfile, &from->certfile);
	if (fields & CLIENT_TLS_KEYFILE)
		take_string(&tls->keyfile, &from->keyfile);
	if (fields & CLIENT_TLS_HOSTNAME)
		take_string(&tls->hostname, &from->hostname);
	if (fields & CLIENT_TLS_PRIORITY)
		take_string(&tls->priority, &from->priority);
	if (fields & CLIENT_TLS_PSK_FILE)
		take_string(&tls->psk_file, &from->psk_file);
	if (fields & CLIENT_TLS_USERNAME)
		take_string(&tls->username, &from->username);
	if (fields & CLIENT_TLS_TYPE)
		take_string(&tls->type, &from->type);
	if (fields & CLIENT_TLS_VERIFY_PEER)
		tls->verify_peer = from->verify_peer;
	if (fields & CLIENT_TLS_KTLS)
		tls->ktls = from->ktls;
	tls->given |= fields;
	tls->enabled |= from->enabled;
}

int client_tls_finish(struct client_tls *tls)
{
	/* As in the reference: a key alone is a file with both the certificate and the key. */
	if (tls->keyfile && !tls->certfile && client_set_string(&tls->certfile, tls->keyfile) < 0)
		return -ENOMEM;
	if (tls->cacertfile || tls->certfile || tls->keyfile || tls->hostname || tls->priority ||
	    tls->psk_file)
		tls->enabled = true;
	return 0;
}
