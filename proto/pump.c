/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "common/macro.h"
#include "proto/pump.h"

void msg_pump_free(struct msg_pump *p)
{
	buffer_free(&p->out);
	buffer_free(&p->in);
	p->out_done = p->in_want = 0;
}

const void *msg_pump_output(const struct msg_pump *p, size_t *ret_len)
{
	*ret_len = p->out.len - p->out_done;
	return p->out.data + p->out_done;
}

bool msg_pump_output_done(struct msg_pump *p, size_t written)
{
	p->out_done += MIN(written, p->out.len - p->out_done);
	if (p->out_done < p->out.len)
		return false;
	buffer_reset(&p->out);
	p->out_done = 0;
	return true;
}

void msg_pump_expect(struct msg_pump *p, size_t len)
{
	buffer_reset(&p->in);
	p->in_want = len;
}

size_t msg_pump_input_wanted(const struct msg_pump *p)
{
	return p->in_want - p->in.len;
}

ssize_t msg_pump_feed(struct msg_pump *p, const void *buf, size_t len)
{
	size_t take = MIN(len, p->in_want - p->in.len);

	buffer_append(&p->in, buf, take);
	if (buffer_error(&p->in) < 0)
		return -ENOMEM;
	return (ssize_t)take;
}
