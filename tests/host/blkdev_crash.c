/*
 * Crash simulation on top of the RAM device. While recording, every
 * completed write is kept (data copied) with the time it was submitted and
 * completed, and every completed FLUSH with the number of writes it covers:
 * those completed before it was submitted (virtio 1.2, 5.2.6.2: nothing
 * else is promised). crash_build() then makes the medium as a power loss
 * after `events` completions may leave it: the covered writes, plus any
 * subset of the writes submitted so far and not covered, whole, torn at
 * sector granularity, or with sectors turned to garbage.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/host/blkdev_host.h"

static void *grow(void *p, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 256;
	p = realloc(p, *cap * elem);
	if (!p)
		abort();
	return p;
}

static void crash_observe(struct blkdev_ram *r, struct blk_req *req)
{
	struct crash_trace *t = r->observe_ctx;
	if (req->status)
		return;
	if (req->op == BLK_OP_WRITE || req->op == BLK_OP_DISCARD || req->op == BLK_OP_WRITE_ZEROES) {
		t->w = grow(t->w, &t->capw, t->nw, sizeof(*t->w));
		struct crash_write *w = &t->w[t->nw++];
		w->sector = req->sector;
		w->len = req->len;
		w->data = malloc(req->len);
		if (!w->data)
			abort();
		if (req->op == BLK_OP_WRITE)
			blkdev_req_copy(req, w->data, true);
		else
			memset(w->data, 0, req->len);
		w->done_at = t->events;
		w->sub_at = req->drv[1] - t->c0;
	} else if (req->op == BLK_OP_FLUSH) {
		t->flush_cover = grow(t->flush_cover, &t->capf, t->nf, sizeof(*t->flush_cover));
		t->flush_at = realloc(t->flush_at, t->capf * sizeof(*t->flush_at));
		if (!t->flush_at)
			abort();
		t->flush_cover[t->nf] = req->drv[0] - t->w0;
		t->flush_at[t->nf] = t->events;
		t->nf++;
	}
	t->events++;
}

void crash_record(struct blkdev_ram *r, struct crash_trace *t)
{
	memset(t, 0, sizeof(*t));
	crash_record_again(r, t);
}

void crash_record_again(struct blkdev_ram *r, struct crash_trace *t)
{
	uint64_t bytes = r->dev.capacity * BLK_SECTOR_SIZE;
	uint8_t *base = t->base, *stable = t->stable;
	if (t->bytes != bytes) {
		free(base);
		free(stable);
		base = stable = NULL;
	}
	t->base = t->stable = NULL;
	crash_trace_free(t);
	t->bytes = bytes;
	t->base = base ? base : malloc(t->bytes);
	if (!t->base)
		abort();
	t->stable = stable;
	t->stable_n = stable ? SIZE_MAX : 0; /* stale: crash_build starts it anew */
	memcpy(t->base, r->mem, t->bytes);
	t->w0 = r->writes;
	t->c0 = r->dev.stats.completions;
	r->observe = crash_observe;
	r->observe_ctx = t;
}

void crash_trace_free(struct crash_trace *t)
{
	for (size_t i = 0; i < t->nw; i++)
		free(t->w[i].data);
	free(t->w);
	free(t->flush_cover);
	free(t->flush_at);
	free(t->base);
	free(t->stable);
	free(t->diff);
	memset(t, 0, sizeof(*t));
}

size_t crash_build(struct crash_trace *t, uint64_t events, int mode, uint64_t *rng,
		   uint8_t *img)
{
	size_t cover = 0;
	for (size_t k = 0; k < t->nf && t->flush_at[k] < events; k++)
		if (t->flush_cover[k] > cover)
			cover = t->flush_cover[k];
	if (cover > t->nw)
		cover = t->nw;
	/* The durable part, kept between calls (crash points mostly go forward). */
	if (!t->stable || cover < t->stable_n) {
		if (!t->stable)
			t->stable = malloc(t->bytes);
		if (!t->stable)
			abort();
		memcpy(t->stable, t->base, t->bytes);
		t->stable_n = 0;
		t->synced = NULL;
	}
	bool incremental = t->synced == img;
	for (; t->stable_n < cover; t->stable_n++) {
		const struct crash_write *w = &t->w[t->stable_n];
		memcpy(t->stable + w->sector * BLK_SECTOR_SIZE, w->data, w->len);
		if (incremental)
			memcpy(img + w->sector * BLK_SECTOR_SIZE, w->data, w->len);
	}
	/* img = stable: a full copy, or undo what the last build added. */
	if (incremental) {
		for (size_t i = 0; i < t->ndiff; i++)
			memcpy(img + t->diff[i][0], t->stable + t->diff[i][0], t->diff[i][1]);
	} else {
		memcpy(img, t->stable, t->bytes);
	}
	t->synced = img;
	t->ndiff = 0;
	size_t cand = 0;
	for (size_t i = cover; i < t->nw; i++) {
		const struct crash_write *w = &t->w[i];
		if (w->sub_at > events)
			continue;
		cand++;
		uint8_t *dst = img + w->sector * BLK_SECTOR_SIZE;
		if (mode) {
			t->diff = grow(t->diff, &t->capdiff, t->ndiff, sizeof(*t->diff));
			t->diff[t->ndiff][0] = w->sector * BLK_SECTOR_SIZE;
			t->diff[t->ndiff][1] = w->len;
			t->ndiff++;
		}
		if (mode == 1) {
			memcpy(dst, w->data, w->len);
			continue;
		}
		if (mode != 2)
			continue;
		uint32_t nsect = w->len / BLK_SECTOR_SIZE;
		switch (host_rand(rng) % 8) {
		case 0: case 1: case 2: case 3:
			memcpy(dst, w->data, w->len);
			break;
		case 4:
			break;
		case 5:
		case 6: /* torn: each sector new, old or garbage */
			for (uint32_t s = 0; s < nsect; s++) {
				uint64_t x = host_rand(rng);
				uint8_t *d = dst + s * BLK_SECTOR_SIZE;
				if (x % 3 == 0)
					memcpy(d, w->data + s * BLK_SECTOR_SIZE, BLK_SECTOR_SIZE);
				else if (x % 3 == 1)
					for (uint32_t b = 0; b < BLK_SECTOR_SIZE; b += 8) {
						uint64_t g = host_rand(rng);
						memcpy(d + b, &g, 8);
					}
			}
			break;
		default: /* prefix of the sectors */
			memcpy(dst, w->data, (size_t)(host_rand(rng) % (nsect + 1)) * BLK_SECTOR_SIZE);
			break;
		}
	}
	return cand;
}

size_t crash_build_completed(struct crash_trace *t, uint64_t events, uint8_t *img)
{
	uint64_t unused = 1;
	crash_build(t, events, 0, &unused, img);
	size_t in_flight = 0;
	for (size_t i = t->stable_n; i < t->nw; i++) { /* after the covered ones */
		const struct crash_write *w = &t->w[i];
		if (w->done_at < events)
			memcpy(img + w->sector * BLK_SECTOR_SIZE, w->data, w->len);
		else if (w->sub_at <= events)
			in_flight++;
	}
	t->synced = NULL; /* img differs from stable by more than t->diff says */
	return in_flight;
}
