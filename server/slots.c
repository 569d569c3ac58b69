/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/slots.h"

struct slot {
	struct slot *next;
	unsigned used;
	char name[]; /* entries stay once made: one per export name ever served */
};

void slots_init(struct slots *s)
{
	*s = (struct slots){ .list = NULL };
	pthread_mutex_init(&s->lock, NULL);
}

void slots_free(struct slots *s)
{
	for (struct slot *n, *p = s->list; p; p = n) {
		n = p->next;
		free(p);
	}
	s->list = NULL;
	pthread_mutex_destroy(&s->lock);
}

static struct slot *find(struct slots *s, const char *name, bool create)
{
	struct slot *p;

	for (p = s->list; p; p = p->next)
		if (strcmp(p->name, name) == 0)
			return p;
	if (!create)
		return NULL;
	p = calloc(1, sizeof(*p) + strlen(name) + 1);
	if (!p)
		return NULL;
	strcpy(p->name, name);
	p->next = s->list;
	s->list = p;
	return p;
}

int slots_take(struct slots *s, const char *name, unsigned export_max, unsigned total_max,
	       bool take)
{
	struct slot *p;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	p = find(s, name, take);
	if (take && !p)
		r = -ENOMEM;
	else if (export_max && p && p->used >= export_max)
		r = -EBUSY;
	else if (total_max && s->total >= total_max)
		r = -EUSERS;
	else if (take) {
		p->used++;
		s->total++;
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

void slots_give(struct slots *s, const char *name)
{
	struct slot *p;

	pthread_mutex_lock(&s->lock);
	p = find(s, name, false);
	if (p && p->used) {
		p->used--;
		s->total--;
	}
	pthread_mutex_unlock(&s->lock);
}
