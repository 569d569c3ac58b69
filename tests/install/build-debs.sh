#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# build-debs.sh SOURCE_DIR CACHE_DIR: builds nbdm's Debian packages (dpkg-buildpackage -b -us -uc) from
# a copy of SOURCE_DIR's files, never in the tree itself, so that the build leaves nothing behind in
# the checkout (debian/.debhelper, debian/files, obj-*). Prints the directory that holds the .deb
# files on stdout; messages go to stderr.
#
# The copy is what git sees (tracked files plus untracked ones that are not ignored), so the packages
# are built from the working tree as it is, work in progress included, and never from build
# directories. The packages are kept in CACHE_DIR/KEY, KEY a hash of those files' names and contents:
# the install test and both boot tests of one `meson test` run build once, and a rerun on an
# unchanged tree builds nothing. Only the newest KEY is kept.
#
# The build uses DEB_BUILD_OPTIONS=nocheck and the nocheck profile: the unit suite runs on its own in
# the meson run that asks for the packages. NBDM_DEB_BUILD_OPTIONS adds to DEB_BUILD_OPTIONS.
# Exit status: 0 built or cached; 77 when a tool is missing (the caller skips); 1 when the build failed.
set -euo pipefail
src=$(cd "${1:?usage: build-debs.sh SOURCE_DIR CACHE_DIR}" && pwd)
cache=${2:?usage: build-debs.sh SOURCE_DIR CACHE_DIR}

say() { printf '# build-debs: %s\n' "$*" >&2; }
missing() { printf 'skip: %s\n' "$*" >&2; exit 77; }

for tool in dpkg-buildpackage:dpkg-dev dh:debhelper; do
	command -v "${tool%%:*}" >/dev/null ||
		missing "${tool%%:*} is not installed (apt-get install ${tool#*:})"
done
[ -f "$src/debian/control" ] || { echo "error: $src/debian/control does not exist" >&2; exit 1; }

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One builder at a time; the others wait and then find its result.
exec 9>"$cache/.lock"
flock -w 1800 9 || { echo "error: waited 30 minutes for $cache/.lock" >&2; exit 1; }

# The files to build from, NUL-separated, relative to $src: in a git checkout the tracked files that
# still exist and the untracked ones that are not ignored; elsewhere (an unpacked `git archive`)
# every file but build directories.
list_files() {
	if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$src" ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[ -e "$src/$f" ] || [ -L "$src/$f" ] || continue
				printf '%s\0' "$f"
			done
	else
		(cd "$src" && find . \( -name 'build*' -o -name 'obj-*' -o -name .git \) -prune -o \
			! -type d -printf '%P\0')
	fi
}
key=$( (cd "$src" && list_files | sort -z | xargs -0 -r sha256sum --) | sha256sum | cut -c1-16)
out=$cache/$key
if [ -f "$out/.complete" ]; then
	say "packages of this tree are already built: $out"
	echo "$out"
	exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/nbdm-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT
version=$(cd "$src" && dpkg-parsechangelog -S Version)
mkdir "$work/nbdm-$version"
(cd "$src" && list_files | tar --null -T - -cf -) | tar -xf - -C "$work/nbdm-$version"

say "building nbdm $version packages in $work (log: $work/build.log)"
start=$(date +%s)
if ! (cd "$work/nbdm-$version" &&
	dpkg-checkbuilddeps -P nocheck >"$work/build.log" 2>&1); then
	sed 's/^/# /' "$work/build.log" >&2
	missing "build dependencies missing (see above; as root: apt-get build-dep $src, or scripts/check installs them)"
fi
if ! (cd "$work/nbdm-$version" &&
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc) ${NBDM_DEB_BUILD_OPTIONS:-}" DEB_BUILD_PROFILES=nocheck \
		dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1); then
	# The compiler's error lines, not the command lines before them.
	grep -v '^\[[0-9]*/[0-9]*\] ' "$work/build.log" | tail -n 40 | sed 's/^/# /' >&2
	echo "error: dpkg-buildpackage failed for the tree in $src (above: the end of its log)" >&2
	exit 1
fi
say "built in $(($(date +%s) - start)) s"

rm -rf "$out.tmp"
mkdir "$out.tmp"
mv "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out.tmp"/
# What meson installed (debian/tmp, after the rules moved the programs), for the test that checks that
# every file of it is in a package.
(cd "$work/nbdm-$version/debian/tmp" && find . ! -type d -printf '%P\n' | sort) >"$out.tmp/installed.txt"
touch "$out.tmp/.complete"
# Only the newest packages are worth keeping.
find "$cache" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name "$key.tmp" -exec rm -rf {} +
mv "$out.tmp" "$out"
echo "$out"
