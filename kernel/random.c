/*
 * random_bytes(): identifiers that must differ between boots and machines,
 * such as the uuid that tells one quillfs format from the one before it on
 * the same disk. Each 8 bytes mix a hardware random value (RDSEED, else
 * RDRAND, where CPUID offers them; each retried a few times, as Intel's
 * guide for both asks) with two TSC readings taken around it and the state
 * left by every earlier call, through splitmix64's finaliser. Without
 * either instruction the TSC alone remains: under QEMU it follows the
 * host's clock, so two formats still differ, but nothing here is meant for
 * secrets.
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"
#include "kernel/rng.h"

#define RANDOM_RETRIES 10

static int random_have = -1; /* bit 0: RDRAND, bit 1: RDSEED; -1: not asked yet */
static uint64_t random_state;

static int random_features(void)
{
	if (random_have < 0) {
		uint32_t a, b, c, d;
		random_have = 0;
		cpuid(1, 0, &a, &b, &c, &d);
		if (c & (1u << 30))
			random_have |= 1;
		cpuid(0, 0, &a, &b, &c, &d);
		if (a >= 7) {
			cpuid(7, 0, &a, &b, &c, &d);
			if (b & (1u << 18))
				random_have |= 2;
		}
	}
	return random_have;
}

static uint64_t random_hw(void)
{
	uint64_t v = 0;
	int have = random_features();
	for (int i = 0; (have & 2) && i < RANDOM_RETRIES; i++)
		if (rdseed64(&v))
			return v;
	for (int i = 0; (have & 1) && i < RANDOM_RETRIES; i++)
		if (rdrand64(&v))
			return v;
	return 0;
}

void random_bytes(void *buf, size_t n)
{
	uint8_t *out = buf;
	while (n) {
		uint64_t before = rdtsc();
		uint64_t hw = random_hw();
		random_state ^= before ^ rng_rotl(hw, 17) ^ rng_rotl(rdtsc(), 41);
		uint64_t v = rng_splitmix(&random_state);
		size_t k = n < sizeof(v) ? n : sizeof(v);
		memcpy(out, &v, k);
		out += k;
		n -= k;
	}
}
