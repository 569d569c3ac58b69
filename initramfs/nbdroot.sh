# SPDX-License-Identifier: GPL-2.0-or-later
#
# nbdroot.sh: the NBD root of the kernel command line, as both initramfs builders write it, parsed
# into what nbd-client is given. Sourced by the initramfs-tools local-top script and the dracut
# module, and by the host-side table test, so it is plain POSIX sh that runs under klibc's sh (what
# Debian 12's initramfs has: no busybox, no grep, no sed), busybox sh and dash, and calls no program
# at all.
#
# Input (set by nbdroot_cmdline, or by the caller):
#   nbd_arg_root, nbd_arg_nbdroot, nbd_arg_nbddev, nbd_arg_netroot  the parameters' values
#   nbd_arg_nbdopts           nbdopts=: nbd-client options for either builder, as dracut's field
#   nbd_has_nbdroot, nbd_has_netroot                                 "y" when the parameter was given
#   ROOTSERVER, ROOTPATH      the DHCP server and its root-path (initramfs-tools' /run/net-*.conf;
#                             dracut's new_root_path and server)
#   NBDROOT_NBDTAB            the nbdtab to look devices up in (default /etc/nbdtab)
# Output of the nbdroot_parse_* functions (status 0), or NBD_ERROR (status 1):
#   NBD_TARGET     what nbd-client attach connects to: HOST:PORT, [IPV6]:PORT or an NBD URI
#   NBD_NAME       the export name, given with -N when NBD_HAS_NAME is y (a URI carries its own)
#   NBD_DEVICE     the whole device, /dev/nbdN
#   NBD_ROOT       what the root file system is mounted from: root= as given, or the device
#   NBD_SET_ROOT   y when root= was not given and NBD_ROOT must become the boot's root
#   NBD_FSTYPE, NBD_ROOTFLAGS   dracut's fstype and mount options ("" when not given)
#   NBD_OPTS       further nbd-client options, as words
#   NBD_NBDTAB     nbdN when the device is attached from the initramfs' nbdtab instead

# shellcheck shell=dash disable=SC2034 # local is in every shell this runs under; the outputs are the caller's
NBDROOT_DEFAULT_PORT=10809

nbdroot_reset() {
	NBD_TARGET='' NBD_NAME='' NBD_HAS_NAME='' NBD_DEVICE='' NBD_ROOT='' NBD_SET_ROOT=''
	NBD_FSTYPE='' NBD_ROOTFLAGS='' NBD_OPTS='' NBD_NBDTAB='' NBD_ERROR=''
}

# nbdroot_cmdline CMDLINE: the parameters this file reads, from a whole command line (the last of
# each wins, as the kernel's own parameters do).
nbdroot_cmdline() {
	local x
	nbd_arg_root='' nbd_arg_nbdroot='' nbd_arg_nbddev='' nbd_arg_netroot='' nbd_arg_nbdopts=''
	nbd_has_nbdroot='' nbd_has_netroot=''
	set -f
	# shellcheck disable=SC2086 # split into words on purpose; globbing is off
	set -- $1
	set +f
	for x in "$@"; do
		case $x in
		root=*) nbd_arg_root=${x#root=} ;;
		nbdroot=*) nbd_arg_nbdroot=${x#nbdroot=} nbd_has_nbdroot=y ;;
		nbdroot) nbd_arg_nbdroot='' nbd_has_nbdroot=y ;;
		nbddev=*) nbd_arg_nbddev=${x#nbddev=} ;;
		netroot=*) nbd_arg_netroot=${x#netroot=} nbd_has_netroot=y ;;
		nbdopts=*) nbd_arg_nbdopts=${x#nbdopts=} ;;
		esac
	done
}

_nbdroot_fail() {
	NBD_ERROR=$1
	return 1
}

# _nbdroot_port WORD: a TCP port number, 1 to 65535.
_nbdroot_port() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "${#1}" -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# _nbdroot_is_device WORD: nbdN, /dev/nbdN or /dev/nbdNpM; sets _dev to /dev/nbdN.
_nbdroot_is_device() {
	local d="${1#/dev/}" n part
	case $d in nbd[0-9]*) ;; *) return 1 ;; esac
	n=${d#nbd}
	part=''
	case $n in *p*) part=${n#*p} n=${n%%p*} ;; esac
	case $n in '' | *[!0-9]*) return 1 ;; esac
	case $d in *p*) case $part in '' | *[!0-9]*) return 1 ;; esac ;; esac
	_dev=/dev/nbd$n
}

# _nbdroot_set_host HOST PORT: NBD_TARGET from a host (an IPv6 address without brackets) and a port
# (empty for the default); an empty host is the DHCP server.
_nbdroot_set_host() {
	local host="$1" port="${2:-$NBDROOT_DEFAULT_PORT}"
	[ -n "$host" ] || host=$ROOTSERVER
	[ -n "$host" ] || _nbdroot_fail "no NBD server: the host is empty and DHCP named no server" || return 1
	_nbdroot_port "$port" || _nbdroot_fail "'$port' is not a port number" || return 1
	case $host in
	*[!0-9A-Za-z.:%_-]*) _nbdroot_fail "'$host' is not a host name or address" || return 1 ;;
	*:*) NBD_TARGET="[$host]:$port" ;;
	*) NBD_TARGET="$host:$port" ;;
	esac
}

# _nbdroot_hostpath VALUE: the forms HOST, HOST/NAME, HOST:/NAME, HOST:PORT, HOST:PORT/NAME, and the
# same with [IPV6] for HOST. The name is everything after the first '/', so "//name" is "/name".
_nbdroot_hostpath() {
	local v="$1" host rest port=''
	case $v in
	\[*)
		host=${v#\[}
		case $host in *\]*) ;; *) _nbdroot_fail "'$v': '[' without ']'" || return 1 ;; esac
		rest=${host#*\]}
		host=${host%%\]*}
		case $host in *:*) ;; *) _nbdroot_fail "'$v': [$host] is not an IPv6 address" || return 1 ;; esac
		;;
	*)
		case ${v%%/*} in
		*:*:*) _nbdroot_fail "'$v': an IPv6 address goes in [brackets]" || return 1 ;;
		esac
		host=${v%%[:/]*}
		rest=${v#"$host"}
		;;
	esac
	case $rest in
	:*)
		rest=${rest#:}
		port=${rest%%/*}
		rest=${rest#"$port"}
		[ -n "$port" ] || [ -n "$rest" ] || _nbdroot_fail "'$v': nothing after ':'" || return 1
		;;
	esac
	case $rest in
	/*) NBD_NAME=${rest#/} NBD_HAS_NAME=y ;;
	'') ;;
	*) _nbdroot_fail "'$v': '$rest' after the host" || return 1 ;;
	esac
	_nbdroot_set_host "$host" "$port"
}

# _nbdroot_opts WORDS: dracut's nbdopts (comma-separated) as nbd-client options. bs= and timeout=
# are named as dracut documents them; a word starting with '-' is given as it is; any other KEY=VALUE
# becomes --KEY VALUE and KEY --KEY (nbd-client takes a long option with one dash or two).
_nbdroot_opts() {
	local o
	local IFS=,
	set -f
	# shellcheck disable=SC2086
	set -- $1
	set +f
	for o in "$@"; do
		case $o in
		'') ;;
		bs=*) NBD_OPTS="$NBD_OPTS -b ${o#bs=}" ;;
		timeout=*) NBD_OPTS="$NBD_OPTS -t ${o#timeout=}" ;;
		-*) NBD_OPTS="$NBD_OPTS $o" ;;
		*=*) NBD_OPTS="$NBD_OPTS --${o%%=*} ${o#*=}" ;;
		*) NBD_OPTS="$NBD_OPTS --$o" ;;
		esac
	done
	NBD_OPTS=${NBD_OPTS# }
}

# _nbdroot_uri VALUE: nbd:// and nbds:// are nbd-client's own targets; it parses them.
_nbdroot_uri() {
	case $1 in
	nbd://?* | nbds://?*) NBD_TARGET=$1 ;;
	*) _nbdroot_fail "'$1' is not an nbd:// or nbds:// URI" ;;
	esac
}

# _nbdroot_dracut VALUE: nbd:SERVER:PORT|NAME[:FSTYPE[:ROOTFLAGS[:NBDOPTS]]], SERVER an address, a
# name or [IPV6]; a second field of digits is a port, anything else an export name.
_nbdroot_dracut() {
	local v="${1#nbd:}" host rest second
	case $v in
	\[*)
		host=${v#\[}
		case $host in *\]*) ;; *) _nbdroot_fail "'$1': '[' without ']'" || return 1 ;; esac
		rest=${host#*\]}
		host=${host%%\]*}
		;;
	*)
		host=${v%%:*}
		rest=${v#"$host"}
		;;
	esac
	case $rest in
	'') ;;
	:*) rest=${rest#:} ;;
	*) _nbdroot_fail "'$1': '$rest' after the server" || return 1 ;;
	esac
	local IFS=:
	set -f
	# shellcheck disable=SC2086
	set -- $rest
	set +f
	unset IFS
	second=${1:-}
	NBD_FSTYPE=${2:-} NBD_ROOTFLAGS=${3:-}
	_nbdroot_opts "${4:-}"
	[ $# -le 4 ] || _nbdroot_fail "'nbd:$v': more than 5 fields" || return 1
	case $second in
	'') _nbdroot_set_host "$host" "" ;;
	*[!0-9]*) NBD_NAME=$second NBD_HAS_NAME=y && _nbdroot_set_host "$host" "" ;;
	*) _nbdroot_set_host "$host" "$second" ;;
	esac
}

# _nbdroot_debian VALUE: one of the forms Debian's nbd-client documents, or a URI, or dracut's.
_nbdroot_debian() {
	local v="$1" second third
	case $v in
	nbd://* | nbds://*)
		_nbdroot_uri "$v"
		return
		;;
	nbd:*)
		_nbdroot_dracut "$v"
		return
		;;
	*,*)
		# SERVER,PORT|NAME[,DEVICE]: as README.Debian describes it, digits name a port (and the
		# server's default export), anything else the export.
		local IFS=,
		set -f
		# shellcheck disable=SC2086
		set -- $v
		set +f
		unset IFS
		[ $# -le 3 ] || _nbdroot_fail "'$v': more than 3 fields" || return 1
		second=${2:-} third=${3:-}
		if [ -n "$third" ]; then
			_nbdroot_is_device "$third" || _nbdroot_fail "'$v': '$third' is not an nbd device" || return 1
			[ -n "$NBD_DEVICE" ] || NBD_DEVICE=$_dev
		fi
		case $second in
		'') _nbdroot_set_host "$1" "" ;;
		*[!0-9]*) NBD_NAME=$second NBD_HAS_NAME=y && _nbdroot_set_host "$1" "" ;;
		*) _nbdroot_set_host "$1" "$second" ;;
		esac
		return
		;;
	esac
	_nbdroot_hostpath "$v"
}

# _nbdroot_nbdtab_has nbdN: the initramfs' nbdtab has a line for the device.
_nbdroot_nbdtab_has() {
	local dev rest
	[ -r "${NBDROOT_NBDTAB:-/etc/nbdtab}" ] || return 1
	while read -r dev rest; do
		case $dev in "$1" | "/dev/$1") return 0 ;; esac
	done <"${NBDROOT_NBDTAB:-/etc/nbdtab}"
	return 1
}

# _nbdroot_root_device: the device from root= (which may name a partition) or nbddev=; the root.
_nbdroot_root_device() {
	NBD_DEVICE=''
	if _nbdroot_is_device "$nbd_arg_root"; then
		NBD_DEVICE=$_dev
	elif [ -n "$nbd_arg_nbddev" ]; then
		_nbdroot_is_device "$nbd_arg_nbddev" ||
			_nbdroot_fail "nbddev=$nbd_arg_nbddev is not an nbd device" || return 1
		NBD_DEVICE=$_dev
	fi
}

_nbdroot_finish() {
	[ -n "$NBD_DEVICE" ] || NBD_DEVICE=/dev/nbd0
	# nbdopts= adds to what the root's own syntax gave.
	[ -z "${nbd_arg_nbdopts:-}" ] || _nbdroot_opts "$nbd_arg_nbdopts"
	case $nbd_arg_root in
	'' | block:/dev/root | dhcp | nbd:* | nbds://*) NBD_ROOT=$NBD_DEVICE NBD_SET_ROOT=y ;;
	*) NBD_ROOT=$nbd_arg_root ;;
	esac
}

# nbdroot_wanted_initramfs_tools: whether the command line asks initramfs-tools for an NBD root, as
# Debian's script decides it (nbdroot=, nbddev= or root=/dev/nbd*), or with root=nbd:...
nbdroot_wanted_initramfs_tools() {
	[ -n "$nbd_has_nbdroot" ] || [ -n "$nbd_arg_nbddev" ] && return 0
	case $nbd_arg_root in /dev/nbd* | nbd:* | nbds://*) return 0 ;; esac
	return 1
}

# nbdroot_needs_dhcp_initramfs_tools: the root-path of DHCP is what names the server.
nbdroot_needs_dhcp_initramfs_tools() {
	case $nbd_arg_root in nbd:* | nbds://*) return 1 ;; esac
	case $nbd_arg_nbdroot in '' | dhcp) return 0 ;; esac
	return 1
}

# nbdroot_parse_initramfs_tools: nbdroot= (or root=nbd:..., or DHCP's root-path), nbddev=, root=.
nbdroot_parse_initramfs_tools() {
	local v
	nbdroot_reset
	_nbdroot_root_device || return 1
	case $nbd_arg_root in
	nbd:* | nbds://*) v=$nbd_arg_root ;;
	*)
		v=$nbd_arg_nbdroot
		if [ -z "$v" ] || [ "$v" = dhcp ]; then
			# The initramfs' nbdtab, when it has the device, names the server itself.
			if [ -z "$v" ] && [ -n "$NBD_DEVICE" ] && _nbdroot_nbdtab_has "${NBD_DEVICE#/dev/}"; then
				NBD_NBDTAB=${NBD_DEVICE#/dev/}
				_nbdroot_finish
				return 0
			fi
			v=$ROOTPATH
			[ -n "$v" ] || _nbdroot_fail "nbdroot= asks for DHCP's root-path, and DHCP gave none" ||
				return 1
			[ "$v" != dhcp ] || _nbdroot_fail "DHCP's root-path is 'dhcp'" || return 1
		fi
		;;
	esac
	_nbdroot_debian "$v" || return 1
	_nbdroot_finish
}

# nbdroot_wanted_dracut: root= or netroot= names an NBD root (nbd:..., nbd://, nbds://), or DHCP's
# root-path does when root=dhcp or netroot=dhcp.
nbdroot_wanted_dracut() {
	case $nbd_arg_root in nbd:* | nbds://*) return 0 ;; esac
	case $nbd_arg_netroot in nbd:* | nbds://*) return 0 ;; esac
	if [ "$nbd_arg_root" = dhcp ] || [ "$nbd_arg_netroot" = dhcp ]; then
		case $ROOTPATH in nbd:* | nbds://*) return 0 ;; esac
	fi
	return 1
}

# nbdroot_parse_dracut: root= wins over netroot=; dhcp takes DHCP's root-path; a root= that names
# an nbd device (or its partition) with netroot=nbd:... chooses the device; nbddev= too.
nbdroot_parse_dracut() {
	local v
	nbdroot_reset
	_nbdroot_root_device || return 1
	case $nbd_arg_root in
	nbd:* | nbds://*) v=$nbd_arg_root ;;
	dhcp) v=$ROOTPATH ;;
	*)
		v=$nbd_arg_netroot
		[ "$v" != dhcp ] || v=$ROOTPATH
		;;
	esac
	case $v in
	nbd://* | nbds://*) _nbdroot_uri "$v" || return 1 ;;
	nbd:*) _nbdroot_dracut "$v" || return 1 ;;
	'') _nbdroot_fail "no NBD root: neither root= nor netroot= names one, nor DHCP's root-path" ||
		return 1 ;;
	*) _nbdroot_fail "'$v' is not an NBD root (nbd:SERVER:PORT|NAME:..., nbd:// or nbds://)" ||
		return 1 ;;
	esac
	_nbdroot_finish
}

# nbdroot_describe: the result on one line, for the table test and the boot log.
nbdroot_describe() {
	local name=-
	[ -z "$NBD_HAS_NAME" ] || name="'$NBD_NAME'"
	echo "target=${NBD_TARGET:--} name=$name device=$NBD_DEVICE root=$NBD_ROOT" \
		"set_root=${NBD_SET_ROOT:-n} fstype=${NBD_FSTYPE:--} flags=${NBD_ROOTFLAGS:--}" \
		"opts=${NBD_OPTS:--} nbdtab=${NBD_NBDTAB:--}"
}
