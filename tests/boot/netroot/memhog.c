/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * memhog MIB [PASSES]: fills MIB MiB of anonymous memory with a pattern that depends on each word's
 * position, then reads it all back PASSES times (default 2), so that under a memory limit below MIB
 * the pages go out to swap and come back in. Prints "memhog: MIB MiB, N passes, 0 bad words" and
 * exits 0 when every word was right; a bad word is counted, never fatal, so that the count says how
 * much was lost. Built on the host for the boot test's guest (tests/boot/run-netroot.sh).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static uint64_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x6e62646dULL;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ULL;
}

int main(int argc, char **argv)
{
	uint64_t mib, words, i, bad = 0;
	int passes, p;
	uint64_t *mem;

	if (argc < 2) {
		fprintf(stderr, "usage: memhog MIB [PASSES]\n");
		return 2;
	}
	mib = strtoull(argv[1], NULL, 10);
	passes = argc > 2 ? atoi(argv[2]) : 2;
	words = mib * 1048576 / sizeof(uint64_t);
	mem = mmap(NULL, mib * 1048576, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (i = 0; i < words; i++)
		mem[i] = pattern(i);
	for (p = 0; p < passes; p++)
		for (i = 0; i < words; i++)
			if (mem[i] != pattern(i))
				bad++;
	printf("memhog: %llu MiB, %d passes, %llu bad words\n", (unsigned long long)mib, passes,
	       (unsigned long long)bad);
	return bad ? 1 : 0;
}
