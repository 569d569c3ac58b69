# SPDX-License-Identifier: GPL-2.0-or-later
# The programs in the image start: their libraries and loader made it in.
diag "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print $2 / 1024 " MiB" }' /proc/meminfo)"
check "our nbd-server runs in the guest (--version)" "$NBDM_SERVER" --version
check "Debian's nbd-client runs in the guest (-V)" "$DEB_NBD_CLIENT" -V
check "Debian's nbd-server runs in the guest (-V)" "$DEB_NBD_SERVER" -V
if [ -n "$NBDM_CLIENT" ]; then
	check "our nbd-client runs in the guest (--version)" "$NBDM_CLIENT" --version
fi
