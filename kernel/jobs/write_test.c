/*
 * test=write, the main job's correctness half: a known pattern written
 * through the raw driver and through quillfs, read back and verified.
 *
 *   raw  LBA-stamped sectors (drivers/blk/blkpattern.h) over the first
 *        WRITE_RAW_REGION bytes of vda, 64 KiB requests, 32 in flight, a
 *        FLUSH, then read back and check every sector. Runs only when the
 *        disk holds no quillfs or overwrite=1 is given (README:
 *        destruction needs consent).
 *   fs   quillfs on vda (made when the disk holds none): a tree of files of
 *        odd sizes under /writetest, synced, unmounted, mounted again, read
 *        back and compared byte for byte. Each file's size and FNV-1a hash
 *        is printed, so the host can check the image with `quillfs cat`.
 */
#include "arch/x86_64/arch.h"
#include "drivers/blk/blk.h"
#include "drivers/blk/blkpattern.h"
#include "fs/fs.h"
#include "kernel/jobs/bench.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"

#define WRITE_RAW_REGION (64ull << 20)
#define WRITE_REQ_BYTES (64u << 10)
#define WRITE_QD 32
#define WRITE_FILES 12

struct pat_io {
	struct blk_req req;
	struct pat_pass *pass;
};

struct pat_pass {
	struct blk_dev *dev;
	uint8_t op;
	uint32_t pass_no;
	uint64_t next_sector, end_sector;
	uint32_t req_bytes;
	uint32_t inflight;
	uint64_t bad_sectors, errors;
	int first_error;
	uint64_t first_bad_lba;
	enum blkpat_result first_bad;
	volatile bool need_kick;
};

static void pat_issue(struct pat_pass *p, struct pat_io *io);

static void pat_done(struct blk_req *req)
{
	struct pat_io *io = req->ctx;
	struct pat_pass *p = io->pass;
	if (req->status) {
		p->errors++;
		if (!p->first_error)
			p->first_error = req->status;
	} else if (p->op == BLK_OP_READ) {
		for (uint32_t off = 0; off < req->len; off += BLK_SECTOR_SIZE) {
			uint64_t lba = req->sector + off / BLK_SECTOR_SIZE;
			enum blkpat_result r = blkpat_check((uint8_t *)req->buf + off, lba, p->pass_no);
			if (r != BLKPAT_OK) {
				if (!p->bad_sectors++) {
					p->first_bad_lba = lba;
					p->first_bad = r;
				}
			}
		}
	}
	if (p->next_sector < p->end_sector && !p->first_error)
		pat_issue(p, io);
	else
		p->inflight--;
}

static void pat_issue(struct pat_pass *p, struct pat_io *io)
{
	uint64_t left = (p->end_sector - p->next_sector) << BLK_SECTOR_SHIFT;
	uint32_t len = left < p->req_bytes ? (uint32_t)left : p->req_bytes;
	struct blk_req *r = &io->req;
	blk_req_init(r, p->op, p->next_sector, r->buf, len, pat_done, io);
	if (p->op == BLK_OP_WRITE)
		for (uint32_t off = 0; off < len; off += BLK_SECTOR_SIZE)
			blkpat_fill((uint8_t *)r->buf + off, r->sector + off / BLK_SECTOR_SIZE, p->pass_no);
	p->next_sector += len >> BLK_SECTOR_SHIFT;
	int err = blk_submit(p->dev, r);
	if (err) {
		p->errors++;
		if (!p->first_error)
			p->first_error = err;
		p->inflight--;
		return;
	}
	p->need_kick = true;
}

/* One pass of op over [0, sectors) with WRITE_QD requests in flight. */
static int pat_run(struct pat_pass *p, struct pat_io *ios, uint64_t sectors)
{
	p->next_sector = 0;
	p->end_sector = sectors;
	p->inflight = 0;
	for (int i = 0; i < WRITE_QD && p->next_sector < p->end_sector; i++) {
		p->inflight++;
		pat_issue(p, &ios[i]);
	}
	while (p->inflight) {
		if (p->need_kick) {
			p->need_kick = false;
			blk_kick(p->dev);
		}
		if (p->inflight && p->dev->ops->wait(p->dev) && p->inflight)
			return -ENODEV;
	}
	return p->first_error;
}

static int write_test_raw(struct blk_dev *dev, char *reason, size_t reason_len)
{
	uint64_t sectors = MIN(dev->capacity, WRITE_RAW_REGION >> BLK_SECTOR_SHIFT);
	sectors = ALIGN_DOWN(sectors, dev->lbs / BLK_SECTOR_SIZE);
	if (!sectors) /* a pattern of nothing verifies nothing */
		KTEST_FAIL("raw pattern on %s: %llu sectors, not one block to write", dev->name,
			   (unsigned long long)dev->capacity);
	uint32_t req_bytes = WRITE_REQ_BYTES;
	if (dev->max_req_bytes && dev->max_req_bytes < req_bytes)
		req_bytes = ALIGN_DOWN(dev->max_req_bytes, dev->lbs);
	size_t pages = (size_t)WRITE_QD * req_bytes / PAGE_SIZE;
	uint64_t bufs = frames_alloc(pages, PAGE_SIZE);
	struct pat_io *ios = kzalloc(sizeof(*ios) * WRITE_QD);
	if (!bufs || !ios) {
		if (bufs)
			frames_free(bufs, pages);
		kfree(ios);
		KTEST_FAIL("out of memory for the pattern buffers");
	}
	struct pat_pass p = {.dev = dev, .req_bytes = req_bytes, .pass_no = (uint32_t)rdtsc() | 1};
	for (int i = 0; i < WRITE_QD; i++) {
		ios[i].pass = &p;
		ios[i].req.buf = (uint8_t *)phys_to_virt(bufs) + (size_t)i * req_bytes;
	}
	uint64_t t0 = rdtsc();
	p.op = BLK_OP_WRITE;
	int err = pat_run(&p, ios, sectors);
	if (!err)
		err = blk_flush(dev);
	uint64_t t1 = rdtsc();
	if (!err) {
		p.op = BLK_OP_READ;
		err = pat_run(&p, ios, sectors);
	}
	uint64_t t2 = rdtsc();
	frames_free(bufs, pages);
	kfree(ios);
	if (err)
		KTEST_FAIL("raw pattern on %s: %llu requests failed, first: %s", dev->name,
			   (unsigned long long)p.errors, blk_strerror(err));
	if (p.bad_sectors)
		KTEST_FAIL("raw pattern on %s: %llu bad sectors, first at LBA %llu: %s", dev->name,
			   (unsigned long long)p.bad_sectors, (unsigned long long)p.first_bad_lba,
			   blkpat_strerror(p.first_bad));
	printf("write: raw: %llu MiB pattern (pass %#x) written in %llu ms, read back and verified in %llu ms\n",
	       (unsigned long long)(sectors >> 11), p.pass_no, (unsigned long long)(tsc_to_ns(t1 - t0) / 1000000),
	       (unsigned long long)(tsc_to_ns(t2 - t1) / 1000000));
	return 0;
}

/* Content of byte `off` of test file i: position-dependent, so misplaced blocks show. */
static uint8_t file_byte(unsigned i, uint64_t off)
{
	uint64_t w = blkpat_mix(((uint64_t)i << 40) ^ (off >> 3));
	return (uint8_t)(w >> ((off & 7) * 8));
}

static uint64_t file_size(unsigned i)
{
	/* From a few bytes to ~1 MiB, never block-aligned. */
	static const uint64_t sizes[] = {1, 4095, 4097, 12345, 65537, 300001, 1048573};
	return sizes[i % 7] + i;
}

static void file_path(char *buf, size_t n, unsigned i)
{
	if (i % 3 == 2)
		snprintf(buf, n, "/writetest/sub/deeper/file%u", i);
	else
		snprintf(buf, n, "/writetest/file%u", i);
}

static int write_test_fs(struct blk_dev *dev, char *reason, size_t reason_len)
{
	struct qfs *fs;
	int err;
	if ((err = consent_format_if_absent(dev, "write"))) {
		if (err == -EPERM)
			KTEST_FAIL("%s holds a quillfs this kernel cannot mount; add overwrite=1 to replace it", dev->name);
		KTEST_FAIL("no quillfs on %s: %s", dev->name, blk_strerror(err));
	}
	if ((err = fs_mount_job(dev, NULL, &fs, "write")))
		KTEST_FAIL("qfs_mount: %s", blk_strerror(err));
	static const char *const dirs[] = {"/writetest", "/writetest/sub", "/writetest/sub/deeper"};
	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		err = qfs_mkdir(fs, dirs[d]);
		if (err && err != -EEXIST) {
			qfs_unmount(fs);
			KTEST_FAIL("qfs_mkdir(%s): %d", dirs[d], err);
		}
	}
	err = 0; /* the tree an earlier run left is reused: its files are rewritten */
	uint8_t *buf = kmalloc(PAGE_SIZE);
	char path[64] = "";
	if (!buf) {
		qfs_unmount(fs);
		KTEST_FAIL("out of memory");
	}
	for (unsigned i = 0; i < WRITE_FILES && !err; i++) {
		struct qfs_file *f;
		file_path(path, sizeof(path), i);
		if ((err = qfs_open(fs, path, QFS_O_CREAT | QFS_O_TRUNC, &f)))
			break;
		uint64_t size = file_size(i);
		for (uint64_t off = 0; off < size && !err; off += PAGE_SIZE) {
			size_t n = MIN(PAGE_SIZE, size - off);
			for (size_t j = 0; j < n; j++)
				buf[j] = file_byte(i, off + j);
			int64_t w = qfs_write(f, off, buf, n);
			if (w != (int64_t)n)
				err = w < 0 ? (int)w : -EIO;
		}
		if (!err && i % 4 == 0)
			err = qfs_fsync(f);
		qfs_close(f);
	}
	if (!err)
		err = qfs_sync(fs);
	int uerr = qfs_unmount(fs);
	if (err || uerr) {
		kfree(buf);
		KTEST_FAIL("writing %s: %d (unmount %d)", path, err, uerr);
	}

	/* Read everything back from a fresh mount: what is on the disk, not in a cache. */
	if ((err = qfs_mount(dev, NULL, &fs))) {
		kfree(buf);
		KTEST_FAIL("remount: %d", err);
	}
	for (unsigned i = 0; i < WRITE_FILES && !err; i++) {
		struct qfs_file *f;
		file_path(path, sizeof(path), i);
		if ((err = qfs_open(fs, path, 0, &f)))
			break;
		uint64_t size = file_size(i), hash = 0xcbf29ce484222325ull;
		struct qfs_stat st;
		if ((err = qfs_fstat(f, &st)) == 0 && st.size != size) {
			qfs_close(f);
			qfs_unmount(fs);
			kfree(buf);
			KTEST_FAIL("%s is %llu bytes, wrote %llu", path, (unsigned long long)st.size,
				   (unsigned long long)size);
		}
		for (uint64_t off = 0; off < size && !err; off += PAGE_SIZE) {
			size_t n = MIN(PAGE_SIZE, size - off);
			int64_t r = qfs_read(f, off, buf, n);
			if (r != (int64_t)n) {
				err = r < 0 ? (int)r : -EIO;
				break;
			}
			for (size_t j = 0; j < n; j++) {
				if (buf[j] != file_byte(i, off + j)) {
					qfs_close(f);
					qfs_unmount(fs);
					kfree(buf);
					KTEST_FAIL("%s differs at byte %llu", path, (unsigned long long)(off + j));
				}
				hash = (hash ^ buf[j]) * 0x100000001b3ull;
			}
		}
		qfs_close(f);
		if (!err)
			printf("write: fs: %s size=%llu fnv1a=%016llx verified\n", path, (unsigned long long)size,
			       (unsigned long long)hash);
	}
	uerr = qfs_unmount(fs);
	kfree(buf);
	if (err || uerr)
		KTEST_FAIL("reading %s back: %d (unmount %d)", path, err, uerr);
	return 0;
}

/* Named only: it writes to the disk (the default job of make run names it). */
KTEST_DEFINE(write, "write", true)
{
	struct blk_dev *dev = blk_get("vda");
	if (!dev)
		KTEST_FAIL("no disk: boot with -drive if=virtio (tools/quill-run --disk FILE)");
	if (dev->flags & BLK_F_RO)
		KTEST_FAIL("%s is read-only", dev->name);
	if (consent_overwrite(dev, "write")) {
		if (write_test_raw(dev, reason, reason_len))
			return -1;
	} else {
		printf("write: raw pattern skipped: it would destroy the quillfs on %s (overwrite=1 allows it)\n",
		       dev->name);
	}
	return write_test_fs(dev, reason, reason_len);
}
