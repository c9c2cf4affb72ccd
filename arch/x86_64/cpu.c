/*
 * What kind of CPU Quill runs on, where it changes how the kernel should
 * behave. One thing so far: whether `pause` belongs in spin-wait loops.
 *
 * On hardware (and under KVM) `pause` is what a spin loop should execute:
 * it yields the core to its SMT sibling and lets the hypervisor see the
 * spin. Under QEMU's TCG it is the opposite: QEMU leaves its translated-code
 * loop on every `pause` and takes its global lock before running the guest
 * again, the lock its main loop needs to complete our requests. A polling
 * QD1 benchmark measured 14k-19k IOPS with a `pause` per spin and 40k-55k
 * without (README, Performance). TCG announces itself in the hypervisor
 * CPUID leaves with the signature "TCGTCGTCGTCG".
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

bool cpu_spin_pause = true;

void cpu_init(void)
{
	uint32_t a, b, c, d;
	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 31))) /* CPUID.1:ECX.hypervisor */
		return;
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	char sig[13];
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	for (int i = 0; i < 12; i++)
		if (sig[i] < 0x20 || sig[i] > 0x7e)
			sig[i] = '.';
	cpu_spin_pause = strcmp(sig, "TCGTCGTCGTCG") != 0;
	printf("cpu: hypervisor '%s'%s\n", sig,
	       cpu_spin_pause ? "" : ": QEMU TCG, spin loops leave out pause (it costs QEMU its global lock)");
}
