/*
 * A file or block device as a struct blk_dev, for the host tools: requests
 * run synchronously when the user waits; FLUSH is fdatasync.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/host/blkdev_host.h"

struct blkdev_file {
	struct blk_dev dev;
	int fd;
	struct blk_req *head, *tail;
};

static int file_submit(struct blk_dev *dev, struct blk_req *req)
{
	struct blkdev_file *f = dev->priv;
	req->next = NULL;
	if (f->tail)
		f->tail->next = req;
	else
		f->head = req;
	f->tail = req;
	dev->inflight++;
	return 0;
}

static void file_kick(struct blk_dev *dev)
{
}

/* len bytes at off into buf (reads past the end of a sparse file give zeroes), or out of it. */
static int file_rw(struct blkdev_file *f, bool write, off_t off, uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(f->fd, buf + done, len - done, off + (off_t)done)
				  : pread(f->fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n == 0 && write))
			return -EIO;
		if (n == 0) {
			memset(buf + done, 0, len - done);
			break;
		}
		done += (size_t)n;
	}
	return 0;
}

static int file_exec(struct blkdev_file *f, struct blk_req *req)
{
	off_t off = (off_t)(req->sector * BLK_SECTOR_SIZE);
	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE: {
		struct blk_seg one;
		uint32_t n;
		const struct blk_seg *seg = blk_req_data(req, &one, &n);
		for (uint32_t i = 0; i < n; i++) {
			int err = file_rw(f, req->op == BLK_OP_WRITE, off, seg[i].buf, seg[i].len);
			if (err)
				return err;
			off += (off_t)seg[i].len;
		}
		return 0;
	}
	case BLK_OP_FLUSH:
		return fdatasync(f->fd) ? -EIO : 0;
	default:
		return -EOPNOTSUPP;
	}
}

static int file_wait(struct blk_dev *dev)
{
	struct blkdev_file *f = dev->priv;
	if (!f->head)
		return -ENODEV;
	while (f->head) {
		struct blk_req *req = f->head;
		f->head = req->next;
		if (!f->head)
			f->tail = NULL;
		req->status = file_exec(f, req);
		dev->inflight--;
		req->done(req);
	}
	return 0;
}

static const struct blk_dev_ops file_ops = {
	.submit = file_submit,
	.kick = file_kick,
	.wait = file_wait,
};

struct blk_dev *blkdev_file_open(const char *path, bool read_only)
{
	int fd = open(path, read_only ? O_RDONLY : O_RDWR);
	if (fd < 0)
		return NULL;
	struct stat st;
	uint64_t bytes = 0;
	if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, &bytes))
			bytes = 0;
	} else if (fstat(fd, &st) == 0) {
		bytes = (uint64_t)st.st_size;
	}
	struct blkdev_file *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	f->fd = fd;
	memcpy(f->dev.name, "file", 5);
	f->dev.capacity = bytes / BLK_SECTOR_SIZE;
	f->dev.lbs = f->dev.pbs = 512;
	f->dev.flags = BLK_F_FLUSH | (read_only ? BLK_F_RO : 0);
	f->dev.max_req_bytes = 1 << 20;
	f->dev.ops = &file_ops;
	f->dev.priv = f;
	return &f->dev;
}

void blkdev_file_close(struct blk_dev *dev)
{
	struct blkdev_file *f = dev->priv;
	close(f->fd);
	free(f);
}
