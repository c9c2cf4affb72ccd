/*
 * Known answers for qfs_xxh64(), checked by the host unit test and the
 * in-kernel test: every tail path (0 to 31 bytes after the 32-byte
 * stripes), unaligned starts, two seeds. The values are XXH64's as the
 * reference implementation gives them (Debian's python3-xxhash), for the
 * bytes csum_vector_byte() makes.
 */
#ifndef FS_CSUM_VECTORS_H
#define FS_CSUM_VECTORS_H

#include <stdint.h>

static inline uint8_t csum_vector_byte(uint32_t i)
{
	return (uint8_t)((uint32_t)(i * 2654435761u) >> 13);
}

static const struct csum_vector {
	uint32_t seed, offset, len;
	uint64_t xxh64;
} csum_vectors[] = {
	{0, 0, 0, 0xef46db3751d8e999ull},
	{0, 1, 1, 0x29d9e32f13ff9265ull},
	{0, 2, 3, 0xa04e8f13e6956c5dull},
	{0, 0, 4, 0x91b65bbe720c34cfull},
	{0, 1, 7, 0x23e844a244965c1full},
	{0, 2, 8, 0x37f2e8b320cee2c6ull},
	{0, 0, 9, 0x192535de38f73596ull},
	{0, 1, 31, 0x799e3aa4ff9e368cull},
	{0, 2, 32, 0x1decc8d10e1b5020ull},
	{0, 0, 33, 0xf7b9faf20b3bce63ull},
	{0, 1, 63, 0x135767f6abd689f5ull},
	{0, 2, 64, 0xc832a1eff33255e2ull},
	{0, 0, 100, 0xd61ea92c5ae13676ull},
	{0, 1, 4096, 0xe6cc7a67a1e9854eull},
	{0, 2, 4099, 0x78497daf83bc38aaull},
	{12345, 0, 0, 0x95584af7701f808dull},
	{12345, 1, 1, 0x90eefbf9d7e466eaull},
	{12345, 2, 3, 0xb5cfeb9e7bac26a6ull},
	{12345, 0, 4, 0x28c5673330db0615ull},
	{12345, 1, 7, 0x386db4285bcd883aull},
	{12345, 2, 8, 0xdf9cea1a29d6fd27ull},
	{12345, 0, 9, 0x5dfbd356f1b1fd7aull},
	{12345, 1, 31, 0x9510472d97faddb7ull},
	{12345, 2, 32, 0x3bd7acecce2b167dull},
	{12345, 0, 33, 0x19dee79beea74eacull},
	{12345, 1, 63, 0xb0c12c53f8715ba8ull},
	{12345, 2, 64, 0xcc76f6303893c37full},
	{12345, 0, 100, 0x8930c0ab29bf9089ull},
	{12345, 1, 4096, 0x701ccba574c16dceull},
	{12345, 2, 4099, 0x53e13741ce8049e4ull},
};
#define CSUM_VECTOR_BYTES 4104u /* the largest offset + len */

#endif
