/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/unaligned.h"
#include "proto/cursor.h"
#include "proto/handshake.h"
#include "proto/option.h"

int nbd_string_check(const char *p, size_t len)
{
	if (len > NBD_MAX_STRING)
		return -EMSGSIZE;
	if (len && memchr(p, '\0', len))
		return -EBADMSG;
	return 0;
}

char *nbd_string_dup(struct nbd_string s)
{
	char *r = malloc((size_t)s.len + 1);

	if (!r)
		return NULL;
	if (s.len)
		memcpy(r, s.ptr, s.len);
	r[s.len] = '\0';
	return r;
}

bool nbd_string_eq(struct nbd_string s, const char *c)
{
	/* An empty received string may have a NULL ptr, which memcmp() must not see at all. */
	return strlen(c) == s.len && (s.len == 0 || memcmp(s.ptr, c, s.len) == 0);
}

/* Reads a u32-length-prefixed string, as names and meta context queries are sent. */
static int cursor_string(struct cursor *c, struct nbd_string *ret)
{
	uint32_t len = cursor_be32(c);
	const uint8_t *p;
	int r;

	if (c->bad)
		return -EBADMSG;
	if (len > c->left)
		return -EBADMSG;
	p = cursor_take(c, len);
	r = nbd_string_check((const char *)p, len);
	if (r < 0)
		return r;
	*ret = (struct nbd_string){ .ptr = (const char *)p, .len = len };
	return 0;
}

/* Appends a u32 length and the string; -EINVAL for strings the protocol cannot carry. */
static int append_string(struct buffer *b, const char *s)
{
	size_t len = strlen(s);

	if (len > NBD_MAX_STRING)
		return -EINVAL;
	buffer_append_be32(b, (uint32_t)len);
	buffer_append(b, s, len);
	return 0;
}

/* Reserves an option request header and returns its offset, so the length can be filled in once the
 * payload is known. */
static size_t begin_option(struct buffer *b)
{
	size_t at = b->len;

	buffer_append_zeros(b, NBD_OPTION_HEADER_SIZE);
	return at;
}

static int end_option(struct buffer *b, size_t at, uint32_t option)
{
	size_t len;

	if (b->failed)
		return -ENOMEM;
	len = b->len - at - NBD_OPTION_HEADER_SIZE;
	if (len > UINT32_MAX)
		return -EOVERFLOW;
	nbd_option_header_encode(option, (uint32_t)len, b->data + at);
	return 0;
}

static size_t begin_reply(struct buffer *b)
{
	size_t at = b->len;

	buffer_append_zeros(b, NBD_OPTION_REPLY_HEADER_SIZE);
	return at;
}

static int end_reply(struct buffer *b, size_t at, uint32_t option, uint32_t type)
{
	size_t len;

	if (b->failed)
		return -ENOMEM;
	len = b->len - at - NBD_OPTION_REPLY_HEADER_SIZE;
	if (len > UINT32_MAX)
		return -EOVERFLOW;
	nbd_option_reply_header_encode(option, type, (uint32_t)len, b->data + at);
	return 0;
}

/* On an encoding error, drop what was appended so the buffer holds only whole messages. */
static int abandon(struct buffer *b, size_t at, int r)
{
	if (!b->failed)
		b->len = at;
	return r;
}

int nbd_info_request_encode(struct buffer *b, uint32_t option, const char *export_name,
			    const uint16_t *info_types, size_t n_info_types)
{
	size_t at = begin_option(b);
	int r;

	if (n_info_types > UINT16_MAX)
		return abandon(b, at, -EINVAL);
	r = append_string(b, export_name);
	if (r < 0)
		return abandon(b, at, r);
	buffer_append_be16(b, (uint16_t)n_info_types);
	for (size_t i = 0; i < n_info_types; i++)
		buffer_append_be16(b, info_types[i]);
	return end_option(b, at, option);
}

int nbd_info_request_decode(const void *payload, size_t len, struct nbd_info_request *ret)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_string name;
	uint16_t n;
	const uint8_t *types;
	int r;

	r = cursor_string(&c, &name);
	if (r < 0)
		return r;
	n = cursor_be16(&c);
	types = cursor_take(&c, (size_t)n * 2);
	if (!cursor_done(&c))
		return -EBADMSG;
	*ret = (struct nbd_info_request){ .name = name, .n_info_types = n, .info_types = types };
	return 0;
}

uint16_t nbd_info_request_type(const struct nbd_info_request *r, size_t i)
{
	return i < r->n_info_types ? load_be16(r->info_types + 2 * i) : UINT16_MAX;
}

int nbd_meta_request_encode(struct buffer *b, uint32_t option, const char *export_name,
			    const char *const *queries, size_t n_queries)
{
	size_t at = begin_option(b);
	int r;

	if (n_queries > UINT32_MAX)
		return abandon(b, at, -EINVAL);
	r = append_string(b, export_name);
	if (r < 0)
		return abandon(b, at, r);
	buffer_append_be32(b, (uint32_t)n_queries);
	for (size_t i = 0; i < n_queries; i++) {
		r = append_string(b, queries[i]);
		if (r < 0)
			return abandon(b, at, r);
	}
	return end_option(b, at, option);
}

int nbd_meta_request_decode(const void *payload, size_t len, struct nbd_meta_request *ret)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_string name, query;
	const uint8_t *queries;
	size_t queries_len;
	uint32_t n;
	int r;

	r = cursor_string(&c, &name);
	if (r < 0)
		return r;
	n = cursor_be32(&c);
	if (c.bad)
		return -EBADMSG;
	/* Each query takes at least its 4-byte length: reject impossible counts before walking. */
	if (n > c.left / 4)
		return -EBADMSG;
	queries = c.p;
	queries_len = c.left;
	for (uint32_t i = 0; i < n; i++) {
		r = cursor_string(&c, &query);
		if (r < 0)
			return r;
	}
	if (!cursor_done(&c))
		return -EBADMSG;
	*ret = (struct nbd_meta_request){
		.name = name, .n_queries = n, .queries = queries, .queries_len = queries_len
	};
	return 0;
}

int nbd_meta_request_next(const struct nbd_meta_request *r, size_t *pos, struct nbd_string *ret)
{
	struct cursor c;

	if (*pos >= r->queries_len)
		return 0;
	c = cursor_init(r->queries + *pos, r->queries_len - *pos);
	if (cursor_string(&c, ret) < 0)
		return 0; /* cannot happen on a decoded request: every query was checked */
	*pos = r->queries_len - c.left;
	return 1;
}

int nbd_rep_server_encode(struct buffer *b, const char *name, const char *description)
{
	size_t at = begin_reply(b);
	int r;

	r = append_string(b, name);
	if (r < 0)
		return abandon(b, at, r);
	if (description) {
		size_t dlen = strlen(description);

		if (dlen > NBD_MAX_STRING)
			return abandon(b, at, -EINVAL);
		buffer_append(b, description, dlen);
	}
	return end_reply(b, at, NBD_OPT_LIST, NBD_REP_SERVER);
}

int nbd_rep_server_decode(const void *payload, size_t len, struct nbd_string *ret_name,
			  struct nbd_string *ret_description)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_string name, desc;
	int r;

	r = cursor_string(&c, &name);
	if (r < 0)
		return r;
	r = nbd_string_check((const char *)c.p, c.left);
	if (r < 0)
		return r;
	desc = (struct nbd_string){ .ptr = (const char *)c.p, .len = (uint32_t)c.left };
	*ret_name = name;
	*ret_description = desc;
	return 0;
}

int nbd_rep_info_encode(struct buffer *b, uint32_t option, const struct nbd_info_item *item)
{
	size_t at = begin_reply(b);
	const struct nbd_string *s;

	buffer_append_be16(b, item->type);
	switch (item->type) {
	case NBD_INFO_EXPORT:
		buffer_append_be64(b, item->export.size);
		buffer_append_be16(b, item->export.transmission_flags);
		break;
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION:
		s = item->type == NBD_INFO_NAME ? &item->name : &item->description;
		if (nbd_string_check(s->ptr, s->len) < 0)
			return abandon(b, at, -EINVAL);
		buffer_append(b, s->ptr, s->len);
		break;
	case NBD_INFO_BLOCK_SIZE:
		buffer_append_be32(b, item->block_size.minimum);
		buffer_append_be32(b, item->block_size.preferred);
		buffer_append_be32(b, item->block_size.maximum);
		break;
	default:
		buffer_append(b, item->unknown.data, item->unknown.len);
		break;
	}
	return end_reply(b, at, option, NBD_REP_INFO);
}

int nbd_rep_info_decode(const void *payload, size_t len, struct nbd_info_item *ret)
{
	struct cursor c = cursor_init(payload, len);
	struct nbd_info_item item = { .type = cursor_be16(&c) };
	int r;

	if (c.bad)
		return -EBADMSG;
	switch (item.type) {
	case NBD_INFO_EXPORT:
		item.export.size = cursor_be64(&c);
		item.export.transmission_flags = cursor_be16(&c);
		break;
	case NBD_INFO_NAME:
	case NBD_INFO_DESCRIPTION:
		r = nbd_string_check((const char *)c.p, c.left);
		if (r < 0)
			return r;
		item.name = (struct nbd_string){ .ptr = (const char *)c.p, .len = (uint32_t)c.left };
		cursor_take(&c, c.left);
		break;
	case NBD_INFO_BLOCK_SIZE:
		item.block_size.minimum = cursor_be32(&c);
		item.block_size.preferred = cursor_be32(&c);
		item.block_size.maximum = cursor_be32(&c);
		break;
	default:
		item.unknown.data = c.p;
		item.unknown.len = c.left;
		cursor_take(&c, c.left);
		break;
	}
	if (!cursor_done(&c))
		return -EBADMSG;
	*ret = item;
	return 0;
}

static bool is_power_of_2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int nbd_block_size_check(uint32_t minimum, uint32_t preferred, uint32_t maximum)
{
	if (!is_power_of_2(minimum) || minimum > NBD_MAX_BLOCK_SIZE_MINIMUM)
		return -EINVAL;
	if (!is_power_of_2(preferred) || preferred < minimum || preferred < 512)
		return -EINVAL;
	/* The maximum is only bounded below: the spec lets it be any value (not a power of two, not
	 * a multiple of the minimum, 0xffffffff for "no fixed limit"), so a client that splits
	 * requests rounds it down to a multiple of the minimum itself instead of refusing such a
	 * server. */
	if (maximum < preferred)
		return -EINVAL;
	return 0;
}

int nbd_rep_meta_context_encode(struct buffer *b, uint32_t option, uint32_t id, const char *name)
{
	size_t at = begin_reply(b);
	size_t len = strlen(name);

	/* A context name is "namespace:leaf", never empty; the decoder rejects an empty one too. */
	if (len == 0 || len > NBD_MAX_STRING)
		return abandon(b, at, -EINVAL);
	buffer_append_be32(b, id);
	buffer_append(b, name, len);
	return end_reply(b, at, option, NBD_REP_META_CONTEXT);
}

int nbd_rep_meta_context_decode(const void *payload, size_t len, uint32_t *ret_id,
				struct nbd_string *ret_name)
{
	struct cursor c = cursor_init(payload, len);
	uint32_t id = cursor_be32(&c);
	int r;

	if (c.bad || c.left == 0)
		return -EBADMSG;
	r = nbd_string_check((const char *)c.p, c.left);
	if (r < 0)
		return r;
	*ret_id = id;
	*ret_name = (struct nbd_string){ .ptr = (const char *)c.p, .len = (uint32_t)c.left };
	return 0;
}

int nbd_rep_error_encode(struct buffer *b, uint32_t option, uint32_t type, const char *message)
{
	size_t len = message ? strlen(message) : 0;

	if (!NBD_REP_IS_ERR(type) || len > NBD_MAX_STRING)
		return -EINVAL;
	return nbd_option_reply_encode(b, option, type, message, len);
}

int nbd_rep_error_decode(const void *payload, size_t len, struct nbd_string *ret_message)
{
	int r = nbd_string_check(payload, len);

	if (r < 0)
		return r;
	*ret_message = (struct nbd_string){ .ptr = payload, .len = (uint32_t)len };
	return 0;
}
