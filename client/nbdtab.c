/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /etc/nbdtab, as the reference nbd-client reads it (nbdtab(5)): one device per line,
 *
 *     DEVICE HOST EXPORT [OPTIONS]
 *
 * with fields separated by spaces or tabs, DEVICE written nbdN or /dev/nbdN, HOST a host name, an
 * address (IPv6 without brackets) or, with the "unix" option, a socket path, and OPTIONS a comma-
 * separated list of key=value properties and bare flags. A '#' that starts a field starts a comment
 * to the end of the line (a '#' inside a field is part of it, so an export may be named "disk#2").
 *
 * Differences from the reference, all in what it would fail on or get wrong:
 *  - a blank line with spaces, leading or trailing blanks and CRLF line ends are accepted;
 *  - a line for a device that an earlier line has defined is ignored with a warning (the reference
 *    also takes the first line, silently);
 *  - a matching line after other lines keeps the default port (the reference resets its settings
 *    on every non-matching line and loses the port, connecting to port 0);
 *  - values are checked: "bs=1000" is an error here, where the reference passes whatever strtol()
 *    made of it to the kernel;
 *  - readonly, size=BYTES and identifier=ID are understood. nbdtab(5) says every per-device command
 *    line option should have an nbdtab equivalent, and -R, -B (without which preinit cannot work)
 *    and -i are per-device. The reference warns about them and goes on.
 * Unknown options are warned about and skipped, as in the reference, and names starting with '_'
 * are reserved for local use and skipped silently.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/nbdtab.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"

#define LINE_FORM "'DEVICE HOST EXPORT [OPTIONS]'"

/* One well-formed line, its fields pointing into the line buffer. */
struct tab_line {
	unsigned line;
	const char *device; /* as written */
	char *device_path;  /* "/dev/nbdN" */
	const char *host;
	const char *export_name;
	const char *options; /* NULL: none */
};

typedef int (*line_fn)(const char *path, const struct tab_line *l, void *userdata);

struct seen {
	uint32_t index;
	unsigned line;
};

/* Splits line into at most max fields (one more is reported as "more"); stops at a comment. */
static size_t split_fields(char *line, char **fields, size_t max)
{
	size_t n = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t\r\n");
		if (*p == '\0' || *p == '#')
			return n;
		if (n == max)
			return n + 1;
		fields[n++] = p;
		p += strcspn(p, " \t\r\n");
		if (*p != '\0')
			*p++ = '\0';
	}
}

/* The shape of the option field; what the options mean is checked when a line is used. */
static int check_option_syntax(const char *path, unsigned line, const char *options)
{
	for (const char *p = options;; p++) {
		size_t n = strcspn(p, ","), key = strcspn(p, "=");

		if (n == 0) {
			log_error("%s:%u: empty option in '%s' (one ',' too many?)", path, line,
				  options);
			return -EINVAL;
		}
		if (key < n) {
			if (key == 0) {
				log_error("%s:%u: option '%.*s' has no name before '='", path, line,
					  (int)n, p);
				return -EINVAL;
			}
			if (key + 1 == n) {
				log_error("%s:%u: option '%.*s' has no value after '='", path, line,
					  (int)n, p);
				return -EINVAL;
			}
		}
		p += n;
		if (*p == '\0')
			return 0;
	}
}

static int parse_line(const char *path, unsigned line, char *text, struct tab_line *ret)
{
	char *fields[4];
	const char *why = NULL;
	size_t n;
	int r;

	n = split_fields(text, fields, ELEMENTSOF(fields));
	if (n == 0)
		return 0;
	if (n < 3) {
		log_error("%s:%u: expected " LINE_FORM ", but the line has only %zu field%s", path,
			  line, n, n == 1 ? "" : "s");
		return -EINVAL;
	}
	if (n > 4) {
		log_error("%s:%u: too many fields: expected " LINE_FORM " (options are "
			  "separated by commas, without spaces)", path, line);
		return -EINVAL;
	}
	*ret = (struct tab_line){
		.line = line,
		.device = fields[0],
		.host = fields[1],
		.export_name = fields[2],
		.options = n == 4 ? fields[3] : NULL,
	};
	r = client_parse_device(fields[0], &ret->device_path, NULL, &why);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("%s:%u: invalid device '%s': %s", path, line, fields[0], why);
		return -EINVAL;
	}
	if (ret->options) {
		r = check_option_syntax(path, line, ret->options);
		if (r < 0) {
			free(ret->device_path);
			ret->device_path = NULL;
			return r;
		}
	}
	return 1;
}

/* Calls fn for every device line, in order, the first one for each device only. A malformed line
 * ends the walk, or with keep_going is skipped, the walk returning -EINVAL once it is over. */
static int walk(const char *path, line_fn fn, void *userdata, bool keep_going)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ struct seen *seen = NULL;
	size_t n_seen = 0, cap = 0;
	unsigned line = 0;
	ssize_t len;
	int r, malformed = 0;

	f = fopen(path, "re");
	if (!f)
		return log_error_errno(errno, "Cannot open %s: %m", path);

	errno = 0;
	while ((len = getline(&text, &cap, f)) >= 0) {
		struct tab_line l;
		uint32_t index;
		struct seen *grown;
		bool duplicate = false;

		line++;
		if (strlen(text) != (size_t)len) {
			log_error("%s:%u: a NUL byte; is it a text file?", path, line);
			if (!keep_going)
				return -EINVAL;
			malformed = -EINVAL;
			continue;
		}
		r = parse_line(path, line, text, &l);
		if (r == -EINVAL && keep_going) {
			malformed = r;
			continue;
		}
		if (r <= 0) {
			if (r < 0)
				return r;
			continue;
		}

		/* parse_line() made device_path from a valid index, so this cannot fail. */
		(void)parse_u32(l.device_path + strlen("/dev/nbd"), &index);
		for (size_t i = 0; i < n_seen; i++)
			if (seen[i].index == index) {
				log_warning("%s:%u: %s is already defined on line %u; this line is "
					    "ignored", path, line, l.device, seen[i].line);
				duplicate = true;
				break;
			}
		if (duplicate) {
			free(l.device_path);
			continue;
		}
		grown = reallocarray(seen, n_seen + 1, sizeof(*seen));
		if (!grown) {
			free(l.device_path);
			return log_oom();
		}
		seen = grown;
		seen[n_seen++] = (struct seen){ .index = index, .line = line };

		r = fn(path, &l, userdata);
		free(l.device_path);
		if (r < 0)
			return r;
		errno = 0;
	}
	if (ferror(f))
		return log_error_errno(errno ? errno : EIO, "Cannot read %s: %m", path);
	return malformed;
}

/* ------------------------------------------------------------------ nbdtab_read */

struct read_state {
	int (*fn)(const struct nbdtab_entry *e, void *userdata);
	void *userdata;
};

static int read_line(const char *path _unused_, const struct tab_line *l, void *userdata)
{
	struct read_state *s = userdata;
	const struct nbdtab_entry e = {
		.device = l->device_path,
		.host = (char *)l->host,
		.export_name = (char *)l->export_name,
		.options = (char *)l->options,
		.line = l->line,
	};

	return s->fn(&e, s->userdata);
}

int nbdtab_read(const char *path, int (*fn)(const struct nbdtab_entry *e, void *userdata),
		void *userdata)
{
	struct read_state s = { .fn = fn, .userdata = userdata };

	return walk(path, read_line, &s, true);
}

/* ------------------------------------------------------------------ nbdtab_apply */

/* What a line sets, gathered before anything is changed in the caller's options: a layer of the
 * options model, whose given masks say which fields the line sets. */
struct tab_values {
	struct client_options o;
	struct nbdtab_systemd systemd;
	char *port;
	bool unix_socket;
};

void nbdtab_systemd_free(struct nbdtab_systemd *sd)
{
	free(sd->mount);
	free(sd->fstype);
	free(sd->mount_options);
	*sd = (struct nbdtab_systemd){ 0 };
}

static void tab_values_free(struct tab_values *v)
{
	client_options_free(&v->o);
	nbdtab_systemd_free(&v->systemd);
	free(v->port);
	v->port = NULL;
}

enum value_kind {
	V_FLAG,
	V_STRING,
	V_LIST,    /* a string that each occurrence of the key extends, joined with ',' */
	V_PORT,
	V_BLOCK_SIZE,
	V_SECONDS,
	V_CONNECTIONS,
	V_SIZE,
	V_KTLS,
};

struct tab_option {
	const char *name;
	enum value_kind kind;
	size_t offset;     /* of the field in struct tab_values */
	unsigned given;    /* CLIENT_GIVEN_* of the field, or 0 */
	unsigned tls;      /* CLIENT_TLS_* of the field; any TLS key (even "tls") asks for TLS */
	const char *what;
};

#define FIELD(f) offsetof(struct tab_values, o.f)
#define TLS(f) offsetof(struct tab_values, o.target.tls.f)
#define TLS_KEY(name, f, bit, what) { name, V_STRING, TLS(f), 0, bit, what }
#define SYSTEMD(f) offsetof(struct tab_values, systemd.f)

/* The reference's options, then ours (readonly, size, identifier). */
static const struct tab_option tab_options[] = {
	{ "port", V_PORT, offsetof(struct tab_values, port), 0, 0, "port" },
	TLS_KEY("certfile", certfile, CLIENT_TLS_CERTFILE, "file name"),
	TLS_KEY("keyfile", keyfile, CLIENT_TLS_KEYFILE, "file name"),
	TLS_KEY("cacertfile", cacertfile, CLIENT_TLS_CACERTFILE, "file name"),
	TLS_KEY("tlshostname", hostname, CLIENT_TLS_HOSTNAME, "host name"),
	TLS_KEY("priority", priority, CLIENT_TLS_PRIORITY, "priority string"),
	{ "ktls", V_KTLS, TLS(ktls), 0, 0, "kernel TLS choice" },
	{ "bs", V_BLOCK_SIZE, FIELD(block_size), CLIENT_GIVEN_BLOCK_SIZE, 0, "block size" },
	{ "timeout", V_SECONDS, FIELD(timeout), CLIENT_GIVEN_TIMEOUT, 0, "timeout" },
	{ "dead-timeout", V_SECONDS, FIELD(dead_timeout), CLIENT_GIVEN_DEAD_TIMEOUT, 0,
	  "dead-connection timeout" },
	{ "connect-timeout", V_SECONDS, FIELD(connect_timeout), CLIENT_GIVEN_CONNECT_TIMEOUT, 0,
	  "connect timeout" },
	{ "negotiate-timeout", V_SECONDS, FIELD(negotiate_timeout), CLIENT_GIVEN_NEGOTIATE_TIMEOUT, 0,
	  "negotiation timeout" },
	{ "conns", V_CONNECTIONS, FIELD(connections), CLIENT_GIVEN_CONNECTIONS, 0,
	  "number of connections" },
	{ "no_optgo", V_FLAG, FIELD(no_opt_go), 0, 0, NULL },
	{ "persist", V_FLAG, FIELD(persist), 0, 0, NULL },
	{ "swap", V_FLAG, FIELD(swap), 0, 0, NULL },
	{ "unix", V_FLAG, offsetof(struct tab_values, unix_socket), 0, 0, NULL },
	{ "preinit", V_FLAG, FIELD(preinit), 0, 0, NULL },
	{ "tls", V_FLAG, TLS(enabled), 0, 0, NULL },
	{ "readonly", V_FLAG, FIELD(read_only), 0, 0, NULL },
	{ "size", V_SIZE, FIELD(size), CLIENT_GIVEN_SIZE, 0, "size" },
	{ "identifier", V_STRING, FIELD(identifier), CLIENT_GIVEN_IDENTIFIER, 0, "identifier" },
	/* For nbd-generator(8), which reads them with nbdtab_entry_options(); nbd-client accepts
	 * them and leaves them alone. A mount option list cannot be one value, since commas
	 * separate the line's options: each mountopt= adds one. */
	{ "noauto", V_FLAG, SYSTEMD(noauto), 0, 0, NULL },
	{ "mount", V_STRING, SYSTEMD(mount), 0, 0, "mount point" },
	{ "fstype", V_STRING, SYSTEMD(fstype), 0, 0, "file system type" },
	{ "mountopt", V_LIST, SYSTEMD(mount_options), 0, 0, "mount option" },
};

#define AT(v, off, type) ((type *)((char *)(v) + (off)))

static int bad_value(const char *path, unsigned line, const struct tab_option *opt,
		     const char *value, const char *expected)
{
	log_error("%s:%u: invalid %s '%s' for %s: %s", path, line, opt->what, value, opt->name,
		  expected);
	return -EINVAL;
}

static int set_option(const char *path, unsigned line, const struct tab_option *opt,
		      const char *value, struct tab_values *v)
{
	char **s;
	int r;

	switch (opt->kind) {
	case V_FLAG:
		*AT(v, opt->offset, bool) = true;
		break;
	case V_STRING:
		s = AT(v, opt->offset, char *);
		free(*s);
		*s = strdup(value);
		if (!*s)
			return log_oom();
		break;
	case V_LIST: {
		char *joined = NULL;

		s = AT(v, opt->offset, char *);
		if (asprintf(&joined, "%s%s%s", *s ? *s : "", *s ? "," : "", value) < 0)
			return log_oom();
		free(*s);
		*s = joined;
		break;
	}
	case V_PORT:
		s = AT(v, opt->offset, char *);
		free(*s);
		*s = NULL;
		r = client_parse_port(value, s);
		if (r == -ENOMEM)
			return log_oom();
		if (r < 0)
			return bad_value(path, line, opt, value, CLIENT_PORT_EXPECTED);
		break;
	case V_BLOCK_SIZE:
		if (client_parse_block_size(value, AT(v, opt->offset, uint32_t)) < 0)
			return bad_value(path, line, opt, value, CLIENT_BLOCK_SIZE_EXPECTED);
		break;
	case V_SECONDS:
		if (client_parse_seconds(value, AT(v, opt->offset, uint32_t)) < 0)
			return bad_value(path, line, opt, value, CLIENT_SECONDS_EXPECTED);
		break;
	case V_CONNECTIONS:
		if (client_parse_connections(value, AT(v, opt->offset, unsigned)) < 0)
			return bad_value(path, line, opt, value, CLIENT_CONNECTIONS_EXPECTED);
		break;
	case V_KTLS:
		if (client_parse_ktls(value, AT(v, opt->offset, enum client_ktls)) < 0)
			return bad_value(path, line, opt, value, CLIENT_KTLS_EXPECTED);
		/* Where TLS runs, not whether: it does not ask for TLS as the other TLS keys do. */
		v->o.target.tls.given |= CLIENT_TLS_KTLS;
		break;
	case V_SIZE:
		r = client_parse_size(value, AT(v, opt->offset, uint64_t));
		if (r == -ERANGE)
			return bad_value(path, line, opt, value, "too large");
		if (r < 0)
			return bad_value(path, line, opt, value, CLIENT_SIZE_EXPECTED);
		break;
	}
	v->o.given |= opt->given;
	v->o.target.tls.given |= opt->tls;
	if (opt->tls)
		v->o.target.tls.enabled = true;
	return 0;
}

static int apply_option(const char *path, unsigned line, char *item, struct tab_values *v)
{
	char *eq = strchr(item, '=');
	const char *value = NULL;

	if (eq) {
		*eq = '\0';
		value = eq + 1;
	}
	/* Reserved for local and distribution use (nbdtab(5)). */
	if (item[0] == '_')
		return 0;

	for (size_t i = 0; i < ELEMENTSOF(tab_options); i++) {
		const struct tab_option *opt = &tab_options[i];

		if (strcmp(item, opt->name) != 0)
			continue;
		/* The reference reads these as unknown options and goes on; so does this. */
		if (opt->kind == V_FLAG && value) {
			log_warning("%s:%u: option '%s' is a flag and takes no value; it is "
				    "ignored (write '%s' alone)", path, line, item, item);
			return 0;
		}
		if (opt->kind != V_FLAG && !value) {
			log_warning("%s:%u: option '%s' needs a value (%s=...); it is ignored",
				    path, line, item, item);
			return 0;
		}
		return set_option(path, line, opt, value, v);
	}
	log_warning("%s:%u: unknown option '%s' is ignored", path, line, item);
	return 0;
}

static int line_values(const char *path, const struct tab_line *l, struct tab_values *v)
{
	_cleanup_free_ char *options = NULL;
	char *item, *save = NULL;
	int r;

	if (l->options) {
		options = strdup(l->options);
		if (!options)
			return log_oom();
		for (item = strtok_r(options, ",", &save); item;
		     item = strtok_r(NULL, ",", &save)) {
			r = apply_option(path, l->line, item, v);
			if (r < 0)
				return r;
		}
	}

	if (strlen(l->export_name) > NBD_MAX_STRING) {
		log_error("%s:%u: the export name is longer than %u bytes, the most NBD allows",
			  path, l->line, NBD_MAX_STRING);
		return -EINVAL;
	}
	v->o.target.export_name = strdup(l->export_name);
	v->o.device = strdup(l->device_path);
	if (!v->o.target.export_name || !v->o.device)
		return log_oom();

	if (v->unix_socket) {
		if (v->port) {
			log_error("%s:%u: port= does not apply to a Unix socket ('unix' is set)",
				  path, l->line);
			return -EINVAL;
		}
		if (strlen(l->host) > CLIENT_SOCKET_PATH_MAX) {
			log_error("%s:%u: socket path '%s' is longer than %zu bytes, the most a "
				  "Unix socket address holds",
				  path, l->line, l->host, CLIENT_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		v->o.target.kind = TARGET_UNIX;
		v->o.target.socket_path = strdup(l->host);
		if (!v->o.target.socket_path)
			return log_oom();
	} else {
		size_t n = strlen(l->host);

		v->o.target.kind = TARGET_TCP;
		/* "[::1]" is how IPv6 addresses are often written; getaddrinfo() wants them
		 * bare. */
		if (n > 2 && l->host[0] == '[' && l->host[n - 1] == ']')
			v->o.target.host = strndup(l->host + 1, n - 2);
		else
			v->o.target.host = strdup(l->host);
		if (v->port)
			v->o.target.port = TAKE_PTR(v->port);
		else if (asprintf(&v->o.target.port, "%u", NBD_DEFAULT_PORT) < 0)
			v->o.target.port = NULL;
		if (!v->o.target.host || !v->o.target.port)
			return log_oom();
	}
	return 0;
}

/* Moves what a line set onto o; nothing can fail, so o changes completely or not at all. The line
 * names the target whole; its TLS settings and options are merged over o's. */
static void take_values(struct client_options *o, struct tab_values *v)
{
	struct client_tls tls;

	free(o->device);
	o->device = TAKE_PTR(v->o.device);
	tls = o->target.tls;
	o->target.tls = (struct client_tls)CLIENT_TLS_INIT;
	client_target_replace(&o->target, &v->o.target);
	client_tls_merge(&tls, &o->target.tls, o->target.tls.given);
	client_tls_free(&o->target.tls);
	o->target.tls = tls;
	client_options_merge(o, &v->o, v->o.given);
}

struct apply_state {
	const char *device; /* "/dev/nbdN" */
	struct tab_values values;
	bool found;
	bool applied; /* the device's line was read without a fault */
};

static int apply_line(const char *path, const struct tab_line *l, void *userdata)
{
	struct apply_state *s = userdata;
	int r;

	/* walk() passes the first line of each device only, so the first match is the one. */
	if (s->found || strcmp(l->device_path, s->device) != 0)
		return 0;
	s->found = true;
	r = line_values(path, l, &s->values);
	s->applied = r == 0;
	return r;
}

int nbdtab_apply(const char *path, const char *device, struct client_options *o)
{
	_cleanup_free_ char *dev = NULL;
	struct apply_state s = { 0 };
	struct tab_values *v = &s.values;
	const char *why = NULL;
	int r;

	r = client_parse_device(device, &dev, NULL, &why);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("invalid device '%s': %s", device, why);
		return -EINVAL;
	}
	s.device = dev;
	client_options_init(&v->o);

	/* A malformed line of another device is reported and skipped: one typo must not stop every
	 * device of the file from attaching (the generator goes on likewise). */
	r = walk(path, apply_line, &s, true);
	if (r == -EINVAL && s.applied)
		r = 0;
	if (r == 0 && !s.found) {
		log_error("%s is not defined in %s", device, path);
		r = -ENOENT;
	}
	if (r < 0) {
		tab_values_free(v);
		return r;
	}
	take_values(o, v);
	tab_values_free(v);
	return 0;
}

/* ------------------------------------------------------------------ nbdtab_entry_options */

int nbdtab_entry_options(const char *path, const struct nbdtab_entry *e, struct client_options *o,
			 struct nbdtab_systemd *sd)
{
	/* The entry is a line that walk() has already split and checked. */
	const struct tab_line l = {
		.line = e->line,
		.device = e->device,
		.device_path = e->device,
		.host = e->host,
		.export_name = e->export_name,
		.options = e->options,
	};
	struct tab_values v = { 0 };
	int r;

	client_options_init(&v.o);
	r = line_values(path, &l, &v);
	if (r < 0) {
		tab_values_free(&v);
		return r;
	}
	take_values(o, &v);
	nbdtab_systemd_free(sd);
	*sd = v.systemd;
	v.systemd = (struct nbdtab_systemd){ 0 };
	tab_values_free(&v);
	return 0;
}
