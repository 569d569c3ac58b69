# SPDX-License-Identifier: GPL-2.0-or-later
# Our nbd-client loads the nbd module itself (libkmod, through the image's modules.dep.bin) when the
# kernel has not: this runs before 10-module, on a kernel that has not loaded nbd yet. Then, after an
# rmmod, --nbds-max and --max-part become the module's parameters. The module is left unloaded for
# 10-module, which loads it with its defaults for the tests after it.
need_ours "client modprobe: our nbd-client loads the nbd module"
start_server 10809 --export mem=memory:16M || exit 0
# Only a selection of tests run by hand may have loaded it before; nothing is attached then.
[ -d /sys/module/nbd ] && rmmod nbd 2>/dev/null
check "client modprobe: nbd is not loaded before the first attach" test ! -e /sys/module/nbd
refused "client modprobe: -d with the module not loaded fails and says so" "module is not loaded" \
	-d /dev/nbd0
check "client modprobe: -d did not load the module" test ! -e /sys/module/nbd
check "client modprobe: attach nbd://127.0.0.1/mem /dev/nbd1 (no modprobe before)" \
	attach_ours attach nbd://127.0.0.1/mem /dev/nbd1
check "client modprobe: /sys/module/nbd exists" test -d /sys/module/nbd
check_eq "client modprobe: nbds_max is the default 16" 16 "$(cat /sys/module/nbd/parameters/nbds_max 2>&1)"
check_eq "client modprobe: /dev/nbd1 is 16 MiB" 32768 "$(cat /sys/block/nbd1/size 2>&1)"
make_file /tmp/pattern 1
check "client modprobe: 1 MiB O_DIRECT write and read-back through /dev/nbd1" \
	sh -c 'dd if=/tmp/pattern of=/dev/nbd1 bs=1M oflag=direct conv=notrunc 2>/dev/null &&
		dd if=/dev/nbd1 bs=1M count=1 iflag=direct 2>/dev/null | cmp - /tmp/pattern'
detach_ours "client modprobe" nbd1 detach /dev/nbd1
# Nothing of the client may keep the module busy once the device is detached.
check "client modprobe: rmmod nbd after the detach" wait_until 10 rmmod nbd
check "client modprobe: /sys/module/nbd is gone" test ! -e /sys/module/nbd

check "client modprobe: attach with --nbds-max 4 --max-part 3 loads nbd with them" \
	attach_ours attach nbd://127.0.0.1/mem /dev/nbd2 --nbds-max 4 --max-part 3
check_eq "client modprobe: nbds_max is 4" 4 "$(cat /sys/module/nbd/parameters/nbds_max 2>&1)"
# The driver rounds max_part up to 2^n - 1 (and its default, 16, to 31): 3 stays 3.
check_eq "client modprobe: max_part is 3" 3 "$(cat /sys/module/nbd/parameters/max_part 2>&1)"
check "client modprobe: /dev/nbd3 exists" test -b /dev/nbd3
check "client modprobe: /sys/block/nbd4 does not exist" test ! -e /sys/block/nbd4
check_eq "client modprobe: /dev/nbd2 is 16 MiB" 32768 "$(cat /sys/block/nbd2/size 2>&1)"
detach_ours "client modprobe" nbd2 -d /dev/nbd2
check "client modprobe: rmmod nbd at the end (10-module loads it again)" wait_until 10 rmmod nbd
server_alive "after the module tests"
