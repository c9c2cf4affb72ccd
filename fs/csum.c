/*
 * The one checksum of the format: XXH64 (Yann Collet's xxHash, 64-bit
 * variant, as its specification defines it), of which quillfs stores the
 * low 32 bits. qfs_xxh64("abc", 3, 0) == 0x44bc2cf5ad770999.
 *
 * Why not CRC32C, which the format used before: a fsync'd 4 KiB write
 * checksums 4.5 KiB, and under QEMU's TCG, where Quill is developed and
 * measured, CRC32C costs either about four guest instructions a byte
 * (tables) or QEMU's bit-at-a-time helper for the crc32 instruction (slower
 * still in wall-clock time). XXH64 takes about 0.75 instructions a byte
 * with plain 64-bit multiplies, on any x86-64 CPU. What quillfs needs from
 * a checksum is that a damaged block (torn at sector granularity, lost,
 * stale from an earlier write, garbage) does not pass: XXH64 mixes every
 * input bit into every output bit, so any such change goes unnoticed with
 * probability about 2^-32 in the stored 32 bits, as for a CRC of that width
 * on changes longer than its burst guarantee (fs/FORMAT.md, Checksums).
 */
#include "fs/fs_int.h"

#define XXH_P1 0x9e3779b185ebca87ull
#define XXH_P2 0xc2b2ae3d27d4eb4full
#define XXH_P3 0x165667b19e3779f9ull
#define XXH_P4 0x85ebca77c2b2ae63ull
#define XXH_P5 0x27d4eb2f165667c5ull

static inline uint64_t xxh_rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t xxh_load64(const uint8_t *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8); /* one load, aligned or not */
	return v;
}

static inline uint32_t xxh_load32(const uint8_t *p)
{
	uint32_t v;
	__builtin_memcpy(&v, p, 4);
	return v;
}

static inline uint64_t xxh_round(uint64_t acc, uint64_t lane)
{
	return xxh_rotl(acc + lane * XXH_P2, 31) * XXH_P1;
}

static inline uint64_t xxh_merge(uint64_t acc, uint64_t v)
{
	return (acc ^ xxh_round(0, v)) * XXH_P1 + XXH_P4;
}

uint64_t qfs_xxh64(const void *buf, size_t len, uint64_t seed)
{
	const uint8_t *p = buf, *end = p + len;
	uint64_t h;
	if (len >= 32) {
		uint64_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2, v3 = seed, v4 = seed - XXH_P1;
		/*
		 * Four stripes per turn: the same rounds in the same order, but
		 * GCC then keeps each lane in place instead of moving it back
		 * after every round (22 instructions a stripe instead of 27).
		 */
#define XXH_STRIPE(q)                                           \
	do {                                                    \
		v1 = xxh_round(v1, xxh_load64((q)));            \
		v2 = xxh_round(v2, xxh_load64((q) + 8));        \
		v3 = xxh_round(v3, xxh_load64((q) + 16));       \
		v4 = xxh_round(v4, xxh_load64((q) + 24));       \
	} while (0)
		for (; end - p >= 128; p += 128) {
			XXH_STRIPE(p);
			XXH_STRIPE(p + 32);
			XXH_STRIPE(p + 64);
			XXH_STRIPE(p + 96);
		}
		for (; end - p >= 32; p += 32)
			XXH_STRIPE(p);
#undef XXH_STRIPE
		h = xxh_rotl(v1, 1) + xxh_rotl(v2, 7) + xxh_rotl(v3, 12) + xxh_rotl(v4, 18);
		h = xxh_merge(h, v1);
		h = xxh_merge(h, v2);
		h = xxh_merge(h, v3);
		h = xxh_merge(h, v4);
	} else {
		h = seed + XXH_P5;
	}
	h += len;
	for (; p + 8 <= end; p += 8)
		h = xxh_rotl(h ^ xxh_round(0, xxh_load64(p)), 27) * XXH_P1 + XXH_P4;
	if (p + 4 <= end) {
		h = xxh_rotl(h ^ (uint64_t)xxh_load32(p) * XXH_P1, 23) * XXH_P2 + XXH_P3;
		p += 4;
	}
	for (; p < end; p++)
		h = xxh_rotl(h ^ *p * XXH_P5, 11) * XXH_P1;
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
}

uint32_t qfs_csum(uint32_t seed, const void *buf, size_t len)
{
	return (uint32_t)qfs_xxh64(buf, len, seed);
}
