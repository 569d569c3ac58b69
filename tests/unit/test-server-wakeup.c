/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a connection's socket waits for before it wakes its worker (wakeup.h), read back from a
 * real TCP socket over loopback with getsockopt(SO_RCVLOWAT): any byte, or several requests once
 * the client has shown a deep pipeline, and back to any byte when a wait gives up; a large WRITE's
 * payload whole, or a pair of them while they come one behind the other.
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/macro.h"
#include "proto/nbd-protocol.h"
#include "server/conn.h"
#include "server/payload.h"
#include "server/transport.h"
#include "server/wakeup.h"
#include "server/worker-host.h"

/* A 4 KiB WRITE: its header and payload. */
#define WRITE_4K (NBD_REQUEST_SIZE + 4096)

struct fixture {
	int listener, client, server;
	struct transport t;
	struct worker w;
	struct conn c;
};

static int setup(void **state)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listener >= 0);
	assert_int_equal(bind(f->listener, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(f->listener, 1), 0);
	assert_int_equal(getsockname(f->listener, (struct sockaddr *)&addr, &len), 0);
	f->client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(f->client, (struct sockaddr *)&addr, sizeof(addr)), 0);
	f->server = accept4(f->listener, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->server >= 0);

	f->t.rfd = f->t.wfd = f->server;
	f->c.t = &f->t;
	f->c.worker = &f->w;
	f->c.state = CONN_TRANSMISSION;
	f->c.lowat = 1;
	f->c.lowat_max = MAPPED_PAYLOAD_MAX;
	f->w.conns = &f->c;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->server);
	close(f->client);
	close(f->listener);
	free(f);
	return 0;
}

static int socket_lowat(const struct fixture *f)
{
	int val = 0;
	socklen_t len = sizeof(val);

	assert_int_equal(getsockopt(f->server, SOL_SOCKET, SO_RCVLOWAT, &val, &len), 0);
	return val;
}

/* A wake-up that brought n 4 KiB WRITEs and left the socket empty. */
static void woke_with(struct fixture *f, unsigned n)
{
	wakeup_rearm(&f->c, n, (size_t)n * WRITE_4K, true);
}

static void test_shallow_pipeline_never_waits(void **state)
{
	struct fixture *f = *state;

	/* One request at a time: the client waits on each reply. */
	for (int i = 0; i < 10; i++)
		woke_with(f, 1);
	assert_int_equal(socket_lowat(f), 1);
	/* Up to seven seen at once: a quarter of them is one request, nothing to wait for. */
	woke_with(f, 7);
	woke_with(f, 7);
	assert_int_equal(socket_lowat(f), 1);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_int_equal(f->w.coalesce_deadline, 0);
}

static void test_deep_pipeline_waits_for_a_quarter(void **state)
{
	struct fixture *f = *state;
	int64_t before = now_us();

	woke_with(f, 32);
	/* Eight of the 32 seen at once, and for a tenth of a millisecond at most. */
	assert_int_equal(socket_lowat(f), 8 * WRITE_4K);
	assert_true(f->c.coalesce_until >= before + COALESCE_WAIT_US);
	assert_int_equal(f->w.coalesce_deadline, f->c.coalesce_until);
	/* A wake-up with one request says nothing of the pipeline but does not wait. */
	woke_with(f, 1);
	assert_int_equal(socket_lowat(f), 1);
	/* Small requests: READs are headers only. */
	wakeup_rearm(&f->c, 4, 4 * NBD_REQUEST_SIZE, true);
	assert_int_equal(socket_lowat(f), 8 * NBD_REQUEST_SIZE);
	/* Never more than COALESCE_MAX_BYTES. */
	woke_with(f, 64);
	assert_int_equal(socket_lowat(f), COALESCE_MAX_BYTES);
}

static void test_input_left_is_not_held_back(void **state)
{
	struct fixture *f = *state;

	woke_with(f, 32);
	/* The socket still held input (the loop stopped early): its wake-up must come. */
	wakeup_rearm(&f->c, 8, 8 * WRITE_4K, false);
	assert_int_equal(socket_lowat(f), 1);
	/* Half a request in the buffer. */
	f->c.in_end = 10;
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 1);
	f->c.in_end = 0;
	/* Replies backed up: reading is paused anyway. */
	f->c.read_paused = true;
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 1);
	f->c.read_paused = false;
	/* A socket that must not wait (TLS, or one that refused before). */
	f->c.lowat_max = 0;
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 1);
}

static void test_socket_that_cannot_wait(void **state)
{
	struct fixture *f = *state;
	int small = 4096;

	/* A receive buffer set by hand caps SO_RCVLOWAT at half of it: waiting for more would never
	 * end. The socket goes back to any byte and is not asked to wait again. */
	assert_int_equal(setsockopt(f->server, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	woke_with(f, 32);
	assert_int_equal(socket_lowat(f), 1);
	assert_int_equal(f->c.lowat_max, 0);
	assert_int_equal(f->c.coalesce_until, 0);
	woke_with(f, 32);
	assert_int_equal(socket_lowat(f), 1);
}

static void test_mapped_payload_wait_is_kept(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(wakeup_set_lowat(&f->c, 256 << 10), 0);
	f->c.have_request = true;
	f->c.mode = PAYLOAD_MAPPED;
	f->c.mapped_waiting = true;
	woke_with(f, 1);
	assert_int_equal(socket_lowat(f), 256 << 10);
	/* Once no payload waits, any byte again. */
	f->c.have_request = false;
	woke_with(f, 1);
	assert_int_equal(socket_lowat(f), 1);
}

static void test_mapped_payload_wait_outlives_the_timer(void **state)
{
	struct fixture *f = *state;

	/* A coalescing wait ends with a wake-up whose last request is a large WRITE, its payload
	 * still to come: the socket now waits for that payload, as long as it takes. */
	woke_with(f, 32);
	assert_int_equal(wakeup_set_lowat(&f->c, 256 << 10), 0);
	f->c.have_request = true;
	f->c.mode = PAYLOAD_MAPPED;
	f->c.mapped_waiting = true;
	woke_with(f, 8);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_int_equal(wakeup_expire(&f->w, now_us() + 1000000), 0);
	assert_int_equal(socket_lowat(f), 256 << 10);
	assert_int_equal(f->c.coalesce_strikes, 0);
}

static void test_wait_given_up(void **state)
{
	struct fixture *f = *state;
	int64_t until;

	woke_with(f, 32);
	until = f->c.coalesce_until;
	/* Not due yet: nothing changes, and the next deadline is this one. */
	assert_int_equal(wakeup_expire(&f->w, until - 1), until);
	assert_int_equal(socket_lowat(f), 8 * WRITE_4K);
	/* Due: any byte again, the bound halved, and coalescing paused for two wake-ups. */
	assert_int_equal(wakeup_expire(&f->w, until), 0);
	assert_int_equal(socket_lowat(f), 1);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_int_equal(f->c.seen_at_once, 16);
	woke_with(f, 8);
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 1);
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 4 * WRITE_4K);
	/* A second give-up pauses it for four. */
	assert_int_equal(wakeup_expire(&f->w, f->c.coalesce_until), 0);
	assert_int_equal(f->c.seen_at_once, 8);
	for (int i = 0; i < 4; i++) {
		woke_with(f, 8);
		assert_int_equal(socket_lowat(f), 1);
	}
	woke_with(f, 8);
	assert_int_equal(socket_lowat(f), 2 * WRITE_4K);
}

static void test_pause_is_bounded_and_forgiven(void **state)
{
	struct fixture *f = *state;
	unsigned strikes;

	woke_with(f, 32);
	for (int i = 0; i < 40; i++) {
		f->c.seen_at_once = 32;
		f->c.coalesce_skip = 0;
		woke_with(f, 8);
		assert_int_equal(wakeup_expire(&f->w, f->c.coalesce_until), 0);
	}
	/* However often waits give up, coalescing pauses for 4096 wake-ups at most. */
	assert_int_equal(f->c.coalesce_strikes, 12);
	assert_int_equal(f->c.coalesce_skip, 4096);
	strikes = f->c.coalesce_strikes;
	f->c.coalesce_skip = 0;
	f->c.seen_at_once = 32;
	/* Waits that end with what they waited for earn one back every 64. */
	for (int i = 0; i < 64 * 2 + 1; i++)
		woke_with(f, 8);
	assert_int_equal(f->c.coalesce_strikes, strikes - 2);
}

/* A PAYLOAD_MAPPED WRITE of len bytes whose payload is still to come. */
static void mapped_write(struct fixture *f, size_t len)
{
	f->c.have_request = true;
	f->c.mode = PAYLOAD_MAPPED;
	f->c.verdict.payload = len;
}

#define PAIR(len) (2 * (len) + NBD_REQUEST_SIZE)

static void test_mapped_pair_only_behind_a_mapped_write(void **state)
{
	struct fixture *f = *state;

	/* The first large WRITE waits for its own payload, with no timer. */
	mapped_write(f, 256 << 10);
	assert_int_equal(wakeup_mapped_wait(&f->c, 256 << 10), 0);
	assert_int_equal(socket_lowat(f), 256 << 10);
	assert_int_equal(f->c.coalesce_until, 0);
	wakeup_mapped_taken(&f->c, 256 << 10);
	/* One behind it waits for a pair, until its timer. */
	assert_int_equal(wakeup_mapped_wait(&f->c, 256 << 10), 0);
	assert_int_equal(socket_lowat(f), PAIR(256 << 10));
	assert_true(f->c.coalesce_until > now_us());
	assert_true(f->c.coalesce_mapped);
	/* The end of that wake-up leaves the pair's wait and its timer alone. */
	f->c.mapped_waiting = true;
	woke_with(f, 1);
	assert_int_equal(socket_lowat(f), PAIR(256 << 10));
	assert_true(f->c.coalesce_until != 0);
	/* Taken with the pair in the socket: the timer stops, the wait counts as kept. */
	f->c.mapped_waiting = false;
	wakeup_mapped_taken(&f->c, PAIR(256 << 10));
	assert_int_equal(f->c.coalesce_until, 0);
	assert_false(f->c.coalesce_mapped);
	assert_int_equal(f->c.coalesce_kept, 1);
	assert_int_equal(f->c.mapped_run, 2);
}

static void test_mapped_pair_given_up(void **state)
{
	struct fixture *f = *state;
	int64_t until;

	f->c.mapped_run = 1;
	mapped_write(f, 1 << 20);
	assert_int_equal(wakeup_mapped_wait(&f->c, 1 << 20), 0);
	until = f->c.coalesce_until;
	/* The wait lasts longer for more bytes: 100 us and a microsecond per KiB. */
	assert_true(until - now_us() > COALESCE_WAIT_US + 1024);
	/* Given up: back to the one payload, whole (not any byte), and a strike. */
	assert_int_equal(wakeup_expire(&f->w, until), 0);
	assert_int_equal(socket_lowat(f), 1 << 20);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_false(f->c.coalesce_mapped);
	assert_int_equal(f->c.coalesce_strikes, 1);
	/* Paused for two waits, then a pair again. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(wakeup_mapped_wait(&f->c, 1 << 20), 0);
		assert_int_equal(socket_lowat(f), 1 << 20);
		assert_int_equal(f->c.coalesce_until, 0);
	}
	assert_int_equal(wakeup_mapped_wait(&f->c, 1 << 20), 0);
	assert_int_equal(socket_lowat(f), PAIR(1 << 20));
	/* Taken before the pair came (the first payload alone was there): no strike, no credit. */
	wakeup_mapped_taken(&f->c, 1 << 20);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_int_equal(f->c.coalesce_kept, 0);
	assert_int_equal(f->c.coalesce_strikes, 1);
}

static void test_mapped_pair_refused(void **state)
{
	struct fixture *f = *state;
	int rcvbuf = 256 << 10;

	/* A fixed receive buffer caps SO_RCVLOWAT at half of it (the kernel doubles the value). */
	assert_int_equal(setsockopt(f->server, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
	f->c.mapped_run = 1;
	mapped_write(f, 128 << 10);
	assert_int_equal(wakeup_mapped_wait(&f->c, 128 << 10), 0);
	/* The pair is refused: the payload alone, and the socket still waits for payloads. */
	assert_int_equal(socket_lowat(f), 128 << 10);
	assert_int_equal(f->c.coalesce_until, 0);
	assert_int_equal(f->c.lowat_max, MAPPED_PAYLOAD_MAX);
	assert_int_equal(f->c.lowat_refused, PAIR(128 << 10));
	/* Not asked again for as much. */
	assert_int_equal(wakeup_mapped_wait(&f->c, 128 << 10), 0);
	assert_int_equal(socket_lowat(f), 128 << 10);
	assert_int_equal(f->c.lowat_refused, PAIR(128 << 10));
}

static void test_mapped_pair_behind_other_requests(void **state)
{
	struct fixture *f = *state;

	/* A coalescing wait for small requests ended with a wake-up that began a large WRITE behind
	 * one: the pair's wait replaces it, with its own timer. */
	woke_with(f, 32);
	assert_true(f->c.coalesce_until != 0);
	f->c.mapped_run = 1;
	mapped_write(f, 256 << 10);
	assert_int_equal(wakeup_mapped_wait(&f->c, 256 << 10), 0);
	assert_true(f->c.coalesce_mapped);
	assert_int_equal(f->c.coalesce_kept, 1);
	/* Once no payload waits, the pair's wait is over: any byte again. */
	f->c.have_request = false;
	woke_with(f, 1);
	assert_false(f->c.coalesce_mapped);
	assert_int_equal(socket_lowat(f), 1);
}

static void test_mapped_pair_accounting(void **state)
{
	struct fixture *f = *state;

	/* The pause after a give-up counts only waits that could have been for a pair: the first
	 * large WRITE of a run leaves it alone. */
	f->c.coalesce_skip = 2;
	mapped_write(f, 256 << 10);
	assert_int_equal(wakeup_mapped_wait(&f->c, 256 << 10), 0);
	assert_int_equal(f->c.coalesce_skip, 2);
	/* A pair's wait that ends with its payload sent to the pipe (woken with less than it) earns
	 * no credit, and its timer stops. */
	f->c.coalesce_skip = 0;
	f->c.mapped_run = 1;
	assert_int_equal(wakeup_mapped_wait(&f->c, 256 << 10), 0);
	assert_true(f->c.coalesce_mapped);
	f->c.mode = PAYLOAD_PIPE;
	woke_with(f, 0);
	assert_int_equal(f->c.coalesce_kept, 0);
	assert_false(f->c.coalesce_mapped);
}

static void test_mapped_payload_not_yet_waited_for(void **state)
{
	struct fixture *f = *state;

	/* A pair's wait ended early (the first payload was there), and the wake-up ended on the header
	 * of a smaller WRITE, its wait not set up yet: the socket must not go on waiting for the pair,
	 * which that WRITE alone never fills. Any byte wakes the loop to set it up. */
	f->c.mapped_run = 1;
	mapped_write(f, 1 << 20);
	assert_int_equal(wakeup_mapped_wait(&f->c, 1 << 20), 0);
	assert_int_equal(socket_lowat(f), PAIR(1 << 20));
	wakeup_mapped_taken(&f->c, 1 << 20);
	mapped_write(f, 64 << 10);
	wakeup_rearm(&f->c, 1, NBD_REQUEST_SIZE + (1 << 20), false);
	assert_int_equal(socket_lowat(f), 1);
	assert_int_equal(f->c.coalesce_until, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shallow_pipeline_never_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_pipeline_waits_for_a_quarter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_left_is_not_held_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_that_cannot_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_payload_wait_is_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_payload_wait_outlives_the_timer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_given_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_is_bounded_and_forgiven, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_pair_only_behind_a_mapped_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mapped_pair_given_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_pair_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_pair_behind_other_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mapped_payload_not_yet_waited_for, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mapped_pair_accounting, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
