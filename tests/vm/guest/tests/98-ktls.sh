# SPDX-License-Identifier: GPL-2.0-or-later
# The kernel's TLS takes a session that tls/ negotiated in user space: for TLS 1.2 and 1.3 with
# AES-128-GCM and AES-256-GCM, the keys move into a TCP socket after records were exchanged (so the
# record sequence numbers are not 0), and data written and read with plain write() and read() on it
# arrives intact on the other side, which stays in GnuTLS. The kernel's TLS counters prove that the
# kernel, not the library, did the encryption.
need_helper "ktls: the kernel's TLS" KTLS_CHECK
need_tls "ktls: the kernel's TLS"
check "ktls: the tls module is loaded" test -e /proc/net/tls_stat
tx_before=$(awk '$1 == "TlsTxSw" { print $2 }' /proc/net/tls_stat)
rx_before=$(awk '$1 == "TlsRxSw" { print $2 }' /proc/net/tls_stat)
for version in 1.2 1.3; do
	for bits in 128 256; do
		check "ktls: TLS $version, AES-$bits-GCM (X.509): 256 KiB each way through the kernel" \
			to "$KTLS_CHECK" "$version" "$bits" "$TLS_DIR"
	done
done
check "ktls: TLS 1.3, AES-128-GCM (PSK): 256 KiB each way through the kernel" to "$KTLS_CHECK" 1.3 128
check_eq "ktls: the kernel encrypted for all 5 sessions (TlsTxSw)" 5 \
	"$(( $(awk '$1 == "TlsTxSw" { print $2 }' /proc/net/tls_stat) - ${tx_before:-0} ))"
check_eq "ktls: the kernel decrypted for all 5 sessions (TlsRxSw)" 5 \
	"$(( $(awk '$1 == "TlsRxSw" { print $2 }' /proc/net/tls_stat) - ${rx_before:-0} ))"
