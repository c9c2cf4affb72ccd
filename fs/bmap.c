/*
 * File block maps. A file block number (key) lives in one of three places:
 *
 *   key < NDIRECT                     inode direct[key]
 *   key < NDIRECT + 1024              the single indirect block (key IND)
 *   otherwise, k = key - both above   child k/1024 of the double indirect
 *                                     (key DCHILD0 + k/1024), slot k%1024
 *
 * Indirect blocks are cached like data, under their own keys. A block that
 * has no disk address yet (new, dirty) is found through the cache; its
 * parent's slot is filled when the log writes it.
 */
#include "fs/fs_int.h"

#define IND_FIRST QFS_NDIRECT
#define DIND_FIRST (QFS_NDIRECT + QFS_NINDIRECT)

/* The slot holding the address of `key` (data or indirect key). */
static int slot(struct qfs *fs, struct qfs_inode *ip, uint32_t key, bool create,
		uint32_t **out, struct qfs_buf **parent)
{
	uint32_t *d = NULL, pkey = 0, idx = 0;
	*parent = NULL;
	*out = NULL;
	if (key == QFS_KEY_IND) {
		*out = &ip->d->ind;
		return 0;
	}
	if (key == QFS_KEY_DIND) {
		*out = &ip->d->dind;
		return 0;
	}
	if (key >= QFS_KEY_DCHILD0) {
		uint32_t j = key - QFS_KEY_DCHILD0;
		if (j >= QFS_NINDIRECT)
			return -EINVAL;
		d = &ip->d->dind;
		pkey = QFS_KEY_DIND;
		idx = j;
	} else if (key < IND_FIRST) {
		*out = &ip->d->direct[key];
		return 0;
	} else if (key < DIND_FIRST) {
		d = &ip->d->ind;
		pkey = QFS_KEY_IND;
		idx = key - IND_FIRST;
	} else {
		uint64_t k = (uint64_t)key - DIND_FIRST;
		if (k >= (uint64_t)QFS_NINDIRECT * QFS_NINDIRECT)
			return -EFBIG;
		struct qfs_buf *pb;
		uint32_t *pslot;
		uint32_t ckey = QFS_KEY_DCHILD0 + (uint32_t)(k / QFS_NINDIRECT);
		int err = slot(fs, ip, ckey, create, &pslot, &pb);
		if (err || !pslot)
			return err;
		struct qfs_buf *b = qfs_buf_find(fs, ip, ckey);
		if (!b && !*pslot && !create)
			return 0;
		err = qfs_buf_get(fs, ip, ckey, *pslot, &b);
		if (err)
			return err;
		*parent = b;
		*out = &((uint32_t *)b->data)[k % QFS_NINDIRECT];
		return 0;
	}
	struct qfs_buf *b = qfs_buf_find(fs, ip, pkey);
	if (!b && !*d && !create)
		return 0;
	if (!b) {
		int err = qfs_buf_get(fs, ip, pkey, *d, &b);
		if (err)
			return err;
	}
	*parent = b;
	*out = &((uint32_t *)b->data)[idx];
	return 0;
}

int qfs_bmap(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t *addr)
{
	uint32_t *s;
	struct qfs_buf *pb;
	int err = slot(fs, ip, key, false, &s, &pb);
	*addr = 0;
	if (err)
		return err;
	if (s) {
		if (*s && !qfs_addr_ok(fs, *s))
			return -EUCLEAN;
		*addr = *s;
	}
	return 0;
}

int qfs_bmap_set(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr, uint32_t *old)
{
	uint32_t *s;
	struct qfs_buf *pb;
	int err = slot(fs, ip, key, true, &s, &pb);
	if (!err && pb)
		err = qfs_buf_stable(fs, pb);
	if (err)
		return err;
	*old = *s;
	if (*s == addr)
		return 0;
	if (*s && !addr)
		ip->d->nblocks--;
	else if (!*s && addr)
		ip->d->nblocks++;
	*s = addr;
	if (pb)
		qfs_buf_dirty(fs, pb);
	qfs_inode_cpdirty(fs, ip); /* the map is rebuilt from block entries: no inode entry */
	return 0;
}

/* Free slots [from, 1024) of the indirect block `key`; *empty when nothing is left. */
static int trunc_ind(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr,
		     uint32_t from, bool *empty)
{
	struct qfs_buf *b = qfs_buf_find(fs, ip, key);
	*empty = true;
	if (!b && !addr)
		return 0;
	if (!b) { /* read it (even when all of it goes) to free what it points to */
		int err = qfs_buf_get(fs, ip, key, addr, &b);
		if (err)
			return err;
	}
	int err = qfs_buf_stable(fs, b);
	if (err)
		return err;
	bool counted = b->dirty; /* a dirty block's read is counted already */
	uint32_t *p = (uint32_t *)b->data;
	bool changed = false;
	for (uint32_t i = 0; i < QFS_NINDIRECT; i++) {
		if (i >= from && p[i]) {
			if (!qfs_addr_ok(fs, p[i]))
				return -EUCLEAN;
			qfs_account(fs, p[i], 0);
			ip->d->nblocks--;
			p[i] = 0;
			changed = true;
		}
		if (p[i])
			*empty = false;
	}
	if (*empty) {
		if (b->on_disk && !counted)
			fs->rec_reads++; /* a recovery reads it to free what it pointed to */
		return qfs_buf_drop(fs, b);
	}
	if (changed)
		qfs_buf_dirty(fs, b);
	return 0;
}

static void free_ptr(struct qfs *fs, struct qfs_inode *ip, uint32_t *p)
{
	if (*p) {
		qfs_account(fs, *p, 0);
		ip->d->nblocks--;
		*p = 0;
	}
}

int qfs_bmap_truncate(struct qfs *fs, struct qfs_inode *ip, uint64_t nblk)
{
	struct qfs_disk_inode *d = ip->d;
	int err;
	bool empty;
	/* Cached data blocks beyond the end go, dirty or not. */
	for (struct qfs_buf *b = ip->bufs, *next; b; b = next) {
		next = b->inext;
		if (b->key < QFS_KEY_DCHILD0 && b->key >= nblk && (err = qfs_buf_drop(fs, b)))
			return err;
	}
	for (uint64_t k = nblk; k < IND_FIRST; k++) {
		if (d->direct[k] && !qfs_addr_ok(fs, d->direct[k]))
			return -EUCLEAN;
		free_ptr(fs, ip, &d->direct[k]);
	}
	uint32_t from = nblk > IND_FIRST ? (uint32_t)(nblk - IND_FIRST) : 0;
	if (from < QFS_NINDIRECT) {
		err = trunc_ind(fs, ip, QFS_KEY_IND, d->ind, from, &empty);
		if (err)
			return err;
		if (empty)
			free_ptr(fs, ip, &d->ind);
	}
	struct qfs_buf *root = qfs_buf_find(fs, ip, QFS_KEY_DIND);
	if (!root && !d->dind)
		goto out;
	if (!root) {
		err = qfs_buf_get(fs, ip, QFS_KEY_DIND, d->dind, &root);
		if (err)
			return err;
	}
	err = qfs_buf_stable(fs, root);
	if (err)
		return err;
	bool root_counted = root->dirty;
	bool root_empty = true, root_changed = false;
	uint32_t *rp = (uint32_t *)root->data;
	for (uint32_t j = 0; j < QFS_NINDIRECT; j++) {
		uint64_t first = DIND_FIRST + (uint64_t)j * QFS_NINDIRECT;
		uint32_t cfrom = nblk > first ? (uint32_t)(nblk - first) : 0;
		if (cfrom < QFS_NINDIRECT) {
			if (rp[j] && !qfs_addr_ok(fs, rp[j]))
				return -EUCLEAN;
			err = trunc_ind(fs, ip, QFS_KEY_DCHILD0 + j, rp[j], cfrom, &empty);
			if (err)
				return err;
			if (empty && rp[j]) {
				free_ptr(fs, ip, &rp[j]);
				root_changed = true;
			}
		}
		if (rp[j] || qfs_buf_find(fs, ip, QFS_KEY_DCHILD0 + j))
			root_empty = false;
	}
	if (root_empty) {
		if (root->on_disk && !root_counted)
			fs->rec_reads++;
		err = qfs_buf_drop(fs, root);
		if (err)
			return err;
		free_ptr(fs, ip, &d->dind);
	} else if (root_changed) {
		qfs_buf_dirty(fs, root);
	}
out:
	qfs_inode_cpdirty(fs, ip);
	return 0;
}

int qfs_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *n = qfs_malloc(c * elem);
	if (!n)
		return -ENOMEM;
	if (*cap)
		memcpy(n, *p, *cap * elem);
	qfs_free(*p);
	*p = n;
	*cap = c;
	return 0;
}

int qfs_vec_push(struct qfs_vec *v, uint64_t x)
{
	int err = qfs_grow((void **)&v->a, &v->cap, v->n + 1, sizeof(*v->a));
	if (!err)
		v->a[v->n++] = x;
	return err;
}

void qfs_sort_u64(uint64_t *a, size_t n)
{
	/* Heapsort: no recursion, no allocation. */
	for (size_t start = n / 2; n > 1;) {
		size_t root, end = n;
		if (start > 0) {
			root = --start;
		} else {
			n--;
			uint64_t t = a[0];
			a[0] = a[n];
			a[n] = t;
			root = 0;
			end = n;
		}
		for (size_t child; (child = 2 * root + 1) < end; root = child) {
			if (child + 1 < end && a[child + 1] > a[child])
				child++;
			if (a[root] >= a[child])
				break;
			uint64_t t = a[root];
			a[root] = a[child];
			a[child] = t;
		}
	}
}
