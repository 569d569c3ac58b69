/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The keys of the reference's config file: which section each belongs to, where its value goes
 * (an offset into struct server_config or struct export_config) and how it is read, including
 * the keys of the reference that this server does not support and why.
 */
#pragma once

#include <stddef.h>

enum section_kind {
	SECTION_NONE,
	SECTION_GENERIC,
	SECTION_EXPORT,
};

enum key_type {
	KEY_STRING,     /* free text; empty means none */
	KEY_NAME,       /* a user or group name: not empty */
	KEY_PATH,       /* an absolute path */
	KEY_OPT_PATH,   /* an absolute path, or empty: none */
	KEY_BOOL,
	KEY_PORT,       /* a number or a service name (nbd) */
	KEY_UNSIGNED,   /* 0 .. max */
	KEY_SIZE,       /* filesize */
	KEY_ADDRESSES,  /* listenaddr */
	KEY_MEMORY,     /* memory = SIZE: a memory export */
	KEY_INCLUDEDIR,
	KEY_VIRTSTYLE,  /* none, ipliteral, iphash, cidrhash N */
	KEY_OFF_BOOL,   /* a feature this server lacks: fine while false */
	KEY_OFF_STRING, /* a feature this server lacks: fine while empty */
	KEY_IGNORED,    /* accepted with a warning: it never did anything */
	KEY_NOTE_BOOL,  /* a true/false tuning knob this server does not need: a note in the log */
};

struct key {
	const char *name;
	enum section_kind section;
	size_t offset; /* into struct server_config or struct export_config */
	enum key_type type;
	unsigned max;  /* KEY_UNSIGNED */
	const char *why; /* KEY_OFF_*, KEY_IGNORED, KEY_VIRTSTYLE: the explanation */
};

/* Room for every key of the table, for per-key arrays (checked where the table is). */
#define CONFIG_KEYS_MAX 96

extern const struct key config_keys[];
/* The key's number in the table, 0 .. CONFIG_KEYS_MAX - 1. */
size_t key_index(const struct key *k);
const struct key *key_find(const char *name, enum section_kind kind);
/* A known key of that section spelt close to name (a typo, or the wrong case), or NULL. */
const struct key *key_suggest(const char *name, enum section_kind kind);
