/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The server's TLS credentials (tls-creds.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/tls-creds.h"

int srv_tls_load(const struct server_config *cfg, struct srv_tls **ret)
{
	const struct tls_config tc = {
		.certfile = cfg->pskfile ? NULL : cfg->certfile,
		.keyfile = cfg->pskfile ? NULL : cfg->keyfile,
		.cacertfile = cfg->pskfile ? NULL : cfg->cacertfile,
		.pskfile = cfg->pskfile,
		.priority = cfg->tls_priority,
	};
	struct srv_tls *t;
	char why[512] = "";
	int r;

	if (!server_config_tls_enabled(cfg)) {
		*ret = NULL;
		return 0;
	}
	if (cfg->pskfile) {
		/* GnuTLS reads a PSK file at each handshake, so it is checked here once: a file that
		 * cannot be read now would otherwise only fail the first client. */
		_cleanup_free_ char *user = NULL, *key = NULL;

		r = tls_psk_lookup(cfg->pskfile, NULL, &user, &key);
		if (r == -EBADMSG)
			return log_error_errno(r, "TLS: the PSK file %s has a malformed line (psktool "
						  "writes 'username:hexkey'); fix it or name another "
						  "with --tls-psk", cfg->pskfile);
		if (r == -ENOENT || r == -ESRCH)
			return log_error_errno(r, "TLS: the PSK file %s %s; make one with 'psktool -u "
						  "NAME -p %s'", cfg->pskfile,
					       r == -ENOENT ? "does not exist" : "holds no key",
					       cfg->pskfile);
		if (r < 0)
			return log_error_errno(r, "TLS: cannot read the PSK file %s: %m (it is read at "
						  "every handshake, so the user the server runs as "
						  "needs to read it)", cfg->pskfile);
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return log_oom();
	r = tls_creds_load(TLS_SERVER, &tc, &t->creds, why, sizeof(why));
	if (r < 0) {
		free(t);
		if (r == -ENOMEM)
			return log_oom();
		return log_error_errno(r, "TLS: %s; fix the file or name another (%s)",
				       why[0] ? why : "cannot load the credentials",
				       cfg->pskfile ? "--tls-psk"
						    : "certfile, keyfile and cacertfile in [generic], "
						      "or --tls-certificates DIR");
	}
	atomic_init(&t->refs, 1);
	t->kind = cfg->pskfile      ? "PSK"
		  : cfg->cacertfile ? "X.509, client certificates required"
				    : "X.509";
	t->ktls = cfg->ktls;
	*ret = t;
	return 0;
}

struct srv_tls *srv_tls_ref(struct srv_tls *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

struct srv_tls *srv_tls_unref(struct srv_tls *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return NULL;
	tls_creds_unref(t->creds);
	free(t);
	return NULL;
}
