/* SPDX-License-Identifier: GPL-2.0-or-later */
/* detach, status and -c: what the kernel's devices are doing, and letting go of them. */
#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/commands.h"
#include "client/runstate.h"
#include "common/sockstate.h"
#include "common/capability.h"
#include "common/log.h"
#include "common/parse.h"
#include "netlink/nbd-dev.h"

struct device_state {
	int index;
	bool connected;          /* the kernel has a process for it (/sys/block/nbdN/pid) */
	uint64_t size;
	uint32_t block_size;
	bool read_only;
	unsigned connections;
	bool connections_known;  /* from the attach's record; else a lower bound from sysfs */
	char tls[8];             /* from the record: "kernel", "relay", or "" (no TLS) */
	unsigned alive;          /* of the known connections, those whose socket still carries one */
	pid_t pid;
	char *backend;
	bool supervised;
	bool supervisor_gone;    /* a supervisor was started for it and is no longer running */
	struct supervisor_report supervisor;
};

/* The driver gives each connection a hardware queue of its own, but no more queues than there are
 * CPUs: /sys/block/nbdN/mq/0, 1, ... is the number of connections only below that. */
static unsigned count_queues(int index)
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

/*
 * The kernel reports a device connected from attach until detach, even when every connection
 * has died and its I/O fails. The record attach left names the sockets it handed over; while the
 * kernel still names the same process, their state is the device's. Without a record (attached by
 * another program) the count is the number of queues and the links are taken to be up.
 */
static void read_connections(struct device_state *d)
{
	struct conn_record rec;
	bool same;

	same = connrecord_read(d->index, &rec) == 0 && rec.pid == d->pid &&
	       (!d->backend || strcmp(rec.backend, d->backend) == 0);
	if (!same) {
		unsigned queues = count_queues(d->index);
		long cpus = sysconf(_SC_NPROCESSORS_CONF);

		d->connections = d->alive = queues;
		d->connections_known = cpus <= 0 || queues < (unsigned)cpus;
		return;
	}
	d->connections = rec.n;
	d->connections_known = true;
	if (strcmp(rec.tls, "kernel") == 0 || strcmp(rec.tls, "relay") == 0)
		snprintf(d->tls, sizeof(d->tls), "%s", rec.tls);
	for (unsigned i = 0; i < rec.n; i++)
		/* A state that cannot be read (no /proc) is not evidence of a dead link. */
		if (rec.inodes[i] && socket_inode_connected(rec.inodes[i]) != 0)
			d->alive++;
}

static void device_state_read(int index, struct device_state *d)
{
	int r;

	*d = (struct device_state){ .index = index };
	(void)nbd_dev_pid(index, &d->pid);
	d->size = sysfs_u64(index, "size") * 512; /* sysfs counts 512-byte sectors */
	d->block_size = (uint32_t)sysfs_u64(index, "queue/logical_block_size");
	d->read_only = sysfs_u64(index, "ro") != 0;
	(void)nbd_sysfs_read(index, "backend", &d->backend);
	d->connected = d->pid > 0;
	if (d->connected)
		read_connections(d);
	r = runstate_read(index, &d->supervisor);
	d->supervised = r == 0;
	d->supervisor_gone = r == -ESRCH && d->connected;
}

/* One word for the device: what its I/O does now. */
static const char *device_state_name(const struct device_state *d)
{
	if (d->supervised && strcmp(d->supervisor.state, "reconnecting") == 0)
		return "reconnecting";
	if (!d->connected)
		return d->supervised ? "reconnecting" : "disconnected";
	if (d->alive == 0)
		return d->supervised ? "reconnecting" : "dead";
	if (d->alive < d->connections)
		return d->supervised ? "reconnecting" : "degraded";
	return "connected";
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

/* Nobody may be using a device that is detached: its cached writes would be lost and a file system
 * on it would fail. udev's probe and the partition rescan open a device for a moment, so only a
 * use that lasts is a refusal. */
static int refuse_if_used(const struct client_options *o, int index)
{
	struct supervisor_report sup;
	pid_t except[2] = { 0 };
	char who[1024];
	int r;

	if (o->force)
		return 0;
	(void)nbd_dev_pid(index, &except[0]); /* the ioctl path's process holds it open */
	if (runstate_read(index, &sup) == 0)
		except[1] = sup.pid;
	for (int tries = 0;; tries++) {
		r = nbd_dev_users(index, except, ELEMENTSOF(except), who, sizeof(who));
		if (r <= 0)
			return 0; /* unknown (no /proc) is no reason to refuse */
		if (tries >= 10)
			break;
		sleep_ms(100);
	}
	return log_error_errno(EBUSY, "/dev/nbd%d is in use: %s; unmount it (or swapoff, or close the "
				      "program) first, or add --force to detach anyway and lose what "
				      "has not been written",
			       index, who);
}

static int detach_one(const struct client_options *o, int index)
{
	_cleanup_(nbd_nl_closep) struct nbd_nl *nl = NULL;
	_cleanup_free_ char *backend = NULL;
	int r;

	if (nbd_dev_in_use(index)) {
		r = refuse_if_used(o, index);
		if (r < 0)
			return r;
	}
	/* A supervisor comes first: between two set-ups an ioctl device looks detached, and its
	 * supervisor would set it up again once the server answers. */
	if (stop_supervisor(index) == 1 && !nbd_dev_in_use(index))
		goto done;
	if (!nbd_dev_in_use(index)) {
		log_info("/dev/nbd%d is not attached; nothing to do", index);
		goto done;
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
			goto done;
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
done:
	connrecord_remove(index);
	return 0;
}

/* A device that is not there is an error, as with the reference: a typo must not look like a
 * successful detach. */
static int refuse_missing(int index)
{
	if (access("/sys/module/nbd", F_OK) < 0 && !getenv("NBDM_SYSFS_ROOT"))
		return log_error_errno(ENODEV, "/dev/nbd%d does not exist: the nbd module is not "
					       "loaded, so no device is attached",
				       index);
	return log_error_errno(ENODEV, "/dev/nbd%d does not exist; 'nbd-client status' lists the "
				       "attached devices, and the module's nbds_max parameter sets how "
				       "many there are",
			       index);
}

int cmd_detach(const struct client_options *o)
{
	_cleanup_free_ int *indexes = NULL;
	size_t n = 0;
	int r, index, first_error = 0;

	if (!capability_effective(CAP_SYS_ADMIN))
		return log_error_errno(EPERM, "Detaching a device needs root, with CAP_SYS_ADMIN; run "
					      "nbd-client as root (in a container: one that has that "
					      "capability)");
	if (!o->all) {
		index = nbd_dev_index(o->device);
		if (index < 0)
			return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)",
					       o->device);
		if (!nbd_dev_exists(index))
			return refuse_missing(index);
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

static void print_supervisor_line(const struct device_state *d)
{
	const struct supervisor_report *r = &d->supervisor;
	char when[64] = "?";
	time_t t = (time_t)r->since;
	struct tm tm;

	if (d->supervisor_gone) {
		printf("  supervisor %d is gone: nothing replaces a connection that dies; attach the "
		       "device again with -persist to have one\n", (int)r->pid);
		return;
	}
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

static void print_json_device(const struct device_state *d, bool first)
{
	printf("%s\n  {\"device\": \"/dev/nbd%d\", \"state\": \"%s\", \"connected\": %s, "
	       "\"size\": %llu, \"block_size\": %u, \"read_only\": %s, \"connections\": %u, "
	       "\"connections_exact\": %s, \"alive_connections\": %u, \"pid\": %d, ",
	       first ? "" : ",", d->index, device_state_name(d), d->connected ? "true" : "false",
	       (unsigned long long)d->size, d->block_size, d->read_only ? "true" : "false",
	       d->connections, d->connections_known ? "true" : "false", d->alive, (int)d->pid);
	if (d->tls[0])
		printf("\"tls\": \"%s\", \"backend\": ", d->tls);
	else
		printf("\"tls\": null, \"backend\": ");
	if (d->backend)
		print_json_string(d->backend);
	else
		printf("null");
	printf(", \"supervisor\": ");
	if (d->supervisor_gone) {
		printf("{\"pid\": %d, \"state\": \"gone\"}", (int)d->supervisor.pid);
	} else if (d->supervised) {
		printf("{\"pid\": %d, \"state\": ", (int)d->supervisor.pid);
		print_json_string(d->supervisor.state);
		printf(", \"since\": %lld, \"attempts\": %u, \"lost_connections\": %u, "
		       "\"reconnects\": %u, \"last_error\": ",
		       (long long)d->supervisor.since, d->supervisor.attempts, d->supervisor.dead,
		       d->supervisor.reconnects);
		if (d->supervisor.last_error[0])
			print_json_string(d->supervisor.last_error);
		else
			printf("null");
		printf("}");
	} else {
		printf("null");
	}
	printf("}");
}

static void print_table_device(const struct device_state *d)
{
	char dev[24], conns[24];

	snprintf(dev, sizeof(dev), "/dev/nbd%d", d->index);
	/* "1/2": one of two connections still up; "2+": at least two (attached by another
	 * program, with as many queues as CPUs, so there may be more). */
	if (!d->connected)
		snprintf(conns, sizeof(conns), "0");
	else if (!d->connections_known)
		snprintf(conns, sizeof(conns), "%u+", d->connections);
	else if (d->alive < d->connections)
		snprintf(conns, sizeof(conns), "%u/%u", d->alive, d->connections);
	else
		snprintf(conns, sizeof(conns), "%u", d->connections);
	printf("%-12s %-12s %16llu %6u %3s %5s %8d  %s\n", dev, device_state_name(d),
	       (unsigned long long)d->size, d->block_size, d->read_only ? "yes" : "no", conns,
	       (int)d->pid, d->backend ? d->backend : "-");
	if (d->supervised || d->supervisor_gone)
		print_supervisor_line(d);
	if (strcmp(d->tls, "kernel") == 0)
		printf("  TLS in the kernel: every connection's session, no process in the data path\n");
	else if (strcmp(d->tls, "relay") == 0)
		printf("  TLS relayed by the supervisor: the kernel could not take the sessions, or "
		       "--tls-ktls=no asked for the relay\n");
	if (strcmp(device_state_name(d), "dead") == 0)
		printf("  every connection is closed: I/O fails; detach it (nbd-client -d %s) and "
		       "attach it again\n", dev);
}

int cmd_status(const struct client_options *o)
{
	_cleanup_free_ int *indexes = NULL;
	size_t n = 0, shown = 0;
	int r, single;

	if (o->device) {
		single = nbd_dev_index(o->device);
		if (single < 0)
			return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)",
					       o->device);
		if (!nbd_dev_exists(single))
			return refuse_missing(single);
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
		/* Unattached devices clutter the listing of all of them, in both forms; name one to
		 * see it. One with a supervisor is shown: it is between two set-ups (ioctl) and will be
		 * back. */
		if (!o->device && !d.connected && !d.supervised) {
			free(d.backend);
			continue;
		}
		if (o->json)
			print_json_device(&d, shown == 0);
		else
			print_table_device(&d);
		shown++;
		free(d.backend);
	}
	if (o->json)
		printf("%s]\n", shown ? "\n" : "");
	return 0;
}

/*
 * The reference's -c: the pid and 0 while the device works, 1 when it does not (never attached,
 * detached, or every connection dead with nothing to bring one back), 2 on an error. A partition
 * answers for its disk.
 */
int cmd_check(const struct client_options *o)
{
	int index = nbd_dev_disk_index(o->device);
	struct device_state d;
	int r;

	if (index < 0)
		return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN or "
					       "/dev/nbdNpK)", o->device);
	if (!nbd_dev_exists(index)) {
		(void)refuse_missing(index);
		return 1;
	}
	device_state_read(index, &d);
	free(d.backend);
	if (!d.connected)
		return 1;
	if (strcmp(device_state_name(&d), "dead") == 0) {
		log_error("/dev/nbd%d is attached, but every connection to its server is closed and "
			  "its I/O fails; detach it (nbd-client -d /dev/nbd%d) and attach it again",
			  index, index);
		return 1;
	}
	r = printf("%d\n", (int)d.pid);
	return r < 0 ? -EIO : 0;
}

int cmd_reconnect(const struct client_options *o)
{
	struct supervisor_report before, now;
	int index = nbd_dev_index(o->device), r;

	if (index < 0)
		return log_error_errno(EINVAL, "'%s' is not an NBD device name (/dev/nbdN)", o->device);
	if (!capability_effective(CAP_SYS_ADMIN))
		return log_error_errno(EPERM, "Reconnecting a device needs root, with CAP_SYS_ADMIN "
					      "(its supervisor runs as root); run nbd-client as root");
	r = runstate_read(index, &before);
	if (r == -ESRCH)
		return log_error_errno(ESRCH, "/dev/nbd%d was attached with -persist, but its "
					      "supervisor (pid %d) is no longer running, so nothing can "
					      "reconnect it; detach it and attach it again with -persist",
				       index, (int)before.pid);
	if (r == -ENOENT)
		return log_error_errno(ENOENT, "/dev/nbd%d has no supervisor to reconnect it; attach it "
					       "with -persist to have one", index);
	if (r < 0)
		return log_error_errno(r, "Cannot read the state of /dev/nbd%d's supervisor: %m", index);
	if (strcmp(before.interface, "ioctl") == 0)
		return log_error_errno(EOPNOTSUPP, "/dev/nbd%d is attached through the ioctl interface, "
						   "where a reconnection fails its I/O; detach it and "
						   "attach it again instead (the kernel's netlink "
						   "interface replaces connections without errors)", index);
	/* A connection taken over from an earlier supervisor has no socket in this one to shut:
	 * the kernel alone holds it, and it is replaced only once it dies. */
	if (before.connections > 0 && before.taken_over >= before.connections)
		return log_error_errno(EOPNOTSUPP, "/dev/nbd%d's supervisor (pid %d) took the device "
						   "over from an earlier one, and the kernel alone holds its "
						   "connections: they are replaced once they die, not on "
						   "request; detach the device and attach it again for "
						   "connections its supervisor can replace",
				       index, (int)before.pid);
	if (kill(before.pid, SIGHUP) < 0)
		return log_error_errno(errno, "Cannot signal the supervisor of /dev/nbd%d (pid %d): %m",
				       index, (int)before.pid);
	/* Done once every connection it can replace has been replaced since the request. */
	for (int i = 0; i < 600; i++) {
		sleep_ms(100);
		r = runstate_read(index, &now);
		if (r < 0)
			return log_error_errno(r, "The supervisor of /dev/nbd%d stopped while "
						  "reconnecting; see its log", index);
		if (strcmp(now.state, "connected") == 0 &&
		    now.reconnects >= before.reconnects + now.connections - before.taken_over) {
			if (before.taken_over)
				printf("/dev/nbd%d reconnected, but for %u connection(s) taken over from "
				       "an earlier supervisor, which are replaced once they die\n",
				       index, before.taken_over);
			else
				printf("/dev/nbd%d reconnected\n", index);
			return 0;
		}
	}
	return log_error_errno(ETIMEDOUT, "/dev/nbd%d is not reconnected after 60 s%s%s; its "
					  "supervisor keeps trying (nbd-client status)", index,
			       now.last_error[0] ? ": " : "", now.last_error);
}
