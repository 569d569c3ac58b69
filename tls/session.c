/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One TLS session over a connected socket. Every call may meet a non-blocking socket: GnuTLS's
 * "again" becomes -EAGAIN, and tls_session_wants_write() says which readiness to wait for. After
 * -EAGAIN from tls_session_send(), GnuTLS wants the same data offered again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/macro.h"
#include "tls/creds.h"
#include "tls/errors.h"
#include "tls/session.h"

struct tls_session *tls_session_free(struct tls_session *s)
{
	if (!s)
		return NULL;
	if (s->g)
		gnutls_deinit(s->g);
	tls_creds_unref(s->creds);
	free(s->out);
	free(s);
	return NULL;
}

static bool is_ip_address(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* The peer's certificate must chain to a trusted CA, carry the name when there is one, and be meant
 * for its side of TLS when it says what its key is for (extended key usage): a certificate issued
 * to a client does not pass for a server's, nor the other way round. A certificate that names no
 * purpose is good for any. */
static void verify_peer_certificate(struct tls_session *s, const char *hostname,
				    const char *purpose)
{
	unsigned n = 0;

	if (hostname)
		s->verify[n++] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_DNS_HOSTNAME,
							  .data = (unsigned char *)hostname };
	s->verify[n++] = (gnutls_typed_vdata_st){ .type = GNUTLS_DT_KEY_PURPOSE_OID,
						  .data = (unsigned char *)purpose };
	gnutls_session_set_verify_cert2(s->g, s->verify, n, 0);
}

int tls_session_new(const struct tls_creds *c, int fd, struct tls_session **ret)
{
	struct tls_session *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->creds = tls_creds_ref((struct tls_creds *)c);
	s->fd = fd;
	r = gnutls_init(&s->g, c->role == TLS_CLIENT ? GNUTLS_CLIENT : GNUTLS_SERVER);
	if (r < 0)
		goto fail;
	r = gnutls_priority_set(s->g, c->priority);
	if (r < 0)
		goto fail;
	if (c->x509)
		r = gnutls_credentials_set(s->g, GNUTLS_CRD_CERTIFICATE, c->x509);
	else
		r = gnutls_credentials_set(s->g, GNUTLS_CRD_PSK,
					   c->role == TLS_CLIENT ? (void *)c->psk_client
								 : (void *)c->psk_server);
	if (r < 0)
		goto fail;
	if (c->role == TLS_CLIENT) {
		/* SNI carries names only; an address is checked against the certificate all the
		 * same. */
		if (c->hostname && !is_ip_address(c->hostname)) {
			r = gnutls_server_name_set(s->g, GNUTLS_NAME_DNS, c->hostname,
						   strlen(c->hostname));
			if (r < 0)
				goto fail;
		}
		if (c->x509 && c->verify_peer)
			verify_peer_certificate(s, c->hostname, GNUTLS_KP_TLS_WWW_SERVER);
	} else if (c->require_client_cert) {
		gnutls_certificate_server_set_request(s->g, GNUTLS_CERT_REQUIRE);
		verify_peer_certificate(s, NULL, GNUTLS_KP_TLS_WWW_CLIENT);
	}
	/* The caller's event loop (or its timeout around a blocking call) decides how long. */
	gnutls_handshake_set_timeout(s->g, 0);
	gnutls_transport_set_int(s->g, fd);
	*ret = s;
	return 0;
fail:
	tls_session_free(s);
	return -errno_from_gnutls(r);
}

/* Why a handshake failed, in the words a user can act on. */
static int handshake_failed(struct tls_session *s, int r)
{
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR || r == GNUTLS_E_CERTIFICATE_ERROR) {
		unsigned status = gnutls_session_get_verify_cert_status(s->g);
		gnutls_datum_t out = { 0 };

		if (status && gnutls_certificate_verification_status_print(
				      status, GNUTLS_CRT_X509, &out, 0) == 0) {
			size_t n = strlen((char *)out.data);

			while (n > 0 && ((char *)out.data)[n - 1] == ' ')
				((char *)out.data)[--n] = '\0';
			snprintf(s->error, sizeof(s->error), "the %s's certificate was refused: %s",
				 s->creds->role == TLS_CLIENT ? "server" : "client", (char *)out.data);
			gnutls_free(out.data);
		} else {
			snprintf(s->error, sizeof(s->error), "the peer's certificate was refused: %s",
				 gnutls_error_message(r));
		}
		return -EACCES;
	}
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED || r == GNUTLS_E_WARNING_ALERT_RECEIVED) {
		snprintf(s->error, sizeof(s->error), "the peer ended the handshake: %s%s",
			 gnutls_alert_get_name(gnutls_alert_get(s->g)),
			 s->creds->x509 ? "" : " (with PSK, a user name or key that differs looks "
					       "like this)");
		return -ECONNREFUSED;
	}
	if (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED) {
		snprintf(s->error, sizeof(s->error), "the peer sent no certificate, and one is required");
		return -EACCES;
	}
	/* A wrong PSK shows as a record that does not decrypt or a bad Finished (TLS 1.2), or as a
	 * binder that does not verify, an illegal parameter (TLS 1.3). */
	if (!s->creds->x509 && (r == GNUTLS_E_DECRYPTION_FAILED || r == GNUTLS_E_MAC_VERIFY_FAILED ||
				r == GNUTLS_E_RECEIVED_ILLEGAL_PARAMETER)) {
		snprintf(s->error, sizeof(s->error), "the pre-shared keys differ (%s)",
			 gnutls_error_message(r));
		return -EACCES;
	}
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PULL_ERROR) {
		snprintf(s->error, sizeof(s->error), "the peer closed the connection in the middle of "
						     "the handshake%s", s->creds->x509 ? "" :
			 " (with PSK, a user name or key that differs looks like this)");
		return -ECONNRESET;
	}
	snprintf(s->error, sizeof(s->error), "%s", gnutls_error_message(r));
	return -errno_from_gnutls(r);
}

int tls_session_handshake(struct tls_session *s)
{
	int r = gnutls_handshake(s->g);

	s->error[0] = '\0';
	if (r == GNUTLS_E_SUCCESS)
		return 0;
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	/* Tell the peer why (best effort), so that its user reads a reason and not a hang-up. */
	if (r != GNUTLS_E_FATAL_ALERT_RECEIVED)
		(void)gnutls_alert_send_appropriate(s->g, r);
	return handshake_failed(s, r);
}

bool tls_session_wants_write(const struct tls_session *s)
{
	return gnutls_record_get_direction(s->g) == 1;
}

static ssize_t record_failed(struct tls_session *s, ssize_t r)
{
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r == GNUTLS_E_PREMATURE_TERMINATION) {
		snprintf(s->error, sizeof(s->error), "the peer closed the connection without ending "
						     "TLS (no close_notify)");
		return -ECONNRESET;
	}
	/* The socket's own failure: its errno says it, GnuTLS's words ("Error in the push
	 * function") say less. */
	if (r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR) {
		s->error[0] = '\0';
		return -errno_from_gnutls((int)r);
	}
	/* Under TLS 1.3 a server judges the client's certificate after the client's handshake is
	 * done: its refusal comes as an alert in place of the first record. */
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int alert = gnutls_alert_get(s->g);
		bool about_certificate = alert == GNUTLS_A_CERTIFICATE_REQUIRED ||
					 alert == GNUTLS_A_BAD_CERTIFICATE ||
					 alert == GNUTLS_A_UNKNOWN_CA ||
					 alert == GNUTLS_A_CERTIFICATE_UNKNOWN ||
					 alert == GNUTLS_A_CERTIFICATE_EXPIRED ||
					 alert == GNUTLS_A_CERTIFICATE_REVOKED ||
					 alert == GNUTLS_A_UNSUPPORTED_CERTIFICATE;

		snprintf(s->error, sizeof(s->error), "the peer ended TLS: %s%s",
			 gnutls_alert_get_name(alert),
			 about_certificate && s->creds->role == TLS_CLIENT
				 ? " (the server wants a client certificate its CA signed: -F and -K)"
				 : "");
		return -EPROTO;
	}
	if (r == GNUTLS_E_REHANDSHAKE) {
		snprintf(s->error, sizeof(s->error), "the peer asked for a renegotiation, which is "
						     "not supported");
		return -EPROTO;
	}
	snprintf(s->error, sizeof(s->error), "%s", gnutls_error_message((int)r));
	return -errno_from_gnutls((int)r);
}

ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len)
{
	/* A TLS 1.3 session ticket or key update is taken care of inside GnuTLS. */
	ssize_t r = gnutls_record_recv(s->g, buf, len);

	return r >= 0 ? r : record_failed(s, r);
}

ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len)
{
	ssize_t r = gnutls_record_send(s->g, buf, len);

	return r >= 0 ? r : record_failed(s, r);
}

size_t tls_session_pending(const struct tls_session *s)
{
	return gnutls_record_check_pending(s->g);
}

/* GnuTLS's transport when the session queues its output: reads as the default would, writes
 * through the queue. */
static ssize_t queued_pull(gnutls_transport_ptr_t p, void *buf, size_t len)
{
	struct tls_session *s = p;
	ssize_t n = recv(s->fd, buf, len, 0);

	if (n < 0)
		gnutls_transport_set_errno(s->g, errno == EWOULDBLOCK ? EAGAIN : errno);
	return n;
}

static int queue_append(struct tls_session *s, const void *buf, size_t len)
{
	if (s->out_start > 0 && s->out_start + s->out_len + len > s->out_cap) {
		memmove(s->out, s->out + s->out_start, s->out_len);
		s->out_start = 0;
	}
	if (s->out_len + len > s->out_cap) {
		size_t cap = MAX(s->out_cap * 2, s->out_len + len);
		unsigned char *p = realloc(s->out, cap);

		if (!p)
			return -ENOMEM;
		s->out = p;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_start + s->out_len, buf, len);
	s->out_len += len;
	return 0;
}

static ssize_t queued_push(gnutls_transport_ptr_t p, const void *buf, size_t len)
{
	struct tls_session *s = p;
	ssize_t n = 0;

	/* Straight to the socket while nothing waits before it. */
	if (s->out_len == 0) {
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			gnutls_transport_set_errno(s->g, errno);
			return -1;
		}
		if (n < 0)
			n = 0;
	}
	if ((size_t)n < len && queue_append(s, (const char *)buf + n, len - (size_t)n) < 0) {
		gnutls_transport_set_errno(s->g, ENOMEM);
		return -1;
	}
	return (ssize_t)len;
}

int tls_session_queue_output(struct tls_session *s)
{
	s->queueing = true;
	gnutls_transport_set_ptr(s->g, s);
	gnutls_transport_set_pull_function(s->g, queued_pull);
	gnutls_transport_set_push_function(s->g, queued_push);
	return 0;
}

int tls_session_flush(struct tls_session *s)
{
	while (s->out_len > 0) {
		ssize_t n = send(s->fd, s->out + s->out_start, s->out_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			snprintf(s->error, sizeof(s->error), "sending failed: %s", strerror(errno));
			return negative_errno();
		}
		s->out_start += (size_t)n;
		s->out_len -= (size_t)n;
	}
	s->out_start = 0;
	return 0;
}

size_t tls_session_queued(const struct tls_session *s)
{
	return s->out_len;
}

static int sequence_number(const struct tls_session *s, int read, uint64_t *ret)
{
	unsigned char seq[8];
	int r = gnutls_record_get_state(s->g, (unsigned)read, NULL, NULL, NULL, seq);

	if (r < 0)
		return -errno_from_gnutls(r);
	*ret = 0;
	for (int i = 0; i < 8; i++)
		*ret = *ret << 8 | seq[i];
	return 0;
}

int tls_session_records(const struct tls_session *s, uint64_t *ret_sent, uint64_t *ret_received)
{
	int r = sequence_number(s, 0, ret_sent);

	return r < 0 ? r : sequence_number(s, 1, ret_received);
}

static int post_handshake_result(struct tls_session *s, int r)
{
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
		return -EAGAIN;
	if (r < 0) {
		snprintf(s->error, sizeof(s->error), "%s", gnutls_strerror(r));
		return -errno_from_gnutls(r);
	}
	return 0;
}

int tls_session_key_update(struct tls_session *s)
{
	if (gnutls_protocol_get_version(s->g) != GNUTLS_TLS1_3) {
		snprintf(s->error, sizeof(s->error), "a key update needs TLS 1.3");
		return -EOPNOTSUPP;
	}
	return post_handshake_result(s, gnutls_session_key_update(s->g, 0));
}

int tls_session_send_ticket(struct tls_session *s)
{
	if (gnutls_protocol_get_version(s->g) != GNUTLS_TLS1_3) {
		snprintf(s->error, sizeof(s->error), "a late session ticket needs TLS 1.3");
		return -EOPNOTSUPP;
	}
	return post_handshake_result(s, gnutls_session_ticket_send(s->g, 1, 0));
}

void tls_session_bye(struct tls_session *s)
{
	(void)gnutls_bye(s->g, GNUTLS_SHUT_WR);
}

void tls_session_describe(const struct tls_session *s, char *buf, size_t len)
{
	const char *version = gnutls_protocol_get_name(gnutls_protocol_get_version(s->g));
	const char *cipher = gnutls_cipher_get_name(gnutls_cipher_get(s->g));

	snprintf(buf, len, "%s, %s, %s", version ? version : "?", cipher ? cipher : "?",
		 gnutls_auth_get_type(s->g) == GNUTLS_CRD_PSK ? "PSK" : "X.509");
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->error;
}
