#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The guest's side of results-channel.sh: numbered lines through the suite's own emit (guest/lib.sh),
# written by a shell whose background jobs end all the while, as the guest tests' jobs do. Each job's
# end sends that shell SIGCHLD, which once made a line vanish from the results now and then.
# shellcheck source=tests/vm/guest/lib.sh
. /tests/lib.sh

lines=${1:-1000}
n=0
while [ "$n" -lt "$lines" ]; do
	n=$((n + 1))
	(sleep "0.0$((n % 3))") &
	diag "results-channel line $n of $lines"
done
wait
ok "wrote $lines numbered lines while background jobs ended"
emit "NBDM-VM-RESULT: passed=$(count passed) failed=$(count failed)"
