/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/runstate.h"
#include "common/macro.h"
#include "common/parse.h"
#include "common/process.h"
#include "common/sockstate.h"

static const char *runstate_dir(void)
{
	const char *dir = getenv("NBDM_RUNTIME_DIR");

	return dir && *dir ? dir : RUNSTATE_DIR;
}

/* Values are written on one line each: a newline in an error message or identifier would start a
 * new key, so it becomes a space. */
static void put(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=", key);
	for (; *value; value++)
		fputc(*value == '\n' || *value == '\r' ? ' ' : *value, f);
	fputc('\n', f);
}

/* Opens a temporary file beside path for its new version, with one name per writer so that two
 * never interleave in one file; readable by anyone, since status runs as anyone. */
static int replacement_open(const char *path, pid_t writer, char *tmp, size_t len, FILE **ret)
{
	FILE *f;
	int fd;

	if (mkdir(runstate_dir(), 0755) < 0 && errno != EEXIST)
		return negative_errno();
	snprintf(tmp, len, "%s.%d.tmp", path, (int)writer);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return negative_errno();
	(void)fchmod(fd, 0644); /* whatever the umask */
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	*ret = f;
	return 0;
}

/* Puts the new version in place of the old at once, or drops it after a write error. */
static int replacement_commit(FILE *f, const char *tmp, const char *path)
{
	int r = 0;

	if (fflush(f) != 0 || ferror(f))
		r = errno ? -errno : -EIO;
	fclose(f);
	if (r == 0 && rename(tmp, path) < 0)
		r = negative_errno();
	if (r < 0)
		unlink(tmp);
	return r;
}

int runstate_write(int index, const struct supervisor_report *r)
{
	char path[512], tmp[540];
	FILE *f;
	int e;

	snprintf(path, sizeof(path), "%s/nbd%d", runstate_dir(), index);
	e = replacement_open(path, r->pid, tmp, sizeof(tmp), &f);
	if (e < 0)
		return e;
	fprintf(f, "pid=%d\n", (int)r->pid);
	put(f, "state", r->state);
	put(f, "interface", r->interface);
	fprintf(f, "since=%" PRId64 "\nattempts=%u\nconnections=%u\ndead=%u\ntaken_over=%u\n"
		"reconnects=%u\n", r->since, r->attempts, r->connections, r->dead, r->taken_over,
		r->reconnects);
	put(f, "last_error", r->last_error);
	put(f, "backend", r->backend);
	return replacement_commit(f, tmp, path);
}

static void copy_value(char *dst, size_t cap, const char *v)
{
	snprintf(dst, cap, "%s", v);
}

/*
 * A pid from the file is only trusted while it names a running process of this same program (by
 * command name, which -m's mark of argv[0] does not change): a supervisor killed without cleaning
 * up leaves a file whose pid may since belong to anyone, and detach and reconnect send it signals.
 */
static bool is_supervisor(pid_t pid)
{
	char theirs[32], ours[32];

	return process_name(pid, theirs, sizeof(theirs)) == 0 &&
	       process_name(getpid(), ours, sizeof(ours)) == 0 && strcmp(theirs, ours) == 0;
}

/* Calls fn(key, value, userdata) for each "key=value" line of path: 0, or the errno of opening it. */
static int read_pairs(const char *path, void (*fn)(const char *key, const char *value, void *userdata),
		      void *userdata)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[1024];

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (!eq)
			continue;
		*eq++ = '\0';
		fn(line, eq, userdata);
	}
	return 0;
}

static void report_pair(const char *key, const char *value, void *userdata)
{
	struct supervisor_report *r = userdata;
	uint64_t v;

	if (strcmp(key, "state") == 0)
		copy_value(r->state, sizeof(r->state), value);
	else if (strcmp(key, "interface") == 0)
		copy_value(r->interface, sizeof(r->interface), value);
	else if (strcmp(key, "last_error") == 0)
		copy_value(r->last_error, sizeof(r->last_error), value);
	else if (strcmp(key, "backend") == 0)
		copy_value(r->backend, sizeof(r->backend), value);
	else if (parse_u64(value, &v) < 0 || v > INT64_MAX)
		return;
	else if (strcmp(key, "pid") == 0 && v <= INT32_MAX)
		r->pid = (pid_t)v;
	else if (strcmp(key, "since") == 0)
		r->since = (int64_t)v;
	else if (strcmp(key, "attempts") == 0)
		r->attempts = (unsigned)MIN(v, UINT32_MAX);
	else if (strcmp(key, "connections") == 0)
		r->connections = (unsigned)MIN(v, UINT32_MAX);
	else if (strcmp(key, "dead") == 0)
		r->dead = (unsigned)MIN(v, UINT32_MAX);
	else if (strcmp(key, "taken_over") == 0)
		r->taken_over = (unsigned)MIN(v, UINT32_MAX);
	else if (strcmp(key, "reconnects") == 0)
		r->reconnects = (unsigned)MIN(v, UINT32_MAX);
}

int runstate_read(int index, struct supervisor_report *r)
{
	char path[512];
	int e;

	*r = (struct supervisor_report){ 0 };
	snprintf(path, sizeof(path), "%s/nbd%d", runstate_dir(), index);
	e = read_pairs(path, report_pair, r);
	if (e < 0)
		return e;
	if (r->pid <= 0 || !r->state[0])
		return -EBADMSG;
	if (!is_supervisor(r->pid))
		return -ESRCH;
	return 0;
}

void runstate_remove(int index, pid_t pid)
{
	struct supervisor_report r;
	char path[512];

	if (runstate_read(index, &r) != -ENOENT && r.pid != pid)
		return;
	snprintf(path, sizeof(path), "%s/nbd%d", runstate_dir(), index);
	(void)unlink(path);
}

static void connrecord_path(int index, char *path, size_t len)
{
	snprintf(path, len, "%s/nbd%d.conns", runstate_dir(), index);
}

int connrecord_write(int index, pid_t pid, const char *backend, const int *fds,
		     const uint64_t *known_inodes, size_t n, const char *tls, bool supervised)
{
	char path[512], tmp[540];
	FILE *f;
	int e;

	connrecord_path(index, path, sizeof(path));
	e = replacement_open(path, getpid(), tmp, sizeof(tmp), &f);
	if (e < 0)
		return e;
	fprintf(f, "pid=%d\nconnections=%zu\nsockets=", (int)pid, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t ino = 0;

		if (fds[i] >= 0)
			(void)socket_inode(fds[i], &ino);
		else if (known_inodes)
			ino = known_inodes[i];
		fprintf(f, "%s%" PRIu64, i ? " " : "", ino);
	}
	fputc('\n', f);
	put(f, "backend", backend ? backend : "");
	put(f, "tls", tls);
	put(f, "supervised", supervised ? "yes" : "no");
	return replacement_commit(f, tmp, path);
}

static void parse_inodes(struct conn_record *r, const char *list)
{
	char *end;

	for (unsigned i = 0; i < ELEMENTSOF(r->inodes) && *list; i++) {
		r->inodes[i] = strtoull(list, &end, 10);
		if (end == list)
			break;
		list = end;
	}
}

static void record_pair(const char *key, const char *value, void *userdata)
{
	struct conn_record *r = userdata;
	uint64_t v;

	if (strcmp(key, "backend") == 0)
		copy_value(r->backend, sizeof(r->backend), value);
	else if (strcmp(key, "tls") == 0)
		copy_value(r->tls, sizeof(r->tls), value);
	else if (strcmp(key, "supervised") == 0)
		r->supervised = strcmp(value, "yes") == 0;
	else if (strcmp(key, "sockets") == 0)
		parse_inodes(r, value);
	else if (parse_u64(value, &v) < 0)
		return;
	else if (strcmp(key, "pid") == 0 && v <= INT32_MAX)
		r->pid = (pid_t)v;
	else if (strcmp(key, "connections") == 0)
		r->n = (unsigned)MIN(v, ELEMENTSOF(r->inodes));
}

int connrecord_read(int index, struct conn_record *r)
{
	char path[512];
	int e;

	*r = (struct conn_record){ 0 };
	connrecord_path(index, path, sizeof(path));
	e = read_pairs(path, record_pair, r);
	if (e < 0)
		return e;
	if (r->pid <= 0 || r->n == 0)
		return -EBADMSG;
	return 0;
}

void connrecord_remove(int index)
{
	char path[512];

	connrecord_path(index, path, sizeof(path));
	(void)unlink(path);
}
