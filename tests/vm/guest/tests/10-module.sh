# SPDX-License-Identifier: GPL-2.0-or-later
# The nbd driver loads from the image's module tree through modules.dep (busybox modprobe; for 6.12
# the module is xz-compressed).
check "modprobe nbd" modprobe nbd
check "/sys/module/nbd exists" test -d /sys/module/nbd
check "/dev/nbd0 is a block device" wait_until 10 test -b /dev/nbd0
check "/sys/block/nbd0 exists and is not connected" disconnected nbd0
