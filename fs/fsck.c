/*
 * The checker, on a mounted file system (read-only unless repairing; the
 * mount itself checked the superblock, the checkpoint and the log chain):
 *
 *   inodes     every inode-map entry names a valid inode block of that
 *              number; its block tree stays in the segment area and below
 *              its size; nblocks matches
 *   ownership  no block is claimed twice (inode-map blocks, inodes, data,
 *              indirect blocks: one sorted list of every address)
 *   usage      per-segment live counts equal the segment usage table
 *   entries    every block in use is described by its pseg's block entry
 *              as belonging to its owner (the cleaner relies on it)
 *   tree       from the root: every directory block well formed, no name
 *              twice in a directory, entries name live inodes of the right
 *              type, every inode reached exactly once, a directory's parent
 *              field names the directory holding it, nlink == 1
 *
 * Repair (fsck.quillfs without -n): usage counts are recomputed; entries
 * naming free inodes and second entries of an inode are removed, entry
 * types and parent fields corrected, nlink set to 1, inodes no entry
 * reaches are deleted (no lost+found). A block claimed twice and malformed
 * directory blocks are reported only.
 */
#include "fs/fs_int.h"

struct fsck {
	struct qfs *fs;
	bool fix;       /* repair what can be: the fs is mounted read-write */
	int *fixed;
	qfs_report_fn report;
	void *ctx;
	int problems;
	struct fsck_ino {
		uint32_t ino, mode, parent, nlink;
		uint32_t reached;
	} *inos;
	size_t ninos;
	struct qfs_vec claims;  /* addr << 32 | tag(ino, key), every block in use */
	uint32_t *live;         /* [nsegs] blocks in use per segment */
	uint32_t cur_ino, cur_blocks;
	uint64_t cur_maxkey;
};

static void problem(struct fsck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck *c, const char *fmt, ...)
{
	char msg[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report)
		c->report(c->ctx, msg);
}

/* Who owns a block, in 32 bits: compared with what the block entries say. */
static uint32_t tag(uint32_t ino, uint32_t key)
{
	uint32_t k[2] = {ino, key};
	return qfs_csum(0, k, sizeof(k));
}

static int claim(struct fsck *c, uint32_t addr, uint32_t ino, uint32_t key)
{
	return qfs_vec_push(&c->claims, (uint64_t)addr << 32 | tag(ino, key));
}

static int tree_block(void *ctx, uint32_t key, uint32_t addr)
{
	struct fsck *c = ctx;
	if (key < QFS_KEY_DCHILD0) {
		if ((uint64_t)key + 1 > c->cur_maxkey)
			c->cur_maxkey = (uint64_t)key + 1;
	}
	c->cur_blocks++;
	return claim(c, addr, c->cur_ino, key);
}

static struct fsck_ino *find_ino(struct fsck *c, uint32_t ino)
{
	size_t lo = 0, hi = c->ninos;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c->inos[mid].ino == ino)
			return &c->inos[mid];
		if (c->inos[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * One block of the tree as it is now: the cache's copy when it has one (a
 * checkpoint has not written it yet), else the disk's, else zeroes.
 */
static int tree_content(struct fsck *c, struct qfs_inode *ip, uint32_t key, uint32_t addr, uint32_t *out)
{
	struct qfs_buf *b = ip ? qfs_buf_find(c->fs, ip, key) : NULL;
	if (b) {
		memcpy(out, b->data, QFS_BLOCK_SIZE);
		return 0;
	}
	if (!addr) {
		memset(out, 0, QFS_BLOCK_SIZE);
		return 0;
	}
	if (!qfs_addr_ok(c->fs, addr))
		return -EUCLEAN;
	return qfs_dev_read(c->fs, addr, out, 1);
}

/* Claim every block of an inode's tree: its current state (cached inode and buffers, else disk). */
static int walk_tree(struct fsck *c, struct qfs_inode *ip, const struct qfs_disk_inode *d, uint32_t *blk)
{
	struct qfs *fs = c->fs;
	int err = 0;
	for (uint32_t k = 0; !err && k < QFS_NDIRECT; k++)
		if (d->direct[k])
			err = qfs_addr_ok(fs, d->direct[k]) ? tree_block(c, k, d->direct[k]) : -EUCLEAN;
	if (!err && d->ind)
		err = qfs_addr_ok(fs, d->ind) ? tree_block(c, QFS_KEY_IND, d->ind) : -EUCLEAN;
	if (!err && (d->ind || (ip && qfs_buf_find(fs, ip, QFS_KEY_IND))))
		err = tree_content(c, ip, QFS_KEY_IND, d->ind, blk);
	for (uint32_t i = 0; !err && (d->ind || (ip && qfs_buf_find(fs, ip, QFS_KEY_IND))) && i < QFS_NINDIRECT; i++)
		if (blk[i])
			err = qfs_addr_ok(fs, blk[i]) ? tree_block(c, QFS_NDIRECT + i, blk[i]) : -EUCLEAN;
	bool dind = d->dind || (ip && qfs_buf_find(fs, ip, QFS_KEY_DIND));
	if (err || !dind)
		return err;
	if (d->dind)
		err = qfs_addr_ok(fs, d->dind) ? tree_block(c, QFS_KEY_DIND, d->dind) : -EUCLEAN;
	uint32_t *root = qfs_alloc_block();
	if (!root)
		return -ENOMEM;
	if (!err)
		err = tree_content(c, ip, QFS_KEY_DIND, d->dind, root);
	for (uint32_t j = 0; !err && j < QFS_NINDIRECT; j++) {
		uint32_t ckey = QFS_KEY_DCHILD0 + j;
		if (!root[j] && !(ip && qfs_buf_find(fs, ip, ckey)))
			continue;
		if (root[j])
			err = qfs_addr_ok(fs, root[j]) ? tree_block(c, ckey, root[j]) : -EUCLEAN;
		if (!err)
			err = tree_content(c, ip, ckey, root[j], blk);
		uint32_t first = QFS_NDIRECT + QFS_NINDIRECT + j * QFS_NINDIRECT;
		for (uint32_t i = 0; !err && i < QFS_NINDIRECT; i++)
			if (blk[i])
				err = qfs_addr_ok(fs, blk[i]) ? tree_block(c, first + i, blk[i]) : -EUCLEAN;
	}
	qfs_free_block(root);
	return err;
}

static int add_ino(struct fsck *c, size_t *cap, const struct qfs_disk_inode *d, uint32_t ino)
{
	int err = qfs_grow((void **)&c->inos, cap, c->ninos + 1, sizeof(*c->inos));
	if (!err)
		c->inos[c->ninos++] = (struct fsck_ino){ino, d->mode, d->parent, d->nlink, 0};
	return err;
}

/* The tree of one inode in its current state, its size and block count checked. */
static int check_tree_of(struct fsck *c, size_t *cap, struct qfs_inode *ip, const struct qfs_disk_inode *d,
			 uint32_t ino, uint32_t *blk)
{
	c->cur_ino = ino;
	c->cur_blocks = 0;
	c->cur_maxkey = 0;
	int err = walk_tree(c, ip, d, blk);
	if (err == -ENOMEM || err == -EIO)
		return err;
	if (err)
		problem(c, "inode %u: bad block tree (%d)", ino, err);
	uint64_t size_blocks = (d->size + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE;
	if (c->cur_maxkey > size_blocks)
		problem(c, "inode %u: block %llu beyond size %llu", ino,
			(unsigned long long)c->cur_maxkey - 1, (unsigned long long)d->size);
	if (!err && c->cur_blocks != d->nblocks)
		problem(c, "inode %u: nblocks %u, tree has %u", ino, d->nblocks, c->cur_blocks);
	return add_ino(c, cap, d, ino);
}

static int check_inodes(struct fsck *c, struct qfs_disk_inode *d)
{
	struct qfs *fs = c->fs;
	size_t cap = 0;
	uint32_t *blk = qfs_alloc_block();
	if (!blk)
		return -ENOMEM;
	int err = 0;
	for (uint32_t i = 0; !err && i < fs->sb.imap_blocks; i++) {
		if (fs->imap_addr[i] && (err = claim(c, fs->imap_addr[i], 0, i)))
			break;
		if (!fs->imap[i])
			continue;
		for (uint32_t k = 0; !err && k < QFS_IMAP_PER_BLOCK; k++) {
			uint32_t ino = i * QFS_IMAP_PER_BLOCK + k, addr = fs->imap[i][k];
			if (!addr)
				continue;
			if (ino == 0) {
				problem(c, "inode map: entry 0 is used");
				continue;
			}
			/* The block on disk stays live until a checkpoint replaces it. */
			int r = qfs_inode_read_disk(fs, ino, addr, d);
			if (r == -ENOMEM || r == -EIO) {
				err = r;
				break;
			}
			if (r) {
				problem(c, "inode %u: block %u is not a valid inode (%d)", ino, addr, r);
				continue;
			}
			if ((err = claim(c, addr, ino, QFS_KEY_INODE)))
				break;
			struct qfs_inode *ip = NULL;
			for (ip = fs->ihash[ino % QFS_IHASH]; ip && ip->ino != ino; ip = ip->hnext)
				;
			if (ip && ip->tomb)
				continue; /* deleted since the checkpoint */
			err = check_tree_of(c, &cap, ip, ip ? ip->d : d, ino, blk);
		}
	}
	/* Inodes made since the checkpoint: only in memory so far. */
	for (uint32_t h = 0; !err && h < QFS_IHASH; h++)
		for (struct qfs_inode *ip = fs->ihash[h]; ip && !err; ip = ip->hnext)
			if (!ip->tomb && !qfs_imap_get(fs, ip->ino))
				err = check_tree_of(c, &cap, ip, ip->d, ip->ino, blk);
	qfs_free_block(blk);
	if (err)
		return err;
	/* find_ino() searches by number. */
	for (size_t i = 1; i < c->ninos; i++) {
		struct fsck_ino x = c->inos[i];
		size_t j = i;
		for (; j > 0 && c->inos[j - 1].ino > x.ino; j--)
			c->inos[j] = c->inos[j - 1];
		c->inos[j] = x;
	}
	return 0;
}

static int check_usage(struct fsck *c, bool fix, int *fixed)
{
	struct qfs *fs = c->fs;
	uint64_t *a = c->claims.a;
	qfs_sort_u64(a, c->claims.n);
	c->live = qfs_zalloc(fs->sb.nsegs * sizeof(uint32_t));
	if (!c->live)
		return -ENOMEM;
	for (size_t i = 0; i < c->claims.n; i++) {
		uint32_t addr = (uint32_t)(a[i] >> 32);
		if (i && addr == (uint32_t)(a[i - 1] >> 32))
			problem(c, "block %u claimed twice", addr);
		else if (qfs_addr_ok(fs, addr))
			c->live[qfs_seg_of(fs, addr)]++;
	}
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		if (c->live[s] == fs->sut[s].live)
			continue;
		problem(c, "segment %u: usage table says %u live blocks, found %u", s,
			fs->sut[s].live, c->live[s]);
		if (fix && fixed) {
			fs->sut[s].live = c->live[s];
			(*fixed)++;
		}
	}
	return 0;
}

/* First claim of addr, or -1. */
static long find_claim(struct fsck *c, uint32_t addr)
{
	size_t lo = 0, hi = c->claims.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((uint32_t)(c->claims.a[mid] >> 32) < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->claims.n && (uint32_t)(c->claims.a[lo] >> 32) == addr ? (long)lo : -1;
}

/*
 * The cleaner trusts the block entries: every block in use must be
 * described, by the pseg holding it, as belonging to its owner. Walk each
 * segment in use from its start as the cleaner does (valid psegs, rising seq).
 */
static int check_entries(struct fsck *c)
{
	struct qfs *fs = c->fs;
	uint8_t *seen = qfs_zalloc(c->claims.n + 1);
	uint8_t *buf = qfs_alloc_big(qfs_pseg_buf_bytes(fs));
	int err = seen && buf ? 0 : -ENOMEM;
	for (uint32_t s = 0; !err && s < fs->sb.nsegs; s++) {
		if (!c->live[s])
			continue;
		uint64_t pos = qfs_seg_start(fs, s), end = pos + fs->sb.seg_blocks, last = 0;
		while (!err && pos + 1 < end) {
			struct qfs_pseg_view v;
			err = qfs_pseg_load(fs, (uint32_t)pos, buf, &v);
			if (err == -EUCLEAN || (!err && v.h.seq <= last)) {
				err = 0;
				break;
			}
			if (err)
				break;
			last = v.h.seq;
			for (uint32_t k = 0; k < v.h.nblocks; k++) {
				uint32_t addr = (uint32_t)(pos + 1 + k);
				long i = find_claim(c, addr);
				if (i < 0)
					continue;
				seen[i] = 1;
				if ((uint32_t)c->claims.a[i] != tag(v.bent[k].ino, v.bent[k].key))
					problem(c, "block %u: its entry names inode %u key %#x, not its owner",
						addr, v.bent[k].ino, v.bent[k].key);
			}
			pos = v.next;
		}
	}
	for (size_t i = 0; !err && i < c->claims.n; i++) {
		uint32_t addr = (uint32_t)(c->claims.a[i] >> 32);
		if (!seen[i] && qfs_addr_ok(fs, addr) && (!i || addr != (uint32_t)(c->claims.a[i - 1] >> 32)))
			problem(c, "block %u: in use but no pseg describes it", addr);
	}
	qfs_free(seen);
	qfs_free_big(buf, qfs_pseg_buf_bytes(fs));
	return err == -EIO || err == -ENOMEM ? err : 0;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h | 1;
}

static int check_dir(struct fsck *c, uint32_t dino, uint32_t *queue, size_t *qn)
{
	struct qfs *fs = c->fs;
	struct qfs_inode *dp;
	int err = qfs_iget(fs, dino, &dp);
	if (err) {
		problem(c, "directory %u: unreadable (%d)", dino, err);
		return err == -ENOMEM || err == -EIO ? err : 0;
	}
	struct qfs_dirent *e = qfs_malloc(sizeof(*e));
	uint64_t *names = NULL;
	size_t nn = 0, cap = 0;
	uint64_t cookie = 0;
	int r = e ? 0 : -ENOMEM;
	while (e && (r = qfs_dir_next(fs, dp, &cookie, e)) == 1) {
		struct fsck_ino *t = find_ino(c, e->ino);
		if (qfs_grow((void **)&names, &cap, nn + 1, sizeof(*names))) {
			r = -ENOMEM;
			break;
		}
		names[nn++] = name_hash(e->name);
		size_t len = strlen(e->name);
		if (!t || t->reached) {
			if (!t)
				problem(c, "directory %u: '%s' names free inode %u", dino, e->name, e->ino);
			else
				problem(c, "inode %u: reached more than once ('%s' in %u)", e->ino, e->name, dino);
			if (c->fix && qfs_dir_remove(fs, dp, e->name, len) == 0)
				(*c->fixed)++;
			continue;
		}
		t->reached = 1;
		if (t->mode != e->type) {
			problem(c, "directory %u: '%s' type %u, inode %u has mode %u", dino, e->name,
				e->type, e->ino, t->mode);
			if (c->fix && qfs_dir_set(fs, dp, e->name, len, e->ino, t->mode) == 0)
				(*c->fixed)++;
		}
		if (t->mode == QFS_MODE_DIR) {
			if (t->parent != dino) {
				problem(c, "directory %u: parent %u, found in %u", e->ino, t->parent, dino);
				struct qfs_inode *ip;
				if (c->fix && qfs_iget(fs, e->ino, &ip) == 0) {
					ip->d->parent = dino;
					qfs_inode_dirty(fs, ip);
					qfs_iput(fs, ip);
					(*c->fixed)++;
				}
			}
			queue[(*qn)++] = e->ino;
		}
	}
	if (r < 0 && r != -ENOMEM)
		problem(c, "directory %u: malformed (%d)", dino, r);
	/* Names must be unique: sort the 64-bit hashes. */
	for (size_t i = 1; i < nn; i++) {
		uint64_t x = names[i];
		size_t j = i;
		for (; j > 0 && names[j - 1] > x; j--)
			names[j] = names[j - 1];
		names[j] = x;
	}
	for (size_t i = 1; i < nn; i++)
		if (names[i] == names[i - 1])
			problem(c, "directory %u: a name appears twice", dino);
	qfs_free(names);
	qfs_free(e);
	qfs_iput(fs, dp);
	return r == -ENOMEM ? r : 0;
}

static int check_tree(struct fsck *c)
{
	struct fsck_ino *root = find_ino(c, QFS_ROOT_INO);
	if (!root || root->mode != QFS_MODE_DIR) {
		problem(c, "root directory missing");
		return 0;
	}
	root->reached = 1;
	uint32_t *queue = qfs_malloc((c->ninos + 1) * sizeof(uint32_t));
	if (!queue)
		return -ENOMEM;
	size_t qn = 0, qi = 0;
	queue[qn++] = QFS_ROOT_INO;
	int err = 0;
	while (!err && qi < qn)
		err = check_dir(c, queue[qi++], queue, &qn);
	qfs_free(queue);
	for (size_t i = 0; !err && i < c->ninos; i++) {
		struct fsck_ino *t = &c->inos[i];
		struct qfs_inode *ip;
		if (!t->reached)
			problem(c, "inode %u: not reachable from the root", t->ino);
		else if (t->ino != QFS_ROOT_INO && t->nlink != 1)
			problem(c, "inode %u: nlink %u, 1 entry", t->ino, t->nlink);
		else
			continue;
		if (!c->fix || qfs_iget(c->fs, t->ino, &ip))
			continue;
		if (!t->reached)
			err = qfs_inode_delete(c->fs, ip);
		else
			ip->d->nlink = 1;
		qfs_inode_dirty(c->fs, ip);
		qfs_iput(c->fs, ip);
		if (!err)
			(*c->fixed)++;
	}
	return err;
}

static int fsck_run(struct qfs *fs, bool fix, qfs_report_fn report, void *ctx, int *fixed)
{
	struct fsck c = {.fs = fs, .fix = fix && fixed, .fixed = fixed, .report = report, .ctx = ctx};
	struct qfs_disk_inode *d = qfs_alloc_block();
	int err = d ? check_inodes(&c, d) : -ENOMEM;
	if (!err)
		err = check_usage(&c, fix, fixed);
	if (!err)
		err = check_entries(&c);
	if (!err)
		err = check_tree(&c);
	qfs_free_block(d);
	qfs_free(c.inos);
	qfs_free(c.claims.a);
	qfs_free(c.live);
	return err ? err : c.problems;
}

int qfs_check(struct qfs *fs, qfs_report_fn report, void *ctx)
{
	int err = fs->ro ? 0 : qfs_commit(fs, false); /* what is on disk, plus the log */
	if (err)
		return err;
	return fsck_run(fs, false, report, ctx, NULL);
}

int qfs_fsck(struct blk_dev *dev, bool repair, qfs_report_fn report, void *ctx, int *fixed)
{
	struct qfs *fs;
	struct qfs_mount_opts o = {.read_only = !repair};
	int nfixed = 0;
	int err = qfs_mount_fs(dev, &o, true, &fs);
	if (err)
		return err;
	int r = fsck_run(fs, repair, report, ctx, &nfixed);
	if (repair && nfixed && r >= 0) {
		qfs_seg_recount(fs);
		err = qfs_checkpoint(fs);
		if (err)
			r = err;
	}
	err = qfs_unmount(fs);
	if (r >= 0 && err)
		r = err;
	if (fixed)
		*fixed = nfixed;
	return r;
}
