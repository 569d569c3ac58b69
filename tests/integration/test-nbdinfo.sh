#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# nbdinfo (libnbd) against our server: listing with descriptions, sizes, block sizes, the allocation
# map of a sparse file, and every --can/--is flag, including the ones a configuration turns off.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
requires nbdinfo
PY=${PYTHON:-python3}

# A 10 MiB file with data at [1 MiB, 1 MiB + 128 KiB) and [4 MiB, 4 MiB + 64 KiB), holes elsewhere.
truncate -s 10M "$SCRATCH/a.img"
dd if=/dev/urandom of="$SCRATCH/a.img" bs=64K count=2 seek=16 conv=notrunc status=none
dd if=/dev/urandom of="$SCRATCH/a.img" bs=64K count=1 seek=64 conv=notrunc status=none
truncate -s 1M "$SCRATCH/b.img"
SOCK=$SCRATCH/sock
start_server "$SOCK" \
	--export a="$SCRATCH/a.img" --description "Export A" \
	--export b="$SCRATCH/b.img" --description "Second export, with spaces" \
	--export m=memory:16M

# ---- listing
"${TO[@]}" nbdinfo --list "$(uri "$SOCK")" >"$SCRATCH/list" 2>&1 || true
for e in a b m; do
	check_grep "--list shows export '$e'" "^export=\"$e\":" "$SCRATCH/list"
done
"${TO[@]}" nbdinfo --json --list "$(uri "$SOCK")" >"$SCRATCH/list.json" 2>&1 || true
check_eq "--list --json: names and descriptions" \
	"a=Export A|b=Second export, with spaces|m=<none>" \
	"$("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("|".join("%s=%s" % (e["export-name"], e.get("description", "<none>")) for e in d["exports"]))
' "$SCRATCH/list.json" 2>&1)"
check_grep "--list reports fixed newstyle with structured replies" \
	'^protocol: newstyle-fixed .*structured' "$SCRATCH/list"

# ---- sizes
check_eq "--size of a file export" 10485760 "$("${TO[@]}" nbdinfo --size "$(uri "$SOCK" a)" 2>&1)"
check_eq "--size of a second file export" 1048576 "$("${TO[@]}" nbdinfo --size "$(uri "$SOCK" b)" 2>&1)"
check_eq "--size of a memory export" 16777216 "$("${TO[@]}" nbdinfo --size "$(uri "$SOCK" m)" 2>&1)"
check_fails "an unknown export is refused" "${TO[@]}" nbdinfo --size "$(uri "$SOCK" nosuch)"

# ---- block sizes and other fields of --json
"${TO[@]}" nbdinfo --json "$(uri "$SOCK" a)" >"$SCRATCH/a.json" 2>&1 || true
json_fields() {
	"$PY" -c '
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
print(" ".join("%s=%s" % (k, json.dumps(e.get(k))) for k in sys.argv[2:]))
' "$@" 2>&1
}
check_eq "--json block sizes (1 / 4096 / 32 MiB)" \
	"block_size_minimum=1 block_size_preferred=4096 block_size_maximum=33554432" \
	"$(json_fields "$SCRATCH/a.json" block_size_minimum block_size_preferred block_size_maximum)"
check_eq "--json name, description, size, read-only" \
	'export-name="a" description="Export A" export-size=10485760 is_read_only=false' \
	"$(json_fields "$SCRATCH/a.json" export-name description export-size is_read_only)"
check_eq "--json lists base:allocation" 'contexts=["base:allocation"]' \
	"$(json_fields "$SCRATCH/a.json" contexts)"

# ---- the allocation map
"${TO[@]}" nbdinfo --map "$(uri "$SOCK" a)" >"$SCRATCH/map" 2>&1 || true
check_eq "--map of a sparse file: holes and data where they are" \
	"0 1048576 3|1048576 131072 0|1179648 3014656 3|4194304 65536 0|4259840 6225920 3" \
	"$(awk '{printf "%s%s %s %s", sep, $1, $2, $3; sep="|"}' "$SCRATCH/map")"
"${TO[@]}" nbdinfo --map "$(uri "$SOCK" m)" >"$SCRATCH/map.m" 2>&1 || true
check_eq "--map of an untouched memory export: one hole" "0 16777216 3" \
	"$(awk '{printf "%s%s %s %s", sep, $1, $2, $3; sep="|"}' "$SCRATCH/map.m")"
check_eq "--map --totals: data is 192 KiB of 10 MiB" "196608" \
	"$("${TO[@]}" nbdinfo --map --totals "$(uri "$SOCK" a)" 2>&1 | awk '$3 == 0 {print $1}')"

# ---- flags
for f in flush fua trim zero fast-zero df cache multi-conn structured-reply; do
	check_status "--can $f (0: yes)" 0 "${TO[@]}" nbdinfo --can "$f" "$(uri "$SOCK" a)"
done
check_status "--is read-only (2: no)" 2 "${TO[@]}" nbdinfo --is read-only "$(uri "$SOCK" a)"
check_status "--is rotational (2: no)" 2 "${TO[@]}" nbdinfo --is rotational "$(uri "$SOCK" a)"
check_status "--can connect (0: yes)" 0 "${TO[@]}" nbdinfo --can connect "$(uri "$SOCK" a)"
check_status "--can write (0: yes)" 0 "${TO[@]}" nbdinfo --can write "$(uri "$SOCK" a)"
stop_server || true

# Read-only (-r): no writing commands advertised.
RSOCK=$SCRATCH/ro.sock
start_server "$RSOCK" -r --export ro="$SCRATCH/a.img"
check_status "-r: --is read-only (0: yes)" 0 "${TO[@]}" nbdinfo --is read-only "$(uri "$RSOCK" ro)"
for f in trim zero fast-zero; do
	check_status "-r: --can $f (2: no)" 2 "${TO[@]}" nbdinfo --can "$f" "$(uri "$RSOCK" ro)"
done
check_status "-r: --can write (2: no)" 2 "${TO[@]}" nbdinfo --can write "$(uri "$RSOCK" ro)"
for f in cache df structured-reply; do
	check_status "-r: --can $f (0: yes)" 0 "${TO[@]}" nbdinfo --can "$f" "$(uri "$RSOCK" ro)"
done
stop_server || true

# A config file turning flags off and rotational on.
cat >"$SCRATCH/flags.conf" <<EOF
[generic]
	unixsock = $SCRATCH/cfg.sock
[plain]
	exportname = $SCRATCH/b.img
	flush = false
	fua = false
	trim = false
	rotational = true
EOF
start_server_cmd "$SCRATCH/cfg.sock" "$NBD_SERVER" --foreground -C "$SCRATCH/flags.conf"
for f in flush fua trim; do
	check_status "config $f = false: --can $f (2: no)" 2 \
		"${TO[@]}" nbdinfo --can "$f" "$(uri "$SCRATCH/cfg.sock" plain)"
done
check_status "config rotational = true: --is rotational (0: yes)" 0 \
	"${TO[@]}" nbdinfo --is rotational "$(uri "$SCRATCH/cfg.sock" plain)"
check_status "config: --can zero still (0: yes)" 0 \
	"${TO[@]}" nbdinfo --can zero "$(uri "$SCRATCH/cfg.sock" plain)"
stop_server || true

# O_DIRECT: the minimum block size becomes 4096 (only where the filesystem takes O_DIRECT).
if "$PY" -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))' \
	"$SCRATCH/b.img" 2>/dev/null; then
	DSOCK=$SCRATCH/direct.sock
	start_server "$DSOCK" --direct --export d="$SCRATCH/b.img"
	"${TO[@]}" nbdinfo --json "$(uri "$DSOCK" d)" >"$SCRATCH/d.json" 2>&1 || true
	check_eq "--direct: block_size_minimum is 4096" "block_size_minimum=4096" \
		"$(json_fields "$SCRATCH/d.json" block_size_minimum)"
	stop_server || true
else
	skip "--direct: block_size_minimum is 4096" "the scratch filesystem refuses O_DIRECT"
fi

finish
