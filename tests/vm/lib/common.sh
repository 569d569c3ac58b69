# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the host side of the VM tests: messages, the cache directory, and apt-get access that is
# serialised between the per-kernel tests meson runs in parallel.
# shellcheck shell=bash

# Everything downloaded or unpacked lives here, outside the repository, so that git never sees a
# kernel or a Debian binary and repeated runs never download twice.
NBDM_VM_CACHE=${NBDM_VM_CACHE:-/var/cache/nbdm-vm}

# The kernels under test: a series name (used in test names) and the Debian metapackage that always
# depends on that series' newest cloud kernel image. The cloud flavour is small, boots fast under TCG
# and still builds nbd as a module.
# shellcheck disable=SC2034 # used by the scripts that source this file
declare -A NBDM_VM_KERNEL_META=(
	[6.1]=linux-image-cloud-amd64
	[6.12]=linux-image-6.12-cloud-amd64
)

# Messages go to stderr: stdout of the test program is TAP.
vm_say() { printf '# %s\n' "$*" >&2; }
vm_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Raised by a fetch step that cannot proceed for a reason outside the code under test (no network,
# not root, package gone from the archive); the runner turns it into a TAP skip.
VM_SKIP_STATUS=77
vm_skip() { printf 'skip: %s\n' "$*" >&2; exit "$VM_SKIP_STATUS"; }

vm_cache_init() {
	mkdir -p "$NBDM_VM_CACHE" 2>/dev/null ||
		vm_skip "cannot create the cache directory $NBDM_VM_CACHE (set NBDM_VM_CACHE to a writable directory)"
	[ -w "$NBDM_VM_CACHE" ] || vm_skip "cache directory $NBDM_VM_CACHE is not writable (set NBDM_VM_CACHE)"
}

# vm_locked CMD...: runs CMD holding the cache lock. Both kernels' tests start together; apt and the
# shared cache entries (Debian's nbd binaries) must not be fetched twice or concurrently.
vm_locked() {
	vm_cache_init
	(
		flock -w 600 9 || vm_die "waited 10 minutes for $NBDM_VM_CACHE/.lock"
		"$@"
	) 9>"$NBDM_VM_CACHE/.lock"
}

# apt_candidate PKG: prints the version apt would install, or nothing when apt does not know PKG.
apt_candidate() {
	apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# apt_ensure_lists PKG: makes sure apt knows PKG, running `apt-get update` once when it does not (a
# fresh machine or container has no package lists).
apt_ensure_lists() {
	[ -n "$(apt_candidate "$1")" ] && return 0
	[ -n "${NBDM_VM_APT_UPDATED:-}" ] && return 1
	[ "$(id -u)" -eq 0 ] || return 1
	vm_say "apt does not know $1; running apt-get update"
	apt-get update -qq >&2 || return 1
	NBDM_VM_APT_UPDATED=1
	[ -n "$(apt_candidate "$1")" ]
}

# apt_download_extract PKG VERSION DEST: downloads PKG=VERSION and unpacks it into DEST, which appears
# only once complete (unpacked into a sibling, then renamed) so an interrupted run leaves no half
# tree that a later run would trust. The .deb itself is not kept: the unpacked tree is the cache.
apt_download_extract() {
	local pkg=$1 version=$2 dest=$3 tmp deb
	tmp=$(mktemp -d "$NBDM_VM_CACHE/.download.XXXXXX")
	# apt drops to the _apt user for downloads, which cannot write into a root-owned cache; downloading
	# as root into our own directory is what apt-get download does anyway, minus the warning.
	if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$version" >&2); then
		rm -rf "$tmp"
		return 1
	fi
	deb=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n 1)
	[ -n "$deb" ] || { rm -rf "$tmp"; return 1; }
	mkdir "$tmp/root"
	dpkg-deb -x "$deb" "$tmp/root" || { rm -rf "$tmp"; return 1; }
	rm -rf "$dest"
	mv "$tmp/root" "$dest"
	rm -rf "$tmp"
}

# apt_install_missing CMD PKG: installs PKG when CMD is not in PATH (root only); 1 when still missing.
apt_install_missing() {
	local cmd=$1 pkg=$2
	command -v "$cmd" >/dev/null 2>&1 && return 0
	[ "$(id -u)" -eq 0 ] || return 1
	vm_say "$cmd is missing; installing $pkg"
	apt_ensure_lists "$pkg" || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >&2 || return 1
	command -v "$cmd" >/dev/null 2>&1
}

# Whether the guest kernel of CONSOLE (a console log) died of an int3 trap in its own text. The
# kernel patches its code (static keys, static calls, alternatives) by writing an int3 first and
# recognises the traps that race with a patch; under QEMU's TCG a vCPU can still run the int3
# after the patch is done, and the kernel then reports "Oops: int3" in an ordinary function and
# panics. No user program can put an int3 into kernel text, so this is the emulator's fault, not
# the code under test's (seen once in netroot-6.12, in netif_receive_skb_list_internal).
emulator_text_race() {
	grep -aq 'Oops: int3' "$1" 2>/dev/null
}

# emulator_race_kept CONSOLE KEPT SECONDS [WHAT]: when CONSOLE shows that race, copies it to KEPT, says
# so in a TAP comment (of WHAT, after SECONDS) and succeeds, for the caller to boot once more;
# fails otherwise. The caller's second boot is not checked again: a second such death fails it
# like any other crash.
emulator_race_kept() {
	emulator_text_race "$1" || return 1
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2"
	echo "# ${4:+$4: }the guest kernel stopped on an int3 in its own text after $3 s (a code-patching" \
		"race of the emulator; console kept: $2); booting again"
}
