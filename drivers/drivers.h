/* drivers/: device discovery and drivers. kmain calls drivers_init() once the machine is up. */
#ifndef DRIVERS_DRIVERS_H
#define DRIVERS_DRIVERS_H
/* Enumerate PCI, start every supported device, register block devices (vda, vdb, ...). */
void drivers_init(void);
#endif
