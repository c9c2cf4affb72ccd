/* panic(): a kernel invariant broke. Say what, show where, end the run. */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

static volatile int panicking;

void backtrace_from(uint64_t rbp)
{
	/* Frames are [saved rbp][return address]; stop at the first implausible one. */
	for (int depth = 1; depth < 32 && rbp; depth++) {
		if ((rbp & 7) || !paging_is_mapped(rbp) || !paging_is_mapped(rbp + 15))
			break;
		uint64_t *frame = (uint64_t *)(uintptr_t)rbp;
		uint64_t ret = frame[1];
		if (ret < (uintptr_t)kernel_start || ret >= (uintptr_t)kernel_end)
			break;
		printf("    #%d %#018llx\n", depth, (unsigned long long)ret);
		if (frame[0] <= rbp)
			break; /* the stack grows down: callers' frames are higher */
		rbp = frame[0];
	}
}

void panic(const char *fmt, ...)
{
	irq_disable();
	if (panicking) {
		console_write("\nquill: panic while panicking\n", 30);
		quill_exit(QUILL_EXIT_CRASH);
	}
	panicking = 1;
	console_flush();
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("\nquill: PANIC: %s\n", msg);
	printf("  backtrace (addr2line -e build/kernel.elf ADDR):\n");
	backtrace_from((uint64_t)(uintptr_t)__builtin_frame_address(0));
	quill_exit(QUILL_EXIT_CRASH);
}
