/*
 * MSI-X (PCI 3.0, 6.8.2): the table lives in a memory BAR; every entry has
 * its own mask bit. Enabling goes: function mask + enable, mask each entry,
 * clear the function mask; an entry is programmed while masked, then
 * unmasked. Legacy INTx is disabled while MSI-X is on.
 */
#include "arch/x86_64/arch.h"
#include "drivers/pci/pci.h"
#include "drivers/pci/pci_reg.h"
#include "kernel/kernel.h"

static uint8_t *pci_msix_entry(struct pci_dev *d, unsigned entry)
{
	return d->msix_table + (size_t)entry * PCI_MSIX_ENTRY_SIZE;
}

int pci_msix_enable(struct pci_dev *d)
{
	if (!d->msix_cap || !d->msix_size)
		return -ENODEV;
	if (!d->msix_table) {
		uint32_t t = pci_read32(d, d->msix_cap + PCI_MSIX_TABLE);
		unsigned bir = t & PCI_MSIX_BIR_MASK;
		uint64_t off = t & ~PCI_MSIX_BIR_MASK;
		if (bir >= PCI_NUM_BARS)
			return -EINVAL;
		/* pci_bar_region checks the whole table lies inside its BAR. */
		d->msix_table = pci_bar_region(d, bir, off, (uint64_t)d->msix_size * PCI_MSIX_ENTRY_SIZE);
		if (!d->msix_table)
			return -EINVAL;
	}
	unsigned ctrl = d->msix_cap + PCI_MSIX_CTRL;
	pci_command(d, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 0);
	pci_write16(d, ctrl, (uint16_t)(pci_read16(d, ctrl) | PCI_MSIX_CTRL_ENABLE | PCI_MSIX_CTRL_MASKALL));
	for (unsigned i = 0; i < d->msix_size; i++)
		pci_msix_mask(d, i, true);
	pci_write16(d, ctrl, (uint16_t)(pci_read16(d, ctrl) & ~PCI_MSIX_CTRL_MASKALL));
	return 0;
}

void pci_msix_disable(struct pci_dev *d)
{
	if (!d->msix_cap)
		return;
	unsigned ctrl = d->msix_cap + PCI_MSIX_CTRL;
	pci_write16(d, ctrl, (uint16_t)(pci_read16(d, ctrl) & ~PCI_MSIX_CTRL_ENABLE));
	pci_command(d, 0, PCI_COMMAND_INTX_DISABLE);
}

void pci_msix_mask(struct pci_dev *d, unsigned entry, bool masked)
{
	if (!d->msix_table || entry >= d->msix_size)
		return;
	uint8_t *e = pci_msix_entry(d, entry);
	uint32_t c = mmio_read32(e + PCI_MSIX_ENTRY_CTRL);
	c = masked ? (c | PCI_MSIX_ENTRY_CTRL_MASKED) : (c & ~PCI_MSIX_ENTRY_CTRL_MASKED);
	mmio_write32(e + PCI_MSIX_ENTRY_CTRL, c);
}

int pci_msix_route(struct pci_dev *d, unsigned entry, int vector)
{
	if (!d->msix_table || entry >= d->msix_size)
		return -EINVAL;
	uint8_t *e = pci_msix_entry(d, entry);
	uint64_t addr = msi_address(vector);
	pci_msix_mask(d, entry, true);
	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_LO, (uint32_t)addr);
	mmio_write32(e + PCI_MSIX_ENTRY_ADDR_HI, (uint32_t)(addr >> 32));
	mmio_write32(e + PCI_MSIX_ENTRY_DATA, msi_data(vector));
	pci_msix_mask(d, entry, false);
	return 0;
}
