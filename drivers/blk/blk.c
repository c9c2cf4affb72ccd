/*
 * The device-independent half of the block interface: argument checks,
 * synchronous wrappers and the device registry. Built into the kernel and,
 * unchanged, into host programs (it needs only string-free C).
 */
#include "blk.h"

#ifdef QUILL_HOST
#include <errno.h>
#else
#include "../../kernel/errno.h"
#endif

#define BLK_MAX_DEVS 16

static struct blk_dev *blk_devs[BLK_MAX_DEVS];
static unsigned blk_ndevs;

/* The segment list of a read or write (blk.h): 0 or -EINVAL. */
static int blk_check_segs(const struct blk_req *req)
{
	if (req->nsegs > BLK_MAX_SEGS || !req->segs)
		return -EINVAL;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < req->nsegs; i++) {
		const struct blk_seg *s = &req->segs[i];
		if (!s->buf || ((uintptr_t)s->buf & (BLK_SECTOR_SIZE - 1)) || s->len == 0 ||
		    (s->len & (BLK_SECTOR_SIZE - 1)))
			return -EINVAL;
		sum += s->len;
	}
	return sum == req->len ? 0 : -EINVAL;
}

int blk_check(const struct blk_dev *dev, const struct blk_req *req)
{
	if (dev->broken)
		return -ENODEV;
	switch (req->op) {
	case BLK_OP_FLUSH:
		return req->nsegs ? -EINVAL : 0;
	case BLK_OP_GET_ID:
		if (!(dev->flags & BLK_F_GET_ID))
			return -EOPNOTSUPP;
		if (!req->buf || req->len == 0 || req->nsegs)
			return -EINVAL;
		return 0;
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (__builtin_expect(req->nsegs != 0, 0)) { /* one buffer stays the quick case */
			int err = blk_check_segs(req);
			if (err)
				return err;
		} else if (!req->buf || ((uintptr_t)req->buf & (BLK_SECTOR_SIZE - 1))) {
			return -EINVAL;
		}
		break;
	case BLK_OP_DISCARD:
		if (!(dev->flags & BLK_F_DISCARD))
			return -EOPNOTSUPP;
		if (req->nsegs)
			return -EINVAL;
		break;
	case BLK_OP_WRITE_ZEROES:
		if (!(dev->flags & BLK_F_WRITE_ZEROES))
			return -EOPNOTSUPP;
		if (req->nsegs)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (req->op != BLK_OP_READ && (dev->flags & BLK_F_RO))
		return -EROFS;
	/* lbs is a power of two (blk.h): whole blocks by mask, no division. */
	uint64_t lbs_mask = dev->lbs - 1;
	if (req->len == 0 || (req->len & lbs_mask) || ((req->sector << BLK_SECTOR_SHIFT) & lbs_mask))
		return -EINVAL;
	uint64_t nsect = req->len >> BLK_SECTOR_SHIFT;
	if (req->sector >= dev->capacity || nsect > dev->capacity - req->sector)
		return -ERANGE;
	return 0;
}

int blk_submit(struct blk_dev *dev, struct blk_req *req)
{
	int err = blk_check(dev, req);
	if (err)
		return err;
	req->status = 0;
	return dev->ops->submit(dev, req);
}

void blk_kick(struct blk_dev *dev)
{
	dev->ops->kick(dev);
}

/* A synchronous request marks its completion by clearing its own ctx. */
static void blk_sync_done(struct blk_req *req)
{
	req->ctx = 0;
}

static bool blk_sync_completed(struct blk_req *req)
{
	return *(void *volatile *)&req->ctx == 0;
}

int blk_sync(struct blk_dev *dev, struct blk_req *req)
{
	req->done = blk_sync_done;
	req->ctx = req;
	int err = blk_submit(dev, req);
	if (err)
		return err;
	blk_kick(dev);
	while (!blk_sync_completed(req)) {
		err = dev->ops->wait(dev);
		if (err && !blk_sync_completed(req))
			return err;
	}
	return req->status;
}

int blk_read(struct blk_dev *dev, uint64_t sector, void *buf, uint32_t len)
{
	struct blk_req r;
	blk_req_init(&r, BLK_OP_READ, sector, buf, len, 0, 0);
	return blk_sync(dev, &r);
}

int blk_write(struct blk_dev *dev, uint64_t sector, const void *buf, uint32_t len)
{
	struct blk_req r;
	blk_req_init(&r, BLK_OP_WRITE, sector, (void *)buf, len, 0, 0);
	return blk_sync(dev, &r);
}

int blk_flush(struct blk_dev *dev)
{
	struct blk_req r;
	blk_req_init(&r, BLK_OP_FLUSH, 0, 0, 0, 0, 0);
	return blk_sync(dev, &r);
}

int blk_register(struct blk_dev *dev)
{
	if (blk_ndevs >= BLK_MAX_DEVS)
		return -ENOSPC;
	blk_devs[blk_ndevs++] = dev;
	return 0;
}

static int blk_name_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

struct blk_dev *blk_get(const char *name)
{
	for (unsigned i = 0; i < blk_ndevs; i++)
		if (blk_name_eq(blk_devs[i]->name, name))
			return blk_devs[i];
	return 0;
}

struct blk_dev *blk_get_index(unsigned i)
{
	return i < blk_ndevs ? blk_devs[i] : 0;
}

unsigned blk_count(void)
{
	return blk_ndevs;
}

const char *blk_strerror(int err)
{
	switch (err) {
	case 0: return "ok";
	case -EIO: return "I/O error";
	case -EOPNOTSUPP: return "unsupported";
	case -EROFS: return "read-only device";
	case -ENODEV: return "device failure";
	case -EINVAL: return "invalid request";
	case -ERANGE: return "beyond end of device";
	case -ETIMEDOUT: return "timed out";
	case -ENOMEM: return "out of memory";
	/* What the file system and the benchmarks above pass on through the same lines. */
	case -EPERM: return "not allowed without consent";
	case -ENOENT: return "no such file or directory";
	case -EEXIST: return "already exists";
	case -ENOSPC: return "no space left";
	case -EFBIG: return "file too large";
	case -ENOTDIR: return "not a directory";
	case -EISDIR: return "is a directory";
	case -ENOTEMPTY: return "directory not empty";
	case -ENAMETOOLONG: return "name too long";
	case -EUCLEAN: return "file system damaged or not a quillfs";
	case -EAGAIN: return "try again";
	case -EBUSY: return "busy";
	default: return "error";
	}
}
