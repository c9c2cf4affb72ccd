/*
 * quillfs internals, grouped by file. fs.h is the public API, ondisk.h the
 * format.
 *
 *   crc32c.c   CRC32C (Castagnoli): SSE4.2 crc32 where it pays, else tables
 *   cache.c    block I/O, the buffer cache of file blocks, the inode cache
 *   bmap.c     file block maps: lookup, allocate pointers, truncate, walk
 *   log.c      the log writer: psegs, async writes, commit, checkpoint
 *   super.c    format, mount, unmount, statfs, the segment table
 *   recover.c  roll-forward from the checkpoint through the log
 *   clean.c    the segment cleaner (cost-benefit)
 *   dir.c      directory blocks: lookup, add, remove, iterate
 *   ops.c      the public file and directory operations
 *   fsck.c     the checker
 */
#ifndef FS_FS_INT_H
#define FS_FS_INT_H

#include "fs/fs_port.h"
#include "fs/fs.h"
#include "fs/ondisk.h"

#define QFS_NPSEG 6          /* psegs being filled (one per head) or in flight */
#define QFS_IHASH 1024
#define QFS_MAX_REQ (128u * QFS_BLOCK_SIZE)
#define QFS_ROUNDUP(x, a) (((x) + (a) - 1) / (a) * (a))

/* ---- crc32c.c ---- */
uint32_t qfs_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table-driven way, whatever the CPU has (tests compare the two). */
uint32_t qfs_crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* Whether qfs_crc32c() uses the CPU's crc32 instruction (SSE4.2, not under QEMU TCG). */
bool qfs_crc32c_hw(void);

/* ---- cache.c ---- */
struct qfs_inode;
struct qfs_buf {
	struct qfs_buf *hnext;             /* hash chain */
	struct qfs_buf *lnext, *lprev;     /* LRU list (head = most recent) */
	struct qfs_buf *inext, *iprev;     /* the inode's buffers */
	struct qfs_inode *ip;
	uint32_t key;
	bool dirty;
	bool checked;                      /* directory block validated since read */
	uint8_t *data;                     /* QFS_BLOCK_SIZE, 512-aligned */
};

struct qfs_inode {
	struct qfs_inode *hnext;
	uint32_t ino;
	bool dirty;      /* d must be written at the next commit */
	bool tomb;       /* deleted: a tombstone must be written */
	int refs;        /* open handles and temporary holds */
	uint32_t ndirty; /* dirty buffers */
	struct qfs_buf *bufs;
	struct qfs_disk_inode *d;
	/*
	 * On fs->dirty_list (or a commit's list of those it left dirty) from
	 * when it gets something to write until a commit finds it clean, so a
	 * commit visits these, not every cached inode. dpprev: NULL when off.
	 */
	struct qfs_inode *dnext, **dpprev;
	uint32_t dpass;  /* the qfs_write_dirty() pass that last wrote it */
};

struct qfs_pseg {
	uint8_t *buf;            /* QFS_PSEG_MAX blocks, 512-aligned */
	struct blk_req req[QFS_PSEG_MAX]; /* split by the device's max_req_bytes */
	uint32_t nreq, ndone;
	int status;
	bool busy;               /* submitted, not all completed */
	uint32_t addr, nblocks;  /* nblocks includes the summary */
	struct qfs *fs;
};

struct qfs {
	struct blk_dev *dev;
	struct qfs_disk_super sb;
	bool ro;
	int err;                   /* sticky write error */
	uint64_t end_block;        /* seg0 + nsegs * seg_blocks */
	/* checkpoint state */
	uint64_t cp_seq;
	uint32_t *imap_addr;       /* [imap_blocks] */
	uint32_t **imap;           /* [imap_blocks], NULL: all free */
	uint8_t *imap_dirty;       /* [imap_blocks] */
	struct qfs_disk_sut *sut;  /* [nsegs] */
	uint8_t *seg_busy;         /* [nsegs] not reusable before a checkpoint */
	uint32_t free_segs;
	uint32_t alloc_hint;        /* where the segment search starts */
	uint64_t live_blocks;
	/* log: one chain of psegs, two heads (QFS_NHEADS, ondisk.h) */
	uint64_t seq;
	uint32_t prev_crc;
	struct qfs_head {
		uint32_t addr, cur_seg, next_seg;
		int fill;          /* pseg being filled, -1: none */
	} head[QFS_NHEADS];
	uint32_t segs_since_cp;
	bool cp_needed;            /* the log moved since the last checkpoint */
	bool uncommitted;          /* the log moved since the last durable commit */
	struct qfs_pseg pseg[QFS_NPSEG];
	uint32_t max_req;
	/* caches */
	struct qfs_inode *ihash[QFS_IHASH];
	uint32_t ninodes_cached;
	struct qfs_inode *dirty_list, *dirty_kept; /* see struct qfs_inode dnext */
	uint32_t dirty_pass;
	struct qfs_buf **bhash;
	uint32_t nbhash;
	struct qfs_buf lru;        /* sentinel */
	uint32_t nbufs, ndirty, cache_blocks, ndirty_inodes;
	uint32_t ino_hint;
	uint8_t *tmp;              /* one block of scratch, 512-aligned */
	/* statistics */
	uint64_t user_bytes, dev_bytes, cleaned_segs, checkpoints, commits, flushes;
	bool cleaning;
	bool mixed;                /* this commit is small: one head (qfs_head_of) */
};

/*
 * Which head a block goes to: metadata is hot, it goes apart from data,
 * except in small commits (an fsync of a few blocks), which stay one pseg:
 * one write request per commit matters more there.
 */
#define QFS_MIX_BLOCKS 16
static inline int qfs_head_of(const struct qfs *fs, uint32_t ino, uint32_t key)
{
	return fs->mixed || ino == 0 || key >= QFS_KEY_DCHILD0;
}

void *qfs_alloc_big(size_t bytes); /* page-aligned, zeroed (device buffers) */
void qfs_free_big(void *p, size_t bytes);
void *qfs_alloc_block(void);      /* QFS_BLOCK_SIZE of the above */
void qfs_free_block(void *p);
int qfs_dev_read(struct qfs *fs, uint64_t block, void *buf, uint32_t nblocks);
int qfs_dev_write(struct qfs *fs, uint64_t block, const void *buf, uint32_t nblocks);
int qfs_dev_flush(struct qfs *fs);
/* A block address in the segment area (0 is never one). */
static inline bool qfs_addr_ok(const struct qfs *fs, uint64_t a)
{
	return a >= fs->sb.seg0 && a < fs->end_block;
}
static inline uint32_t qfs_seg_of(const struct qfs *fs, uint64_t a)
{
	return (uint32_t)((a - fs->sb.seg0) / fs->sb.seg_blocks);
}
static inline uint64_t qfs_seg_start(const struct qfs *fs, uint32_t s)
{
	return fs->sb.seg0 + (uint64_t)s * fs->sb.seg_blocks;
}
/* A segment a log head is filling or has chosen next. */
static inline bool qfs_seg_in_log(const struct qfs *fs, uint32_t s)
{
	for (int h = 0; h < QFS_NHEADS; h++)
		if (s == fs->head[h].cur_seg || s == fs->head[h].next_seg)
			return true;
	return false;
}
int qfs_cache_init(struct qfs *fs);
void qfs_cache_free(struct qfs *fs);
/* Buffer of (ip, key) whose disk address is addr (0: a hole, zeroes). */
int qfs_buf_get(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr,
		struct qfs_buf **out);
struct qfs_buf *qfs_buf_find(struct qfs *fs, struct qfs_inode *ip, uint32_t key);
void qfs_buf_dirty(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_clean(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_drop(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_evict(struct qfs *fs);
int qfs_inode_read_disk(struct qfs *fs, uint32_t ino, uint32_t addr, struct qfs_disk_inode *d);
int qfs_iget(struct qfs *fs, uint32_t ino, struct qfs_inode **out);
void qfs_iput(struct qfs *fs, struct qfs_inode *ip);
void qfs_inode_dirty(struct qfs *fs, struct qfs_inode *ip);
/* The dirty-inode list (struct qfs_inode dnext): add to *head once; remove if on one. */
void qfs_dirty_list_add(struct qfs_inode **head, struct qfs_inode *ip);
void qfs_dirty_list_remove(struct qfs_inode *ip);
void qfs_inode_trim(struct qfs *fs);
int qfs_ialloc(struct qfs *fs, uint32_t mode, struct qfs_inode **out);
void qfs_inode_forget(struct qfs *fs, struct qfs_inode *ip);
uint32_t qfs_imap_get(struct qfs *fs, uint32_t ino);
int qfs_imap_set(struct qfs *fs, uint32_t ino, uint32_t addr);

/* ---- bmap.c ---- */
/* Disk address of file block key (0: hole). */
int qfs_bmap(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t *addr);
/* Point key's parent at addr; returns the old address in *old. */
int qfs_bmap_set(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr, uint32_t *old);
/* Free all blocks at or beyond nblk, and the indirect blocks left empty. */
int qfs_bmap_truncate(struct qfs *fs, struct qfs_inode *ip, uint64_t nblk);
/* Call fn for every block of an on-disk inode, reading indirect blocks from disk. */
typedef int (*qfs_walk_fn)(void *ctx, uint32_t key, uint32_t addr);
int qfs_walk_disk(struct qfs *fs, const struct qfs_disk_inode *d, qfs_walk_fn fn, void *ctx);
void qfs_sort_u64(uint64_t *a, size_t n);
/* A growing array of u64 (block lists of recovery and fsck). */
struct qfs_vec {
	uint64_t *a;
	size_t n, cap;
};
int qfs_vec_push(struct qfs_vec *v, uint64_t x);

/* ---- log.c ---- */
void qfs_account(struct qfs *fs, uint32_t old, uint32_t new_addr);
int qfs_log_append(struct qfs *fs, uint32_t ino, uint32_t key, const void *data, uint32_t *addr);
int qfs_log_seal(struct qfs *fs, uint32_t flags);
int qfs_log_wait_all(struct qfs *fs);
bool qfs_log_inflight(struct qfs *fs, uint64_t block, uint32_t n);
int qfs_write_dirty(struct qfs *fs, bool data_only);
int qfs_commit(struct qfs *fs, bool flush);
int qfs_checkpoint(struct qfs *fs);
int qfs_cp_write(struct qfs *fs);
void qfs_log_free(struct qfs *fs);
int qfs_log_init(struct qfs *fs);

/* ---- super.c ---- */
int qfs_read_super(struct blk_dev *dev, struct qfs_disk_super *sb);
void qfs_seg_recount(struct qfs *fs);
int qfs_seg_alloc(struct qfs *fs, uint32_t *seg);
void qfs_cp_release(struct qfs *fs);
int qfs_mount_fs(struct blk_dev *dev, const struct qfs_mount_opts *opts, bool for_fsck, struct qfs **out);
void qfs_destroy(struct qfs *fs);

/* ---- recover.c ---- */
int qfs_recover(struct qfs *fs, uint32_t *applied);
int qfs_sum_check(struct qfs *fs, const struct qfs_disk_sum *s, uint64_t addr);

/* ---- clean.c ---- */
/* Before an operation changes anything: clean and checkpoint until enough segments are free. */
int qfs_make_room(struct qfs *fs, uint32_t need);
bool qfs_space_ok(struct qfs *fs, uint64_t more);
/* Blocks qfs_space_ok() would still grant (statfs avail_blocks). */
uint64_t qfs_avail_blocks(struct qfs *fs);
bool qfs_log_room(struct qfs *fs);
uint32_t qfs_dirty_limit(struct qfs *fs);

/* ---- dir.c ---- */
int qfs_dir_lookup(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		   uint32_t *ino, uint32_t *type);
int qfs_dir_add(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		uint32_t ino, uint32_t type);
int qfs_dir_remove(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len);
int qfs_dir_set(struct qfs *fs, struct qfs_inode *dp, const char *name, size_t len,
		uint32_t ino, uint32_t type);
int qfs_dir_empty(struct qfs *fs, struct qfs_inode *dp);
/* Entry at *cookie (block << 12 | offset); advances it; 1, 0 at the end, or -errno. */
int qfs_dir_next(struct qfs *fs, struct qfs_inode *dp, uint64_t *cookie, struct qfs_dirent *out);
/* Validate one directory block; -EUCLEAN when malformed. */
int qfs_dir_check_block(const uint8_t *blk);

/* ---- ops.c ---- */
int qfs_inode_delete(struct qfs *fs, struct qfs_inode *ip);
int qfs_file_rw_block(struct qfs *fs, struct qfs_inode *ip, uint64_t bno, bool for_write,
		      struct qfs_buf **out);

#endif
