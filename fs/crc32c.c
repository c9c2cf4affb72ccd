/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), as iSCSI and ext4
 * use it. qfs_crc32c(0, "123456789", 9) == 0xe3069283.
 *
 * Two ways to the same value: SSE4.2's crc32 instruction, eight bytes per
 * instruction, on x86-64 CPUs that have it (hardware, KVM's -cpu host), but
 * not under QEMU's TCG; otherwise slicing-by-8 with tables built on first
 * use (8 KiB).
 * The checksum is most of the guest's work per fsync'd write, so the choice
 * matters (README, Performance).
 */
#include "fs/fs_int.h"

static uint32_t crc_table[8][256];
static bool crc_ready;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
	crc_ready = true;
}

#if defined(__x86_64__)
static int crc_hw = -1; /* -1: not asked yet; then whether to use the instruction */

static void crc_cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/*
 * SSE4.2, and not QEMU's TCG: there the instruction is emulated by a helper
 * that made fsync'd writes about 25% slower than the tables (README). TCG
 * names itself in the hypervisor leaf (as arch/x86_64/cpu.c reads it; this
 * file also builds into host tools, so it asks the CPU itself).
 */
static bool crc_hw_present(void)
{
	if (crc_hw < 0) {
		uint32_t a, b, c, d;
		crc_cpuid(1, &a, &b, &c, &d);
		crc_hw = (c >> 20) & 1; /* CPUID.1:ECX.SSE4_2 */
		if (crc_hw && (c >> 31) & 1) { /* CPUID.1:ECX.hypervisor */
			uint32_t sig[3];
			crc_cpuid(0x40000000, &a, &sig[0], &sig[1], &sig[2]);
			crc_hw = __builtin_memcmp(sig, "TCGTCGTCGTCG", 12) != 0;
		}
	}
	return crc_hw;
}

static uint32_t crc_hw_update(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len && ((uintptr_t)p & 7)) {
		__asm__("crc32b %1, %k0" : "+r"(c) : "rm"(*p));
		p++;
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		__builtin_memcpy(&w, p, 8);
		__asm__("crc32q %1, %0" : "+r"(c) : "rm"(w));
		p += 8;
		len -= 8;
	}
	while (len--) {
		__asm__("crc32b %1, %k0" : "+r"(c) : "rm"(*p));
		p++;
	}
	return (uint32_t)c;
}

bool qfs_crc32c_hw(void)
{
	return crc_hw_present();
}
#else
bool qfs_crc32c_hw(void)
{
	return false;
}
#endif

uint32_t qfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (crc_hw_present())
		return ~crc_hw_update(~crc, buf, len);
#endif
	return qfs_crc32c_sw(crc, buf, len);
}

uint32_t qfs_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;
		__builtin_memcpy(&w, p, 8); /* one load: the kernel builds with -fno-builtin */
		w ^= crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}
