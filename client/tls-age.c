/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "client/tls-age.h"
#include "client/tls-relay.h"
#include "common/macro.h"
#include "common/parse.h"
#include "tls/ktls.h"

void tls_age_init(struct tls_age *age)
{
	const char *limit = getenv("NBDM_TLS_RECORD_LIMIT"), *check = getenv("NBDM_TLS_CHECK_MS");
	uint64_t v;
	uint32_t ms;

	age->record_limit = TLS_AGE_RECORD_LIMIT;
	age->check_ms = TLS_AGE_CHECK_MS;
	if (limit && parse_u64(limit, &v) == 0 && v > 0)
		age->record_limit = v;
	if (check && parse_u32(check, &ms) == 0 && ms > 0)
		age->check_ms = ms;
}

int tls_age_timer(const struct tls_age *age)
{
	struct itimerspec its;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), r;

	if (fd < 0)
		return negative_errno();
	its.it_value.tv_sec = its.it_interval.tv_sec = age->check_ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)(age->check_ms % 1000) * 1000000L;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		r = negative_errno();
		close(fd);
		return r;
	}
	return fd;
}

int tls_age_oldest(const struct tls_age *age, const int *fds, struct tls_relay *const *relays,
		   size_t n, uint64_t *ret_records)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t sent, received;
		int r;

		if (fds[i] < 0)
			continue;
		r = relays[i] ? tls_relay_records(relays[i], &sent, &received)
			      : tls_kernel_records(fds[i], &sent, &received);
		if (r < 0)
			continue;
		if (sent >= age->record_limit || received >= age->record_limit) {
			*ret_records = sent > received ? sent : received;
			return (int)i;
		}
	}
	return -1;
}

/* A record other than data waits at the head of a socket whose reader is gone. Peeking does not
 * disturb a healthy reader: the kernel turns a second reader away at once, and a data record
 * peeked at stays queued for the driver. */
const char *tls_age_reader_stopped(int fd)
{
	int type = tls_kernel_next_record_type(fd);

	if (type == TLS_RECORD_ALERT)
		return "the server sent a TLS alert, which the kernel's TLS cannot read";
	if (type > 0 && type != TLS_RECORD_DATA)
		return "the server sent a TLS handshake message (a key update or session ticket), "
		       "which the kernel's TLS cannot read";
	return NULL;
}
