/*
 * quillfs on-disk format, version 2 (see fs/FORMAT.md for the prose).
 * Shared as is by fs/, tools/ and tests/. All fields are little-endian; the
 * only targets are x86-64 (kernel and host), so structs are used directly
 * and the byte order is checked at compile time.
 *
 * Layout (4 KiB blocks, 32-bit block addresses):
 *   block 0, 1          superblock, two identical copies
 *   cp_addr[0], [1]     checkpoint regions (cp_blocks each), alternating
 *   seg0 ...            nsegs segments of seg_blocks blocks: the log
 *
 * The log is a chain of partial segments (psegs). A pseg starting at block
 * P has its header in the last record (rec_bytes, a sector) of block P,
 * then nblocks blocks (P+1 ...), then nextra more records of entries. The
 * header and the blocks are one contiguous write, so a fsync'd 4 KiB
 * overwrite is one request of 4 KiB + one sector. Blocks are named by
 * (ino, key) block entries; inode entries carry what changed in an inode,
 * so inodes and block maps reach the disk only at checkpoints.
 */
#ifndef FS_ONDISK_H
#define FS_ONDISK_H

#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "quillfs structs are little-endian");

#define QFS_BLOCK_SIZE 4096u
#define QFS_BLOCK_SHIFT 12
#define QFS_SECTORS_PER_BLOCK (QFS_BLOCK_SIZE / 512u)
#define QFS_VERSION 2u

#define QFS_MAGIC_SUPER 0x31534651u /* "QFS1": every version; the version field tells them apart */
#define QFS_MAGIC_CP 0x50434651u    /* "QFCP" */
#define QFS_MAGIC_PSEG 0x52534651u  /* "QFSR" */
#define QFS_MAGIC_INODE 0x4e494651u /* "QFIN" */

#define QFS_MIN_BYTES (8ull << 20)
#define QFS_DEFAULT_SEG_BYTES (512u << 10)
#define QFS_MIN_SEG_BLOCKS 16u
#define QFS_MAX_SEG_BLOCKS 16384u  /* 64 MiB */
#define QFS_CP_INTERVAL 64u        /* K: checkpoint at least every K segments */
#define QFS_ROOT_INO 1u
#define QFS_IMAP_PER_BLOCK (QFS_BLOCK_SIZE / 4u)
#define QFS_MIN_REC 512u           /* record sizes: 512 .. 4096, powers of two */

/*
 * Checksums (fs/csum.c): the low 32 bits of XXH64. The superblock's is
 * seeded with 0; everything else with the file system's seed, the low 32
 * bits of XXH64(uuid, seed 0), so nothing written by another format of the
 * same device ever passes.
 */

struct qfs_disk_super {
	uint32_t magic;
	uint32_t csum;         /* of this struct with csum = 0, seed 0 */
	uint32_t version;      /* QFS_VERSION; other versions are refused */
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
	uint8_t uuid[16];      /* fresh random bytes at every format */
	uint32_t rec_bytes;    /* record (pseg header) size: the device's block size, >= 512 */
	uint8_t reserved[36];
};
_Static_assert(sizeof(struct qfs_disk_super) == 128, "super size");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, nblocks) == 16, "super nblocks");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, cp_addr) == 40, "super cp_addr");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, uuid) == 72, "super uuid");
_Static_assert(__builtin_offsetof(struct qfs_disk_super, rec_bytes) == 88, "super rec_bytes");

/*
 * Checkpoint region: this header in block 0, then imap_blocks u32 addresses
 * of the inode-map blocks (0: block never used, all free) from block 1, then
 * the segment usage table (nsegs entries) from block sut_block.
 * csum covers the whole region (cp_blocks blocks) with csum = 0.
 *
 * The log has two heads, each filling its own segments: 0 takes commits
 * (file and directory data with their entries), 1 what checkpoints write
 * (inode, indirect and inode-map blocks). Their psegs form one chain.
 */
#define QFS_NHEADS 2
#define QFS_HEAD_DATA 0
#define QFS_HEAD_META 1
struct qfs_disk_head {
	uint32_t addr;          /* block holding the head's next pseg header */
	uint32_t seg;           /* segment holding addr (addr may be at its end) */
	uint32_t next_seg;      /* segment the head enters when seg is full */
	uint32_t reserved;
};

struct qfs_disk_cp {
	uint32_t magic;
	uint32_t csum;
	uint64_t cp_seq;        /* checkpoint number; region = cp_seq % 2 */
	uint64_t log_seq;       /* sequence number of the next pseg */
	uint32_t log_prev;      /* csum of the last pseg header written (the chain) */
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
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, log_prev) == 24, "cp log_prev");
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, user_bytes) == 40, "cp stats");
_Static_assert(__builtin_offsetof(struct qfs_disk_cp, head) == 64, "cp heads");

/* Segment usage table entry. */
struct qfs_disk_sut {
	uint32_t live;   /* live blocks in the segment */
	uint32_t age;    /* low 32 bits of the seq of the last pseg written into it */
};
_Static_assert(sizeof(struct qfs_disk_sut) == 8, "sut size");

/* Keys naming a block within its inode (block entries). */
#define QFS_KEY_INODE 0xffffffffu
#define QFS_KEY_IND 0xfffffffeu
#define QFS_KEY_DIND 0xfffffffdu
#define QFS_KEY_DCHILD0 0xf0000000u /* + j: j-th child of the double indirect */
/* ino 0 names inode-map blocks: key = index of the imap block. Keys below
 * QFS_KEY_DCHILD0 are file blocks: data a recovery applies. */

#define QFS_PSEG_COMMIT 1u      /* last pseg of a commit: the state is whole here */
#define QFS_PSEG_CHECKPOINT 2u  /* written by a checkpoint (never with COMMIT) */
#define QFS_PSEG_BLOCKS 127u    /* blocks per pseg, at most */
#define QFS_PSEG_IENTS 64u      /* inode entries per pseg, at most */
#define QFS_PSEG_EXTRA 16u      /* extra records per pseg, at most */

/* The first 64 bytes of the header record; the entries follow. */
struct qfs_disk_pseg {
	uint32_t magic;
	uint32_t csum;      /* of the header record with csum = 0 */
	uint64_t seq;       /* previous pseg's seq + 1 */
	uint32_t prev;      /* csum of the previous pseg's header (the chain) */
	uint32_t ecsum;     /* of the nextra extra records (0 when none) */
	uint32_t nblocks;   /* blocks following the header block */
	uint16_t nextra;    /* records of entries after the blocks */
	uint16_t ninodes;   /* inode entries, after the block entries */
	uint32_t flags;     /* QFS_PSEG_* */
	uint32_t next_seg;  /* segment this head continues in after this one */
	uint32_t head;      /* log head that wrote it */
	uint8_t reserved[20];
};
_Static_assert(sizeof(struct qfs_disk_pseg) == 64, "pseg header size");
_Static_assert(__builtin_offsetof(struct qfs_disk_pseg, nblocks) == 24, "pseg nblocks");
_Static_assert(__builtin_offsetof(struct qfs_disk_pseg, head) == 40, "pseg head");

/* One per block of the pseg, in order. */
struct qfs_disk_bent {
	uint32_t ino;
	uint32_t key;
	uint32_t csum;      /* of the block */
};
_Static_assert(sizeof(struct qfs_disk_bent) == 12, "block entry size");

/*
 * What changed in an inode. Recovery applies, per pseg: first every inode
 * entry's CREATE/TRUNC, then the block entries, then every inode entry's
 * attributes (mode FREE: the inode was deleted).
 */
#define QFS_IENT_CREATE 1u  /* a new inode of this number: drop the old one's blocks, start empty */
#define QFS_IENT_TRUNC 2u   /* it was truncated to trunc_size */
struct qfs_disk_ient {
	uint32_t ino;
	uint32_t gen;
	uint32_t mode;       /* after the pseg: QFS_MODE_FILE, _DIR, or _FREE (deleted) */
	uint32_t flags;      /* QFS_IENT_* */
	uint32_t nlink;
	uint32_t parent;
	uint64_t size;       /* after the pseg */
	uint64_t trunc_size; /* QFS_IENT_TRUNC */
	uint64_t version;
};
_Static_assert(sizeof(struct qfs_disk_ient) == 48, "inode entry size");
_Static_assert(__builtin_offsetof(struct qfs_disk_ient, size) == 24, "inode entry size field");

/* Every pseg's entries fit its header record and QFS_PSEG_EXTRA extra 512-byte records. */
_Static_assert(sizeof(struct qfs_disk_pseg) + QFS_PSEG_BLOCKS * sizeof(struct qfs_disk_bent) +
		       QFS_PSEG_IENTS * sizeof(struct qfs_disk_ient) <= (1 + QFS_PSEG_EXTRA) * QFS_MIN_REC,
	       "pseg entries fit");

#define QFS_MODE_FREE 0u  /* deleted */
#define QFS_MODE_FILE 1u
#define QFS_MODE_DIR 2u
#define QFS_NDIRECT ((QFS_BLOCK_SIZE - 64) / 4)
#define QFS_NINDIRECT (QFS_BLOCK_SIZE / 4)
#define QFS_MAX_FILE_BLOCKS ((uint64_t)QFS_NDIRECT + QFS_NINDIRECT + \
			     (uint64_t)QFS_NINDIRECT * QFS_NINDIRECT)

struct qfs_disk_inode {
	uint32_t magic;
	uint32_t csum;      /* of the block with csum = 0 */
	uint32_t ino;
	uint32_t gen;       /* incremented each time the number is reused */
	uint32_t mode;      /* QFS_MODE_FILE or QFS_MODE_DIR */
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
