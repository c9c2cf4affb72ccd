/*
 * The end of every run: "quill: exit N" on the console, then QEMU's
 * isa-debug-exit device (port 0xf4), which makes QEMU exit with (N << 1) | 1.
 * Without that device the write goes nowhere and the CPU halts with
 * interrupts off, having said its status.
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

#define DEBUG_EXIT_PORT 0xf4

void quill_exit(int code)
{
	irq_disable();
	console_flush();
	printf("quill: exit %d\n", code);
	outl(DEBUG_EXIT_PORT, (uint32_t)code);
	cpu_halt_forever();
}
