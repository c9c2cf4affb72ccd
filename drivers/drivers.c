/*
 * Device discovery: enumerate PCI, start every virtio-blk device found and
 * register it as vda, vdb, ... in bus order, with one boot line each.
 */
#include "drivers/drivers.h"

#include "drivers/blk/blk.h"
#include "drivers/blk/virtio_blk.h"
#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio_pci.h"
#include "kernel/kernel.h"

void drivers_init(void)
{
	unsigned ndisks = 0;
	pci_init();
	for (struct pci_dev *pd = pci_next(NULL); pd; pd = pci_next(pd)) {
		uint16_t id;
		if (!vpci_match(pd, &id) || id != VIRTIO_ID_BLOCK)
			continue;
		if (ndisks >= 26) {
			printf("drivers: more than 26 virtio-blk devices; ignoring the rest\n");
			break;
		}
		struct virtio_dev *vd;
		if (vpci_probe(pd, &vd))
			continue;
		char name[8];
		snprintf(name, sizeof(name), "vd%c", 'a' + ndisks);
		struct blk_dev *bd;
		if (vblk_attach(vd, name, &bd))
			continue;
		int err = blk_register(bd);
		if (err) {
			printf("%s: cannot register: %s\n", name, blk_strerror(err));
			continue;
		}
		ndisks++;
		char line[512];
		vblk_describe(bd, line, sizeof(line));
		printf("%s\n", line);
	}
	if (!ndisks)
		printf("drivers: no virtio-blk disk found\n");
}
