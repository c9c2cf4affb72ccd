/*
 * The file system as a whole: format, superblock, mount (checkpoint choice,
 * then recover.c), unmount, statfs, and the segment table's free/busy state.
 *
 * A segment is free when no live block is in it and the last checkpoint
 * does not need it: live == 0 and not busy. A segment turns busy when the
 * log enters it and stays so until a checkpoint finds it empty
 * (qfs_cp_release): until then a crash would roll forward through it.
 */
#include "fs/fs_int.h"

static uint32_t cp_blocks_for(uint32_t imap_blocks, uint64_t nsegs)
{
	return 1 + (imap_blocks * 4 + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE +
	       (uint32_t)((nsegs * sizeof(struct qfs_disk_sut) + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE);
}

static uint32_t super_csum(struct qfs_disk_super *sb)
{
	uint32_t c = sb->csum;
	sb->csum = 0;
	uint32_t r = qfs_csum(0, sb, sizeof(*sb));
	sb->csum = c;
	return r;
}

static bool pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

static int super_valid(const struct blk_dev *dev, struct qfs_disk_super *sb)
{
	if (sb->magic != QFS_MAGIC_SUPER)
		return -EUCLEAN;
	/* Another version may checksum differently: never guess at it. */
	if (sb->version != QFS_VERSION)
		return -EINVAL;
	if (sb->csum != super_csum(sb))
		return -EUCLEAN;
	uint64_t dev_blocks = dev->capacity / QFS_SECTORS_PER_BLOCK;
	if (sb->block_size != QFS_BLOCK_SIZE || !pow2(sb->rec_bytes) || sb->rec_bytes < QFS_MIN_REC ||
	    sb->rec_bytes > QFS_BLOCK_SIZE ||
	    sb->nblocks > dev_blocks || sb->nblocks > 0xffffffffull ||
	    sb->seg_blocks < QFS_MIN_SEG_BLOCKS || sb->seg_blocks > QFS_MAX_SEG_BLOCKS ||
	    sb->nsegs < 4 || sb->max_inodes < QFS_IMAP_PER_BLOCK ||
	    sb->max_inodes > (1u << 30) || sb->imap_blocks * QFS_IMAP_PER_BLOCK != sb->max_inodes ||
	    sb->cp_blocks != cp_blocks_for(sb->imap_blocks, sb->nsegs) ||
	    sb->cp_addr[0] != 2 || sb->cp_addr[1] != 2 + (uint64_t)sb->cp_blocks ||
	    sb->seg0 < 2 + 2 * (uint64_t)sb->cp_blocks ||
	    sb->seg0 + (uint64_t)sb->nsegs * sb->seg_blocks > sb->nblocks ||
	    sb->cp_interval < 1 || sb->cp_interval > sb->nsegs)
		return -EUCLEAN;
	return 0;
}

int qfs_read_super(struct blk_dev *dev, struct qfs_disk_super *out)
{
	if (dev->lbs > QFS_BLOCK_SIZE || QFS_BLOCK_SIZE % dev->lbs)
		return -EINVAL;
	if (dev->capacity < 2 * QFS_SECTORS_PER_BLOCK)
		return -EUCLEAN;
	uint8_t *buf = qfs_alloc_big(2 * QFS_BLOCK_SIZE);
	if (!buf)
		return -ENOMEM;
	int err = blk_read(dev, 0, buf, 2 * QFS_BLOCK_SIZE) ? -EIO : -EUCLEAN;
	for (int i = 0; err != -EIO && i < 2; i++) {
		struct qfs_disk_super *sb = (struct qfs_disk_super *)(buf + i * QFS_BLOCK_SIZE);
		int e = super_valid(dev, sb);
		if (e == 0) {
			*out = *sb;
			err = 0;
			break;
		}
		if (e == -EINVAL)
			err = e; /* another version: refuse, whatever the other copy says */
	}
	qfs_free_big(buf, 2 * QFS_BLOCK_SIZE);
	/* Records are written whole: the device must take writes that small. */
	if (!err && out->rec_bytes < dev->lbs)
		err = -EINVAL;
	return err;
}

int qfs_probe(struct blk_dev *dev)
{
	struct qfs_disk_super sb;
	return qfs_read_super(dev, &sb);
}

bool qfs_present(struct blk_dev *dev)
{
	uint64_t len = 2 * QFS_BLOCK_SIZE;
	if (dev->lbs > len)
		len = dev->lbs; /* a power of two: whole device blocks either way */
	if (dev->capacity * BLK_SECTOR_SIZE < len)
		return false; /* too small to have been formatted */
	uint8_t *buf = qfs_alloc_big(len);
	if (!buf)
		return true;
	bool present = true; /* unreadable: assume the worst */
	if (blk_read(dev, 0, buf, (uint32_t)len) == 0) {
		uint32_t m0, m1;
		__builtin_memcpy(&m0, buf, sizeof(m0));
		__builtin_memcpy(&m1, buf + QFS_BLOCK_SIZE, sizeof(m1));
		present = m0 == QFS_MAGIC_SUPER || m1 == QFS_MAGIC_SUPER;
	}
	qfs_free_big(buf, len);
	return present;
}

/* The in-memory tables every mount (and format) needs, sized by sb. */
static int alloc_tables(struct qfs *fs, struct blk_dev *dev)
{
	const struct qfs_disk_super *sb = &fs->sb;
	fs->dev = dev;
	fs->rec = sb->rec_bytes;
	fs->seed = qfs_csum(0, sb->uuid, sizeof(sb->uuid));
	fs->max_req = dev->max_req_bytes && dev->max_req_bytes < QFS_MAX_REQ ?
		      dev->max_req_bytes & ~(QFS_BLOCK_SIZE - 1) : QFS_MAX_REQ;
	if (fs->max_req < QFS_BLOCK_SIZE)
		fs->max_req = QFS_BLOCK_SIZE;
	fs->end_block = sb->seg0 + (uint64_t)sb->nsegs * sb->seg_blocks;
	fs->imap_addr = qfs_zalloc(sb->imap_blocks * 4);
	fs->imap = qfs_zalloc(sb->imap_blocks * sizeof(uint32_t *));
	fs->imap_dirty = qfs_zalloc(sb->imap_blocks);
	fs->sut = qfs_zalloc(sb->nsegs * sizeof(struct qfs_disk_sut));
	fs->seg_busy = qfs_zalloc(sb->nsegs);
	if (!fs->imap_addr || !fs->imap || !fs->imap_dirty || !fs->sut || !fs->seg_busy)
		return -ENOMEM;
	int err = qfs_cache_init(fs);
	return err ? err : qfs_log_init(fs);
}

/* ---- format ---- */

int qfs_format(struct blk_dev *dev, const struct qfs_format_opts *opts)
{
	struct qfs_format_opts o = {0};
	if (opts)
		o = *opts;
	uint64_t dev_bytes = dev->capacity * BLK_SECTOR_SIZE;
	if (!o.bytes)
		o.bytes = dev_bytes;
	/* Default: 512 KiB segments, smaller on small file systems so there
	 * are about 128 or more (the cleaner's reserve is a share of them). */
	if (!o.seg_bytes)
		for (o.seg_bytes = QFS_DEFAULT_SEG_BYTES;
		     o.seg_bytes > QFS_MIN_SEG_BLOCKS * QFS_BLOCK_SIZE && o.bytes / o.seg_bytes < 128;)
			o.seg_bytes /= 2;
	if (dev->flags & BLK_F_RO)
		return -EROFS;
	if (o.bytes > dev_bytes || o.bytes < QFS_MIN_BYTES || o.seg_bytes % QFS_BLOCK_SIZE ||
	    o.seg_bytes / QFS_BLOCK_SIZE < QFS_MIN_SEG_BLOCKS ||
	    o.seg_bytes / QFS_BLOCK_SIZE > QFS_MAX_SEG_BLOCKS ||
	    dev->lbs > QFS_BLOCK_SIZE || QFS_BLOCK_SIZE % dev->lbs)
		return -EINVAL;

	struct qfs *fs = qfs_zalloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	struct qfs_disk_super *sb = &fs->sb;
	sb->magic = QFS_MAGIC_SUPER;
	sb->version = QFS_VERSION;
	sb->block_size = QFS_BLOCK_SIZE;
	sb->rec_bytes = dev->lbs > QFS_MIN_REC ? dev->lbs : QFS_MIN_REC;
	sb->nblocks = o.bytes / QFS_BLOCK_SIZE;
	if (sb->nblocks > 0xffffffffull)
		sb->nblocks = 0xffffffffull;
	sb->seg_blocks = o.seg_bytes / QFS_BLOCK_SIZE;
	uint64_t mi = QFS_ROUNDUP(sb->nblocks / 4, QFS_IMAP_PER_BLOCK);
	if (mi < QFS_IMAP_PER_BLOCK)
		mi = QFS_IMAP_PER_BLOCK;
	if (mi > (1u << 30))
		mi = 1u << 30;
	sb->max_inodes = (uint32_t)mi;
	sb->imap_blocks = sb->max_inodes / QFS_IMAP_PER_BLOCK;
	sb->cp_blocks = cp_blocks_for(sb->imap_blocks, sb->nblocks / sb->seg_blocks);
	sb->cp_addr[0] = 2;
	sb->cp_addr[1] = 2 + (uint64_t)sb->cp_blocks;
	sb->seg0 = QFS_ROUNDUP(2 + 2 * (uint64_t)sb->cp_blocks, sb->seg_blocks);
	uint64_t nsegs = sb->seg0 < sb->nblocks ? (sb->nblocks - sb->seg0) / sb->seg_blocks : 0;
	sb->nsegs = (uint32_t)nsegs;
	sb->cp_blocks = cp_blocks_for(sb->imap_blocks, sb->nsegs);
	/* K: at most QFS_CP_INTERVAL, and an eighth of a small file system. */
	sb->cp_interval = sb->nsegs / 8 < QFS_CP_INTERVAL ? sb->nsegs / 8 : QFS_CP_INTERVAL;
	if (sb->cp_interval < 1)
		sb->cp_interval = 1;
	int err = -ENOSPC;
	if (nsegs < 8)
		goto out;

	/* uuid: the caller's (tests), else fresh entropy: nothing an earlier
	 * format left on the device (its log, its checkpoints) names it. */
	memcpy(sb->uuid, o.uuid, sizeof(sb->uuid));
	uint8_t zero[16] = {0};
	fs->cache_blocks = 64;
	err = memcmp(sb->uuid, zero, 16) ? 0 : qfs_random(sb->uuid, sizeof(sb->uuid));
	if (!err)
		err = alloc_tables(fs, dev);
	if (err)
		goto out;
	sb->csum = super_csum(sb);

	/* The log starts in segment 0 with the root directory and its imap block. */
	fs->seq = 1;
	fs->prev_csum = fs->seed;
	for (int h = 0; h < QFS_NHEADS; h++) {
		fs->head[h].cur_seg = 2 * (uint32_t)h;
		fs->head[h].next_seg = 2 * (uint32_t)h + 1;
		fs->head[h].addr = (uint32_t)qfs_seg_start(fs, fs->head[h].cur_seg);
		fs->seg_busy[2 * h] = fs->seg_busy[2 * h + 1] = 1;
	}
	/* The root directory: an inode for the first checkpoint to write. */
	struct qfs_inode *root;
	err = qfs_iget_any(fs, QFS_ROOT_INO, &root);
	if (err)
		goto out;
	root->tomb = false;
	root->d->gen = 1;
	root->d->mode = QFS_MODE_DIR;
	root->d->parent = QFS_ROOT_INO;
	qfs_inode_cpdirty(fs, root);
	qfs_iput(fs, root);
	err = qfs_checkpoint(fs);
	if (err)
		goto out;
	/* The other region: zeroes, never valid. */
	memset(fs->tmp, 0, QFS_BLOCK_SIZE);
	err = qfs_dev_write(fs, sb->cp_addr[0], fs->tmp, 1);
	/* Superblocks last: until they land, the device is not a quillfs. */
	memset(fs->tmp, 0, QFS_BLOCK_SIZE);
	memcpy(fs->tmp, sb, sizeof(*sb));
	if (!err)
		err = qfs_dev_flush(fs);
	if (!err)
		err = qfs_dev_write(fs, 0, fs->tmp, 1);
	if (!err)
		err = qfs_dev_write(fs, 1, fs->tmp, 1);
	if (!err)
		err = qfs_dev_flush(fs);
out:
	qfs_destroy(fs);
	return err;
}

/* ---- segments ---- */

int qfs_seg_alloc(struct qfs *fs, uint32_t *seg)
{
	uint32_t n = fs->sb.nsegs;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (fs->alloc_hint + i) % n;
		if (fs->seg_busy[s] || fs->sut[s].live || qfs_seg_in_log(fs, s))
			continue;
		fs->alloc_hint = s + 1;
		fs->seg_busy[s] = 1;
		fs->free_segs--;
		*seg = s;
		return 0;
	}
	return -ENOSPC;
}

void qfs_seg_recount(struct qfs *fs)
{
	fs->free_segs = 0;
	fs->live_blocks = 0;
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		fs->live_blocks += fs->sut[s].live;
		if (!fs->seg_busy[s])
			fs->free_segs++;
	}
}

/* After a checkpoint: segments it does not need become free (and discarded). */
void qfs_cp_release(struct qfs *fs)
{
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		bool busy = fs->sut[s].live || qfs_seg_in_log(fs, s);
		if (fs->seg_busy[s] && !busy && (fs->dev->flags & BLK_F_DISCARD)) {
			struct blk_req r;
			blk_req_init(&r, BLK_OP_DISCARD, qfs_seg_start(fs, s) * QFS_SECTORS_PER_BLOCK,
				     NULL, fs->sb.seg_blocks * QFS_BLOCK_SIZE, NULL, NULL);
			blk_sync(fs->dev, &r); /* a hint: failure changes nothing */
		}
		fs->seg_busy[s] = busy;
	}
	qfs_seg_recount(fs);
}

/* ---- mount ---- */

void qfs_destroy(struct qfs *fs)
{
	if (!fs)
		return;
	qfs_log_quiesce(fs);
	qfs_cache_free(fs);
	qfs_log_free(fs);
	if (fs->imap)
		for (uint32_t i = 0; i < fs->sb.imap_blocks; i++)
			qfs_free_block(fs->imap[i]);
	qfs_free(fs->imap);
	qfs_free(fs->imap_addr);
	qfs_free(fs->imap_dirty);
	qfs_free(fs->sut);
	qfs_free(fs->seg_busy);
	qfs_free(fs);
}

static int cp_valid(struct qfs *fs, uint8_t *buf)
{
	struct qfs_disk_cp *cp = (struct qfs_disk_cp *)buf;
	const struct qfs_disk_super *sb = &fs->sb;
	size_t bytes = (size_t)sb->cp_blocks * QFS_BLOCK_SIZE;
	uint32_t csum = cp->csum;
	cp->csum = 0;
	uint32_t want = qfs_csum(fs->seed, buf, bytes);
	cp->csum = csum;
	uint32_t sut_block = 1 + (sb->imap_blocks * 4 + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE;
	if (cp->magic != QFS_MAGIC_CP || csum != want || cp->nsegs != sb->nsegs ||
	    cp->imap_blocks != sb->imap_blocks || cp->sut_block != sut_block)
		return -EUCLEAN;
	/* Each head in its own segments, its position inside its segment. */
	for (int h = 0; h < QFS_NHEADS; h++) {
		const struct qfs_disk_head *hd = &cp->head[h];
		if (hd->seg >= sb->nsegs || hd->next_seg >= sb->nsegs || hd->next_seg == hd->seg ||
		    hd->addr < qfs_seg_start(fs, hd->seg) ||
		    hd->addr > qfs_seg_start(fs, hd->seg) + sb->seg_blocks)
			return -EUCLEAN;
		for (int o = 0; o < h; o++)
			if (hd->seg == cp->head[o].seg || hd->seg == cp->head[o].next_seg ||
			    hd->next_seg == cp->head[o].seg || hd->next_seg == cp->head[o].next_seg)
				return -EUCLEAN;
	}
	const uint32_t *imap = (const uint32_t *)(buf + QFS_BLOCK_SIZE);
	for (uint32_t i = 0; i < sb->imap_blocks; i++)
		if (imap[i] && !qfs_addr_ok(fs, imap[i]))
			return -EUCLEAN;
	const struct qfs_disk_sut *sut = (const struct qfs_disk_sut *)(buf + (size_t)sut_block * QFS_BLOCK_SIZE);
	for (uint32_t s = 0; s < sb->nsegs; s++)
		if (sut[s].live > sb->seg_blocks)
			return -EUCLEAN;
	return 0;
}

static int load_checkpoint(struct qfs *fs)
{
	const struct qfs_disk_super *sb = &fs->sb;
	size_t bytes = (size_t)sb->cp_blocks * QFS_BLOCK_SIZE;
	uint8_t *buf[2];
	int best = -1, err = 0;
	buf[0] = qfs_alloc_big(bytes);
	buf[1] = qfs_alloc_big(bytes);
	if (!buf[0] || !buf[1]) {
		err = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		err = qfs_dev_read(fs, sb->cp_addr[i], buf[i], sb->cp_blocks);
		if (err)
			goto out;
		if (cp_valid(fs, buf[i]))
			continue;
		if (best < 0 || ((struct qfs_disk_cp *)buf[i])->cp_seq >
				((struct qfs_disk_cp *)buf[best])->cp_seq)
			best = i;
	}
	err = -EUCLEAN;
	if (best < 0)
		goto out;
	struct qfs_disk_cp *cp = (struct qfs_disk_cp *)buf[best];
	fs->cp_seq = cp->cp_seq;
	fs->seq = cp->log_seq;
	fs->prev_csum = cp->log_prev;
	for (int h = 0; h < QFS_NHEADS; h++) {
		fs->head[h].addr = cp->head[h].addr;
		fs->head[h].cur_seg = cp->head[h].seg;
		fs->head[h].next_seg = cp->head[h].next_seg;
	}
	fs->user_bytes = cp->user_bytes;
	fs->dev_bytes = cp->dev_bytes;
	fs->cleaned_segs = cp->cleaned_segs;
	memcpy(fs->imap_addr, buf[best] + QFS_BLOCK_SIZE, sb->imap_blocks * 4);
	memcpy(fs->sut, buf[best] + (size_t)cp->sut_block * QFS_BLOCK_SIZE,
	       (size_t)sb->nsegs * sizeof(struct qfs_disk_sut));
	for (uint32_t s = 0; s < sb->nsegs; s++)
		fs->seg_busy[s] = fs->sut[s].live || qfs_seg_in_log(fs, s);
	err = 0;
	for (uint32_t i = 0; !err && i < sb->imap_blocks; i++) {
		if (!fs->imap_addr[i])
			continue;
		fs->imap[i] = qfs_alloc_block();
		if (!fs->imap[i]) {
			err = -ENOMEM;
			break;
		}
		err = qfs_dev_read(fs, fs->imap_addr[i], fs->imap[i], 1);
		for (uint32_t k = 0; !err && k < QFS_IMAP_PER_BLOCK; k++)
			if (fs->imap[i][k] && !qfs_addr_ok(fs, fs->imap[i][k]))
				err = -EUCLEAN;
	}
	if (!err && !qfs_imap_get(fs, QFS_ROOT_INO))
		err = -EUCLEAN;
out:
	qfs_free_big(buf[0], bytes);
	qfs_free_big(buf[1], bytes);
	return err;
}

int qfs_mount_fs(struct blk_dev *dev, const struct qfs_mount_opts *opts, bool for_fsck,
		 struct qfs **out)
{
	struct qfs_mount_opts o = {0};
	if (opts)
		o = *opts;
	struct qfs *fs = qfs_zalloc(sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->ro = o.read_only || (dev->flags & BLK_F_RO);
	fs->cache_blocks = o.cache_blocks ? o.cache_blocks : 1024;
	if (fs->cache_blocks < 32)
		fs->cache_blocks = 32;
	int err = qfs_read_super(dev, &fs->sb);
	if (!err)
		err = alloc_tables(fs, dev);
	if (!err)
		err = load_checkpoint(fs);
	if (err)
		goto fail;
	err = qfs_recover(fs);
	if (err)
		goto fail;
	qfs_seg_recount(fs);
	/*
	 * Every read-write mount starts a new chain with a checkpoint, whether
	 * recovery applied anything or not: psegs a crash left past the last
	 * commit carry the sequence numbers and chain crc that new psegs would
	 * reuse, and a later recovery could follow the stale one instead.
	 */
	if (!fs->ro) {
		err = qfs_checkpoint(fs);
		if (err)
			goto fail;
	}
	fs->recovery.read_bytes = fs->read_bytes + 2 * QFS_BLOCK_SIZE; /* + the superblocks */
	*out = fs;
	return 0;
fail:
	qfs_destroy(fs);
	return err;
}

int qfs_mount(struct blk_dev *dev, const struct qfs_mount_opts *opts, struct qfs **out)
{
	return qfs_mount_fs(dev, opts, false, out);
}

int qfs_unmount(struct qfs *fs)
{
	int err = 0;
	if (!fs->ro) {
		err = fs->err;
		if (!err && (fs->dirty_list || fs->nmeta || fs->ncpdirty || fs->cp_needed))
			err = qfs_checkpoint(fs);
	}
	qfs_destroy(fs);
	return err;
}

void qfs_recovery_info(struct qfs *fs, struct qfs_recovery *out)
{
	*out = fs->recovery;
}

void qfs_abandon(struct qfs *fs)
{
	qfs_destroy(fs);
}

int qfs_statfs(struct qfs *fs, struct qfs_statfs *st)
{
	memset(st, 0, sizeof(*st));
	st->block_size = QFS_BLOCK_SIZE;
	st->seg_blocks = fs->sb.seg_blocks;
	st->nsegs = fs->sb.nsegs;
	st->total_blocks = (uint64_t)fs->sb.nsegs * fs->sb.seg_blocks;
	st->live_blocks = fs->live_blocks;
	st->free_blocks = st->total_blocks - fs->live_blocks;
	st->avail_blocks = qfs_avail_blocks(fs);
	st->free_segs = fs->free_segs;
	st->user_bytes = fs->user_bytes;
	st->dev_bytes = fs->dev_bytes;
	st->cleaned_segs = fs->cleaned_segs;
	st->checkpoints = fs->checkpoints;
	st->commits = fs->commits;
	st->flushes = fs->flushes;
	st->log_bytes = fs->log_bytes_cp;
	return 0;
}
