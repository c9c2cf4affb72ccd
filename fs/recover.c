/*
 * Roll-forward: after the checkpoint, the log holds commits the checkpoint
 * does not describe. Follow the chain from the checkpoint's log position:
 * a pseg is accepted when its summary is intact, belongs to this file
 * system (uuid), has the next sequence number, names the previous pseg's
 * crc, and its CRC32C over summary and blocks matches (so a pseg whose data
 * did not land is rejected). The chain stops at the first pseg that fails;
 * everything up to the last COMMIT pseg is applied, the rest ignored.
 *
 * Applying a pseg means applying its inode blocks: the inode map points at
 * the new inode, and the segment usage counts move from the blocks of the
 * old inode's tree to those of the new one (the difference of two sorted
 * address lists). Data and indirect blocks need nothing: the inodes name
 * them. The work is bounded: at most cp_interval segments since the
 * checkpoint.
 */
#include "fs/fs_int.h"

static int collect(void *ctx, uint32_t key, uint32_t addr)
{
	return qfs_vec_push(ctx, addr);
}

/* The inode block at addr and every block of its tree, sorted. */
static int tree_of(struct qfs *fs, uint32_t ino, uint32_t addr, struct qfs_disk_inode *d,
		   struct qfs_vec *v)
{
	int err = qfs_inode_read_disk(fs, ino, addr, d);
	if (err)
		return err;
	if (d->mode != QFS_MODE_FREE) {
		err = qfs_vec_push(v, addr);
		if (!err)
			err = qfs_walk_disk(fs, d, collect, v);
	}
	qfs_sort_u64(v->a, v->n);
	return err;
}

static int apply_inode(struct qfs *fs, uint32_t ino, uint32_t addr, struct qfs_disk_inode *d)
{
	struct qfs_vec o = {0}, n = {0};
	uint32_t old = qfs_imap_get(fs, ino);
	int err = 0;
	if (ino == 0 || ino >= fs->sb.max_inodes)
		return -EUCLEAN;
	if (old)
		err = tree_of(fs, ino, old, d, &o);
	if (!err)
		err = tree_of(fs, ino, addr, d, &n);
	if (!err) {
		size_t i = 0, j = 0;
		while (i < o.n || j < n.n) {
			if (j == n.n || (i < o.n && o.a[i] < n.a[j]))
				qfs_account(fs, (uint32_t)o.a[i++], 0);
			else if (i == o.n || n.a[j] < o.a[i])
				qfs_account(fs, 0, (uint32_t)n.a[j++]);
			else
				i++, j++;
		}
		err = qfs_imap_set(fs, ino, d->mode == QFS_MODE_FREE ? 0 : addr);
	}
	qfs_free(o.a);
	qfs_free(n.a);
	return err;
}

int qfs_sum_check(struct qfs *fs, const struct qfs_disk_sum *s, uint64_t addr)
{
	struct qfs_disk_sum *m = (struct qfs_disk_sum *)s;
	uint32_t crc = m->crc, sum_crc = m->sum_crc;
	m->crc = m->sum_crc = 0;
	uint32_t want = qfs_crc32c(0, m, QFS_BLOCK_SIZE);
	m->crc = crc;
	m->sum_crc = sum_crc;
	if (s->magic != QFS_MAGIC_SUM || sum_crc != want ||
	    memcmp(s->uuid, fs->sb.uuid, sizeof(s->uuid)) || s->seg_blocks != fs->sb.seg_blocks ||
	    s->nblocks >= QFS_PSEG_MAX || s->next_seg >= fs->sb.nsegs || s->head >= QFS_NHEADS)
		return -EUCLEAN;
	uint32_t seg = qfs_seg_of(fs, addr);
	if (addr + 1 + s->nblocks > qfs_seg_start(fs, seg) + fs->sb.seg_blocks)
		return -EUCLEAN;
	return 0;
}

#define RF_CHUNK 16u /* blocks read at a time */

struct rf_pseg {
	uint32_t addr, nblocks, head, seg, next_seg, crc;
};

/* Where head h's next pseg would be: at pos, or at the start of its next segment. */
static void rf_where(struct qfs *fs, const struct qfs_head *hd, uint32_t *pos, uint32_t *seg)
{
	*pos = hd->addr;
	*seg = hd->cur_seg;
	if (qfs_seg_start(fs, hd->cur_seg) + fs->sb.seg_blocks - hd->addr < 2) {
		*seg = hd->next_seg;
		*pos = (uint32_t)qfs_seg_start(fs, hd->next_seg);
	}
}

int qfs_recover(struct qfs *fs, uint32_t *applied)
{
	struct rf_pseg *list = NULL;
	size_t n = 0, cap = 0;
	long last_commit = -1;
	uint64_t seq = fs->seq;
	uint32_t prev = fs->prev_crc;
	struct qfs_head hd[QFS_NHEADS];
	memcpy(hd, fs->head, sizeof(hd));
	uint8_t *buf = qfs_alloc_big((size_t)RF_CHUNK * QFS_BLOCK_SIZE);
	struct qfs_disk_inode *d = qfs_alloc_block();
	int err = buf && d ? 0 : -ENOMEM;
	*applied = 0;

	/* Pass 1: follow the chain (the pseg with the next seq is at one of the
	 * heads' positions) and find its last commit. */
	while (!err && n < (size_t)fs->sb.nsegs * fs->sb.seg_blocks) {
		struct qfs_disk_sum *s = (struct qfs_disk_sum *)buf;
		int h;
		uint32_t pos = 0, seg = 0;
		for (h = 0; h < QFS_NHEADS; h++) {
			rf_where(fs, &hd[h], &pos, &seg);
			if (!qfs_dev_read(fs, pos, buf, 1) && !qfs_sum_check(fs, s, pos) && s->seq == seq &&
			    s->prev_crc == prev && s->head == (uint32_t)h)
				break;
		}
		if (h == QFS_NHEADS)
			break;
		uint32_t crc = s->crc, nblocks = s->nblocks, flags = s->flags, next_seg = s->next_seg;
		/* The CRC runs on over the blocks, read a chunk at a time. */
		s->crc = 0;
		uint32_t c = qfs_crc32c(0, buf, QFS_BLOCK_SIZE);
		bool bad = false;
		for (uint32_t k = 0; k < nblocks && !bad; k += RF_CHUNK) {
			uint32_t len = nblocks - k < RF_CHUNK ? nblocks - k : RF_CHUNK;
			bad = qfs_dev_read(fs, pos + 1 + k, buf, len) != 0;
			c = qfs_crc32c(c, buf, (size_t)len * QFS_BLOCK_SIZE);
		}
		if (bad || c != crc)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct rf_pseg *l = qfs_malloc(cap * sizeof(*l));
			if (!l) {
				err = -ENOMEM;
				break;
			}
			if (n)
				memcpy(l, list, n * sizeof(*l));
			qfs_free(list);
			list = l;
		}
		list[n] = (struct rf_pseg){pos, nblocks, (uint32_t)h, seg, next_seg, crc};
		if (flags & QFS_SUM_COMMIT)
			last_commit = (long)n;
		n++;
		seq++;
		prev = crc;
		hd[h].addr = pos + 1 + nblocks;
		hd[h].cur_seg = seg;
		hd[h].next_seg = next_seg;
	}

	/* Pass 2: apply the committed psegs in order. */
	for (long i = 0; !err && i <= last_commit; i++) {
		struct rf_pseg *p = &list[i];
		struct qfs_head *h = &fs->head[p->head];
		struct qfs_disk_sum *s = (struct qfs_disk_sum *)buf;
		if (p->seg != h->cur_seg) {
			fs->seg_busy[p->seg] = 1;
			fs->segs_since_cp++;
		}
		fs->seg_busy[p->next_seg] = 1;
		err = qfs_dev_read(fs, p->addr, buf, 1);
		for (uint32_t k = 0; !err && k < p->nblocks; k++)
			if (s->e[k].ino && s->e[k].key == QFS_KEY_INODE)
				err = apply_inode(fs, s->e[k].ino, p->addr + 1 + k, d);
		fs->sut[p->seg].age = (uint32_t)s->seq;
		fs->seq = s->seq + 1;
		fs->prev_crc = p->crc;
		h->addr = p->addr + 1 + p->nblocks;
		h->cur_seg = p->seg;
		h->next_seg = p->next_seg;
		(*applied)++;
	}
	if (!err && *applied)
		fs->cp_needed = true;
	qfs_free(list);
	qfs_free_big(buf, (size_t)RF_CHUNK * QFS_BLOCK_SIZE);
	qfs_free_block(d);
	return err;
}
