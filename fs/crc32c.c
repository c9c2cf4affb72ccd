/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), as iSCSI and ext4
 * use it. Byte-at-a-time with a table built on first use: no floating point,
 * no CPU features. qfs_crc32c(0, "123456789", 9) == 0xe3069283.
 */
#include "fs/fs_int.h"

static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	crc_ready = true;
}

uint32_t qfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
