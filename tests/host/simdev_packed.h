/*
 * A simulated virtio device for host tests of the packed virtqueue
 * (drivers/virtio/virtq_packed.c): it reads the driver's descriptor ring as a
 * device would (virtio 1.2, 2.8), checking everything the driver wrote
 * (available flags and wrap counters, chain continuity, indirect tables),
 * writes used descriptors, and decides interrupts from the driver's event
 * suppression structure (2.8.14). Hostile helpers write used descriptors the
 * driver must refuse.
 */
#ifndef TESTS_HOST_SIMDEV_PACKED_H
#define TESTS_HOST_SIMDEV_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/virtio/virtq.h"

#define PSIM_MAX_HELD 4096
#define PSIM_MAX_BUFS 72 /* buffers remembered per chain (read at take time, as a device does) */

struct psim_chain {
	uint16_t id;       /* buffer ID from the chain's last descriptor */
	uint16_t ndesc;    /* ring descriptors the chain took (1 when indirect) */
	uint16_t nbufs;    /* buffers, after following an indirect table */
	uint16_t pos;      /* ring position of its first descriptor */
	uint32_t rlen, wlen;
	uint64_t first_addr;
	struct {
		uint64_t addr;
		uint32_t len;
		bool writable;
	} buf[PSIM_MAX_BUFS];
};

struct psim {
	struct pvirtq_desc *desc;
	struct pvirtq_event_suppress *driver_ev, *device_ev;
	uint16_t size;
	bool event_idx;
	uint16_t avail_pos;    /* next position to look at for an available descriptor */
	bool avail_wrap;       /* the driver's wrap counter as we follow it */
	uint16_t used_pos;     /* next position to write a used descriptor */
	bool used_wrap;
	uint16_t signalled_pos; /* used_pos / used_wrap at the last interrupt decision */
	bool signalled_wrap;
	unsigned nheld;
	struct psim_chain held[PSIM_MAX_HELD];
	char error[160];       /* first protocol error seen in the driver's output */
	uint64_t indirect_seen, direct_seen;
};

void psim_attach(struct psim *d, const struct virtq *vq);
/* Take the next available chain into held[] (in ring order); false when none or on error. */
bool psim_take(struct psim *d);
unsigned psim_take_all(struct psim *d);
/* Complete held[i] writing len bytes of 0xa5 into its writable buffers; removes it. */
void psim_complete(struct psim *d, unsigned i, uint32_t len);
/* Complete held[i] with len without touching its buffers (the caller filled them). */
void psim_complete_raw(struct psim *d, unsigned i, uint32_t len);
/* In-order batch: one used descriptor naming held[n-1] completes held[0..n-1] (2.8.20). */
void psim_complete_batch(struct psim *d, unsigned n, uint32_t len);
/* Hostile: a used descriptor with any id, len and wrap bit at the next used position; skip positions after. */
void psim_push_raw(struct psim *d, uint16_t id, uint32_t len, bool wrap, uint16_t skip);
/* Device-side decisions. */
bool psim_should_interrupt(struct psim *d);
/* Device event suppression as the device would publish it. */
void psim_set_device_event(struct psim *d, uint16_t flags, uint16_t off, bool wrap);

#endif
