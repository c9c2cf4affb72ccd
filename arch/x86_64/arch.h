/*
 * arch/x86_64: everything that needs inline assembly lives behind this header.
 *
 *   port I/O          inb/outb/inw/outw/inl/outl
 *   MMIO              mmio_read8..64 / mmio_write8..64 (the only volatile)
 *   barriers          barrier_producer/consumer/sync, named by role
 *   CPU               cpuid, rdmsr/wrmsr, rdtsc, interrupts on/off, hlt
 *   boot.S            multiboot2 entry, bootstrap page tables, long mode
 *   paging.c          final identity map, map_mmio()
 *   idt.c, isr.S      IDT, exception reports, irq_register()
 *   apic.c            8259 PIC, LAPIC, IOAPIC, MSI message composition
 *   acpi.c            RSDP, MADT, HPET, FADT (PM timer), MCFG
 *   tsc.c             TSC calibration, time_ns(), udelay()
 *   cpu.c             what the CPU is (TCG or not: whether spin loops pause)
 */
#ifndef ARCH_X86_64_ARCH_H
#define ARCH_X86_64_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- port I/O ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* ---- MMIO: single aligned accesses of exactly the named width ---- */
static inline uint8_t mmio_read8(const void *p) { return *(const volatile uint8_t *)p; }
static inline uint16_t mmio_read16(const void *p) { return *(const volatile uint16_t *)p; }
static inline uint32_t mmio_read32(const void *p) { return *(const volatile uint32_t *)p; }
static inline uint64_t mmio_read64(const void *p) { return *(const volatile uint64_t *)p; }
static inline void mmio_write8(void *p, uint8_t v) { *(volatile uint8_t *)p = v; }
static inline void mmio_write16(void *p, uint16_t v) { *(volatile uint16_t *)p = v; }
static inline void mmio_write32(void *p, uint32_t v) { *(volatile uint32_t *)p = v; }
static inline void mmio_write64(void *p, uint64_t v) { *(volatile uint64_t *)p = v; }

#include "barrier.h"

/* ---- CPU ---- */
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }
static inline uint64_t read_cr3(void) { uint64_t v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }
static inline void invlpg(uintptr_t va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline void cpu_pause(void) { __asm__ volatile("pause"); }
/*
 * Hardware random numbers (Intel SDM vol. 2, RDRAND and RDSEED): CF=1 when
 * the value is valid. Callers check CPUID first (RDRAND: CPUID.1:ECX[30];
 * RDSEED: CPUID.(7,0):EBX[18]) and retry a few times on CF=0.
 */
static inline bool rdrand64(uint64_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdrand %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}
static inline bool rdseed64(uint64_t *v)
{
	uint8_t ok;
	__asm__ volatile("rdseed %0; setc %1" : "=r"(*v), "=qm"(ok) : : "cc");
	return ok;
}

/* cpu.c: whether spin loops should pause (false under QEMU TCG); set by cpu_init() at boot. */
extern bool cpu_spin_pause;
void cpu_init(void);
/* One turn of a spin-wait loop: pause where that helps, a compiler barrier otherwise. */
static inline void cpu_spin_relax(void)
{
	if (cpu_spin_pause)
		cpu_pause();
	else
		__asm__ volatile("" : : : "memory");
}

static inline void irq_disable(void) { __asm__ volatile("cli" : : : "memory"); }
static inline void irq_enable(void) { __asm__ volatile("sti" : : : "memory"); }
static inline bool irq_enabled(void)
{
	uint64_t flags;
	__asm__ volatile("pushfq; popq %0" : "=r"(flags));
	return flags & (1u << 9);
}
/* Save-and-disable for short critical sections that may run with IF either way. */
static inline uint64_t irq_save(void)
{
	uint64_t flags;
	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) : : "memory");
	return flags;
}
static inline void irq_restore(uint64_t flags)
{
	if (flags & (1u << 9))
		irq_enable();
}
/*
 * sti takes effect after the next instruction, so "sti; hlt" cannot lose an
 * interrupt that arrives between the two: it is delivered after hlt starts
 * and wakes it (SDM vol. 2B, STI).
 */
static inline void cpu_sti_hlt(void) { __asm__ volatile("sti; hlt" : : : "memory"); }
__attribute__((noreturn)) static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- paging.c ---- */
/* Map [phys, phys+size) uncached and return its (identity) virtual address, or NULL. */
void *map_mmio(uint64_t phys, uint64_t size);
struct boot_info;
/* Build the final identity map from the memory map and switch to it. */
void paging_build(const struct boot_info *bi);
unsigned paging_phys_bits(void);
bool paging_is_mapped(uint64_t addr);

/* ---- idt.c ---- */
typedef void (*irq_handler_fn)(void *ctx);
void idt_init(void);
/* Route vector (32..255) to handler; returns 0 or -EBUSY/-EINVAL. */
int irq_register(int vector, irq_handler_fn handler, void *ctx);
void irq_unregister(int vector);
/* A free vector for a device (MSI/MSI-X or IOAPIC routing), or -ENOSPC. */
int irq_alloc_vector(void);
/* Unregister and give back a vector from irq_alloc_vector(). */
void irq_free_vector(int vector);
/* Count of interrupts taken per vector since boot. */
uint64_t irq_count(int vector);
/*
 * Interrupts dispatched so far (all vectors above the exceptions): a spin
 * with interrupts enabled watches it for the next one, so it is read with
 * an atomic load, never cached in a register across the loop.
 */
extern uint64_t irq_events;
static inline uint64_t irq_events_taken(void) { return __atomic_load_n(&irq_events, __ATOMIC_RELAXED); }

/* ---- apic.c ---- */
void apic_init(void);
void lapic_eoi(void);
uint32_t lapic_id(void);
/* Route a GSI through the IOAPIC to vector; level/active-low as the bus requires. */
int ioapic_route(uint32_t gsi, int vector, bool level, bool active_low);
void ioapic_mask(uint32_t gsi, bool masked);
/* 8259: legacy IRQ line (0..15) delivered as vector 0x20+irq when unmasked. */
#define PIC_VECTOR_BASE 0x20
void pic_unmask(unsigned irq);
void pic_mask(unsigned irq);
void pic_eoi(unsigned irq);
/*
 * Make a line level-triggered at the 8259 (ELCR), as a shared PCI INTx line
 * must be: an edge-triggered one misses a device that asserts while
 * another still holds the line. 0 (*was_level: it already was), -EINVAL
 * for an edge-only line (0, 1, 2, 8, 13), -EIO when the bit does not stick.
 */
int pic_set_level(unsigned irq, bool *was_level);
/* IRQ 7/15 raised with nothing in service (SDM 3A; 8259A datasheet): ignore it. */
bool pic_spurious(unsigned irq);
/* MSI / MSI-X message for `vector` delivered to this CPU (SDM vol. 3A, 11.11). */
uint64_t msi_address(int vector);
uint32_t msi_data(int vector);
/* One-shot LAPIC timer interrupt on vector after `ticks` bus-clock ticks (divide by 16). */
void lapic_timer_oneshot(int vector, uint32_t ticks);
void lapic_self_ipi(int vector);
/* Measure the timer's rate against the TSC (after tsc_init); then arm it in nanoseconds. */
void lapic_timer_calibrate(void);
void lapic_timer_oneshot_ns(int vector, uint64_t ns);

/* ---- acpi.c ---- */
void acpi_init(const void *rsdp, size_t len);
/* Tables found (0 when absent). */
uint64_t acpi_ioapic_base(void);
uint32_t acpi_ioapic_gsi_base(void);
uint64_t acpi_hpet_base(void);
uint16_t acpi_pm_timer_port(void);
/* ISA IRQ -> GSI with its flags, from MADT interrupt source overrides. */
uint32_t acpi_isa_irq_to_gsi(unsigned irq, bool *level, bool *active_low);
/* PCI ECAM window for segment 0 (q35), 0 when absent. */
uint64_t acpi_mcfg_base(uint8_t *bus_start, uint8_t *bus_end);

/* ---- tsc.c ---- */
void tsc_init(void);
uint64_t tsc_hz(void);
uint64_t time_ns(void);
void udelay(uint64_t us);
static inline uint64_t tsc_to_ns(uint64_t ticks)
{
	extern uint64_t tsc_ns_mult; /* ns per tick, 32.32 fixed point */
	return (uint64_t)(((unsigned __int128)ticks * tsc_ns_mult) >> 32);
}
uint64_t ns_to_tsc(uint64_t ns);

#endif
