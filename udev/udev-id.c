/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel announces an attach with a change uevent sent before the netlink CONNECT has created
 * /sys/block/nbdN/backend (nbd_start_device() sets the size, then nbd_genl_connect() adds the
 * file), and a detach with a change uevent sent just before pid and backend go. So a device with a
 * pid but no backend yet is waited for, briefly: an attachment made with ioctls never gets one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/macro.h"
#include "common/parse.h"
#include "udev/stable-name.h"
#include "udev/udev-id.h"

/* How long a backend file that the kernel is about to create is waited for. */
#define BACKEND_WAIT_MS 200
#define BACKEND_POLL_MS 10

/* nbd-client's record of an attachment (client/runstate.h documents its keys). */
struct conns_record {
	char *pid;
	char *connections;
	char *backend;
	char *tls;
};

static void conns_record_free(struct conns_record *c)
{
	free(c->pid);
	free(c->connections);
	free(c->backend);
	free(c->tls);
}

/* A small file's first line, without its newline; NULL when it cannot be read. */
static char *read_line(const char *path)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getline(&line, &cap, f);
	if (n < 0) {
		free(line);
		/* An empty file is a value, "" (a netlink attach without an identifier). */
		return strdup("");
	}
	line[strcspn(line, "\n")] = '\0';
	return line;
}

static void read_record(const char *path, struct conns_record *c)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) >= 0) {
		char *eq = strchr(line, '='), **field = NULL;

		if (!eq)
			continue;
		*eq = '\0';
		eq[1 + strcspn(eq + 1, "\n")] = '\0';
		if (strcmp(line, "pid") == 0)
			field = &c->pid;
		else if (strcmp(line, "connections") == 0)
			field = &c->connections;
		else if (strcmp(line, "backend") == 0)
			field = &c->backend;
		else if (strcmp(line, "tls") == 0)
			field = &c->tls;
		if (field) {
			free(*field);
			*field = strdup(eq + 1);
		}
	}
}

/* One property, its value encoded as the header says. */
static void put(FILE *out, const char *key, const char *value)
{
	fprintf(out, "%s=", key);
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\' || *p == '"' || *p == '\'')
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('\n', out);
}

static bool is_nbd_disk(const char *name)
{
	const char *digits = name + 3;

	return strncmp(name, "nbd", 3) == 0 && *digits && digits[strspn(digits, "0123456789")] == '\0';
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int udev_id_print(const char *sysfs_root, const char *run_dir, const char *name, FILE *out)
{
	_cleanup_free_ char *pid = NULL, *backend = NULL, *stable = NULL;
	struct conns_record rec = { 0 };
	struct nbd_backend b;
	char path[4096];
	bool ours;

	if (!is_nbd_disk(name))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/block/%s/pid", sysfs_root, name);
	pid = read_line(path);
	if (!pid || !*pid)
		return 0; /* not attached: no properties, and so no links */

	snprintf(path, sizeof(path), "%s/block/%s/backend", sysfs_root, name);
	for (unsigned waited = 0; !(backend = read_line(path)) && waited < BACKEND_WAIT_MS;
	     waited += BACKEND_POLL_MS)
		sleep_ms(BACKEND_POLL_MS);

	/* The record counts only when it describes this attachment: the process the kernel names
	 * wrote it. A record left by an earlier one says nothing about this. */
	snprintf(path, sizeof(path), "%s/%s.conns", run_dir, name);
	read_record(path, &rec);
	ours = rec.pid && strcmp(rec.pid, pid) == 0;
	if ((!backend || !*backend) && ours && rec.backend && *rec.backend) {
		free(backend);
		backend = TAKE_PTR(rec.backend);
	}

	if (backend && *backend) {
		put(out, "ID_NBD_BACKEND", backend);
		if (nbd_backend_parse(backend, &b) == 0) {
			if (b.socket_path) {
				put(out, "ID_NBD_SOCKET", b.socket_path);
			} else {
				put(out, "ID_NBD_SERVER", b.host);
				put(out, "ID_NBD_PORT", b.port);
			}
			put(out, "ID_NBD_EXPORT", b.export_name);
			/* Already in udev's encoding, which the rules' SYMLINK keeps. */
			if (nbd_stable_name(&b, &stable) == 0)
				fprintf(out, "ID_NBD_NAME=%s\n", stable);
			nbd_backend_free(&b);
		}
	}
	if (ours) {
		uint32_t n;

		if (rec.connections && parse_u32(rec.connections, &n) == 0 && n > 0)
			fprintf(out, "ID_NBD_CONNECTIONS=%u\n", n);
		if (rec.tls && *rec.tls)
			put(out, "ID_NBD_TLS", rec.tls);
	}
	conns_record_free(&rec);
	return 0;
}
