# SPDX-License-Identifier: GPL-2.0-or-later
# The nbd driver loads from the image's module tree through modules.dep (busybox modprobe; for 6.12
# the module is xz-compressed).
# 05-client-modprobe unloads the module it had our nbd-client load; should it have failed half-way,
# the module may still be loaded, with its parameters (nbds_max=4): start from a clean slate.
if [ -d /sys/module/nbd ]; then
	diag "nbd is loaded already (left by an earlier test); unloading it"
	rmmod nbd 2>&1 | while IFS= read -r line; do diag "  $line"; done
fi
check "modprobe nbd" modprobe nbd
check "/sys/module/nbd exists" test -d /sys/module/nbd
check_eq "nbds_max is the default 16" 16 "$(cat /sys/module/nbd/parameters/nbds_max 2>&1)"
check "/dev/nbd0 is a block device" wait_until 10 test -b /dev/nbd0
check "/sys/block/nbd0 exists and is not connected" disconnected nbd0
