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

/* Bytes at byte offset off (a multiple of the device's block size), split at the largest request. */
static int qfs_dev_rw(struct qfs *fs, int op, uint64_t off, void *buf, uint64_t len)
{
	uint8_t *p = buf;
	while (len) {
		uint32_t n = len < fs->max_req ? (uint32_t)len : fs->max_req;
		uint64_t sector = off / BLK_SECTOR_SIZE;
		int err = op == BLK_OP_READ ? blk_read(fs->dev, sector, p, n) : blk_write(fs->dev, sector, p, n);
		if (err)
			return err == -EROFS ? err : -EIO;
		if (op == BLK_OP_WRITE)
			fs->dev_bytes += n;
		else
			fs->read_bytes += n;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* A read of blocks a pseg still holds (being filled, or in flight) waits for it. */
static int settle(struct qfs *fs, uint64_t block, uint32_t nblocks)
{
	if (!qfs_log_inflight(fs, block, nblocks))
		return 0;
	int err = qfs_log_seal(fs, 0);
	return err ? err : qfs_log_wait_all(fs);
}

int qfs_dev_read(struct qfs *fs, uint64_t block, void *buf, uint32_t nblocks)
{
	int err = settle(fs, block, nblocks);
	return err ? err : qfs_dev_rw(fs, BLK_OP_READ, block * QFS_BLOCK_SIZE, buf,
				      (uint64_t)nblocks * QFS_BLOCK_SIZE);
}

int qfs_dev_read_bytes(struct qfs *fs, uint64_t off, void *buf, uint32_t len)
{
	uint64_t block = off / QFS_BLOCK_SIZE;
	int err = settle(fs, block, (uint32_t)((off + len + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE - block));
	return err ? err : qfs_dev_rw(fs, BLK_OP_READ, off, buf, len);
}

int qfs_dev_write(struct qfs *fs, uint64_t block, const void *buf, uint32_t nblocks)
{
	return qfs_dev_rw(fs, BLK_OP_WRITE, block * QFS_BLOCK_SIZE, (void *)buf,
			  (uint64_t)nblocks * QFS_BLOCK_SIZE);
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

static void buf_free(struct qfs *fs, struct qfs_buf *b, bool keep_data);

int qfs_buf_stable(struct qfs *fs, struct qfs_buf *b)
{
	return b->io ? qfs_log_wait_pseg(fs, b->io - 1) : 0;
}

int qfs_buf_drop(struct qfs *fs, struct qfs_buf *b)
{
	/* A pseg may still read its data; a device that stopped answering
	 * keeps it (leaked) rather than write freed memory. */
	bool keep = qfs_buf_stable(fs, b) != 0;
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
	buf_free(fs, b, keep);
	return keep ? -EIO : 0;
}

void qfs_buf_evict(struct qfs *fs)
{
	struct qfs_buf *b = fs->lru.lprev;
	while (fs->nbufs > fs->cache_blocks && b != &fs->lru) {
		struct qfs_buf *prev = b->lprev;
		if (!b->dirty && !b->io)
			qfs_buf_drop(fs, b);
		b = prev;
	}
}

/*
 * Buffers dropped from the cache wait on a short list for reuse, data page
 * and all: a cache smaller than what a workload touches then costs no
 * allocator and no page clearing per block (a zeroed page is 512 string
 * iterations under TCG, and a block about to be overwritten whole needs none).
 */
#define QFS_SPARE_BUFS 32

static struct qfs_buf *buf_new(struct qfs *fs)
{
	struct qfs_buf *b = fs->spare;
	if (b) {
		fs->spare = b->hnext;
		fs->nspare--;
		uint8_t *data = b->data;
		memset(b, 0, sizeof(*b));
		b->data = data;
		return b;
	}
	b = qfs_zalloc(sizeof(*b));
	if (b && !(b->data = qfs_page_alloc_uninit(QFS_BLOCK_SIZE))) { /* buf_fill() fills it */
		qfs_free(b);
		b = NULL;
	}
	return b;
}

static void buf_free(struct qfs *fs, struct qfs_buf *b, bool keep_data)
{
	if (keep_data) { /* still the device's: leaked rather than reused */
		qfs_free(b);
		return;
	}
	if (fs->nspare < QFS_SPARE_BUFS) {
		b->hnext = fs->spare;
		fs->spare = b;
		fs->nspare++;
		return;
	}
	qfs_free_block(b->data);
	qfs_free(b);
}

/* A new buffer of (ip, key): read from addr, zeroes for a hole, or (whole) left as it is. */
static int buf_fill(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr, bool whole,
		    struct qfs_buf **out)
{
	if (addr && !qfs_addr_ok(fs, addr))
		return -EUCLEAN;
	if (fs->nbufs >= fs->cache_blocks)
		qfs_buf_evict(fs);
	struct qfs_buf *b = buf_new(fs);
	if (!b)
		return -ENOMEM;
	if (addr && !whole) {
		int err = qfs_dev_read(fs, addr, b->data, 1);
		if (err) {
			buf_free(fs, b, false);
			return err;
		}
	} else if (!whole) {
		memset(b->data, 0, QFS_BLOCK_SIZE);
	}
	b->ip = ip;
	b->key = key;
	b->on_disk = addr != 0;
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

static struct qfs_buf *buf_hit(struct qfs *fs, struct qfs_inode *ip, uint32_t key)
{
	struct qfs_buf *b = qfs_buf_find(fs, ip, key);
	if (b) {
		lru_unlink(b);
		lru_front(fs, b);
	}
	return b;
}

int qfs_buf_get(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr,
		struct qfs_buf **out)
{
	*out = buf_hit(fs, ip, key);
	return *out ? 0 : buf_fill(fs, ip, key, addr, false, out);
}

int qfs_buf_get_whole(struct qfs *fs, struct qfs_inode *ip, uint32_t key, struct qfs_buf **out)
{
	*out = buf_hit(fs, ip, key);
	return *out ? 0 : buf_fill(fs, ip, key, 0, true, out);
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

/* Data for the next commit; an indirect block for the next checkpoint. */
void qfs_buf_dirty(struct qfs *fs, struct qfs_buf *b)
{
	if (b->dirty)
		return;
	b->dirty = true;
	/* On the inode's list of dirty buffers: a commit visits those, not all it caches. */
	b->dnext = b->ip->dirty_bufs;
	if (b->dnext)
		b->dnext->dpprev = &b->dnext;
	b->dpprev = &b->ip->dirty_bufs;
	b->ip->dirty_bufs = b;
	if (qfs_key_is_data(b->key)) {
		fs->ndirty++;
		b->ip->ndirty++;
		qfs_dirty_list_add(&fs->dirty_list, b->ip);
	} else {
		fs->nmeta++;
		b->ip->nmeta++;
		if (b->on_disk)
			fs->rec_reads++; /* a recovery reads this block to redo the change */
	}
}

void qfs_buf_clean(struct qfs *fs, struct qfs_buf *b)
{
	if (!b->dirty)
		return;
	b->dirty = false;
	*b->dpprev = b->dnext;
	if (b->dnext)
		b->dnext->dpprev = b->dpprev;
	if (qfs_key_is_data(b->key)) {
		fs->ndirty--;
		b->ip->ndirty--;
	} else {
		fs->nmeta--;
		b->ip->nmeta--;
	}
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
	uint32_t csum = d->csum;
	d->csum = 0;
	uint32_t want = qfs_csum(fs->seed, d, QFS_BLOCK_SIZE);
	d->csum = csum;
	if (d->magic != QFS_MAGIC_INODE || csum != want || d->ino != ino)
		return -EUCLEAN;
	if (d->mode != QFS_MODE_FILE && d->mode != QFS_MODE_DIR)
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
	if (ip->cpdirty)
		fs->ncpdirty--;
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
	if (err) {
		qfs_inode_forget(fs, ip);
		return err;
	}
	ip->on_disk = true;
	ip->refs = 1;
	*out = ip;
	return 0;
}

int qfs_iget_any(struct qfs *fs, uint32_t ino, struct qfs_inode **out)
{
	if (ino == 0 || ino >= fs->sb.max_inodes)
		return -EUCLEAN;
	struct qfs_inode *ip = ifind(fs, ino);
	if (ip || qfs_imap_get(fs, ino)) {
		if (!ip)
			return qfs_iget(fs, ino, out);
		ip->refs++;
		*out = ip;
		return 0;
	}
	ip = inew(fs, ino);
	if (!ip)
		return -ENOMEM;
	ip->d->magic = QFS_MAGIC_INODE;
	ip->d->ino = ino;
	ip->tomb = true; /* nothing yet: the log's entries make it an inode */
	ip->refs = 1;
	*out = ip;
	return 0;
}

void qfs_iput(struct qfs *fs, struct qfs_inode *ip)
{
	ip->refs--;
	if (ip->refs == 0 && !ip->ient && !ip->cpdirty && !ip->bufs && !ip->tomb &&
	    fs->ninodes_cached > fs->cache_blocks)
		qfs_inode_forget(fs, ip);
}

/* After a commit: forget clean, unused inodes (and their clean buffers)
 * beyond the cache size, so creating many files does not grow memory.
 * What the next checkpoint must write stays. */
void qfs_inode_trim(struct qfs *fs)
{
	for (uint32_t h = 0; h < QFS_IHASH && fs->ninodes_cached > fs->cache_blocks / 2; h++) {
		for (struct qfs_inode *ip = fs->ihash[h], *next; ip; ip = next) {
			next = ip->hnext;
			if (ip->refs || ip->ient || ip->cpdirty || ip->ndirty || ip->nmeta || ip->tomb ||
			    ip->ino == QFS_ROOT_INO)
				continue;
			bool frozen = false;
			for (struct qfs_buf *b = ip->bufs; b && !frozen; b = b->inext)
				frozen = b->io != 0;
			if (!frozen)
				qfs_inode_forget(fs, ip);
		}
	}
}

void qfs_inode_cpdirty(struct qfs *fs, struct qfs_inode *ip)
{
	if (ip->cpdirty)
		return;
	ip->cpdirty = true;
	fs->ncpdirty++;
	if (ip->on_disk)
		fs->rec_reads++; /* a recovery reads the old inode to redo the change */
}

void qfs_inode_dirty(struct qfs *fs, struct qfs_inode *ip)
{
	ip->d->version++;
	qfs_inode_cpdirty(fs, ip);
	if (ip->ient)
		return;
	ip->ient = true;
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
		ip->pre = QFS_IENT_CREATE; /* a recovery drops whatever the number held before */
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
	while (fs->spare) {
		struct qfs_buf *b = fs->spare;
		fs->spare = b->hnext;
		qfs_free_block(b->data);
		qfs_free(b);
	}
	qfs_free(fs->bhash);
	qfs_free_block(fs->tmp);
}
