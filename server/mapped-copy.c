/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common/io.h"
#include "server/mapped-copy.h"

/* Set while this thread copies: where SIGBUS returns to. */
static _Thread_local sigjmp_buf *volatile copy_guard;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
	sigjmp_buf *guard = copy_guard;

	(void)info;
	(void)context;
	if (guard)
		siglongjmp(*guard, 1);
	/* Not a guarded copy: the faulting access runs again without a handler and ends the process
	 * with SIGBUS, exactly as if none had been installed. */
	(void)signal(sig, SIG_DFL);
}

static int init_result;

static void install(void)
{
	/* SA_NODEFER leaves SIGBUS unblocked when the handler jumps out, so that the jump needs no
	 * saved signal mask, and sigsetjmp() no system call. */
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	init_result = sigaction(SIGBUS, &sa, NULL) < 0 ? negative_errno() : 0;
}

int mapped_copy_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	(void)pthread_once(&once, install);
	return init_result;
}

int mapped_copy(void *dst, const void *src, size_t len)
{
	sigjmp_buf guard;

	if (sigsetjmp(guard, 0)) {
		copy_guard = NULL;
		return -EFAULT;
	}
	copy_guard = &guard;
	/* The fences keep the compiler from moving the copy outside the guard. */
	atomic_signal_fence(memory_order_seq_cst);
	memcpy(dst, src, len);
	atomic_signal_fence(memory_order_seq_cst);
	copy_guard = NULL;
	return 0;
}
