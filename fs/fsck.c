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
 *              (the one thing repair fixes: it writes a checkpoint)
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
	uint32_t *addrs;
	size_t naddrs, capaddrs;
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

static int claim(struct fsck *c, uint32_t addr)
{
	if (c->naddrs == c->capaddrs) {
		size_t cap = c->capaddrs ? c->capaddrs * 2 : 1024;
		uint32_t *a = qfs_malloc(cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		if (c->naddrs)
			memcpy(a, c->addrs, c->naddrs * sizeof(*a));
		qfs_free(c->addrs);
		c->addrs = a;
		c->capaddrs = cap;
	}
	c->addrs[c->naddrs++] = addr;
	return 0;
}

static int tree_block(void *ctx, uint32_t key, uint32_t addr)
{
	struct fsck *c = ctx;
	if (key < QFS_KEY_DCHILD0) {
		if ((uint64_t)key + 1 > c->cur_maxkey)
			c->cur_maxkey = (uint64_t)key + 1;
	}
	c->cur_blocks++;
	return claim(c, addr);
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

static int check_inodes(struct fsck *c, struct qfs_disk_inode *d)
{
	struct qfs *fs = c->fs;
	size_t cap = 0;
	for (uint32_t i = 0; i < fs->sb.imap_blocks; i++) {
		if (fs->imap_addr[i]) {
			int err = claim(c, fs->imap_addr[i]);
			if (err)
				return err;
		}
		if (!fs->imap[i])
			continue;
		for (uint32_t k = 0; k < QFS_IMAP_PER_BLOCK; k++) {
			uint32_t ino = i * QFS_IMAP_PER_BLOCK + k, addr = fs->imap[i][k];
			if (!addr)
				continue;
			if (ino == 0) {
				problem(c, "inode map: entry 0 is used");
				continue;
			}
			int err = qfs_inode_read_disk(fs, ino, addr, d);
			if (err == -ENOMEM || err == -EIO)
				return err;
			if (err || d->mode == QFS_MODE_FREE) {
				problem(c, "inode %u: block %u is not a valid inode (%d)", ino, addr, err);
				continue;
			}
			if (claim(c, addr))
				return -ENOMEM;
			c->cur_ino = ino;
			c->cur_blocks = 0;
			c->cur_maxkey = 0;
			err = qfs_walk_disk(fs, d, tree_block, c);
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
			if (c->ninos == cap) {
				cap = cap ? cap * 2 : 256;
				struct fsck_ino *n = qfs_malloc(cap * sizeof(*n));
				if (!n)
					return -ENOMEM;
				if (c->ninos)
					memcpy(n, c->inos, c->ninos * sizeof(*n));
				qfs_free(c->inos);
				c->inos = n;
			}
			c->inos[c->ninos++] = (struct fsck_ino){ino, d->mode, d->parent, d->nlink, 0};
		}
	}
	return 0;
}

static int check_usage(struct fsck *c, bool fix, int *fixed)
{
	struct qfs *fs = c->fs;
	qfs_sort_u32(c->addrs, c->naddrs);
	uint32_t *live = qfs_zalloc(fs->sb.nsegs * sizeof(uint32_t));
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < c->naddrs; i++) {
		if (i && c->addrs[i] == c->addrs[i - 1])
			problem(c, "block %u claimed twice", c->addrs[i]);
		else if (qfs_addr_ok(fs, c->addrs[i]))
			live[qfs_seg_of(fs, c->addrs[i])]++;
	}
	for (uint32_t s = 0; s < fs->sb.nsegs; s++) {
		if (live[s] == fs->sut[s].live)
			continue;
		problem(c, "segment %u: usage table says %u live blocks, found %u", s,
			fs->sut[s].live, live[s]);
		if (fix) {
			fs->sut[s].live = live[s];
			(*fixed)++;
		}
	}
	qfs_free(live);
	return 0;
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
		if (nn == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *n = qfs_malloc(cap * sizeof(*n));
			if (!n) {
				r = -ENOMEM;
				break;
			}
			if (nn)
				memcpy(n, names, nn * sizeof(*n));
			qfs_free(names);
			names = n;
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
		err = check_tree(&c);
	qfs_free_block(d);
	qfs_free(c.inos);
	qfs_free(c.addrs);
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
