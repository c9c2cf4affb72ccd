/*
 * The log writer.
 *
 *   block      a block joins the pseg its head is filling: a cache buffer
 *              is frozen (struct qfs_buf io) and checksummed; nothing is
 *              copied, the write takes the cache's memory
 *   submit     header record (seq, chain, entries), the blocks, the extra
 *              entry records: one contiguous range of the disk, as few
 *              requests as the device takes, asynchronous; up to QFS_NPSEG
 *              psegs filling or in flight; the fs waits only for a free
 *              pseg, a frozen buffer it must change, a read of a block in
 *              flight, or a commit
 *   commit     every dirty data block with its block entry, an inode entry
 *              per changed inode, the last pseg flagged COMMIT; wait for
 *              the writes, one FLUSH. A fsync'd 4 KiB overwrite is one
 *              request: header sector + the block
 *   checkpoint a commit, then every inode and indirect block changed since
 *              the last checkpoint, then the inode map; FLUSH; the
 *              checkpoint region (the older of the two); FLUSH; segments
 *              emptied since the last checkpoint become free
 */
#include "fs/fs_int.h"

int qfs_log_init(struct qfs *fs)
{
	for (int h = 0; h < QFS_NHEADS; h++)
		fs->head[h].fill = -1;
	fs->pseg = qfs_zalloc(QFS_NPSEG * sizeof(*fs->pseg));
	if (!fs->pseg)
		return -ENOMEM;
	for (int i = 0; i < QFS_NPSEG; i++)
		fs->pseg[i].fs = fs; /* header buffers come with the first write */
	return 0;
}

void qfs_log_free(struct qfs *fs)
{
	if (!fs->pseg)
		return;
	for (int i = 0; i < QFS_NPSEG; i++)
		qfs_free_big(fs->pseg[i].hdr, qfs_pseg_buf_bytes(fs));
	qfs_free(fs->pseg);
	fs->pseg = NULL;
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

/* Completion (interrupt context in the kernel): only counts; pseg_reap() does the rest. */
static void pseg_done(struct blk_req *req)
{
	struct qfs_pseg *p = req->ctx;
	if (req->status)
		p->status = -EIO;
	if (++p->ndone == p->nreq)
		p->busy = false;
}

/* A written pseg gives its buffers back and reports its error. */
static void pseg_reap(struct qfs *fs, int i)
{
	struct qfs_pseg *p = &fs->pseg[i];
	if (!p->written || p->busy)
		return;
	p->written = false;
	for (uint32_t k = 0; k < p->nblocks; k++) {
		struct qfs_buf *b = p->bufs[k];
		if (b && b->io == i + 1)
			b->io = 0;
		p->bufs[k] = NULL;
	}
	p->nblocks = 0;
	p->ninodes = 0;
	if (p->status) {
		if (!fs->err)
			fs->err = p->status;
		p->status = 0;
	}
}

static bool any_busy(struct qfs *fs)
{
	for (int i = 0; i < QFS_NPSEG; i++)
		if (fs->pseg[i].busy)
			return true;
	return false;
}

/* Wait until a pseg is free (neither in flight nor being filled), or with
 * all, until nothing is in flight. Returns the free pseg's index, or -errno. */
static int wait_psegs(struct qfs *fs, bool all)
{
	for (;;) {
		bool busy = false;
		int free = -1;
		for (int i = 0; i < QFS_NPSEG; i++) {
			struct qfs_pseg *p = &fs->pseg[i];
			if (p->busy) {
				busy = true;
				continue;
			}
			if (p->written)
				pseg_reap(fs, i);
			if (free < 0 && !p->filling)
				free = i;
		}
		if (fs->err)
			return fs->err;
		if (all ? !busy : free >= 0)
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

/* Would p still fit its segment and its limits with this many entries? */
static bool pseg_fits(struct qfs *fs, int h, const struct qfs_pseg *p, uint32_t nblocks,
		      uint32_t ninodes)
{
	if (nblocks > QFS_PSEG_BLOCKS || ninodes > QFS_PSEG_IENTS)
		return false;
	uint32_t per = QFS_BLOCK_SIZE / fs->rec;
	uint64_t end = ((uint64_t)p->addr + 1 + nblocks) * per + qfs_pseg_extra(fs, nblocks, ninodes);
	uint64_t seg_end = qfs_seg_start(fs, fs->head[h].cur_seg) + fs->sb.seg_blocks;
	return end <= seg_end * per;
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
	if (!p->hdr)
		p->hdr = qfs_alloc_big(qfs_pseg_buf_bytes(fs));
	if (!p->hdr)
		return -ENOMEM;
	p->addr = hd->addr;
	p->nblocks = 0;
	p->ninodes = 0;
	p->head = h;
	p->filling = true;
	hd->fill = i;
	return 0;
}

/* Split the pseg's segments into requests of at most max_req bytes (each
 * segment at most a block, so every request is whole records). */
static int pseg_issue(struct qfs *fs, struct qfs_pseg *p, uint32_t nsegs, uint64_t sector)
{
	uint32_t first = 0;
	p->nreq = p->ndone = 0;
	p->status = 0;
	p->busy = true;
	p->written = true;
	while (first < nsegs) {
		uint32_t n = 0, bytes = 0;
		while (first + n < nsegs && bytes + p->segs[first + n].len <= fs->max_req)
			bytes += p->segs[first + n++].len;
		struct blk_req *r = &p->req[p->nreq];
		blk_req_init_sg(r, BLK_OP_WRITE, sector, &p->segs[first], n, pseg_done, p);
		p->nreq++;
		int err = blk_submit(fs->dev, r);
		if (err) {
			p->nreq--;
			p->status = err == -EROFS ? -EROFS : -EIO;
			break;
		}
		sector += bytes / BLK_SECTOR_SIZE;
		first += n;
	}
	if (p->nreq == 0)
		p->busy = false;
	else
		blk_kick(fs->dev);
	if (p->status && !fs->err)
		fs->err = p->status;
	return fs->err;
}

static int pseg_submit(struct qfs *fs, int h, uint32_t flags)
{
	struct qfs_head *hd = &fs->head[h];
	struct qfs_pseg *p = &fs->pseg[hd->fill];
	uint32_t rec = fs->rec, nextra = qfs_pseg_extra(fs, p->nblocks, p->ninodes);
	uint8_t *entries = p->hdr + sizeof(struct qfs_disk_pseg);
	size_t bent_bytes = p->nblocks * sizeof(struct qfs_disk_bent);
	size_t ient_bytes = p->ninodes * sizeof(struct qfs_disk_ient);
	size_t used = sizeof(struct qfs_disk_pseg) + bent_bytes + ient_bytes;
	hd->fill = -1;
	p->filling = false;
	memcpy(entries, p->bent, bent_bytes);
	memcpy(entries + bent_bytes, p->ient, ient_bytes);
	memset(p->hdr + used, 0, (1 + nextra) * rec - used);

	struct qfs_disk_pseg *s = (struct qfs_disk_pseg *)p->hdr;
	memset(s, 0, sizeof(*s));
	s->magic = QFS_MAGIC_PSEG;
	s->seq = fs->seq++;
	s->prev = fs->prev_csum;
	s->nblocks = p->nblocks;
	s->nextra = (uint16_t)nextra;
	s->ninodes = (uint16_t)p->ninodes;
	s->flags = flags;
	s->next_seg = hd->next_seg;
	s->head = (uint32_t)h;
	/* The checksums cover header and entries, not the padding after them. */
	s->ecsum = used > rec ? qfs_csum(fs->seed, p->hdr + rec, used - rec) : 0;
	s->csum = qfs_csum(fs->seed, p->hdr, used < rec ? used : rec);
	fs->prev_csum = s->csum;
	hd->addr = qfs_pseg_next(fs, p->addr, p->nblocks, nextra);
	fs->sut[qfs_seg_of(fs, p->addr)].age = (uint32_t)s->seq;
	uint64_t bytes = (uint64_t)(1 + nextra) * rec + (uint64_t)p->nblocks * QFS_BLOCK_SIZE;
	fs->dev_bytes += bytes;
	fs->log_bytes_cp += bytes;

	/* Header record, blocks, extra records: one contiguous range. */
	uint32_t n = 0;
	p->segs[n++] = (struct blk_seg){p->hdr, rec};
	for (uint32_t k = 0; k < p->nblocks; k++)
		p->segs[n++] = (struct blk_seg){p->pages[k], QFS_BLOCK_SIZE};
	for (uint32_t k = 0; k < nextra; k++)
		p->segs[n++] = (struct blk_seg){p->hdr + (size_t)(1 + k) * rec, rec};
	uint64_t sector = ((uint64_t)p->addr * QFS_BLOCK_SIZE + QFS_BLOCK_SIZE - rec) / BLK_SECTOR_SIZE;
	return pseg_issue(fs, p, n, sector);
}

/*
 * Make sure head h has a pseg with room for one more block or inode entry
 * (blocks, ninodes: 1, 0 or 0, 1). A fresh pseg always has it: it starts
 * with at least two blocks left in its segment, and one entry fits the
 * header record. So a head leaves a segment only when fewer than two blocks
 * are left, the rule recovery follows too (recover.c).
 */
static int pseg_room(struct qfs *fs, int h, uint32_t blocks, uint32_t ninodes)
{
	struct qfs_head *hd = &fs->head[h];
	if (fs->err)
		return fs->err;
	if (hd->fill >= 0) {
		struct qfs_pseg *p = &fs->pseg[hd->fill];
		if (pseg_fits(fs, h, p, p->nblocks + blocks, p->ninodes + ninodes))
			return 0;
		int err = pseg_submit(fs, h, 0);
		if (err)
			return err;
	}
	return pseg_start(fs, h);
}

int qfs_log_block(struct qfs *fs, int h, uint32_t ino, uint32_t key, struct qfs_buf *b,
		  uint8_t *page, uint32_t *addr)
{
	int err = pseg_room(fs, h, 1, 0);
	if (err)
		return err;
	int i = fs->head[h].fill;
	struct qfs_pseg *p = &fs->pseg[i];
	uint32_t k = p->nblocks++;
	uint8_t *data = b ? b->data : page;
	if (b)
		b->io = (uint8_t)(i + 1); /* frozen: checksummed now, read by the device later */
	p->bufs[k] = b;
	p->pages[k] = data;
	p->bent[k] = (struct qfs_disk_bent){ino, key, qfs_csum(fs->seed, data, QFS_BLOCK_SIZE)};
	fs->cp_needed = fs->uncommitted = true;
	*addr = p->addr + 1 + k;
	return 0;
}

/* An inode entry for ip on head h: what happened to it first (pre), what it is now. */
static int log_ient(struct qfs *fs, int h, struct qfs_inode *ip)
{
	int err = pseg_room(fs, h, 0, 1);
	if (err)
		return err;
	struct qfs_pseg *p = &fs->pseg[fs->head[h].fill];
	const struct qfs_disk_inode *d = ip->d;
	p->ient[p->ninodes++] = (struct qfs_disk_ient){
		.ino = ip->ino,
		.gen = d->gen,
		.mode = ip->tomb ? QFS_MODE_FREE : d->mode,
		.flags = ip->pre,
		.nlink = d->nlink,
		.parent = d->parent,
		.size = ip->tomb ? 0 : d->size,
		.trunc_size = (ip->pre & QFS_IENT_TRUNC) ? ip->trunc_size : 0,
		.version = d->version,
	};
	ip->pre = 0;
	fs->cp_needed = fs->uncommitted = true;
	return 0;
}

/* Submit every pseg being filled; the last one (the chain's newest) carries
 * flags. With nothing to submit, flags go into an empty pseg of head h. */
static int log_seal(struct qfs *fs, uint32_t flags, int h)
{
	int last = -1, err = 0;
	for (int k = 0; k < QFS_NHEADS; k++)
		if (fs->head[k].fill >= 0)
			last = k;
	if (last < 0) {
		if (!flags)
			return 0;
		last = h;
		err = pseg_start(fs, last);
	}
	for (int k = 0; k < QFS_NHEADS && !err; k++)
		if (fs->head[k].fill >= 0 && k != last)
			err = pseg_submit(fs, k, 0);
	if (!err)
		err = pseg_submit(fs, last, flags);
	return err;
}

int qfs_log_seal(struct qfs *fs, uint32_t flags)
{
	return log_seal(fs, flags, QFS_HEAD_DATA);
}

/* Wait for pseg i to leave the device's hands; 0, or -EIO when the device stopped making progress. */
static int pseg_settle(struct qfs *fs, int i)
{
	while (fs->pseg[i].busy)
		if (fs->dev->ops->wait(fs->dev) && fs->pseg[i].busy)
			return -EIO;
	pseg_reap(fs, i);
	return 0;
}

/* Stop filling head h's pseg without writing it (the mount failed): its buffers thaw. */
static void pseg_abandon(struct qfs *fs, int h)
{
	int i = fs->head[h].fill;
	fs->head[h].fill = -1;
	fs->pseg[i].filling = false;
	fs->pseg[i].written = true; /* not written: but its buffers thaw the same way */
	pseg_reap(fs, i);
}

int qfs_log_wait_pseg(struct qfs *fs, int i)
{
	for (int h = 0; h < QFS_NHEADS; h++) {
		if (fs->head[h].fill != i)
			continue;
		if (fs->err || pseg_submit(fs, h, 0))
			pseg_abandon(fs, h);
	}
	int err = pseg_settle(fs, i);
	if (err && !fs->err)
		fs->err = err;
	return err;
}

void qfs_log_quiesce(struct qfs *fs)
{
	if (!fs->pseg)
		return;
	for (int h = 0; h < QFS_NHEADS; h++)
		if (fs->head[h].fill >= 0)
			pseg_abandon(fs, h);
	for (int i = 0; i < QFS_NPSEG; i++)
		pseg_settle(fs, i);
}

bool qfs_log_inflight(struct qfs *fs, uint64_t block, uint32_t n)
{
	for (int i = 0; i < QFS_NPSEG; i++) {
		struct qfs_pseg *p = &fs->pseg[i];
		if (!p->busy && !p->filling)
			continue;
		uint64_t end = qfs_pseg_next(fs, p->addr, p->nblocks, QFS_PSEG_EXTRA) + 1;
		if (block < end && p->addr < block + n)
			return true;
	}
	return false;
}

/* Log ip's dirty buffers with keys in [lo, hi] on head h, in key order, and point the map at them. */
static int write_bufs(struct qfs *fs, struct qfs_inode *ip, int h, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;
	uint64_t one_key, *keys = &one_key; /* the common case, one dirty block: no allocation */
	bool data = lo < QFS_KEY_DCHILD0;
	uint32_t count = data ? ip->ndirty : ip->nmeta;
	if (count > 1) {
		keys = qfs_malloc(count * sizeof(uint64_t));
		if (!keys)
			return -ENOMEM;
	}
	for (struct qfs_buf *b = ip->dirty_bufs; b && n < count; b = b->dnext)
		if (b->key >= lo && b->key <= hi)
			keys[n++] = b->key;
	if (n > 1)
		qfs_sort_u64(keys, n);
	int err = 0;
	for (uint32_t i = 0; i < n && !err; i++) {
		struct qfs_buf *b = qfs_buf_find(fs, ip, (uint32_t)keys[i]);
		uint32_t addr, old;
		err = qfs_log_block(fs, h, ip->ino, b->key, b, NULL, &addr);
		if (!err)
			err = qfs_bmap_set(fs, ip, b->key, addr, &old);
		if (!err) {
			qfs_account(fs, old, addr);
			qfs_buf_clean(fs, b);
			b->on_disk = true;
		}
	}
	if (count > 1)
		qfs_free(keys);
	return err;
}

/* What a commit writes of ip: its inode entry, then its data blocks (data_only: only those). */
static int commit_one(struct qfs *fs, struct qfs_inode *ip, bool data_only)
{
	int err = 0;
	/* Pending CREATE/TRUNC must reach a pseg no later than the blocks that follow them. */
	if ((!data_only && ip->ient) || (ip->pre && ip->ndirty)) {
		err = log_ient(fs, QFS_HEAD_DATA, ip);
		if (!data_only)
			ip->ient = false;
	}
	if (!err && ip->ndirty)
		err = write_bufs(fs, ip, QFS_HEAD_DATA, 0, QFS_KEY_DCHILD0 - 1);
	return err;
}

/*
 * Each inode on the dirty list once per pass, taken off the list's head
 * (writing one may dirty others, so no pointer into the list is held across
 * a write). Those still dirty afterwards (data_only, or dirtied again in
 * this pass) go back on the list.
 */
int qfs_write_dirty(struct qfs *fs, bool data_only)
{
	uint32_t pass = ++fs->dirty_pass;
	int err = 0;
	struct qfs_inode *ip;
	while (!err && (ip = fs->dirty_list)) {
		qfs_dirty_list_remove(ip);
		if (ip->dpass != pass) {
			ip->dpass = pass;
			err = commit_one(fs, ip, data_only);
		}
		if (err || ip->ndirty || ip->ient)
			qfs_dirty_list_add(&fs->dirty_kept, ip);
	}
	while ((ip = fs->dirty_kept)) {
		qfs_dirty_list_remove(ip);
		qfs_dirty_list_add(&fs->dirty_list, ip);
	}
	return err;
}

bool qfs_cp_due(struct qfs *fs)
{
	return fs->segs_since_cp >= fs->sb.cp_interval ||
	       fs->rec_reads > fs->log_bytes_cp / QFS_BLOCK_SIZE + QFS_REC_SLACK ||
	       fs->nmeta + fs->ncpdirty > fs->cache_blocks / 2;
}

int qfs_commit(struct qfs *fs, bool flush)
{
	if (fs->ro)
		return -EROFS;
	if (fs->err)
		return fs->err;
	if (!fs->dirty_list && !fs->uncommitted)
		return 0; /* the last commit holds everything already */
	int err;
	if (flush && qfs_cp_due(fs)) {
		/*
		 * A checkpoint instead of a commit. A commit that recovery would
		 * need more metadata reads for than the bound allows must never
		 * be recoverable from the log: a checkpoint's psegs carry no
		 * COMMIT, so until its region lands a recovery leaves them out
		 * (this fsync has not returned), and after, starts there.
		 */
		err = qfs_checkpoint(fs);
	} else {
		err = qfs_write_dirty(fs, false);
		if (!err)
			err = log_seal(fs, QFS_PSEG_COMMIT, QFS_HEAD_DATA);
		if (!err && flush) {
			err = qfs_log_wait_all(fs);
			if (!err)
				err = qfs_dev_flush(fs);
			fs->commits++;
			fs->uncommitted = err != 0;
		}
		if (err && !fs->err)
			fs->err = err;
	}
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
	cp->log_prev = fs->prev_csum;
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
	cp->csum = qfs_csum(fs->seed, buf, bytes);
	int err = qfs_dev_write(fs, fs->sb.cp_addr[cp->cp_seq % 2], buf, fs->sb.cp_blocks);
	if (!err)
		err = qfs_dev_flush(fs);
	if (!err)
		fs->cp_seq++;
	qfs_free_big(buf, bytes);
	return err;
}

/* The inode block of ip (or, deleted, its number freed): the last of what a checkpoint writes of it. */
static int write_inode(struct qfs *fs, struct qfs_inode *ip)
{
	uint32_t addr = 0, old = qfs_imap_get(fs, ip->ino);
	int err = 0;
	if (!ip->tomb) {
		struct qfs_disk_inode *d = ip->d;
		d->magic = QFS_MAGIC_INODE;
		d->csum = 0;
		d->csum = qfs_csum(fs->seed, d, QFS_BLOCK_SIZE);
		err = qfs_log_block(fs, QFS_HEAD_META, ip->ino, QFS_KEY_INODE, NULL, (uint8_t *)d, &addr);
	}
	if (!err && (addr || old))
		err = qfs_imap_set(fs, ip->ino, addr);
	if (err)
		return err;
	qfs_account(fs, old, addr);
	ip->cpdirty = false;
	fs->ncpdirty--;
	ip->on_disk = addr != 0;
	return 0;
}

/* What a checkpoint writes of ip: indirect children, then parents, then the inode. */
static int checkpoint_one(struct qfs *fs, struct qfs_inode *ip)
{
	int err = 0;
	if (ip->nmeta)
		err = write_bufs(fs, ip, QFS_HEAD_META, QFS_KEY_DCHILD0, QFS_KEY_DIND - 1);
	if (!err && ip->nmeta)
		err = write_bufs(fs, ip, QFS_HEAD_META, QFS_KEY_DIND, QFS_KEY_IND);
	if (!err && ip->cpdirty)
		err = write_inode(fs, ip);
	return err;
}

int qfs_checkpoint(struct qfs *fs)
{
	if (fs->ro)
		return -EROFS;
	if (fs->err)
		return fs->err;
	int err = qfs_write_dirty(fs, false);
	/* Writing one inode never dirties another: one walk of the cache. */
	for (uint32_t hsh = 0; !err && hsh < QFS_IHASH; hsh++) {
		for (struct qfs_inode *ip = fs->ihash[hsh], *next; ip && !err; ip = next) {
			next = ip->hnext;
			if (ip->nmeta || ip->cpdirty)
				err = checkpoint_one(fs, ip);
			if (!err && ip->tomb && !ip->cpdirty && !ip->refs)
				qfs_inode_forget(fs, ip);
		}
	}
	for (uint32_t i = 0; !err && i < fs->sb.imap_blocks; i++) {
		if (!fs->imap_dirty[i])
			continue;
		uint32_t addr;
		err = qfs_log_block(fs, QFS_HEAD_META, 0, i, NULL, (uint8_t *)fs->imap[i], &addr);
		if (err)
			break;
		qfs_account(fs, fs->imap_addr[i], addr);
		fs->imap_addr[i] = addr;
		fs->imap_dirty[i] = 0;
	}
	if (!err)
		err = log_seal(fs, QFS_PSEG_CHECKPOINT, QFS_HEAD_META); /* no COMMIT: see qfs_commit() */
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
	fs->log_bytes_cp = 0;
	fs->rec_reads = 0;
	fs->cp_needed = fs->uncommitted = false;
	qfs_cp_release(fs);
	return 0;
}
