/*
 * Time from the TSC. Its frequency is measured at boot against the 8254 PIT
 * (channel 2, gated through port 0x61, so no interrupt is needed), then
 * cross-checked against the HPET main counter or the ACPI PM timer when the
 * firmware describes one. Under TCG the TSC follows the host clock, so the
 * same calibration holds there.
 */
#include "arch/x86_64/apic_reg.h"
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

#define CAL_PIT_TICKS 11932u /* 10 ms */
#define CAL_ROUNDS 3
#define PM_TIMER_HZ 3579545u
#define HPET_CAP 0x000
#define HPET_CONFIG 0x010
#define  HPET_CONFIG_ENABLE 1u
#define HPET_COUNTER 0x0f0

uint64_t tsc_ns_mult;
static uint64_t tsc_freq;

/* Start channel 2 counting down `ticks` in mode 0; OUT2 rises at terminal count. */
static void pit_ch2_start(uint16_t ticks)
{
	uint8_t p = inb(PORT_61);
	outb(PORT_61, (p & ~(PORT_61_SPEAKER | PORT_61_GATE2))); /* gate low: hold */
	outb(PIT_CMD, PIT_CMD_CH2_ONESHOT);
	outb(PIT_CH2, ticks & 0xff);
	outb(PIT_CH2, ticks >> 8);
	outb(PORT_61, (p & ~PORT_61_SPEAKER) | PORT_61_GATE2); /* gate high: go */
}

static bool pit_ch2_done(void)
{
	return inb(PORT_61) & PORT_61_OUT2;
}

/* Current count of channel 2 (latched: PIT command 0x80 = channel 2 latch). */
static uint16_t pit_ch2_count(void)
{
	outb(PIT_CMD, 0x80);
	uint8_t lo = inb(PIT_CH2);
	uint8_t hi = inb(PIT_CH2);
	return (uint16_t)(lo | hi << 8);
}

static uint64_t calibrate_pit(void)
{
	uint64_t best = UINT64_MAX;
	for (int r = 0; r < CAL_ROUNDS; r++) {
		pit_ch2_start(CAL_PIT_TICKS);
		uint64_t t0 = rdtsc();
		uint64_t spins = 0;
		while (!pit_ch2_done()) {
			if (++spins > 100000000ull)
				return 0; /* no PIT */
		}
		uint64_t dt = rdtsc() - t0;
		/* The shortest round had the least interference (host preemption under TCG). */
		if (dt < best)
			best = dt;
	}
	return best * PIT_HZ / CAL_PIT_TICKS;
}

/* TSC Hz by a second clock over ~10 ms of TSC; 0 when there is none. */
static uint64_t crosscheck(uint64_t hz, const char **source)
{
	uint64_t hpet_phys = acpi_hpet_base();
	uint8_t *hpet = hpet_phys ? map_mmio(hpet_phys, 1024) : NULL;
	if (hpet) {
		uint64_t cap = mmio_read64(hpet + HPET_CAP);
		uint64_t period_fs = cap >> 32;
		if (period_fs == 0 || period_fs > 100000000ull)
			goto try_pm;
		mmio_write64(hpet + HPET_CONFIG, mmio_read64(hpet + HPET_CONFIG) | HPET_CONFIG_ENABLE);
		uint64_t c0 = mmio_read64(hpet + HPET_COUNTER), t0 = rdtsc();
		while (rdtsc() - t0 < hz / 100)
			cpu_pause();
		uint64_t c1 = mmio_read64(hpet + HPET_COUNTER), t1 = rdtsc();
		uint64_t elapsed_fs = (c1 - c0) * period_fs;
		if (c1 <= c0)
			goto try_pm;
		*source = "HPET";
		return (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000000000ull / elapsed_fs);
	}
try_pm:;
	uint16_t port = acpi_pm_timer_port();
	if (port) {
		/* 24-bit counter at least: 4.6 s before it wraps, ample for 10 ms. */
		uint32_t p0 = inl(port) & 0xffffff;
		uint64_t t0 = rdtsc();
		while (rdtsc() - t0 < hz / 100)
			cpu_pause();
		uint32_t p1 = inl(port) & 0xffffff;
		uint64_t t1 = rdtsc();
		uint32_t ticks = (p1 - p0) & 0xffffff;
		if (ticks == 0)
			return 0;
		*source = "ACPI PM timer";
		return (t1 - t0) * PM_TIMER_HZ / ticks;
	}
	return 0;
}

void tsc_init(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(d & (1u << 4)))
		panic("tsc: this CPU has no time-stamp counter (CPUID.1:EDX.TSC)");
	tsc_freq = calibrate_pit();
	if (tsc_freq < 1000000ull)
		panic("tsc: calibration against the PIT failed (no 8254 channel 2?)");
	tsc_ns_mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / tsc_freq);
	const char *source = NULL;
	uint64_t other = crosscheck(tsc_freq, &source);
	printf("tsc: %llu.%03llu MHz (calibrated against the PIT)",
	       (unsigned long long)(tsc_freq / 1000000), (unsigned long long)(tsc_freq / 1000 % 1000));
	if (other) {
		uint64_t diff = other > tsc_freq ? other - tsc_freq : tsc_freq - other;
		uint64_t ppm = diff * 1000000 / tsc_freq;
		printf("; %s says %llu.%03llu MHz (%llu ppm apart)%s\n", source,
		       (unsigned long long)(other / 1000000), (unsigned long long)(other / 1000 % 1000),
		       (unsigned long long)ppm, ppm > 20000 ? " WARNING: clocks disagree by over 2%" : "");
	} else {
		printf("; no HPET or PM timer to cross-check\n");
	}
}

uint64_t tsc_hz(void)
{
	return tsc_freq;
}

uint64_t time_ns(void)
{
	return tsc_to_ns(rdtsc());
}

uint64_t ns_to_tsc(uint64_t ns)
{
	return (uint64_t)((unsigned __int128)ns * tsc_freq / 1000000000ull);
}

void udelay(uint64_t us)
{
	uint64_t t0 = rdtsc(), ticks = ns_to_tsc(us * 1000);
	while (rdtsc() - t0 < ticks)
		cpu_pause();
}

/* For the timer test: PIT ticks elapsed while fn runs (fn must take < 54 ms). */
uint64_t pit_measure_us(void (*fn)(void *), void *arg);
uint64_t pit_measure_us(void (*fn)(void *), void *arg)
{
	pit_ch2_start(0xffff);
	uint16_t c0 = pit_ch2_count();
	fn(arg);
	bool wrapped = pit_ch2_done();
	uint16_t c1 = pit_ch2_count();
	if (wrapped || c1 > c0)
		return UINT64_MAX;
	return (uint64_t)(c0 - c1) * 1000000ull / PIT_HZ;
}
