# SPDX-License-Identifier: GPL-2.0-or-later
# mount= follows the export wherever it is attached (nbdtab(5); MOUNTS in nbd-generator(8)): nbd2's
# line in 30-nbdtab.files mounts the export disk2 at /mnt/disk2. Stopping nbd@nbd2 unmounts it
# first, then detaches (the generator's ExecStop=). Attaching disk2 by hand on /dev/nbd3, with a
# URI and then with the classic syntax, mounts it at /mnt/disk2 again: udev names the export, and
# the name's device unit wants the mount. A detach by hand refuses the mounted device and names the
# mount (nbd-client(8)); once the mount unit is stopped it detaches. nbd@nbd2 then brings it back.

link=/dev/disk/by-id/nbd-10.0.2.100-disk2
source_is() { [ "$(findmnt -n -r -o SOURCE /mnt/disk2)" = "$1" ]; }
unmounted() { ! findmnt -n /mnt/disk2 >/dev/null; }
cursor=$(journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p')
# first_line PATTERN: the line of the stop's journal where PATTERN first appears.
first_line() {
	journalctl --after-cursor "$cursor" -u mnt-disk2.mount -u nbd@nbd2.service -o cat |
		grep -n -m 1 -E "$1" | cut -d: -f1
}

check "systemctl stop nbd@nbd2" to systemctl stop nbd@nbd2.service
check_eq "nbd@nbd2 stopped cleanly (its detach did not refuse)" "inactive success" \
	"$(unit_prop nbd@nbd2.service ActiveState) $(unit_prop nbd@nbd2.service Result)"
check "/mnt/disk2 is unmounted" unmounted
check_fails "/dev/nbd2 is detached" attached nbd2
unmounted_at=$(first_line '^Unmounted ') detached_at=$(first_line 'detach')
check "the journal has the unmount before the detach (lines ${unmounted_at:-none} and ${detached_at:-none})" \
	test "${unmounted_at:-0}" -gt 0 -a "${detached_at:-0}" -gt "${unmounted_at:-0}"
check "the link $link goes" wait_until 10 eval "[ ! -L $link ]"

check "attach $(nbd_uri disk2) to /dev/nbd3 by hand" to nbd-client attach "$(nbd_uri disk2)" /dev/nbd3
check "systemd mounts it at /mnt/disk2 (mount= of nbd2's line)" wait_until 30 source_is /dev/nbd3
check_eq "nbd@nbd2 was not started for it" inactive "$(systemctl is-active nbd@nbd2.service)"
check "a file written there reaches the disk" sh -c 'echo written-on-nbd3 >/mnt/disk2/hand && sync -f /mnt/disk2'
check_fails "nbd-client detach /dev/nbd3 refuses the mounted device" to nbd-client detach /dev/nbd3
# nbd-client writes its messages to stderr on a terminal, else to the journal (or syslog).
{
	cat "$STATE/out"
	journalctl --after-cursor "$cursor" -t nbd-client -o cat | grep -F 'nbd3 is in use'
} >"$STATE/refusal"
check "the refusal names the mount" grep -q 'mounted on /mnt/disk2' "$STATE/refusal"
diag_file "$STATE/refusal" 3
check "/dev/nbd3 is still attached and mounted" eval 'attached nbd3 && source_is /dev/nbd3'
check "systemctl stop mnt-disk2.mount unmounts it" to systemctl stop mnt-disk2.mount
check "then nbd-client detach /dev/nbd3 detaches it" to nbd-client detach /dev/nbd3
check "the link $link goes" wait_until 10 eval "[ ! -L $link ]"

check "attach with the classic syntax: nbd-client 10.0.2.100 10809 /dev/nbd3 -N disk2" \
	to nbd-client 10.0.2.100 10809 /dev/nbd3 -N disk2
check "systemd mounts it at /mnt/disk2 again" wait_until 30 source_is /dev/nbd3
check_eq "the file written before is there" written-on-nbd3 "$(cat /mnt/disk2/hand 2>&1)"
check "systemctl stop mnt-disk2.mount" to systemctl stop mnt-disk2.mount
check "nbd-client -d /dev/nbd3" to nbd-client -d /dev/nbd3

check "systemctl start nbd@nbd2 attaches /dev/nbd2 again" to systemctl start nbd@nbd2.service
check "and systemd mounts it at /mnt/disk2" wait_until 30 source_is /dev/nbd2
rm -f /mnt/disk2/hand
