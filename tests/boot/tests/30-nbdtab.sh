# SPDX-License-Identifier: GPL-2.0-or-later
# A boot with /etc/nbdtab and /etc/fstab in place (30-nbdtab.files, written into the image): the
# generator's units attach nbd0 and nbd2 at boot and their file systems are mounted before
# multi-user.target, nbd0's by /etc/fstab through its link in /dev/disk/by-id, nbd2's by the
# generator's own mount unit (mount=); the noauto line nbd1 has only its unit (35-links starts it);
# two bad lines cost the boot nothing but are named, with the file and line,
# in the kernel's log, and the lines after them still get their units.

gen=/run/systemd/generator
line_of() { grep -n "^$1[[:space:]]" /etc/nbdtab | cut -d: -f1; }
mounted() { findmnt -n -r -o SOURCE,FSTYPE "$1"; }
monotonic() { unit_prop "$1" ActiveEnterTimestampMonotonic; }
# after A B: unit A became active no earlier than unit B (both active).
after() { [ "$(monotonic "$2")" -gt 0 ] && [ "$(monotonic "$1")" -ge "$(monotonic "$2")" ]; }

# What the generator made of the file.
check "the generator wants nbd@nbd0 at boot" test -L "$gen/remote-fs.target.wants/nbd@nbd0.service"
check "the generator wants nbd@nbd2 at boot" test -L "$gen/remote-fs.target.wants/nbd@nbd2.service"
check_fails "the generator does not want nbd@nbd1 (noauto) at boot" \
	test -e "$gen/remote-fs.target.wants/nbd@nbd1.service"
check "nbd@nbd1 has the line's drop-in all the same" test -s "$gen/nbd@nbd1.service.d/50-nbdtab.conf"
check "the generator wrote mnt-disk2.mount for nbd2's mount=" test -s "$gen/mnt-disk2.mount"
check_eq "nbd@nbd0 (persist) is a notify service" notify "$(unit_prop nbd@nbd0.service Type)"

# nbd0: attached at boot, its file system mounted by /etc/fstab.
check_eq "nbd@nbd0 is active" active "$(systemctl is-active nbd@nbd0.service 2>&1)"
check_eq "/dev/nbd0 carries the export fs" nbd://10.0.2.100:10809/fs "$(cat /sys/block/nbd0/backend 2>&1)"
check_eq "/mnt/fs is /dev/nbd0's ext4" "/dev/nbd0 ext4" "$(mounted /mnt/fs)"
check_eq "mnt-fs.mount comes from /etc/fstab" /etc/fstab "$(unit_prop mnt-fs.mount SourcePath)"
check "mnt-fs.mount was mounted after nbd@nbd0 was ready" after mnt-fs.mount nbd@nbd0.service
check "mnt-fs.mount was mounted before multi-user.target" after multi-user.target mnt-fs.mount

# nbd2: attached at boot, mounted by the generator's unit for mount=.
check_eq "nbd@nbd2 is active" active "$(systemctl is-active nbd@nbd2.service 2>&1)"
check_eq "/mnt/disk2 is /dev/nbd2's ext4" "/dev/nbd2 ext4" "$(mounted /mnt/disk2)"
check_eq "mnt-disk2.mount comes from /etc/nbdtab" /etc/nbdtab "$(unit_prop mnt-disk2.mount SourcePath)"
check "mountopt=noatime is among its options" sh -c 'findmnt -n -o OPTIONS /mnt/disk2 | grep -qw noatime'
check "mnt-disk2.mount was mounted after nbd@nbd2 was ready" after mnt-disk2.mount nbd@nbd2.service
check "mnt-disk2.mount was mounted before multi-user.target" after multi-user.target mnt-disk2.mount

# nbd1 (noauto): a unit and nothing else, until it is started.
check_eq "nbd@nbd1 is loaded and inactive" "loaded inactive" \
	"$(unit_prop nbd@nbd1.service LoadState) $(unit_prop nbd@nbd1.service ActiveState)"
check_eq "systemctl status nbd@nbd1 says inactive (status 3)" 3 \
	"$(systemctl status nbd@nbd1.service >/dev/null 2>&1; echo $?)"
check_fails "/dev/nbd1 is not attached" attached nbd1

# The bad lines.
journalctl -k -b --no-pager | grep -F nbd-generator >"$STATE/generator.log"
for dev in nbd9 nbd10; do
	n=$(line_of "$dev")
	check "the kernel's log names /etc/nbdtab:$n, the bad line of $dev" grep -qF "/etc/nbdtab:$n:" "$STATE/generator.log"
	check_fails "$dev's bad line got no units" test -e "$gen/nbd@$dev.service.d"
done
diag_file "$STATE/generator.log" 6
check_eq "the boot reached multi-user.target all the same" active "$(systemctl is-active multi-user.target)"
if [ -n "$(line_of nbd5)" ]; then
	check "a line after the bad ones (nbd5) got its units" test -s "$gen/nbd@nbd5.service.d/50-nbdtab.conf"
fi
