/*
 * kmain: bring the machine up in dependency order, then do what the command
 * line asks (tests, benchmarks) and end through quill_exit().
 *
 *   console -> IDT (so faults are reported) -> multiboot2 info -> command line
 *   -> final page tables -> page frames -> ACPI -> APICs -> TSC -> interrupts on
 *   -> drivers -> jobs -> exit
 */
#include "arch/x86_64/arch.h"
#include "arch/x86_64/multiboot2.h"
#include "drivers/drivers.h"
#include "kernel/bootinfo.h"
#include "kernel/kernel.h"
#include "kernel/jobs/jobs.h"

#define LOW_MEMORY_END (1ull << 20) /* BIOS, EBDA, VGA: never handed out */

static struct boot_info boot;

static const char *mmap_type_name(uint32_t t)
{
	switch (t) {
	case MB2_MMAP_AVAILABLE: return "RAM";
	case MB2_MMAP_ACPI_RECLAIMABLE: return "ACPI";
	case MB2_MMAP_NVS: return "NVS";
	case MB2_MMAP_BADRAM: return "bad";
	default: return "reserved";
	}
}

static void memory_init(void)
{
	uint64_t ram = 0;
	for (unsigned i = 0; i < boot.mmap_count; i++) {
		const struct boot_mem_region *r = &boot.mmap[i];
		printf("mem: 0x%012llx-0x%012llx %s\n", (unsigned long long)r->base,
		       (unsigned long long)(r->base + r->len - 1), mmap_type_name(r->type));
		if (r->type == MB2_MMAP_AVAILABLE) {
			frames_init_region(r->base, r->len);
			ram += r->len;
		}
	}
	if (boot.mmap_truncated)
		printf("mem: memory map has more than %d entries; the rest is unused\n", BOOT_MAX_MMAP);
	frames_reserve(0, LOW_MEMORY_END);
	frames_reserve((uintptr_t)kernel_start, (uintptr_t)kernel_end - (uintptr_t)kernel_start);
	frames_reserve(boot.info_addr, boot.info_size);
	for (unsigned i = 0; i < boot.module_count; i++)
		frames_reserve(boot.modules[i].start, boot.modules[i].end - boot.modules[i].start);
	printf("mem: %llu MiB RAM, %llu MiB free for allocation; kernel %#llx-%#llx",
	       (unsigned long long)(ram >> 20), (unsigned long long)(frames_free_count() * PAGE_SIZE >> 20),
	       (unsigned long long)(uintptr_t)kernel_start, (unsigned long long)(uintptr_t)kernel_end);
	if (frames_ignored())
		printf("; %llu MiB above 64 GiB unused", (unsigned long long)(frames_ignored() >> 20));
	printf("\n");
	if (frames_free_count() < 256)
		panic("mem: less than 1 MiB of free RAM; give QEMU more memory (-m)");
}

void kmain(uint32_t magic, uint64_t info);
void kmain(uint32_t magic, uint64_t info)
{
	console_init();
	printf("\nQuill: a virtio-blk unikernel for x86-64\n");
	idt_init();
	if (magic != MB2_BOOT_MAGIC) {
		printf("quill: not booted by a multiboot2 loader (magic %#x)\n", magic);
		quill_exit(QUILL_EXIT_CRASH);
	}
	char err[128];
	if (mb2_parse((const void *)(uintptr_t)info, 1u << 20, &boot, err, sizeof(err))) {
		printf("quill: bad multiboot2 information at %#llx: %s\n", (unsigned long long)info, err);
		quill_exit(QUILL_EXIT_CRASH);
	}
	/* A long command line is cut here (its parser says what is wrong with it), never the newline. */
	size_t cmdline_len = strlen(boot.cmdline);
	printf("boot: loader '%s', command line '%.*s'%s\n", boot.loader_name, 400, boot.cmdline,
	       cmdline_len > 400 ? " (cut: the rest is not shown)" : "");
	if (cmdline_parse(boot.cmdline))
		quill_exit(QUILL_EXIT_USAGE);

	paging_build(&boot);
	memory_init();
	acpi_init(boot.rsdp, boot.rsdp_len);
	apic_init();
	cpu_init();
	tsc_init();
	event_init();
	lapic_timer_calibrate();
	irq_enable();

	drivers_init();

	int rc = jobs_run();
	quill_exit(rc);
}
