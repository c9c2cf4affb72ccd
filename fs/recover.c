/*
 * Roll-forward: after the checkpoint, the log holds commits the checkpoint
 * does not describe. Recovery redoes them on the checkpoint's state.
 *
 *   find     follow the chain from the checkpoint's log position: the pseg
 *            with the next sequence number is where one of the heads goes
 *            on (its position, or the start of its next segment when fewer
 *            than two blocks are left). It is taken when its header and
 *            entries check out (pseg.c), it names that head, its sequence
 *            number and chain value are the next ones, and every block's
 *            checksum matches its entry: so a pseg whose write tore is
 *            never half taken. The chain ends at the first place that
 *            fails; psegs after the last COMMIT are left out (a commit is
 *            all or nothing).
 *   apply    per pseg, in order: every inode entry's CREATE (the number's
 *            old blocks freed, a new empty inode) and TRUNC; every block
 *            entry of file data (the block map points at it, the segment
 *            usage moves from the old address); every inode entry's
 *            attributes (mode FREE: deleted, its blocks freed).
 *
 * Work and reads: the log since the checkpoint, read once, plus one copy of
 * each inode and indirect block those entries change or free (the writer
 * bounds their number: QFS_REC_SLACK). Blocks written by a checkpoint
 * (inodes, indirect and inode-map blocks) are left alone: a checkpoint's
 * psegs carry no COMMIT, so they are never followed by one here.
 */
#include "fs/fs_int.h"

#define RF_CHUNK 16u /* blocks read at a time */

struct rf_pseg {
	uint64_t seq;
	uint32_t addr, next, nblocks, ninodes, nextra;
	uint32_t head, seg, next_seg, csum, flags;
	size_t ents; /* offset of its entries in rf_log.ents */
};

struct rf_log {
	struct rf_pseg *list;
	size_t n, cap;
	uint8_t *ents;
	size_t ents_n, ents_cap;
};

/* Where head h's next pseg would be: at its position, or at the start of its next segment. */
static void rf_where(struct qfs *fs, const struct qfs_head *hd, uint32_t *pos, uint32_t *seg)
{
	*pos = hd->addr;
	*seg = hd->cur_seg;
	if (qfs_seg_start(fs, hd->cur_seg) + fs->sb.seg_blocks - hd->addr < 2) {
		*seg = hd->next_seg;
		*pos = (uint32_t)qfs_seg_start(fs, hd->next_seg);
	}
}

/* Every block of the pseg read back and checked against its entry: 1 all good, 0 not, or -errno. */
static int rf_blocks_ok(struct qfs *fs, const struct qfs_pseg_view *v, uint8_t *buf)
{
	for (uint32_t k = 0; k < v->h.nblocks; k += RF_CHUNK) {
		uint32_t len = v->h.nblocks - k < RF_CHUNK ? v->h.nblocks - k : RF_CHUNK;
		int err = qfs_dev_read(fs, v->addr + 1 + k, buf, len);
		if (err)
			return err;
		for (uint32_t j = 0; j < len; j++)
			if (qfs_csum(fs->seed, buf + (size_t)j * QFS_BLOCK_SIZE, QFS_BLOCK_SIZE) != v->bent[k + j].csum)
				return 0;
	}
	return 1;
}

/* Follow the chain; keep every pseg found and its entries. Returns the index of the last COMMIT, or -1. */
static long rf_find(struct qfs *fs, struct rf_log *log, int *errp)
{
	struct qfs_head hd[QFS_NHEADS];
	memcpy(hd, fs->head, sizeof(hd));
	uint64_t seq = fs->seq;
	uint32_t prev = fs->prev_csum;
	uint8_t *hbuf = qfs_alloc_big(qfs_pseg_buf_bytes(fs));
	uint8_t *bbuf = qfs_alloc_big((size_t)RF_CHUNK * QFS_BLOCK_SIZE);
	long last_commit = -1;
	int err = hbuf && bbuf ? 0 : -ENOMEM;
	while (!err && log->n < (size_t)fs->sb.nsegs * fs->sb.seg_blocks) {
		struct qfs_pseg_view v;
		uint32_t pos = 0, seg = 0;
		int h;
		for (h = 0; h < QFS_NHEADS; h++) {
			rf_where(fs, &hd[h], &pos, &seg);
			int r = qfs_pseg_load(fs, pos, hbuf, &v);
			if (r == -EIO || r == -ENOMEM) {
				err = r;
				break;
			}
			if (!r && v.h.seq == seq && v.h.prev == prev && v.h.head == (uint32_t)h)
				break;
		}
		if (err || h == QFS_NHEADS)
			break;
		int ok = rf_blocks_ok(fs, &v, bbuf);
		if (ok <= 0) {
			err = ok;
			break;
		}
		size_t ebytes = v.h.nblocks * sizeof(struct qfs_disk_bent) + v.h.ninodes * sizeof(struct qfs_disk_ient);
		err = qfs_grow((void **)&log->list, &log->cap, log->n + 1, sizeof(*log->list));
		if (!err)
			err = qfs_grow((void **)&log->ents, &log->ents_cap, log->ents_n + ebytes, 1);
		if (err)
			break;
		if (ebytes)
			memcpy(log->ents + log->ents_n, v.bent, ebytes);
		log->list[log->n] = (struct rf_pseg){seq, pos, v.next, v.h.nblocks, v.h.ninodes, v.h.nextra,
						     (uint32_t)h, seg, v.h.next_seg, v.h.csum, v.h.flags, log->ents_n};
		log->ents_n += ebytes;
		if (v.h.flags & QFS_PSEG_COMMIT)
			last_commit = (long)log->n;
		log->n++;
		seq++;
		prev = v.h.csum;
		hd[h].addr = v.next;
		hd[h].cur_seg = seg;
		hd[h].next_seg = v.h.next_seg;
	}
	qfs_free_big(hbuf, qfs_pseg_buf_bytes(fs));
	qfs_free_big(bbuf, (size_t)RF_CHUNK * QFS_BLOCK_SIZE);
	*errp = err;
	return last_commit;
}

static int ient_valid(const struct qfs *fs, const struct qfs_disk_ient *e)
{
	if (e->ino == 0 || e->ino >= fs->sb.max_inodes ||
	    (e->flags & ~(QFS_IENT_CREATE | QFS_IENT_TRUNC)) ||
	    (e->mode != QFS_MODE_FREE && e->mode != QFS_MODE_FILE && e->mode != QFS_MODE_DIR) ||
	    e->size > QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE || e->trunc_size > QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE ||
	    (e->mode == QFS_MODE_DIR && e->size % QFS_BLOCK_SIZE) ||
	    (e->ino == QFS_ROOT_INO && e->mode != QFS_MODE_DIR))
		return -EUCLEAN;
	return 0;
}

/* What happened to the inode before this pseg's blocks: a new inode, a truncation. */
static int apply_pre(struct qfs *fs, const struct qfs_disk_ient *e)
{
	struct qfs_inode *ip;
	int err = qfs_iget_any(fs, e->ino, &ip);
	if (err)
		return err;
	struct qfs_disk_inode *d = ip->d;
	if (e->flags & QFS_IENT_CREATE) {
		err = qfs_bmap_truncate(fs, ip, 0);
		if (!err) {
			memset(d, 0, QFS_BLOCK_SIZE);
			d->magic = QFS_MAGIC_INODE;
			d->ino = e->ino;
			d->gen = e->gen;
			d->mode = e->mode == QFS_MODE_FREE ? QFS_MODE_FILE : e->mode;
			ip->tomb = false;
		}
	} else if (ip->tomb) {
		err = -EUCLEAN; /* entries for an inode that does not exist */
	}
	/*
	 * Not "if smaller than the size": the size recovery has is the last
	 * inode entry's, and blocks that earlier psegs of this commit wrote
	 * past it (a write the cache sent out early, before the truncation)
	 * are in the map already and must go.
	 */
	if (!err && (e->flags & QFS_IENT_TRUNC)) {
		err = qfs_bmap_truncate(fs, ip, (e->trunc_size + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE);
		if (d->size > e->trunc_size)
			d->size = e->trunc_size;
	}
	if (!err)
		qfs_inode_cpdirty(fs, ip);
	qfs_iput(fs, ip);
	return err;
}

/* A block of file data: the map points at it. */
static int apply_block(struct qfs *fs, const struct qfs_disk_bent *b, uint32_t addr)
{
	struct qfs_inode *ip;
	if (b->key >= QFS_MAX_FILE_BLOCKS)
		return -EUCLEAN;
	int err = qfs_iget(fs, b->ino, &ip);
	if (err)
		return err == -ENOENT ? -EUCLEAN : err;
	uint32_t old;
	err = qfs_bmap_set(fs, ip, b->key, addr, &old);
	if (!err)
		qfs_account(fs, old, addr);
	qfs_iput(fs, ip);
	return err;
}

/* The inode as it was after the pseg. */
static int apply_post(struct qfs *fs, const struct qfs_disk_ient *e)
{
	struct qfs_inode *ip;
	int err = qfs_iget_any(fs, e->ino, &ip);
	if (err)
		return err;
	struct qfs_disk_inode *d = ip->d;
	if (e->mode == QFS_MODE_FREE) {
		err = qfs_bmap_truncate(fs, ip, 0);
		d->size = 0;
		ip->tomb = true;
	} else if (ip->tomb) {
		err = -EUCLEAN;
	} else {
		d->mode = e->mode;
		d->gen = e->gen;
		d->nlink = e->nlink;
		d->parent = e->parent;
		d->size = e->size;
		d->version = e->version;
	}
	if (!err)
		qfs_inode_cpdirty(fs, ip);
	qfs_iput(fs, ip);
	return err;
}

static int rf_apply(struct qfs *fs, const struct rf_pseg *p, const uint8_t *ents)
{
	const struct qfs_disk_bent *bent = (const struct qfs_disk_bent *)ents;
	const uint8_t *iraw = ents + p->nblocks * sizeof(struct qfs_disk_bent);
	int err = 0;
	for (uint32_t k = 0; !err && k < p->ninodes; k++) {
		struct qfs_disk_ient e;
		memcpy(&e, iraw + k * sizeof(e), sizeof(e));
		err = ient_valid(fs, &e);
		if (!err && e.flags)
			err = apply_pre(fs, &e);
	}
	for (uint32_t k = 0; !err && k < p->nblocks; k++) {
		if (bent[k].ino == 0 || !qfs_key_is_data(bent[k].key))
			continue; /* only checkpoints write these: nothing to redo */
		err = apply_block(fs, &bent[k], p->addr + 1 + k);
		fs->recovery.blocks++;
	}
	for (uint32_t k = 0; !err && k < p->ninodes; k++) {
		struct qfs_disk_ient e;
		memcpy(&e, iraw + k * sizeof(e), sizeof(e));
		err = apply_post(fs, &e);
		fs->recovery.inodes++;
	}
	return err;
}

int qfs_recover(struct qfs *fs)
{
	struct rf_log log = {0};
	int err = 0;
	long last_commit = rf_find(fs, &log, &err);
	fs->recovery.psegs = (uint32_t)log.n;
	fs->recovery.discarded = (uint32_t)(log.n - (size_t)(last_commit + 1));
	for (long i = 0; !err && i <= last_commit; i++) {
		struct rf_pseg *p = &log.list[i];
		struct qfs_head *h = &fs->head[p->head];
		if (p->seg != h->cur_seg) {
			fs->seg_busy[p->seg] = 1;
			fs->segs_since_cp++;
		}
		fs->seg_busy[p->next_seg] = 1;
		err = rf_apply(fs, p, log.ents + p->ents);
		uint64_t bytes = (uint64_t)(1 + p->nextra) * fs->rec + (uint64_t)p->nblocks * QFS_BLOCK_SIZE;
		fs->recovery.log_bytes += bytes;
		fs->log_bytes_cp += bytes;
		if (p->flags & QFS_PSEG_COMMIT)
			fs->recovery.commits++;
		fs->sut[p->seg].age = (uint32_t)p->seq;
		fs->seq = p->seq + 1;
		fs->prev_csum = p->csum;
		h->addr = p->next;
		h->cur_seg = p->seg;
		h->next_seg = p->next_seg;
	}
	/* The inodes it changed go to the next checkpoint whole; none needs an inode entry. */
	struct qfs_inode *ip;
	while ((ip = fs->dirty_list)) {
		ip->ient = false;
		qfs_dirty_list_remove(ip);
	}
	if (!err && last_commit >= 0)
		fs->cp_needed = true;
	qfs_free(log.list);
	qfs_free(log.ents);
	return err;
}
