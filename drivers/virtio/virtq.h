/*
 * Virtqueues, the driver side: split (virtio 1.2, 2.7; virtq.c) and packed
 * (2.8; virtq_packed.c) behind one interface. virtq_setup() chooses the
 * format; every other call is the same for both (a switch in virtq.c), so a
 * device driver does not know which ring it drives. For a packed ring the
 * "head" of a chain is its buffer ID (0..size-1), which indexes the caller's
 * per-request arrays exactly as a split ring's head descriptor does.
 *
 * The caller owns all memory: one zeroed, identity-mapped region for what the
 * device sees (descriptor table, available ring, used ring, indirect tables)
 * of virtq_bytes(), and a private array of virtq_priv_bytes() for the
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
 * writable bytes where the length means something, used->idx ahead of what
 * is outstanding; packed: a used descriptor with the wrong wrap counter, or
 * one while nothing is outstanding) marks the queue
 * broken: nothing more is taken from the used ring, virtq_add() refuses, and
 * virtq_detach() hands back every outstanding token so the caller can fail it.
 *
 * Used lengths that mean nothing are not held against the device: on the
 * legacy interface (VIRTQ_LEGACY; 2.7.8.1, 5.2.6.3: old devices put the whole
 * chain's length there, and drivers ignore it), and in a packed used
 * descriptor without VIRTQ_DESC_F_WRITE (2.8.3, 2.8.4: reserved, ignored; QEMU
 * 7.2 never sets the flag). virtq_get() then reports the device's value
 * capped at the chain's writable bytes.
 */
#ifndef DRIVERS_VIRTIO_VIRTQ_H
#define DRIVERS_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/virtio/virtio_reg.h"

#ifdef QUILL_HOST
#include <errno.h>
#else
#include "kernel/errno.h"
#endif

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
	/* Where the transport tells the device the three areas are (queue_desc/driver/device). */
	uint64_t desc_addr, driver_addr, device_addr;
	/* Shared with the device: split ring. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	/* Shared with the device: packed ring. */
	struct pvirtq_desc *pdesc;
	struct pvirtq_event_suppress *driver_ev; /* we write: device -> driver interrupts */
	struct pvirtq_event_suppress *device_ev; /* device writes: driver -> device kicks */
	/* Either: size tables of ind_max entries (16 bytes each), NULL without. */
	void *indirect;
	/* Private. */
	struct virtq_slot *slot; /* split: per descriptor; packed: per buffer ID */
	uint16_t *pos_id;        /* packed: buffer ID whose chain starts at each ring position */
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
	bool legacy_used_len; /* split, VIRTQ_LEGACY: used lengths are the device's guess, not checked */
	bool packed;          /* VIRTIO_F_RING_PACKED: the fields below, not avail/used */
	bool in_order;        /* packed with VIRTIO_F_IN_ORDER: one used descriptor may end a batch */
	bool avail_wrap;      /* packed: Driver Ring Wrap Counter (2.8.1), starts at 1 */
	bool used_wrap;       /* packed: our copy of the Device Ring Wrap Counter */
	uint16_t next_avail;  /* packed: ring position of the next descriptor we write */
	uint16_t batch_last;  /* packed in-order: buffer ID that ends the batch being taken */
	bool in_batch;
	uint32_t batch_len;   /* packed in-order: used length of batch_last */
	bool broken;
	const char *why;      /* the first violation, when broken */
	uint32_t added;       /* since the last kick decision: chains (split), descriptors (packed) */
	uint32_t scan;        /* virtq_detach() position */
};

/* virtq_setup() flags: the negotiated ring features, and what the transport needs. */
#define VIRTQ_EVENT_IDX 0x1  /* VIRTIO_F_EVENT_IDX */
#define VIRTQ_PACKED 0x2     /* VIRTIO_F_RING_PACKED */
#define VIRTQ_IN_ORDER 0x4   /* VIRTIO_F_IN_ORDER (used by packed rings) */
#define VIRTQ_LEGACY 0x8     /* split ring in the legacy layout: used ring 4096-aligned */

/* Bytes of the device-visible region (for these flags) and of the private array. */
size_t virtq_bytes(uint16_t size, uint16_t ind_max, unsigned flags);
size_t virtq_priv_bytes(uint16_t size);
/* Split ring with the modern layout: virtq_bytes(size, ind_max, 0). */
size_t virtq_ring_bytes(uint16_t size, uint16_t ind_max);

/*
 * Lay a queue over ring (virtq_bytes(size, ind_max, flags), 16-byte aligned
 * (4096 for VIRTQ_LEGACY), zeroed) and priv (virtq_priv_bytes(size)). Split
 * sizes are powers of two up to 32768, packed ones anything from 2 to 32768.
 * ind_max 0 disables indirect descriptors; otherwise 2..VIRTQ_IND_MAX.
 * Returns 0 or -EINVAL.
 */
#define VIRTQ_IND_MAX 256
int virtq_setup(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
		unsigned flags);
/* Split ring, modern layout: virtq_setup() with VIRTQ_EVENT_IDX when event_idx. */
int virtq_init(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
	       bool event_idx);

/* The descriptor the next virtq_add() will use as its head, or -ENOSPC. */
static inline int virtq_peek_head(const struct virtq *vq)
{
	return vq->num_free ? vq->free_head : -ENOSPC;
}
/* Descriptors a chain of n buffers needs (1 when it goes indirect). */
static inline unsigned virtq_cost(const struct virtq *vq, unsigned n)
{
	return (vq->ind_max && n > 1 && n <= vq->ind_max) ? 1 : n;
}

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
 * The usual request: a device-readable header, one data buffer (written by
 * the device when data_in) and a device-writable status buffer. Same effect
 * and results as virtq_add() with those three buffers; a split ring with
 * indirect descriptors takes a path with no loops, the hot path of a block
 * read or write.
 */
int virtq_add3(struct virtq *vq, const struct virtq_buf *hdr, const struct virtq_buf *data, bool data_in,
	       const struct virtq_buf *status, void *token);

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

/* ---- virtq.c, shared with virtq_packed.c ---- */
/* virtq_add()'s argument and room checks: 0 (and the writable bytes, the cost) or its error. */
int virtq_add_check(const struct virtq *vq, const struct virtq_buf *bufs, unsigned nout,
		    unsigned nin, const void *token, uint32_t *wlen, unsigned *cost);
/*
 * The slot of a used id (head or buffer ID), or NULL after virtq_break().
 * *len, the length the device wrote: checked against the chain's writable
 * bytes when len_means_something, else capped at them.
 */
struct virtq_slot *virtq_used_check(struct virtq *vq, uint32_t id, uint32_t *len, bool len_means_something);
/* Every slot free and linked, counters and the broken state cleared (vq->size set). */
void virtq_slots_init(struct virtq *vq);

/* ---- virtq_packed.c: the packed ring behind the calls above (virtq.c dispatches) ---- */
size_t virtq_packed_bytes(uint16_t size, uint16_t ind_max);
int virtq_packed_setup(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
		       unsigned flags);
int virtq_packed_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned nout, unsigned nin,
		     void *token);
bool virtq_packed_kick_prepare(struct virtq *vq);
void *virtq_packed_get(struct virtq *vq, uint32_t *len);
bool virtq_packed_pending(const struct virtq *vq);
void virtq_packed_disable_cb(struct virtq *vq);
bool virtq_packed_enable_cb(struct virtq *vq);

/*
 * For virtq.c and virtq_packed.c: every access to a ring word the device also
 * touches is one aligned access of exactly that width, never split or merged
 * by the compiler (a torn index reads as a flood of completions).
 */
#define virtq_ring_load16(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define virtq_ring_load32(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define virtq_ring_store16(p, v) __atomic_store_n((p), (uint16_t)(v), __ATOMIC_RELAXED)

#endif
