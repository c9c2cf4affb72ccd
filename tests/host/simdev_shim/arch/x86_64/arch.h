/*
 * Host stand-in for arch/x86_64/arch.h, for host tests that build kernel
 * drivers (tests/host/test_vblk.c builds drivers/blk/virtio_blk.c) against a
 * simulated device. Found before the real header through -Itests/host/simdev_shim
 * on those objects only (tests/host/virtq.mk). The barriers are the real
 * ones; interrupt masking does nothing (one thread); the TSC is a fake clock
 * the test advances (simdev_tsc), so watchdogs can be tested without waiting.
 */
#ifndef ARCH_X86_64_ARCH_H
#define ARCH_X86_64_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/barrier.h"

extern uint64_t simdev_tsc;      /* ticks; 1 tick = 1 ns */
extern bool simdev_irqs_masked;  /* what irq_save() would have done */

/* The test's clock; it may also play an interrupt that lands just after the read. */
uint64_t simdev_rdtsc(void);
static inline uint64_t rdtsc(void) { return simdev_rdtsc(); }
void simdev_pause(void);        /* the test's: a spinning guest lets the device run */
static inline void cpu_pause(void) { simdev_pause(); }
static inline void cpu_spin_relax(void) { simdev_pause(); }
static inline uint64_t irq_save(void)
{
	bool was = simdev_irqs_masked;
	simdev_irqs_masked = true;
	return was ? 0 : 1;
}
static inline void irq_restore(uint64_t flags)
{
	if (flags)
		simdev_irqs_masked = false;
}
static inline uint64_t tsc_to_ns(uint64_t ticks) { return ticks; }
static inline uint64_t ns_to_tsc(uint64_t ns) { return ns; }

typedef void (*irq_handler_fn)(void *ctx);
int irq_register(int vector, irq_handler_fn handler, void *ctx);
int irq_alloc_vector(void);
void irq_free_vector(int vector);
void lapic_timer_oneshot_ns(int vector, uint64_t ns);
uint64_t time_ns(void);
void udelay(uint64_t us);

#endif
