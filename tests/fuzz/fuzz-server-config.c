/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The server's configuration parsers on arbitrary input: the reference-format config file
 * (server_config_load_file) and the command line (server_config_parse_args, which also checks the
 * result and may read a config file named with -C).
 *
 * Byte 0: bit 0 clear: the rest is a config file (given to the parser as /proc/self/fd/N of a
 *         memfd); set: the rest is a command line, its arguments separated by NUL bytes (at most
 *         64, after argv[0]).
 * The default config file is /nonexistent (NBD_SERVER_CONFIG), so that the machine's own is never
 * read. make-seeds.py builds its seeds with the same layout.
 *
 * Besides not crashing, leaking or reading out of bounds: a refusal leaves the configuration
 * freeable, and an accepted command line has an export.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "server/config.h"
#include "tests/fuzz/fuzz.h"

#define MAX_ARGS 64

static void config_file(const uint8_t *data, size_t size)
{
	struct server_config cfg;
	char path[64];
	int fd = memfd_create("fuzz-config", MFD_CLOEXEC);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(size == 0 || write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	server_config_init(&cfg);
	(void)server_config_load_file(&cfg, path);
	server_config_free(&cfg);
	close(fd);
}

static void command_line(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[MAX_ARGS + 2];
	struct server_config cfg;
	int argc = 1, r;

	FUZZ_CHECK(copy);
	memcpy(copy, data, size);
	copy[size] = '\0';
	argv[0] = (char *)"nbd-server";
	for (char *p = copy; p <= copy + size && argc <= MAX_ARGS; p += strlen(p) + 1)
		argv[argc++] = p;
	argv[argc] = NULL;
	server_config_init(&cfg);
	r = server_config_parse_args(&cfg, argc, argv);
	if (r == 0)
		FUZZ_CHECK(cfg.n_exports > 0);
	server_config_free(&cfg);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;

	if (!ready) {
		setenv("NBD_SERVER_CONFIG", "/nonexistent", 1);
		/* The parsers say what they refuse; a million refusals are not worth reading. */
		log_set_max_level(LOG_CRIT);
		ready = true;
	}
	if (size < 1)
		return 0;
	if (data[0] & 1)
		command_line(data + 1, size - 1);
	else
		config_file(data + 1, size - 1);
	return 0;
}
