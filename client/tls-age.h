/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How old a connection's kernel TLS session is, in records: AES-GCM keys must not protect more than
 * about 2^24.5 records, and the kernels this runs on cannot rekey, so a supervised TLS device has
 * each connection replaced well before that (at TLS_AGE_RECORD_LIMIT, checked every
 * TLS_AGE_CHECK_MS). NBDM_TLS_RECORD_LIMIT and NBDM_TLS_CHECK_MS override both, for tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Half the limit: at 100,000 records a second, 150 s of margin between two checks. */
#define TLS_AGE_RECORD_LIMIT (1ull << 23)
#define TLS_AGE_CHECK_MS 60000u

struct tls_age {
	uint64_t record_limit;
	unsigned check_ms;
};

/* The limits in force (the defaults, or the environment's). */
void tls_age_init(struct tls_age *age);

/* A timer descriptor that becomes readable every check_ms, or a negative errno. */
int tls_age_timer(const struct tls_age *age);

/* The first of fds (-1: a dead slot, skipped) whose session has sent or received record_limit
 * records or more: its index, with the count in *ret_records; -1 when none has (or none is in
 * the kernel's TLS). */
int tls_age_oldest(const struct tls_age *age, const int *fds, size_t n, uint64_t *ret_records);
