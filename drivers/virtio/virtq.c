/*
 * Split virtqueue, driver side (virtio 1.2, 2.7), and the one switch that
 * sends packed queues to virtq_packed.c. See virtq.h for the contract.
 *
 *   free list   private slot[].next, head free_head (never the shared table:
 *               the device must not be able to steer our bookkeeping)
 *   add         descriptors (or one indirect table) -> avail ring entry ->
 *               producer barrier -> avail->idx
 *   kick        sync barrier -> avail_event or VIRTQ_USED_F_NO_NOTIFY
 *   get         used->idx -> consumer barrier -> entry -> validate -> chain
 *               back to the free list -> token
 *
 * Ring indices and entries shared with the device are read and written with
 * single aligned accesses (ring_load / ring_store): the device may access them
 * at any moment, and an index assembled from two halves can be seen torn.
 */
#include "drivers/virtio/virtq.h"

#include "arch/x86_64/barrier.h"

#ifdef QUILL_HOST
#include <errno.h>
#else
#include "kernel/errno.h"
#endif


#define VIRTQ_USED_ALIGN_OURS 64 /* used ring on its own cache line: the device writes it */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static size_t virtq_avail_offset(uint16_t size)
{
	return (size_t)size * sizeof(struct virtq_desc);
}

/* The legacy interface fixes the used ring at the next 4096 boundary (2.7.2). */
static size_t virtq_used_offset(uint16_t size, unsigned flags)
{
	/* flags, idx, ring[size], used_event */
	size_t avail_end = virtq_avail_offset(size) + 4 + 2 * (size_t)size + 2;
	return align_up(avail_end, (flags & VIRTQ_LEGACY) ? 4096 : VIRTQ_USED_ALIGN_OURS);
}

static size_t virtq_indirect_offset(uint16_t size, unsigned flags)
{
	/* flags, idx, ring[size], avail_event */
	size_t used_end = virtq_used_offset(size, flags) + 4 + 8 * (size_t)size + 2;
	return align_up(used_end, VIRTQ_DESC_ALIGN);
}

size_t virtq_bytes(uint16_t size, uint16_t ind_max, unsigned flags)
{
	if (flags & VIRTQ_PACKED)
		return virtq_packed_bytes(size, ind_max);
	return virtq_indirect_offset(size, flags) + (size_t)size * ind_max * sizeof(struct virtq_desc);
}

size_t virtq_ring_bytes(uint16_t size, uint16_t ind_max)
{
	return virtq_bytes(size, ind_max, 0);
}

size_t virtq_priv_bytes(uint16_t size)
{
	/* slot[size], then (packed) pos_id[size] */
	return (size_t)size * (sizeof(struct virtq_slot) + sizeof(uint16_t));
}

static uint16_t *virtq_used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->size];
}

static uint16_t *virtq_avail_event(struct virtq *vq)
{
	return (uint16_t *)&vq->used->ring[vq->size];
}

int virtq_setup(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
		unsigned flags)
{
	if (flags & VIRTQ_PACKED)
		return virtq_packed_setup(vq, size, ring, priv, ind_max, flags);
	if (size == 0 || (size & (size - 1)) || size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	if (ind_max == 1 || ind_max > VIRTQ_IND_MAX)
		return -EINVAL;
	uintptr_t align = (flags & VIRTQ_LEGACY) ? 4096 : VIRTQ_DESC_ALIGN;
	if (!ring || ((uintptr_t)ring & (align - 1)) || !priv)
		return -EINVAL;
	char *base = ring;
	vq->desc = (struct virtq_desc *)base;
	vq->avail = (struct virtq_avail *)(base + virtq_avail_offset(size));
	vq->used = (struct virtq_used *)(base + virtq_used_offset(size, flags));
	vq->indirect = ind_max ? (struct virtq_desc *)(base + virtq_indirect_offset(size, flags)) : NULL;
	vq->pdesc = NULL;
	vq->driver_ev = vq->device_ev = NULL;
	vq->desc_addr = (uint64_t)(uintptr_t)vq->desc;
	vq->driver_addr = (uint64_t)(uintptr_t)vq->avail;
	vq->device_addr = (uint64_t)(uintptr_t)vq->used;
	vq->slot = priv;
	vq->pos_id = NULL;
	vq->packed = vq->in_order = vq->in_batch = false;
	vq->avail_wrap = vq->used_wrap = true;
	vq->next_avail = vq->batch_last = 0;
	vq->size = size;
	vq->ind_max = ind_max;
	vq->avail_idx = 0;
	vq->kicked_idx = 0;
	vq->last_used = 0;
	vq->event_idx = (flags & VIRTQ_EVENT_IDX) != 0;
	vq->legacy_used_len = (flags & VIRTQ_LEGACY) != 0;
	virtq_slots_init(vq);
	virtq_ring_store16(&vq->avail->flags, 0);
	virtq_ring_store16(&vq->avail->idx, 0);
	virtq_ring_store16(virtq_used_event(vq), 0);
	return 0;
}

int virtq_init(struct virtq *vq, uint16_t size, void *ring, void *priv, uint16_t ind_max,
	       bool event_idx)
{
	return virtq_setup(vq, size, ring, priv, ind_max, event_idx ? VIRTQ_EVENT_IDX : 0);
}

static void virtq_fill(struct virtq_desc *d, const struct virtq_buf *b, bool writable)
{
	d->addr = b->addr;
	d->len = b->len;
	d->flags = writable ? VIRTQ_DESC_F_WRITE : 0;
}

int virtq_add_check(const struct virtq *vq, const struct virtq_buf *bufs, unsigned nout,
		    unsigned nin, const void *token, uint32_t *wlen, unsigned *cost)
{
	unsigned n = nout + nin;
	if (vq->broken)
		return -ENODEV;
	if (n == 0 || !token || n > vq->size)
		return -EINVAL;
	uint64_t w = 0;
	for (unsigned i = nout; i < n; i++)
		w += bufs[i].len;
	if (w > UINT32_MAX)
		return -EINVAL;
	*cost = virtq_cost(vq, n);
	if (*cost > vq->num_free)
		return -ENOSPC;
	*wlen = (uint32_t)w;
	return 0;
}

struct virtq_slot *virtq_used_check(struct virtq *vq, uint32_t id, uint32_t *len, bool len_means_something)
{
	if (id >= vq->size) {
		virtq_break(vq, "used id out of range");
		return NULL;
	}
	struct virtq_slot *hs = &vq->slot[id];
	if (!hs->token) {
		virtq_break(vq, "used id not outstanding (or completed twice)");
		return NULL;
	}
	if (*len <= hs->wlen)
		return hs;
	if (len_means_something) {
		virtq_break(vq, "used length beyond the chain's writable bytes");
		return NULL;
	}
	*len = hs->wlen; /* no caller reads past what it gave */
	return hs;
}

void virtq_slots_init(struct virtq *vq)
{
	vq->free_head = 0;
	vq->num_free = vq->size;
	vq->inflight = 0;
	vq->avail_flags = 0;
	vq->broken = false;
	vq->why = NULL;
	vq->added = 0;
	vq->scan = 0;
	for (uint32_t i = 0; i < vq->size; i++) {
		vq->slot[i].token = NULL;
		vq->slot[i].wlen = 0;
		vq->slot[i].next = (uint16_t)(i + 1); /* the last one's link is never followed */
		vq->slot[i].ndesc = 0;
	}
}

/* A filled chain at head (cost descriptors taken, free_head already past it) goes on the ring. */
static int virtq_publish(struct virtq *vq, uint16_t head, unsigned cost, uint32_t wlen, void *token)
{
	struct virtq_slot *hs = &vq->slot[head];
	vq->num_free -= cost;
	hs->token = token;
	hs->ndesc = (uint16_t)cost;
	hs->wlen = wlen;
	vq->inflight++;

	virtq_ring_store16(&vq->avail->ring[vq->avail_idx & (vq->size - 1)], head);
	/*
	 * Descriptors and the ring entry before the index that publishes them;
	 * pairs with the device's read barrier between reading avail->idx and
	 * reading the entries (2.7.13).
	 */
	barrier_producer();
	vq->avail_idx++;
	virtq_ring_store16(&vq->avail->idx, vq->avail_idx);
	vq->added++;
	return head;
}

int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned nout, unsigned nin,
	      void *token)
{
	if (vq->packed)
		return virtq_packed_add(vq, bufs, nout, nin, token);
	unsigned n = nout + nin, cost;
	uint32_t wlen;
	int err = virtq_add_check(vq, bufs, nout, nin, token, &wlen, &cost);
	if (err)
		return err;
	uint16_t head = vq->free_head;
	struct virtq_slot *hs = &vq->slot[head];

	if (cost == 1 && n > 1) {
		/* One ring slot; the chain lives in this head's own indirect table. */
		struct virtq_desc *t = (struct virtq_desc *)vq->indirect + (size_t)head * vq->ind_max;
		for (unsigned i = 0; i < n; i++) {
			virtq_fill(&t[i], &bufs[i], i >= nout);
			if (i + 1 < n) {
				t[i].flags |= VIRTQ_DESC_F_NEXT;
				t[i].next = (uint16_t)(i + 1);
			}
		}
		struct virtq_desc *d = &vq->desc[head];
		d->addr = (uint64_t)(uintptr_t)t;
		d->len = n * (uint32_t)sizeof(struct virtq_desc);
		d->flags = VIRTQ_DESC_F_INDIRECT;
		vq->free_head = hs->next;
	} else {
		uint16_t i = head, last = head;
		for (unsigned k = 0; k < n; k++) {
			struct virtq_desc *d = &vq->desc[i];
			virtq_fill(d, &bufs[k], k >= nout);
			if (k + 1 < n) {
				d->flags |= VIRTQ_DESC_F_NEXT;
				d->next = vq->slot[i].next;
			}
			last = i;
			i = vq->slot[i].next;
		}
		vq->free_head = vq->slot[last].next;
	}
	return virtq_publish(vq, head, cost, wlen, token);
}

int virtq_add3(struct virtq *vq, const struct virtq_buf *hdr, const struct virtq_buf *data, bool data_in,
	       const struct virtq_buf *status, void *token)
{
	if (vq->packed || vq->ind_max < 3 || vq->broken || !token || !vq->num_free) {
		struct virtq_buf b[3] = {*hdr, *data, *status};
		return virtq_add(vq, b, data_in ? 1 : 2, data_in ? 2 : 1, token);
	}
	uint64_t wlen = (uint64_t)status->len + (data_in ? data->len : 0);
	if (wlen > UINT32_MAX)
		return -EINVAL;
	uint16_t head = vq->free_head;
	struct virtq_desc *t = (struct virtq_desc *)vq->indirect + (size_t)head * vq->ind_max;
	t[0].addr = hdr->addr;
	t[0].len = hdr->len;
	t[0].flags = VIRTQ_DESC_F_NEXT;
	t[0].next = 1;
	t[1].addr = data->addr;
	t[1].len = data->len;
	t[1].flags = (uint16_t)(VIRTQ_DESC_F_NEXT | (data_in ? VIRTQ_DESC_F_WRITE : 0));
	t[1].next = 2;
	t[2].addr = status->addr;
	t[2].len = status->len;
	t[2].flags = VIRTQ_DESC_F_WRITE;
	struct virtq_desc *d = &vq->desc[head];
	d->addr = (uint64_t)(uintptr_t)t;
	d->len = 3 * (uint32_t)sizeof(struct virtq_desc);
	d->flags = VIRTQ_DESC_F_INDIRECT;
	vq->free_head = vq->slot[head].next;
	return virtq_publish(vq, head, 1, (uint32_t)wlen, token);
}

bool virtq_kick_prepare(struct virtq *vq)
{
	if (vq->packed)
		return virtq_packed_kick_prepare(vq);
	uint16_t old = vq->kicked_idx, new = vq->avail_idx;
	uint32_t added = vq->added;
	vq->kicked_idx = new;
	vq->added = 0;
	if (added == 0 || vq->broken)
		return false;
	/* Past 2^15 the 16-bit window of need_event is ambiguous: just kick. */
	if (added >= 0x8000)
		return true;
	/*
	 * Our store of avail->idx before our load of avail_event / used->flags;
	 * pairs with the device's store of avail_event (or flags) followed by its
	 * re-read of avail->idx, so one of us sees the other (2.7.10, 2.7.13.4).
	 */
	barrier_sync();
	if (vq->event_idx)
		return virtq_need_event(virtq_ring_load16(virtq_avail_event(vq)), new, old);
	return !(virtq_ring_load16(&vq->used->flags) & VIRTQ_USED_F_NO_NOTIFY);
}

void virtq_break(struct virtq *vq, const char *why)
{
	if (!vq->broken) {
		vq->broken = true;
		vq->why = why;
	}
}

bool virtq_pending(const struct virtq *vq)
{
	if (vq->packed)
		return virtq_packed_pending(vq);
	return !vq->broken && virtq_ring_load16(&vq->used->idx) != vq->last_used;
}

void *virtq_get(struct virtq *vq, uint32_t *len)
{
	if (vq->packed)
		return virtq_packed_get(vq, len);
	if (vq->broken)
		return NULL;
	uint16_t used_idx = virtq_ring_load16(&vq->used->idx);
	if (used_idx == vq->last_used)
		return NULL;
	if ((uint16_t)(used_idx - vq->last_used) > vq->inflight) {
		virtq_break(vq, "used->idx ahead of outstanding chains");
		return NULL;
	}
	/*
	 * The read of used->idx before the reads of the entries it covers; pairs
	 * with the device's write barrier before it advances used->idx.
	 */
	barrier_consumer();
	struct virtq_used_elem *e = &vq->used->ring[vq->last_used & (vq->size - 1)];
	uint32_t id = virtq_ring_load32(&e->id);
	uint32_t l = virtq_ring_load32(&e->len);
	struct virtq_slot *hs = virtq_used_check(vq, id, &l, !vq->legacy_used_len);
	if (!hs)
		return NULL;
	vq->last_used++;
	void *token = hs->token;
	/* Chain back onto the free list, following our private links. */
	uint16_t tail = (uint16_t)id;
	for (unsigned k = 1; k < hs->ndesc; k++)
		tail = vq->slot[tail].next;
	vq->slot[tail].next = vq->free_head;
	vq->free_head = (uint16_t)id;
	vq->num_free += hs->ndesc;
	hs->token = NULL;
	hs->ndesc = 0;
	hs->wlen = 0;
	vq->inflight--;
	*len = l;
	return token;
}

void virtq_disable_cb(struct virtq *vq)
{
	if (vq->packed) {
		virtq_packed_disable_cb(vq);
		return;
	}
	if (vq->avail_flags & VIRTQ_AVAIL_F_NO_INTERRUPT)
		return;
	vq->avail_flags |= VIRTQ_AVAIL_F_NO_INTERRUPT;
	/*
	 * With event-idx the flag means nothing to the device (2.7.10): it
	 * interrupts only when used->idx passes used_event, so put used_event
	 * half the index space ahead, where no outstanding completion reaches.
	 */
	if (vq->event_idx)
		virtq_ring_store16(virtq_used_event(vq), (uint16_t)(vq->last_used + 0x8000));
	else
		virtq_ring_store16(&vq->avail->flags, vq->avail_flags);
}

bool virtq_enable_cb(struct virtq *vq)
{
	if (vq->packed)
		return virtq_packed_enable_cb(vq);
	vq->avail_flags &= (uint16_t)~VIRTQ_AVAIL_F_NO_INTERRUPT;
	if (vq->event_idx)
		virtq_ring_store16(virtq_used_event(vq), vq->last_used);
	else
		virtq_ring_store16(&vq->avail->flags, vq->avail_flags);
	/*
	 * The store re-arming interrupts before the load of used->idx; pairs with
	 * the device's store of used->idx followed by its load of used_event (or
	 * flags): either it interrupts, or we see the new entries here.
	 */
	barrier_sync();
	return virtq_pending(vq);
}

/* Both formats: slot[] is per head descriptor (split) or per buffer ID (packed). */
void *virtq_detach(struct virtq *vq)
{
	for (; vq->scan < vq->size && vq->inflight; vq->scan++) {
		struct virtq_slot *s = &vq->slot[vq->scan];
		if (!s->token)
			continue;
		void *token = s->token;
		s->token = NULL;
		/* Descriptors stay off the free list: a broken queue is not reused. */
		s->ndesc = 0;
		vq->inflight--;
		return token;
	}
	return NULL;
}
