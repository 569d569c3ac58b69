/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/macro.h"
#include "common/process.h"

int process_name(pid_t pid, char *buf, size_t len)
{
	_cleanup_fclose_ FILE *f = NULL;
	char path[64];

	if (len == 0 || len > INT32_MAX)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return negative_errno();
	if (!fgets(buf, (int)len, f))
		return -EIO;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
