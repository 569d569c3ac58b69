/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nbd-client commands. Each logs its own failure once and returns a negative errno. */
#pragma once

#include "client/options.h"

#define CLIENT_CONNECT_TIMEOUT_MS 30000
#define CLIENT_NEGOTIATE_TIMEOUT_MS 60000

int cmd_list(const struct client_options *o);
int cmd_info(const struct client_options *o);
int cmd_attach(const struct client_options *o);
int cmd_detach(const struct client_options *o);
int cmd_status(const struct client_options *o);
/* Asks a device's supervisor to reconnect now (SIGHUP) and waits until it has. */
int cmd_reconnect(const struct client_options *o);
/* -c: prints the pid and returns 0 when connected, 1 when not; negative errno on failure. */
int cmd_check(const struct client_options *o);
