/*
 * quillfs on-disk format (see fs/FORMAT.md for the prose). Shared as is by
 * fs/, tools/ and tests/. All fields are little-endian; the only targets are
 * x86-64 (kernel and host), so structs are used directly and the byte order
 * is checked at compile time.
 *
 * Layout (4 KiB blocks, 32-bit block addresses):
 *   block 0, 1          superblock, two identical copies
 *   cp_addr[0], [1]     checkpoint regions (cp_blocks each), alternating
 *   seg0 ...            nsegs segments of seg_blocks blocks: the log
 *
 * The log is a chain of partial segments (psegs): one summary block, then
 * the blocks it describes. Every block in the log is data, an indirect
 * block, an inode block or an inode-map block, named by (ino, key).
 */
#ifndef FS_ONDISK_H
#define FS_ONDISK_H

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "quillfs structs are little-endian");

#define QFS_BLOCK_SIZE 4096u
#define QFS_BLOCK_SHIFT 12
#define QFS_SECTORS_PER_BLOCK (QFS_BLOCK_SIZE / 512u)
#define QFS_VERSION 1u

#define QFS_MAGIC_SUPER 0x31534651u /* "QFS1" */
#define QFS_MAGIC_CP 0x50434651u    /* "QFCP" */
#define QFS_MAGIC_SUM 0x53534651u   /* "QFSS" */
#define QFS_MAGIC_INODE 0x4e494651u /* "QFIN" */

#define QFS_MIN_BYTES (8ull << 20)
#define QFS_DEFAULT_SEG_BYTES (512u << 10)
#define QFS_MIN_SEG_BLOCKS 16u
#define QFS_MAX_SEG_BLOCKS 16384u  /* 64 MiB */
#define QFS_CP_INTERVAL 64u        /* K: checkpoint at least every K segments */
#define QFS_ROOT_INO 1u
#define QFS_IMAP_PER_BLOCK (QFS_BLOCK_SIZE / 4u)

struct qfs_disk_super {
	uint32_t magic;
	uint32_t crc;          /* CRC32C of this struct with crc = 0 */
	uint32_t version;      /* QFS_VERSION; newer versions are refused */
	uint32_t block_size;   /* QFS_BLOCK_SIZE */
	uint64_t nblocks;      /* size of the file system in blocks (<= 2^32) */
	uint64_t seg0;         /* first block of segment 0 */
	uint32_t seg_blocks;   /* blocks per segment */
	uint32_t nsegs;        /* segments */
	uint64_t cp_addr[2];   /* first block of each checkpoint region */
	uint32_t cp_blocks;    /* blocks per checkpoint region */
	uint32_t max_inodes;   /* inode numbers are 1 .. max_inodes-1 */
	uint32_t imap_blocks;  /* max_inodes / QFS_IMAP_PER_BLOCK */
	uint32_t cp_interval;  /* K */
	uint8_t uuid[16];
	uint8_t reserved[40];
};
_Static_assert(sizeof(struct qfs_disk_super) == 128, "super size");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, nblocks) == 16, "super nblocks");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, cp_addr) == 40, "super cp_addr");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, uuid) == 72, "super uuid");

/*
 * Checkpoint region: this header in block 0, then imap_blocks u32 addresses
 * of the inode-map blocks (0: block never used, all free) from block 1, then
 * the segment usage table (nsegs entries) from block sut_block.
 * crc covers the whole region (cp_blocks blocks) with crc = 0.
 *
 * The log has two heads, each filling its own segments: 0 takes file and
 * directory data, 1 the hot metadata (inodes, indirect and inode-map
 * blocks). Their psegs form one chain of sequence numbers.
 */
#define QFS_NHEADS 2
struct qfs_disk_head {
	uint32_t addr;          /* block where the head's next pseg goes */
	uint32_t seg;           /* segment holding addr (addr may be at its end) */
	uint32_t next_seg;      /* segment the head enters when seg is full */
	uint32_t reserved;
};

struct qfs_disk_cp {
	uint32_t magic;
	uint32_t crc;
	uint64_t cp_seq;        /* checkpoint number; region = cp_seq % 2 */
	uint64_t log_seq;       /* sequence number of the next pseg */
	uint32_t log_prev_crc;  /* crc of the last pseg written (the chain) */
	uint32_t nsegs;         /* copy of the superblock's, checked */
	uint32_t imap_blocks;   /* copy of the superblock's, checked */
	uint32_t sut_block;     /* block of the region where the SUT starts */
	uint64_t user_bytes;    /* bytes written through qfs_write (statistic) */
	uint64_t dev_bytes;     /* bytes written to the device (statistic) */
	uint64_t cleaned_segs;  /* segments reclaimed by the cleaner (statistic) */
	struct qfs_disk_head head[QFS_NHEADS];
	uint8_t reserved[32];
};
_Static_assert(sizeof(struct qfs_disk_head) == 16, "head size");
_Static_assert(sizeof(struct qfs_disk_cp) == 128, "cp size");
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, log_prev_crc) == 24, "cp log_prev_crc");
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, user_bytes) == 40, "cp stats");
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, head) == 64, "cp heads");

/* Segment usage table entry. */
struct qfs_disk_sut {
	uint32_t live;   /* live blocks in the segment */
	uint32_t age;    /* low 32 bits of the seq of the last pseg written into it */
};
_Static_assert(sizeof(struct qfs_disk_sut) == 8, "sut size");

/* Keys naming a block within its inode (summary entries). */
#define QFS_KEY_INODE 0xffffffffu
#define QFS_KEY_IND 0xfffffffeu
#define QFS_KEY_DIND 0xfffffffdu
#define QFS_KEY_DCHILD0 0xf0000000u /* + j: j-th child of the double indirect */
/* ino 0 names inode-map blocks: key = index of the imap block. */

struct qfs_disk_sum_entry {
	uint32_t ino;
	uint32_t key;
};
_Static_assert(sizeof(struct qfs_disk_sum_entry) == 8, "sum entry");

#define QFS_SUM_COMMIT 1u      /* last pseg of a commit: state consistent here */
#define QFS_SUM_CHECKPOINT 2u  /* written by a checkpoint (inode-map blocks) */
#define QFS_SUM_ENTRIES ((QFS_BLOCK_SIZE - 64) / 8)
#define QFS_PSEG_MAX 128u      /* blocks per pseg, summary included */

struct qfs_disk_sum {
	uint32_t magic;
	uint32_t crc;       /* CRC32C of this block (crc = 0) + the nblocks blocks */
	uint32_t sum_crc;   /* CRC32C of this block alone (crc = sum_crc = 0) */
	uint32_t prev_crc;  /* crc of the previous pseg of the log */
	uint64_t seq;       /* previous pseg's seq + 1 */
	uint32_t nblocks;   /* blocks following this summary */
	uint32_t flags;     /* QFS_SUM_* */
	uint32_t next_seg;  /* segment this head continues in after this one */
	uint32_t seg_blocks;
	uint8_t uuid[16];   /* the superblock's: psegs of an older format never match */
	uint32_t head;      /* log head (0 data, 1 metadata) */
	uint8_t reserved[4];
	struct qfs_disk_sum_entry e[QFS_SUM_ENTRIES];
};
_Static_assert(sizeof(struct qfs_disk_sum) == QFS_BLOCK_SIZE, "sum size");
_Static_assert(__builtin_offsetof(struct qfs_disk_sum, head) == 56, "sum head");
_Static_assert(__builtin_offsetof(struct qfs_disk_sum, e) == 64, "sum entries");

#define QFS_MODE_FREE 0u  /* tombstone: the inode was deleted */
#define QFS_MODE_FILE 1u
#define QFS_MODE_DIR 2u
#define QFS_NDIRECT ((QFS_BLOCK_SIZE - 64) / 4)
#define QFS_NINDIRECT (QFS_BLOCK_SIZE / 4)
#define QFS_MAX_FILE_BLOCKS ((uint64_t)QFS_NDIRECT + QFS_NINDIRECT + \
			     (uint64_t)QFS_NINDIRECT * QFS_NINDIRECT)

struct qfs_disk_inode {
	uint32_t magic;
	uint32_t crc;       /* CRC32C of the block with crc = 0 */
	uint32_t ino;
	uint32_t gen;       /* incremented each time the number is reused */
	uint32_t mode;      /* QFS_MODE_* */
	uint32_t nlink;     /* directory entries naming it (1; root: 0) */
	uint64_t size;      /* bytes */
	uint32_t parent;    /* directories: the parent directory */
	uint32_t ind;       /* single indirect block */
	uint32_t dind;      /* double indirect block */
	uint32_t nblocks;   /* data + indirect blocks allocated */
	uint64_t version;   /* bumped on every change */
	uint8_t reserved[8];
	uint32_t direct[QFS_NDIRECT];
};
_Static_assert(sizeof(struct qfs_disk_inode) == QFS_BLOCK_SIZE, "inode size");
_Static_assert(__builtin_offsetof(struct qfs_disk_inode, size) == 24, "inode size field");
_Static_assert(__builtin_offsetof(struct qfs_disk_inode, direct) == 64, "inode direct");
_Static_assert(QFS_MAX_FILE_BLOCKS * QFS_BLOCK_SIZE >= (4ull << 30), "4 GiB files");

/* Directory blocks: a chain of records covering the block exactly. */
#define QFS_NAME_MAX 255u
#define QFS_DIRENT_HDR 8u
struct qfs_disk_dirent {
	uint32_t ino;      /* 0: unused record */
	uint16_t rec_len;  /* multiple of 8, >= header + name */
	uint8_t name_len;
	uint8_t type;      /* QFS_MODE_FILE or QFS_MODE_DIR */
	char name[];
};
_Static_assert(sizeof(struct qfs_disk_dirent) == QFS_DIRENT_HDR, "dirent size");

#endif
