# SPDX-License-Identifier: GPL-2.0-or-later
# The packages installed again over themselves (dpkg -i of the same .debs, which dpkg runs as an
# upgrade) while they are in use: nbd-server.socket and the server it started keep running, a
# device attached through nbd@nbd5 (its nbdtab line, over the guest's loopback) stays attached and
# keeps its data, and the nbdtab generator runs again (daemon-reload), as after any upgrade. Then
# nbdm-server purged and installed afresh, with a configuration that lets the socket unit choose
# where to listen (enabled, started) and with one that names an address (left disabled).

img=/var/tmp/nbdm-upgrade.img
debs=/usr/local/lib/nbdm-boot/debs
dropin=/run/systemd/generator/nbd@nbd5.service.d/50-nbdtab.conf
want=$(local_export "$img")

check "systemctl start nbd-server.socket" to systemctl start nbd-server.socket
check "systemctl start nbd@nbd5 attaches /dev/nbd5 through it" to systemctl start nbd@nbd5.service
check_eq "/dev/nbd5 reads the export" "$want" "$(whole_sum /dev/nbd5)"
server=$(unit_prop nbd-server.service MainPID)
generated=$(stat -c %Y "$dropin" 2>/dev/null || echo none)
sleep 1.1 # a later generator run shows in the drop-in's time, in whole seconds

# --no-triggers: initramfs-tools' trigger would make the initrd again, minutes under TCG, and is
# not what this test is about.
check "dpkg -i the installed packages again ($(cd $debs && echo *.deb))" \
	sh -c "timeout -k 5 120 dpkg --no-triggers -i $debs/*.deb >$STATE/dpkg.log 2>&1"
diag_file "$STATE/dpkg.log" 20
check_eq "nbd-server.socket still listens" active "$(systemctl is-active nbd-server.socket)"
check_eq "nbd-server.service still runs, the same process (not stopped by the upgrade)" \
	"active $server" "$(systemctl is-active nbd-server.service) $(unit_prop nbd-server.service MainPID)"
check_eq "nbd@nbd5 is still active" active "$(systemctl is-active nbd@nbd5.service)"
check "/dev/nbd5 is still attached" attached nbd5
check_eq "/dev/nbd5 still reads the export" "$want" "$(whole_sum /dev/nbd5)"
check "the nbdtab generator ran again (its drop-in for nbd5 is newer)" \
	test "$(stat -c %Y "$dropin" 2>/dev/null || echo none)" != "$generated"

check "systemctl stop nbd@nbd5 detaches it" to systemctl stop nbd@nbd5.service
to systemctl stop nbd-server.socket nbd-server.service >/dev/null 2>&1

# A first installation (after a purge) starts nbd-server.socket where the configuration exists and
# leaves where to listen to it; one whose configuration names an address stays disabled, since the
# socket would listen on every address instead.
server_deb=$(echo $debs/nbdm-server_*.deb)
first_install() {
	dpkg -P nbdm-server >"$STATE/dpkg.log" 2>&1 &&
		timeout -k 5 120 dpkg --no-triggers -i "$server_deb" >>"$STATE/dpkg.log" 2>&1
}
check "purge nbdm-server, install it again with a configuration" first_install
diag_file "$STATE/dpkg.log" 20
check_eq "... nbd-server.socket is enabled and listens" "enabled active" \
	"$(systemctl is-enabled nbd-server.socket) $(systemctl is-active nbd-server.socket)"
to systemctl disable --now nbd-server.socket nbd-server.service >/dev/null 2>&1
printf '[generic]\n\tlistenaddr = 127.0.0.1\n' >>/etc/nbd-server/config
check "purge nbdm-server, install it again with listenaddr in the configuration" first_install
diag_file "$STATE/dpkg.log" 20
check_eq "... nbd-server.socket stays disabled and does not listen" "disabled inactive" \
	"$(systemctl is-enabled nbd-server.socket) $(systemctl is-active nbd-server.socket)"
check "... and the installation said why and what to do" grep -q 'ListenStream=' "$STATE/dpkg.log"
rm -f "$img" /etc/nbd-server/config
