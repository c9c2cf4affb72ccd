/*
 * The cleaner. When free segments run low, before an operation changes
 * anything, make_room picks a victim by cost-benefit (Sprite LFS: free space
 * gained times age, over the cost of reading the segment and writing its
 * live part: (1 - u) * age / (1 + u)), walks the victim's psegs, and marks
 * every live block dirty; liveness is checked through the summary (ino, key)
 * against the inode map and the block maps. A checkpoint then writes the
 * live blocks elsewhere and frees the emptied segments (with DISCARD when
 * the device offers it). At most QFS_CLEAN_BUDGET victims and
 * QFS_CLEAN_BLOCKS live blocks moved per operation (a victim may be cleaned
 * over several operations): a
 * full disk makes writes slower, never stalls them unboundedly.
 */
#include "fs/fs_int.h"

#define QFS_CLEAN_BUDGET 16    /* victims per operation, at most */
#define QFS_CLEAN_BLOCKS 2048u /* live blocks moved per operation, at most (8 MiB) */

/*
 * Space policy. R reserved segments keep cleaning, deletes and checkpoints
 * possible on a full file system: writes stop (-ENOSPC) when live + dirty
 * blocks would reach into them. Dirty blocks are capped well below R, and
 * the cleaner keeps enough free segments to commit them all.
 */
static uint32_t reserve_segs(struct qfs *fs)
{
	return 4 + fs->sb.nsegs / 16;
}

bool qfs_space_ok(struct qfs *fs, uint64_t more)
{
	/* Every segment holds at least one summary: never live, never usable. */
	uint64_t total = (uint64_t)fs->sb.nsegs * (fs->sb.seg_blocks - 1);
	uint64_t used = fs->live_blocks + fs->ndirty + fs->nmeta + fs->ncpdirty + more;
	return used + (uint64_t)reserve_segs(fs) * (fs->sb.seg_blocks - 1) <= total;
}

uint64_t qfs_avail_blocks(struct qfs *fs)
{
	uint64_t total = (uint64_t)fs->sb.nsegs * (fs->sb.seg_blocks - 1);
	uint64_t reserve = (uint64_t)reserve_segs(fs) * (fs->sb.seg_blocks - 1);
	uint64_t used = fs->live_blocks + fs->ndirty + fs->nmeta + fs->ncpdirty;
	return used + reserve < total ? total - reserve - used : 0;
}

uint32_t qfs_dirty_limit(struct qfs *fs)
{
	uint32_t lim = (reserve_segs(fs) - 4) * (fs->sb.seg_blocks - 1) / 2;
	if (lim > fs->cache_blocks / 2)
		lim = fs->cache_blocks / 2;
	return lim < 16 ? 16 : lim;
}

/* Segments a checkpoint of everything dirty needs (a commit's data, then
 * the inodes and indirect blocks; changed inodes bring indirect blocks). */
static uint32_t dirty_segs(struct qfs *fs)
{
	return 1 + (fs->ndirty + fs->nmeta + 2 * fs->ncpdirty) / (fs->sb.seg_blocks - 1);
}

/* Cleaning starts early enough that there is room to move live blocks. */
static uint32_t low_water(struct qfs *fs)
{
	return 2 + dirty_segs(fs) + reserve_segs(fs) / 2;
}

static long pick_victim(struct qfs *fs, const uint32_t *skip, int nskip)
{
	long best = -1;
	uint64_t best_score = 0;
	uint32_t now = (uint32_t)fs->seq, sb = fs->sb.seg_blocks;
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		uint32_t live = fs->sut[s].live;
		if (!live || live >= sb || qfs_seg_in_log(fs, s))
			continue;
		int k = 0;
		while (k < nskip && skip[k] != s)
			k++;
		if (k < nskip)
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

/* Mark the block at addr dirty if it is live: 1 when it was, 0, or -errno. */
static int mark_live(struct qfs *fs, uint32_t ino, uint32_t key, uint32_t addr)
{
	if (ino == 0) {
		if (key >= fs->sb.imap_blocks || fs->imap_addr[key] != addr)
			return 0;
		fs->imap_dirty[key] = 1;
		return 1;
	}
	if (ino >= fs->sb.max_inodes)
		return 0;
	/* Inode blocks are written by checkpoints only: the inode map says which is live. */
	if (key == QFS_KEY_INODE && qfs_imap_get(fs, ino) != addr)
		return 0;
	struct qfs_inode *ip;
	int err = qfs_iget(fs, ino, &ip);
	if (err)
		return err == -ENOENT ? 0 : err;
	int live = 0;
	if (key == QFS_KEY_INODE) {
		qfs_inode_cpdirty(fs, ip);
		live = 1;
	} else {
		uint32_t a;
		struct qfs_buf *b;
		err = qfs_bmap(fs, ip, key, &a);
		if (!err && a == addr) {
			err = qfs_buf_get(fs, ip, key, addr, &b);
			if (!err)
				qfs_buf_dirty(fs, b);
			live = 1;
		}
	}
	qfs_iput(fs, ip);
	return err ? err : live;
}

/* Mark the live blocks of segment v dirty, at most *budget of them: the
 * next commit moves them. */
static int clean_seg(struct qfs *fs, uint32_t v, uint32_t *budget)
{
	uint64_t pos = qfs_seg_start(fs, v), end = pos + fs->sb.seg_blocks;
	uint8_t *buf = qfs_alloc_big(qfs_pseg_buf_bytes(fs));
	if (!buf)
		return -ENOMEM;
	uint64_t last_seq = 0;
	int err = 0;
	bool whole = true;
	while (!err && pos + 1 < end && whole) {
		struct qfs_pseg_view pv;
		err = qfs_pseg_load(fs, (uint32_t)pos, buf, &pv);
		if (err == -EUCLEAN || (!err && pv.h.seq <= last_seq)) {
			err = 0; /* the segment's psegs end here */
			break;
		}
		if (err)
			break;
		last_seq = pv.h.seq;
		for (uint32_t k = 0; !err && k < pv.h.nblocks; k++) {
			if (!*budget) {
				whole = false;
				break;
			}
			int r = mark_live(fs, pv.bent[k].ino, pv.bent[k].key, (uint32_t)(pos + 1 + k));
			if (r < 0)
				err = r;
			else
				*budget -= (uint32_t)r;
		}
		pos = pv.next;
	}
	qfs_free_big(buf, qfs_pseg_buf_bytes(fs));
	if (!err && whole)
		fs->cleaned_segs++;
	return err;
}

static bool pending_segs(struct qfs *fs)
{
	for (uint32_t s = 0; s < fs->sb.nsegs; s++)
		if (fs->seg_busy[s] && !fs->sut[s].live && !qfs_seg_in_log(fs, s))
			return true;
	return false;
}

int qfs_make_room(struct qfs *fs, uint32_t need)
{
	uint32_t victims[QFS_CLEAN_BUDGET], budget = QFS_CLEAN_BLOCKS;
	int nv = 0, err = 0;
	if (fs->cleaning)
		return 0;
	fs->cleaning = true;
	while (!err && fs->free_segs < low_water(fs) + need && nv < QFS_CLEAN_BUDGET) {
		uint32_t free_before = fs->free_segs;
		if (!pending_segs(fs)) {
			/* Several victims per checkpoint (its own blocks are overhead),
			 * as many as the free segments can take the live blocks of,
			 * beside what is dirty already. */
			uint32_t gain = 0, moved = 0, before = (uint32_t)nv;
			uint32_t reserved = dirty_segs(fs) + 2;
			uint32_t room = fs->free_segs > reserved ?
					(fs->free_segs - reserved) * (fs->sb.seg_blocks - 1) : 0;
			while (!err && nv < QFS_CLEAN_BUDGET && gain < 2 * fs->sb.seg_blocks) {
				long v = pick_victim(fs, victims, nv);
				uint32_t take = v < 0 ? 0 : fs->sut[v].live < budget ? fs->sut[v].live : budget;
				if (v < 0 || !take || moved + take > room)
					break;
				gain += fs->sb.seg_blocks - fs->sut[v].live;
				moved += take;
				victims[nv++] = (uint32_t)v;
				err = clean_seg(fs, (uint32_t)v, &budget);
			}
			if (!err && (uint32_t)nv == before)
				break; /* nothing can be cleaned now: writes meet -ENOSPC */
		}
		if (!err)
			err = qfs_checkpoint(fs);
		if (!err && fs->free_segs <= free_before && !pending_segs(fs))
			break; /* no progress: do not spin */
	}
	fs->cleaning = false;
	return err;
}

/* Writes stop before the log could run out of segments for a commit. */
bool qfs_log_room(struct qfs *fs)
{
	return fs->free_segs >= dirty_segs(fs) + 2;
}
