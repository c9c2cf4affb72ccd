/*
 * Packed virtqueue, driver side (virtio 1.2, 2.8), behind the interface of
 * virtq.h (virtq.c switches here when vq->packed).
 *
 *   ring        one array of descriptors, used in ring order by both sides;
 *               a descriptor is available when AVAIL == our Driver Ring Wrap
 *               Counter and USED != it, used when AVAIL == USED == the Device
 *               Ring Wrap Counter (2.8.1, 2.8.9); both counters flip each lap
 *   IDs         a chain carries a buffer ID (our private free list of IDs,
 *               slot[] per ID); the device writes one used descriptor per
 *               chain, in completion order, at its own next position, and
 *               both sides then skip as many positions as the chain took
 *   add         descriptors after the head (flags included) -> producer
 *               barrier -> the head's flags, which publish the whole chain
 *   kick        sync barrier -> device event suppression: DISABLE, ENABLE,
 *               or DESC (event offset with wrap, VIRTIO_F_EVENT_IDX)
 *   get         flags at last_used -> consumer barrier -> id, len ->
 *               validate -> ID back to the free list -> token
 *   interrupts  driver event suppression: DISABLE while draining, re-armed
 *               as ENABLE or DESC at last_used, then re-checked
 *   in order    with VIRTIO_F_IN_ORDER the device may write one used
 *               descriptor for a batch (2.8.20): every buffer from the
 *               oldest up to the ID it names is complete (pos_id[] says
 *               which buffer starts at each position)
 *   indirect    one descriptor with INDIRECT pointing at a per-ID table of
 *               packed descriptors (no NEXT inside, 2.8.19)
 *
 * Everything the device writes is checked: used flags must carry the wrap
 * counter of the lap we expect (and appear only while something is
 * outstanding), the ID must be in range and outstanding, the length (when
 * the used descriptor carries WRITE) within the chain's writable bytes;
 * otherwise the queue is broken.
 */
#include "drivers/virtio/virtq.h"

#include "arch/x86_64/barrier.h"

#ifdef QUILL_HOST
#include <errno.h>
#else
#include "kernel/errno.h"
#endif


#define PVQ_AREA_ALIGN 64 /* each event structure on its own cache line */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static size_t pvq_driver_offset(uint16_t size)
{
	return align_up((size_t)size * sizeof(struct pvirtq_desc), PVQ_AREA_ALIGN);
}

static size_t pvq_device_offset(uint16_t size)
{
	return pvq_driver_offset(size) + PVQ_AREA_ALIGN;
}

static size_t pvq_indirect_offset(uint16_t size)
{
	return pvq_device_offset(size) + PVQ_AREA_ALIGN;
}

size_t virtq_packed_bytes(uint16_t size, uint16_t ind_max)
{
	return pvq_indirect_offset(size) + (size_t)size * ind_max * sizeof(struct pvirtq_desc);
}

int virtq_packed_setup(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
		       unsigned flags)
{
	if (size == 0 || size > PVIRTQ_MAX_SIZE)
		return -EINVAL;
	if (ind_max == 1 || ind_max > VIRTQ_IND_MAX)
		return -EINVAL;
	if (!ring || ((uintptr_t)ring & (PVIRTQ_DESC_ALIGN - 1)) || !priv)
		return -EINVAL;
	char *base = ring;
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	vq->pdesc = (struct pvirtq_desc *)base;
	vq->driver_ev = (struct pvirtq_event_suppress *)(base + pvq_driver_offset(size));
	vq->device_ev = (struct pvirtq_event_suppress *)(base + pvq_device_offset(size));
	vq->indirect = ind_max ? base + pvq_indirect_offset(size) : NULL;
	vq->desc_addr = (uint64_t)(uintptr_t)vq->pdesc;
	vq->driver_addr = (uint64_t)(uintptr_t)vq->driver_ev;
	vq->device_addr = (uint64_t)(uintptr_t)vq->device_ev;
	vq->slot = priv;
	vq->pos_id = (uint16_t *)(vq->slot + size);
	vq->size = size;
	vq->ind_max = ind_max;
	vq->avail_idx = vq->kicked_idx = 0;
	vq->last_used = 0;
	vq->next_avail = 0;
	vq->event_idx = (flags & VIRTQ_EVENT_IDX) != 0;
	vq->legacy_used_len = false; /* no legacy packed ring: each used descriptor says (WRITE) */
	vq->packed = true;
	vq->in_order = (flags & VIRTQ_IN_ORDER) != 0;
	/* 2.8.1: both wrap counters start at 1; a zeroed ring reads as neither available nor used. */
	vq->avail_wrap = vq->used_wrap = true;
	vq->in_batch = false;
	vq->batch_last = 0;
	vq->batch_len = 0;
	virtq_slots_init(vq); /* slot[] is the ID free list here */
	for (uint32_t i = 0; i < size; i++)
		vq->pos_id[i] = 0;
	virtq_ring_store16(&vq->driver_ev->off_wrap, 0);
	virtq_ring_store16(&vq->driver_ev->flags, PVIRTQ_EVENT_F_ENABLE);
	return 0;
}

/* AVAIL/USED bits of a descriptor we make available in the lap of wrap counter w. */
static uint16_t pvq_avail_bits(bool w)
{
	return w ? PVIRTQ_DESC_F_AVAIL : PVIRTQ_DESC_F_USED;
}

int virtq_packed_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned nout, unsigned nin,
		     void *token)
{
	unsigned n = nout + nin, cost;
	uint32_t wlen;
	int err = virtq_add_check(vq, bufs, nout, nin, token, &wlen, &cost);
	if (err)
		return err;
	/* Fewer IDs than descriptors are ever outstanding, so a free descriptor means a free ID. */
	uint16_t id = vq->free_head;
	struct virtq_slot *hs = &vq->slot[id];
	uint16_t pos = vq->next_avail;
	bool wrap = vq->avail_wrap;
	struct pvirtq_desc *head = &vq->pdesc[pos];
	uint16_t head_flags;

	if (cost == 1 && n > 1) {
		/* One ring descriptor; the buffers live in this ID's own table (2.8.19). */
		struct pvirtq_desc *t = (struct pvirtq_desc *)vq->indirect + (size_t)id * vq->ind_max;
		for (unsigned i = 0; i < n; i++) {
			t[i].addr = bufs[i].addr;
			t[i].len = bufs[i].len;
			t[i].id = 0;
			t[i].flags = i >= nout ? VIRTQ_DESC_F_WRITE : 0;
		}
		head->addr = (uint64_t)(uintptr_t)t;
		head->len = n * (uint32_t)sizeof(struct pvirtq_desc);
		head->id = id;
		head_flags = VIRTQ_DESC_F_INDIRECT | pvq_avail_bits(wrap);
		pos++;
	} else {
		head_flags = 0;
		for (unsigned k = 0; k < n; k++) {
			struct pvirtq_desc *d = &vq->pdesc[pos];
			uint16_t f = (uint16_t)((k >= nout ? VIRTQ_DESC_F_WRITE : 0) |
						(k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | pvq_avail_bits(wrap));
			d->addr = bufs[k].addr;
			d->len = bufs[k].len;
			d->id = id; /* the device reads it from the last one (2.8.6); all carry it */
			if (k == 0)
				head_flags = f; /* stored last, below */
			else
				virtq_ring_store16(&d->flags, f);
			if (++pos == vq->size) {
				/* Past the end the lap changes: later descriptors carry the flipped counter. */
				pos = 0;
				wrap = !wrap;
			}
		}
	}
	if (pos == vq->size) { /* the indirect case ending the lap */
		pos = 0;
		wrap = !wrap;
	}
	vq->pos_id[vq->next_avail] = id;
	vq->free_head = hs->next;
	vq->num_free -= cost;
	hs->token = token;
	hs->ndesc = (uint16_t)cost;
	hs->wlen = wlen;
	vq->inflight++;
	vq->next_avail = pos;
	vq->avail_wrap = wrap;
	/*
	 * Everything of the chain (the other descriptors' flags included) before
	 * the head's flags that make it available; pairs with the device's read
	 * barrier between seeing the head available and reading the rest (2.8.21.1).
	 */
	barrier_producer();
	virtq_ring_store16(&head->flags, head_flags);
	vq->added += cost;
	return id;
}

bool virtq_packed_kick_prepare(struct virtq *vq)
{
	uint32_t added = vq->added;
	vq->added = 0;
	if (added == 0 || vq->broken)
		return false;
	/* A whole lap or more since the last decision: the offset window is ambiguous; kick. */
	if (added >= vq->size)
		return true;
	/*
	 * Our stores of descriptor flags before our load of the device's event
	 * suppression structure; pairs with the device's store of that structure
	 * followed by its re-read of the ring, so one of us sees the other (2.8.21.3).
	 */
	barrier_sync();
	uint16_t flags = virtq_ring_load16(&vq->device_ev->flags);
	if (!vq->event_idx || flags != PVIRTQ_EVENT_F_DESC)
		return flags != PVIRTQ_EVENT_F_DISABLE;
	uint16_t off_wrap = virtq_ring_load16(&vq->device_ev->off_wrap);
	uint16_t off = off_wrap & 0x7fff;
	bool wrap = off_wrap >> PVIRTQ_EVENT_WRAP_SHIFT;
	if (off >= vq->size)
		return true; /* not a position: the device gets a (harmless) notification */
	/*
	 * Positions as in one 16-bit space: [old, new) are the descriptors added
	 * since the last decision; an offset in the other lap lies one ring
	 * earlier (as Linux's virtqueue_kick_prepare_packed).
	 */
	uint16_t new = vq->next_avail, old = (uint16_t)(new - added);
	if (wrap != vq->avail_wrap)
		off = (uint16_t)(off - vq->size);
	return virtq_need_event(off, new, old);
}

static bool pvq_is_used(uint16_t flags, bool w)
{
	bool a = (flags & PVIRTQ_DESC_F_AVAIL) != 0, u = (flags & PVIRTQ_DESC_F_USED) != 0;
	return a == w && u == w;
}

bool virtq_packed_pending(const struct virtq *vq)
{
	if (vq->broken)
		return false;
	if (vq->in_batch)
		return true;
	return pvq_is_used(virtq_ring_load16(&vq->pdesc[vq->last_used].flags), vq->used_wrap);
}

/* Give ID back and move last_used past its chain; returns its token. */
static void *pvq_take(struct virtq *vq, uint16_t id)
{
	struct virtq_slot *hs = &vq->slot[id];
	void *token = hs->token;
	uint32_t next = (uint32_t)vq->last_used + hs->ndesc;
	if (next >= vq->size) {
		next -= vq->size;
		vq->used_wrap = !vq->used_wrap;
	}
	vq->last_used = (uint16_t)next;
	vq->num_free += hs->ndesc;
	hs->token = NULL;
	hs->ndesc = 0;
	hs->wlen = 0;
	hs->next = vq->free_head;
	vq->free_head = id;
	vq->inflight--;
	return token;
}

/* In-order batch: the oldest buffer, which starts at last_used. */
static void *pvq_batch_next(struct virtq *vq, uint32_t *len)
{
	uint16_t id = vq->pos_id[vq->last_used];
	if (!vq->slot[id].token) {
		/* Cannot happen while our own bookkeeping holds; never touch the ring on it. */
		virtq_break(vq, "in-order batch walked off the outstanding buffers");
		return NULL;
	}
	*len = id == vq->batch_last ? vq->batch_len : vq->slot[id].wlen;
	if (id == vq->batch_last)
		vq->in_batch = false;
	return pvq_take(vq, id);
}

void *virtq_packed_get(struct virtq *vq, uint32_t *len)
{
	if (vq->broken)
		return NULL;
	if (vq->in_batch)
		return pvq_batch_next(vq, len);
	struct pvirtq_desc *d = &vq->pdesc[vq->last_used];
	uint16_t flags = virtq_ring_load16(&d->flags);
	bool w = vq->used_wrap;
	if (!pvq_is_used(flags, w)) {
		/*
		 * Not used yet. While chains are outstanding the descriptor here is
		 * one we made available in this lap (AVAIL == w, USED != w): any
		 * other combination is a used descriptor with a wrong wrap counter.
		 */
		bool a = (flags & PVIRTQ_DESC_F_AVAIL) != 0, u = (flags & PVIRTQ_DESC_F_USED) != 0;
		if (vq->inflight && !(a == w && u != w))
			virtq_break(vq, "used descriptor with the wrong wrap counter");
		return NULL;
	}
	if (!vq->inflight) {
		virtq_break(vq, "used descriptor while nothing is outstanding");
		return NULL;
	}
	/*
	 * The read of the flags that say "used" before the reads of id and len;
	 * pairs with the device's write barrier before it writes those flags.
	 */
	barrier_consumer();
	uint16_t id = virtq_ring_load16(&d->id);
	uint32_t l = virtq_ring_load32(&d->len);
	/* 2.8.3, 2.8.4: the length counts only with WRITE, which says the device wrote into the buffer. */
	if (!virtq_used_check(vq, id, &l, (flags & VIRTQ_DESC_F_WRITE) != 0))
		return NULL;
	if (vq->in_order && id != vq->pos_id[vq->last_used]) {
		/*
		 * One used descriptor for a batch: every buffer from the oldest (at
		 * last_used) up to id is done. id is outstanding, and outstanding
		 * buffers lie in ring order from last_used, so the walk ends at id.
		 */
		vq->in_batch = true;
		vq->batch_last = id;
		vq->batch_len = l;
		return pvq_batch_next(vq, len);
	}
	*len = l;
	return pvq_take(vq, id);
}

void virtq_packed_disable_cb(struct virtq *vq)
{
	if (vq->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	vq->avail_flags |= VIRTQ_AVAIL_F_NO_INTERRUPT;
	/* DISABLE holds in both modes (2.8.14): no event offset to park. */
	virtq_ring_store16(&vq->driver_ev->flags, PVIRTQ_EVENT_F_DISABLE);
}

bool virtq_packed_enable_cb(struct virtq *vq)
{
	vq->avail_flags &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx) {
		virtq_ring_store16(&vq->driver_ev->off_wrap,
			     vq->last_used | ((uint16_t)vq->used_wrap << PVIRTQ_EVENT_WRAP_SHIFT));
		/*
		 * The offset before the flags that make the device use it; pairs
		 * with the device's read barrier between reading flags and offset.
		 */
		barrier_producer();
		virtq_ring_store16(&vq->driver_ev->flags, PVIRTQ_EVENT_F_DESC);
	} else {
		virtq_ring_store16(&vq->driver_ev->flags, PVIRTQ_EVENT_F_ENABLE);
	}
	/*
	 * The store re-arming interrupts before the load of the next descriptor's
	 * flags; pairs with the device's store of a used descriptor followed by
	 * its load of our event structure: either it interrupts, or we see it here.
	 */
	barrier_sync();
	return virtq_packed_pending(vq);
}
