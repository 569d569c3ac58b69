/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>

#include "proto/negotiate-result.h"
#include "proto/option.h"

/* Grows an array geometrically: called before adding element `count`, it reallocates only when count
 * is zero or a power of two, so a long LIST costs O(n) copying, not O(n^2). */
static void *grow(void *array, size_t count, size_t size)
{
	if (count && (count & (count - 1)))
		return array;
	return realloc(array, (count ? 2 * count : 1) * size);
}

int nbd_neg_result_add_meta_context(struct nbd_neg_result *res, const uint8_t *payload, size_t len,
				    size_t max)
{
	struct nbd_meta_context *mc;
	struct nbd_string name;
	uint32_t id;
	int r;

	r = nbd_rep_meta_context_decode(payload, len, &id, &name);
	if (r < 0)
		return r;
	if (res->n_meta_contexts >= max)
		return -E2BIG;
	mc = grow(res->meta_contexts, res->n_meta_contexts, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	res->meta_contexts = mc;
	mc[res->n_meta_contexts] = (struct nbd_meta_context){ .id = id, .name = nbd_string_dup(name) };
	if (!mc[res->n_meta_contexts].name)
		return -ENOMEM;
	res->n_meta_contexts++;
	return 0;
}

int nbd_neg_result_add_export(struct nbd_neg_result *res, const uint8_t *payload, size_t len,
			      size_t max)
{
	struct nbd_export_entry *e;
	struct nbd_string name, desc;
	int r;

	r = nbd_rep_server_decode(payload, len, &name, &desc);
	if (r < 0)
		return r;
	if (res->n_exports >= max)
		return -E2BIG;
	e = grow(res->exports, res->n_exports, sizeof(*e));
	if (!e)
		return -ENOMEM;
	res->exports = e;
	e[res->n_exports] = (struct nbd_export_entry){ .name = nbd_string_dup(name),
						       .description = nbd_string_dup(desc) };
	res->n_exports++;
	if (!e[res->n_exports - 1].name || !e[res->n_exports - 1].description)
		return -ENOMEM;
	return 0;
}

void nbd_neg_result_clear_meta_contexts(struct nbd_neg_result *res)
{
	for (size_t i = 0; i < res->n_meta_contexts; i++)
		free(res->meta_contexts[i].name);
	free(res->meta_contexts);
	res->meta_contexts = NULL;
	res->n_meta_contexts = 0;
}

void nbd_neg_result_free(struct nbd_neg_result *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->description);
	nbd_neg_result_clear_meta_contexts(r);
	for (size_t i = 0; i < r->n_exports; i++) {
		free(r->exports[i].name);
		free(r->exports[i].description);
	}
	free(r->exports);
	free(r);
}
