/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-generator's work (systemd/generator.c) on sample nbdtab files: which files and links it
 * writes into a scratch directory, what they say, and what the kernel's log (a memfd standing for
 * /dev/kmsg) is told about bad lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/macro.h"
#include "systemd/generator.h"
#include "tests/unit/capture.h"

#define UNIT_DIR "/usr/lib/systemd/system"
#define NBD_CLIENT "/usr/sbin/nbd-client"

static char dir[512], out[600], tab[600];
/* Where the generator looks for attached devices' processes: empty scratch trees unless a test
 * puts some there (attached()). */
static char sys_dir[600], proc_dir[600];
static int kmsg = -1;
static struct capture cap = CAPTURE_INIT;

static int setup(void **state _unused_)
{
	char path[64];

	unsetenv("NBDM_LOG_LEVEL");
	snprintf(dir, sizeof(dir), "%s/nbdm-generator-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	if (!mkdtemp(dir))
		return -1;
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(tab, sizeof(tab), "%s/nbdtab", dir);
	snprintf(sys_dir, sizeof(sys_dir), "%s/sys", dir);
	setenv("NBDM_SYSFS_ROOT", sys_dir, 1);
	snprintf(proc_dir, sizeof(proc_dir), "%s/proc", dir);
	if (mkdir(out, 0755) < 0)
		return -1;
	kmsg = memfd_create("kmsg", MFD_CLOEXEC);
	if (kmsg < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", kmsg);
	setenv("NBDM_KMSG_PATH", path, 1);
	log_open("nbd-generator", LOG_TARGET_KMSG);
	return capture_begin(&cap);
}

static int teardown(void **state _unused_)
{
	log_close();
	unsetenv("NBDM_KMSG_PATH");
	unsetenv("NBDM_SYSFS_ROOT");
	close(kmsg);
	remove_tree(dir);
	capture_end(&cap);
	return 0;
}

static void write_tab(const char *content)
{
	FILE *f = fopen(tab, "we");

	assert_non_null(f);
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

static int run(void)
{
	const struct generator_config c = {
		.nbdtab = tab,
		.dir = out,
		.unit_dir = UNIT_DIR,
		.nbd_client = NBD_CLIENT,
		.proc_dir = proc_dir,
	};

	return generate(&c);
}

/* What the kernel's log got, the "<N>nbd-generator[pid]: " prefixes replaced by "<N>". */
static const char *kernel_log(void)
{
	static char text[8192];
	char raw[8192], *t = text;
	ssize_t n = pread(kmsg, raw, sizeof(raw) - 1, 0);

	assert_true(n >= 0);
	raw[n] = '\0';
	for (char *p = raw; *p;) {
		char *colon = strstr(p, "]: "), *nl = strchr(p, '\n');

		assert_non_null(colon);
		assert_non_null(nl);
		t += sprintf(t, "%.4s%.*s\n", p, (int)(nl - colon - 3), colon + 3);
		p = nl + 1;
	}
	*t = '\0';
	assert_int_equal(ftruncate(kmsg, 0), 0);
	return text;
}

static const char *read_text(const char *rel)
{
	static char text[8192];
	char path[1024];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", out, rel);
	f = fopen(path, "re");
	if (!f) {
		fail_msg("%s was not written", rel);
		return "";
	}
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

static void assert_link(const char *rel, const char *target)
{
	char path[1024], got[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", out, rel);
	n = readlink(path, got, sizeof(got) - 1);
	if (n < 0) {
		fail_msg("no link %s", rel);
		return;
	}
	got[n] = '\0';
	if (strcmp(got, target) != 0)
		fail_msg("%s -> %s, expected %s", rel, got, target);
}

static bool exists(const char *rel)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", out, rel);
	return lstat(path, &st) == 0;
}

/* Not inlined: gcc's format checks, with the sanitizers' code, then take text for NULL. */
static __attribute__((noinline)) void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("expected '%s' in:\n%s", part, text);
}

/* ------------------------------------------------------------------ cases */

static void test_plain_and_persistent(void **state _unused_)
{
	const char *t;

	write_tab("# comment\n"
		  "nbd0 server.example disk\n"
		  "/dev/nbd1 server.example root persist,timeout=30\n"
		  "nbd2 h e tls\n"
		  "nbd3 /run/nbd.sock data unix,noauto\n");
	assert_int_equal(run(), 0);
	assert_string_equal(kernel_log(), "");

	assert_link("remote-fs.target.wants/nbd@nbd0.service", UNIT_DIR "/nbd@.service");
	assert_link("remote-fs.target.wants/nbd@nbd1.service", UNIT_DIR "/nbd@.service");
	assert_link("remote-fs.target.wants/nbd@nbd2.service", UNIT_DIR "/nbd@.service");
	/* noauto: started only when asked, but its settings are there for then. */
	assert_false(exists("remote-fs.target.wants/nbd@nbd3.service"));

	/* A plain line keeps the template's oneshot. */
	t = read_text("nbd@nbd0.service.d/50-nbdtab.conf");
	assert_contains(t, "line 2.\n[Unit]\nSourcePath=");
	assert_null(strstr(t, "Type="));
	assert_null(strstr(t, "ExecStop"));
	/* persist, and TLS (which always keeps a supervisor), are supervised in the foreground. */
	for (int i = 1; i <= 2; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "nbd@nbd%d.service.d/50-nbdtab.conf", i);
		t = read_text(rel);
		assert_contains(t, "[Service]\nType=notify\nNotifyAccess=main\nRemainAfterExit=no\n"
				   "Restart=on-failure\n");
	}
	t = read_text("nbd@nbd3.service.d/50-nbdtab.conf");
	assert_null(strstr(t, "Type="));
}

/* Device name's sysfs pid is pid, whose process has the argument vector argv (NULs included). */
static void attached(const char *name, const char *pid, const char *argv, size_t argv_len)
{
	char path[1400];
	FILE *f;

	snprintf(path, sizeof(path), "mkdir -p %s/block/%s %s/%s", sys_dir, name, proc_dir, pid);
	assert_int_equal(system(path), 0);
	snprintf(path, sizeof(path), "%s/block/%s/pid", sys_dir, name);
	assert_non_null(f = fopen(path, "we"));
	fprintf(f, "%s\n", pid);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/%s/cmdline", proc_dir, pid);
	assert_non_null(f = fopen(path, "we"));
	assert_int_equal(fwrite(argv, 1, argv_len, f), argv_len);
	assert_int_equal(fclose(f), 0);
}

/* The root on NBD, attached by the initramfs with its supervisor marked '@': its nbdtab line (which
 * root=/dev/nbdN may read) gets no unit at boot, which would fail on the taken device for ever. A
 * device attached by any other process keeps its unit. */
static void test_root_attached_by_initramfs(void **state _unused_)
{
	static const char marked[] = "@nbd-client\0attach\0-persist", plain[] = "nbd-client\0nbd1";
	char want[1024];

	attached("nbd0", "4242", marked, sizeof(marked));
	attached("nbd1", "4343", plain, sizeof(plain));
	write_tab("nbd0 server.example root persist\n"
		  "nbd1 server.example data persist\n");
	assert_int_equal(run(), 0);
	snprintf(want, sizeof(want),
		 "<29>%s:1: /dev/nbd0 is the root on NBD, attached by the initramfs, whose "
		 "supervisor stays with it: the line gets no unit at boot (as with noauto)\n", tab);
	assert_string_equal(kernel_log(), want);
	assert_false(exists("remote-fs.target.wants/nbd@nbd0.service"));
	assert_true(exists("nbd@nbd0.service.d/50-nbdtab.conf"));
	assert_link("remote-fs.target.wants/nbd@nbd1.service", UNIT_DIR "/nbd@.service");
}

static void test_mount(void **state _unused_)
{
	const char *t;

	write_tab("nbd0 server.example my-disk persist,mount=/srv//data/,fstype=ext4,"
		  "mountopt=noatime,mountopt=discard\n"
		  "nbd1 ::1 e port=10810,mount=/mnt/100%,noauto\n");
	assert_int_equal(run(), 0);
	assert_string_equal(kernel_log(), "");

	t = read_text("srv-data.mount");
	assert_contains(t, "line 1.\n[Unit]\n");
	assert_contains(t, "After=nbd@nbd0.service\n");
	assert_null(strstr(t, "Requires="));
	assert_null(strstr(t, "BindsTo="));
	assert_null(strstr(t, "PartOf="));
	assert_contains(t, "[Mount]\nWhat=/dev/disk/by-id/nbd-server.example-my-disk\n"
			   "Where=/srv/data\nType=ext4\nOptions=_netdev,noatime,discard\n");
	/* Mounted whenever the export's device appears, and at boot. */
	assert_link("dev-disk-by\\x2did-nbd\\x2dserver.example\\x2dmy\\x2ddisk.device.wants/"
		    "srv-data.mount",
		    "../srv-data.mount");
	assert_link("remote-fs.target.wants/srv-data.mount", "../srv-data.mount");
	/* Unmounted before the detach. */
	t = read_text("nbd@nbd0.service.d/50-nbdtab.conf");
	assert_contains(t, "Type=notify\n");
	assert_contains(t, "ExecStop=\nExecStop=systemctl stop srv-data.mount\n"
			   "ExecStop=" NBD_CLIENT " detach /dev/%i\n");

	/* An IPv6 server on another port, a '%' that systemd would expand, and noauto: the
	 * mount waits for the export, not for the boot. */
	t = read_text("mnt-100\\x25.mount");
	assert_contains(t, "What=/dev/disk/by-id/nbd-\\x5b::1\\x5d:10810-e\nWhere=/mnt/100%%\n"
			   "Options=_netdev\n");
	assert_null(strstr(t, "Type="));
	assert_link("dev-disk-by\\x2did-nbd\\x2d\\x5cx5b::1\\x5cx5d:10810\\x2de.device.wants/"
		    "mnt-100\\x25.mount",
		    "../mnt-100\\x25.mount");
	assert_false(exists("remote-fs.target.wants/mnt-100\\x25.mount"));
	assert_false(exists("remote-fs.target.wants/nbd@nbd1.service"));
	t = read_text("nbd@nbd1.service.d/50-nbdtab.conf");
	assert_contains(t, "[Service]\nExecStop=\nExecStop=systemctl stop mnt-100\\\\x25.mount\n");
}

/* Every bad line is named in the kernel's log; the good lines around it get their units. */
static void test_bad_lines(void **state _unused_)
{
	char want[8192];

	write_tab("nbd0 h e\n"
		  "nbd1 h\n"
		  "nbd2 h e bs=1000\n"
		  "nbd3 h e mount=relative\n"
		  "nbd4 h e identifier=mine,mount=/srv/x\n"
		  "nbd5 h e mount=/srv/a\n"
		  "nbd6 h e2 mount=/srv/a\n"
		  "nbd7 h e fstype=ext4\n"
		  "nbd8 h e mount=/srv/b,fstype=ext4;rm\n"
		  "nbd9 h e\n");
	assert_true(run() > 0);
	snprintf(want, sizeof(want),
		 "<27>%1$s:2: expected 'DEVICE HOST EXPORT [OPTIONS]', but the line has only 2 "
		 "fields\n"
		 "<27>%1$s:3: invalid block size '1000' for bs: expected a power of two from 512 to "
		 "65536, or 'preferred'\n"
		 "<27>%1$s:3: no unit for /dev/nbd2\n"
		 "<27>%1$s:4: mount=relative: expected an absolute directory other than / (no '..')\n"
		 "<27>%1$s:5: mount=: identifier=mine gives the export no name in /dev/disk/by-id, "
		 "which only nbd-client's own identifiers (nbd://, nbd+unix://) do; drop identifier= "
		 "to mount it\n"
		 "<27>%1$s:7: mount=/srv/a: another unit already mounts it (an earlier line, or "
		 "/etc/fstab); this line's mount is left out\n"
		 "<28>%1$s:8: fstype= and mountopt= mean something only with mount=\n"
		 "<27>%1$s:9: fstype=ext4;rm: expected a file system type such as ext4 or xfs\n",
		 tab);
	assert_string_equal(kernel_log(), want);

	assert_true(exists("remote-fs.target.wants/nbd@nbd0.service"));
	assert_false(exists("remote-fs.target.wants/nbd@nbd1.service"));
	assert_false(exists("remote-fs.target.wants/nbd@nbd2.service"));
	assert_false(exists("nbd@nbd2.service.d"));
	/* A line whose mount is refused still gets its device. */
	for (int i = 3; i <= 9; i++) {
		char rel[64];

		snprintf(rel, sizeof(rel), "remote-fs.target.wants/nbd@nbd%d.service", i);
		CASE_CHECK(rel, exists(rel));
	}
	assert_true(exists("srv-a.mount"));
	assert_contains(read_text("srv-a.mount"), "After=nbd@nbd5.service\n");
	assert_null(strstr(read_text("nbd@nbd6.service.d/50-nbdtab.conf"), "ExecStop"));
	assert_false(exists("srv-b.mount"));
	assert_false(exists("srv-x.mount"));
}

static void test_no_nbdtab(void **state _unused_)
{
	assert_int_equal(run(), 0);
	assert_string_equal(kernel_log(), "");
	assert_false(exists("remote-fs.target.wants"));
}

/* The output directory cannot be written: the generator says so and stops, without crashing. */
static void test_unwritable(void **state _unused_)
{
	write_tab("nbd0 h e\n");
	snprintf(out, sizeof(out), "%s/missing/out", dir);
	assert_int_equal(run(), 1);
	assert_non_null(strstr(kernel_log(), "Cannot create"));
	snprintf(out, sizeof(out), "%s/out", dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_and_persistent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_attached_by_initramfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_nbdtab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
