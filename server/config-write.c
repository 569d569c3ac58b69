/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writing an export as a section of the reference's config file (the -o option), escaped so that
 * the reader (config-file.c) reads back the same values.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "server/config.h"

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
	if (e->tls_only)
		fputs("\ttlsonly = true\n", f);
	return fflush(f) == 0 ? 0 : negative_errno();
}
