#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# QEMU's NBD client against our server: qemu-img compare/map/convert/info, qemu-io commands with
# pattern verification, and qemu-nbd's listing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
requires qemu-img qemu-io qemu-nbd
PY=${PYTHON:-python3}

# a: 10 MiB, data at [1 MiB, 1 MiB + 128 KiB) and [4 MiB, 4 MiB + 64 KiB).
truncate -s 10M "$SCRATCH/a.img"
dd if=/dev/urandom of="$SCRATCH/a.img" bs=64K count=2 seek=16 conv=notrunc status=none
dd if=/dev/urandom of="$SCRATCH/a.img" bs=64K count=1 seek=64 conv=notrunc status=none
cp --sparse=always "$SCRATCH/a.img" "$SCRATCH/same.img"
cp "$SCRATCH/a.img" "$SCRATCH/differs.img"
# One byte inverted, so that it differs whatever the random data held there (an 'X' written over
# it was the same byte once in 256 runs).
"$PY" -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)[0]; f.seek(int(sys.argv[2])); f.write(bytes([b ^ 0xff]))' \
	"$SCRATCH/differs.img" $((4 * 1048576 + 5))
truncate -s 16M "$SCRATCH/rw.img"

SOCK=$SCRATCH/sock
start_server "$SOCK" --export a="$SCRATCH/a.img" --description "Export A" \
	--export same="$SCRATCH/same.img" --export rw="$SCRATCH/rw.img" --export m=memory:8M
A=$(uri "$SOCK" a)
M=$(uri "$SOCK" m)
RW=$(uri "$SOCK" rw)

# ---- qemu-img
check_status "qemu-img compare: export and its file are identical" 0 \
	"${TO[@]}" qemu-img compare -f raw -F raw "$SCRATCH/a.img" "$A"
check_status "qemu-img compare: two exports with the same content" 0 \
	"${TO[@]}" qemu-img compare -f raw -F raw "$A" "$(uri "$SOCK" same)"
check_status "qemu-img compare: one changed byte is a mismatch (exit 1)" 1 \
	"${TO[@]}" qemu-img compare -f raw -F raw "$SCRATCH/differs.img" "$A"
check_grep "qemu-img compare names the mismatching offset" "Content mismatch at offset 419430[0-9]" \
	"$SCRATCH/out"
check_eq "qemu-img info: virtual size" 10485760 \
	"$("${TO[@]}" qemu-img info --output=json "$A" 2>&1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])' 2>&1)"

"${TO[@]}" qemu-img map --output=json "$A" >"$SCRATCH/map.json" 2>&1 || true
check_eq "qemu-img map --output=json of a sparse export" \
	"0+1048576:zero 1048576+131072:data 1179648+3014656:zero 4194304+65536:data 4259840+6225920:zero" \
	"$("$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(" ".join("%d+%d:%s" % (e["start"], e["length"],
      "data" if e["data"] and not e["zero"] else "zero" if e["zero"] and not e["data"] else "?")
      for e in m))' "$SCRATCH/map.json" 2>&1)"

check "qemu-img convert out of an export" \
	"${TO[@]}" qemu-img convert -f raw -O raw "$A" "$SCRATCH/converted.img"
check "qemu-img convert copy is identical" cmp "$SCRATCH/a.img" "$SCRATCH/converted.img"
check "qemu-img convert -n into an export" \
	"${TO[@]}" qemu-img convert -n -f raw -O raw "$SCRATCH/a.img" "$RW"
check "the backing file holds what qemu-img wrote" cmp -n 10485760 "$SCRATCH/a.img" "$SCRATCH/rw.img"

# ---- qemu-io: each line is one qemu-io run (the commands share a connection), each must pass.
qio() {
	local what=$1 target=$2
	shift 2
	local args=() c
	for c in "$@"; do args+=(-c "$c"); done
	check "qemu-io: $what" "${TO[@]}" qemu-io -f raw "${args[@]}" "$target"
	# qemu-io reports a failed verification on stdout and with its exit status; look at both.
	if grep -q -e "Pattern verification failed" -e "failed:" "$SCRATCH/out"; then
		not_ok "qemu-io: $what: output reports a failure"
		diag "$SCRATCH/out"
	fi
}
qio "write/read -P" "$M" "write -P 0xab 0 64k" "read -P 0xab 0 64k"
qio "write -f (FUA) then read" "$M" "write -f -P 0x5c 64k 64k" "read -P 0x5c 64k 64k"
qio "write -z zeroes data" "$M" "write -P 0xcd 128k 64k" "write -z 128k 64k" "read -P 0 128k 64k" \
	"read -P 0xab 0 64k"
qio "write -z -u (may unmap)" "$M" "write -P 0xce 256k 64k" "write -z -u 256k 64k" "read -P 0 256k 64k"
qio "discard reads back as zeros" "$M" "write -P 0x11 1M 128k" "discard 1M 128k" "read -P 0 1M 128k"
qio "flush" "$M" "write -P 0x12 2M 4k" "flush" "read -P 0x12 2M 4k"
qio "aio_write + aio_flush" "$M" "aio_write -P 0x22 3M 64k" "aio_write -P 0x33 3136k 64k" \
	"aio_flush" "read -P 0x22 3M 64k" "read -P 0x33 3136k 64k"
qio "writev/readv with several buffers" "$M" "writev -P 0x44 4M 4k 8k 16k 512" \
	"readv -P 0x44 4M 4k 8k 16k 512" "readv -P 0x44 4M 28k 512"
qio "an unaligned write inside a sector" "$M" "write -P 0x66 5M 4k" "write -P 0x77 5125k 100" \
	"read -P 0x66 5M 1024" "read -P 0x77 5125k 100" "read -P 0x66 5243000 1000"
qio "the last bytes of the export" "$M" "write -P 0x55 8380416 8k" "read -P 0x55 8380416 8k"
qio "data persists across connections" "$M" "read -P 0xab 0 64k" "read -P 0x44 4M 28k"
check_fails "qemu-io: a wrong pattern is reported (the check can fail)" \
	"${TO[@]}" qemu-io -f raw -c "read -P 0x99 0 64k" "$M"
check_fails "qemu-io: a write past the end fails" \
	"${TO[@]}" qemu-io -f raw -c "write -P 0x1 8M 4k" "$M"
qio "file export: write -P then read" "$RW" "write -P 0x5a 12M 64k" "flush" "read -P 0x5a 12M 64k"
check_eq "file export: the bytes are in the backing file" "5a5a5a5a" \
	"$(od -An -tx1 -j $((12 << 20)) -N 4 "$SCRATCH/rw.img" | tr -d ' \n')"
qio "file export: discard punches the data away" "$RW" "discard 12M 64k" "read -P 0 12M 64k"

RSOCK=$SCRATCH/ro.sock
start_server "$RSOCK" -r --export ro="$SCRATCH/a.img"
check_fails "qemu-io: writing to a read-only export fails" \
	"${TO[@]}" qemu-io -f raw -c "write -P 0x1 0 4k" "$(uri "$RSOCK" ro)"
check "the read-only export's file is unchanged" cmp "$SCRATCH/a.img" "$SCRATCH/same.img"
stop_server || true

# ---- qemu-nbd -L
"${TO[@]}" qemu-nbd -L -k "$SOCK" >"$SCRATCH/list" 2>&1 || true
check_grep "qemu-nbd -L: export count" "^exports available: 4" "$SCRATCH/list"
for e in a same rw m; do
	check_grep "qemu-nbd -L: lists '$e'" "^ export: '$e'" "$SCRATCH/list"
done
check_grep "qemu-nbd -L: description" "^  description: Export A$" "$SCRATCH/list"
check_grep "qemu-nbd -L: size" "^  size:  10485760$" "$SCRATCH/list"
check_grep "qemu-nbd -L: flags" "^  flags: 0x[0-9a-f]+ \\( flush fua trim zeroes df multi cache fast-zero \\)" \
	"$SCRATCH/list"
check_grep "qemu-nbd -L: block sizes" "^  max block: 33554432$" "$SCRATCH/list"
check_eq "qemu-nbd -L: base:allocation for every export" 4 "$(grep -c '^   base:allocation$' "$SCRATCH/list")"

finish
