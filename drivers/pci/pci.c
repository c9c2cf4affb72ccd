/*
 * PCI configuration space and enumeration.
 *
 *   access      ECAM when ACPI's MCFG gives a window (q35), else configuration
 *               mechanism #1 through ports 0xcf8/0xcfc (both PCI 3.0 3.2.2.3)
 *   walk        bus 0, then recursively every PCI-to-PCI bridge's secondary
 *               bus (each bus visited once, whatever the bridges claim)
 *   BARs        sized with decoding off (so nothing answers at the all-ones
 *               address meanwhile), then restored; mapped on first use
 *   caps        the list is read once, bounded and loop-checked
 */
#include "drivers/pci/pci.h"

#include "arch/x86_64/arch.h"
#include "drivers/pci/pci_reg.h"
#include "kernel/kernel.h"

static struct pci_dev *pci_list, *pci_tail;
static bool pci_done;
static uint8_t *pci_ecam;             /* mapped window, bus pci_ecam_start.. */
static unsigned pci_ecam_start, pci_ecam_end;
static uint8_t pci_bus_seen[PCI_MAX_BUS / 8];

/* ---- configuration access ---- */

static uint8_t *pci_ecam_addr(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	if (!pci_ecam || bus < pci_ecam_start || bus > pci_ecam_end)
		return NULL;
	return pci_ecam + PCI_ECAM_OFFSET(bus - pci_ecam_start, dev, fn) + off;
}

static void pci_cf8(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
	outl(PCI_CONFIG_ADDRESS, PCI_CONFIG_ENABLE | (bus << 16) | (dev << 11) | (fn << 8) | (off & 0xfc));
}

static uint32_t pci_raw_read(unsigned bus, unsigned dev, unsigned fn, unsigned off, unsigned width)
{
	uint8_t *p = pci_ecam_addr(bus, dev, fn, off);
	if (p) {
		switch (width) {
		case 1: return mmio_read8(p);
		case 2: return mmio_read16(p);
		default: return mmio_read32(p);
		}
	}
	uint64_t flags = irq_save(); /* address and data ports are one transaction */
	pci_cf8(bus, dev, fn, off);
	uint32_t v;
	switch (width) {
	case 1: v = inb(PCI_CONFIG_DATA + (off & 3)); break;
	case 2: v = inw(PCI_CONFIG_DATA + (off & 2)); break;
	default: v = inl(PCI_CONFIG_DATA); break;
	}
	irq_restore(flags);
	return v;
}

static void pci_raw_write(unsigned bus, unsigned dev, unsigned fn, unsigned off, unsigned width,
			  uint32_t v)
{
	uint8_t *p = pci_ecam_addr(bus, dev, fn, off);
	if (p) {
		switch (width) {
		case 1: mmio_write8(p, (uint8_t)v); return;
		case 2: mmio_write16(p, (uint16_t)v); return;
		default: mmio_write32(p, v); return;
		}
	}
	uint64_t flags = irq_save();
	pci_cf8(bus, dev, fn, off);
	switch (width) {
	case 1: outb(PCI_CONFIG_DATA + (off & 3), (uint8_t)v); break;
	case 2: outw(PCI_CONFIG_DATA + (off & 2), (uint16_t)v); break;
	default: outl(PCI_CONFIG_DATA, v); break;
	}
	irq_restore(flags);
}

uint8_t pci_read8(const struct pci_dev *d, unsigned off)
{
	return (uint8_t)pci_raw_read(d->bus, d->dev, d->fn, off, 1);
}
uint16_t pci_read16(const struct pci_dev *d, unsigned off)
{
	return (uint16_t)pci_raw_read(d->bus, d->dev, d->fn, off & ~1u, 2);
}
uint32_t pci_read32(const struct pci_dev *d, unsigned off)
{
	return pci_raw_read(d->bus, d->dev, d->fn, off & ~3u, 4);
}
void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v)
{
	pci_raw_write(d->bus, d->dev, d->fn, off, 1, v);
}
void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v)
{
	pci_raw_write(d->bus, d->dev, d->fn, off & ~1u, 2, v);
}
void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v)
{
	pci_raw_write(d->bus, d->dev, d->fn, off & ~3u, 4, v);
}

void pci_command(const struct pci_dev *d, uint16_t set, uint16_t clear)
{
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	pci_write16(d, PCI_COMMAND, (uint16_t)((cmd & ~clear) | set));
}

void pci_name(const struct pci_dev *d, char *buf, unsigned len)
{
	snprintf(buf, len, "%02x:%02x.%x", d->bus, d->dev, d->fn);
}

/* ---- BARs ---- */

/* Size BAR i (PCI 3.0, 6.2.5.1) with decoding off; returns how many BAR slots it used. */
static unsigned pci_bar_probe(struct pci_dev *d, unsigned i)
{
	struct pci_bar *b = &d->bar[i];
	unsigned off = PCI_BAR0 + 4 * i;
	uint32_t lo = pci_read32(d, off);
	uint16_t cmd = pci_read16(d, PCI_COMMAND);
	pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
	pci_write32(d, off, 0xffffffffu);
	uint32_t szlo = pci_read32(d, off);
	pci_write32(d, off, lo);
	unsigned used = 1;
	if (lo & PCI_BAR_IO) {
		b->io = true;
		b->base = lo & PCI_BAR_IO_MASK;
		uint32_t mask = szlo & PCI_BAR_IO_MASK & 0xffff;
		b->size = mask ? (~mask & 0xffff) + 1 : 0;
	} else {
		uint64_t mask = szlo & PCI_BAR_MEM_MASK;
		b->base = lo & PCI_BAR_MEM_MASK;
		b->prefetch = lo & PCI_BAR_PREFETCH;
		if ((lo & PCI_BAR_MEM_TYPE_MASK) == PCI_BAR_MEM_TYPE_64 && i + 1 < PCI_NUM_BARS) {
			uint32_t hi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, 0xffffffffu);
			uint32_t szhi = pci_read32(d, off + 4);
			pci_write32(d, off + 4, hi);
			b->is64 = true;
			b->base |= (uint64_t)hi << 32;
			mask |= (uint64_t)szhi << 32;
			used = 2;
		} else if (mask) {
			mask |= 0xffffffff00000000ull;
		}
		b->size = mask ? ~mask + 1 : 0;
	}
	pci_write16(d, PCI_COMMAND, cmd);
	return used;
}

void *pci_bar_region(struct pci_dev *d, unsigned bar, uint64_t off, uint64_t len)
{
	if (bar >= PCI_NUM_BARS)
		return NULL;
	struct pci_bar *b = &d->bar[bar];
	if (b->io || b->size == 0 || b->base == 0)
		return NULL;
	if (len == 0 || off >= b->size || len > b->size - off)
		return NULL;
	if (!b->va) {
		b->va = map_mmio(b->base, b->size);
		if (!b->va)
			return NULL;
	}
	return (uint8_t *)b->va + off;
}

/* ---- capabilities ---- */

static void pci_caps_read(struct pci_dev *d)
{
	if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	uint64_t seen[4] = {0}; /* one bit per dword of config space */
	unsigned p = pci_read8(d, PCI_CAP_PTR) & ~3u;
	for (unsigned n = 0; p; n++) {
		if (p < PCI_CAP_FIRST || p > PCI_CFG_SIZE - 4 || n >= PCI_CAP_MAX) {
			d->caps_bad = true;
			return;
		}
		unsigned dw = p / 4;
		if (seen[dw / 64] & (1ull << (dw % 64))) {
			d->caps_bad = true; /* a loop */
			return;
		}
		seen[dw / 64] |= 1ull << (dw % 64);
		if (d->ncaps < PCI_MAX_CAPS)
			d->caps[d->ncaps++] = (uint8_t)p;
		p = pci_read8(d, p + PCI_CAP_NEXT) & ~3u;
	}
}

unsigned pci_cap_find(const struct pci_dev *d, uint8_t id, unsigned *pos)
{
	for (unsigned i = *pos; i < d->ncaps; i++) {
		if (pci_read8(d, d->caps[i] + PCI_CAP_ID) == id) {
			*pos = i + 1;
			return d->caps[i];
		}
	}
	*pos = d->ncaps;
	return 0;
}

/* ---- enumeration ---- */

static const char *pci_class_name(uint8_t class)
{
	static const char *const names[] = {
		"unclassified", "storage", "network", "display", "multimedia", "memory",
		"bridge", "communication", "system", "input", "docking", "processor",
		"serial bus",
	};
	return class < ARRAY_SIZE(names) ? names[class] : "other";
}

static void pci_scan_bus(unsigned bus, unsigned depth);

static void pci_add(unsigned bus, unsigned dev, unsigned fn, unsigned depth)
{
	struct pci_dev *d = kzalloc(sizeof(*d));
	if (!d) {
		printf("pci: out of memory at %02x:%02x.%x\n", bus, dev, fn);
		return;
	}
	d->bus = (uint8_t)bus;
	d->dev = (uint8_t)dev;
	d->fn = (uint8_t)fn;
	d->vendor = pci_read16(d, PCI_VENDOR_ID);
	d->device = pci_read16(d, PCI_DEVICE_ID);
	d->class = pci_read8(d, PCI_CLASS);
	d->subclass = pci_read8(d, PCI_SUBCLASS);
	d->prog_if = pci_read8(d, PCI_PROG_IF);
	d->header_type = pci_read8(d, PCI_HEADER_TYPE) & PCI_HEADER_TYPE_MASK;
	d->irq_line = pci_read8(d, PCI_INTERRUPT_LINE);
	d->irq_pin = pci_read8(d, PCI_INTERRUPT_PIN);
	if (d->header_type == PCI_HEADER_NORMAL)
		for (unsigned i = 0; i < PCI_NUM_BARS;)
			i += pci_bar_probe(d, i);
	pci_caps_read(d);
	unsigned pos = 0;
	d->msix_cap = (uint8_t)pci_cap_find(d, PCI_CAP_ID_MSIX, &pos);
	if (d->msix_cap)
		d->msix_size = (pci_read16(d, d->msix_cap + PCI_MSIX_CTRL) & PCI_MSIX_CTRL_SIZE_MASK) + 1;

	char bars[160];
	unsigned n = 0;
	bars[0] = 0;
	for (unsigned i = 0; i < PCI_NUM_BARS && n < sizeof(bars); i++) {
		const struct pci_bar *b = &d->bar[i];
		if (b->size)
			n += (unsigned)snprintf(bars + n, sizeof(bars) - n, " bar%u %s%#llx+%#llx", i,
						b->io ? "io " : b->is64 ? "mem64 " : "mem ",
						(unsigned long long)b->base, (unsigned long long)b->size);
	}
	printf("pci: %02x:%02x.%x %04x:%04x class %02x%02x%02x %s%s%s%s\n", bus, dev, fn, d->vendor,
	       d->device, d->class, d->subclass, d->prog_if, pci_class_name(d->class),
	       d->msix_cap ? " msix" : "", d->caps_bad ? " (bad capability list)" : "", bars);
	if (pci_tail)
		pci_tail->next = d;
	else
		pci_list = d;
	pci_tail = d;

	if (d->header_type == PCI_HEADER_BRIDGE) {
		unsigned sec = pci_read8(d, PCI_SECONDARY_BUS);
		if (sec > bus && depth < 32) /* a bridge never leads back up */
			pci_scan_bus(sec, depth + 1);
	}
}

static void pci_scan_bus(unsigned bus, unsigned depth)
{
	if (bus >= PCI_MAX_BUS || (pci_bus_seen[bus / 8] & (1u << (bus % 8))))
		return;
	pci_bus_seen[bus / 8] |= (uint8_t)(1u << (bus % 8));
	for (unsigned dev = 0; dev < PCI_MAX_DEV; dev++) {
		if ((uint16_t)pci_raw_read(bus, dev, 0, PCI_VENDOR_ID, 2) == PCI_VENDOR_NONE)
			continue;
		unsigned nfn = (pci_raw_read(bus, dev, 0, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTIFUNCTION)
				       ? PCI_MAX_FN : 1;
		for (unsigned fn = 0; fn < nfn; fn++)
			if ((uint16_t)pci_raw_read(bus, dev, fn, PCI_VENDOR_ID, 2) != PCI_VENDOR_NONE)
				pci_add(bus, dev, fn, depth);
	}
}

void pci_init(void)
{
	if (pci_done)
		return;
	pci_done = true;
	uint8_t start = 0, end = 0;
	uint64_t ecam = acpi_mcfg_base(&start, &end);
	if (ecam && end >= start) {
		uint64_t size = (uint64_t)(end - start + 1) << 20;
		pci_ecam = map_mmio(ecam + ((uint64_t)start << 20), size);
		pci_ecam_start = start;
		pci_ecam_end = end;
		if (pci_ecam)
			printf("pci: ECAM at %#lx, buses %u-%u\n", (unsigned long)ecam, start, end);
		else
			printf("pci: cannot map ECAM at %#lx; using ports 0xcf8/0xcfc\n", (unsigned long)ecam);
	}
	pci_scan_bus(0, 0);
	/* A multi-function host bridge: function n is the host controller of bus n. */
	if ((pci_raw_read(0, 0, 0, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTIFUNCTION))
		for (unsigned fn = 1; fn < PCI_MAX_FN; fn++)
			if ((uint16_t)pci_raw_read(0, 0, fn, PCI_VENDOR_ID, 2) != PCI_VENDOR_NONE &&
			    pci_raw_read(0, 0, fn, PCI_CLASS, 1) == PCI_CLASS_BRIDGE &&
			    pci_raw_read(0, 0, fn, PCI_SUBCLASS, 1) == 0)
				pci_scan_bus(fn, 0);
}

struct pci_dev *pci_next(struct pci_dev *prev)
{
	return prev ? prev->next : pci_list;
}
