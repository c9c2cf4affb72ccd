/*
 * The event loop's one primitive. Checking for work with interrupts masked
 * and then executing "sti; hlt" closes the window in which an interrupt
 * could arrive after the check but before the halt: sti's one-instruction
 * shadow delays delivery until hlt has begun, and the interrupt ends it.
 *
 * Idle polling: before halting, the CPU waits up to idle_poll_us with
 * interrupts enabled, watching the count of interrupts taken (what Linux's
 * cpuidle-haltpoll does in KVM guests). An interrupt that arrives then is
 * handled without the CPU leaving and re-entering the halted state; under
 * TCG that saves QEMU a wake-up of the vCPU thread per completion batch
 * (README, Performance). The wait is spent the same way either way: it
 * counts as idle, not busy.
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

#define IDLE_POLL_US_DEFAULT 200
#define IDLE_POLL_US_MAX 100000

static int idle_poll_valid(const char *v)
{
	uint64_t us;
	return cmdline_parse_uint(v, &us) || us > IDLE_POLL_US_MAX ? -EINVAL : 0;
}
CMDLINE_KEY(idle_poll, "idle_poll_us", idle_poll_valid,
	    "microseconds to wait for an interrupt before halting the CPU (0..100000; 0: halt at once; default 200)");

static uint64_t idle_ticks;
static uint64_t idle_poll_ticks;

void event_init(void)
{
	uint64_t us = IDLE_POLL_US_DEFAULT;
	const char *v = cmdline_get("idle_poll_us");
	if (v)
		cmdline_parse_uint(v, &us); /* validated when the command line was parsed */
	idle_poll_ticks = ns_to_tsc(us * 1000);
}

/* With interrupts masked on entry and exit: true if an interrupt came within the poll window. */
static bool idle_poll(void)
{
	uint64_t seen = irq_events_taken(), start = rdtsc();
	irq_enable();
	while (irq_events_taken() == seen && rdtsc() - start < idle_poll_ticks)
		cpu_spin_relax();
	irq_disable();
	/* One that came between the last look and the cli counts too: don't halt past it. */
	return irq_events_taken() != seen;
}

void wait_for_interrupt(bool (*pending)(void *ctx), void *ctx)
{
	irq_disable();
	if (pending && pending(ctx)) {
		irq_enable();
		return;
	}
	uint64_t t0 = rdtsc();
	if (idle_poll_ticks && idle_poll()) {
		idle_ticks += rdtsc() - t0;
		irq_enable();
		return;
	}
	cpu_sti_hlt();
	/* Handlers for the wake-up ran before this line; their cost counts as idle, a small error. */
	idle_ticks += rdtsc() - t0;
}

uint64_t event_idle_ticks(void)
{
	return idle_ticks;
}
