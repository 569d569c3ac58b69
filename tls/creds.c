/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Credentials, loaded once per program (or per reload) and shared by every session: X.509
 * certificates or a PSK file, the priority string, and the client's verification settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "common/macro.h"
#include "tls/creds.h"
#include "tls/errors.h"

#define PSK_PRIORITY ":+ECDHE-PSK:+DHE-PSK:+PSK"

struct tls_creds *tls_creds_ref(struct tls_creds *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

struct tls_creds *tls_creds_unref(struct tls_creds *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return NULL;
	if (c->x509)
		gnutls_certificate_free_credentials(c->x509);
	if (c->psk_client)
		gnutls_psk_free_client_credentials(c->psk_client);
	if (c->psk_server)
		gnutls_psk_free_server_credentials(c->psk_server);
	if (c->priority)
		gnutls_priority_deinit(c->priority);
	free(c->hostname);
	free(c);
	return NULL;
}

/* The GnuTLS error of a step as -errno, with the step and GnuTLS's words in why. */
static int failed(int gnutls_error, char *why, size_t len, const char *what, const char *path)
{
	snprintf(why, len, "%s %s: %s", what, path ? path : "", gnutls_error_message(gnutls_error));
	return -errno_from_gnutls(gnutls_error);
}

static int load_psk(struct tls_creds *c, const struct tls_config *cfg, char *why, size_t len)
{
	int r;

	if (c->role == TLS_SERVER) {
		r = gnutls_psk_allocate_server_credentials(&c->psk_server);
		if (r < 0)
			return failed(r, why, len, "Cannot set up PSK", "credentials");
		r = gnutls_psk_set_server_credentials_file(c->psk_server, cfg->pskfile);
		if (r < 0)
			return failed(r, why, len, "Cannot read the PSK file", cfg->pskfile);
		return 0;
	}
	{
		_cleanup_free_ char *user = NULL, *hex = NULL;
		gnutls_datum_t key;

		r = tls_psk_lookup(cfg->pskfile, cfg->username, &user, &hex);
		if (r == -ESRCH && cfg->username) {
			snprintf(why, len, "The PSK file %s has no key for user '%s'", cfg->pskfile,
				 cfg->username);
			return r;
		}
		if (r < 0) {
			snprintf(why, len, "Cannot read the PSK file %s: %s", cfg->pskfile,
				 r == -EBADMSG ? "a line is not username:hexkey"
				 : r == -ESRCH ? "it has no key"
						: strerror(-r));
			return r;
		}
		r = gnutls_psk_allocate_client_credentials(&c->psk_client);
		if (r < 0)
			return failed(r, why, len, "Cannot set up PSK", "credentials");
		key = (gnutls_datum_t){ .data = (unsigned char *)hex, .size = (unsigned)strlen(hex) };
		r = gnutls_psk_set_client_credentials(c->psk_client, user, &key, GNUTLS_PSK_KEY_HEX);
		if (r < 0)
			return failed(r, why, len, "Cannot use the key of the PSK file", cfg->pskfile);
	}
	return 0;
}

static int load_x509(struct tls_creds *c, const struct tls_config *cfg, char *why, size_t len)
{
	int r = gnutls_certificate_allocate_credentials(&c->x509);

	if (r < 0)
		return failed(r, why, len, "Cannot set up X.509 credentials", NULL);
	if (cfg->cacertfile) {
		r = gnutls_certificate_set_x509_trust_file(c->x509, cfg->cacertfile,
							   GNUTLS_X509_FMT_PEM);
		if (r < 0)
			return failed(r, why, len, "Cannot read the CA certificate", cfg->cacertfile);
		if (r == 0) {
			snprintf(why, len, "The CA file %s holds no certificate", cfg->cacertfile);
			return -EINVAL;
		}
		c->require_client_cert = c->role == TLS_SERVER;
	} else if (c->role == TLS_CLIENT && cfg->verify_peer) {
		r = gnutls_certificate_set_x509_system_trust(c->x509);
		if (r < 0)
			return failed(r, why, len, "Cannot load the system's trusted certificates", NULL);
	}
	if (cfg->certfile || cfg->keyfile) {
		const char *cert = cfg->certfile ? cfg->certfile : cfg->keyfile;
		const char *key = cfg->keyfile ? cfg->keyfile : cfg->certfile;

		r = gnutls_certificate_set_x509_key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM);
		if (r < 0) {
			snprintf(why, len, "Cannot use the certificate %s with the key %s: %s", cert,
				 key, gnutls_error_message(r));
			return -errno_from_gnutls(r);
		}
	} else if (c->role == TLS_SERVER) {
		snprintf(why, len, "A TLS server needs a certificate and its key (or a PSK file)");
		return -EINVAL;
	}
	return 0;
}

int tls_creds_load(enum tls_role role, const struct tls_config *cfg, struct tls_creds **ret,
		   char *why, size_t why_len)
{
	_cleanup_(tls_creds_unrefp) struct tls_creds *c = calloc(1, sizeof(*c));
	_cleanup_free_ char *priority = NULL;
	const char *err_pos = NULL;
	int r;

	if (!c)
		return -ENOMEM;
	atomic_init(&c->refs, 1);
	c->role = role;
	c->verify_peer = cfg->verify_peer;
	if (cfg->hostname && !(c->hostname = strdup(cfg->hostname)))
		return -ENOMEM;
	r = cfg->pskfile ? load_psk(c, cfg, why, why_len) : load_x509(c, cfg, why, why_len);
	if (r < 0)
		return r;
	if (asprintf(&priority, "%s%s", cfg->priority ? cfg->priority : TLS_DEFAULT_PRIORITY,
		     cfg->pskfile ? PSK_PRIORITY : "") < 0)
		return -ENOMEM;
	r = gnutls_priority_init(&c->priority, priority, &err_pos);
	if (r < 0) {
		snprintf(why, why_len, "The TLS priority string '%s' is not valid (at '%s'): %s",
			 priority, err_pos ? err_pos : "", gnutls_error_message(r));
		return -EINVAL;
	}
	*ret = TAKE_PTR(c);
	return 0;
}
