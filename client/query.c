/* SPDX-License-Identifier: GPL-2.0-or-later */
/* list and info: ask a server about its exports without touching the kernel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/commands.h"
#include "client/connection.h"
#include "common/log.h"
#include "proto/names.h"

/* Prints s as a JSON string. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Connects and runs one negotiation, logging the failure with the target's name. */
static int query(const struct client_options *o, enum nbd_neg_mode mode,
		 struct nbd_neg_result **ret)
{
	_cleanup_free_ char *message = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = client_open_export(o, -1, mode, client_connect_timeout_ms(o, CLIENT_CONNECT_TIMEOUT_MS),
			       client_negotiate_timeout_ms(o, CLIENT_NEGOTIATE_TIMEOUT_MS), &fd, NULL,
			       ret, &message);
	if (r < 0) {
		log_error_errno(r, "%s", message ? message : strerror(-r));
		if (r == -ENOENT && mode != NBD_NEG_LIST)
			client_log_exports(o);
		return r;
	}
	return 0;
}

int cmd_list(const struct client_options *o)
{
	struct nbd_neg_result *res = NULL;
	int r = query(o, NBD_NEG_LIST, &res);

	if (r < 0)
		return r;
	if (o->json) {
		printf("[");
		for (size_t i = 0; i < res->n_exports; i++) {
			printf("%s\n  {\"name\": ", i ? "," : "");
			json_string(stdout, res->exports[i].name);
			printf(", \"description\": ");
			json_string(stdout, res->exports[i].description);
			printf("}");
		}
		printf("%s]\n", res->n_exports ? "\n" : "");
	} else {
		for (size_t i = 0; i < res->n_exports; i++) {
			const struct nbd_export_entry *e = &res->exports[i];

			/* The reference's format: "name" or "name: description". */
			if (*e->description)
				printf("%s: %s\n", e->name, e->description);
			else
				printf("%s\n", e->name);
		}
	}
	nbd_neg_result_free(res);
	return 0;
}

int cmd_info(const struct client_options *o)
{
	struct nbd_neg_result *res = NULL;
	char flags[256];
	int r = query(o, NBD_NEG_INFO, &res);

	if (r < 0)
		return r;
	nbd_transmission_flags_string(res->transmission_flags, flags, sizeof(flags));
	if (o->json) {
		printf("{\n  \"export\": ");
		json_string(stdout, res->name ? res->name : o->target.export_name);
		printf(",\n  \"description\": ");
		json_string(stdout, res->description ? res->description : "");
		printf(",\n  \"size\": %llu,\n  \"flags\": %u,\n  \"flag_names\": ",
		       (unsigned long long)res->size, res->transmission_flags);
		json_string(stdout, flags);
		printf(",\n  \"structured_replies\": %s", res->structured_replies ? "true" : "false");
		if (res->has_block_size)
			printf(",\n  \"block_size\": {\"minimum\": %u, \"preferred\": %u, "
			       "\"maximum\": %u}",
			       res->block_minimum, res->block_preferred, res->block_maximum);
		printf(",\n  \"meta_contexts\": [");
		for (size_t i = 0; i < res->n_meta_contexts; i++) {
			printf("%s", i ? ", " : "");
			json_string(stdout, res->meta_contexts[i].name);
		}
		printf("]\n}\n");
	} else {
		printf("export: %s\n", res->name ? res->name : o->target.export_name);
		if (res->description && *res->description)
			printf("description: %s\n", res->description);
		printf("size: %llu\n", (unsigned long long)res->size);
		printf("flags: 0x%04x (%s)\n", res->transmission_flags, flags);
		if (res->has_block_size)
			printf("block size: minimum %u, preferred %u, maximum %u\n", res->block_minimum,
			       res->block_preferred, res->block_maximum);
		printf("structured replies: %s\n", res->structured_replies ? "yes" : "no");
		for (size_t i = 0; i < res->n_meta_contexts; i++)
			printf("meta context: %s\n", res->meta_contexts[i].name);
		if (res->export_name_fallback)
			printf("note: the server does not support NBD_OPT_INFO; only size and flags are "
			       "known\n");
	}
	/* After an EXPORT_NAME fallback the connection is in transmission; closing it is a valid
	 * hard disconnect there. */
	nbd_neg_result_free(res);
	return 0;
}
