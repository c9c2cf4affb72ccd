/* Local APIC, I/O APIC, 8259A and PIT registers (SDM vol. 3A ch. 11; 82093AA and 8259A datasheets; 8254 PIT). */
#ifndef ARCH_X86_64_APIC_REG_H
#define ARCH_X86_64_APIC_REG_H

#define MSR_APIC_BASE 0x1b
#define  APIC_BASE_ENABLE (1u << 11)
#define  APIC_BASE_ADDR_MASK 0x000ffffffffff000ull

/* Local APIC registers, byte offsets from its base. */
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define  LAPIC_SVR_ENABLE (1u << 8)
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define  LAPIC_ICR_FIXED (0u << 8)
#define  LAPIC_ICR_ASSERT (1u << 14)
#define  LAPIC_ICR_SELF (1u << 18)
#define  LAPIC_ICR_PENDING (1u << 12)
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define  LAPIC_TIMER_ONESHOT (0u << 17)
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define  LAPIC_LVT_MASKED (1u << 16)
#define  LAPIC_LVT_LEVEL (1u << 15)
#define  LAPIC_LVT_EXTINT (7u << 8)
#define  LAPIC_LVT_NMI (4u << 8)
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define  LAPIC_TIMER_DIV16 0x3

/* I/O APIC: index/data window. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VER 0x01
#define  IOAPIC_VER_MAXREDIR(v) (((v) >> 16) & 0xff)
#define IOAPIC_REG_REDTBL(n) (0x10 + 2 * (n))
#define  IOAPIC_RED_MASKED (1u << 16)
#define  IOAPIC_RED_LEVEL (1u << 15)
#define  IOAPIC_RED_ACTIVE_LOW (1u << 13)
#define IOAPIC_DEFAULT_BASE 0xfec00000ull

/* MSI message (SDM 3A, 11.11.1 and 11.11.2). */
#define MSI_ADDR_BASE 0xfee00000u
#define  MSI_ADDR_DEST_ID(id) ((uint32_t)(id) << 12)
#define MSI_DATA_FIXED (0u << 8)
#define MSI_DATA_EDGE (0u << 15)

/* 8259A pair. */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define  PIC_ICW1_INIT 0x11 /* edge, cascade, ICW4 follows */
#define  PIC_ICW4_8086 0x01
#define  PIC_OCW2_EOI 0x20
#define  PIC_OCW3_READ_ISR 0x0b
/*
 * Edge/Level Control Registers (PIIX3 and ICH datasheets, ELCR1/ELCR2): one
 * bit per line, 1 = level-triggered. Lines 0, 1, 2, 8 and 13 are edge-only.
 */
#define PIC_ELCR1 0x4d0 /* lines 0-7 */
#define PIC_ELCR2 0x4d1 /* lines 8-15 */
#define  PIC_ELCR_EDGE_ONLY ((1u << 0) | (1u << 1) | (1u << 2) | (1u << 8) | (1u << 13))

/* 8254 PIT and port 0x61 (channel 2 gate and output). */
#define PIT_HZ 1193182u
#define PIT_CH2 0x42
#define PIT_CMD 0x43
#define  PIT_CMD_CH2_ONESHOT 0xb0 /* channel 2, lobyte/hibyte, mode 0, binary */
#define PORT_61 0x61
#define  PORT_61_GATE2 0x01
#define  PORT_61_SPEAKER 0x02
#define  PORT_61_OUT2 0x20

#endif
