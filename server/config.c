/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's configuration as a model (config.h): the objects and their copies, the values
 * every source shares (addresses, ports, virtstyle), the checks no single line or option can make,
 * and the allow list files. The reference's config file is read in config-file.c (keys in
 * config-keys.c), the command line in options.c, and -o written by config-write.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"
#include "server/config.h"
#include "server/strv.h"

/* sun_path, terminator included. */
#define UNIX_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* ------------------------------------------------------------------------ objects */

void server_config_init(struct server_config *cfg)
{
	*cfg = (struct server_config){
		.port = NBD_DEFAULT_PORT,
		.family = AF_UNSPEC,
		.allow_list = true,
		.handshake_timeout = SERVER_DEFAULT_HANDSHAKE_TIMEOUT,
		.request_timeout = SERVER_DEFAULT_REQUEST_TIMEOUT,
	};
}

int export_config_init(struct export_config *e, const char *name)
{
	char *n = strdup(name);

	if (!n)
		return -ENOMEM;
	*e = (struct export_config){
		.name = n,
		.backend = EXPORT_FILE,
		.flush = true,
		.fua = true,
		.trim = true,
	};
	return 0;
}

void export_config_free(struct export_config *e)
{
	free(e->name);
	free(e->description);
	free(e->path);
	free(e->cow_path);
	free(e->authfile);
	strv_free(e->allow);
	free(e->cowdir);
	free(e->prerun);
	free(e->postrun);
	free(e->transactionlog);
	free(e->origin);
	*e = (struct export_config){ 0 };
}

int config_set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return log_oom();
	free(*field);
	*field = copy;
	return 0;
}

static int dup_or_null(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

int export_config_copy(struct export_config *dst, const struct export_config *src)
{
	struct export_config c = *src;
	int r = 0;

	/* Every pointer is replaced before anything can fail, so that freeing c is always safe. */
	c.name = c.description = c.path = c.cow_path = c.authfile = NULL;
	c.cowdir = c.prerun = c.postrun = c.transactionlog = c.origin = NULL;
	c.allow = NULL;
	if (dup_or_null(&c.name, src->name) < 0 || dup_or_null(&c.description, src->description) < 0 ||
	    dup_or_null(&c.path, src->path) < 0 || dup_or_null(&c.cow_path, src->cow_path) < 0 ||
	    dup_or_null(&c.authfile, src->authfile) < 0 || dup_or_null(&c.cowdir, src->cowdir) < 0 ||
	    dup_or_null(&c.prerun, src->prerun) < 0 || dup_or_null(&c.postrun, src->postrun) < 0 ||
	    dup_or_null(&c.transactionlog, src->transactionlog) < 0 ||
	    dup_or_null(&c.origin, src->origin) < 0 || strv_copy(&c.allow, src->allow) < 0)
		r = -ENOMEM;
	if (r < 0) {
		export_config_free(&c);
		return r;
	}
	*dst = c;
	return 0;
}

static bool str_equal(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) == 0 : a == b;
}

bool export_config_equal(const struct export_config *a, const struct export_config *b)
{
	return str_equal(a->name, b->name) && str_equal(a->description, b->description) &&
	       a->backend == b->backend && str_equal(a->path, b->path) && a->size == b->size &&
	       a->read_only == b->read_only && a->copy_on_write == b->copy_on_write &&
	       str_equal(a->cow_path, b->cow_path) && a->direct_io == b->direct_io &&
	       a->sync == b->sync && a->flush == b->flush && a->fua == b->fua &&
	       a->trim == b->trim && a->rotational == b->rotational &&
	       str_equal(a->authfile, b->authfile) && strv_equal(a->allow, b->allow) &&
	       a->max_connections == b->max_connections && a->multifile == b->multifile &&
	       a->sharded == b->sharded && a->temporary == b->temporary && str_equal(a->cowdir, b->cowdir) &&
	       a->tls_only == b->tls_only &&
	       str_equal(a->prerun, b->prerun) && str_equal(a->postrun, b->postrun) &&
	       str_equal(a->transactionlog, b->transactionlog) && a->virtstyle == b->virtstyle &&
	       a->virt_cidr == b->virt_cidr;
}

bool export_config_per_client(const struct export_config *e)
{
	return e->virtstyle != VIRT_NONE && e->path && strstr(e->path, "%s");
}

const char *server_config_default_path(void)
{
	const char *env = getenv("NBD_SERVER_CONFIG");

	return env && *env ? env : "/etc/nbd-server/config";
}

void server_config_free(struct server_config *cfg)
{
	for (size_t i = 0; i < cfg->n_exports; i++)
		export_config_free(&cfg->exports[i]);
	free(cfg->exports);
	strv_free(cfg->addresses);
	free(cfg->unix_path);
	free(cfg->client_fds);
	free(cfg->negotiated_export);
	strv_free(cfg->allow);
	free(cfg->authfile);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pidfile);
	free(cfg->config_path);
	free(cfg->certfile);
	free(cfg->keyfile);
	free(cfg->cacertfile);
	free(cfg->pskfile);
	free(cfg->tls_priority);
	server_config_init(cfg);
}

int server_config_add_export(struct server_config *cfg, const char *name,
			     struct export_config **ret)
{
	struct export_config *grown;
	int r;

	grown = realloc(cfg->exports, (cfg->n_exports + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	cfg->exports = grown;
	r = export_config_init(&grown[cfg->n_exports], name);
	if (r < 0)
		return r;
	*ret = &grown[cfg->n_exports++];
	return 0;
}

struct export_config *server_config_find_export(const struct server_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_exports; i++)
		if (strcmp(cfg->exports[i].name, name) == 0)
			return &cfg->exports[i];
	return NULL;
}

/* ------------------------------------------------------------------------ values */

int allow_entry_check(const char *s)
{
	struct cidr c;

	return cidr_parse(s, &c);
}

bool listen_address_valid(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];
	size_t n = strlen(s);

	if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
		return true;
	/* A host name: letters, digits, hyphens and dots, for getaddrinfo() to resolve. A name
	 * with a ':' or '@' is an address with a port stuck to it, which is better said early. */
	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n;
}

static bool address_family_is(const char *s, int family)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(family, s, addr) == 1;
}

int port_parse(const char *s, uint16_t *ret)
{
	struct servent *se;
	uint16_t port;

	if (parse_u16(s, &port) == 0) {
		if (port == 0)
			return -ERANGE;
		*ret = port;
		return 0;
	}
	if (*s == '\0' || strspn(s, "0123456789") == strlen(s))
		return -EINVAL;
	se = getservbyname(s, "tcp");
	if (!se || ntohs((uint16_t)se->s_port) == 0)
		return -ENOENT;
	*ret = ntohs((uint16_t)se->s_port);
	return 0;
}

int virtstyle_parse(const char *s, enum virtstyle *ret, unsigned *ret_cidr)
{
	const char *n;
	uint32_t bits;

	if (strcasecmp(s, "none") == 0) {
		*ret = VIRT_NONE;
		return 0;
	}
	if (strcasecmp(s, "ipliteral") == 0) {
		*ret = VIRT_IPLITERAL;
		return 0;
	}
	if (strcasecmp(s, "iphash") == 0) {
		*ret = VIRT_IPHASH;
		return 0;
	}
	/* "cidrhash 16" as the reference documents it; "cidrhash16" and "cidr16" are taken too. */
	if (strncasecmp(s, "cidrhash", 8) == 0)
		n = s + 8;
	else if (strncasecmp(s, "cidr", 4) == 0)
		n = s + 4;
	else
		return -EINVAL;
	n += strspn(n, " \t");
	if (*n == '\0' || strspn(n, "0123456789") != strlen(n) || parse_u32(n, &bits) < 0 ||
	    bits > 128)
		return -EINVAL;
	*ret = VIRT_CIDRHASH;
	*ret_cidr = bits;
	return 0;
}

/* ------------------------------------------------------------------------ checks */

/* How messages name an export: where its section starts, or the option that made it. */
static void export_where(const struct export_config *e, char *buf, size_t n)
{
	if (e->origin)
		snprintf(buf, n, "%s: export [%s]", e->origin, e->name);
	else if (e->name[0] == '\0')
		snprintf(buf, n, "the command-line export");
	else
		snprintf(buf, n, "export '%s' (--export)", e->name);
}

int export_config_check(const struct export_config *e)
{
	bool file = e->origin != NULL; /* message in the config file's words, else the options' */
	char where[NBD_MAX_STRING + 256];

	export_where(e, where, sizeof(where));

	if (strlen(e->name) > NBD_MAX_STRING) {
		log_error("%s: the name is longer than %u bytes, the most NBD allows", where,
			  NBD_MAX_STRING);
		return -EINVAL;
	}
	if (e->description && strlen(e->description) > NBD_MAX_STRING) {
		log_error("%s: the description is longer than %u bytes, the most NBD allows", where,
			  NBD_MAX_STRING);
		return -EINVAL;
	}
	if (e->backend == EXPORT_FILE && !e->path) {
		log_error("%s: no file to serve: set exportname = PATH, or memory = SIZE for a "
			  "memory export", where);
		return -EINVAL;
	}
	if (e->backend == EXPORT_MEMORY) {
		if (e->path) {
			log_error("%s: %s", where,
				  file ? "exportname and memory both set; keep one"
				       : "both a file and a memory size given; keep one");
			return -EINVAL;
		}
		if (e->size == 0) {
			log_error("%s: a memory export needs a size greater than 0", where);
			return -EINVAL;
		}
		if (e->copy_on_write || e->cow_path) {
			log_error("%s: copy-on-write does not apply to a memory export (%s)", where,
				  file ? "remove copyonwrite and cowfile"
				       : "drop --copy-on-write and --cow-file");
			return -EINVAL;
		}
		if (e->direct_io) {
			log_error("%s: direct I/O does not apply to a memory export (%s)", where,
				  file ? "remove directio" : "drop --direct");
			return -EINVAL;
		}
	}
	if (e->size > INT64_MAX) {
		log_error("%s: size %" PRIu64 " is larger than a file can be", where, e->size);
		return -EINVAL;
	}
	if (e->backend == EXPORT_MEMORY && (e->multifile || e->temporary || e->virtstyle)) {
		log_error("%s: %s does not apply to a memory export; remove it", where,
			  e->multifile ? "multifile" : e->temporary ? "temporary" : "virtstyle");
		return -EINVAL;
	}
	if (e->sharded && (e->backend == EXPORT_MEMORY || e->multifile || e->temporary ||
			   e->virtstyle || e->size)) {
		log_error("%s: %s does not apply to a sharded export (its size is in DIR/nbd-shards); "
			  "remove it", where,
			  e->backend == EXPORT_MEMORY ? "memory" : e->multifile ? "multifile"
			  : e->temporary ? "temporary" : e->virtstyle ? "virtstyle" : "filesize");
		return -EINVAL;
	}
	if (e->multifile && e->temporary) {
		log_error("%s: multifile and temporary exclude each other (as in the reference "
			  "nbd-server); keep one", where);
		return -EINVAL;
	}
	if (e->temporary && !e->copy_on_write && e->size == 0) {
		log_error("%s: a temporary export needs its size: set filesize", where);
		return -EINVAL;
	}
	if (e->temporary && e->cow_path) {
		log_error("%s: temporary removes the copy-on-write data at the end, cowfile keeps it; "
			  "keep one", where);
		return -EINVAL;
	}
	if (e->cowdir && e->cow_path) {
		log_error("%s: cowdir (an overlay per connection) and cowfile (one shared overlay) "
			  "exclude each other; keep one", where);
		return -EINVAL;
	}
	if (e->cow_path && !e->copy_on_write) {
		log_error("%s: %s", where,
			  file ? "cowfile needs copyonwrite = true"
			       : "--cow-file needs --copy-on-write (-c)");
		return -EINVAL;
	}
	if (e->cow_path && e->path && strcmp(e->cow_path, e->path) == 0) {
		log_error("%s: the copy-on-write file is the exported file itself; the overlay "
			  "must be another file", where);
		return -EINVAL;
	}
	return 0;
}

bool server_config_tls_enabled(const struct server_config *cfg)
{
	return cfg->tls != TLS_SETTING_OFF && (cfg->certfile || cfg->keyfile || cfg->pskfile);
}

bool server_config_tls_required(const struct server_config *cfg)
{
	return server_config_tls_enabled(cfg) && (cfg->tls == TLS_SETTING_REQUIRE || cfg->force_tls);
}

/* What TLS needs: one kind of credentials, complete, and a way to offer it. */
static int check_tls(const struct server_config *cfg)
{
	bool x509 = cfg->certfile || cfg->keyfile;

	if (x509 && (!cfg->certfile || !cfg->keyfile)) {
		log_error("TLS with certificates needs both the certificate and its key: %s is set "
			  "but not %s (certfile and keyfile in [generic], --certfile and --keyfile, "
			  "or --tls-certificates DIR)", cfg->certfile ? "certfile" : "keyfile",
			  cfg->certfile ? "keyfile" : "certfile");
		return -EINVAL;
	}
	if (x509 && cfg->pskfile) {
		log_error("TLS with both certificates (%s) and a PSK file (%s): choose one of them",
			  cfg->certfile, cfg->pskfile);
		return -EINVAL;
	}
	if (cfg->cacertfile && !x509) {
		log_error("cacertfile %s checks client certificates, which needs the server's own "
			  "certificate too: set certfile and keyfile (or --tls-certificates DIR)",
			  cfg->cacertfile);
		return -EINVAL;
	}
	if (cfg->tls == TLS_SETTING_OFF) {
		if (cfg->force_tls) {
			log_error("--tls=off contradicts force_tls in the config file: TLS cannot be "
				  "both off and required");
			return -EINVAL;
		}
	} else if (!x509 && !cfg->pskfile &&
		   (cfg->tls != TLS_SETTING_DEFAULT || cfg->force_tls)) {
		log_error("TLS is %s, but there are no credentials: give certfile and keyfile in "
			  "[generic] (or --tls-certificates DIR, or --certfile and --keyfile), or "
			  "--tls-psk FILE", cfg->tls == TLS_SETTING_ON ? "on (--tls=on)" : "required");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_exports; i++) {
		const struct export_config *e = &cfg->exports[i];
		char where[NBD_MAX_STRING + 256];

		if (!e->tls_only || server_config_tls_enabled(cfg))
			continue;
		export_where(e, where, sizeof(where));
		log_error("%s: tlsonly needs TLS, which is %s: %s", where,
			  cfg->tls == TLS_SETTING_OFF ? "off (--tls=off)" : "not configured",
			  cfg->tls == TLS_SETTING_OFF ? "drop --tls=off or tlsonly"
						       : "give certfile and keyfile in [generic] (or "
							 "--tls-certificates DIR), or drop tlsonly");
		return -EINVAL;
	}
	if (server_config_tls_enabled(cfg) && cfg->negotiated_export) {
		log_error("TLS is not available with --negotiated, which has no handshake to start it "
			  "in: turn TLS off with --tls=off, or let the clients negotiate");
		return -EINVAL;
	}
	if (server_config_tls_enabled(cfg) && cfg->stdio) {
		log_error("TLS is not available with --stdio (PORT 0): serve over a socket, or turn "
			  "TLS off with --tls=off");
		return -EINVAL;
	}
	return 0;
}

/* --negotiated serves one export, named or the only one, on the sockets of --fd. */
static int check_negotiated(const struct server_config *cfg)
{
	const char *name = cfg->negotiated_export;
	bool found = false;

	if (!name)
		return 0;
	if (!cfg->n_client_fds && !cfg->accept_fds_given) {
		log_error("--negotiated applies to the sockets given with --fd or --accept-fds; "
			  "there are none");
		return -EINVAL;
	}
	if (!*name && cfg->n_exports != 1) {
		log_error("--negotiated without a name serves the only export, but there are %zu: "
			  "give --negotiated=NAME", cfg->n_exports);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_exports && *name; i++)
		found = found || strcmp(cfg->exports[i].name, name) == 0;
	if (*name && !found) {
		log_error("--negotiated names export '%s', which is not defined: give the name of one "
			  "of the exports", name);
		return -EINVAL;
	}
	return 0;
}

int server_config_check(const struct server_config *cfg)
{
	int r;

	if (cfg->n_exports == 0) {
		log_error("no export to serve");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_exports; i++) {
		const struct export_config *e = &cfg->exports[i];

		r = export_config_check(e);
		if (r < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->exports[j].name, e->name) == 0) {
				const char *origin = cfg->exports[j].origin;
				char where[NBD_MAX_STRING + 256];

				export_where(e, where, sizeof(where));
				log_error("%s: the name is already used by the export defined %s%s",
					  where, origin ? "at " : "on the command line",
					  origin ? origin : "");
				return -EINVAL;
			}
	}

	if (cfg->unix_path && strlen(cfg->unix_path) >= UNIX_PATH_MAX) {
		log_error("Unix socket path %s is too long: at most %zu bytes", cfg->unix_path,
			  UNIX_PATH_MAX - 1);
		return -EINVAL;
	}
	if (cfg->family != AF_UNSPEC)
		for (char *const *a = cfg->addresses; a && *a; a++) {
			int other = cfg->family == AF_INET ? AF_INET6 : AF_INET;

			if (address_family_is(*a, other)) {
				log_error("listen address %s is %s, but only %s was asked for (%s)",
					  *a, other == AF_INET ? "IPv4" : "IPv6",
					  cfg->family == AF_INET ? "IPv4" : "IPv6",
					  cfg->family == AF_INET ? "-4" : "-6");
				return -EINVAL;
			}
		}
	r = check_negotiated(cfg);
	if (r < 0)
		return r;
	return check_tls(cfg);
}

/* ------------------------------------------------------------------------ allow lists */

int allow_list_load(const char *path, char ***ret)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_(strv_freep) char **entries = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;

	f = fopen(path, "re");
	if (!f)
		return log_error_errno(errno, "Cannot open allow list %s: %m (refusing to start "
					      "with access control that cannot be read)", path);

	/* An empty file is an empty list, which lets no one in; NULL would let everyone in. */
	entries = calloc(1, sizeof(char *));
	if (!entries)
		return log_oom();

	errno = 0;
	while (getline(&line, &cap, f) >= 0) {
		char *s = line, *end;
		int r;

		lineno++;
		/* An address never contains '#', so a comment may also follow an entry. */
		end = strchr(s, '#');
		if (end)
			*end = '\0';
		s += strspn(s, " \t\r\n");
		end = s + strlen(s);
		while (end > s && strchr(" \t\r\n", end[-1]))
			*--end = '\0';
		if (*s == '\0')
			continue;

		r = allow_entry_check(s);
		if (r == -ERANGE) {
			log_error("%s:%u: invalid allow list entry '%s': the prefix length is too "
				  "long for the address (at most /32 for IPv4, /128 for IPv6)",
				  path, lineno, s);
			return -EINVAL;
		}
		if (r < 0) {
			log_error("%s:%u: invalid allow list entry '%s': expected an IPv4 or IPv6 "
				  "address, optionally with /PREFIX", path, lineno, s);
			return -EINVAL;
		}
		if (strv_push(&entries, s) < 0)
			return log_oom();
	}
	if (ferror(f))
		return log_error_errno(errno ? errno : EIO, "Cannot read allow list %s: %m", path);

	*ret = TAKE_PTR(entries);
	return 0;
}

/* Appends the entries of file to *allow; NULL becomes the file's list, possibly empty. */
static int allow_list_append_file(char ***allow, const char *file)
{
	_cleanup_(strv_freep) char **loaded = NULL;
	int r;

	r = allow_list_load(file, &loaded);
	if (r < 0)
		return r;
	if (!*allow) {
		*allow = TAKE_PTR(loaded);
		return 0;
	}
	for (char **p = loaded; *p; p++)
		if (strv_push(allow, *p) < 0)
			return log_oom();
	return 0;
}

int server_config_load_allow_lists(struct server_config *cfg)
{
	int r;

	if (cfg->authfile) {
		r = allow_list_append_file(&cfg->allow, cfg->authfile);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < cfg->n_exports; i++) {
		struct export_config *e = &cfg->exports[i];

		if (e->authfile) {
			r = allow_list_append_file(&e->allow, e->authfile);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
