/*
 * Directories: ordinary file blocks holding a chain of records
 * {ino, rec_len, name_len, type, name} that covers each block exactly
 * (as ext2). ino 0 marks free space; removing a record merges it into the
 * previous one. Lookups are linear. Every block is checked as it is read:
 * a malformed one is -EUCLEAN, never a crash.
 */
#include "fs/fs_int.h"

#define REC(p, off) ((struct qfs_disk_dirent *)((p) + (off)))
#define REC_NEED(len) (((uint32_t)QFS_DIRENT_HDR + (len) + 7u) & ~7u)

int qfs_dir_check_block(const uint8_t *blk)
{
	uint32_t off = 0;
	while (off < QFS_BLOCK_SIZE) {
		const struct qfs_disk_dirent *e = REC(blk, off);
		if (e->rec_len < QFS_DIRENT_HDR || e->rec_len % 8 || off + e->rec_len > QFS_BLOCK_SIZE)
			return -EUCLEAN;
		if (e->ino) {
			if (e->name_len == 0 || REC_NEED(e->name_len) > e->rec_len ||
			    (e->type != QFS_MODE_FILE && e->type != QFS_MODE_DIR))
				return -EUCLEAN;
			for (uint32_t i = 0; i < e->name_len; i++)
				if (e->name[i] == '/' || e->name[i] == 0)
					return -EUCLEAN;
		}
		off += e->rec_len;
	}
	return 0;
}

static int dir_block(struct qfs *fs, struct qfs_inode *dp, uint64_t bno, bool write, uint8_t **out)
{
	struct qfs_buf *b;
	int err = qfs_file_rw_block(fs, dp, bno, write, &b);
	if (err)
		return err;
	if (!b->checked) { /* once per read from disk: our own changes keep it valid */
		err = qfs_dir_check_block(b->data);
		if (err)
			return err;
		b->checked = true;
	}
	if (write) {
		err = qfs_buf_stable(fs, b);
		if (err)
			return err;
		qfs_buf_dirty(fs, b);
	}
	*out = b->data;
	return 0;
}

/* Find name: its block (loaded, dirtied when write), record offset and the previous one's. */
static int dir_find(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len, bool write,
		    uint8_t **blk, uint32_t *off, uint32_t *prev)
{
	uint64_t nb = dp->d->size / QFS_BLOCK_SIZE;
	for (uint64_t b = 0; b < nb; b++) {
		uint8_t *p;
		int err = dir_block(fs, dp, b, false, &p);
		if (err)
			return err;
		uint32_t pv = QFS_BLOCK_SIZE;
		for (uint32_t o = 0; o < QFS_BLOCK_SIZE; pv = o, o += REC(p, o)->rec_len) {
			struct qfs_disk_dirent *e = REC(p, o);
			if (e->ino && e->name_len == len && !memcmp(e->name, name, len)) {
				*off = o;
				*prev = pv;
				return write ? dir_block(fs, dp, b, true, blk) : (*blk = p, 0);
			}
		}
	}
	return -ENOENT;
}

int qfs_dir_lookup(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		   uint32_t *ino, uint32_t *type)
{
	uint8_t *p;
	uint32_t off, prev;
	int err = dir_find(fs, dp, name, len, false, &p, &off, &prev);
	if (err)
		return err;
	*ino = REC(p, off)->ino;
	*type = REC(p, off)->type;
	return 0;
}

int qfs_dir_add(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		uint32_t ino, uint32_t type)
{
	uint32_t need = REC_NEED(len);
	uint64_t nb = dp->d->size / QFS_BLOCK_SIZE;
	for (uint64_t b = 0; b < nb; b++) {
		uint8_t *p;
		int err = dir_block(fs, dp, b, false, &p);
		if (err)
			return err;
		for (uint32_t o = 0; o < QFS_BLOCK_SIZE; o += REC(p, o)->rec_len) {
			struct qfs_disk_dirent *e = REC(p, o);
			uint32_t used = e->ino ? REC_NEED(e->name_len) : 0;
			if (e->rec_len - used < need)
				continue;
			err = dir_block(fs, dp, b, true, &p);
			if (err)
				return err;
			e = REC(p, o);
			if (used) {
				struct qfs_disk_dirent *n = REC(p, o + used);
				n->rec_len = e->rec_len - used;
				e->rec_len = used;
				e = n;
			}
			e->ino = ino;
			e->name_len = (uint8_t)len;
			e->type = (uint8_t)type;
			memcpy(e->name, name, len);
			qfs_inode_dirty(fs, dp);
			return 0;
		}
	}
	/* A new block at the end. */
	struct qfs_buf *nbuf;
	int err = qfs_file_rw_block(fs, dp, nb, true, &nbuf);
	if (!err)
		err = qfs_buf_stable(fs, nbuf);
	if (err)
		return err;
	memset(nbuf->data, 0, QFS_BLOCK_SIZE);
	struct qfs_disk_dirent *e = REC(nbuf->data, 0);
	e->rec_len = QFS_BLOCK_SIZE;
	e->ino = ino;
	e->name_len = (uint8_t)len;
	e->type = (uint8_t)type;
	memcpy(e->name, name, len);
	qfs_buf_dirty(fs, nbuf);
	dp->d->size += QFS_BLOCK_SIZE;
	qfs_inode_dirty(fs, dp);
	return 0;
}

int qfs_dir_remove(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len)
{
	uint32_t off, prev;
	uint8_t *p;
	int err = dir_find(fs, dp, name, len, true, &p, &off, &prev);
	if (err)
		return err;
	struct qfs_disk_dirent *e = REC(p, off);
	if (prev < QFS_BLOCK_SIZE) {
		REC(p, prev)->rec_len += e->rec_len;
		memset(e, 0, QFS_DIRENT_HDR);
	} else {
		e->ino = 0;
	}
	qfs_inode_dirty(fs, dp);
	return 0;
}

int qfs_dir_set(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		uint32_t ino, uint32_t type)
{
	uint32_t off, prev;
	uint8_t *p;
	int err = dir_find(fs, dp, name, len, true, &p, &off, &prev);
	if (err)
		return err;
	REC(p, off)->ino = ino;
	REC(p, off)->type = (uint8_t)type;
	qfs_inode_dirty(fs, dp);
	return 0;
}

int qfs_dir_next(struct qfs *fs, struct qfs_inode *dp, uint64_t *cookie, struct qfs_dirent *out)
{
	uint64_t nb = dp->d->size / QFS_BLOCK_SIZE;
	for (uint64_t b = *cookie >> 12; b < nb; b++) {
		uint8_t *p;
		int err = dir_block(fs, dp, b, false, &p);
		if (err)
			return err;
		uint32_t start = b == (*cookie >> 12) ? (uint32_t)(*cookie & 0xfff) : 0;
		for (uint32_t o = 0; o < QFS_BLOCK_SIZE; o += REC(p, o)->rec_len) {
			struct qfs_disk_dirent *e = REC(p, o);
			if (o < start || !e->ino)
				continue;
			out->ino = e->ino;
			out->type = e->type;
			memcpy(out->name, e->name, e->name_len);
			out->name[e->name_len] = 0;
			uint64_t nx = o + e->rec_len;
			*cookie = nx >= QFS_BLOCK_SIZE ? (b + 1) << 12 : (b << 12) | nx;
			return 1;
		}
	}
	*cookie = nb << 12;
	return 0;
}

int qfs_dir_empty(struct qfs *fs, struct qfs_inode *dp)
{
	uint64_t cookie = 0;
	struct qfs_dirent *e = qfs_malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	int r = qfs_dir_next(fs, dp, &cookie, e);
	qfs_free(e);
	return r < 0 ? r : r == 0;
}
