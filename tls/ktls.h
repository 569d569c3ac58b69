/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A finished TLS session moved into the kernel's TLS (see ktls.c). */
#pragma once

#include <stdint.h>

#include "tls/tls.h"

/*
 * Gives the session's keys for both directions to its socket, which from then on encrypts and
 * decrypts in the kernel: plain read()/write()/sendfile() carry TLS records, and the session must
 * not be used for I/O again (free it without tls_session_bye()). Call it with nothing pending
 * (every reply that belongs to the handshake read through the session first).
 *
 * 0, or a negative errno with tls_session_error() saying why: -EOPNOTSUPP (a version or cipher
 * the kernel does not take), -EBUSY (decrypted data still pending), -ENOENT or -EPERM from the
 * kernel (no tls module, no CAP_NET_ADMIN) or a refused send key: the socket still works through
 * the session, so a caller may carry on in user space; -EREMOTEIO: sending moved into the kernel
 * but receiving did not, and the connection cannot be used any more.
 */
int tls_session_to_kernel(struct tls_session *s);

/* How many records the kernel has sent and received on a socket whose session it holds (the next
 * record sequence numbers of TLS_TX and TLS_RX): 0, or a negative errno (-ENOPROTOOPT: the socket
 * has no kernel TLS). AES-GCM keys must not protect more than about 2^24.5 records, and the
 * kernels this runs on cannot rekey: a connection is replaced before that. */
int tls_kernel_records(int fd, uint64_t *ret_sent, uint64_t *ret_received);

/* TLS record content types. */
enum {
	TLS_RECORD_ALERT = 21,
	TLS_RECORD_HANDSHAKE = 22,
	TLS_RECORD_DATA = 23,
};

/* The content type of the next record waiting on a socket whose session the kernel holds (23:
 * application data; 22: handshake, such as a TLS 1.3 key update or session ticket; 21: an alert),
 * looked at without taking it and without waiting. The kernel's TLS stops its reader at any record
 * that is not data, and the nbd driver does not always count such a connection dead: a caller
 * that sees one there replaces the connection. -EAGAIN when no record is waiting or another
 * reader (the nbd driver, healthy) is in the socket; another negative errno on failure. */
int tls_kernel_next_record_type(int fd);
