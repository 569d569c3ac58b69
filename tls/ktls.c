/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Moving a finished session into the kernel's TLS (kTLS), so that a socket handed to the nbd
 * driver, or served with sendfile(), encrypts and decrypts in the kernel with no process in the
 * data path. Debian 12's GnuTLS is built without kTLS support of its own, so the keys, IVs and
 * record sequence numbers are read out of the session and given to the socket here.
 *
 * What the kernel needs, per direction (measured on Debian's 6.1 and 6.12): the key; a 4-byte
 * salt, the start of GnuTLS's IV; an 8-byte IV, which for TLS 1.3 is the rest of GnuTLS's 12-byte
 * IV and for TLS 1.2 the record sequence number (TLS 1.2's explicit nonce starts there); and that
 * sequence number, which is not 0 after records such as TLS 1.3 session tickets were exchanged.
 */
#include <errno.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <gnutls/gnutls.h>

#include "common/macro.h"
#include "tls/errors.h"
#include "tls/ktls.h"
#include "tls/session.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

union crypto_info {
	struct tls12_crypto_info_aes_gcm_128 aes128;
	struct tls12_crypto_info_aes_gcm_256 aes256;
};

/* The kernel's description of one direction of the session; its size, or a negative errno. */
static int direction_info(struct tls_session *s, bool receive, union crypto_info *info)
{
	gnutls_datum_t mac, iv, key;
	unsigned char seq[8];
	bool tls13 = gnutls_protocol_get_version(s->g) == GNUTLS_TLS1_3;
	bool aes256 = gnutls_cipher_get(s->g) == GNUTLS_CIPHER_AES_256_GCM;
	size_t key_size = aes256 ? TLS_CIPHER_AES_GCM_256_KEY_SIZE : TLS_CIPHER_AES_GCM_128_KEY_SIZE;
	int r = gnutls_record_get_state(s->g, receive, &mac, &iv, &key, seq);

	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "cannot read the session's keys: %s",
			 gnutls_error_message(r));
		return -errno_from_gnutls(r);
	}
	/* TLS 1.3: a 12-byte IV (salt and IV); TLS 1.2: the 4-byte implicit salt. */
	if (key.size != key_size || iv.size < (tls13 ? 12u : 4u)) {
		snprintf(s->error, sizeof(s->error), "the session's keys have unexpected sizes (key "
						     "%u, IV %u)", key.size, iv.size);
		return -EPROTO;
	}
	memset(info, 0, sizeof(*info));
	/* Both structs share the layout up to the key, whose length differs. */
	info->aes128.info.version = tls13 ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	if (aes256) {
		info->aes256.info.cipher_type = TLS_CIPHER_AES_GCM_256;
		memcpy(info->aes256.key, key.data, key_size);
		memcpy(info->aes256.salt, iv.data, TLS_CIPHER_AES_GCM_256_SALT_SIZE);
		memcpy(info->aes256.iv, tls13 ? iv.data + 4 : seq, TLS_CIPHER_AES_GCM_256_IV_SIZE);
		memcpy(info->aes256.rec_seq, seq, TLS_CIPHER_AES_GCM_256_REC_SEQ_SIZE);
		return (int)sizeof(info->aes256);
	}
	info->aes128.info.cipher_type = TLS_CIPHER_AES_GCM_128;
	memcpy(info->aes128.key, key.data, key_size);
	memcpy(info->aes128.salt, iv.data, TLS_CIPHER_AES_GCM_128_SALT_SIZE);
	memcpy(info->aes128.iv, tls13 ? iv.data + 4 : seq, TLS_CIPHER_AES_GCM_128_IV_SIZE);
	memcpy(info->aes128.rec_seq, seq, TLS_CIPHER_AES_GCM_128_REC_SEQ_SIZE);
	return (int)sizeof(info->aes128);
}

int tls_session_to_kernel(struct tls_session *s)
{
	int fd = gnutls_transport_get_int(s->g), r;
	gnutls_protocol_t version = gnutls_protocol_get_version(s->g);
	gnutls_cipher_algorithm_t cipher = gnutls_cipher_get(s->g);
	union crypto_info info;
	char desc[96];

	s->error[0] = '\0';
	if ((version != GNUTLS_TLS1_3 && version != GNUTLS_TLS1_2) ||
	    (cipher != GNUTLS_CIPHER_AES_128_GCM && cipher != GNUTLS_CIPHER_AES_256_GCM)) {
		tls_session_describe(s, desc, sizeof(desc));
		snprintf(s->error, sizeof(s->error), "the kernel's TLS takes TLS 1.2 or 1.3 with "
						     "AES-GCM, not %s", desc);
		return -EOPNOTSUPP;
	}
	/* Records GnuTLS has read but not returned would never reach the kernel. */
	if (gnutls_record_check_pending(s->g) > 0) {
		snprintf(s->error, sizeof(s->error), "%zu decrypted bytes are still waiting in the "
						     "session", gnutls_record_check_pending(s->g));
		return -EBUSY;
	}
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) < 0) {
		r = negative_errno();
		snprintf(s->error, sizeof(s->error), "the socket does not take the kernel's TLS (%s%s)",
			 strerror(-r), r == -ENOENT ? ": is the tls module available?"
				       : r == -EPERM ? ": it needs CAP_NET_ADMIN" : "");
		return r;
	}
	/* Sending first: a failure there leaves the socket usable through GnuTLS still. */
	for (int i = 0; i < 2; i++) {
		bool receive = i == 1;

		r = direction_info(s, receive, &info);
		/* Past the send keys, the session is half in the kernel: unusable either way. */
		if (r < 0)
			return receive ? -EREMOTEIO : r;
		if (setsockopt(fd, SOL_TLS, receive ? TLS_RX : TLS_TX, &info, (socklen_t)r) < 0) {
			r = negative_errno();
			snprintf(s->error, sizeof(s->error), "the kernel refused the %s keys (%s%s)",
				 receive ? "receive" : "send", strerror(-r),
				 r == -ENOENT ? ": is gcm(aes) available?" : "");
			explicit_bzero(&info, sizeof(info));
			return receive ? -EREMOTEIO : r;
		}
		explicit_bzero(&info, sizeof(info));
	}
	return 0;
}

static uint64_t big_endian_64(const unsigned char *b)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* The record sequence number of one direction; both AES-GCM layouts keep it at the same place. */
static int direction_records(int fd, int direction, uint64_t *ret)
{
	union crypto_info info;
	socklen_t len = sizeof(info);

	if (getsockopt(fd, SOL_TLS, direction, &info, &len) < 0)
		return negative_errno();
	if (info.aes128.info.cipher_type == TLS_CIPHER_AES_GCM_256)
		*ret = big_endian_64(info.aes256.rec_seq);
	else
		*ret = big_endian_64(info.aes128.rec_seq);
	explicit_bzero(&info, sizeof(info));
	return 0;
}

int tls_kernel_records(int fd, uint64_t *ret_sent, uint64_t *ret_received)
{
	uint64_t sent, received;
	int r = direction_records(fd, TLS_TX, &sent);

	if (r == 0)
		r = direction_records(fd, TLS_RX, &received);
	if (r < 0)
		return r;
	*ret_sent = sent;
	*ret_received = received;
	return 0;
}

int tls_kernel_next_record_type(int fd)
{
	/* A data record peeked here stays queued for the nbd driver's next read. The kernel
	 * refuses a second reader without waiting (MSG_DONTWAIT): a healthy socket, whose reader
	 * is waiting in it, answers -EAGAIN. */
	char byte, control[CMSG_SPACE(sizeof(unsigned char))];
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	ssize_t n = recvmsg(fd, &msg, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : negative_errno();
	if (n == 0)
		return -ECONNRESET;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_TLS && c->cmsg_type == TLS_GET_RECORD_TYPE)
			return *(unsigned char *)CMSG_DATA(c);
	return TLS_RECORD_DATA; /* the kernel gives the type of every record; be safe anyway */
}
