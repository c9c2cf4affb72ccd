/* Simulated packed-ring device for tests/host/test_vq_packed.c: see simdev_packed.h. */
#include "tests/host/simdev_packed.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ld16(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st16(p, v) __atomic_store_n((p), (uint16_t)(v), __ATOMIC_RELAXED)

static void psim_fail(struct psim *d, const char *fmt, ...)
{
	if (d->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
}

void psim_attach(struct psim *d, const struct virtq *vq)
{
	memset(d, 0, sizeof(*d));
	d->desc = (struct pvirtq_desc *)(uintptr_t)vq->desc_addr;
	d->driver_ev = (struct pvirtq_event_suppress *)(uintptr_t)vq->driver_addr;
	d->device_ev = (struct pvirtq_event_suppress *)(uintptr_t)vq->device_addr;
	d->size = vq->size;
	d->event_idx = vq->event_idx;
	d->avail_wrap = d->used_wrap = d->signalled_wrap = true;
}

static bool psim_avail(uint16_t flags, bool w)
{
	bool a = flags & PVIRTQ_DESC_F_AVAIL, u = flags & PVIRTQ_DESC_F_USED;
	return a == w && u != w;
}

static void psim_buf(struct psim *d, struct psim_chain *c, const struct pvirtq_desc *x,
		     bool *seen_write)
{
	if (c->nbufs == 0)
		c->first_addr = x->addr;
	if (c->nbufs < PSIM_MAX_BUFS) {
		c->buf[c->nbufs].addr = x->addr;
		c->buf[c->nbufs].len = x->len;
		c->buf[c->nbufs].writable = (x->flags & VIRTQ_DESC_F_WRITE) != 0;
	}
	if (x->flags & VIRTQ_DESC_F_WRITE) {
		*seen_write = true;
		c->wlen += x->len;
	} else {
		if (*seen_write)
			psim_fail(d, "readable buffer after a writable one");
		c->rlen += x->len;
	}
	c->nbufs++;
}

bool psim_take(struct psim *d)
{
	if (d->error[0])
		return false;
	uint16_t pos = d->avail_pos;
	bool w = d->avail_wrap;
	uint16_t f = ld16(&d->desc[pos].flags);
	if (!psim_avail(f, w))
		return false;
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* flags before the rest (driver's producer barrier) */
	struct psim_chain c;
	memset(&c, 0, sizeof(c));
	c.pos = pos;
	bool seen_write = false;
	const struct pvirtq_desc *x = &d->desc[pos];
	if (f & VIRTQ_DESC_F_INDIRECT) {
		if (f & VIRTQ_DESC_F_NEXT) {
			psim_fail(d, "indirect descriptor at %u also has NEXT", pos);
			return false;
		}
		if (x->len == 0 || x->len % sizeof(struct pvirtq_desc)) {
			psim_fail(d, "indirect table length %u", x->len);
			return false;
		}
		const struct pvirtq_desc *t = (const struct pvirtq_desc *)(uintptr_t)x->addr;
		for (uint32_t i = 0; i < x->len / sizeof(*t); i++) {
			if (t[i].flags & (VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT)) {
				psim_fail(d, "indirect table entry %u has flags %#x", i, t[i].flags);
				return false;
			}
			psim_buf(d, &c, &t[i], &seen_write);
		}
		c.id = x->id;
		c.ndesc = 1;
		d->indirect_seen++;
		if (++pos == d->size) {
			pos = 0;
			w = !w;
		}
	} else {
		for (;;) {
			if (c.ndesc >= d->size) {
				psim_fail(d, "chain at %u longer than the ring", c.pos);
				return false;
			}
			f = ld16(&d->desc[pos].flags);
			if (!psim_avail(f, w)) {
				psim_fail(d, "descriptor %u of the chain at %u not available (flags %#x, wrap %d)",
					  c.ndesc, c.pos, f, w);
				return false;
			}
			if (f & VIRTQ_DESC_F_INDIRECT) {
				psim_fail(d, "indirect descriptor inside a chain");
				return false;
			}
			psim_buf(d, &c, &d->desc[pos], &seen_write);
			c.id = d->desc[pos].id; /* the last descriptor's counts (2.8.6) */
			c.ndesc++;
			if (++pos == d->size) {
				pos = 0;
				w = !w;
			}
			if (!(f & VIRTQ_DESC_F_NEXT))
				break;
		}
		d->direct_seen++;
	}
	if (c.id >= d->size) {
		psim_fail(d, "buffer ID %u out of range", c.id);
		return false;
	}
	for (unsigned k = 0; k < d->nheld; k++) {
		if (d->held[k].id == c.id) {
			psim_fail(d, "buffer ID %u made available twice", c.id);
			return false;
		}
	}
	if (d->nheld >= PSIM_MAX_HELD) {
		psim_fail(d, "too many chains held");
		return false;
	}
	d->held[d->nheld++] = c;
	d->avail_pos = pos;
	d->avail_wrap = w;
	return true;
}

unsigned psim_take_all(struct psim *d)
{
	unsigned n = 0;
	while (psim_take(d))
		n++;
	return n;
}

/* Fill the chain's writable buffers (as read at take time) with 0xa5, up to len bytes. */
static void psim_fill(struct psim_chain *c, uint32_t len)
{
	for (unsigned i = 0; i < c->nbufs && i < PSIM_MAX_BUFS && len; i++) {
		if (!c->buf[i].writable)
			continue;
		uint32_t k = c->buf[i].len < len ? c->buf[i].len : len;
		memset((void *)(uintptr_t)c->buf[i].addr, 0xa5, k);
		len -= k;
	}
}

static void psim_write_used(struct psim *d, uint16_t id, uint32_t len, bool wrap, uint16_t skip)
{
	struct pvirtq_desc *u = &d->desc[d->used_pos];
	u->id = id;
	u->len = len;
	__atomic_thread_fence(__ATOMIC_RELEASE); /* id, len before the flags */
	/* 2.8.3: WRITE says the device wrote len bytes; without it len is reserved. */
	uint16_t write = len ? VIRTQ_DESC_F_WRITE : 0;
	st16(&u->flags, (uint16_t)((wrap ? (PVIRTQ_DESC_F_AVAIL | PVIRTQ_DESC_F_USED) : 0) | write));
	uint32_t p = (uint32_t)d->used_pos + skip;
	while (p >= d->size) {
		p -= d->size;
		d->used_wrap = !d->used_wrap;
	}
	d->used_pos = (uint16_t)p;
}

void psim_complete_raw(struct psim *d, unsigned i, uint32_t len)
{
	uint16_t id = d->held[i].id, ndesc = d->held[i].ndesc;
	/* Keep held[] in ring order (in-order tests complete held[0]). */
	memmove(&d->held[i], &d->held[i + 1], (d->nheld - i - 1) * sizeof(d->held[0]));
	d->nheld--;
	psim_write_used(d, id, len, d->used_wrap, ndesc);
}

void psim_complete(struct psim *d, unsigned i, uint32_t len)
{
	psim_fill(&d->held[i], len);
	psim_complete_raw(d, i, len);
}

void psim_complete_batch(struct psim *d, unsigned n, uint32_t len)
{
	uint32_t skip = 0;
	for (unsigned i = 0; i < n; i++) {
		psim_fill(&d->held[i], d->held[i].wlen);
		skip += d->held[i].ndesc;
	}
	uint16_t id = d->held[n - 1].id;
	memmove(&d->held[0], &d->held[n], (d->nheld - n) * sizeof(d->held[0]));
	d->nheld -= n;
	psim_write_used(d, id, len, d->used_wrap, (uint16_t)skip);
}

void psim_push_raw(struct psim *d, uint16_t id, uint32_t len, bool wrap, uint16_t skip)
{
	psim_write_used(d, id, len, wrap, skip);
}

bool psim_should_interrupt(struct psim *d)
{
	uint16_t old = d->signalled_pos, new = d->used_pos;
	bool oldw = d->signalled_wrap;
	d->signalled_pos = new;
	d->signalled_wrap = d->used_wrap;
	if (old == new && oldw == d->used_wrap)
		return false; /* nothing used since the last decision */
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* our used writes before reading the driver's event */
	uint16_t flags = ld16(&d->driver_ev->flags);
	if (flags == PVIRTQ_EVENT_F_DISABLE)
		return false;
	if (flags != PVIRTQ_EVENT_F_DESC || !d->event_idx)
		return true;
	uint16_t ow = ld16(&d->driver_ev->off_wrap);
	uint16_t off = ow & 0x7fff;
	bool w = ow >> 15;
	/* As QEMU's vring_packed_need_event: one linear space, the other lap one ring earlier. */
	if (oldw != d->used_wrap)
		old = (uint16_t)(old - d->size);
	if (w != d->used_wrap)
		off = (uint16_t)(off - d->size);
	return virtq_need_event(off, new, old);
}

void psim_set_device_event(struct psim *d, uint16_t flags, uint16_t off, bool wrap)
{
	st16(&d->device_ev->off_wrap, off | (wrap ? 0x8000 : 0));
	st16(&d->device_ev->flags, flags);
}
