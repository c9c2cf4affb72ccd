/*
 * Split virtqueues (virtio 1.2, 2.7), the driver side.
 *
 * The caller owns all memory: one zeroed, identity-mapped region for what the
 * device sees (descriptor table, available ring, used ring, indirect tables)
 * of virtq_ring_bytes(), and a private array of virtq_priv_bytes() for the
 * bookkeeping the device must never be able to touch (free list, chain
 * lengths, tokens). Addresses handed to the device are the region's virtual
 * addresses: Quill identity-maps memory, and host tests simulate the device
 * in the same address space.
 *
 * Not reentrant: the caller serialises every call on one queue (the kernel
 * masks interrupts around submissions; completions run in the handler).
 * Freestanding: builds unchanged into the kernel and into host tests.
 *
 * A device that breaks the ring protocol (used id out of range or not an
 * in-flight head, a chain completed twice, a used length beyond the chain's
 * writable bytes, used->idx ahead of what is outstanding) marks the queue
 * broken: nothing more is taken from the used ring, virtq_add() refuses, and
 * virtq_detach() hands back every outstanding token so the caller can fail it.
 */
#ifndef DRIVERS_VIRTIO_VIRTQ_H
#define DRIVERS_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/virtio/virtio_reg.h"

/* One buffer of a request: device-readable ones first, then device-writable. */
struct virtq_buf {
	uint64_t addr;
	uint32_t len;
};

/* Driver-private state of one descriptor. */
struct virtq_slot {
	void *token;   /* non-NULL exactly while this is the head of an in-flight chain */
	uint32_t wlen; /* head: bytes the device may write into the chain */
	uint16_t next; /* free list link, and chain link while in flight */
	uint16_t ndesc; /* head: descriptors taken from the table by the chain */
};

struct virtq {
	/* Shared with the device. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	struct virtq_desc *indirect; /* size tables of ind_max entries, NULL without */
	/* Private. */
	struct virtq_slot *slot;
	uint16_t size;        /* power of two */
	uint16_t ind_max;     /* entries per indirect table, 0 when not negotiated */
	uint16_t free_head;   /* first free descriptor */
	uint16_t num_free;
	uint16_t avail_idx;   /* next avail->idx (free-running; wraps at 65536) */
	uint16_t kicked_idx;  /* avail_idx when the device was last considered for a kick */
	uint16_t last_used;   /* next used entry to consume (free-running) */
	uint16_t inflight;    /* chains the device holds */
	uint16_t avail_flags; /* shadow of avail->flags */
	bool event_idx;       /* VIRTIO_F_EVENT_IDX negotiated */
	bool broken;
	const char *why;      /* the first violation, when broken */
	uint32_t added;       /* chains added since the last kick decision */
	uint32_t scan;        /* virtq_detach() position */
};

/* Bytes of the device-visible region and its parts' offsets (all aligned). */
size_t virtq_ring_bytes(uint16_t size, uint16_t ind_max);
size_t virtq_avail_offset(uint16_t size);
size_t virtq_used_offset(uint16_t size);
size_t virtq_priv_bytes(uint16_t size);

/*
 * Lay a queue over ring (virtq_ring_bytes(size, ind_max), 16-byte aligned,
 * zeroed) and priv (virtq_priv_bytes(size)). ind_max 0 disables indirect
 * descriptors; otherwise 2..VIRTQ_IND_MAX. Returns 0 or -EINVAL.
 */
#define VIRTQ_IND_MAX 256
int virtq_init(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
	       bool event_idx);

/* The descriptor the next virtq_add() will use as its head, or -ENOSPC. */
int virtq_peek_head(const struct virtq *vq);
/* Descriptors a chain of n buffers needs (1 when it goes indirect). */
unsigned virtq_cost(const struct virtq *vq, unsigned n);

/*
 * Put a chain of nout device-readable then nin device-writable buffers on the
 * available ring (visible to a device that polls; announce with a kick).
 * token (non-NULL) comes back from virtq_get(). Returns the head (>= 0) or
 * -ENOSPC (no room now: retry after completions), -ENODEV (broken),
 * -EINVAL (no buffers, NULL token, more than size or ind_max allow).
 */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned nout, unsigned nin,
	      void *token);

/*
 * After a batch of adds: true when the device asked to be notified (event
 * index, else the absence of VIRTQ_USED_F_NO_NOTIFY). The caller then writes
 * the queue's notify register.
 */
bool virtq_kick_prepare(struct virtq *vq);

/* Next completed token (its used length in *len), or NULL (none, or broken). */
void *virtq_get(struct virtq *vq, uint32_t *len);
/* Used entries wait to be taken (cheap; for sleeping decisions). */
bool virtq_pending(const struct virtq *vq);

/*
 * Completion interrupts: disable before draining; virtq_enable_cb() re-arms
 * and returns true when entries arrived meanwhile (drain again), so no
 * completion is stranded: disable -> drain -> enable -> (re-check) -> sleep.
 */
void virtq_disable_cb(struct virtq *vq);
bool virtq_enable_cb(struct virtq *vq);

/* Mark broken (why: a static string). Idempotent; the first reason stays. */
void virtq_break(struct virtq *vq, const char *why);
/*
 * Take back one outstanding token (any order), or NULL when none is left.
 * Only once the device can no longer touch the ring (reset or broken).
 */
void *virtq_detach(struct virtq *vq);

#endif
