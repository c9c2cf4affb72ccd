/*
 * Reading a pseg back (recovery, the cleaner, fsck). Its header is the last
 * record of its first block; its entries run on from the header into the
 * extra records after its blocks. Everything is checked before use: a
 * header that is torn, stale, from another format or simply not there
 * fails its checksum or its geometry, and the caller treats the place as
 * holding no pseg.
 */
#include "fs/fs_int.h"

int qfs_pseg_load(struct qfs *fs, uint32_t addr, uint8_t *buf, struct qfs_pseg_view *v)
{
	uint32_t rec = fs->rec, per = QFS_BLOCK_SIZE / rec;
	if (!qfs_addr_ok(fs, addr))
		return -EUCLEAN;
	int err = qfs_dev_read_bytes(fs, (uint64_t)addr * QFS_BLOCK_SIZE + QFS_BLOCK_SIZE - rec, buf, rec);
	if (err)
		return err;
	struct qfs_disk_pseg *s = (struct qfs_disk_pseg *)buf;
	/* The counts say how much the checksum covers: bound them before trusting it. */
	if (s->magic != QFS_MAGIC_PSEG || s->nblocks > QFS_PSEG_BLOCKS || s->ninodes > QFS_PSEG_IENTS)
		return -EUCLEAN;
	uint32_t used = qfs_pseg_used(s->nblocks, s->ninodes);
	uint32_t csum = s->csum;
	s->csum = 0;
	uint32_t want = qfs_csum(fs->seed, buf, used < rec ? used : rec);
	s->csum = csum;
	if (csum != want || s->nextra != qfs_pseg_extra(fs, s->nblocks, s->ninodes) ||
	    s->next_seg >= fs->sb.nsegs || s->head >= QFS_NHEADS)
		return -EUCLEAN;
	uint64_t seg_end = qfs_seg_start(fs, qfs_seg_of(fs, addr)) + fs->sb.seg_blocks;
	uint64_t extra_at = (uint64_t)addr + 1 + s->nblocks;
	if (extra_at * per + s->nextra > seg_end * per)
		return -EUCLEAN;
	if (s->nextra) {
		err = qfs_dev_read_bytes(fs, extra_at * QFS_BLOCK_SIZE, buf + rec, (uint32_t)s->nextra * rec);
		if (err)
			return err;
		if (qfs_csum(fs->seed, buf + rec, used - rec) != s->ecsum)
			return -EUCLEAN;
	} else if (s->ecsum) {
		return -EUCLEAN;
	}
	v->h = *s;
	v->bent = (const struct qfs_disk_bent *)(buf + sizeof(*s));
	v->ient = (const uint8_t *)(v->bent + s->nblocks);
	v->addr = addr;
	v->next = qfs_pseg_next(fs, addr, s->nblocks, s->nextra);
	return 0;
}
