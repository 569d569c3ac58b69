/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TLS material of the unit tests, made once per test program by tests/tls/make-certs.sh (its
 * path in TLS_MAKE_CERTS; certtool and psktool) in a scratch directory: group setup and teardown,
 * and tls_path() for a file in it.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "common/macro.h"

static char tls_dir[64];

/* DIR/name; the last 8 results stay valid, enough for one configuration's files. */
static inline const char *tls_path(const char *name)
{
	static char buf[16][128];
	static unsigned next;
	char *p = buf[next++ % ELEMENTSOF(buf)];

	snprintf(p, sizeof(buf[0]), "%s/%s", tls_dir, name);
	return p;
}

static inline int tls_material_make(void **state _unused_)
{
	const char *script = getenv("TLS_MAKE_CERTS");
	char cmd[512];

	snprintf(tls_dir, sizeof(tls_dir), "/tmp/nbdm-tls-XXXXXX");
	if (!script || !mkdtemp(tls_dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, tls_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static inline int tls_material_remove(void **state _unused_)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
	return system(cmd) == 0 ? 0 : -1;
}
