/*
 * The LBA-stamped test pattern, shared by the in-kernel block tests
 * (drivers/blk/blk_ktest.c) and the host checker (tools/blkpattern.c).
 *
 * Every 512-byte sector carries: magic, its own LBA (512-byte units), a pass
 * number, a filler derived from both, and a checksum of the rest. A sector
 * written to the wrong place, a stale sector from an earlier pass, a torn or
 * zeroed sector: each fails differently (blkpat_check's return value).
 *
 * Disks up to BLKPAT_FULL_LIMIT sectors are written whole; larger ones in
 * BLKPAT_CHUNK-sector chunks every BLKPAT_STRIDE sectors plus the last chunk
 * (a 4 GiB sparse image then costs 16 MiB of writes): blkpat_in_scope().
 * Freestanding: stdint only.
 */
#ifndef DRIVERS_BLK_BLKPATTERN_H
#define DRIVERS_BLK_BLKPATTERN_H

#include <stdbool.h>
#include <stdint.h>

#define BLKPAT_MAGIC 0x5441504c4c495551ull /* "QUILLPAT" */
#define BLKPAT_WORDS 64                    /* 512 bytes as 64-bit words */
#define BLKPAT_FULL_LIMIT (256ull << 11)   /* 256 MiB in sectors */
#define BLKPAT_STRIDE (16ull << 11)        /* 16 MiB */
#define BLKPAT_CHUNK 128ull                /* 64 KiB */

enum blkpat_result {
	BLKPAT_OK = 0,
	BLKPAT_ZERO,     /* all zero: never written */
	BLKPAT_MAGIC_BAD, /* not a pattern sector at all */
	BLKPAT_LBA_BAD,  /* a pattern sector of another LBA (misdirected) */
	BLKPAT_PASS_BAD, /* right place, other pass (stale) */
	BLKPAT_SUM_BAD,  /* header fine, body corrupt or torn */
};

static inline bool blkpat_in_scope(uint64_t lba, uint64_t capacity)
{
	if (capacity <= BLKPAT_FULL_LIMIT)
		return true;
	if (lba + BLKPAT_CHUNK >= capacity)
		return true;
	return lba % BLKPAT_STRIDE < BLKPAT_CHUNK;
}

static inline uint64_t blkpat_mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Words 0..2 header, 3..62 filler, 63 checksum of words 0..62. */
static inline void blkpat_fill(void *sector, uint64_t lba, uint32_t pass)
{
	uint64_t *w = sector;
	uint64_t x = blkpat_mix(lba ^ ((uint64_t)pass << 48)), sum = 0;
	w[0] = BLKPAT_MAGIC;
	w[1] = lba;
	w[2] = pass;
	for (int i = 3; i < BLKPAT_WORDS - 1; i++) {
		x += 0x9e3779b97f4a7c15ull;
		w[i] = x ^ (x >> 29);
	}
	for (int i = 0; i < BLKPAT_WORDS - 1; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ull;
	w[BLKPAT_WORDS - 1] = sum;
}

static inline enum blkpat_result blkpat_check(const void *sector, uint64_t lba, uint32_t pass)
{
	const uint64_t *w = sector;
	uint64_t sum = 0, any = 0;
	for (int i = 0; i < BLKPAT_WORDS; i++)
		any |= w[i];
	if (!any)
		return BLKPAT_ZERO;
	if (w[0] != BLKPAT_MAGIC)
		return BLKPAT_MAGIC_BAD;
	for (int i = 0; i < BLKPAT_WORDS - 1; i++)
		sum = (sum ^ w[i]) * 0x100000001b3ull;
	if (sum != w[BLKPAT_WORDS - 1])
		return BLKPAT_SUM_BAD;
	if (w[1] != lba)
		return BLKPAT_LBA_BAD;
	if (w[2] != pass)
		return BLKPAT_PASS_BAD;
	/* The filler is covered by the checksum; a forged sum is not our threat model. */
	return BLKPAT_OK;
}

static inline const char *blkpat_strerror(enum blkpat_result r)
{
	switch (r) {
	case BLKPAT_OK: return "ok";
	case BLKPAT_ZERO: return "zero (never written)";
	case BLKPAT_MAGIC_BAD: return "not a pattern sector";
	case BLKPAT_LBA_BAD: return "sector of another LBA (misdirected)";
	case BLKPAT_PASS_BAD: return "stale (other pass)";
	case BLKPAT_SUM_BAD: return "checksum mismatch (corrupt or torn)";
	default: return "?";
	}
}

#endif
