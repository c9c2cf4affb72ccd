/* What the kernel keeps of the multiboot2 information, after mb2_parse() checked it. */
#ifndef KERNEL_BOOTINFO_H
#define KERNEL_BOOTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOOT_MAX_MMAP 128
#define BOOT_MAX_MODULES 8

struct boot_mem_region {
	uint64_t base, len;
	uint32_t type; /* MB2_MMAP_* */
};

struct boot_info {
	uint64_t info_addr;
	uint32_t info_size;
	const char *cmdline;     /* "" when absent */
	const char *loader_name; /* "" when absent */
	struct boot_mem_region mmap[BOOT_MAX_MMAP];
	unsigned mmap_count;
	bool mmap_truncated;
	struct { uint64_t start, end; } modules[BOOT_MAX_MODULES];
	unsigned module_count;
	const void *rsdp; /* ACPI RSDP copy inside the info, NULL when absent */
	uint32_t rsdp_len;
	bool has_framebuffer;
	unsigned unknown_tags;
};

/*
 * Check and digest a multiboot2 information block of at most `limit` bytes.
 * Returns 0, or -EINVAL with a reason in err when any size, alignment or
 * terminator is wrong; nothing is read outside [info, info + total_size).
 */
int mb2_parse(const void *info, size_t limit, struct boot_info *out, char *err, size_t errlen);
/* Highest end address of usable RAM in the map. */
uint64_t boot_ram_top(const struct boot_info *bi);

#endif
