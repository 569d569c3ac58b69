/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/peer-counts.h"

struct peer_count {
	struct peer_count *next;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	bool v6;
	unsigned count;
};

/* The address as counted: false for a peer that is not counted. */
static bool peer_key(const struct sockaddr_storage *peer, uint8_t addr[16], bool *v6)
{
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };

	memset(addr, 0, 16);
	if (peer->ss_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
		*v6 = false;
		return true;
	}
	if (peer->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)peer)->sin6_addr.s6_addr;

		if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
			memcpy(addr, a + 12, 4);
			*v6 = false;
		} else {
			memcpy(addr, a, 16);
			*v6 = true;
		}
		return true;
	}
	return false;
}

static struct peer_count **bucket(struct peer_counts *pc, const uint8_t addr[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return &pc->buckets[h % PEER_COUNTS_BUCKETS];
}

/* The entry's link in its bucket, or the link at the bucket's end. */
static struct peer_count **find(struct peer_counts *pc, const uint8_t addr[16], bool v6)
{
	struct peer_count **p = bucket(pc, addr);

	while (*p && ((*p)->v6 != v6 || memcmp((*p)->addr, addr, 16) != 0))
		p = &(*p)->next;
	return p;
}

void peer_counts_init(struct peer_counts *pc)
{
	*pc = (struct peer_counts){ 0 };
	pthread_mutex_init(&pc->lock, NULL);
}

void peer_counts_free(struct peer_counts *pc)
{
	for (size_t i = 0; i < PEER_COUNTS_BUCKETS; i++)
		while (pc->buckets[i]) {
			struct peer_count *e = pc->buckets[i];

			pc->buckets[i] = e->next;
			free(e);
		}
	pthread_mutex_destroy(&pc->lock);
}

int peer_counts_take(struct peer_counts *pc, const struct sockaddr_storage *peer, unsigned max,
		     unsigned *ret_count)
{
	struct peer_count **p;
	uint8_t addr[16];
	bool v6;
	int r = 0;

	if (!peer_key(peer, addr, &v6))
		return 0;
	pthread_mutex_lock(&pc->lock);
	p = find(pc, addr, v6);
	if (*p && max && (*p)->count >= max) {
		if (ret_count)
			*ret_count = (*p)->count;
		r = -EUSERS;
	} else if (*p) {
		(*p)->count++;
	} else {
		struct peer_count *e = calloc(1, sizeof(*e));

		if (!e) {
			r = -ENOMEM;
		} else {
			memcpy(e->addr, addr, 16);
			e->v6 = v6;
			e->count = 1;
			*p = e;
		}
	}
	pthread_mutex_unlock(&pc->lock);
	return r;
}

void peer_counts_give(struct peer_counts *pc, const struct sockaddr_storage *peer)
{
	struct peer_count **p, *e;
	uint8_t addr[16];
	bool v6;

	if (!peer_key(peer, addr, &v6))
		return;
	pthread_mutex_lock(&pc->lock);
	p = find(pc, addr, v6);
	e = *p;
	if (e && --e->count == 0) {
		*p = e->next;
		free(e);
	}
	pthread_mutex_unlock(&pc->lock);
}
