/*
 * A simulated virtio device for host tests of the split virtqueue: it reads
 * the driver's available ring and descriptors exactly as a device would
 * (checking everything the driver wrote), writes the used ring, and decides
 * notifications and interrupts by the spec's rules (virtio 1.2, 2.7.7, 2.7.10).
 * Hostile helpers write used entries the driver must refuse.
 */
#ifndef TESTS_HOST_SIMDEV_VIRTQ_H
#define TESTS_HOST_SIMDEV_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/virtio/virtq.h"

#define SIMDEV_MAX_HELD 32768

struct simdev_chain {
	uint16_t head;
	uint16_t ndesc;    /* buffers in the chain, after following an indirect table */
	uint32_t rlen;     /* device-readable bytes */
	uint32_t wlen;     /* device-writable bytes */
	uint64_t first_addr; /* the first buffer's address (tests put a tag there) */
};

struct simdev {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t size;
	bool event_idx;
	uint16_t last_avail;    /* next available entry to take */
	uint16_t used_idx;      /* shadow of used->idx */
	uint16_t signalled;     /* used_idx at the last interrupt decision */
	unsigned nheld;         /* chains taken, not yet completed */
	struct simdev_chain held[SIMDEV_MAX_HELD];
	char error[128];        /* first protocol error seen in the driver's output */
	uint64_t indirect_seen, direct_seen;
};

/* Attach to the rings of an initialised virtq (as the device learns the addresses). */
void simdev_attach(struct simdev *d, const struct virtq *vq);
/* Take the next available chain into held[]; false when none (or on error). */
bool simdev_take(struct simdev *d);
/* Take everything available; returns how many. */
unsigned simdev_take_all(struct simdev *d);
/* Complete held[i] writing `len` bytes (fills the writable buffers first); removes it. */
void simdev_complete(struct simdev *d, unsigned i, uint32_t len);
/* The buffers of held[i] in chain order (at most max); returns how many. */
struct simdev_buf {
	void *p;
	uint32_t len;
	bool writable;
};
unsigned simdev_bufs(struct simdev *d, unsigned i, struct simdev_buf *out, unsigned max);
/* Complete held[i] with `len` without touching its buffers (the caller filled them). */
void simdev_complete_raw(struct simdev *d, unsigned i, uint32_t len);
/* Hostile: put any id/len on the used ring and advance used->idx by `advance`. */
void simdev_push_raw(struct simdev *d, uint32_t id, uint32_t len, uint16_t advance);
/* Device-side decisions. */
bool simdev_should_interrupt(struct simdev *d); /* after completions, per 2.7.7 / 2.7.10 */
void simdev_set_avail_event(struct simdev *d, uint16_t v);
void simdev_set_no_notify(struct simdev *d, bool on);

#endif
