/*
 * The public operations: path resolution, files, directories.
 *
 * Every modifying operation starts with op_begin(): refuse on a read-only
 * or failed mount, and make room in the log (clean.c) before anything
 * changes, so commits made while making room hold whole operations only.
 */
#include "fs/fs_int.h"

struct qfs_file {
	struct qfs *fs;
	struct qfs_inode *ip;
	uint32_t gen;
};

static int op_begin(struct qfs *fs)
{
	if (fs->ro)
		return -EROFS;
	if (fs->err)
		return fs->err;
	/* Inodes and indirect blocks wait in memory for the next checkpoint:
	 * without fsyncs to bring one, take it between operations. */
	if (fs->nmeta + fs->ncpdirty > fs->cache_blocks) {
		int err = qfs_checkpoint(fs);
		if (err)
			return err;
	}
	return qfs_make_room(fs, 0);
}

int qfs_file_rw_block(struct qfs *fs, struct qfs_inode *ip, uint64_t bno, bool for_write,
		      struct qfs_buf **out)
{
	if (bno >= QFS_MAX_FILE_BLOCKS)
		return -EFBIG;
	struct qfs_buf *b = qfs_buf_find(fs, ip, (uint32_t)bno);
	if (b)
		return qfs_buf_get(fs, ip, (uint32_t)bno, 0, out);
	uint32_t addr;
	int err = qfs_bmap(fs, ip, (uint32_t)bno, &addr);
	if (err)
		return err;
	return qfs_buf_get(fs, ip, (uint32_t)bno, addr, out);
}

/* ---- paths ---- */

static int next_comp(const char **path, const char **name, size_t *len)
{
	const char *p = *path;
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	const char *s = p;
	while (*p && *p != '/')
		p++;
	*name = s;
	*len = (size_t)(p - s);
	*path = p;
	return *len > QFS_NAME_MAX ? -ENAMETOOLONG : 1;
}

/* Resolve path; with parent set, stop before the last component and return it. */
static int walk(struct qfs *fs, const char *path, bool parent, struct qfs_inode **out,
		const char **lname, size_t *llen)
{
	struct qfs_inode *ip;
	int err = qfs_iget(fs, QFS_ROOT_INO, &ip);
	if (err)
		return err;
	const char *name, *p = path;
	size_t len;
	int r = next_comp(&p, &name, &len);
	while (r > 0) {
		const char *nname, *np = p;
		size_t nlen;
		int nr = next_comp(&np, &nname, &nlen);
		if (nr < 0) {
			r = nr;
			break;
		}
		if (parent && nr == 0) {
			*lname = name;
			*llen = len;
			*out = ip;
			return 0;
		}
		if (ip->d->mode != QFS_MODE_DIR) {
			r = -ENOTDIR;
			break;
		}
		uint32_t ino, type;
		r = qfs_dir_lookup(fs, ip, name, len, &ino, &type);
		if (r)
			break;
		struct qfs_inode *child;
		r = qfs_iget(fs, ino, &child);
		if (r)
			break;
		if (child->d->mode != type)
			r = -EUCLEAN;
		qfs_iput(fs, ip);
		ip = child;
		if (r)
			break;
		p = np;
		name = nname;
		len = nlen;
		r = nr;
	}
	if (r < 0) {
		qfs_iput(fs, ip);
		return r;
	}
	if (parent) { /* the path names the root */
		qfs_iput(fs, ip);
		return -EINVAL;
	}
	*out = ip;
	return 0;
}

static int lookup(struct qfs *fs, const char *path, struct qfs_inode **out)
{
	return walk(fs, path, false, out, NULL, NULL);
}

static int lookup_parent(struct qfs *fs, const char *path, struct qfs_inode **dir,
			 const char **name, size_t *len)
{
	int err = walk(fs, path, true, dir, name, len);
	if (!err && (*dir)->d->mode != QFS_MODE_DIR) {
		qfs_iput(fs, *dir);
		return -ENOTDIR;
	}
	return err;
}

/* Drop an inode's blocks and mark it deleted (its inode entry says so at the next commit). */
int qfs_inode_delete(struct qfs *fs, struct qfs_inode *ip)
{
	int err = qfs_bmap_truncate(fs, ip, 0);
	if (err)
		return err;
	ip->d->size = 0;
	ip->tomb = true;
	qfs_inode_dirty(fs, ip);
	return 0;
}

int qfs_inode_truncate(struct qfs *fs, struct qfs_inode *ip, uint64_t size)
{
	int err = 0;
	if (size < ip->d->size) {
		/* A recovery truncates before it applies this commit's blocks. */
		if (!(ip->pre & QFS_IENT_TRUNC) || size < ip->trunc_size)
			ip->trunc_size = size;
		ip->pre |= QFS_IENT_TRUNC;
		err = qfs_bmap_truncate(fs, ip, (size + QFS_BLOCK_SIZE - 1) / QFS_BLOCK_SIZE);
		if (!err && size % QFS_BLOCK_SIZE) {
			/* Zero the tail of the last block, so growing again reads zeroes. */
			uint32_t bno = (uint32_t)(size / QFS_BLOCK_SIZE), addr = 0;
			struct qfs_buf *b = qfs_buf_find(fs, ip, bno);
			if (!b)
				err = qfs_bmap(fs, ip, bno, &addr);
			if (!err && (b || addr))
				err = qfs_buf_get(fs, ip, bno, addr, &b);
			if (!err && b)
				err = qfs_buf_stable(fs, b);
			if (!err && b) {
				uint32_t in = (uint32_t)(size % QFS_BLOCK_SIZE);
				memset(b->data + in, 0, QFS_BLOCK_SIZE - in);
				qfs_buf_dirty(fs, b);
			}
		}
		if (err)
			return err;
	}
	ip->d->size = size;
	qfs_inode_dirty(fs, ip);
	return 0;
}

static int make_node(struct qfs *fs, const char *path, uint32_t mode)
{
	struct qfs_inode *dp, *ip;
	const char *name;
	size_t len;
	uint32_t ino, type;
	int err = op_begin(fs);
	if (!err)
		err = lookup_parent(fs, path, &dp, &name, &len);
	if (err)
		return err == -EINVAL ? -EEXIST : err;
	err = qfs_dir_lookup(fs, dp, name, len, &ino, &type);
	if (err == 0)
		err = -EEXIST;
	if (err != -ENOENT)
		goto out;
	err = qfs_space_ok(fs, 2) ? qfs_ialloc(fs, mode, &ip) : -ENOSPC;
	if (err)
		goto out;
	ip->d->parent = dp->ino;
	err = qfs_dir_add(fs, dp, name, len, ip->ino, mode);
	if (err)
		qfs_inode_delete(fs, ip);
	qfs_iput(fs, ip);
out:
	qfs_iput(fs, dp);
	return err;
}

int qfs_create(struct qfs *fs, const char *path)
{
	return make_node(fs, path, QFS_MODE_FILE);
}

int qfs_mkdir(struct qfs *fs, const char *path)
{
	return make_node(fs, path, QFS_MODE_DIR);
}

static int remove_node(struct qfs *fs, const char *path, bool dir)
{
	struct qfs_inode *dp, *ip = NULL;
	const char *name;
	size_t len;
	uint32_t ino, type;
	int err = op_begin(fs);
	if (!err)
		err = lookup_parent(fs, path, &dp, &name, &len);
	if (err)
		return err == -EINVAL ? -EBUSY : err;
	err = qfs_dir_lookup(fs, dp, name, len, &ino, &type);
	if (!err)
		err = qfs_iget(fs, ino, &ip);
	if (err)
		goto out;
	if (dir && ip->d->mode != QFS_MODE_DIR)
		err = -ENOTDIR;
	else if (!dir && ip->d->mode == QFS_MODE_DIR)
		err = -EISDIR;
	else if (dir)
		err = qfs_dir_empty(fs, ip) == 1 ? 0 : -ENOTEMPTY;
	if (!err)
		err = qfs_dir_remove(fs, dp, name, len);
	if (!err)
		err = qfs_inode_delete(fs, ip);
	qfs_iput(fs, ip);
out:
	qfs_iput(fs, dp);
	return err;
}

int qfs_unlink(struct qfs *fs, const char *path)
{
	return remove_node(fs, path, false);
}

int qfs_rmdir(struct qfs *fs, const char *path)
{
	return remove_node(fs, path, true);
}

/* Is dir `anc` the directory `ino` or one of its ancestors? */
static int is_ancestor(struct qfs *fs, uint32_t anc, uint32_t ino)
{
	for (uint32_t depth = 0; depth < fs->sb.max_inodes; depth++) {
		if (ino == anc)
			return 1;
		if (ino == QFS_ROOT_INO)
			return 0;
		struct qfs_inode *ip;
		int err = qfs_iget(fs, ino, &ip);
		if (err)
			return err;
		ino = ip->d->parent;
		qfs_iput(fs, ip);
	}
	return -EUCLEAN;
}

int qfs_rename(struct qfs *fs, const char *from, const char *to)
{
	struct qfs_inode *fd, *td, *src = NULL, *dst = NULL;
	const char *fname, *tname;
	size_t flen, tlen;
	uint32_t sino, stype, dino, dtype;
	int err = op_begin(fs);
	if (!err)
		err = lookup_parent(fs, from, &fd, &fname, &flen);
	if (err)
		return err == -EINVAL ? -EBUSY : err;
	err = lookup_parent(fs, to, &td, &tname, &tlen);
	if (err) {
		qfs_iput(fs, fd);
		return err == -EINVAL ? -EBUSY : err;
	}
	err = qfs_dir_lookup(fs, fd, fname, flen, &sino, &stype);
	if (!err)
		err = qfs_iget(fs, sino, &src);
	if (err)
		goto out;
	if (fd == td && flen == tlen && !memcmp(fname, tname, flen))
		goto out;
	if (stype == QFS_MODE_DIR) {
		int r = is_ancestor(fs, sino, td->ino);
		if (r) {
			err = r < 0 ? r : -EINVAL;
			goto out;
		}
	}
	err = qfs_dir_lookup(fs, td, tname, tlen, &dino, &dtype);
	if (err == -ENOENT) {
		err = qfs_dir_add(fs, td, tname, tlen, sino, stype);
	} else if (!err) {
		err = qfs_iget(fs, dino, &dst);
		if (!err && dtype == QFS_MODE_DIR && stype != QFS_MODE_DIR)
			err = -EISDIR;
		else if (!err && dtype != QFS_MODE_DIR && stype == QFS_MODE_DIR)
			err = -ENOTDIR;
		else if (!err && dtype == QFS_MODE_DIR)
			err = qfs_dir_empty(fs, dst) == 1 ? 0 : -ENOTEMPTY;
		if (!err)
			err = qfs_dir_set(fs, td, tname, tlen, sino, stype);
		if (!err)
			err = qfs_inode_delete(fs, dst);
	}
	if (!err)
		err = qfs_dir_remove(fs, fd, fname, flen);
	if (!err && src->d->parent != td->ino) {
		src->d->parent = td->ino;
		qfs_inode_dirty(fs, src);
	}
out:
	if (dst)
		qfs_iput(fs, dst);
	if (src)
		qfs_iput(fs, src);
	qfs_iput(fs, td);
	qfs_iput(fs, fd);
	return err;
}

/* ---- files ---- */

int qfs_open(struct qfs *fs, const char *path, unsigned flags, struct qfs_file **out)
{
	struct qfs_inode *ip;
	int err = lookup(fs, path, &ip);
	if (err == -ENOENT && (flags & QFS_O_CREAT)) {
		err = qfs_create(fs, path);
		if (!err)
			err = lookup(fs, path, &ip);
	} else if (!err && (flags & QFS_O_CREAT) && (flags & QFS_O_EXCL)) {
		qfs_iput(fs, ip);
		return -EEXIST;
	}
	if (err)
		return err;
	if (ip->d->mode != QFS_MODE_FILE) {
		qfs_iput(fs, ip);
		return -EISDIR;
	}
	struct qfs_file *f = qfs_zalloc(sizeof(*f));
	if (!f) {
		qfs_iput(fs, ip);
		return -ENOMEM;
	}
	f->fs = fs;
	f->ip = ip;
	f->gen = ip->d->gen;
	if ((flags & QFS_O_TRUNC) && ip->d->size) {
		err = qfs_truncate(f, 0);
		if (err) {
			qfs_close(f);
			return err;
		}
	}
	*out = f;
	return 0;
}

int qfs_close(struct qfs_file *f)
{
	qfs_iput(f->fs, f->ip);
	qfs_free(f);
	return 0;
}

static bool stale(struct qfs_file *f)
{
	return f->ip->tomb || f->ip->d->gen != f->gen;
}

int64_t qfs_read(struct qfs_file *f, uint64_t off, void *buf, size_t n)
{
	struct qfs *fs = f->fs;
	struct qfs_inode *ip = f->ip;
	if (stale(f))
		return -ENOENT;
	if (off >= ip->d->size)
		return 0;
	if (n > ip->d->size - off)
		n = (size_t)(ip->d->size - off);
	size_t done = 0;
	while (done < n) {
		uint64_t bno = (off + done) / QFS_BLOCK_SIZE;
		uint32_t in = (uint32_t)((off + done) % QFS_BLOCK_SIZE);
		size_t chunk = QFS_BLOCK_SIZE - in < n - done ? QFS_BLOCK_SIZE - in : n - done;
		struct qfs_buf *b = qfs_buf_find(fs, ip, (uint32_t)bno);
		uint32_t addr = 0;
		int err = b ? 0 : qfs_bmap(fs, ip, (uint32_t)bno, &addr);
		if (!err && (b || addr))
			err = qfs_buf_get(fs, ip, (uint32_t)bno, addr, &b);
		if (err)
			return err;
		if (b)
			memcpy((uint8_t *)buf + done, b->data + in, chunk);
		else
			memset((uint8_t *)buf + done, 0, chunk);
		done += chunk;
	}
	return (int64_t)n;
}

int64_t qfs_write(struct qfs_file *f, uint64_t off, const void *buf, size_t n)
{
	struct qfs *fs = f->fs;
	struct qfs_inode *ip = f->ip;
	if (stale(f))
		return -ENOENT;
	int err = op_begin(fs);
	if (err)
		return err;
	if (off + n < off || off + n > QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE)
		return -EFBIG;
	size_t done = 0;
	uint32_t dirty_limit = qfs_dirty_limit(fs);
	while (done < n) {
		uint64_t bno = (off + done) / QFS_BLOCK_SIZE;
		uint32_t in = (uint32_t)((off + done) % QFS_BLOCK_SIZE);
		size_t chunk = QFS_BLOCK_SIZE - in < n - done ? QFS_BLOCK_SIZE - in : n - done;
		struct qfs_buf *b;
		if (fs->ndirty >= dirty_limit) {
			/* A large write goes out as it comes; past 2K segments or
			 * when segments run short it is checkpointed in parts. */
			err = qfs_write_dirty(fs, true);
			if (!err && fs->segs_since_cp >= 2 * fs->sb.cp_interval)
				err = qfs_checkpoint(fs);
			if (!err)
				err = qfs_make_room(fs, 0);
			if (err)
				break;
		}
		/* File data may not eat into the reserve; directory updates may. */
		if (!qfs_buf_find(fs, ip, (uint32_t)bno) && (!qfs_space_ok(fs, 1) || !qfs_log_room(fs))) {
			err = -ENOSPC;
			break;
		}
		if (chunk == QFS_BLOCK_SIZE) /* all of it is replaced: no need to read (or clear) it */
			err = bno < QFS_MAX_FILE_BLOCKS ? qfs_buf_get_whole(fs, ip, (uint32_t)bno, &b) : -EFBIG;
		else
			err = qfs_file_rw_block(fs, ip, bno, true, &b);
		if (!err)
			err = qfs_buf_stable(fs, b);
		if (err)
			break;
		memcpy(b->data + in, (const uint8_t *)buf + done, chunk);
		qfs_buf_dirty(fs, b);
		done += chunk;
		if (off + done > ip->d->size)
			ip->d->size = off + done;
	}
	if (done) {
		qfs_inode_dirty(fs, ip);
		fs->user_bytes += done;
		return (int64_t)done;
	}
	return err;
}

int qfs_truncate(struct qfs_file *f, uint64_t size)
{
	struct qfs *fs = f->fs;
	struct qfs_inode *ip = f->ip;
	if (stale(f))
		return -ENOENT;
	int err = op_begin(fs);
	if (err)
		return err;
	if (size > QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE)
		return -EFBIG;
	return qfs_inode_truncate(fs, ip, size);
}

static void fill_stat(struct qfs_inode *ip, struct qfs_stat *st)
{
	st->ino = ip->ino;
	st->mode = ip->d->mode;
	st->nlink = ip->d->nlink;
	st->size = ip->d->size;
	st->blocks = ip->d->nblocks;
	st->version = ip->d->version;
}

int qfs_fstat(struct qfs_file *f, struct qfs_stat *st)
{
	if (stale(f))
		return -ENOENT;
	fill_stat(f->ip, st);
	return 0;
}

int qfs_stat(struct qfs *fs, const char *path, struct qfs_stat *st)
{
	struct qfs_inode *ip;
	int err = lookup(fs, path, &ip);
	if (err)
		return err;
	fill_stat(ip, st);
	qfs_iput(fs, ip);
	return 0;
}

int qfs_fsync(struct qfs_file *f)
{
	if (stale(f))
		return -ENOENT;
	return qfs_commit(f->fs, true);
}

int qfs_sync(struct qfs *fs)
{
	return qfs_commit(fs, true);
}

int qfs_readdir(struct qfs *fs, const char *path, uint64_t *cookie, struct qfs_dirent *out)
{
	struct qfs_inode *ip;
	int err = lookup(fs, path, &ip);
	if (err)
		return err;
	err = ip->d->mode == QFS_MODE_DIR ? qfs_dir_next(fs, ip, cookie, out) : -ENOTDIR;
	qfs_iput(fs, ip);
	return err;
}
