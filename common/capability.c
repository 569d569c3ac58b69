/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/capability.h"

bool capability_effective(int cap)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3 ||
	    syscall(SYS_capget, &header, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}
