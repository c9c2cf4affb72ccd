/*
 * quillfs: the file-system API used by the kernel and the host tools.
 * A contract: what the caller must do, what comes back.
 *
 * - Every call returns 0 (or a byte count) on success, a negative errno on
 *   failure; nothing panics on a bad image:
 *     -ENOENT  a path component is missing      -EEXIST   name already there
 *     -ENOTDIR a component is not a directory   -EISDIR   file op on a dir
 *     -ENAMETOOLONG a name over 255 bytes       -ENOTEMPTY rmdir/rename on a
 *     -ENOSPC  the file system is full             non-empty directory
 *     -EROFS   mounted read-only, or RO device  -EIO      the device failed
 *     -EUCLEAN the image is corrupt             -EINVAL   bad argument
 *     -EFBIG   beyond the largest file size     -ENOMEM   out of memory
 *   After -EIO (or -EUCLEAN while writing, or the log itself running out of
 *   segments, which the reserve is there to prevent) the mount refuses
 *   further changes with that error; what was committed stays.
 * - Paths are absolute or relative to the root, '/'-separated; "." and ".."
 *   are not interpreted.
 * - Single-threaded: the caller MUST NOT call into the same struct qfs
 *   concurrently (one CPU, no locks). Device completions may run from
 *   interrupts; the fs only waits through dev->ops->wait.
 * - Durability: changes live in memory until qfs_fsync/qfs_sync/qfs_unmount
 *   (the cleaner and memory pressure may commit earlier, between operations;
 *   only a write larger than the dirty limit may be committed in parts).
 *   qfs_fsync(f) and qfs_sync(fs) commit every change made so far (all
 *   files, all directories) atomically and return only once it is durable
 *   (one FLUSH completed after the writes completed). After a crash the
 *   file system comes back in the state of some commit at least as new as
 *   the last one that returned; operations between commits are never
 *   half-applied (rename is atomic). See fs/FORMAT.md.
 * - A file handle stays valid until qfs_close. Unlinking or renaming over a
 *   file makes its open handles stale: they then return -ENOENT.
 */
#ifndef FS_FS_H
#define FS_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/blk/blk.h"
#include "fs/ondisk.h" /* QFS_MODE_*, QFS_NAME_MAX, QFS_BLOCK_SIZE */

struct qfs;
struct qfs_file;

struct qfs_format_opts {
	uint32_t seg_bytes;   /* segment size; 0: default 512 KiB */
	uint64_t bytes;       /* file-system size; 0: the whole device */
	uint8_t uuid[16];     /* all zero: fresh random bytes (the usual case), so
				 nothing of an earlier format is ever accepted */
};
/* Make an empty file system on dev (overwrites it: the caller decides). */
int qfs_format(struct blk_dev *dev, const struct qfs_format_opts *opts);
/* 0 when dev holds a valid quillfs superblock, -EUCLEAN/-EINVAL otherwise. */
int qfs_probe(struct blk_dev *dev);
/*
 * Whether dev looks like it holds a quillfs at all: either superblock copy
 * carries the magic, valid or not (another format version, a damaged one, a disk
 * whose block size this code cannot mount). Also true when the first blocks
 * cannot be read. What needs consent before it is overwritten.
 */
bool qfs_present(struct blk_dev *dev);

struct qfs_mount_opts {
	bool read_only;        /* no writes at all, recovery in memory only */
	uint32_t cache_blocks; /* buffer cache size; 0: default (1024) */
};
/*
 * Mount: newest valid checkpoint, then roll forward through the log (work
 * and reads bounded by the log written since that checkpoint: fs/FORMAT.md,
 * Recovery). A read-write mount writes a checkpoint before returning.
 * -EUCLEAN: not quillfs, or damaged beyond recovery; -EINVAL: a format
 * version this code does not mount, or a device whose logical block size
 * is larger than the file system's record size.
 */
int qfs_mount(struct blk_dev *dev, const struct qfs_mount_opts *opts, struct qfs **out);
/*
 * What the mount's recovery did: psegs it found past the checkpoint (0
 * after a clean unmount), how many it applied (whole commits only) and
 * left out (after the last complete commit), and what it read.
 */
struct qfs_recovery {
	uint32_t psegs, commits, discarded;
	uint32_t inodes, blocks;  /* inode and block entries applied */
	uint64_t log_bytes;       /* of log it read past the checkpoint */
	uint64_t read_bytes;      /* everything the mount read from the device */
};
void qfs_recovery_info(struct qfs *fs, struct qfs_recovery *out);
/* Commit, write a final checkpoint, free everything (even on error). */
int qfs_unmount(struct qfs *fs);
/* Free everything, writing nothing more (waits for writes in flight): what
 * a power loss leaves, for tests, or after a fatal device error. */
void qfs_abandon(struct qfs *fs);

struct qfs_statfs {
	uint64_t block_size, total_blocks, free_blocks, live_blocks;
	/*
	 * Blocks file data can still take: the capacity left once the cleaning
	 * reserve and the per-segment summaries are set aside (what df calls
	 * available). Full, as df counts it: live / (live + avail).
	 */
	uint64_t avail_blocks;
	uint64_t nsegs, free_segs, seg_blocks;
	uint64_t user_bytes, dev_bytes; /* write amplification = dev / user */
	uint64_t cleaned_segs, checkpoints, commits, flushes;
	/* Written to the log since the last checkpoint: what a recovery now would read of it. */
	uint64_t log_bytes;
};
int qfs_statfs(struct qfs *fs, struct qfs_statfs *st);
/* Percent full as df counts it, rounded up: live / (live + avail); 100 with no capacity. */
static inline uint32_t qfs_full_pct(const struct qfs_statfs *st)
{
	uint64_t cap = st->live_blocks + st->avail_blocks;
	return cap ? (uint32_t)((st->live_blocks * 100 + cap - 1) / cap) : 100;
}

struct qfs_stat {
	uint32_t ino, mode, nlink;  /* mode: QFS_MODE_FILE or QFS_MODE_DIR */
	uint64_t size, blocks, version;
};
int qfs_stat(struct qfs *fs, const char *path, struct qfs_stat *st);

#define QFS_O_CREAT 1u
#define QFS_O_EXCL 2u
#define QFS_O_TRUNC 4u
/* A new empty file; -EEXIST, or -ENOSPC when out of space or inode numbers. */
int qfs_create(struct qfs *fs, const char *path);
int qfs_open(struct qfs *fs, const char *path, unsigned flags, struct qfs_file **out);
int qfs_close(struct qfs_file *f);
/* Bytes read (short at end of file, 0 at or past it), or -errno. */
int64_t qfs_read(struct qfs_file *f, uint64_t off, void *buf, size_t n);
/*
 * Bytes written, or -errno; holes read as zeroes. Fewer than n only when
 * the file system fills up part way (the next call returns -ENOSPC).
 * Writes larger than the dirty limit go to the device as they come and may
 * be committed in parts (fs/FORMAT.md, durability contract).
 */
int64_t qfs_write(struct qfs_file *f, uint64_t off, const void *buf, size_t n);
int qfs_truncate(struct qfs_file *f, uint64_t size);
int qfs_fstat(struct qfs_file *f, struct qfs_stat *st);
int qfs_fsync(struct qfs_file *f);
int qfs_sync(struct qfs *fs);

int qfs_unlink(struct qfs *fs, const char *path);
int qfs_mkdir(struct qfs *fs, const char *path);
int qfs_rmdir(struct qfs *fs, const char *path);
/* Atomic; replaces a file or an empty directory at `to`. */
int qfs_rename(struct qfs *fs, const char *from, const char *to);

struct qfs_dirent {
	uint32_t ino, type;
	char name[256];
};
/*
 * Directory iteration: start with *cookie = 0; returns 1 with *out filled,
 * 0 at the end, or -errno. Entries added or removed meanwhile may or may
 * not be seen.
 */
int qfs_readdir(struct qfs *fs, const char *path, uint64_t *cookie, struct qfs_dirent *out);

/*
 * fsck: mount dev read-only and check every invariant (checksums, inode
 * map, directory tree, block ownership, segment usage). report() gets one
 * line per problem. Returns the number of problems (0: clean), or -errno
 * when the image cannot be mounted at all. With repair set, fixable
 * problems (segment usage counts) are fixed by writing a checkpoint;
 * *fixed tells how many.
 */
typedef void (*qfs_report_fn)(void *ctx, const char *msg);
int qfs_fsck(struct blk_dev *dev, bool repair, qfs_report_fn report, void *ctx, int *fixed);
/* The same checks on a mounted file system (read-write: after writing out
 * every dirty block, without a FLUSH). Problems found, or -errno. */
int qfs_check(struct qfs *fs, qfs_report_fn report, void *ctx);

#endif
