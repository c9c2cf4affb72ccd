/*
 * Block I/O and the two caches.
 *
 *   device I/O    whole blocks, split at the device's largest request; a
 *                 read that overlaps a pseg still in flight waits for it
 *   buffer cache  file blocks (data and indirect) named by (inode, key),
 *                 hashed, on an LRU list; dirty buffers stay until written
 *                 by the log, clean ones are evicted beyond cache_blocks
 *   inode cache   every inode in use, a full copy of its disk block
 *   inode map     ino -> address of its inode block, in 1024-entry blocks
 *                 loaded at mount, allocated on first use
 */
#include "fs/fs_int.h"

void *qfs_alloc_block(void)
{
	return qfs_page_alloc(QFS_BLOCK_SIZE);
}

void *qfs_alloc_big(size_t bytes)
{
	return qfs_page_alloc(bytes);
}

void qfs_free_big(void *p, size_t bytes)
{
	if (p)
		qfs_page_free(p, bytes);
}

void qfs_free_block(void *p)
{
	qfs_free_big(p, QFS_BLOCK_SIZE);
}

static int qfs_dev_rw(struct qfs *fs, int op, uint64_t block, void *buf, uint32_t nblocks)
{
	uint8_t *p = buf;
	uint32_t per = fs->max_req / QFS_BLOCK_SIZE;
	while (nblocks) {
		uint32_t n = nblocks < per ? nblocks : per;
		uint64_t sector = block * QFS_SECTORS_PER_BLOCK;
		int err = op == BLK_OP_READ ? blk_read(fs->dev, sector, p, n * QFS_BLOCK_SIZE)
					    : blk_write(fs->dev, sector, p, n * QFS_BLOCK_SIZE);
		if (err)
			return err == -EROFS ? err : -EIO;
		if (op == BLK_OP_WRITE)
			fs->dev_bytes += (uint64_t)n * QFS_BLOCK_SIZE;
		p += (size_t)n * QFS_BLOCK_SIZE;
		block += n;
		nblocks -= n;
	}
	return 0;
}

int qfs_dev_read(struct qfs *fs, uint64_t block, void *buf, uint32_t nblocks)
{
	if (qfs_log_inflight(fs, block, nblocks)) {
		/* Still in memory (the pseg being filled) or in flight. */
		int err = qfs_log_seal(fs, 0);
		if (!err)
			err = qfs_log_wait_all(fs);
		if (err)
			return err;
	}
	return qfs_dev_rw(fs, BLK_OP_READ, block, buf, nblocks);
}

int qfs_dev_write(struct qfs *fs, uint64_t block, const void *buf, uint32_t nblocks)
{
	return qfs_dev_rw(fs, BLK_OP_WRITE, block, (void *)buf, nblocks);
}

int qfs_dev_flush(struct qfs *fs)
{
	fs->flushes++;
	if (!(fs->dev->flags & BLK_F_FLUSH))
		return 0;
	return blk_flush(fs->dev) ? -EIO : 0;
}

/* ---- buffer cache ---- */

static uint32_t bhash(const struct qfs *fs, uint32_t ino, uint32_t key)
{
	return ((ino * 2654435761u) ^ (key * 40503u) ^ (key >> 10)) & (fs->nbhash - 1);
}

int qfs_cache_init(struct qfs *fs)
{
	fs->nbhash = 1;
	while (fs->nbhash < fs->cache_blocks)
		fs->nbhash <<= 1;
	fs->bhash = qfs_zalloc(fs->nbhash * sizeof(*fs->bhash));
	fs->lru.lnext = fs->lru.lprev = &fs->lru;
	fs->tmp = qfs_alloc_block();
	return fs->bhash && fs->tmp ? 0 : -ENOMEM;
}

static void lru_unlink(struct qfs_buf *b)
{
	b->lprev->lnext = b->lnext;
	b->lnext->lprev = b->lprev;
}

static void lru_front(struct qfs *fs, struct qfs_buf *b)
{
	b->lnext = fs->lru.lnext;
	b->lprev = &fs->lru;
	fs->lru.lnext->lprev = b;
	fs->lru.lnext = b;
}

struct qfs_buf *qfs_buf_find(struct qfs *fs, struct qfs_inode *ip, uint32_t key)
{
	for (struct qfs_buf *b = fs->bhash[bhash(fs, ip->ino, key)]; b; b = b->hnext)
		if (b->ip == ip && b->key == key)
			return b;
	return NULL;
}

void qfs_buf_drop(struct qfs *fs, struct qfs_buf *b)
{
	struct qfs_buf **pp = &fs->bhash[bhash(fs, b->ip->ino, b->key)];
	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	lru_unlink(b);
	if (b->iprev)
		b->iprev->inext = b->inext;
	else
		b->ip->bufs = b->inext;
	if (b->inext)
		b->inext->iprev = b->iprev;
	qfs_buf_clean(fs, b);
	fs->nbufs--;
	qfs_free_block(b->data);
	qfs_free(b);
}

void qfs_buf_evict(struct qfs *fs)
{
	struct qfs_buf *b = fs->lru.lprev;
	while (fs->nbufs > fs->cache_blocks && b != &fs->lru) {
		struct qfs_buf *prev = b->lprev;
		if (!b->dirty)
			qfs_buf_drop(fs, b);
		b = prev;
	}
}

int qfs_buf_get(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr,
		struct qfs_buf **out)
{
	struct qfs_buf *b = qfs_buf_find(fs, ip, key);
	if (b) {
		lru_unlink(b);
		lru_front(fs, b);
		*out = b;
		return 0;
	}
	if (addr && !qfs_addr_ok(fs, addr))
		return -EUCLEAN;
	if (fs->nbufs >= fs->cache_blocks)
		qfs_buf_evict(fs);
	b = qfs_zalloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->data = qfs_alloc_block();
	if (!b->data) {
		qfs_free(b);
		return -ENOMEM;
	}
	if (addr) {
		int err = qfs_dev_read(fs, addr, b->data, 1);
		if (err) {
			qfs_free_block(b->data);
			qfs_free(b);
			return err;
		}
	}
	b->ip = ip;
	b->key = key;
	uint32_t h = bhash(fs, ip->ino, key);
	b->hnext = fs->bhash[h];
	fs->bhash[h] = b;
	b->inext = ip->bufs;
	if (ip->bufs)
		ip->bufs->iprev = b;
	ip->bufs = b;
	lru_front(fs, b);
	fs->nbufs++;
	*out = b;
	return 0;
}

void qfs_dirty_list_add(struct qfs_inode **head, struct qfs_inode *ip)
{
	if (ip->dpprev)
		return;
	ip->dnext = *head;
	if (*head)
		(*head)->dpprev = &ip->dnext;
	ip->dpprev = head;
	*head = ip;
}

void qfs_dirty_list_remove(struct qfs_inode *ip)
{
	if (!ip->dpprev)
		return;
	*ip->dpprev = ip->dnext;
	if (ip->dnext)
		ip->dnext->dpprev = ip->dpprev;
	ip->dnext = NULL;
	ip->dpprev = NULL;
}

void qfs_buf_dirty(struct qfs *fs, struct qfs_buf *b)
{
	if (b->dirty)
		return;
	b->dirty = true;
	fs->ndirty++;
	b->ip->ndirty++;
	qfs_dirty_list_add(&fs->dirty_list, b->ip);
}

void qfs_buf_clean(struct qfs *fs, struct qfs_buf *b)
{
	if (!b->dirty)
		return;
	b->dirty = false;
	fs->ndirty--;
	b->ip->ndirty--;
}

/* ---- inode map ---- */

uint32_t qfs_imap_get(struct qfs *fs, uint32_t ino)
{
	if (ino == 0 || ino >= fs->sb.max_inodes)
		return 0;
	uint32_t *blk = fs->imap[ino / QFS_IMAP_PER_BLOCK];
	return blk ? blk[ino % QFS_IMAP_PER_BLOCK] : 0;
}

int qfs_imap_set(struct qfs *fs, uint32_t ino, uint32_t addr)
{
	uint32_t i = ino / QFS_IMAP_PER_BLOCK;
	if (!fs->imap[i]) {
		fs->imap[i] = qfs_alloc_block();
		if (!fs->imap[i])
			return -ENOMEM;
	}
	fs->imap[i][ino % QFS_IMAP_PER_BLOCK] = addr;
	fs->imap_dirty[i] = 1;
	return 0;
}

/* ---- inode cache ---- */

int qfs_inode_read_disk(struct qfs *fs, uint32_t ino, uint32_t addr, struct qfs_disk_inode *d)
{
	if (!qfs_addr_ok(fs, addr))
		return -EUCLEAN;
	int err = qfs_dev_read(fs, addr, d, 1);
	if (err)
		return err;
	uint32_t crc = d->crc;
	d->crc = 0;
	uint32_t want = qfs_crc32c(0, d, QFS_BLOCK_SIZE);
	d->crc = crc;
	if (d->magic != QFS_MAGIC_INODE || crc != want || d->ino != ino)
		return -EUCLEAN;
	if (d->mode != QFS_MODE_FILE && d->mode != QFS_MODE_DIR && d->mode != QFS_MODE_FREE)
		return -EUCLEAN;
	if (d->size > QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE)
		return -EUCLEAN;
	if (d->mode == QFS_MODE_DIR && d->size % QFS_BLOCK_SIZE)
		return -EUCLEAN;
	return 0;
}

static struct qfs_inode *ifind(struct qfs *fs, uint32_t ino)
{
	for (struct qfs_inode *ip = fs->ihash[ino % QFS_IHASH]; ip; ip = ip->hnext)
		if (ip->ino == ino)
			return ip;
	return NULL;
}

static struct qfs_inode *inew(struct qfs *fs, uint32_t ino)
{
	struct qfs_inode *ip = qfs_zalloc(sizeof(*ip));
	if (!ip)
		return NULL;
	ip->d = qfs_alloc_block();
	if (!ip->d) {
		qfs_free(ip);
		return NULL;
	}
	ip->ino = ino;
	ip->hnext = fs->ihash[ino % QFS_IHASH];
	fs->ihash[ino % QFS_IHASH] = ip;
	fs->ninodes_cached++;
	return ip;
}

void qfs_inode_forget(struct qfs *fs, struct qfs_inode *ip)
{
	while (ip->bufs)
		qfs_buf_drop(fs, ip->bufs);
	struct qfs_inode **pp = &fs->ihash[ip->ino % QFS_IHASH];
	while (*pp != ip)
		pp = &(*pp)->hnext;
	*pp = ip->hnext;
	qfs_dirty_list_remove(ip);
	if (ip->dirty)
		fs->ndirty_inodes--;
	fs->ninodes_cached--;
	qfs_free_block(ip->d);
	qfs_free(ip);
}

int qfs_iget(struct qfs *fs, uint32_t ino, struct qfs_inode **out)
{
	if (ino == 0 || ino >= fs->sb.max_inodes)
		return -EUCLEAN;
	struct qfs_inode *ip = ifind(fs, ino);
	if (ip) {
		if (ip->tomb)
			return -ENOENT;
		ip->refs++;
		*out = ip;
		return 0;
	}
	uint32_t addr = qfs_imap_get(fs, ino);
	if (!addr)
		return -ENOENT;
	ip = inew(fs, ino);
	if (!ip)
		return -ENOMEM;
	int err = qfs_inode_read_disk(fs, ino, addr, ip->d);
	if (!err && ip->d->mode == QFS_MODE_FREE)
		err = -EUCLEAN;
	if (err) {
		qfs_inode_forget(fs, ip);
		return err;
	}
	ip->refs = 1;
	*out = ip;
	return 0;
}

void qfs_iput(struct qfs *fs, struct qfs_inode *ip)
{
	ip->refs--;
	if (ip->refs == 0 && !ip->dirty && !ip->bufs && fs->ninodes_cached > fs->cache_blocks)
		qfs_inode_forget(fs, ip);
}

/* After a commit: forget clean, unused inodes (and their clean buffers)
 * beyond the cache size, so creating many files does not grow memory. */
void qfs_inode_trim(struct qfs *fs)
{
	for (uint32_t h = 0; h < QFS_IHASH && fs->ninodes_cached > fs->cache_blocks / 2; h++) {
		for (struct qfs_inode *ip = fs->ihash[h], *next; ip; ip = next) {
			next = ip->hnext;
			if (ip->refs || ip->dirty || ip->ndirty || ip->ino == QFS_ROOT_INO)
				continue;
			qfs_inode_forget(fs, ip);
		}
	}
}

void qfs_inode_dirty(struct qfs *fs, struct qfs_inode *ip)
{
	ip->d->version++;
	if (ip->dirty)
		return;
	ip->dirty = true;
	fs->ndirty_inodes++;
	qfs_dirty_list_add(&fs->dirty_list, ip);
}

int qfs_ialloc(struct qfs *fs, uint32_t mode, struct qfs_inode **out)
{
	uint32_t n = fs->sb.max_inodes;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t ino = (fs->ino_hint + i) % n;
		if (ino <= QFS_ROOT_INO)
			continue;
		struct qfs_inode *ip = ifind(fs, ino);
		if (ip && !(ip->tomb && ip->refs == 0))
			continue;
		if (!ip && qfs_imap_get(fs, ino))
			continue;
		uint32_t gen = 1;
		if (!ip) {
			ip = inew(fs, ino);
			if (!ip)
				return -ENOMEM;
		} else {
			gen = ip->d->gen + 1;
		}
		memset(ip->d, 0, QFS_BLOCK_SIZE);
		ip->d->magic = QFS_MAGIC_INODE;
		ip->d->ino = ino;
		ip->d->gen = gen;
		ip->d->mode = mode;
		ip->d->nlink = 1;
		ip->tomb = false;
		ip->refs = 1;
		qfs_inode_dirty(fs, ip);
		fs->ino_hint = ino + 1;
		*out = ip;
		return 0;
	}
	return -ENOSPC;
}

void qfs_cache_free(struct qfs *fs)
{
	for (uint32_t i = 0; i < QFS_IHASH; i++)
		while (fs->ihash[i])
			qfs_inode_forget(fs, fs->ihash[i]);
	qfs_free(fs->bhash);
	qfs_free_block(fs->tmp);
}
