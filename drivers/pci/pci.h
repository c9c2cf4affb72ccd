/*
 * drivers/pci: configuration space, enumeration, BARs, capabilities, MSI-X.
 *
 *   pci.c    config access (mechanism #1 or ECAM), bus walk through bridges,
 *            BAR sizing and mapping, the capability list
 *   msix.c   MSI-X table programming and per-vector masking
 *
 * Everything read from a device is checked before use: BAR regions against
 * the BAR's size, capability pointers against config space and loops.
 */
#ifndef DRIVERS_PCI_PCI_H
#define DRIVERS_PCI_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_MAX_CAPS 32

struct pci_bar {
	uint64_t base;  /* bus address as firmware programmed it */
	uint64_t size;  /* 0 when unimplemented */
	bool io;
	bool is64;
	bool prefetch;
	void *va;       /* mapped memory BAR, NULL until pci_bar_region() */
};

struct pci_dev {
	uint8_t bus, dev, fn;
	uint16_t vendor, device;
	uint8_t class, subclass, prog_if;
	uint8_t header_type;
	uint8_t irq_line, irq_pin;
	struct pci_bar bar[6];
	uint8_t caps[PCI_MAX_CAPS]; /* capability offsets, in list order */
	uint8_t ncaps;
	bool caps_bad;              /* the list looped or pointed outside config space */
	/* MSI-X (msix.c) */
	uint8_t msix_cap;           /* 0 when absent */
	uint16_t msix_size;         /* table entries */
	uint8_t *msix_table;        /* mapped, NULL until pci_msix_enable() */
	struct pci_dev *next;
};

/* Find every function (once; later calls return at once) and print one line each. */
void pci_init(void);
/* Iterate: pci_next(NULL) is the first function. */
struct pci_dev *pci_next(struct pci_dev *prev);
/* Human name "bb:dd.f" */
void pci_name(const struct pci_dev *d, char *buf, unsigned len);

uint8_t pci_read8(const struct pci_dev *d, unsigned off);
uint16_t pci_read16(const struct pci_dev *d, unsigned off);
uint32_t pci_read32(const struct pci_dev *d, unsigned off);
void pci_write8(const struct pci_dev *d, unsigned off, uint8_t v);
void pci_write16(const struct pci_dev *d, unsigned off, uint16_t v);
void pci_write32(const struct pci_dev *d, unsigned off, uint32_t v);

/* Set (and clear) PCI_COMMAND bits. */
void pci_command(const struct pci_dev *d, uint16_t set, uint16_t clear);

/*
 * Map [off, off+len) of memory BAR `bar` and return its address, or NULL when
 * the BAR is not memory, unassigned, or the region does not lie inside it.
 */
void *pci_bar_region(struct pci_dev *d, unsigned bar, uint64_t off, uint64_t len);

/*
 * Capability at list index i with the given id, from index *pos on; returns
 * the config offset and advances *pos, or 0 when there is no more.
 */
unsigned pci_cap_find(const struct pci_dev *d, uint8_t id, unsigned *pos);

/* ---- msix.c ---- */
/*
 * Enable MSI-X with every entry masked (legacy INTx off); 0, or -ENODEV (no
 * MSI-X), -EINVAL (table outside its BAR), -ENOMEM (map failed).
 */
int pci_msix_enable(struct pci_dev *d);
void pci_msix_disable(struct pci_dev *d);
/* Point entry at CPU vector and unmask it; -EINVAL when entry is out of range. */
int pci_msix_route(struct pci_dev *d, unsigned entry, int vector);
void pci_msix_mask(struct pci_dev *d, unsigned entry, bool masked);

#endif
