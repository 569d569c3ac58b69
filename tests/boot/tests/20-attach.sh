# SPDX-License-Identifier: GPL-2.0-or-later
# The project's nbd-client, as installed by its package, attaches the host server's export through
# QEMU's forward (10.0.2.100), the data written reaches the server's file and reads back, the device
# detaches; then the host's server is killed and started again (hostctl), and a new attach works.
# By hand on nbd6 and nbd7: the lower devices are the ones /etc/nbdtab names (30-nbdtab).

export_size=$NBDM_EXPORT_SIZE_disk
lists_disk() { to nbd-client list "$NBDM_HOST:$NBDM_NBD_PORT" | grep -qw disk; }
read_sum() { to dd if="$1" bs=1M skip=1 count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1; }
status_lists() { to nbd-client status | grep -qw "$1"; }
detached() { ! attached "$1"; }
check "nbd-client list shows the host's exports" lists_disk
check "attach $(nbd_uri disk) to /dev/nbd6" to nbd-client attach "$(nbd_uri disk)" /dev/nbd6
check "/dev/nbd6 is attached" wait_until 10 attached nbd6
check_eq "/dev/nbd6 has the export's size" "$export_size" "$(blockdev --getsize64 /dev/nbd6 2>&1)"

# 4 MiB of random data 1 MiB into the device, bypassing the page cache both ways.
head -c 4M /dev/urandom >"$STATE/data"
want=$(sha256sum <"$STATE/data" | cut -d' ' -f1)
check "write 4 MiB with O_DIRECT" to dd if="$STATE/data" of=/dev/nbd6 bs=1M seek=1 oflag=direct conv=fsync status=none
check_eq "read back 4 MiB with O_DIRECT" "$want" "$(read_sum /dev/nbd6)"
check_eq "the host's file holds the data" "ok $want" "$(hostctl sum disk 1048576 4194304)"
check "nbd-client status lists /dev/nbd6" status_lists nbd6
check "detach /dev/nbd6" to nbd-client -d /dev/nbd6
check "/dev/nbd6 is no longer attached" wait_until 10 detached nbd6

# The fault injection the later tests build on: the host kills its server by pid and starts a new one.
old=$(hostctl status)
check "the host kills its server" hostctl stop
check_fails "attach fails while the server is down" to nbd-client attach "$(nbd_uri disk)" /dev/nbd7
check "the host starts its server again" hostctl start
new=$(hostctl status)
diag "host server before: $old; after: $new"
check "a new server process runs" test "${new%% *}" = ok -a "$new" != "$old"
check "attach after the restart" to nbd-client attach "$(nbd_uri disk)" /dev/nbd7
check_eq "the data survived the restart" "$want" "$(read_sum /dev/nbd7)"
check "detach /dev/nbd7" to nbd-client -d /dev/nbd7
