/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Whether this process holds a capability in its effective set (capget(2)). */
#pragma once

#include <stdbool.h>

/* cap: a CAP_* number of linux/capability.h. False when the kernel cannot say. */
bool capability_effective(int cap);
