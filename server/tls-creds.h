/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's TLS credentials as the configuration names them, loaded once (tls/tls.h): at
 * start-up before privileges are dropped, and again on SIGHUP. Reference-counted: the
 * configuration in force holds one reference, and every connection with a TLS session holds one
 * for as long as its session lives, so a reload never frees credentials a session still uses.
 */
#pragma once

#include <stdatomic.h>

#include "common/macro.h"
#include "server/config.h"
#include "tls/tls.h"

struct srv_tls {
	atomic_uint refs;
	struct tls_creds *creds;
	/* What they are, for the log: "X.509 (client certificates required)", "PSK". */
	const char *kind;
	enum ktls_setting ktls;
};

/* Loads what cfg names when TLS is enabled (*ret = NULL when it is not). Logs a failure naming
 * the file and what to do. */
int srv_tls_load(const struct server_config *cfg, struct srv_tls **ret);
struct srv_tls *srv_tls_ref(struct srv_tls *t);
struct srv_tls *srv_tls_unref(struct srv_tls *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct srv_tls *, srv_tls_unref);
