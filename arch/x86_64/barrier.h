/*
 * Memory barriers for sharing memory with a device, named by role
 * (as OpenBSD's virtio_membar_*). x86-64 is TSO: stores are not reordered with
 * stores, loads not with loads, so producer and consumer need only stop the
 * compiler. The one reordering x86 does, a later load passing an earlier
 * store, needs mfence: that is the sync barrier.
 *
 * These are the barriers for hardware devices, not only for a device that is
 * software on another CPU, so they serve VIRTIO_F_ORDER_PLATFORM (virtio
 * 1.2, 6.1) as they are. Linux's virtio_ring turns weak_barriers off with
 * that feature: virt_wmb/virt_rmb become dma_wmb/dma_rmb, which on x86 are
 * compiler barriers too (a PCI device snooping write-back memory sees our
 * stores in program order), and virt_mb (a locked add) becomes mb(), which
 * is mfence, as barrier_sync() always is. This holds while rings and
 * buffers are write-back RAM (the identity map's): write-combining or
 * non-temporal stores would need sfence.
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
