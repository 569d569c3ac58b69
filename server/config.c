/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The reference nbd-server's config file, read strictly.
 *
 * The reference reads it with GLib's key file parser and looks up only the keys it knows, so a typo
 * ("flsh = true") is silently ignored and the export runs without what was asked for. Here every
 * line is accounted for: a key is either known, known to belong to the other kind of section,
 * known from the reference but unsupported (an error that says why, unless its value asks for
 * nothing), or unknown, and every error names the file and the line. The syntax is the key file
 * subset that nbd-server configs use: [sections], `key = value`, whole-line # and ; comments, and
 * the key file escapes (\s \n \t \r \\) in values.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"
#include "server/config.h"

/* sun_path, terminator included. */
#define UNIX_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* ------------------------------------------------------------------------ string arrays */

size_t strv_length(char *const *l)
{
	size_t n = 0;

	if (l)
		while (l[n])
			n++;
	return n;
}

int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char *copy, **grown;

	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	grown = realloc(*l, (n + 2) * sizeof(char *));
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	grown[n] = copy;
	grown[n + 1] = NULL;
	*l = grown;
	return 0;
}

bool strv_equal(char *const *a, char *const *b)
{
	size_t n = strv_length(a);

	if (!a || !b)
		return a == b;
	if (n != strv_length(b))
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

static int strv_copy(char ***dst, char *const *src)
{
	char **l;
	size_t n = strv_length(src);

	if (!src) {
		*dst = NULL;
		return 0;
	}
	l = calloc(n + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l[i] = strdup(src[i]);
		if (!l[i]) {
			strv_free(l);
			return -ENOMEM;
		}
	}
	*dst = l;
	return 0;
}

void strv_free(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)

/* ------------------------------------------------------------------------ objects */

void server_config_init(struct server_config *cfg)
{
	*cfg = (struct server_config){
		.port = NBD_DEFAULT_PORT,
		.family = AF_UNSPEC,
		.allow_list = true,
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
	       a->temporary == b->temporary && str_equal(a->cowdir, b->cowdir) &&
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
	strv_free(cfg->allow);
	free(cfg->authfile);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pidfile);
	free(cfg->config_path);
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

static int export_check(const struct export_config *e)
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

int server_config_check(const struct server_config *cfg)
{
	int r;

	if (cfg->n_exports == 0) {
		log_error("no export to serve");
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_exports; i++) {
		const struct export_config *e = &cfg->exports[i];

		r = export_check(e);
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
	return 0;
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

/* ------------------------------------------------------------------------ the config file */

enum section_kind {
	SECTION_NONE,
	SECTION_GENERIC,
	SECTION_EXPORT,
};

enum key_type {
	KEY_STRING,     /* free text; empty means none */
	KEY_NAME,       /* a user or group name: not empty */
	KEY_PATH,       /* an absolute path */
	KEY_OPT_PATH,   /* an absolute path, or empty: none */
	KEY_BOOL,
	KEY_PORT,       /* a number or a service name (nbd) */
	KEY_UNSIGNED,   /* 0 .. max */
	KEY_SIZE,       /* filesize */
	KEY_ADDRESSES,  /* listenaddr */
	KEY_MEMORY,     /* memory = SIZE: a memory export */
	KEY_INCLUDEDIR,
	KEY_VIRTSTYLE,  /* none, ipliteral, iphash, cidrhash N */
	KEY_OFF_BOOL,   /* a feature this server lacks: fine while false */
	KEY_OFF_STRING, /* a feature this server lacks: fine while empty */
	KEY_IGNORED,    /* accepted with a warning: it never did anything */
	KEY_NOTE_BOOL,  /* a true/false tuning knob this server does not need: a note in the log */
};

struct key {
	const char *name;
	enum section_kind section;
	size_t offset; /* into struct server_config or struct export_config */
	enum key_type type;
	unsigned max;  /* KEY_UNSIGNED */
	const char *why; /* KEY_OFF_*, KEY_IGNORED, KEY_VIRTSTYLE: the explanation */
};

#define G(field) SECTION_GENERIC, offsetof(struct server_config, field)
#define E(field) SECTION_EXPORT, offsetof(struct export_config, field)
#define GX SECTION_GENERIC, 0
#define EX SECTION_EXPORT, 0

#define WHY_TLS "TLS is not available yet in this nbd-server; remove it"
#define WHY_NOT(what) what " is not supported by this nbd-server; remove it"

static const struct key keys[] = {
	{ "user", G(user), .type = KEY_NAME },
	{ "group", G(group), .type = KEY_NAME },
	{ "listenaddr", G(addresses), .type = KEY_ADDRESSES },
	{ "port", G(port), .type = KEY_PORT },
	{ "includedir", GX, .type = KEY_INCLUDEDIR },
	{ "allowlist", G(allow_list), .type = KEY_BOOL },
	{ "unixsock", G(unix_path), .type = KEY_PATH },
	{ "duallisten", G(dual_listen), .type = KEY_BOOL },
	{ "maxconnections", G(max_connections), .type = KEY_UNSIGNED, .max = UINT32_MAX },
	{ "authfile", G(authfile), .type = KEY_PATH },
	{ "max_threads", G(threads), .type = KEY_UNSIGNED, .max = 4096 },
	{ "oldstyle", GX, .type = KEY_OFF_BOOL,
	  .why = "the oldstyle handshake is not supported by this nbd-server (nor by the reference "
		 "since 3.10); remove it" },
	{ "force_tls", GX, .type = KEY_OFF_BOOL, .why = WHY_TLS },
	{ "certfile", GX, .type = KEY_OFF_STRING, .why = WHY_TLS },
	{ "keyfile", GX, .type = KEY_OFF_STRING, .why = WHY_TLS },
	{ "cacertfile", GX, .type = KEY_OFF_STRING, .why = WHY_TLS },
	{ "tlsprio", GX, .type = KEY_OFF_STRING, .why = WHY_TLS },
	{ "tlsonly", GX, .type = KEY_OFF_BOOL, .why = WHY_TLS },
	{ "splice", GX, .type = KEY_NOTE_BOOL,
	  .why = "this nbd-server splices WRITE payloads and uses sendfile() for READs by itself" },

	{ "exportname", E(path), .type = KEY_PATH },
	{ "readonly", E(read_only), .type = KEY_BOOL },
	{ "copyonwrite", E(copy_on_write), .type = KEY_BOOL },
	{ "cowfile", E(cow_path), .type = KEY_PATH },
	{ "filesize", E(size), .type = KEY_SIZE },
	{ "memory", E(size), .type = KEY_MEMORY },
	{ "flush", E(flush), .type = KEY_BOOL },
	{ "fua", E(fua), .type = KEY_BOOL },
	{ "trim", E(trim), .type = KEY_BOOL },
	{ "rotational", E(rotational), .type = KEY_BOOL },
	{ "sync", E(sync), .type = KEY_BOOL },
	{ "directio", E(direct_io), .type = KEY_BOOL },
	{ "authfile", E(authfile), .type = KEY_PATH },
	{ "maxconnections", E(max_connections), .type = KEY_UNSIGNED, .max = UINT32_MAX },
	{ "description", E(description), .type = KEY_STRING },
	{ "virtstyle", EX, .type = KEY_VIRTSTYLE },
	{ "prerun", E(prerun), .type = KEY_STRING },
	{ "postrun", E(postrun), .type = KEY_STRING },
	{ "transactionlog", E(transactionlog), .type = KEY_OPT_PATH },
	{ "datalog", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("logging WRITE data in the transaction log (datalog)") },
	{ "multifile", E(multifile), .type = KEY_BOOL },
	{ "treefiles", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("an export of one file per block (treefiles)") },
	{ "waitfile", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("waiting for the export file to appear (waitfile)") },
	{ "sparse_cow", EX, .type = KEY_NOTE_BOOL,
	  .why = "copy-on-write overlays of this nbd-server are always sparse" },
	{ "cowdir", E(cowdir), .type = KEY_OPT_PATH },
	{ "temporary", E(temporary), .type = KEY_BOOL },
	{ "splice", EX, .type = KEY_NOTE_BOOL,
	  .why = "this nbd-server splices WRITE payloads and uses sendfile() for READs by itself" },
	{ "sdp", EX, .type = KEY_OFF_BOOL, .why = WHY_NOT("SDP (the Sockets Direct Protocol)") },
	{ "force_tls", EX, .type = KEY_OFF_BOOL, .why = WHY_TLS },
	{ "tlsonly", EX, .type = KEY_OFF_BOOL, .why = WHY_TLS },
	{ "timeout", EX, .type = KEY_IGNORED,
	  .why = "the reference nbd-server documents it but never used it; a client sets its own "
		 "timeout" },
	{ "listenaddr", EX, .type = KEY_IGNORED,
	  .why = "listen addresses are set in [generic], as in the reference nbd-server" },
};

#undef G
#undef E
#undef GX
#undef EX

struct parser {
	struct server_config *cfg;
	const char *path;
	unsigned line;
	bool included;              /* read through includedir: export sections only */

	enum section_kind kind;
	char *section;
	size_t export_index;
	unsigned key_line[ELEMENTSOF(keys)]; /* where each key of the section was set; 0: not */

	bool seen_export;
	unsigned generic_line;      /* of [generic], 0: none yet */
	char *includedir;
	unsigned includedir_line;
};

static const char *section_name(const struct parser *p)
{
	return p->kind == SECTION_GENERIC ? "generic" : p->section;
}

static size_t key_index(const struct key *k)
{
	return (size_t)(k - keys);
}

static const struct key *key_find(const char *name, enum section_kind kind)
{
	for (size_t i = 0; i < ELEMENTSOF(keys); i++)
		if (keys[i].section == kind && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* Edit distance for "did you mean"; long keys get no suggestion rather than a big buffer. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[65], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la > 64 || lb > 64)
		return UINT32_MAX;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

static const struct key *key_suggest(const char *name, enum section_kind kind)
{
	const struct key *best = NULL;
	unsigned best_d = 3; /* two edits at most, or it is a guess */

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		unsigned d;

		if (keys[i].section != kind || keys[i].type == KEY_IGNORED ||
		    keys[i].type == KEY_NOTE_BOOL)
			continue;
		d = strcasecmp(keys[i].name, name) == 0 ? 0 : edit_distance(name, keys[i].name);
		if (d < best_d && d < strlen(name)) {
			best = &keys[i];
			best_d = d;
		}
	}
	return best;
}

_printf_(2, 3) static int parse_error(const struct parser *p, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%u: %s", p->path, p->line, msg);
	return -EINVAL;
}

static int bad_value(const struct parser *p, const char *key, const char *value,
		     const char *expected)
{
	return parse_error(p, "invalid value '%s' for key '%s' in section [%s]: %s", value, key,
			   section_name(p), expected);
}

/* Undoes the key file escapes in place; returns the offending character on a bad escape. */
static int unescape(char *s, char *bad)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case 's':
			*w++ = ' ';
			break;
		case 'n':
			*w++ = '\n';
			break;
		case 't':
			*w++ = '\t';
			break;
		case 'r':
			*w++ = '\r';
			break;
		case '\\':
			*w++ = '\\';
			break;
		default:
			/* Reported as it is; '\0' means the value ended in a lone backslash. */
			*bad = *r;
			return -EINVAL;
		}
	}
	*w = '\0';
	return 0;
}

static int finish_section(struct parser *p)
{
	const struct key *memory = key_find("memory", SECTION_EXPORT);
	const struct key *filesize = key_find("filesize", SECTION_EXPORT);
	const struct key *exportname = key_find("exportname", SECTION_EXPORT);
	const struct key *virtstyle = key_find("virtstyle", SECTION_EXPORT);
	struct export_config *e;
	unsigned saved = p->line;
	int r = 0;

	if (p->kind != SECTION_EXPORT)
		goto out;

	e = &p->cfg->exports[p->export_index];
	/* Conflicts are reported on the line of the later key, which is the one to look at. */
	if (p->key_line[key_index(memory)] && p->key_line[key_index(exportname)]) {
		p->line = MAX(p->key_line[key_index(memory)], p->key_line[key_index(exportname)]);
		r = parse_error(p, "section [%s] sets both exportname and memory: an export serves "
				   "either a file or memory; keep one", p->section);
		goto out;
	}
	if (p->key_line[key_index(memory)] && p->key_line[key_index(filesize)]) {
		p->line = MAX(p->key_line[key_index(memory)], p->key_line[key_index(filesize)]);
		r = parse_error(p, "section [%s] sets both filesize and memory: the size of a "
				   "memory export is its memory = SIZE; remove filesize",
				p->section);
		goto out;
	}
	/* The reference's default style is ipliteral: a %s in exportname is the client's address
	 * unless virtstyle = none says otherwise. */
	if (!p->key_line[key_index(virtstyle)] && e->path && strstr(e->path, "%s"))
		e->virtstyle = VIRT_IPLITERAL;
	r = export_check(e);
out:
	p->line = saved;
	free(p->section);
	p->section = NULL;
	p->kind = SECTION_NONE;
	memset(p->key_line, 0, sizeof(p->key_line));
	return r;
}

static int start_section(struct parser *p, char *header)
{
	char *close, *name;
	struct export_config *e, *dup;
	int r;

	r = finish_section(p);
	if (r < 0)
		return r;

	close = strrchr(header, ']');
	if (!close || close[1] != '\0')
		return parse_error(p, "expected ']' at the end of the section header");
	*close = '\0';
	name = header + 1;
	if (*name == '\0')
		return parse_error(p, "empty section name: an export section is named after its "
				      "export");
	if (strpbrk(name, "[]"))
		return parse_error(p, "invalid section name '%s': '[' and ']' cannot be part of it",
				   name);

	if (strcmp(name, "generic") == 0) {
		if (p->included)
			return parse_error(p, "[generic] is not allowed in a file read through "
					      "includedir; only export sections are");
		if (p->generic_line)
			return parse_error(p, "section [generic] is defined twice (first on line "
					      "%u)", p->generic_line);
		if (p->seen_export)
			return parse_error(p, "[generic] must be the first section of the file");
		p->generic_line = p->line;
		p->kind = SECTION_GENERIC;
		return 0;
	}

	dup = server_config_find_export(p->cfg, name);
	if (dup) {
		if (dup->origin)
			return parse_error(p, "section [%s] is defined twice (first at %s)", name,
					   dup->origin);
		return parse_error(p, "export '%s' is already given on the command line", name);
	}

	p->section = strdup(name);
	if (!p->section)
		return log_oom();
	r = server_config_add_export(p->cfg, name, &e);
	if (r < 0)
		return log_oom();
	if (asprintf(&e->origin, "%s:%u", p->path, p->line) < 0) {
		e->origin = NULL;
		return log_oom();
	}
	p->export_index = p->cfg->n_exports - 1;
	p->kind = SECTION_EXPORT;
	p->seen_export = true;
	return 0;
}

static int set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return log_oom();
	free(*field);
	*field = copy;
	return 0;
}

static int set_addresses(struct parser *p, const struct key *k, char ***field, const char *value)
{
	_cleanup_(strv_freep) char **list = NULL;
	_cleanup_free_ char *copy = strdup(value);
	char *save = NULL;

	if (!copy)
		return log_oom();
	for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		if (!listen_address_valid(t))
			return parse_error(p, "invalid address '%s' in key '%s' in section [%s]: "
					      "expected an IPv4 or IPv6 address or a host name",
					   t, k->name, section_name(p));
		if (strv_push(&list, t) < 0)
			return log_oom();
	}
	if (!list)
		return bad_value(p, k->name, value, "expected one or more addresses, separated by "
						    "commas or spaces");
	strv_free(*field);
	*field = TAKE_PTR(list);
	return 0;
}

static int set_value(struct parser *p, const struct key *k, const char *value)
{
	void *base = k->section == SECTION_GENERIC ? (void *)p->cfg
						   : (void *)&p->cfg->exports[p->export_index];
	void *field = (char *)base + k->offset;
	uint64_t u64;
	uint32_t u32;
	uint16_t u16;
	bool b;
	int r;

	switch (k->type) {
	case KEY_STRING:
		if (*value == '\0') {
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		return set_string(field, value);

	case KEY_NAME:
		if (*value == '\0')
			return bad_value(p, k->name, value, "expected a name, not nothing");
		return set_string(field, value);

	case KEY_OPT_PATH:
	case KEY_PATH:
	case KEY_INCLUDEDIR:
		if (k->type == KEY_OPT_PATH && *value == '\0') {
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		if (value[0] != '/')
			return bad_value(p, k->name, value, "expected an absolute path");
		if (k->type == KEY_INCLUDEDIR) {
			p->includedir_line = p->line;
			return set_string(&p->includedir, value);
		}
		return set_string(field, value);

	case KEY_BOOL:
		if (parse_bool(value, &b) < 0)
			return bad_value(p, k->name, value, "expected true or false");
		*(bool *)field = b;
		return 0;

	case KEY_PORT:
		if (port_parse(value, &u16) < 0)
			return bad_value(p, k->name, value, "expected a number from 1 to 65535 or a "
							    "TCP service name from /etc/services (nbd)");
		*(uint16_t *)field = u16;
		return 0;

	case KEY_UNSIGNED:
		r = parse_u32(value, &u32);
		if (r < 0 || u32 > k->max) {
			char expected[64];

			snprintf(expected, sizeof(expected), "expected a number from 0 to %u",
				 k->max);
			return bad_value(p, k->name, value, expected);
		}
		*(unsigned *)field = u32;
		return 0;

	case KEY_SIZE:
	case KEY_MEMORY:
		r = parse_size(value, &u64);
		if (r == -ERANGE || (r == 0 && u64 > INT64_MAX))
			return bad_value(p, k->name, value, "too large");
		if (r < 0)
			return bad_value(p, k->name, value,
					 "expected a size in bytes, optionally with a suffix such "
					 "as K, M, G or T");
		if (k->type == KEY_MEMORY) {
			if (u64 == 0)
				return bad_value(p, k->name, value,
						 "a memory export needs a size greater than 0");
			p->cfg->exports[p->export_index].backend = EXPORT_MEMORY;
		}
		*(uint64_t *)field = u64;
		return 0;

	case KEY_ADDRESSES:
		return set_addresses(p, k, field, value);

	case KEY_VIRTSTYLE: {
		struct export_config *e = &p->cfg->exports[p->export_index];

		if (virtstyle_parse(value, &e->virtstyle, &e->virt_cidr) < 0)
			return bad_value(p, k->name, value, "expected none, ipliteral, iphash or "
							    "cidrhash N (N a prefix length, at most "
							    "128)");
		return 0;
	}

	case KEY_OFF_BOOL:
		if (parse_bool(value, &b) < 0)
			return bad_value(p, k->name, value, "expected true or false");
		if (!b)
			return 0;
		return parse_error(p, "key '%s' in section [%s]: %s", k->name, section_name(p),
				   k->why);

	case KEY_OFF_STRING:
		if (*value == '\0')
			return 0;
		return parse_error(p, "key '%s' in section [%s]: %s", k->name, section_name(p),
				   k->why);

	case KEY_NOTE_BOOL:
		if (parse_bool(value, &b) < 0)
			return bad_value(p, k->name, value, "expected true or false");
		log_notice("%s:%u: key '%s' in section [%s] has no effect: %s", p->path, p->line,
			   k->name, section_name(p), k->why);
		return 0;

	case KEY_IGNORED:
		log_warning("%s:%u: key '%s' in section [%s] is ignored: %s", p->path, p->line,
			    k->name, section_name(p), k->why);
		return 0;
	}
	return 0;
}

static int parse_key_value(struct parser *p, char *line)
{
	char *eq, *key, *value, *end, bad = 0;
	const struct key *k;
	enum section_kind other;

	eq = strchr(line, '=');
	if (!eq)
		return parse_error(p, "expected 'key = value', a [section] header or a comment");
	*eq = '\0';
	key = line;
	end = eq;
	while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	value = eq + 1;
	value += strspn(value, " \t");

	if (*key == '\0')
		return parse_error(p, "missing key before '='");
	if (p->kind == SECTION_NONE)
		return parse_error(p, "key '%s' is outside of any section; put it under [generic] "
				      "or under an export's [name]", key);
	if (unescape(value, &bad) < 0) {
		if (bad == '\0')
			return parse_error(p, "the value of key '%s' ends in a lone '\\' (write "
					      "\\\\ for a backslash)", key);
		return parse_error(p, "invalid escape sequence '\\%c' in the value of key '%s' "
				      "(escapes are \\s \\n \\t \\r \\\\)", bad, key);
	}

	k = key_find(key, p->kind);
	if (!k) {
		other = p->kind == SECTION_GENERIC ? SECTION_EXPORT : SECTION_GENERIC;
		k = key_find(key, other);
		/* Moving an unsupported key to its section would only lead to the next error. */
		if (k && (k->type == KEY_OFF_BOOL || k->type == KEY_OFF_STRING))
			return parse_error(p, "key '%s' in section [%s]: %s", key, section_name(p),
					   k->why);
		if (k && k->type != KEY_IGNORED && k->type != KEY_NOTE_BOOL)
			return parse_error(p, "key '%s' belongs in %s, not in section [%s]", key,
					   other == SECTION_GENERIC ? "[generic]"
								    : "an export's section",
					   section_name(p));
		k = key_suggest(key, p->kind);
		if (k)
			return parse_error(p, "unknown key '%s' in section [%s] (did you mean "
					      "'%s'?)", key, section_name(p), k->name);
		return parse_error(p, "unknown key '%s' in section [%s]", key, section_name(p));
	}

	if (p->key_line[key_index(k)])
		return parse_error(p, "key '%s' is set twice in section [%s] (first on line %u)",
				   key, section_name(p), p->key_line[key_index(k)]);
	p->key_line[key_index(k)] = p->line;
	return set_value(p, k, value);
}

static int parse_line(struct parser *p, char *line)
{
	char *end;

	/* Trailing whitespace is dropped (use \s to keep a space at the end of a value). */
	end = line + strlen(line);
	while (end > line && strchr(" \t\r\n", end[-1]))
		*--end = '\0';
	line += strspn(line, " \t");

	if (*line == '\0' || *line == '#' || *line == ';')
		return 0;
	if (*line == '[')
		return start_section(p, line);
	return parse_key_value(p, line);
}

static int parse_file(struct parser *p)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int r;

	f = fopen(p->path, "re");
	if (!f)
		return log_error_errno(errno, "Cannot open config file %s: %m", p->path);

	errno = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		p->line++;
		if (strlen(line) != (size_t)n)
			return parse_error(p, "a NUL byte in a config file; is it a text file?");
		r = parse_line(p, line);
		if (r < 0)
			return r;
	}
	if (ferror(f))
		return log_error_errno(errno ? errno : EIO, "Cannot read config file %s: %m",
				       p->path);
	return finish_section(p);
}

static bool is_conf_name(const char *name)
{
	size_t n = strlen(name);

	/* As a shell glob *.conf would: no hidden files, and ".conf" alone is hidden. */
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_includedir(struct parser *parent)
{
	_cleanup_(strv_freep) char **names = NULL;
	DIR *d;
	struct dirent *de;
	size_t n;
	int r = 0;

	d = opendir(parent->includedir);
	if (!d)
		return log_error_errno(errno, "%s:%u: cannot open includedir %s: %m", parent->path,
				       parent->includedir_line, parent->includedir);
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			break;
		if (!is_conf_name(de->d_name))
			continue;
		if (strv_push(&names, de->d_name) < 0) {
			closedir(d);
			return log_oom();
		}
	}
	if (errno) {
		r = log_error_errno(errno, "%s:%u: cannot read includedir %s: %m", parent->path,
				    parent->includedir_line, parent->includedir);
		closedir(d);
		return r;
	}
	closedir(d);

	/* Sorted by bytes, so that the order (and which duplicate is reported) never depends on the
	 * locale or on the order the filesystem happens to return. */
	n = strv_length(names);
	if (n > 1)
		qsort(names, n, sizeof(char *), compare_names);

	for (size_t i = 0; i < n && r >= 0; i++) {
		_cleanup_free_ char *path = NULL;
		struct parser p = {
			.cfg = parent->cfg,
			.included = true,
		};
		struct stat st;

		if (asprintf(&path, "%s/%s", parent->includedir, names[i]) < 0)
			return log_oom();
		/* A subdirectory or a dangling link named *.conf is not a config file. */
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		p.path = path;
		r = parse_file(&p);
		free(p.section);
		free(p.includedir);
	}
	return r;
}

int server_config_load_file(struct server_config *cfg, const char *path)
{
	struct parser p = {
		.cfg = cfg,
		.path = path,
	};
	int r;

	r = parse_file(&p);
	if (r >= 0 && p.includedir)
		r = load_includedir(&p);
	if (r >= 0)
		r = set_string(&cfg->config_path, path);
	free(p.section);
	free(p.includedir);
	return r;
}

/* ------------------------------------------------------------------------ writing a section */

/* Writes a value with the escapes the reader undoes, so that it reads back the same. */
static void write_escaped(FILE *f, const char *s)
{
	for (const char *c = s; *c; c++) {
		switch (*c) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case ' ':
			/* Only the ends need it: inner spaces survive the reader's trimming. */
			fputs(c == s || c[1] == '\0' ? "\\s" : " ", f);
			break;
		default:
			fputc(*c, f);
		}
	}
}

static void write_key(FILE *f, const char *key, const char *value)
{
	fprintf(f, "\t%s = ", key);
	write_escaped(f, value);
	fputc('\n', f);
}

int export_config_write(FILE *f, const struct export_config *e, const char *section)
{
	if (*section == '\0' || strpbrk(section, "[]\n\r") || strcmp(section, "generic") == 0) {
		log_error("cannot write an export named '%s' as a config section: a section name "
			  "must not be empty, contain '[', ']' or a line break, or be 'generic'",
			  section);
		return -EINVAL;
	}

	fprintf(f, "[%s]\n", section);
	if (e->backend == EXPORT_MEMORY)
		fprintf(f, "\tmemory = %" PRIu64 "\n", e->size);
	else {
		if (e->path)
			write_key(f, "exportname", e->path);
		if (e->size)
			fprintf(f, "\tfilesize = %" PRIu64 "\n", e->size);
	}
	if (e->description)
		write_key(f, "description", e->description);
	if (e->read_only)
		fputs("\treadonly = true\n", f);
	if (e->copy_on_write)
		fputs("\tcopyonwrite = true\n", f);
	if (e->cow_path)
		write_key(f, "cowfile", e->cow_path);
	if (e->direct_io)
		fputs("\tdirectio = true\n", f);
	if (e->sync)
		fputs("\tsync = true\n", f);
	/* The reference defaults these to false and this server to true: spelling them out makes
	 * the section mean the same to both. */
	fprintf(f, "\tflush = %s\n", e->flush ? "true" : "false");
	fprintf(f, "\tfua = %s\n", e->fua ? "true" : "false");
	fprintf(f, "\ttrim = %s\n", e->trim ? "true" : "false");
	if (e->rotational)
		fputs("\trotational = true\n", f);
	if (e->authfile)
		write_key(f, "authfile", e->authfile);
	if (e->max_connections)
		fprintf(f, "\tmaxconnections = %u\n", e->max_connections);
	return fflush(f) == 0 ? 0 : negative_errno();
}
