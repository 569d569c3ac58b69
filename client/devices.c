/* SPDX-License-Identifier: GPL-2.0-or-later */
/* detach, status and -c: what the kernel's devices are doing, and letting go of them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/commands.h"
#include "client/runstate.h"
#include "common/log.h"
#include "common/parse.h"
#include "netlink/nbd-dev.h"

struct device_state {
	int index;
	bool connected;
	uint64_t size;
	uint32_t block_size;
	bool read_only;
	unsigned connections;
	pid_t pid;
	char *backend;
	bool supervised;
	struct supervisor_report supervisor;
};

/* The driver gives each connection a hardware queue of its own: /sys/block/nbdN/mq/0, 1, ... */
static unsigned count_connections(int index)
{
	const char *root = getenv("NBDM_SYSFS_ROOT");
	char path[256];
	unsigned n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/block/nbd%d/mq", root && *root ? root : "/sys", index);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n;
}

static uint64_t sysfs_u64(int index, const char *attr)
{
	_cleanup_free_ char *s = NULL;
	uint64_t v = 0;

	if (nbd_sysfs_read(index, attr, &s) == 0)
		(void)parse_u64(s, &v);
	return v;
}

static void device_state_read(int index, struct device_state *d)
{
	*d = (struct device_state){ .index = index };
	(void)nbd_dev_pid(index, &d->pid);
	d->size = sysfs_u64(index, "size") * 512; /* sysfs counts 512-byte sectors */
	d->block_size = (uint32_t)sysfs_u64(index, "queue/logical_block_size");
	d->read_only = sysfs_u64(index, "ro") != 0;
	(void)nbd_sysfs_read(index, "backend", &d->backend);
	d->connected = d->pid > 0;
	d->connections = d->connected ? count_connections(index) : 0;
	d->supervised = runstate_read(index, &d->supervisor) == 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A supervised device is detached by its supervisor (SIGTERM), which would otherwise see its
 * connections die and bring them back. 1 when it did so within the time, 0 when there is none. */
static int stop_supervisor(int index)
{
	struct supervisor_report r;

	if (runstate_read(index, &r) < 0)
		return 0;
	if (kill(r.pid, SIGTERM) < 0)
		return 0;
	for (int i = 0; i < 100; i++) {
		if (kill(r.pid, 0) < 0 && errno == ESRCH)
			return 1;
		sleep_ms(100);
	}
	log_warning("The supervisor of /dev/nbd%d (pid %d) did not stop within 10 s; detaching "
		    "the device directly", index, (int)r.pid);
	return 0;
}

/* The NBD devices the kernel has, in index order. */
static int list_devices(int **ret, size_t *ret_n)
{
	const char *root = getenv("NBDM_SYSFS_ROOT");
	char path[256];
	int *indexes = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/block", root && *root ? root : "/sys");
	d = opendir(path);
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		int index = nbd_dev_index(de->d_name), *p;

		if (index < 0)
			continue;
		p = realloc(indexes, (n + 1) * sizeof(*p));
		if (!p) {
			closedir(d);
			free(indexes);
			return -ENOMEM;
		}
		indexes = p;
		indexes[n++] = index;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && indexes[j - 1] > indexes[j]; j--) {
			int t = indexes[j];

			indexes[j] = indexes[j - 1];
			indexes[j - 1] = t;
		}
	*ret = indexes;
	*ret_n = n;
	return 0;
}

static int detach_one(const struct client_options *o, int index)
{
	_cleanup_(nbd_nl_closep) struct nbd_nl *nl = NULL;
	_cleanup_free_ char *backend = NULL;
	int r;

	/* A supervisor comes first: between two set-ups an ioctl device looks detached, and its
	 * supervisor would set it up again once the server answers. */
	if (stop_supervisor(index) == 1 && !nbd_dev_in_use(index))
		return 0;
	if (!nbd_dev_in_use(index)) {
		log_info("/dev/nbd%d is not attached; nothing to do", index);
		return 0;
	}
	/* With -i, only a device carrying that identifier is ours to detach. */
	if (o->identifier && !o->force && nbd_sysfs_read(index, "backend", &backend) == 0 &&
	    strcmp(backend, o->identifier) != 0)
		return log_error_errno(EBUSY, "/dev/nbd%d belongs to backend '%s', not '%s'; add "
					      "--force to detach it anyway",
				       index, backend, o->identifier);
	if (!o->no_netlink && nbd_nl_open(&nl) == 0) {
		r = nbd_nl_disconnect(nl, index);
		if (r == 0)
			return 0;
		/* A device set up with ioctls rejects netlink: fall through to the ioctl. */
		log_debug_errno(r, "Netlink disconnect of /dev/nbd%d failed (%m); trying the ioctl",
				index);
	}
	{
		char path[64];
		_cleanup_close_ int fd = -1;

		snprintf(path, sizeof(path), "/dev/nbd%d", index);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return log_error_errno(errno, "Cannot open %s: %m", path);
		r = nbd_ioctl_disconnect(fd);
		if (r < 0)
			return log_error_errno(r, "Detaching %s failed: %m", path);
	}
	return 0;
}

int cmd_detach(const struct client_options *o)
{
	_cleanup_free_ int *indexes = NULL;
	size_t n = 0;
	int r, index, first_error = 0;

	if (geteuid() != 0)
		return log_error_errno(EPERM, "Detaching a device needs root; run nbd-client as root");
	if (!o->all) {
		index = nbd_dev_index(o->device);
		if (index < 0)
			return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)",
					       o->device);
		return detach_one(o, index);
	}
	r = list_devices(&indexes, &n);
	if (r < 0)
		return log_error_errno(r, "Cannot list NBD devices: %m; is the nbd module loaded?");
	for (size_t i = 0; i < n; i++) {
		r = detach_one(o, indexes[i]);
		if (r < 0 && !first_error)
			first_error = r;
	}
	return first_error;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_supervisor_line(const struct supervisor_report *r)
{
	char when[64] = "?";
	time_t t = (time_t)r->since;
	struct tm tm;

	if (localtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	if (strcmp(r->state, "reconnecting") == 0)
		printf("  supervisor %d: reconnecting since %s, %u of %u connection%s lost, %u "
		       "attempt%s%s%s\n",
		       (int)r->pid, when, r->dead, r->connections, r->connections == 1 ? "" : "s",
		       r->attempts, r->attempts == 1 ? "" : "s", r->last_error[0] ? "; last error: " : "",
		       r->last_error);
	else
		printf("  supervisor %d: %s since %s, %u connection%s replaced so far\n", (int)r->pid,
		       r->state, when, r->reconnects, r->reconnects == 1 ? "" : "s");
}

int cmd_status(const struct client_options *o)
{
	_cleanup_free_ int *indexes = NULL;
	size_t n = 0;
	int r, single;

	if (o->device) {
		single = nbd_dev_index(o->device);
		if (single < 0)
			return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)",
					       o->device);
		indexes = malloc(sizeof(int));
		if (!indexes)
			return log_oom();
		indexes[0] = single;
		n = 1;
	} else {
		r = list_devices(&indexes, &n);
		if (r < 0)
			return log_error_errno(r, "Cannot list NBD devices: %m; is the nbd module "
						  "loaded?");
	}
	if (o->json)
		printf("[");
	else
		printf("%-12s %-12s %16s %6s %3s %5s %8s  %s\n", "DEVICE", "STATE", "SIZE", "BLOCK",
		       "RO", "CONNS", "PID", "BACKEND");
	for (size_t i = 0; i < n; i++) {
		struct device_state d;

		device_state_read(indexes[i], &d);
		/* Unattached devices clutter the listing of all of them; name one to see it. One with a
		 * supervisor is shown: it is between two set-ups (ioctl) and will be back. */
		if (!o->device && !d.connected && !d.supervised && !o->json) {
			free(d.backend);
			continue;
		}
		if (o->json) {
			printf("%s\n  {\"device\": \"/dev/nbd%d\", \"connected\": %s, \"size\": %llu, "
			       "\"block_size\": %u, \"read_only\": %s, \"connections\": %u, "
			       "\"pid\": %d, \"backend\": ",
			       i ? "," : "", d.index, d.connected ? "true" : "false",
			       (unsigned long long)d.size, d.block_size, d.read_only ? "true" : "false",
			       d.connections, (int)d.pid);
			if (d.backend)
				print_json_string(d.backend);
			else
				printf("null");
			printf(", \"supervisor\": ");
			if (d.supervised) {
				printf("{\"pid\": %d, \"state\": ", (int)d.supervisor.pid);
				print_json_string(d.supervisor.state);
				printf(", \"since\": %lld, \"attempts\": %u, \"lost_connections\": %u, "
				       "\"reconnects\": %u, \"last_error\": ",
				       (long long)d.supervisor.since, d.supervisor.attempts,
				       d.supervisor.dead, d.supervisor.reconnects);
				if (d.supervisor.last_error[0])
					print_json_string(d.supervisor.last_error);
				else
					printf("null");
				printf("}");
			} else {
				printf("null");
			}
			printf("}");
		} else {
			char dev[24];

			snprintf(dev, sizeof(dev), "/dev/nbd%d", d.index);
			/* While the supervisor reconnects the kernel still calls the device
			 * connected; the supervisor knows better. */
			printf("%-12s %-12s %16llu %6u %3s %5u %8d  %s\n", dev,
			       d.supervised && strcmp(d.supervisor.state, "reconnecting") == 0
				       ? "reconnecting"
			       : d.connected ? "connected"
					     : "disconnected",
			       (unsigned long long)d.size, d.block_size, d.read_only ? "yes" : "no",
			       d.connections, (int)d.pid, d.backend ? d.backend : "-");
			if (d.supervised)
				print_supervisor_line(&d.supervisor);
		}
		free(d.backend);
	}
	if (o->json)
		printf("%s]\n", n ? "\n" : "");
	return 0;
}

int cmd_check(const struct client_options *o)
{
	int index = nbd_dev_index(o->device);
	pid_t pid = 0;
	int r;

	if (index < 0)
		return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)", o->device);
	r = nbd_dev_pid(index, &pid);
	if (r < 0)
		return log_error_errno(r, "Cannot read the state of /dev/nbd%d: %m", index);
	if (pid <= 0)
		return 1;
	printf("%d\n", (int)pid);
	return 0;
}

int cmd_reconnect(const struct client_options *o)
{
	struct supervisor_report before, now;
	int index = nbd_dev_index(o->device), r;

	if (index < 0)
		return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)", o->device);
	r = runstate_read(index, &before);
	if (r == -ENOENT || r == -ESRCH)
		return log_error_errno(ENOENT, "/dev/nbd%d has no supervisor to reconnect it; attach it "
					       "with -persist to have one", index);
	if (r < 0)
		return log_error_errno(r, "Cannot read the state of /dev/nbd%d's supervisor: %m", index);
	if (strcmp(before.interface, "ioctl") == 0)
		return log_error_errno(EOPNOTSUPP, "/dev/nbd%d is attached through the ioctl interface, "
						   "where a reconnection fails its I/O; detach it and "
						   "attach it again instead (the kernel's netlink "
						   "interface replaces connections without errors)", index);
	if (kill(before.pid, SIGHUP) < 0)
		return log_error_errno(errno, "Cannot signal the supervisor of /dev/nbd%d (pid %d): %m",
				       index, (int)before.pid);
	/* Done once every connection has been replaced since the request. */
	for (int i = 0; i < 600; i++) {
		sleep_ms(100);
		r = runstate_read(index, &now);
		if (r < 0)
			return log_error_errno(r, "The supervisor of /dev/nbd%d stopped while "
						  "reconnecting; see its log", index);
		if (strcmp(now.state, "connected") == 0 &&
		    now.reconnects >= before.reconnects + now.connections) {
			printf("/dev/nbd%d reconnected\n", index);
			return 0;
		}
	}
	return log_error_errno(ETIMEDOUT, "/dev/nbd%d is not reconnected after 60 s%s%s; its "
					  "supervisor keeps trying (nbd-client status)", index,
			       now.last_error[0] ? ": " : "", now.last_error);
}
