/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

/* Something an epoll loop waits on: epoll's data.ptr points at it. */
struct loop_source {
	int fd;
	void (*dispatch)(struct loop_source *s, uint32_t events);
};
