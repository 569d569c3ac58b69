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
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/macro.h"
#include "common/parse.h"
#include "proto/nbd-protocol.h"
#include "server/config.h"
#include "server/config-keys.h"
#include "server/strv.h"

struct parser {
	struct server_config *cfg;
	const char *path;
	unsigned line;
	bool included;              /* read through includedir: export sections only */

	enum section_kind kind;
	char *section;
	size_t export_index;
	unsigned key_line[CONFIG_KEYS_MAX]; /* where each key of the section was set; 0: not */

	bool seen_export;
	unsigned generic_line;      /* of [generic], 0: none yet */
	char *includedir;
	unsigned includedir_line;
};

static const char *section_name(const struct parser *p)
{
	return p->kind == SECTION_GENERIC ? "generic" : p->section;
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
	r = export_config_check(e);
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
		return config_set_string(field, value);

	case KEY_NAME:
		if (*value == '\0')
			return bad_value(p, k->name, value, "expected a name, not nothing");
		return config_set_string(field, value);

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
			return config_set_string(&p->includedir, value);
		}
		return config_set_string(field, value);

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
		r = config_set_string(&cfg->config_path, path);
	free(p.section);
	free(p.includedir);
	return r;
}
