#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nbdcopy round trips through our server: a file with random data and holes goes into a file export
# and a memory export over 1 and 4 connections, comes back, and must be identical; so must the file
# the server wrote.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
requires nbdcopy

SIZE=$((40 << 20))
# Random data at [0, 16M) and [24M, 32M), a hole between and after.
make_source() {
	truncate -s "$SIZE" "$1"
	dd if=/dev/urandom of="$1" bs=1M count=16 conv=notrunc status=none
	dd if=/dev/urandom of="$1" bs=1M count=8 seek=24 conv=notrunc status=none
}
make_source "$SCRATCH/src1.img"
make_source "$SCRATCH/src4.img"
make_source "$SCRATCH/srcm.img"
# The targets start with garbage everywhere, so that holes in the source must really be zeroed.
for t in disk1 disk4; do
	dd if=/dev/urandom of="$SCRATCH/$t.img" bs=1M count=40 status=none
done

SOCK=$SCRATCH/sock
start_server "$SOCK" --export disk1="$SCRATCH/disk1.img" --export disk4="$SCRATCH/disk4.img" \
	--export mem=memory:$SIZE --export mem2=memory:$SIZE

# round_trip N EXPORT SOURCE: copies SOURCE into EXPORT with N connections, back out into a new file.
round_trip() {
	local n=$1 export=$2 src=$3 out=$SCRATCH/out-$2-$1.img
	if ! "${TO[@]}" nbdcopy --connections="$n" --flush "$src" "$(uri "$SOCK" "$export")" \
		>"$SCRATCH/copy.log" 2>&1; then
		not_ok "nbdcopy --connections=$n into '$export'"
		diag "$SCRATCH/copy.log"
		return
	fi
	ok "nbdcopy --connections=$n into '$export'"
	rm -f "$out"
	if ! "${TO[@]}" nbdcopy --connections="$n" "$(uri "$SOCK" "$export")" "$out" \
		>"$SCRATCH/copy.log" 2>&1; then
		not_ok "nbdcopy --connections=$n out of '$export'"
		diag "$SCRATCH/copy.log"
		return
	fi
	ok "nbdcopy --connections=$n out of '$export'"
	check "round trip through '$export' with $n connection(s) is identical" cmp "$src" "$out"
}

round_trip 1 disk1 "$SCRATCH/src1.img"
check "the file export's backing file holds the copy (1 connection)" \
	cmp "$SCRATCH/src1.img" "$SCRATCH/disk1.img"
round_trip 4 disk4 "$SCRATCH/src4.img"
check "the file export's backing file holds the copy (4 connections)" \
	cmp "$SCRATCH/src4.img" "$SCRATCH/disk4.img"
round_trip 4 mem "$SCRATCH/srcm.img"
round_trip 1 mem "$SCRATCH/src1.img"

# NBD to NBD, many requests in flight, small requests, synchronous mode.
check "nbdcopy export to export (disk4 -> mem2, 4 connections, 64 requests of 64 KiB)" \
	"${TO[@]}" nbdcopy --connections=4 --requests=64 --request-size=65536 \
	"$(uri "$SOCK" disk4)" "$(uri "$SOCK" mem2)"
rm -f "$SCRATCH/out-mem2.img"
check "nbdcopy --synchronous out of mem2" \
	"${TO[@]}" nbdcopy --synchronous "$(uri "$SOCK" mem2)" "$SCRATCH/out-mem2.img"
check "export to export copy is identical" cmp "$SCRATCH/src4.img" "$SCRATCH/out-mem2.img"

# Overwrite part of an export from a pipe (no extents, no zero detection) and check it.
head -c 3M /dev/urandom >"$SCRATCH/piece"
check "nbdcopy from a pipe into an export" \
	bash -c "cat '$SCRATCH/piece' | ${TO[*]} nbdcopy - '$(uri "$SOCK" mem)'"
rm -f "$SCRATCH/out-mem.img"
"${TO[@]}" nbdcopy "$(uri "$SOCK" mem)" "$SCRATCH/out-mem.img" >/dev/null 2>&1 || true
check "the piped data is at the start of the export" cmp -n $((3 << 20)) "$SCRATCH/piece" "$SCRATCH/out-mem.img"
check "the rest of the export is unchanged" \
	cmp -i $((3 << 20)) "$SCRATCH/src1.img" "$SCRATCH/out-mem.img"

check "the server is still running" kill -0 "$SERVER_PID"
finish
