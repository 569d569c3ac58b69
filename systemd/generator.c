/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The units of nbdtab lines (generator.h). Everything is written with O_EXCL into a directory that
 * systemd empties before each run, so a file that exists already is another line's or another
 * generator's (a mount point also in /etc/fstab): this line then gets no such unit, and says so.
 *
 * Why a mount has no Requires=, BindsTo= or PartOf= on nbd@nbdN.service, only After=: systemd
 * restarts every unit that has one of those when it restarts the service itself, and restarts it
 * when a supervisor dies (Restart=on-failure), so a crash of the supervisor would take the file
 * system down with it, while the kernel still has the device. Instead the mount lives as long as
 * the device: systemd binds a mount to the device unit of its What=, which stays up through
 * reconnections (the kernel keeps the device, and udev keeps its name, while a supervisor replaces
 * connections). The unmount before a detach is the service's own ExecStop=, which runs when the
 * service is stopped or restarted on request, never when its process dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/nbdtab.h"
#include "client/options.h"
#include "common/log.h"
#include "common/macro.h"
#include "netlink/nbd-dev.h"
#include "systemd/generator.h"
#include "systemd/unit-name.h"
#include "udev/stable-name.h"

#define DROPIN_NAME "50-nbdtab.conf"
#define TEMPLATE "nbd@.service"
#define BOOT_TARGET "remote-fs.target"

struct generator {
	const struct generator_config *c;
	unsigned bad;
};

/* ------------------------------------------------------------------ files */

static int make_dir(const char *dir, const char *sub)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create %s: %m", path);
	return 0;
}

/* A new file dir/name, which must not exist yet. -EEXIST is returned without a message. */
static int create_file(const char *dir, const char *name, FILE **ret)
{
	char path[4096];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (errno == EEXIST)
			return -EEXIST;
		return log_error_errno(errno, "Cannot create %s: %m", path);
	}
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return log_oom();
	}
	*ret = f;
	return 0;
}

static int close_file(FILE *f, const char *dir, const char *name)
{
	bool failed = fflush(f) != 0 || ferror(f);
	int e = errno;

	fclose(f);
	if (failed)
		return log_error_errno(e ? e : EIO, "Cannot write %s/%s: %m", dir, name);
	return 0;
}

/* dir/wants_dir/name -> target, the way systemctl enable links a unit. */
static int add_link(const char *dir, const char *wants_dir, const char *name, const char *target)
{
	char path[4096];
	int r;

	r = make_dir(dir, wants_dir);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s/%s", dir, wants_dir, name);
	if (symlink(target, path) < 0 && errno != EEXIST)
		return log_error_errno(errno, "Cannot create %s: %m", path);
	return 0;
}

/* ------------------------------------------------------------------ escaping */

/* A value where systemd expands specifiers: '%' is written "%%". */
static void put_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			fputc('%', f);
		fputc(*s, f);
	}
}

/* One word of a command line in Exec*=, which systemd reads with C escapes and specifiers. */
static void put_exec_word(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '%' || *s == '\\')
			fputc(*s, f);
		fputc(*s, f);
	}
}

/* ------------------------------------------------------------------ one line */

static bool valid_fstype(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._+-", *s)))
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

struct mount_plan {
	char *where;       /* the mount point, made simple */
	char *what;        /* /dev/disk/by-id/NAME */
	char *mount_unit;  /* srv-data.mount */
	char *device_unit; /* dev-disk-by\x2did-NAME.device */
};

static void mount_plan_free(struct mount_plan *m)
{
	free(m->where);
	free(m->what);
	free(m->mount_unit);
	free(m->device_unit);
}

/* What mount= asks for, checked. -EINVAL (logged, with the line) for what cannot be mounted. */
static int plan_mount(const char *path, unsigned line, const struct client_options *o,
		      const struct nbdtab_systemd *sd, struct mount_plan *m)
{
	_cleanup_free_ char *identifier = NULL, *name = NULL;
	int r;

	r = path_simplify_absolute(sd->mount, &m->where);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0 || strcmp(m->where, "/") == 0 || !printable(m->where)) {
		log_error("%s:%u: mount=%s: expected an absolute directory other than / (no '..')",
			  path, line, sd->mount);
		return -EINVAL;
	}
	if (sd->fstype && !valid_fstype(sd->fstype)) {
		log_error("%s:%u: fstype=%s: expected a file system type such as ext4 or xfs", path,
			  line, sd->fstype);
		return -EINVAL;
	}
	if (sd->mount_options && !printable(sd->mount_options)) {
		log_error("%s:%u: mountopt= has control characters", path, line);
		return -EINVAL;
	}

	identifier = client_backend_identifier(o);
	if (!identifier)
		return log_oom();
	r = nbd_stable_name_from_identifier(identifier, &name);
	if (r == -ENOMEM)
		return log_oom();
	if (r == -ENAMETOOLONG) {
		log_error("%s:%u: mount=: the export's name in /dev/disk/by-id would be longer than "
			  "%d bytes, so it gets none, and nothing can mount it by that name",
			  path, line, NBD_STABLE_NAME_MAX);
		return -EINVAL;
	}
	if (r < 0) {
		log_error("%s:%u: mount=: identifier=%s gives the export no name in /dev/disk/by-id, "
			  "which only nbd-client's own identifiers (nbd://, nbd+unix://) do; drop "
			  "identifier= to mount it", path, line, identifier);
		return -EINVAL;
	}
	if (asprintf(&m->what, "/dev/disk/by-id/%s", name) < 0) {
		m->what = NULL;
		return log_oom();
	}
	r = unit_name_from_path(m->where, ".mount", &m->mount_unit);
	if (r == 0)
		r = unit_name_from_path(m->what, ".device", &m->device_unit);
	if (r == -ENOMEM)
		return log_oom();
	if (r < 0) {
		log_error("%s:%u: mount=%s: the unit name of the mount point or of %s would be "
			  "longer than systemd allows", path, line, m->where, m->what);
		return -EINVAL;
	}
	return 0;
}

static int write_mount_unit(struct generator *g, unsigned line, const char *instance,
			    const struct nbdtab_systemd *sd, const struct mount_plan *m)
{
	const struct generator_config *c = g->c;
	FILE *f;
	int r;

	r = create_file(c->dir, m->mount_unit, &f);
	if (r == -EEXIST) {
		log_error("%s:%u: mount=%s: another unit already mounts it (an earlier line, or "
			  "/etc/fstab); this line's mount is left out", c->nbdtab, line, m->where);
		return -EINVAL;
	}
	if (r < 0)
		return r;
	fprintf(f, "# Written by nbd-generator from %s, line %u.\n", c->nbdtab, line);
	fprintf(f, "[Unit]\nDescription=File system of NBD device /dev/%s (nbdtab)\n", instance);
	fputs("Documentation=man:nbdtab(5) man:nbd-generator(8)\nSourcePath=", f);
	put_value(f, c->nbdtab);
	fputs("\n# Only ordered after the service that attaches the device (so unmounted before it\n"
	      "# detaches at shutdown), and bound to nothing but the device itself: a supervisor\n"
	      "# that is restarted, or a connection that is replaced, leaves the mount alone.\n", f);
	fprintf(f, "After=nbd@%s.service\n\n[Mount]\nWhat=", instance);
	put_value(f, m->what);
	fputs("\nWhere=", f);
	put_value(f, m->where);
	fputc('\n', f);
	if (sd->fstype)
		fprintf(f, "Type=%s\n", sd->fstype);
	/* _netdev: a remote file system to systemd, mounted after remote-fs-pre.target, which
	 * every nbd@ unit is before, and so unmounted before any of them stops. */
	fputs("Options=_netdev", f);
	if (sd->mount_options) {
		fputc(',', f);
		put_value(f, sd->mount_options);
	}
	fputc('\n', f);
	return close_file(f, c->dir, m->mount_unit);
}

static int write_dropin(struct generator *g, unsigned line, const char *instance, bool persistent,
			const struct mount_plan *m)
{
	const struct generator_config *c = g->c;
	char dir[4096], name[64];
	FILE *f;
	int r;

	snprintf(name, sizeof(name), "nbd@%s.service.d", instance);
	r = make_dir(c->dir, name);
	if (r < 0)
		return r;
	snprintf(dir, sizeof(dir), "%s/%s", c->dir, name);
	r = create_file(dir, DROPIN_NAME, &f);
	if (r == -EEXIST)
		return log_error_errno(EEXIST, "%s/%s exists already", dir, DROPIN_NAME);
	if (r < 0)
		return r;
	fprintf(f, "# Written by nbd-generator from %s, line %u.\n[Unit]\nSourcePath=", c->nbdtab,
		line);
	put_value(f, c->nbdtab);
	fputc('\n', f);
	if (persistent)
		fputs("\n# persist or TLS: nbd-client stays with the device as its supervisor, in the\n"
		      "# foreground, and says READY=1 once the device is attached. If it dies, the\n"
		      "# kernel keeps the device and systemd starts a new one.\n"
		      "[Service]\nType=notify\nNotifyAccess=main\nRemainAfterExit=no\n"
		      "Restart=on-failure\nRestartSec=5\n", f);
	if (m) {
		fprintf(f, "\n# mount=%s: unmounted before the detach. A drop-in's ExecStop= lines run\n"
			   "# after the unit's own, so the whole list is given again.\n",
			m->where);
		if (!persistent)
			fputs("[Service]\n", f);
		fputs("ExecStop=\nExecStop=systemctl stop ", f);
		put_exec_word(f, m->mount_unit);
		fputs("\nExecStop=", f);
		put_exec_word(f, c->nbd_client);
		fputs(" detach /dev/%i\n", f);
	}
	return close_file(f, dir, DROPIN_NAME);
}

/*
 * Whether the initramfs attached the device for a root on NBD: the process the kernel names for it
 * is a supervisor whose argv[0] starts with '@' (the mark that keeps it alive through the
 * shutdown; nbd-boot(7)). nbd-boot(7) lets root=/dev/nbdN take its server from the device's
 * nbdtab line, so that line is often there; starting its unit would only find the device taken,
 * fail, and (with persist) be restarted for ever.
 */
static bool attached_by_initramfs(const struct generator_config *c, const char *device)
{
	int index = nbd_dev_index(device);
	char path[4096], first = 0;
	pid_t pid = 0;
	ssize_t n;
	int fd;

	if (index < 0 || nbd_dev_pid(index, &pid) < 0 || pid <= 0)
		return false;
	snprintf(path, sizeof(path), "%s/%d/cmdline", c->proc_dir ? c->proc_dir : "/proc", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, &first, 1);
	close(fd);
	return n == 1 && first == '@';
}

static int generate_line(struct generator *g, const struct nbdtab_entry *e)
{
	const struct generator_config *c = g->c;
	_cleanup_(client_options_free) struct client_options o;
	_cleanup_(nbdtab_systemd_free) struct nbdtab_systemd sd = { 0 };
	_cleanup_(mount_plan_free) struct mount_plan m = { 0 };
	const char *instance = e->device + strlen("/dev/");
	char link[128], target[4096];
	bool persistent, mount = false;
	int r;

	client_options_init(&o);
	r = nbdtab_entry_options(c->nbdtab, e, &o, &sd);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_error("%s:%u: no unit for %s", c->nbdtab, e->line, e->device);
		g->bad++;
		return 0;
	}
	if (client_tls_finish(&o.target.tls) < 0)
		return log_oom();
	/* A TLS attach always keeps a supervisor with the device, as if -persist were given. */
	persistent = o.persist || o.target.tls.enabled;

	if (sd.mount) {
		r = plan_mount(c->nbdtab, e->line, &o, &sd, &m);
		if (r == -ENOMEM)
			return r;
		if (r == 0) {
			r = write_mount_unit(g, e->line, instance, &sd, &m);
			if (r == -ENOMEM)
				return r;
			mount = r == 0;
		}
		if (!mount)
			g->bad++;
	} else if (sd.fstype || sd.mount_options) {
		log_warning("%s:%u: fstype= and mountopt= mean something only with mount=", c->nbdtab,
			    e->line);
	}

	if (!sd.noauto && attached_by_initramfs(c, e->device)) {
		log_notice("%s:%u: %s is the root on NBD, attached by the initramfs, whose supervisor "
			   "stays with it: the line gets no unit at boot (as with noauto)", c->nbdtab,
			   e->line, e->device);
		sd.noauto = true;
	}
	r = write_dropin(g, e->line, instance, persistent, mount ? &m : NULL);
	if (r < 0)
		return r;
	if (!sd.noauto) {
		snprintf(link, sizeof(link), "nbd@%s.service", instance);
		snprintf(target, sizeof(target), "%s/" TEMPLATE, c->unit_dir);
		r = add_link(c->dir, BOOT_TARGET ".wants", link, target);
		if (r < 0)
			return r;
	}
	if (mount) {
		char wants[UNIT_NAME_MAX + 16];

		snprintf(target, sizeof(target), "../%s", m.mount_unit);
		snprintf(wants, sizeof(wants), "%s.wants", m.device_unit);
		r = add_link(c->dir, wants, m.mount_unit, target);
		if (r == 0 && !sd.noauto)
			r = add_link(c->dir, BOOT_TARGET ".wants", m.mount_unit, target);
		if (r < 0)
			return r;
	}
	return 0;
}

static int on_entry(const struct nbdtab_entry *e, void *userdata)
{
	struct generator *g = userdata;
	int r = generate_line(g, e);

	if (r < 0)
		g->bad++;
	/* Only what stops every other line too (no memory, an output directory that cannot be
	 * written) ends the walk. */
	return r == -ENOMEM || r == -EACCES || r == -EROFS || r == -ENOSPC ? r : 0;
}

int generate(const struct generator_config *c)
{
	struct generator g = { .c = c };
	int r;

	if (access(c->nbdtab, F_OK) < 0 && errno == ENOENT) {
		log_debug("%s does not exist: no NBD devices", c->nbdtab);
		return 0;
	}
	r = nbdtab_read(c->nbdtab, on_entry, &g);
	if (r == -EINVAL)
		return (int)g.bad + 1;
	if (r < 0)
		return r;
	return (int)g.bad;
}
