/*
 * Just enough ACPI to find interrupt controllers and timers: the RSDP that
 * GRUB copied into the multiboot2 information, then the RSDT/XSDT and the
 * MADT ("APIC"), HPET, FADT ("FACP", for the PM timer) and MCFG tables.
 * Every table is firmware-supplied: its length and checksum are checked
 * before a field is read, and fields are read only inside that length.
 * ACPI 6.4: 5.2.5 (RSDP), 5.2.7/5.2.8 (RSDT/XSDT), 5.2.9 (FADT), 5.2.12 (MADT);
 * IA-PC HPET spec 3.2.4; PCI Firmware spec 4.1.2 (MCFG).
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

struct acpi_sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_sdt_header) == 36, "ACPI table header");

#define ACPI_TABLE_MAX (1u << 20)
#define MADT_IOAPIC 1
#define MADT_ISO 2

static struct {
	uint64_t ioapic_base;
	uint32_t ioapic_gsi_base;
	uint64_t hpet_base;
	uint16_t pm_timer_port;
	uint64_t mcfg_base;
	uint8_t mcfg_bus_start, mcfg_bus_end;
	struct { bool present; uint32_t gsi; uint16_t flags; } iso[16];
} acpi;

static uint8_t acpi_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* A table at phys that is mapped, sane in length and checksum; NULL otherwise. */
static const struct acpi_sdt_header *acpi_table(uint64_t phys)
{
	if (!phys || !paging_is_mapped(phys) || !paging_is_mapped(phys + sizeof(struct acpi_sdt_header)))
		return NULL;
	const struct acpi_sdt_header *h = (const void *)(uintptr_t)phys;
	if (h->length < sizeof(*h) || h->length > ACPI_TABLE_MAX || !paging_is_mapped(phys + h->length - 1))
		return NULL;
	if (acpi_sum(h, h->length) != 0) {
		printf("acpi: table %.4s at %#llx has a bad checksum; ignored\n", h->signature,
		       (unsigned long long)phys);
		return NULL;
	}
	return h;
}

static void acpi_parse_madt(const struct acpi_sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + 44; /* header + LAPIC address + flags */
	const uint8_t *end = (const uint8_t *)h + h->length;
	while (p + 2 <= end) {
		uint8_t type = p[0], len = p[1];
		if (len < 2 || p + len > end)
			break;
		if (type == MADT_IOAPIC && len >= 12 && !acpi.ioapic_base) {
			acpi.ioapic_base = get32(p + 4);
			acpi.ioapic_gsi_base = get32(p + 8);
		} else if (type == MADT_ISO && len >= 10) {
			uint8_t src = p[3];
			if (src < 16) {
				acpi.iso[src].present = true;
				acpi.iso[src].gsi = get32(p + 4);
				acpi.iso[src].flags = p[8] | p[9] << 8;
			}
		}
		p += len;
	}
}

static void acpi_parse(const struct acpi_sdt_header *h)
{
	if (!memcmp(h->signature, "APIC", 4) && h->length >= 44) {
		acpi_parse_madt(h);
	} else if (!memcmp(h->signature, "HPET", 4) && h->length >= 56) {
		/* Generic address structure at 40: space id 0 = system memory, address at 44. */
		const uint8_t *p = (const uint8_t *)h;
		if (p[40] == 0)
			acpi.hpet_base = get64(p + 44);
	} else if (!memcmp(h->signature, "FACP", 4) && h->length >= 80) {
		const uint8_t *p = (const uint8_t *)h;
		uint32_t blk = get32(p + 76); /* PM_TMR_BLK: an I/O port */
		if (blk && blk <= 0xfffc)
			acpi.pm_timer_port = (uint16_t)blk;
	} else if (!memcmp(h->signature, "MCFG", 4) && h->length >= 44 + 16) {
		const uint8_t *p = (const uint8_t *)h + 44;
		const uint8_t *end = (const uint8_t *)h + h->length;
		for (; p + 16 <= end; p += 16) {
			uint16_t seg = p[8] | p[9] << 8;
			if (seg == 0 && p[11] >= p[10]) {
				acpi.mcfg_base = get64(p);
				acpi.mcfg_bus_start = p[10];
				acpi.mcfg_bus_end = p[11];
				break;
			}
		}
	}
}

void acpi_init(const void *rsdp_copy, size_t len)
{
	if (!rsdp_copy || len < 20) {
		printf("acpi: no RSDP from the boot loader\n");
		return;
	}
	const uint8_t *r = rsdp_copy;
	if (memcmp(r, "RSD PTR ", 8) || acpi_sum(r, 20) != 0) {
		printf("acpi: RSDP signature or checksum bad; ignored\n");
		return;
	}
	uint8_t rev = r[15];
	uint64_t root = get32(r + 16);
	int entry_size = 4;
	if (rev >= 2 && len >= 36 && get32(r + 20) >= 36 && get32(r + 20) <= len &&
	    acpi_sum(r, get32(r + 20)) == 0 && get64(r + 24)) {
		root = get64(r + 24);
		entry_size = 8;
	}
	const struct acpi_sdt_header *rt = acpi_table(root);
	if (!rt) {
		printf("acpi: root table at %#llx unusable\n", (unsigned long long)root);
		return;
	}
	size_t n = (rt->length - sizeof(*rt)) / entry_size;
	const uint8_t *e = (const uint8_t *)rt + sizeof(*rt);
	unsigned found = 0;
	for (size_t i = 0; i < n; i++, e += entry_size) {
		uint64_t addr = entry_size == 8 ? get64(e) : get32(e);
		const struct acpi_sdt_header *h = acpi_table(addr);
		if (h) {
			acpi_parse(h);
			found++;
		}
	}
	printf("acpi: rev %u, %u tables; IOAPIC %#llx HPET %#llx PM timer %#x MCFG %#llx\n", rev, found,
	       (unsigned long long)acpi.ioapic_base, (unsigned long long)acpi.hpet_base,
	       acpi.pm_timer_port, (unsigned long long)acpi.mcfg_base);
}

uint64_t acpi_ioapic_base(void) { return acpi.ioapic_base; }
uint32_t acpi_ioapic_gsi_base(void) { return acpi.ioapic_gsi_base; }
uint64_t acpi_hpet_base(void) { return acpi.hpet_base; }
uint16_t acpi_pm_timer_port(void) { return acpi.pm_timer_port; }

uint32_t acpi_isa_irq_to_gsi(unsigned irq, bool *level, bool *active_low)
{
	*level = false;
	*active_low = false;
	if (irq >= 16 || !acpi.iso[irq].present)
		return irq;
	/* MPS INTI flags: polarity bits 0-1 (3 = active low), trigger bits 2-3 (3 = level). */
	uint16_t f = acpi.iso[irq].flags;
	*active_low = (f & 3) == 3;
	*level = ((f >> 2) & 3) == 3;
	return acpi.iso[irq].gsi;
}

uint64_t acpi_mcfg_base(uint8_t *bus_start, uint8_t *bus_end)
{
	if (bus_start)
		*bus_start = acpi.mcfg_bus_start;
	if (bus_end)
		*bus_end = acpi.mcfg_bus_end;
	return acpi.mcfg_base;
}
