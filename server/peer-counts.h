/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How many connections each client address has open, for max_connections_per_address: counted from
 * accept() to the connection's end, handshake included, so that one address cannot take the whole
 * server with connections it leaves in their handshake. IPv4 and IPv6 addresses are counted without
 * their port (an IPv4-mapped IPv6 address as its IPv4 address); Unix sockets and the other kinds
 * of peer are not counted.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#define PEER_COUNTS_BUCKETS 256

struct peer_count;

struct peer_counts {
	pthread_mutex_t lock; /* the main thread takes, workers give back */
	struct peer_count *buckets[PEER_COUNTS_BUCKETS];
};

void peer_counts_init(struct peer_counts *pc);
void peer_counts_free(struct peer_counts *pc);
/* Counts one more connection from peer, unless it has max already (max 0: no limit): 0, or -EUSERS
 * with *ret_count the number it has. -ENOMEM when the count cannot be kept (the connection is
 * then not counted, and should be refused). */
int peer_counts_take(struct peer_counts *pc, const struct sockaddr_storage *peer, unsigned max,
		     unsigned *ret_count);
/* The connection from peer ended; a peer that was not counted is ignored. */
void peer_counts_give(struct peer_counts *pc, const struct sockaddr_storage *peer);
