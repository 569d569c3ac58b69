# SPDX-License-Identifier: GPL-2.0-or-later
#
# What run-boot.sh and run-netroot.sh share, sourced after tests/vm/lib/common.sh: the run's one
# skipped case, its work directory, its preparation steps, the host's tools, and the guest's root
# with the project's packages installed. The caller sets series, src, debs_cache, label (the TAP
# lines' prefix) and what (the skipped case's name).

# skip REASON: the run is one skipped case that names the reason.
skip() {
	echo "1..1"
	echo "ok 1 - [$label] $what # SKIP $*"
	exit 0
}

# shellcheck disable=SC2317 # called by the trap
runner_cleanup() {
	if [ -n "$hostctl_pid" ]; then
		kill "$hostctl_pid" 2>/dev/null || true
		wait "$hostctl_pid" 2>/dev/null || true
	fi
	if [ -n "${NBDM_BOOT_KEEP:-}" ]; then
		echo "# work directory kept: $work" >&2
	else
		rm -rf "$work"
	fi
}

# runner_begin NAME: t0, the work directory $work (nbdm-NAME-SERIES.*, kept with NBDM_BOOT_KEEP=1),
# and the cleanup at exit, which also ends the host's control server when $hostctl_pid names it.
runner_begin() {
	t0=$(date +%s)
	work=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-$1-$series.XXXXXX")
	hostctl_pid=
	trap runner_cleanup EXIT
}

# step OUTVAR CMD...: runs a preparation step, stores its stdout in OUTVAR (- drops it), shows its
# messages, and turns exit status 77 into a skip that names the reason.
step() {
	local var=$1 rc=0 out
	shift
	out=$("$@" 2>"$work/step.err") || rc=$?
	grep -v '^skip: ' "$work/step.err" >&2 || true
	if [ "$rc" -eq "$VM_SKIP_STATUS" ]; then
		skip "$(sed -n 's/^skip: //p' "$work/step.err" | tail -n 1)"
	elif [ "$rc" -ne 0 ]; then
		vm_die "$* failed (status $rc)"
	fi
	[ "$var" = - ] || printf -v "$var" '%s' "$out"
}

# shellcheck disable=SC2317 # called through vm_locked
runner_install_tools() {
	local cmd pkg
	for cmd in qemu-system-x86_64:qemu-system-x86 socat:socat mkfs.ext4:e2fsprogs e2fsck:e2fsprogs \
		mmdebstrap:mmdebstrap python3:python3 "$@"; do
		pkg=${cmd#*:}
		cmd=${cmd%%:*}
		apt_install_missing "$cmd" "$pkg" || vm_skip "$cmd is not installed and apt-get install $pkg did not work"
	done
}

# runner_tools [COMMAND:PACKAGE...]: root, and the host's tools for a boot and these; scripts/check
# installs them (NBDM_VM_PACKAGES), this covers a bare `meson test`.
runner_tools() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (the guest's root is built and installed into with chroot)"
	step - vm_locked runner_install_tools "$@"
}

# runner_root: the cached Debian root (lib/build-image.sh) and the project's packages
# (tests/install/build-debs.sh, or NBDM_BOOT_DEBS), then $root: that root unpacked without the other
# series' kernel (a smaller image, booted faster), with the packages installed by dpkg in a chroot.
# Sets tarball, packages, kver, root, t_image and t_debs; dpkg's log is $work/dpkg.log.
runner_root() {
	local debs='' other
	local -a excludes=()

	tarball=''
	step tarball "$here/lib/build-image.sh"
	t_image=$(date +%s)
	if [ -n "${NBDM_BOOT_DEBS:-}" ]; then
		debs=$NBDM_BOOT_DEBS
	else
		step debs "$top/tests/install/build-debs.sh" "$src" "$debs_cache"
	fi
	mapfile -t packages < <(find "$debs" -maxdepth 1 -name 'nbdm-*.deb' ! -name '*-dbgsym_*' | sort)
	[ ${#packages[@]} -gt 0 ] || vm_die "no nbdm-*.deb in $debs"
	t_debs=$(date +%s)

	kver=$(grep -E "^${series//./\\.}\." "$tarball.kernels" | head -n 1 || true)
	[ -n "$kver" ] || vm_die "the cached root $tarball has no $series kernel (has: $(tr '\n' ' ' <"$tarball.kernels")); delete it to rebuild"
	while IFS= read -r other; do
		[ "$other" = "$kver" ] && continue
		excludes+=(--exclude="./usr/lib/modules/$other" --exclude="./boot/*-$other")
	done <"$tarball.kernels"
	root=$work/root
	mkdir "$root"
	tar -xf "$tarball" -C "$root" "${excludes[@]}"

	mkdir -p "$root/tmp/nbdm-debs"
	cp "${packages[@]}" "$root/tmp/nbdm-debs/"
	if ! chroot "$root" sh -c 'dpkg -i /tmp/nbdm-debs/*.deb' >"$work/dpkg.log" 2>&1; then
		sed 's/^/# dpkg: /' "$work/dpkg.log"
		vm_die "installing the project's packages into the guest's root failed (dpkg -i, log above)"
	fi
	echo "# installed in the guest: $(cd "$root/tmp/nbdm-debs" && echo *.deb)" >&2
	rm -rf "$root/tmp/nbdm-debs"
}
