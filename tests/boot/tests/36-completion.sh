# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion as the packages install it: bash-completion finds nbd-client's and nbd-server's by
# the command's name, and nbd-client's offers this system's devices from the kernel: an attached one
# to detach and not to attach, a free one the other way round, and the devices of /etc/nbdtab
# (30-nbdtab.files). nbd6 is attached here by hand, and detached again.

# complete_line LINE: what bash-completion offers at the end of LINE, one a line. The line is split
# at blanks, as bash splits one with no '=' or ':'.
complete_line() {
	bash -c '
		. /usr/share/bash-completion/bash_completion
		__load_completion "$1" || exit 3
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}
		compopt() { :; } # only bash running a completion may call it
		function=$(complete -p "$1" | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
		"$function" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' _ "${1%% *}" "$1"
}
offers() { complete_line "$1" | grep -qxF -- "$2"; }
detached() { ! attached "$1"; }
loaded() { bash -c '. /usr/share/bash-completion/bash_completion && __load_completion "$1" &&
	complete -p "$1"' _ "$1" | grep -q " -F _${1//-/_} $1\$"; }

check "bash-completion loads nbd-client's completion from the package" loaded nbd-client
check "bash-completion loads nbd-server's completion from the package" loaded nbd-server
diag "nbd-client offers: $(complete_line 'nbd-client ' | tr '\n' ' ')"
for dev in nbd0 nbd1 nbd2; do
	check "'nbd-client ' offers $dev, a device of /etc/nbdtab" offers "nbd-client " $dev
done
check "'nbd-client ' offers the command attach" offers "nbd-client " attach
check "'nbd-server --tls-k' offers --tls-ktls" offers "nbd-server --tls-k" --tls-ktls

check "attach $(nbd_uri disk) to /dev/nbd6" to nbd-client attach "$(nbd_uri disk)" /dev/nbd6
check "/dev/nbd6 is attached" wait_until 10 attached nbd6
diag "nbd-client detach offers: $(complete_line 'nbd-client detach ' | tr '\n' ' ')"
check "'nbd-client detach ' offers the attached /dev/nbd6" offers "nbd-client detach " /dev/nbd6
check "'nbd-client -d ' offers it too" offers "nbd-client -d " /dev/nbd6
check_fails "'nbd-client attach URI ' does not offer /dev/nbd6" \
	offers "nbd-client attach $(nbd_uri disk) " /dev/nbd6
check "'nbd-client attach URI ' offers the free /dev/nbd7" \
	offers "nbd-client attach $(nbd_uri disk) " /dev/nbd7
check_fails "'nbd-client detach ' does not offer the free /dev/nbd7" \
	offers "nbd-client detach " /dev/nbd7

check "detach /dev/nbd6" to nbd-client detach /dev/nbd6
check "/dev/nbd6 is no longer attached" wait_until 10 detached nbd6
check_fails "'nbd-client detach ' no longer offers /dev/nbd6" offers "nbd-client detach " /dev/nbd6
check "'nbd-client attach URI ' offers /dev/nbd6 again" \
	offers "nbd-client attach $(nbd_uri disk) " /dev/nbd6
