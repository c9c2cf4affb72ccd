/*
 * The event loop's one primitive. Checking for work with interrupts masked
 * and then executing "sti; hlt" closes the window in which an interrupt
 * could arrive after the check but before the halt: sti's one-instruction
 * shadow delays delivery until hlt has begun, and the interrupt ends it.
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

static uint64_t idle_ticks;

void wait_for_interrupt(bool (*pending)(void *ctx), void *ctx)
{
	irq_disable();
	if (pending && pending(ctx)) {
		irq_enable();
		return;
	}
	uint64_t t0 = rdtsc();
	cpu_sti_hlt();
	/* Handlers for the wake-up ran before this line; their cost counts as idle, a small error. */
	idle_ticks += rdtsc() - t0;
}

uint64_t event_idle_ticks(void)
{
	return idle_ticks;
}
