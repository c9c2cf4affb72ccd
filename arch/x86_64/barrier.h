/*
 * Memory barriers for sharing memory with a device, named by role
 * (as OpenBSD's virtio_membar_*). x86-64 is TSO: stores are not reordered with
 * stores, loads not with loads, so producer and consumer need only stop the
 * compiler. The one reordering x86 does, a later load passing an earlier
 * store, needs mfence: that is the sync barrier.
 *
 * No other header: host unit tests include this file as is.
 */
#ifndef ARCH_X86_64_BARRIER_H
#define ARCH_X86_64_BARRIER_H

/* Make earlier stores (ring entries) visible before later stores (ring index). */
static inline void barrier_producer(void) { __asm__ volatile("" : : : "memory"); }
/* Make the read of an index happen before reads of the entries it covers. */
static inline void barrier_consumer(void) { __asm__ volatile("" : : : "memory"); }
/* Order an earlier store before a later load (event-idx, re-arming interrupts). */
static inline void barrier_sync(void) { __asm__ volatile("mfence" : : : "memory"); }

#endif
