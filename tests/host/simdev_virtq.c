/*
 * Simulated device for tests/host/test_virtq.c: see simdev_virtq.h.
 * Everything the driver published is checked as a careful device would:
 * descriptor indices, chain lengths (no loops), indirect tables (no nesting,
 * length a multiple of 16), readable buffers before writable ones.
 */
#include "tests/host/simdev_virtq.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ld16(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define st16(p, v) __atomic_store_n((p), (uint16_t)(v), __ATOMIC_RELAXED)
#define st32(p, v) __atomic_store_n((p), (uint32_t)(v), __ATOMIC_RELAXED)

static void simdev_fail(struct simdev *d, const char *fmt, ...)
{
	if (d->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
}

void simdev_attach(struct simdev *d, const struct virtq *vq)
{
	memset(d, 0, sizeof(*d));
	d->desc = vq->desc;
	d->avail = vq->avail;
	d->used = vq->used;
	d->size = vq->size;
	d->event_idx = vq->event_idx;
}

/*
 * Walk the chain at head, calling fn for each buffer in order; fills c.
 * If fill is non-NULL, writable buffers receive up to *fill bytes of 0xa5.
 */
static bool simdev_walk(struct simdev *d, uint16_t head, struct simdev_chain *c, uint32_t *fill,
			struct simdev_buf *out, unsigned max)
{
	memset(c, 0, sizeof(*c));
	c->head = head;
	const struct virtq_desc *table = d->desc;
	uint32_t tsize = d->size;
	uint32_t i = head;
	if (d->desc[head].flags & VIRTQ_DESC_F_INDIRECT) {
		const struct virtq_desc *h = &d->desc[head];
		if (h->flags & VIRTQ_DESC_F_NEXT) {
			simdev_fail(d, "indirect head %u also has NEXT", head);
			return false;
		}
		if (h->len == 0 || h->len % sizeof(struct virtq_desc)) {
			simdev_fail(d, "indirect table length %u", h->len);
			return false;
		}
		table = (const struct virtq_desc *)(uintptr_t)h->addr;
		tsize = h->len / sizeof(struct virtq_desc);
		i = 0;
		d->indirect_seen++;
	} else {
		d->direct_seen++;
	}
	bool seen_write = false;
	for (uint32_t n = 0;; n++) {
		if (i >= tsize) {
			simdev_fail(d, "descriptor index %u out of %u", i, tsize);
			return false;
		}
		if (n >= tsize) {
			simdev_fail(d, "chain at %u loops", head);
			return false;
		}
		const struct virtq_desc *x = &table[i];
		if (x->flags & VIRTQ_DESC_F_INDIRECT) {
			simdev_fail(d, "nested or chained indirect descriptor");
			return false;
		}
		if (n == 0)
			c->first_addr = x->addr;
		if (out && n < max)
			out[n] = (struct simdev_buf){(void *)(uintptr_t)x->addr, x->len,
						     (x->flags & VIRTQ_DESC_F_WRITE) != 0};
		if (x->flags & VIRTQ_DESC_F_WRITE) {
			seen_write = true;
			c->wlen += x->len;
			if (fill && *fill) {
				uint32_t k = x->len < *fill ? x->len : *fill;
				memset((void *)(uintptr_t)x->addr, 0xa5, k);
				*fill -= k;
			}
		} else {
			if (seen_write) {
				simdev_fail(d, "readable buffer after a writable one");
				return false;
			}
			c->rlen += x->len;
		}
		c->ndesc++;
		if (!(x->flags & VIRTQ_DESC_F_NEXT))
			break;
		i = x->next;
	}
	return true;
}

bool simdev_take(struct simdev *d)
{
	if (d->error[0])
		return false;
	uint16_t aidx = ld16(&d->avail->idx);
	if (aidx == d->last_avail)
		return false;
	if ((uint16_t)(aidx - d->last_avail) > d->size) {
		simdev_fail(d, "avail->idx %u runs %u ahead", aidx, (uint16_t)(aidx - d->last_avail));
		return false;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	uint16_t head = ld16(&d->avail->ring[d->last_avail % d->size]);
	if (head >= d->size) {
		simdev_fail(d, "avail head %u out of range", head);
		return false;
	}
	for (unsigned k = 0; k < d->nheld; k++) {
		if (d->held[k].head == head) {
			simdev_fail(d, "head %u made available twice", head);
			return false;
		}
	}
	struct simdev_chain c;
	if (!simdev_walk(d, head, &c, NULL, NULL, 0))
		return false;
	if (d->nheld >= SIMDEV_MAX_HELD) {
		simdev_fail(d, "too many chains held");
		return false;
	}
	d->held[d->nheld++] = c;
	d->last_avail++;
	if (d->event_idx) /* we want to hear of the very next one */
		st16((uint16_t *)&d->used->ring[d->size], d->last_avail);
	return true;
}

unsigned simdev_take_all(struct simdev *d)
{
	unsigned n = 0;
	while (simdev_take(d))
		n++;
	return n;
}

void simdev_complete(struct simdev *d, unsigned i, uint32_t len)
{
	struct simdev_chain c = d->held[i];
	uint32_t fill = len;
	struct simdev_chain again;
	simdev_walk(d, c.head, &again, &fill, NULL, 0);
	d->held[i] = d->held[--d->nheld];
	struct virtq_used_elem *e = &d->used->ring[d->used_idx % d->size];
	st32(&e->id, c.head);
	st32(&e->len, len);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->used_idx++;
	st16(&d->used->idx, d->used_idx);
}

unsigned simdev_bufs(struct simdev *d, unsigned i, struct simdev_buf *out, unsigned max)
{
	struct simdev_chain c;
	if (!simdev_walk(d, d->held[i].head, &c, NULL, out, max))
		return 0;
	return c.ndesc < max ? c.ndesc : max;
}

void simdev_complete_raw(struct simdev *d, unsigned i, uint32_t len)
{
	uint16_t head = d->held[i].head;
	d->held[i] = d->held[--d->nheld];
	simdev_push_raw(d, head, len, 1);
}

void simdev_push_raw(struct simdev *d, uint32_t id, uint32_t len, uint16_t advance)
{
	struct virtq_used_elem *e = &d->used->ring[d->used_idx % d->size];
	st32(&e->id, id);
	st32(&e->len, len);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	d->used_idx = (uint16_t)(d->used_idx + advance);
	st16(&d->used->idx, d->used_idx);
}

bool simdev_should_interrupt(struct simdev *d)
{
	uint16_t old = d->signalled, new = d->used_idx;
	d->signalled = new;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (d->event_idx)
		return virtq_need_event(ld16(&d->avail->ring[d->size]), new, old);
	return !(ld16(&d->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void simdev_set_avail_event(struct simdev *d, uint16_t v)
{
	st16((uint16_t *)&d->used->ring[d->size], v);
}

void simdev_set_no_notify(struct simdev *d, bool on)
{
	st16(&d->used->flags, on ? VIRTQ_USED_F_NO_NOTIFY : 0);
}
