/*
 * The log writer.
 *
 *   append     a block goes into the pseg being filled (copied: the cache
 *              may change it at once); the pseg is submitted when full
 *   submit     summary (seq, chain crc, entries, CRC32C over summary and
 *              blocks), then a few large async writes; up to QFS_NPSEG in
 *              flight; the fs waits only for a free pseg, a read of a block
 *              still in flight, or a commit
 *   commit     every dirty block, then every dirty inode, the last pseg
 *              flagged COMMIT; wait for the writes, one FLUSH
 *   checkpoint a commit plus the dirty inode-map blocks, FLUSH, then the
 *              checkpoint region (the older of the two), FLUSH; segments
 *              emptied since the last checkpoint become free
 */
#include "fs/fs_int.h"

int qfs_log_init(struct qfs *fs)
{
	for (int h = 0; h < QFS_NHEADS; h++)
		fs->head[h].fill = -1;
	for (int i = 0; i < QFS_NPSEG; i++)
		fs->pseg[i].fs = fs; /* buffers come with the first write */
	return 0;
}

void qfs_log_free(struct qfs *fs)
{
	for (int i = 0; i < QFS_NPSEG; i++)
		qfs_free_big(fs->pseg[i].buf, (size_t)QFS_PSEG_MAX * QFS_BLOCK_SIZE);
}

void qfs_account(struct qfs *fs, uint32_t old, uint32_t new_addr)
{
	if (old && qfs_addr_ok(fs, old)) {
		struct qfs_disk_sut *u = &fs->sut[qfs_seg_of(fs, old)];
		if (u->live) {
			u->live--;
			fs->live_blocks--;
		}
	}
	if (new_addr) {
		fs->sut[qfs_seg_of(fs, new_addr)].live++;
		fs->live_blocks++;
	}
}

static void pseg_done(struct blk_req *req)
{
	struct qfs_pseg *p = req->ctx;
	if (req->status)
		p->status = -EIO;
	if (++p->ndone == p->nreq)
		p->busy = false;
}

static bool any_busy(struct qfs *fs)
{
	for (int i = 0; i < QFS_NPSEG; i++)
		if (fs->pseg[i].busy)
			return true;
	return false;
}

static bool is_fill(struct qfs *fs, int i)
{
	for (int h = 0; h < QFS_NHEADS; h++)
		if (fs->head[h].fill == i)
			return true;
	return false;
}

/* Wait until a pseg is free (neither in flight nor being filled), or with
 * all, until nothing is in flight. Returns the free pseg's index, or -errno. */
static int wait_psegs(struct qfs *fs, bool all)
{
	for (;;) {
		int idle = 0, free = -1;
		for (int i = 0; i < QFS_NPSEG; i++) {
			struct qfs_pseg *p = &fs->pseg[i];
			if (p->busy)
				continue;
			idle++;
			if (free < 0 && !is_fill(fs, i))
				free = i;
			if (p->status) {
				fs->err = p->status;
				p->status = 0;
			}
		}
		if (fs->err)
			return fs->err;
		if (all ? idle == QFS_NPSEG : free >= 0)
			return all ? 0 : free;
		if (fs->dev->ops->wait(fs->dev) && any_busy(fs)) {
			fs->err = -EIO;
			return fs->err;
		}
	}
}

int qfs_log_wait_all(struct qfs *fs)
{
	return wait_psegs(fs, true);
}

/* Blocks left in head h's current segment from addr on. */
static uint32_t seg_left(struct qfs *fs, int h, uint64_t addr)
{
	return (uint32_t)(qfs_seg_start(fs, fs->head[h].cur_seg) + fs->sb.seg_blocks - addr);
}

static int pseg_start(struct qfs *fs, int h)
{
	struct qfs_head *hd = &fs->head[h];
	int i = wait_psegs(fs, false);
	if (i < 0)
		return i;
	if (seg_left(fs, h, hd->addr) < 2) {
		uint32_t s;
		int err = qfs_seg_alloc(fs, &s);
		if (err)
			return err;
		hd->cur_seg = hd->next_seg;
		hd->next_seg = s;
		hd->addr = (uint32_t)qfs_seg_start(fs, hd->cur_seg);
		fs->segs_since_cp++;
	}
	struct qfs_pseg *p = &fs->pseg[i];
	if (!p->buf)
		p->buf = qfs_alloc_big((size_t)QFS_PSEG_MAX * QFS_BLOCK_SIZE);
	if (!p->buf)
		return -ENOMEM;
	memset(p->buf, 0, QFS_BLOCK_SIZE);
	p->addr = hd->addr;
	p->nblocks = 1;
	hd->fill = i;
	return 0;
}

static int pseg_submit(struct qfs *fs, int h, uint32_t flags)
{
	struct qfs_head *hd = &fs->head[h];
	struct qfs_pseg *p = &fs->pseg[hd->fill];
	struct qfs_disk_sum *s = (struct qfs_disk_sum *)p->buf;
	hd->fill = -1;
	s->magic = QFS_MAGIC_SUM;
	s->prev_crc = fs->prev_crc;
	s->seq = fs->seq++;
	s->nblocks = p->nblocks - 1;
	s->flags = flags;
	s->next_seg = hd->next_seg;
	s->seg_blocks = fs->sb.seg_blocks;
	s->head = (uint32_t)h;
	memcpy(s->uuid, fs->sb.uuid, sizeof(s->uuid));
	s->crc = s->sum_crc = 0;
	s->sum_crc = qfs_crc32c(0, s, QFS_BLOCK_SIZE);
	s->crc = qfs_crc32c(0, p->buf, (size_t)p->nblocks * QFS_BLOCK_SIZE);
	fs->prev_crc = s->crc;
	hd->addr = p->addr + p->nblocks;
	fs->sut[qfs_seg_of(fs, p->addr)].age = (uint32_t)s->seq;
	fs->dev_bytes += (uint64_t)p->nblocks * QFS_BLOCK_SIZE;

	uint32_t per = fs->max_req / QFS_BLOCK_SIZE;
	p->nreq = p->ndone = 0;
	p->status = 0;
	p->busy = true;
	for (uint32_t off = 0; off < p->nblocks; off += per) {
		uint32_t n = p->nblocks - off < per ? p->nblocks - off : per;
		struct blk_req *r = &p->req[p->nreq];
		blk_req_init(r, BLK_OP_WRITE, (uint64_t)(p->addr + off) * QFS_SECTORS_PER_BLOCK,
			     p->buf + (size_t)off * QFS_BLOCK_SIZE, n * QFS_BLOCK_SIZE, pseg_done, p);
		p->nreq++;
		int err = blk_submit(fs->dev, r);
		if (err) {
			p->nreq--;
			p->status = err == -EROFS ? -EROFS : -EIO;
			break;
		}
	}
	if (p->nreq == 0)
		p->busy = false;
	else
		blk_kick(fs->dev);
	if (p->status)
		fs->err = p->status;
	return fs->err;
}

int qfs_log_append(struct qfs *fs, uint32_t ino, uint32_t key, const void *data, uint32_t *addr)
{
	int err, h = qfs_head_of(fs, ino, key);
	struct qfs_head *hd = &fs->head[h];
	if (fs->err)
		return fs->err;
	if (hd->fill >= 0) {
		struct qfs_pseg *p = &fs->pseg[hd->fill];
		if (p->nblocks == QFS_PSEG_MAX || seg_left(fs, h, p->addr + p->nblocks) == 0) {
			err = pseg_submit(fs, h, 0);
			if (err)
				return err;
		}
	}
	if (hd->fill < 0) {
		err = pseg_start(fs, h);
		if (err)
			return err;
	}
	struct qfs_pseg *p = &fs->pseg[hd->fill];
	struct qfs_disk_sum *s = (struct qfs_disk_sum *)p->buf;
	fs->cp_needed = fs->uncommitted = true;
	s->e[p->nblocks - 1].ino = ino;
	s->e[p->nblocks - 1].key = key;
	memcpy(p->buf + (size_t)p->nblocks * QFS_BLOCK_SIZE, data, QFS_BLOCK_SIZE);
	*addr = p->addr + p->nblocks;
	p->nblocks++;
	return 0;
}

/* Submit every pseg being filled; the last one (the chain's newest) carries flags. */
int qfs_log_seal(struct qfs *fs, uint32_t flags)
{
	int last = -1, err = 0;
	for (int h = 0; h < QFS_NHEADS; h++)
		if (fs->head[h].fill >= 0)
			last = h;
	if (last < 0) {
		if (!flags)
			return 0;
		last = QFS_NHEADS - 1;
		err = pseg_start(fs, last); /* an empty pseg carries the flag */
	}
	for (int h = 0; h < QFS_NHEADS && !err; h++)
		if (fs->head[h].fill >= 0)
			err = pseg_submit(fs, h, h == last ? flags : 0);
	return err;
}

bool qfs_log_inflight(struct qfs *fs, uint64_t block, uint32_t n)
{
	for (int i = 0; i < QFS_NPSEG; i++) {
		struct qfs_pseg *p = &fs->pseg[i];
		if ((p->busy || is_fill(fs, i)) && block < p->addr + p->nblocks && p->addr < block + n)
			return true;
	}
	return false;
}

static int write_inode(struct qfs *fs, struct qfs_inode *ip)
{
	uint32_t addr, old = qfs_imap_get(fs, ip->ino);
	struct qfs_disk_inode *d = ip->d;
	if (ip->tomb) {
		d->mode = QFS_MODE_FREE;
		d->size = 0;
	}
	d->magic = QFS_MAGIC_INODE;
	d->crc = 0;
	d->crc = qfs_crc32c(0, d, QFS_BLOCK_SIZE);
	if (!ip->tomb || old) {
		int err = qfs_log_append(fs, ip->ino, QFS_KEY_INODE, d, &addr);
		if (err)
			return err;
	}
	ip->dirty = false;
	fs->ndirty_inodes--;
	if (ip->tomb) {
		qfs_account(fs, old, 0);
		if (old)
			qfs_imap_set(fs, ip->ino, 0);
		if (ip->refs == 0)
			qfs_inode_forget(fs, ip);
		return 0;
	}
	qfs_account(fs, old, addr);
	return qfs_imap_set(fs, ip->ino, addr);
}

/* Write ip's dirty buffers with keys in [lo, hi], in key order. */
static int write_bufs(struct qfs *fs, struct qfs_inode *ip, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;
	uint64_t *keys = qfs_malloc(ip->ndirty * sizeof(uint64_t) + 1);
	if (!keys)
		return -ENOMEM;
	for (struct qfs_buf *b = ip->bufs; b; b = b->inext)
		if (b->dirty && b->key >= lo && b->key <= hi)
			keys[n++] = b->key;
	qfs_sort_u64(keys, n);
	int err = 0;
	for (uint32_t i = 0; i < n && !err; i++) {
		struct qfs_buf *b = qfs_buf_find(fs, ip, (uint32_t)keys[i]);
		uint32_t addr, old;
		err = qfs_log_append(fs, ip->ino, b->key, b->data, &addr);
		if (!err)
			err = qfs_bmap_set(fs, ip, b->key, addr, &old);
		if (!err) {
			qfs_account(fs, old, addr);
			qfs_buf_clean(fs, b);
		}
	}
	qfs_free(keys);
	return err;
}

/* Write what ip holds dirty; *gone when writing its inode forgot it (a deleted, closed file). */
static int write_one(struct qfs *fs, struct qfs_inode *ip, bool data_only, bool *gone)
{
	int err = 0;
	*gone = false;
	if (ip->ndirty)
		err = write_bufs(fs, ip, 0, QFS_KEY_DCHILD0 - 1);
	/* Children before parents: each write dirties its parent. */
	if (!err && !data_only && ip->ndirty)
		err = write_bufs(fs, ip, QFS_KEY_DCHILD0, QFS_KEY_DIND - 1);
	if (!err && !data_only && ip->ndirty)
		err = write_bufs(fs, ip, QFS_KEY_DIND, QFS_KEY_IND);
	if (!err && !data_only && ip->dirty) {
		bool forgets = ip->tomb && ip->refs == 0; /* what write_inode() does once written */
		err = write_inode(fs, ip);
		*gone = forgets && !err;
	}
	return err;
}

/*
 * Each inode on the dirty list once per pass, taken off the list's head
 * (writing one may forget it or dirty others, so no pointer into the list
 * is held across a write). Those still dirty afterwards (data_only, or
 * dirtied again in this pass) go back on the list.
 */
int qfs_write_dirty(struct qfs *fs, bool data_only)
{
	fs->mixed = !data_only && fs->ndirty <= QFS_MIX_BLOCKS;
	uint32_t pass = ++fs->dirty_pass;
	int err = 0;
	struct qfs_inode *ip;
	while (!err && (ip = fs->dirty_list)) {
		qfs_dirty_list_remove(ip);
		bool gone = false;
		if (ip->dpass != pass) {
			ip->dpass = pass;
			err = write_one(fs, ip, data_only, &gone);
		}
		if (!gone && (err || ip->ndirty || ip->dirty))
			qfs_dirty_list_add(&fs->dirty_kept, ip);
	}
	while ((ip = fs->dirty_kept)) {
		qfs_dirty_list_remove(ip);
		qfs_dirty_list_add(&fs->dirty_list, ip);
	}
	return err;
}

int qfs_commit(struct qfs *fs, bool flush)
{
	if (fs->ro)
		return -EROFS;
	if (fs->err)
		return fs->err;
	if (!fs->ndirty && !fs->ndirty_inodes && !fs->uncommitted)
		return 0; /* the last commit holds everything already */
	int err = qfs_write_dirty(fs, false);
	if (!err)
		err = qfs_log_seal(fs, QFS_SUM_COMMIT);
	if (!err && flush) {
		err = qfs_log_wait_all(fs);
		if (!err)
			err = qfs_dev_flush(fs);
		fs->commits++;
		fs->uncommitted = err != 0;
	}
	if (err && !fs->err)
		fs->err = err;
	if (!err && flush && fs->segs_since_cp >= fs->sb.cp_interval)
		err = qfs_checkpoint(fs);
	if (!err)
		qfs_inode_trim(fs);
	return err;
}

int qfs_cp_write(struct qfs *fs)
{
	size_t bytes = (size_t)fs->sb.cp_blocks * QFS_BLOCK_SIZE;
	uint8_t *buf = qfs_alloc_big(bytes);
	if (!buf)
		return -ENOMEM;
	struct qfs_disk_cp *cp = (struct qfs_disk_cp *)buf;
	uint32_t sut_block = 1 + (fs->sb.imap_blocks * 4 + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE;
	cp->magic = QFS_MAGIC_CP;
	cp->cp_seq = fs->cp_seq + 1;
	cp->log_seq = fs->seq;
	cp->log_prev_crc = fs->prev_crc;
	for (int h = 0; h < QFS_NHEADS; h++) {
		cp->head[h].addr = fs->head[h].addr;
		cp->head[h].seg = fs->head[h].cur_seg;
		cp->head[h].next_seg = fs->head[h].next_seg;
	}
	cp->nsegs = fs->sb.nsegs;
	cp->imap_blocks = fs->sb.imap_blocks;
	cp->sut_block = sut_block;
	cp->user_bytes = fs->user_bytes;
	cp->dev_bytes = fs->dev_bytes + bytes;
	cp->cleaned_segs = fs->cleaned_segs;
	memcpy(buf + QFS_BLOCK_SIZE, fs->imap_addr, fs->sb.imap_blocks * 4);
	memcpy(buf + (size_t)sut_block * QFS_BLOCK_SIZE, fs->sut,
	       (size_t)fs->sb.nsegs * sizeof(struct qfs_disk_sut));
	cp->crc = qfs_crc32c(0, buf, bytes);
	int err = qfs_dev_write(fs, fs->sb.cp_addr[cp->cp_seq % 2], buf, fs->sb.cp_blocks);
	if (!err)
		err = qfs_dev_flush(fs);
	if (!err)
		fs->cp_seq++;
	qfs_free_big(buf, bytes);
	return err;
}

int qfs_checkpoint(struct qfs *fs)
{
	if (fs->ro)
		return -EROFS;
	if (fs->err)
		return fs->err;
	int err = qfs_write_dirty(fs, false);
	for (uint32_t i = 0; !err && i < fs->sb.imap_blocks; i++) {
		if (!fs->imap_dirty[i])
			continue;
		uint32_t addr;
		err = qfs_log_append(fs, 0, i, fs->imap[i], &addr);
		if (err)
			break;
		qfs_account(fs, fs->imap_addr[i], addr);
		fs->imap_addr[i] = addr;
		fs->imap_dirty[i] = 0;
	}
	if (!err)
		err = qfs_log_seal(fs, QFS_SUM_COMMIT | QFS_SUM_CHECKPOINT);
	if (!err)
		err = qfs_log_wait_all(fs);
	if (!err)
		err = qfs_dev_flush(fs);
	if (!err)
		err = qfs_cp_write(fs);
	if (err) {
		if (!fs->err)
			fs->err = err;
		return err;
	}
	fs->checkpoints++;
	fs->commits++;
	fs->segs_since_cp = 0;
	fs->cp_needed = fs->uncommitted = false;
	qfs_cp_release(fs);
	return 0;
}
