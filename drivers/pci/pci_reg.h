/*
 * PCI definitions: configuration space layout and registers.
 * PCI Local Bus Specification 3.0 (6.1 configuration space, 6.2.5 base
 * address registers, 6.7 capabilities list, 6.8.2 MSI-X), PCI-to-PCI Bridge
 * Architecture 1.2 (3.2 type 1 header), PCI Express Base 3.0 (7.2.2 ECAM).
 */
#ifndef DRIVERS_PCI_PCI_REG_H
#define DRIVERS_PCI_PCI_REG_H

/* Configuration mechanism #1 (PCI 3.0, 3.2.2.3.2) */
#define PCI_CONFIG_ADDRESS 0xcf8
#define   PCI_CONFIG_ENABLE (1u << 31)
#define PCI_CONFIG_DATA 0xcfc

/* ECAM: 4 KiB of configuration space per function (PCIe 3.0, 7.2.2) */
#define PCI_ECAM_OFFSET(bus, dev, fn) (((uint64_t)(bus) << 20) | ((dev) << 15) | ((fn) << 12))

#define PCI_MAX_BUS 256
#define PCI_MAX_DEV 32
#define PCI_MAX_FN 8
#define PCI_CFG_SIZE 256 /* what we use: the conventional part */

/* Type 0 and 1 common header */
#define PCI_VENDOR_ID 0x00 /* 16 */
#define   PCI_VENDOR_NONE 0xffff
#define PCI_DEVICE_ID 0x02 /* 16 */
#define PCI_COMMAND 0x04 /* 16 */
#define   PCI_COMMAND_IO (1u << 0)
#define   PCI_COMMAND_MEMORY (1u << 1)
#define   PCI_COMMAND_MASTER (1u << 2)
#define   PCI_COMMAND_INTX_DISABLE (1u << 10)
#define PCI_STATUS 0x06 /* 16 */
#define   PCI_STATUS_CAP_LIST (1u << 4)
#define PCI_REVISION 0x08
#define PCI_PROG_IF 0x09
#define PCI_SUBCLASS 0x0a
#define PCI_CLASS 0x0b
#define   PCI_CLASS_BRIDGE 0x06
#define   PCI_SUBCLASS_PCI_BRIDGE 0x04
#define PCI_HEADER_TYPE 0x0e
#define   PCI_HEADER_TYPE_MASK 0x7f
#define   PCI_HEADER_NORMAL 0
#define   PCI_HEADER_BRIDGE 1
#define   PCI_HEADER_MULTIFUNCTION 0x80

/* Type 0 */
#define PCI_BAR0 0x10 /* six 32-bit BARs, 0x10..0x24 */
#define   PCI_BAR_IO (1u << 0)
#define   PCI_BAR_MEM_TYPE_MASK (3u << 1)
#define   PCI_BAR_MEM_TYPE_64 (2u << 1)
#define   PCI_BAR_PREFETCH (1u << 3)
#define   PCI_BAR_IO_MASK 0xfffffffcu
#define   PCI_BAR_MEM_MASK 0xfffffff0u
#define PCI_NUM_BARS 6
#define PCI_CAP_PTR 0x34 /* 8; low two bits reserved */
#define PCI_INTERRUPT_LINE 0x3c /* 8; set by firmware: the 8259 IRQ */
#define PCI_INTERRUPT_PIN 0x3d  /* 8; 1..4 = INTA..INTD, 0 none */

/* Type 1 (bridge) */
#define PCI_PRIMARY_BUS 0x18
#define PCI_SECONDARY_BUS 0x19
#define PCI_SUBORDINATE_BUS 0x1a

/* Capabilities (PCI 3.0, 6.7; Code and ID Assignment Specification) */
#define PCI_CAP_ID 0 /* 8 */
#define PCI_CAP_NEXT 1 /* 8 */
#define PCI_CAP_FIRST 0x40 /* a capability never lives in the header */
#define PCI_CAP_MAX 48     /* (256 - 64) / 4: more means a loop */
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP 0x10
#define PCI_CAP_ID_MSIX 0x11

/* MSI-X capability (PCI 3.0, 6.8.2) */
#define PCI_MSIX_CTRL 2 /* 16 */
#define   PCI_MSIX_CTRL_SIZE_MASK 0x07ff /* table size - 1 */
#define   PCI_MSIX_CTRL_MASKALL (1u << 14)
#define   PCI_MSIX_CTRL_ENABLE (1u << 15)
#define PCI_MSIX_TABLE 4 /* 32: offset | BIR */
#define PCI_MSIX_PBA 8   /* 32: offset | BIR */
#define   PCI_MSIX_BIR_MASK 0x7u
#define PCI_MSIX_CAP_LEN 12
/* MSI-X table entry, 16 bytes in the BAR */
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_ADDR_LO 0
#define PCI_MSIX_ENTRY_ADDR_HI 4
#define PCI_MSIX_ENTRY_DATA 8
#define PCI_MSIX_ENTRY_CTRL 12
#define   PCI_MSIX_ENTRY_CTRL_MASKED (1u << 0)

#endif
