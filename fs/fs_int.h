/*
 * quillfs internals, grouped by file. fs.h is the public API, ondisk.h the
 * format.
 *
 *   csum.c     the format's checksum (XXH64, low 32 bits)
 *   cache.c    block I/O, the buffer cache of file blocks, the inode cache
 *   bmap.c     file block maps: lookup, allocate pointers, truncate, walk
 *   log.c      the log writer: psegs, async writes, commit, checkpoint
 *   pseg.c     reading a pseg header and its entries back (recovery,
 *              cleaner, fsck)
 *   super.c    format, mount, unmount, statfs, the segment table
 *   recover.c  roll-forward from the checkpoint through the log
 *   clean.c    the segment cleaner (cost-benefit)
 *   dir.c      directory blocks: lookup, add, remove, iterate
 *   ops.c      the public file and directory operations
 *   fsck.c     the checker
 *
 * Two kinds of dirty state, two kinds of write:
 *   commit      data and directory blocks changed since the last commit,
 *               with a block entry each, and an inode entry for every inode
 *               whose attributes changed: what makes an fsync durable
 *   checkpoint  a commit, then every inode and indirect block changed since
 *               the last checkpoint, then the inode map and the checkpoint
 *               region: after it, recovery starts here
 * A buffer's data is frozen from the moment a pseg takes it until the write
 * completes (the checksum and the device both read it): whoever changes it
 * first waits (qfs_buf_stable).
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
/*
 * Recovery reads, beyond the log since the checkpoint, one copy of each
 * inode and indirect block the log's operations change or free. The writer
 * keeps that at most the log's blocks plus this many (a checkpoint is
 * forced at the next commit otherwise), so a recovery mount reads at most
 * about twice the log (fs/FORMAT.md, Recovery).
 */
#define QFS_REC_SLACK 256u

/* ---- csum.c ---- */
uint64_t qfs_xxh64(const void *buf, size_t len, uint64_t seed);
uint32_t qfs_csum(uint32_t seed, const void *buf, size_t len);

/* ---- cache.c ---- */
struct qfs_inode;
struct qfs_buf {
	struct qfs_buf *hnext;             /* hash chain */
	struct qfs_buf *lnext, *lprev;     /* LRU list (head = most recent) */
	struct qfs_buf *inext, *iprev;     /* the inode's buffers */
	struct qfs_buf *dnext, **dpprev;   /* the inode's dirty buffers (while dirty) */
	struct qfs_inode *ip;
	uint32_t key;
	bool dirty;      /* data: for the next commit; indirect: for the next checkpoint */
	bool checked;    /* directory block validated since read */
	bool on_disk;    /* a copy is on disk that a recovery would read (indirect blocks) */
	uint8_t io;      /* pseg index + 1 while a pseg holds data (frozen), else 0 */
	uint8_t *data;   /* QFS_BLOCK_SIZE, 512-aligned */
};

struct qfs_inode {
	struct qfs_inode *hnext;
	uint32_t ino;
	bool ient;       /* attributes changed: an inode entry goes into the next commit */
	bool cpdirty;    /* d must be written at the next checkpoint */
	bool on_disk;    /* a block of this inode is on disk (the inode map names it) */
	bool tomb;       /* deleted: the checkpoint frees its number */
	uint8_t pre;     /* QFS_IENT_CREATE/TRUNC not yet in an inode entry */
	uint64_t trunc_size; /* QFS_IENT_TRUNC: the smallest size since the last entry */
	int refs;        /* open handles and temporary holds */
	uint32_t ndirty; /* dirty data buffers (keys below QFS_KEY_DCHILD0) */
	uint32_t nmeta;  /* dirty indirect buffers */
	struct qfs_buf *bufs;
	struct qfs_buf *dirty_bufs;  /* data and indirect, in no order */
	struct qfs_disk_inode *d;
	/*
	 * On fs->dirty_list (or a commit's list of those it left dirty) from
	 * when it gets something to commit until a commit finds it clean, so a
	 * commit visits these, not every cached inode. dpprev: NULL when off.
	 */
	struct qfs_inode *dnext, **dpprev;
	uint32_t dpass;  /* the qfs_write_dirty() pass that last wrote it */
};

/* A pseg being filled or in flight. */
struct qfs_pseg {
	uint8_t *hdr;            /* header record + QFS_PSEG_EXTRA records, page-aligned */
	struct qfs_buf *bufs[QFS_PSEG_BLOCKS]; /* where pages[] came from (NULL: inode, imap) */
	uint8_t *pages[QFS_PSEG_BLOCKS];
	struct qfs_disk_bent bent[QFS_PSEG_BLOCKS];
	struct qfs_disk_ient ient[QFS_PSEG_IENTS];
	struct blk_seg segs[1 + QFS_PSEG_BLOCKS + QFS_PSEG_EXTRA];
	struct blk_req req[1 + QFS_PSEG_BLOCKS + QFS_PSEG_EXTRA]; /* split at the device's max_req */
	uint32_t nreq, ndone;
	int status;
	bool busy;               /* submitted, not all completed */
	bool written;            /* submitted since pseg_reap() last gave its buffers back */
	bool filling;            /* a head is filling it (qfs_head fill) */
	int head;
	uint32_t addr;           /* block whose last record is the header */
	uint32_t nblocks, ninodes;
	struct qfs *fs;
};

struct qfs {
	struct blk_dev *dev;
	struct qfs_disk_super sb;
	uint32_t seed;             /* checksum seed: csum of the uuid */
	uint32_t rec;              /* sb.rec_bytes */
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
	uint32_t prev_csum;
	struct qfs_head {
		uint32_t addr, cur_seg, next_seg;
		int fill;          /* pseg being filled, -1: none */
	} head[QFS_NHEADS];
	uint32_t segs_since_cp;
	uint64_t log_bytes_cp;     /* written to the log since the last checkpoint */
	uint64_t rec_reads;        /* metadata blocks a recovery would read (QFS_REC_SLACK) */
	bool cp_needed;            /* the log moved since the last checkpoint */
	bool uncommitted;          /* the log moved since the last durable commit */
	struct qfs_pseg *pseg;     /* [QFS_NPSEG] */
	uint32_t max_req;
	/* caches */
	struct qfs_inode *ihash[QFS_IHASH];
	uint32_t ninodes_cached;
	struct qfs_inode *dirty_list, *dirty_kept; /* see struct qfs_inode dnext */
	uint32_t dirty_pass;
	struct qfs_buf **bhash;
	uint32_t nbhash;
	struct qfs_buf lru;        /* sentinel */
	struct qfs_buf *spare;     /* dropped buffers kept for reuse (cache.c) */
	uint32_t nspare;
	uint32_t nbufs, ndirty, cache_blocks;
	uint32_t nmeta, ncpdirty;  /* dirty indirect buffers, inodes to checkpoint */
	uint32_t ino_hint;
	uint8_t *tmp;              /* one block of scratch, 512-aligned */
	/* statistics */
	uint64_t user_bytes, dev_bytes, cleaned_segs, checkpoints, commits, flushes;
	uint64_t read_bytes;       /* read from the device by this mount */
	struct qfs_recovery recovery;
	bool cleaning;
};

void *qfs_alloc_big(size_t bytes); /* page-aligned, zeroed (device buffers) */
void qfs_free_big(void *p, size_t bytes);
void *qfs_alloc_block(void);      /* QFS_BLOCK_SIZE of the above */
void qfs_free_block(void *p);
int qfs_dev_read(struct qfs *fs, uint64_t block, void *buf, uint32_t nblocks);
/* Read bytes at a byte offset (a multiple of the record size), for pseg records. */
int qfs_dev_read_bytes(struct qfs *fs, uint64_t off, void *buf, uint32_t len);
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
/* File data (and directory) keys, as opposed to indirect blocks. */
static inline bool qfs_key_is_data(uint32_t key)
{
	return key < QFS_KEY_DCHILD0;
}
int qfs_cache_init(struct qfs *fs);
void qfs_cache_free(struct qfs *fs);
/* Buffer of (ip, key) whose disk address is addr (0: a hole, zeroes). */
int qfs_buf_get(struct qfs *fs, struct qfs_inode *ip, uint32_t key, uint32_t addr,
		struct qfs_buf **out);
/* Buffer of (ip, key) that the caller overwrites whole: its content, when new, is undefined. */
int qfs_buf_get_whole(struct qfs *fs, struct qfs_inode *ip, uint32_t key, struct qfs_buf **out);
struct qfs_buf *qfs_buf_find(struct qfs *fs, struct qfs_inode *ip, uint32_t key);
/* Before changing b->data: wait until no pseg holds it (0 or -errno). */
int qfs_buf_stable(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_dirty(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_clean(struct qfs *fs, struct qfs_buf *b);
int qfs_buf_drop(struct qfs *fs, struct qfs_buf *b);
void qfs_buf_evict(struct qfs *fs);
int qfs_inode_read_disk(struct qfs *fs, uint32_t ino, uint32_t addr, struct qfs_disk_inode *d);
int qfs_iget(struct qfs *fs, uint32_t ino, struct qfs_inode **out);
/* Recovery: the inode ino as the checkpoint has it, or a new empty one when it has none. */
int qfs_iget_any(struct qfs *fs, uint32_t ino, struct qfs_inode **out);
void qfs_iput(struct qfs *fs, struct qfs_inode *ip);
/* ip's attributes changed: an inode entry at the next commit, the inode block at the next checkpoint. */
void qfs_inode_dirty(struct qfs *fs, struct qfs_inode *ip);
/* ip's block map changed: the inode block at the next checkpoint. */
void qfs_inode_cpdirty(struct qfs *fs, struct qfs_inode *ip);
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
void qfs_sort_u64(uint64_t *a, size_t n);
/* Grow array *p (of *cap elements of elem bytes) to hold at least need: 0 or -ENOMEM. */
int qfs_grow(void **p, size_t *cap, size_t need, size_t elem);
/* A growing array of u64 (block lists of fsck). */
struct qfs_vec {
	uint64_t *a;
	size_t n, cap;
};
int qfs_vec_push(struct qfs_vec *v, uint64_t x);

/* ---- log.c ---- */
void qfs_account(struct qfs *fs, uint32_t old, uint32_t new_addr);
/* Append a block to head h's pseg: a cache buffer (frozen until written) or a page of ours. */
int qfs_log_block(struct qfs *fs, int h, uint32_t ino, uint32_t key, struct qfs_buf *b,
		  uint8_t *page, uint32_t *addr);
int qfs_log_seal(struct qfs *fs, uint32_t flags);
int qfs_log_wait_all(struct qfs *fs);
/* Wait until pseg i is written (submitting it first if it is still being filled; after a
 * write error it is dropped instead): 0, or -EIO when the device stopped making progress. */
int qfs_log_wait_pseg(struct qfs *fs, int i);
/* Nothing filling, nothing in flight, whatever the sticky error (unmount, abandon). */
void qfs_log_quiesce(struct qfs *fs);
bool qfs_log_inflight(struct qfs *fs, uint64_t block, uint32_t n);
int qfs_write_dirty(struct qfs *fs, bool data_only);
int qfs_commit(struct qfs *fs, bool flush);
int qfs_checkpoint(struct qfs *fs);
/* Whether the checkpoint should come now (recovery bound, memory). */
bool qfs_cp_due(struct qfs *fs);
int qfs_cp_write(struct qfs *fs);
void qfs_log_free(struct qfs *fs);
int qfs_log_init(struct qfs *fs);

/* ---- pseg.c ---- */
/* A pseg read back: its header, its entries (pointing into the caller's buffer). */
struct qfs_pseg_view {
	struct qfs_disk_pseg h;
	const struct qfs_disk_bent *bent;  /* [h.nblocks] */
	const uint8_t *ient;               /* [h.ninodes], 4-byte aligned only: qfs_pseg_ient() */
	uint32_t addr;                     /* its header block */
	uint32_t next;                     /* where the head's next pseg header goes */
};
/* Inode entry k of a pseg view (copied: entries after the block entries need not be 8-byte aligned). */
static inline struct qfs_disk_ient qfs_pseg_ient(const struct qfs_pseg_view *v, uint32_t k)
{
	struct qfs_disk_ient e;
	memcpy(&e, v->ient + (size_t)k * sizeof(e), sizeof(e));
	return e;
}
/* Bytes a pseg view's buffer needs. */
static inline size_t qfs_pseg_buf_bytes(const struct qfs *fs)
{
	return (size_t)(1 + QFS_PSEG_EXTRA) * fs->rec;
}
/* Bytes of header and entries of a pseg: what its checksums cover. */
static inline uint32_t qfs_pseg_used(uint32_t nblocks, uint32_t ninodes)
{
	return (uint32_t)(sizeof(struct qfs_disk_pseg) + nblocks * sizeof(struct qfs_disk_bent) +
			  ninodes * sizeof(struct qfs_disk_ient));
}
/* Extra records a pseg with these entries needs beyond its header record. */
static inline uint32_t qfs_pseg_extra(const struct qfs *fs, uint32_t nblocks, uint32_t ninodes)
{
	uint32_t bytes = qfs_pseg_used(nblocks, ninodes);
	return bytes <= fs->rec ? 0 : (bytes - fs->rec + fs->rec - 1) / fs->rec;
}
/* Where the next pseg of a head goes after one at addr (header block). */
static inline uint32_t qfs_pseg_next(const struct qfs *fs, uint32_t addr, uint32_t nblocks,
				     uint32_t nextra)
{
	return addr + 1 + nblocks + nextra / (QFS_BLOCK_SIZE / fs->rec);
}
/*
 * Read and check the pseg whose header is in block addr: magic, checksums
 * of header and entries, counts, and that it fits its segment. 0, -EUCLEAN
 * (no valid pseg there) or -EIO. Blocks are not read.
 */
int qfs_pseg_load(struct qfs *fs, uint32_t addr, uint8_t *buf, struct qfs_pseg_view *v);

/* ---- super.c ---- */
int qfs_read_super(struct blk_dev *dev, struct qfs_disk_super *sb);
void qfs_seg_recount(struct qfs *fs);
int qfs_seg_alloc(struct qfs *fs, uint32_t *seg);
void qfs_cp_release(struct qfs *fs);
int qfs_mount_fs(struct blk_dev *dev, const struct qfs_mount_opts *opts, bool for_fsck, struct qfs **out);
void qfs_destroy(struct qfs *fs);

/* ---- recover.c ---- */
int qfs_recover(struct qfs *fs);

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
/* Truncate ip to size bytes (blocks and the tail of the last one). */
int qfs_inode_truncate(struct qfs *fs, struct qfs_inode *ip, uint64_t size);
int qfs_file_rw_block(struct qfs *fs, struct qfs_inode *ip, uint64_t bno, bool for_write,
		      struct qfs_buf **out);

#endif
