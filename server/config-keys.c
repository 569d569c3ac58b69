/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The config file's key table (config-keys.h). */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/macro.h"
#include "server/config.h"
#include "server/config-keys.h"

#define G(field) SECTION_GENERIC, offsetof(struct server_config, field)
#define E(field) SECTION_EXPORT, offsetof(struct export_config, field)
#define GX SECTION_GENERIC, 0
#define EX SECTION_EXPORT, 0

#define WHY_NOT(what) what " is not supported by this nbd-server; remove it"

const struct key config_keys[] = {
	{ "user", G(user), .type = KEY_NAME },
	{ "group", G(group), .type = KEY_NAME },
	{ "listenaddr", G(addresses), .type = KEY_ADDRESSES },
	{ "port", G(port), .type = KEY_PORT },
	{ "includedir", GX, .type = KEY_INCLUDEDIR },
	{ "allowlist", G(allow_list), .type = KEY_BOOL },
	{ "unixsock", G(unix_path), .type = KEY_PATH },
	{ "duallisten", G(dual_listen), .type = KEY_BOOL },
	{ "maxconnections", G(max_connections), .type = KEY_UNSIGNED, .max = UINT32_MAX },
	{ "authfile", G(authfile), .type = KEY_PATH },
	{ "max_threads", G(threads), .type = KEY_UNSIGNED, .max = 4096 },
	/* Not the reference's: it has no such limits. */
	{ "handshake_timeout", G(handshake_timeout), .type = KEY_UNSIGNED,
	  .max = SERVER_MAX_HANDSHAKE_TIMEOUT },
	{ "max_connections_per_address", G(max_connections_per_address), .type = KEY_UNSIGNED,
	  .max = UINT32_MAX },
	{ "request_timeout", G(request_timeout), .type = KEY_UNSIGNED,
	  .max = SERVER_MAX_HANDSHAKE_TIMEOUT },
	{ "oldstyle", GX, .type = KEY_OFF_BOOL,
	  .why = "the oldstyle handshake is not supported by this nbd-server (nor by the reference "
		 "since 3.10); remove it" },
	{ "force_tls", G(force_tls), .type = KEY_BOOL },
	/* In [generic], tlsonly means what force_tls does: every export needs TLS. */
	{ "tlsonly", G(force_tls), .type = KEY_BOOL },
	{ "certfile", G(certfile), .type = KEY_OPT_PATH },
	{ "keyfile", G(keyfile), .type = KEY_OPT_PATH },
	{ "cacertfile", G(cacertfile), .type = KEY_OPT_PATH },
	{ "tlsprio", G(tls_priority), .type = KEY_STRING },
	{ "splice", GX, .type = KEY_NOTE_BOOL,
	  .why = "this nbd-server splices WRITE payloads and READ data by itself" },

	{ "exportname", E(path), .type = KEY_PATH },
	{ "readonly", E(read_only), .type = KEY_BOOL },
	{ "copyonwrite", E(copy_on_write), .type = KEY_BOOL },
	{ "cowfile", E(cow_path), .type = KEY_PATH },
	{ "filesize", E(size), .type = KEY_SIZE },
	{ "memory", E(size), .type = KEY_MEMORY },
	{ "flush", E(flush), .type = KEY_BOOL },
	{ "fua", E(fua), .type = KEY_BOOL },
	{ "trim", E(trim), .type = KEY_BOOL },
	{ "rotational", E(rotational), .type = KEY_BOOL },
	{ "sync", E(sync), .type = KEY_BOOL },
	{ "directio", E(direct_io), .type = KEY_BOOL },
	{ "authfile", E(authfile), .type = KEY_PATH },
	{ "maxconnections", E(max_connections), .type = KEY_UNSIGNED, .max = UINT32_MAX },
	{ "description", E(description), .type = KEY_STRING },
	{ "virtstyle", EX, .type = KEY_VIRTSTYLE },
	{ "prerun", E(prerun), .type = KEY_STRING },
	{ "postrun", E(postrun), .type = KEY_STRING },
	{ "transactionlog", E(transactionlog), .type = KEY_OPT_PATH },
	{ "datalog", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("logging WRITE data in the transaction log (datalog)") },
	{ "multifile", E(multifile), .type = KEY_BOOL },
	{ "sharded", E(sharded), .type = KEY_BOOL },
	{ "treefiles", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("an export of one file per block (treefiles)") },
	{ "waitfile", EX, .type = KEY_OFF_BOOL,
	  .why = WHY_NOT("waiting for the export file to appear (waitfile)") },
	{ "sparse_cow", EX, .type = KEY_NOTE_BOOL,
	  .why = "copy-on-write overlays of this nbd-server are always sparse" },
	{ "cowdir", E(cowdir), .type = KEY_OPT_PATH },
	{ "temporary", E(temporary), .type = KEY_BOOL },
	{ "splice", EX, .type = KEY_NOTE_BOOL,
	  .why = "this nbd-server splices WRITE payloads and READ data by itself" },
	{ "sdp", EX, .type = KEY_OFF_BOOL, .why = WHY_NOT("SDP (the Sockets Direct Protocol)") },
	{ "tlsonly", E(tls_only), .type = KEY_BOOL },
	/* In an export's section, force_tls means what tlsonly does there. */
	{ "force_tls", E(tls_only), .type = KEY_BOOL },
	{ "timeout", EX, .type = KEY_IGNORED,
	  .why = "the reference nbd-server documents it but never used it; a client sets its own "
		 "timeout" },
	{ "listenaddr", EX, .type = KEY_IGNORED,
	  .why = "listen addresses are set in [generic], as in the reference nbd-server" },
};

#undef G
#undef E
#undef GX
#undef EX

_Static_assert(ELEMENTSOF(config_keys) <= CONFIG_KEYS_MAX, "CONFIG_KEYS_MAX is too small");

size_t key_index(const struct key *k)
{
	return (size_t)(k - config_keys);
}

const struct key *key_find(const char *name, enum section_kind kind)
{
	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++)
		if (config_keys[i].section == kind && strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* Edit distance for "did you mean"; long keys get no suggestion rather than a big buffer. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[65], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la > 64 || lb > 64)
		return UINT32_MAX;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

const struct key *key_suggest(const char *name, enum section_kind kind)
{
	const struct key *best = NULL;
	unsigned best_d = 3; /* two edits at most, or it is a guess */

	for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
		unsigned d;

		if (config_keys[i].section != kind || config_keys[i].type == KEY_IGNORED ||
		    config_keys[i].type == KEY_NOTE_BOOL)
			continue;
		d = strcasecmp(config_keys[i].name, name) == 0 ? 0 : edit_distance(name, config_keys[i].name);
		if (d < best_d && d < strlen(name)) {
			best = &config_keys[i];
			best_d = d;
		}
	}
	return best;
}
