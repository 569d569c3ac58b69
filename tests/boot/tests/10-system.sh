# SPDX-License-Identifier: GPL-2.0-or-later
# The booted system itself: systemd took it to multi-user (running, or degraded with the failed units
# named), the project's packages are what is installed as nbd-client and nbd-server, and the guest
# reaches the host's forwards and nothing else.

state=$(timeout 180 systemctl is-system-running --wait 2>/dev/null)
case $state in
running | degraded) ok "systemd finished the boot: is-system-running says '$state'" ;;
*) not_ok "systemd finished the boot: is-system-running says '$state', not running or degraded" ;;
esac
failed_units=$(systemctl --failed --plain --no-legend | awk '{ print $1 }' | tr '\n' ' ')
if [ -n "$failed_units" ]; then
	diag "failed units: $failed_units"
	for u in $failed_units; do
		systemctl status --no-pager -n 10 "$u" >"$STATE/unit" 2>&1
		diag_file "$STATE/unit" 15
	done
fi
diag "$(systemd-analyze 2>/dev/null | head -n 1)"
check "multi-user.target is active" systemctl is-active multi-user.target

for p in nbdm-client nbdm-server; do
	check_eq "package $p is installed" "install ok installed" \
		"$(dpkg-query -W -f '${Status}' "$p" 2>&1)"
done
check_eq "/sbin/nbd-client belongs to nbdm-client" nbdm-client "$(dpkg -S /sbin/nbd-client 2>&1 | cut -d: -f1)"
check_eq "/bin/nbd-server belongs to nbdm-server" nbdm-server "$(dpkg -S /bin/nbd-server 2>&1 | cut -d: -f1)"
check "nbd-client in PATH is nbdm's" sh -c 'nbd-client --version | grep -q nbdm'
check "man page nbd-client(8) is installed" test -e /usr/share/man/man8/nbd-client.8.gz
check_eq "nbd-client.service (an init script's unit) is masked" masked \
	"$(systemctl is-enabled nbd-client.service 2>&1)"
if [ -e /lib/systemd/system/nbd-server.service ] && [ ! -e /etc/nbd-server/config ]; then
	check_eq "nbd-server.service is not enabled without /etc/nbd-server/config" disabled \
		"$(systemctl is-enabled nbd-server.service 2>&1)"
fi

check "eth0 has 10.0.2.15/24" sh -c 'ip -4 -o addr show dev eth0 | grep -q "inet 10.0.2.15/24"'
# Nothing in the image wants network-online.target yet; starting it runs systemd-networkd-wait-online,
# which must be content with the static address (the project's units will order after it).
check "network-online.target is reached" timeout 60 systemctl start network-online.target
check "the host's control service answers" hostctl status
# restrict=on: the guest reaches the forwards and nothing else, not even the host's own addresses.
check_fails "no route out: 10.0.2.2:22 is unreachable" timeout 10 bash -c 'exec 3<>/dev/tcp/10.0.2.2/22'
