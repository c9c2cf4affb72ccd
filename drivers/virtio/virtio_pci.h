/* virtio_pci.c: the modern virtio-pci transport (virtio 1.2, 4.1). Only drivers.c includes this. */
#ifndef DRIVERS_VIRTIO_VIRTIO_PCI_H
#define DRIVERS_VIRTIO_VIRTIO_PCI_H

#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio.h"

/* A virtio vendor/device id this transport drives (modern, or transitional with modern caps). */
bool vpci_match(const struct pci_dev *pd, uint16_t *device_id);
/*
 * Find and check the capabilities, map the regions, fill *out (allocated).
 * 0, or -ENODEV (not a modern virtio device), -EINVAL (a region outside its
 * BAR or too short), -ENOMEM. Prints why on failure.
 */
int vpci_probe(struct pci_dev *pd, struct virtio_dev **out);

#endif
