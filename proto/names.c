/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "proto/names.h"
#include "proto/nbd-protocol.h"

const char *nbd_option_name(uint32_t option)
{
	static const char *const names[] = {
		[NBD_OPT_EXPORT_NAME] = "EXPORT_NAME",
		[NBD_OPT_ABORT] = "ABORT",
		[NBD_OPT_LIST] = "LIST",
		[NBD_OPT_PEEK_EXPORT] = "PEEK_EXPORT",
		[NBD_OPT_STARTTLS] = "STARTTLS",
		[NBD_OPT_INFO] = "INFO",
		[NBD_OPT_GO] = "GO",
		[NBD_OPT_STRUCTURED_REPLY] = "STRUCTURED_REPLY",
		[NBD_OPT_LIST_META_CONTEXT] = "LIST_META_CONTEXT",
		[NBD_OPT_SET_META_CONTEXT] = "SET_META_CONTEXT",
		[NBD_OPT_EXTENDED_HEADERS] = "EXTENDED_HEADERS",
	};
	return option < ELEMENTSOF(names) ? names[option] : NULL;
}

static const struct {
	uint32_t type;
	const char *name;
	const char *description;
} reply_types[] = {
	{ NBD_REP_ACK, "ACK", "acknowledged" },
	{ NBD_REP_SERVER, "SERVER", "export description" },
	{ NBD_REP_INFO, "INFO", "export information" },
	{ NBD_REP_META_CONTEXT, "META_CONTEXT", "metadata context" },
	{ NBD_REP_ERR_UNSUP, "ERR_UNSUP", "the server does not support this option" },
	{ NBD_REP_ERR_POLICY, "ERR_POLICY", "the server's policy forbids this" },
	{ NBD_REP_ERR_INVALID, "ERR_INVALID", "the server considers the request invalid" },
	{ NBD_REP_ERR_PLATFORM, "ERR_PLATFORM", "the server cannot do this on its platform" },
	{ NBD_REP_ERR_TLS_REQD, "ERR_TLS_REQD", "the server requires TLS first" },
	{ NBD_REP_ERR_UNKNOWN, "ERR_UNKNOWN", "the server has no such export" },
	{ NBD_REP_ERR_SHUTDOWN, "ERR_SHUTDOWN", "the server is shutting down" },
	{ NBD_REP_ERR_BLOCK_SIZE_REQD, "ERR_BLOCK_SIZE_REQD",
	  "the server requires the client to ask for block sizes" },
	{ NBD_REP_ERR_TOO_BIG, "ERR_TOO_BIG", "the request or its reply is too large" },
	{ NBD_REP_ERR_EXT_HEADER_REQD, "ERR_EXT_HEADER_REQD",
	  "the server requires extended headers" },
};

const char *nbd_reply_type_name(uint32_t type)
{
	for (size_t i = 0; i < ELEMENTSOF(reply_types); i++)
		if (reply_types[i].type == type)
			return reply_types[i].name;
	return NULL;
}

const char *nbd_reply_error_description(uint32_t type)
{
	for (size_t i = 0; i < ELEMENTSOF(reply_types); i++)
		if (reply_types[i].type == type)
			return reply_types[i].description;
	return NBD_REP_IS_ERR(type) ? "the server refused with an unknown error"
				    : "unknown reply";
}

const char *nbd_info_name(uint16_t type)
{
	static const char *const names[] = {
		[NBD_INFO_EXPORT] = "EXPORT",
		[NBD_INFO_NAME] = "NAME",
		[NBD_INFO_DESCRIPTION] = "DESCRIPTION",
		[NBD_INFO_BLOCK_SIZE] = "BLOCK_SIZE",
	};
	return type < ELEMENTSOF(names) ? names[type] : NULL;
}

const char *nbd_cmd_name(uint16_t type)
{
	static const char *const names[] = {
		[NBD_CMD_READ] = "READ",
		[NBD_CMD_WRITE] = "WRITE",
		[NBD_CMD_DISC] = "DISC",
		[NBD_CMD_FLUSH] = "FLUSH",
		[NBD_CMD_TRIM] = "TRIM",
		[NBD_CMD_CACHE] = "CACHE",
		[NBD_CMD_WRITE_ZEROES] = "WRITE_ZEROES",
		[NBD_CMD_BLOCK_STATUS] = "BLOCK_STATUS",
		[NBD_CMD_RESIZE] = "RESIZE",
	};
	return type < ELEMENTSOF(names) ? names[type] : NULL;
}

const char *nbd_chunk_type_name(uint16_t type)
{
	switch (type) {
	case NBD_REPLY_TYPE_NONE:
		return "NONE";
	case NBD_REPLY_TYPE_OFFSET_DATA:
		return "OFFSET_DATA";
	case NBD_REPLY_TYPE_OFFSET_HOLE:
		return "OFFSET_HOLE";
	case NBD_REPLY_TYPE_BLOCK_STATUS:
		return "BLOCK_STATUS";
	case NBD_REPLY_TYPE_BLOCK_STATUS_EXT:
		return "BLOCK_STATUS_EXT";
	case NBD_REPLY_TYPE_ERROR:
		return "ERROR";
	case NBD_REPLY_TYPE_ERROR_OFFSET:
		return "ERROR_OFFSET";
	default:
		return NULL;
	}
}

static const struct {
	uint32_t error;
	int host;
	const char *name;
} errors[] = {
	{ NBD_EPERM, EPERM, "EPERM" },
	{ NBD_EIO, EIO, "EIO" },
	{ NBD_ENOMEM, ENOMEM, "ENOMEM" },
	{ NBD_EINVAL, EINVAL, "EINVAL" },
	{ NBD_ENOSPC, ENOSPC, "ENOSPC" },
	{ NBD_EOVERFLOW, EOVERFLOW, "EOVERFLOW" },
	{ NBD_ENOTSUP, ENOTSUP, "ENOTSUP" },
	{ NBD_ESHUTDOWN, ESHUTDOWN, "ESHUTDOWN" },
};

const char *nbd_error_name(uint32_t error)
{
	if (error == NBD_SUCCESS)
		return "SUCCESS";
	for (size_t i = 0; i < ELEMENTSOF(errors); i++)
		if (errors[i].error == error)
			return errors[i].name;
	return NULL;
}

uint32_t nbd_error_from_errno(int err)
{
	/* -INT_MIN does not exist; it is no errno either, so it takes the default below. */
	if (err < 0 && err != INT_MIN)
		err = -err;
	if (err == 0)
		return NBD_SUCCESS;
	for (size_t i = 0; i < ELEMENTSOF(errors); i++)
		if (errors[i].host == err)
			return errors[i].error;
	switch (err) {
	case EROFS:
	case EACCES:
		return NBD_EPERM;
	case EDQUOT:
	case EFBIG:
		return NBD_ENOSPC;
	case EOPNOTSUPP:
#if EOPNOTSUPP != ENOTSUP
	case ENOTSUP:
#endif
		return NBD_ENOTSUP;
	case ERANGE:
		return NBD_EINVAL;
	default:
		return NBD_EIO;
	}
}

int nbd_error_to_errno(uint32_t error)
{
	if (error == NBD_SUCCESS)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(errors); i++)
		if (errors[i].error == error)
			return errors[i].host;
	return EINVAL;
}

int nbd_reply_error_to_errno(uint32_t type)
{
	switch (type) {
	case NBD_REP_ERR_UNSUP:
	case NBD_REP_ERR_PLATFORM:
		return -EOPNOTSUPP;
	case NBD_REP_ERR_POLICY:
		return -EACCES;
	case NBD_REP_ERR_INVALID:
	case NBD_REP_ERR_BLOCK_SIZE_REQD:
		return -EINVAL;
	case NBD_REP_ERR_TLS_REQD:
		return -EPERM;
	case NBD_REP_ERR_UNKNOWN:
		return -ENOENT;
	case NBD_REP_ERR_SHUTDOWN:
		return -ESHUTDOWN;
	case NBD_REP_ERR_TOO_BIG:
		return -E2BIG;
	default:
		return -EPROTO;
	}
}

static const char *const flag_names[] = {
	"has-flags", "read-only", "flush",  "fua",        "rotational",   "trim",      "zeroes",
	"df",        "multi-conn", "resize", "cache",     "fast-zero",    "block-status-payload",
};

const char *nbd_transmission_flags_string(uint16_t flags, char *buf, size_t len)
{
	size_t used = 0;
	int n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned bit = 1; bit < 16; bit++) {
		if (!(flags & (1u << bit)))
			continue;
		if (bit < ELEMENTSOF(flag_names))
			n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", flag_names[bit]);
		else
			n = snprintf(buf + used, len - used, "%s0x%x", used ? "," : "", 1u << bit);
		if (n < 0 || (size_t)n >= len - used) {
			/* Truncated: keep the whole names that fit, not a misleading piece. */
			buf[used] = '\0';
			return buf;
		}
		used += (size_t)n;
	}
	if (!used && (size_t)snprintf(buf, len, "none") >= len)
		buf[0] = '\0'; /* as above: nothing rather than a piece of a word */
	return buf;
}

int nbd_transmission_flag_from_name(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(flag_names); i++)
		if (strcmp(flag_names[i], name) == 0)
			return 1 << i;
	return -EINVAL;
}
