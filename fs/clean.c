/*
 * The cleaner. When free segments run low, before an operation changes
 * anything, make_room picks a victim by cost-benefit (Sprite LFS: free space
 * gained times age, over the cost of reading the segment and writing its
 * live part: (1 - u) * age / (1 + u)), walks the victim's psegs, and marks
 * every live block dirty; liveness is checked through the summary (ino, key)
 * against the inode map and the block maps. A checkpoint then writes the
 * live blocks elsewhere and frees the emptied segments (with DISCARD when
 * the device offers it). At most QFS_CLEAN_BUDGET victims per operation: a
 * full disk makes writes slower, never stalls them unboundedly.
 */
#include "fs/fs_int.h"

#define QFS_CLEAN_BUDGET 2

static uint32_t low_water(struct qfs *fs)
{
	return 4 + fs->ndirty / (fs->sb.seg_blocks - 1);
}

static long pick_victim(struct qfs *fs)
{
	long best = -1;
	uint64_t best_score = 0;
	uint32_t now = (uint32_t)fs->seq, sb = fs->sb.seg_blocks;
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		uint32_t live = fs->sut[s].live;
		if (!live || live >= sb || s == fs->cur_seg || s == fs->next_seg)
			continue;
		uint64_t age = (uint32_t)(now - fs->sut[s].age) + 1;
		uint64_t score = (uint64_t)(sb - live) * age * 1024 / (sb + live);
		if (best < 0 || score > best_score) {
			best = s;
			best_score = score;
		}
	}
	return best;
}

static int mark_live(struct qfs *fs, uint32_t ino, uint32_t key, uint32_t addr)
{
	if (ino == 0) {
		if (key < fs->sb.imap_blocks && fs->imap_addr[key] == addr)
			fs->imap_dirty[key] = 1;
		return 0;
	}
	if (ino >= fs->sb.max_inodes || !qfs_imap_get(fs, ino))
		return 0;
	if (key == QFS_KEY_INODE && qfs_imap_get(fs, ino) != addr)
		return 0;
	struct qfs_inode *ip;
	int err = qfs_iget(fs, ino, &ip);
	if (err)
		return err == -ENOENT ? 0 : err;
	if (key == QFS_KEY_INODE) {
		qfs_inode_dirty(fs, ip);
	} else {
		uint32_t a;
		struct qfs_buf *b;
		err = qfs_bmap(fs, ip, key, &a);
		if (!err && a == addr) {
			err = qfs_buf_get(fs, ip, key, addr, &b);
			if (!err)
				qfs_buf_dirty(fs, b);
		}
	}
	qfs_iput(fs, ip);
	return err;
}

int qfs_clean_one(struct qfs *fs)
{
	long v = pick_victim(fs);
	if (v < 0)
		return -ENOSPC;
	uint64_t pos = qfs_seg_start(fs, (uint32_t)v), end = pos + fs->sb.seg_blocks;
	struct qfs_disk_sum *s = qfs_alloc_block();
	if (!s)
		return -ENOMEM;
	uint64_t last_seq = 0;
	int err = 0;
	while (!err && pos + 1 < end) {
		err = qfs_dev_read(fs, pos, s, 1);
		if (err || qfs_sum_check(fs, s, pos) || s->seq <= last_seq)
			break;
		last_seq = s->seq;
		for (uint32_t k = 0; !err && k < s->nblocks; k++)
			err = mark_live(fs, s->e[k].ino, s->e[k].key, (uint32_t)(pos + 1 + k));
		pos += 1 + s->nblocks;
	}
	qfs_free_block(s);
	if (!err)
		fs->cleaned_segs++;
	return err;
}

static bool pending_segs(struct qfs *fs)
{
	for (uint32_t s = 0; s < fs->sb.nsegs; s++)
		if (fs->seg_busy[s] && !fs->sut[s].live && s != fs->cur_seg && s != fs->next_seg)
			return true;
	return false;
}

int qfs_make_room(struct qfs *fs, uint32_t need)
{
	if (fs->cleaning)
		return 0;
	int err = 0;
	fs->cleaning = true;
	for (int i = 0; i < QFS_CLEAN_BUDGET && fs->free_segs < low_water(fs) + need; i++) {
		if (!pending_segs(fs)) {
			err = qfs_clean_one(fs);
			if (err == -ENOSPC) {
				err = 0; /* nothing to clean: writes will meet ENOSPC */
				break;
			}
		}
		if (!err)
			err = qfs_checkpoint(fs);
		if (err)
			break;
	}
	fs->cleaning = false;
	return err;
}
