#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Makes the TLS material the tests use, in DIR, with GnuTLS's certtool and psktool:
#   ca.pem ca-key.pem            a CA
#   server.pem server-key.pem    the server's certificate, for localhost, 127.0.0.1 and ::1
#   client.pem client-key.pem    a client certificate from the same CA
#   other-ca.pem                 a CA that signed nothing here (a wrong CA)
#   expired.pem expired-key.pem  a server certificate that expired yesterday
#   wrongname.pem wrongname-key.pem  a server certificate for another host name
#   psk.txt                      psktool's format, user "alice"; other-psk.txt: another key for her
# Usage: make-certs.sh DIR
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --outfile "$1" 2>/dev/null; }
cat >ca.tmpl <<T
cn = "nbdm test CA"
ca
cert_signing_key
expiration_days = 30
T
key ca-key.pem
certtool --generate-self-signed --load-privkey ca-key.pem --template ca.tmpl --outfile ca.pem 2>/dev/null
key other-ca-key.pem
sed 's/nbdm test CA/another CA/' ca.tmpl >other-ca.tmpl
certtool --generate-self-signed --load-privkey other-ca-key.pem --template other-ca.tmpl \
	--outfile other-ca.pem 2>/dev/null
signed() { # NAME TEMPLATE-LINES...
	name=$1
	shift
	printf '%s\n' "$@" >"$name.tmpl"
	key "$name-key.pem"
	certtool --generate-certificate --load-privkey "$name-key.pem" --load-ca-certificate ca.pem \
		--load-ca-privkey ca-key.pem --template "$name.tmpl" --outfile "$name.pem" 2>/dev/null
}
signed server 'cn = "localhost"' 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' \
	'ip_address = "::1"' tls_www_server encryption_key signing_key 'expiration_days = 30'
signed client 'cn = "nbdm test client"' tls_www_client encryption_key signing_key 'expiration_days = 30'
signed wrongname 'cn = "elsewhere.invalid"' 'dns_name = "elsewhere.invalid"' tls_www_server \
	encryption_key signing_key 'expiration_days = 30'
# certtool's "expiration_days = -1" would be refused; a fixed past window is not.
signed expired 'cn = "localhost"' 'dns_name = "localhost"' 'ip_address = "127.0.0.1"' tls_www_server \
	encryption_key signing_key 'activation_date = "2020-01-01 00:00:00 UTC"' \
	'expiration_date = "2020-02-01 00:00:00 UTC"'
psktool -u alice -p psk.txt >/dev/null 2>&1
psktool -u alice -p other-psk.txt >/dev/null 2>&1
rm -f ./*.tmpl
