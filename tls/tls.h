/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TLS for NBD connections, on both sides, through GnuTLS: credentials loaded once (a server reads
 * them before it drops privileges), sessions driven without blocking (a handshake step returns
 * -EAGAIN and says which way it waits), records sent and received through the session, and, for a
 * socket that goes to the kernel, the session's keys handed to the kernel's TLS (tls/ktls.h).
 *
 * Errors are negative errno values; the session keeps a sentence for the caller to log (GnuTLS's
 * reason, or what failed in verification), since an errno alone cannot say "the certificate has
 * expired". Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/macro.h"

enum tls_role {
	TLS_CLIENT,
	TLS_SERVER,
};

struct tls_config {
	/* X.509. Client: the CA that signs the server's certificate (NULL: the system's trust store);
	 * its own certificate and key are optional. Server: its certificate and key; with a CA, client
	 * certificates are required and verified against it. */
	const char *cacertfile;
	const char *certfile;
	const char *keyfile;
	/* PSK, in psktool's format ("username:hexkey" lines). Client: the key of username is used.
	 * Server: any user of the file is accepted. */
	const char *pskfile;
	const char *username;
	/* Client: the name the server's certificate must carry (also sent as SNI). */
	const char *hostname;
	/* A GnuTLS priority string; NULL: TLS 1.3 and 1.2 with AES-GCM, the ciphers the kernel's TLS
	 * takes, so that any session can move into the kernel. */
	const char *priority;
	/* Client: verify the server's certificate (name and chain). Off only on explicit request. */
	bool verify_peer;
};

#define TLS_DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM"

struct tls_creds;
struct tls_session;

/* Loads what cfg names for role. 0, or a negative errno with a sentence in why (which file, and
 * GnuTLS's reason). */
int tls_creds_load(enum tls_role role, const struct tls_config *cfg, struct tls_creds **ret,
		   char *why, size_t why_len);
/* Credentials are shared: each session holds a reference for its life, since GnuTLS points into
 * them, so the loader may drop its own while sessions go on (a relay outlives its connect). */
struct tls_creds *tls_creds_ref(struct tls_creds *c);
struct tls_creds *tls_creds_unref(struct tls_creds *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tls_creds *, tls_creds_unref);

/* A session over the connected socket fd (not owned: closing it stays the caller's), holding a
 * reference to c. The socket
 * may be blocking or not; the functions below then block or return -EAGAIN. */
int tls_session_new(const struct tls_creds *c, int fd, struct tls_session **ret);
struct tls_session *tls_session_free(struct tls_session *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct tls_session *, tls_session_free);

/* One step of the handshake: 0 when it is complete (and, for a client, the server verified),
 * -EAGAIN when the socket must become readable (or writable: tls_session_wants_write()), another
 * negative errno when it failed (-EACCES: the peer's certificate or key was refused; -EPROTO:
 * anything else), with tls_session_error() saying why. */
int tls_session_handshake(struct tls_session *s);
bool tls_session_wants_write(const struct tls_session *s);

/* Record I/O: bytes moved (0 from recv: the peer closed cleanly), -EAGAIN, or a negative errno. */
ssize_t tls_session_recv(struct tls_session *s, void *buf, size_t len);
ssize_t tls_session_send(struct tls_session *s, const void *buf, size_t len);
/* Decrypted bytes already read from the socket and not yet returned by tls_session_recv(). */
size_t tls_session_pending(const struct tls_session *s);
/*
 * From now on, ciphertext the socket cannot take at once is queued in the session instead of
 * making GnuTLS answer "again": a send then always takes all it is given, whatever GnuTLS writes
 * on its own meanwhile (the answer to a key update, read while a send was pending, would
 * otherwise have GnuTLS send the pending data twice). The caller bounds the queue by what it
 * sends, and empties it with tls_session_flush() when the socket can take more. For a session
 * after its handshake. 0, or a negative errno.
 */
int tls_session_queue_output(struct tls_session *s);
/* Writes queued ciphertext: 0 when the queue is empty, -EAGAIN when the socket is full, another
 * negative errno when it failed. */
int tls_session_flush(struct tls_session *s);
/* Bytes of ciphertext queued. */
size_t tls_session_queued(const struct tls_session *s);
/* How many records the session has sent and received (GnuTLS's record sequence numbers): AES-GCM
 * keys must not protect more than about 2^24.5 records. 0, or a negative errno. */
int tls_session_records(const struct tls_session *s, uint64_t *ret_sent, uint64_t *ret_received);
/* TLS 1.3 post-handshake messages, sent at once: a KeyUpdate (new keys for what this side sends;
 * the peer is not asked to update its own), and a NewSessionTicket (servers only). Peers whose
 * session is in the kernel's TLS cannot read either, which is what tests of such peers need.
 * 0, -EAGAIN (the same call again later), or a negative errno with tls_session_error() saying
 * why (-EOPNOTSUPP before TLS 1.3). */
int tls_session_key_update(struct tls_session *s);
int tls_session_send_ticket(struct tls_session *s);
/* Ends the session with a close_notify (best effort, for a socket that stays in user space). */
void tls_session_bye(struct tls_session *s);

/* "TLS1.3, AES-256-GCM, X.509" and the like, for logs and status. */
void tls_session_describe(const struct tls_session *s, char *buf, size_t len);
/* Why the last call failed, or "". */
const char *tls_session_error(const struct tls_session *s);

/* Finds username's key (NULL: the first line's user) in a psktool file: new strings for the user
 * name and the key in hex. 0, -ESRCH (no such user, or no key at all), -EBADMSG (a malformed
 * line: not "name:hexkey"), or the errno of opening or reading it (-ENOENT: no such file). */
int tls_psk_lookup(const char *path, const char *username, char **ret_username, char **ret_hexkey);
