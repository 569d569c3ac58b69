/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * main() for fuzz targets built without libFuzzer: runs LLVMFuzzerTestOneInput() once on every file
 * named on the command line and on every file inside the directories named there (recursively, in
 * name order, so a failure reproduces in the same order). This is how meson replays the committed
 * corpora as ordinary tests with any compiler, and under ASan/UBSan in sanitizer builds.
 *
 * Each input is passed in a heap block of exactly its size, as libFuzzer does, so an over-read in
 * the target is an ASan report here too. A crash or failed invariant aborts; the last "replaying"
 * line on stderr names the input that caused it. Exit status 1 also when nothing was replayed,
 * since a test over an empty or mistyped corpus path would otherwise pass without testing anything.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static unsigned long n_inputs;

static int replay_file(const char *path, const struct stat *st)
{
	uint8_t *buf;
	size_t len = (size_t)st->st_size, got = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Exactly the file's size (malloc(0) if empty): any read past it is an ASan report. */
	buf = malloc(len);
	if (!buf && len) {
		close(fd);
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "%s: %s\n", path, n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);

	/* Before the run, so that the last line before a crash names the input. */
	fprintf(stderr, "replaying %s (%zu bytes)\n", path, len);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	n_inputs++;
	return 0;
}

static int replay_path(const char *path);

static int replay_dir(const char *path)
{
	struct dirent **entries;
	int n, r = 0;

	n = scandir(path, &entries, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = entries[i]->d_name;
		char *child;

		/* Dot files are not inputs: ".", "..", and editor or VCS droppings. */
		if (name[0] != '.' && r == 0) {
			if (asprintf(&child, "%s/%s", path, name) < 0) {
				r = -1;
			} else {
				r = replay_path(child);
				free(child);
			}
		}
		free(entries[i]);
	}
	free(entries);
	return r;
}

static int replay_path(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return replay_dir(path);
	if (S_ISREG(st.st_mode))
		return replay_file(path, &st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "Usage: %s FILE|DIRECTORY...\n"
				"Runs the fuzz target once on each file, as libFuzzer would.\n",
			argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]) < 0)
			return 1;
	if (n_inputs == 0) {
		fprintf(stderr, "No inputs found\n");
		return 1;
	}
	printf("Replayed %lu inputs without a failure\n", n_inputs);
	return 0;
}
