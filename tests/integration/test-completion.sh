#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash completions of nbd-client and nbd-server as built, loaded the way bash-completion loads
# them (from a completions directory, by the command's name) and run on command lines split as bash
# splits them. Devices come from a sysfs tree made here (NBDM_SYSFS_ROOT, which nbd-client reads
# too); the VM's boot suite checks them on real devices. TAP, one line a check; skipped where
# bash-completion is not installed.
# Usage: test-completion.sh BUILD_COMPLETION_DIR
set -u
built=$(cd "$1" && pwd)
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

library=/usr/share/bash-completion/bash_completion
if [ ! -r "$library" ]; then
	echo "1..0 # SKIP bash-completion is not installed ($library)"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# No hosts of the user running the tests: only /etc/hosts, which the checks below do not depend on.
export HOME=$work/home
mkdir -p "$HOME" "$work/user/completions"
ln -s "$built/nbd-client" "$built/nbd-server" "$work/user/completions/"
export BASH_COMPLETION_USER_DIR=$work/user
# shellcheck disable=SC1090
. "$library"
# compopt works only inside a completion that bash runs; here it records what it was asked.
compopt() { echo "$*" >>"$work/.compopt"; }

for program in nbd-client nbd-server; do
	__load_completion "$program"
	if [[ $(complete -p "$program" 2>&1) == "complete -F _${program//-/_} $program" ]]; then
		ok "$program: bash-completion loads its completion by the command's name"
	else
		not_ok "$program: bash-completion loads its completion by the command's name"
		echo "# complete -p $program: $(complete -p "$program" 2>&1)"
	fi
done

# Splits a command line as bash does for completion: at blanks, and around the characters of
# COMP_WORDBREAKS that the completions meet ('=' and ':'), which become words of their own. A line
# that ends in a blank ends in an empty word.
split_line() {
	local rest=$1
	WORDS=()
	while [[ $rest =~ ^[[:space:]]*([=:]+|[^[:space:]=:]+) ]]; do
		WORDS+=("${BASH_REMATCH[1]}")
		rest=${rest:${#BASH_REMATCH[0]}}
	done
	if [[ $rest =~ ^[[:space:]]+$ || ${#WORDS[@]} -eq 0 ]]; then
		WORDS+=("")
	fi
}

# The completions offered at the end of a command line, sorted, one per line.
complete_line() {
	local line=$1 function
	split_line "$line"
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMP_WORDS=("${WORDS[@]}")
	COMP_CWORD=$((${#WORDS[@]} - 1))
	COMPREPLY=()
	: >"$work/.compopt"
	function=$(complete -p "${WORDS[0]}" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
	"$function" "${WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
		2>"$work/stderr"
	[ -s "$work/stderr" ] && sed 's/^/# stderr: /' "$work/stderr"
	[ ${#COMPREPLY[@]} -gt 0 ] && printf '%s\n' "${COMPREPLY[@]}" | sort
}

# offers LINE EXPECTED...: exactly these completions (none when no EXPECTED is given).
offers() {
	local line=$1 got want
	shift
	got=$(complete_line "$line")
	want=$([ $# -gt 0 ] && printf '%s\n' "$@" | sort)
	if [ "$got" = "$want" ]; then
		ok "'$line' offers: ${*:-nothing}"
	else
		not_ok "'$line' offers: ${*:-nothing}"
		echo "# got: $(echo "$got" | tr '\n' ' ')"
	fi
}

# offers_also LINE EXPECTED...: these among the completions (hosts may come with them), and no
# error on the terminal.
offers_also() {
	local line=$1 got word missing=
	shift
	got=$(complete_line "$line")
	for word in "$@"; do
		grep -qxF -- "$word" <<<"$got" || missing+=" $word"
	done
	grep -q '^# stderr' <<<"$got" && missing+=" (and no error)"
	if [ -z "$missing" ]; then
		ok "'$line' offers (among others): $*"
	else
		not_ok "'$line' offers (among others): $*"
		echo "# missing:$missing; got: $(echo "$got" | tr '\n' ' ')"
	fi
}

# asks LINE OPTION: completing LINE asks readline for OPTION (compopt -o OPTION).
asks() {
	complete_line "$1" >/dev/null
	if grep -qxF -- "-o $2" "$work/.compopt"; then
		ok "'$1' asks for -o $2"
	else
		not_ok "'$1' asks for -o $2"
		echo "# compopt: $(tr '\n' ' ' <"$work/.compopt")"
	fi
}

# NBD devices as the kernel shows them: nbd0 attached (a pid), nbd10 being attached (a size, no
# pid yet), nbd1 and nbd2 free; sda is no NBD device.
sys=$work/sys
for d in nbd0 nbd1 nbd2 nbd10 sda; do
	mkdir -p "$sys/block/$d"
	echo 0 >"$sys/block/$d/size"
done
echo 4242 >"$sys/block/nbd0/pid"
echo 2048 >"$sys/block/nbd0/size"
echo 8 >"$sys/block/nbd10/size"
echo 2048 >"$sys/block/sda/size"
export NBDM_SYSFS_ROOT=$sys
attached=(/dev/nbd0 /dev/nbd10)
free=(/dev/nbd1 /dev/nbd2)

cat >"$work/nbdtab" <<EOF
# a comment
nbd3 server.example disk
/dev/nbd4	server.example	root	persist
EOF
mkdir "$work/images" "$work/certs" "$work/empty"
touch "$work/images/disk.raw" "$work/images/my disk.raw" "$work/certs/ca.pem" "$work/config"
cp "$work/nbdtab" "$HOME/tab"

# ---- nbd-client
offers_also "nbd-client " attach detach status list info reconnect help version
offers_also "nbd-client --nbdtab $work/nbdtab " attach nbd3 nbd4
offers_also "nbd-client -nbdtab=$work/nbdtab nb" nbd3 nbd4
offers "nbd-client --tls-k" --tls-ktls
offers "nbd-client --tls-ktls=" auto no yes
offers "nbd-client --disconnect " "${attached[@]}"
offers "nbd-client --disconnect-on-close --tls" --tls-ktls --tlshostname
offers "nbd-client -tls-ktls y" yes
offers "nbd-client --bl" --block-size
offers "nbd-client -b 4" 4096
offers "nbd-client -block-size p" preferred
offers "nbd-client --all --pers" --persist
offers "nbd-client -A $work/certs/c" "$work/certs/ca.pem"
offers "nbd-client -R --certfile=$work/certs/" "$work/certs/ca.pem"

offers "nbd-client detach " "${attached[@]}"
offers "nbd-client detach nbd" nbd0 nbd10
offers "nbd-client -d nbd1" nbd10
offers "nbd-client attach nbd://server/disk nbd" nbd1 nbd2
offers "nbd-client server 10809 nbd" nbd1 nbd2
offers "nbd-client -d /dev/nbd0 "
offers "nbd-client -sc /dev/nbd0 "
offers "nbd-client detach --all "
offers "nbd-client attach --fd 3 " "${free[@]}"
offers "nbd-client --fd 3 " "${free[@]}"
offers "nbd-client --fd 3 /dev/nbd1 "
offers "nbd-client server /dev/nbd1 "
offers "nbd-client -tls-ktls=" auto no yes
offers "nbd-client -block-size=p" preferred
offers "nbd-client -pers" -persist
offers_also "nbd-client -sd " attach
offers_also "nbd-client --nbdtab ~/tab nbd" nbd3 nbd4
offers_also "nbd-client --nbdtab '$work/nbdtab' nbd" nbd3 nbd4
offers_also "nbd-client --nbdtab $work/nbdtab attach nb" nbd3 nbd4 nbd:// nbd+unix:///
offers_also "nbd-client --nbdtab $work/images attach nbd" nbd://
asks "nbd-client attach memory:" nospace
asks "nbd-client attach file://$work/images/m" filenames
offers "nbd-client attach file://$work/images/m" "//$work/images/my disk.raw"
offers "nbd-client reconnect " "${attached[@]}"
offers "nbd-client -d " "${attached[@]}"
offers "nbd-client --check /dev/nbd1" /dev/nbd10
offers "nbd-client status " "${attached[@]}" "${free[@]}"
offers "nbd-client attach nbd://server/disk " "${free[@]}"
offers "nbd-client attach -C 2 nbd://server/disk /dev/" "${free[@]}"
offers "nbd-client attach nbd://server/disk /dev/nbd1 " # nothing after the device
offers "nbd-client detach /dev/nbd0 "
offers_also "nbd-client attach nb" nbd:// nbds:// nbd+unix:/// nbds+unix:///
offers "nbd-client attach file:" ///
offers "nbd-client attach file://$work/images/d" "//$work/images/disk.raw"
offers "nbd-client info $work/ima" "$work/images"

# The reference's forms: HOST [PORT] [DEVICE], -u SOCKET [DEVICE], -l HOST [PORT], nbdX.
offers "nbd-client server " "${free[@]}"
offers "nbd-client server 10809 " "${free[@]}"
offers "nbd-client server 10809 /dev/nbd1 "
offers "nbd-client -N disk server 10809 " "${free[@]}"
offers "nbd-client -Ndisk -C4 server 10809 " "${free[@]}"
offers "nbd-client -sN disk server 10809 /dev/nbd1 "
offers "nbd-client -name disk -persist server " "${free[@]}"
offers "nbd-client -u $work/images/d" "$work/images/disk.raw"
offers "nbd-client -u /run/nbd.sock " "${free[@]}"
offers "nbd-client -u /run/nbd.sock /dev/nbd1 "
offers "nbd-client -l server "
offers "nbd-client nbd3 "

# ---- nbd-server
offers "nbd-server --tls=" off on require
offers "nbd-server --tls-ktls " auto no yes
offers "nbd-server -C $work/co" "$work/config"
offers "nbd-server -rC $work/co" "$work/config"
offers "nbd-server --config-file=$work/co" "$work/config"
offers "nbd-server --tls-certificates $work/ce" "$work/certs"
offers "nbd-server --tls-certificates=$work/images/" # directories only
offers "nbd-server --read-o" --read-only
offers "nbd-server --tls" --tls --tls-certificates --tls-ktls --tls-only --tls-priority --tls-psk \
	--tls-verify-peer
offers "nbd-server --to" --to-shards
offers "nbd-server -r --to"
offers "nbd-server --to-shards $work/images/d" "$work/images/disk.raw"
offers "nbd-server --to-shards image dir " --chunk-size
offers "nbd-server --from-shards $work/im" "$work/images"
offers "nbd-server "
offers "nbd-server 127.0.0.1@10809 $work/images/d" "$work/images/disk.raw"
offers "nbd-server -M 4 10809 $work/images/" "$work/images/disk.raw" "$work/images/my disk.raw"
offers "nbd-server 10809 $work/images/disk.raw "
offers "nbd-server 127.0.0.1:10809 $work/images/d" "$work/images/disk.raw"
offers "nbd-server [::1]:10809 $work/images/d" "$work/images/disk.raw"
offers "nbd-server --bind ::1 10809 $work/images/d" "$work/images/disk.raw"
offers "nbd-server --allow fe80::/10 10809 $work/images/d" "$work/images/disk.raw"
offers "nbd-server --export disk=$work/images/d" "$work/images/disk.raw"
offers "nbd-server --export=disk=$work/images/d" "$work/images/disk.raw"
offers "nbd-server --pid $work/co" "$work/config"
offers "nbd-server --conf $work/co" "$work/config"

# No NBD device at all (the module not loaded), with failglob set: nothing, and no error.
shopt -s failglob
NBDM_SYSFS_ROOT=$work/empty offers "nbd-client detach "
NBDM_SYSFS_ROOT=$work/empty offers "nbd-client attach nbd://server/disk "
shopt -u failglob

echo "1..$n"
[ "$failed" -eq 0 ]
