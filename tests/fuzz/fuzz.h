/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The libFuzzer entry point, shared by the fuzz targets and replay.c.
 *
 * Each target is built twice: with replay.c's main() as an ordinary program that meson runs over
 * the committed corpus (any compiler, any sanitizer), and with clang's -fsanitize=fuzzer as a real
 * coverage-guided fuzzer (meson option -Dfuzzing=true).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken invariant is a finding: say which one, then abort() so libFuzzer and the sanitizers
 * record the input and the stack, and a replay test fails. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,      \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
