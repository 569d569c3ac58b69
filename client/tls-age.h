/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How old a connection's TLS session is, in records: AES-GCM keys must not protect more than about
 * 2^24.5 records, and the kernels this runs on cannot rekey (nor is a relayed TLS 1.2 session ever
 * rekeyed), so a supervised TLS device has each connection replaced well before that (at
 * TLS_AGE_RECORD_LIMIT). The same periodic check (every TLS_AGE_CHECK_MS) looks for a kernel TLS
 * reader stopped by a record it cannot read (tls/ktls.h). NBDM_TLS_RECORD_LIMIT and
 * NBDM_TLS_CHECK_MS override both numbers, for tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Half the limit: at 100,000 records a second, over a minute of margin. */
#define TLS_AGE_RECORD_LIMIT (1ull << 23)
/* A stopped reader holds the device's I/O until it is found: look often, at the cost of a
 * wake-up and a few system calls per connection. */
#define TLS_AGE_CHECK_MS 5000u

struct tls_age {
	uint64_t record_limit;
	unsigned check_ms;
};

/* The limits in force (the defaults, or the environment's). */
void tls_age_init(struct tls_age *age);

/* A timer descriptor that becomes readable every check_ms, or a negative errno. */
int tls_age_timer(const struct tls_age *age);

struct tls_relay;

/* Why the kernel's TLS reader of the socket fd has stopped at a record it cannot read (an alert,
 * a TLS 1.3 key update or session ticket), or NULL when it has not. */
const char *tls_age_reader_stopped(int fd);

/* The first connection (fds[i] < 0: a dead slot, skipped) whose session, in the kernel's TLS on
 * fds[i] or in relays[i] when not NULL, has sent or received record_limit records or more: its
 * index, with the count in *ret_records; -1 when none has. */
int tls_age_oldest(const struct tls_age *age, const int *fds, struct tls_relay *const *relays,
		   size_t n, uint64_t *ret_records);
