/*
 * Interrupt controllers: the 8259A pair (remapped to 0x20-0x2f, masked until
 * a driver unmasks a line), the local APIC (EOI, spurious vector, one-shot
 * timer, self-IPI) and the I/O APIC found through the ACPI MADT.
 *
 * 8259 interrupts reach the CPU through LAPIC LINT0 in ExtINT mode (virtual
 * wire, MP spec 3.6.2.2); they need an EOI at the 8259 only.
 */
#include "arch/x86_64/apic_reg.h"
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

static uint8_t *lapic;
static uint8_t *ioapic;
static uint32_t ioapic_gsi_base;
static unsigned ioapic_pins;
static uint8_t pic_mask_bits[2] = {0xff, 0xff};

static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(lapic + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(lapic + reg, v); }

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(ioapic + IOAPIC_REGSEL, reg);
	return mmio_read32(ioapic + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(ioapic + IOAPIC_REGSEL, reg);
	mmio_write32(ioapic + IOAPIC_WIN, v);
}

CMDLINE_KEY(pic_elcr_reset, "pic.elcr_reset", cmdline_valid_bool,
	    "1: every 8259 line edge-triggered at boot (ELCR cleared), as firmware that never programs the ELCR leaves them");

static uint16_t pic_elcr_port(unsigned irq)
{
	return irq < 8 ? PIC_ELCR1 : PIC_ELCR2;
}

int pic_set_level(unsigned irq, bool *was_level)
{
	if (irq >= 16 || (PIC_ELCR_EDGE_ONLY & (1u << irq)))
		return -EINVAL;
	uint8_t bit = (uint8_t)(1u << (irq % 8));
	uint64_t flags = irq_save();
	uint8_t v = inb(pic_elcr_port(irq));
	*was_level = (v & bit) != 0;
	if (!*was_level)
		outb(pic_elcr_port(irq), v | bit);
	bool level = (inb(pic_elcr_port(irq)) & bit) != 0;
	irq_restore(flags);
	return level ? 0 : -EIO;
}

static void pic_init(void)
{
	outb(PIC1_CMD, PIC_ICW1_INIT);
	outb(PIC2_CMD, PIC_ICW1_INIT);
	outb(PIC1_DATA, PIC_VECTOR_BASE);     /* ICW2: vector base */
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 1u << 2);             /* ICW3: slave on IRQ2 */
	outb(PIC2_DATA, 2);
	outb(PIC1_DATA, PIC_ICW4_8086);
	outb(PIC2_DATA, PIC_ICW4_8086);
	/* IRQ2 (cascade) stays open so slave lines work once unmasked. */
	pic_mask_bits[0] = 0xff & ~(1u << 2);
	pic_mask_bits[1] = 0xff;
	outb(PIC1_DATA, pic_mask_bits[0]);
	outb(PIC2_DATA, pic_mask_bits[1]);
	if (cmdline_flag("pic.elcr_reset", false)) {
		outb(PIC_ELCR1, 0);
		outb(PIC_ELCR2, 0);
		printf("pic: ELCR cleared (pic.elcr_reset=1): every line edge-triggered\n");
	}
}

void pic_unmask(unsigned irq)
{
	if (irq >= 16)
		return;
	uint64_t flags = irq_save();
	pic_mask_bits[irq / 8] &= ~(1u << (irq % 8));
	outb(irq < 8 ? PIC1_DATA : PIC2_DATA, pic_mask_bits[irq / 8]);
	irq_restore(flags);
}

void pic_mask(unsigned irq)
{
	if (irq >= 16 || irq == 2)
		return;
	uint64_t flags = irq_save();
	pic_mask_bits[irq / 8] |= 1u << (irq % 8);
	outb(irq < 8 ? PIC1_DATA : PIC2_DATA, pic_mask_bits[irq / 8]);
	irq_restore(flags);
}

void pic_eoi(unsigned irq)
{
	if (irq >= 8)
		outb(PIC2_CMD, PIC_OCW2_EOI);
	outb(PIC1_CMD, PIC_OCW2_EOI);
}

bool pic_spurious(unsigned irq)
{
	if (irq != 7 && irq != 15)
		return false;
	uint16_t cmd = irq == 7 ? PIC1_CMD : PIC2_CMD;
	outb(cmd, PIC_OCW3_READ_ISR);
	if (inb(cmd) & 0x80)
		return false;
	if (irq == 15)
		outb(PIC1_CMD, PIC_OCW2_EOI); /* the master did see the cascade */
	return true;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

uint32_t lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

uint64_t msi_address(int vector)
{
	(void)vector;
	return MSI_ADDR_BASE | MSI_ADDR_DEST_ID(lapic_id());
}

uint32_t msi_data(int vector)
{
	return MSI_DATA_EDGE | MSI_DATA_FIXED | (uint32_t)(vector & 0xff);
}

static uint64_t lapic_timer_hz; /* after dividing by 16 */

/* The LAPIC timer's rate is the bus clock's (1 GHz in QEMU, real on KVM): measure it against the TSC. */
void lapic_timer_calibrate(void)
{
	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | LAPIC_TIMER_ONESHOT);
	lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
	uint64_t t0 = rdtsc(), wait = tsc_hz() / 100;
	uint32_t c0 = lapic_read(LAPIC_TIMER_CUR);
	while (rdtsc() - t0 < wait)
		cpu_pause();
	uint32_t c1 = lapic_read(LAPIC_TIMER_CUR);
	uint64_t dt = rdtsc() - t0;
	lapic_write(LAPIC_TIMER_INIT, 0);
	lapic_timer_hz = c0 > c1 ? (uint64_t)(c0 - c1) * tsc_hz() / dt : 0;
	if (!lapic_timer_hz) {
		printf("apic: LAPIC timer does not count; assuming 62.5 MHz\n");
		lapic_timer_hz = 62500000;
	}
}

void lapic_timer_oneshot_ns(int vector, uint64_t ns)
{
	uint64_t ticks = (uint64_t)((unsigned __int128)ns * lapic_timer_hz / 1000000000ull);
	lapic_timer_oneshot(vector, ticks == 0 ? 1 : ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks);
}

void lapic_timer_oneshot(int vector, uint32_t ticks)
{
	lapic_write(LAPIC_TIMER_DIV, LAPIC_TIMER_DIV16);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_ONESHOT | (uint32_t)vector);
	lapic_write(LAPIC_TIMER_INIT, ticks);
}

void lapic_self_ipi(int vector)
{
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, LAPIC_ICR_SELF | LAPIC_ICR_ASSERT | LAPIC_ICR_FIXED | (uint32_t)vector);
	for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_PENDING); i++)
		cpu_pause();
}

int ioapic_route(uint32_t gsi, int vector, bool level, bool active_low)
{
	if (!ioapic || gsi < ioapic_gsi_base || gsi >= ioapic_gsi_base + ioapic_pins)
		return -EINVAL;
	if (vector < 32 || vector > 254)
		return -EINVAL;
	uint32_t pin = gsi - ioapic_gsi_base;
	uint32_t lo = (uint32_t)vector | (level ? IOAPIC_RED_LEVEL : 0) |
		      (active_low ? IOAPIC_RED_ACTIVE_LOW : 0);
	uint64_t flags = irq_save();
	ioapic_write(IOAPIC_REG_REDTBL(pin) + 1, lapic_id() << 24);
	ioapic_write(IOAPIC_REG_REDTBL(pin), lo);
	irq_restore(flags);
	return 0;
}

void ioapic_mask(uint32_t gsi, bool masked)
{
	if (!ioapic || gsi < ioapic_gsi_base || gsi >= ioapic_gsi_base + ioapic_pins)
		return;
	uint32_t pin = gsi - ioapic_gsi_base;
	uint64_t flags = irq_save();
	uint32_t lo = ioapic_read(IOAPIC_REG_REDTBL(pin));
	lo = masked ? (lo | IOAPIC_RED_MASKED) : (lo & ~IOAPIC_RED_MASKED);
	ioapic_write(IOAPIC_REG_REDTBL(pin), lo);
	irq_restore(flags);
}

void apic_init(void)
{
	pic_init();

	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(d & (1u << 9)))
		panic("apic: this CPU has no local APIC (CPUID.1:EDX.APIC)");
	uint64_t base = rdmsr(MSR_APIC_BASE);
	wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic = map_mmio(base & APIC_BASE_ADDR_MASK, 4096);
	if (!lapic)
		panic("apic: cannot map the local APIC at %#llx", (unsigned long long)base);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_EXTINT); /* 8259 virtual wire */
	lapic_write(LAPIC_LVT_LINT1, LAPIC_LVT_NMI);
	lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | 0xff);
	lapic_write(LAPIC_ESR, 0);
	lapic_eoi();

	uint64_t io_base = acpi_ioapic_base();
	bool from_madt = io_base != 0;
	if (!io_base)
		io_base = IOAPIC_DEFAULT_BASE;
	ioapic = map_mmio(io_base, 4096);
	ioapic_gsi_base = from_madt ? acpi_ioapic_gsi_base() : 0;
	uint32_t ver = ioapic ? ioapic_read(IOAPIC_REG_VER) : 0xffffffffu;
	if (!ioapic || ver == 0xffffffffu) {
		printf("apic: no I/O APIC at %#llx; legacy interrupts go through the 8259 only\n",
		       (unsigned long long)io_base);
		ioapic = NULL;
	} else {
		ioapic_pins = IOAPIC_VER_MAXREDIR(ver) + 1;
		for (unsigned i = 0; i < ioapic_pins; i++)
			ioapic_write(IOAPIC_REG_REDTBL(i), IOAPIC_RED_MASKED);
	}
	printf("apic: LAPIC id %u at %#llx; I/O APIC at %#llx (%s), GSI %u-%u\n", lapic_id(),
	       (unsigned long long)(base & APIC_BASE_ADDR_MASK), (unsigned long long)io_base,
	       from_madt ? "MADT" : "default address", ioapic_gsi_base,
	       ioapic_gsi_base + (ioapic_pins ? ioapic_pins - 1 : 0));
}
