/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The errno chosen for each libnl code is the one whose strerror() text a user would recognise as
 * the same failure, and the one a caller would test for (-EAGAIN to retry, -ENOMEM to give up,
 * -ENOENT for a missing object). Codes with no such counterpart become EIO, so that libnl's own
 * message (libnl_error_message()) is what names them in a log.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <netlink/errno.h>
#include <netlink/netlink.h>

#include "netlink/nl-errors.h"

/* libnl functions return -NLE_*, but some paths hand the positive code around; accept both. */
static int nle_abs(int nl_error)
{
	/* abs(INT_MIN) is undefined; it is no NLE_* code either way. */
	if (nl_error == INT_MIN)
		return INT_MAX;
	return abs(nl_error);
}

int errno_from_libnl(int nl_error)
{
	switch (nle_abs(nl_error)) {
	case NLE_SUCCESS:
		return 0;
	case NLE_INTR:
		return EINTR;
	case NLE_BAD_SOCK:
		return EBADF;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_INVAL:
	case NLE_OBJ_MISMATCH:
	case NLE_PARSE_ERR:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_MSGSIZE:
	case NLE_MSG_OVERFLOW:
	case NLE_MSG_TRUNC:
		return EMSGSIZE;
	case NLE_OPNOTSUPP:
	case NLE_MSGTYPE_NOSUPPORT:
	case NLE_SRCRT_NOSUPPORT:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
	case NLE_AF_MISMATCH:
		return EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	/* The kernel answered with a message we cannot use: a malformed reply, not a local fault. */
	case NLE_NOATTR:
	case NLE_MISSING_ATTR:
	case NLE_MSG_TOOSHORT:
	case NLE_ATTRSIZE:
		return EBADMSG;
	case NLE_SEQ_MISMATCH:
		return EPROTO;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	case NLE_BUSY:
		return EBUSY;
	case NLE_PROTO_MISMATCH:
		return EPROTONOSUPPORT;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_PERM:
		return EPERM;
	case NLE_NODEV:
		return ENODEV;
	case NLE_IMMUTABLE:
		return EROFS;
	/* The dump changed while it was read; running it again gives a consistent answer. */
	case NLE_DUMP_INTR:
		return EAGAIN;
	default:
		return EIO;
	}
}

const char *libnl_error_message(int nl_error)
{
	/* nl_geterror() maps anything out of range to its "Unspecific failure" text. */
	return nl_geterror(nle_abs(nl_error));
}
