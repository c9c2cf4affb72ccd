/*
 * A RAM block device: requests wait on a list until ops->wait runs them
 * (in submission order, or a seeded random order), which is how completion
 * order arbitrary and "nothing happens inside blk_submit" look on the host.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/host/blkdev_host.h"

static int ram_submit(struct blk_dev *dev, struct blk_req *req)
{
	struct blkdev_ram *r = dev->priv;
	/* Device-private: completions and writes done when it was submitted
	 * (the crash recorder needs them: a FLUSH covers only writes completed
	 * before its submission). */
	req->drv[0] = (uint32_t)r->writes;
	req->drv[1] = (uint32_t)r->dev.stats.completions;
	req->next = NULL;
	if (r->tail)
		r->tail->next = req;
	else
		r->head = req;
	r->tail = req;
	dev->inflight++;
	return 0;
}

static void ram_kick(struct blk_dev *dev)
{
	dev->stats.kicks++;
}

void blkdev_req_copy(const struct blk_req *req, uint8_t *mem, bool to_mem)
{
	struct blk_seg one;
	uint32_t n;
	const struct blk_seg *seg = blk_req_data(req, &one, &n);
	for (uint32_t i = 0; i < n; i++) {
		if (to_mem)
			memcpy(mem, seg[i].buf, seg[i].len);
		else
			memcpy(seg[i].buf, mem, seg[i].len);
		mem += seg[i].len;
	}
}

static void ram_exec(struct blkdev_ram *r, struct blk_req *req)
{
	uint64_t off = req->sector * BLK_SECTOR_SIZE;
	bool fail = r->fail_after >= 0 && (req->op == BLK_OP_WRITE || req->op == BLK_OP_FLUSH) &&
		    r->writes >= (uint64_t)r->fail_after;
	req->status = 0;
	if (fail) {
		req->status = -EIO;
		r->dev.stats.errors++;
		return;
	}
	switch (req->op) {
	case BLK_OP_READ:
		blkdev_req_copy(req, r->mem + off, false);
		r->dev.stats.reads++;
		r->dev.stats.read_bytes += req->len;
		break;
	case BLK_OP_WRITE:
		blkdev_req_copy(req, r->mem + off, true);
		r->writes++;
		r->dev.stats.writes++;
		r->dev.stats.write_bytes += req->len;
		break;
	case BLK_OP_FLUSH:
		r->dev.stats.flushes++;
		break;
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		memset(r->mem + off, 0, req->len);
		r->writes++; /* the crash recorder counts them as writes */
		r->dev.stats.discards++;
		break;
	default:
		req->status = -EOPNOTSUPP;
	}
}

static int ram_wait(struct blk_dev *dev)
{
	struct blkdev_ram *r = dev->priv;
	if (!r->head)
		return -ENODEV;
	/* Take the whole list; complete in order or shuffled. */
	struct blk_req *list[256];
	size_t n = 0;
	while (r->head && n < 256) {
		list[n++] = r->head;
		r->head = r->head->next;
	}
	if (!r->head)
		r->tail = NULL;
	if (r->rng)
		for (size_t i = n; i > 1; i--) {
			size_t j = host_rand(&r->rng) % i;
			struct blk_req *t = list[i - 1];
			list[i - 1] = list[j];
			list[j] = t;
		}
	for (size_t i = 0; i < n; i++) {
		struct blk_req *req = list[i];
		ram_exec(r, req);
		dev->inflight--;
		dev->stats.completions++;
		if (r->observe)
			r->observe(r, req);
		req->done(req);
	}
	return 0;
}

static const struct blk_dev_ops ram_ops = {
	.submit = ram_submit,
	.kick = ram_kick,
	.wait = ram_wait,
};

struct blkdev_ram *blkdev_ram_new(uint64_t bytes, uint8_t *mem)
{
	struct blkdev_ram *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->mem = mem ? mem : calloc(1, bytes);
	r->borrowed = mem != NULL;
	if (!r->mem) {
		free(r);
		return NULL;
	}
	memcpy(r->dev.name, "ram0", 5);
	r->dev.capacity = bytes / BLK_SECTOR_SIZE;
	r->dev.lbs = r->dev.pbs = 512;
	r->dev.flags = BLK_F_FLUSH;
	r->dev.max_req_bytes = 256 << 10;
	r->dev.ops = &ram_ops;
	r->dev.priv = r;
	r->fail_after = -1;
	return r;
}

void blkdev_ram_free(struct blkdev_ram *r)
{
	if (!r)
		return;
	if (!r->borrowed)
		free(r->mem);
	free(r);
}
