/*
 * Multiboot2 boot information as GRUB leaves it in memory (Multiboot2
 * specification, 3.6). Every tag is 8-byte aligned; sizes come from the
 * loader and are checked by mb2_parse() before use.
 */
#ifndef ARCH_X86_64_MULTIBOOT2_H
#define ARCH_X86_64_MULTIBOOT2_H

#include <stdint.h>

#define MB2_BOOT_MAGIC 0x36d76289u

#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER_NAME 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_BASIC_MEMINFO 4
#define MB2_TAG_BOOTDEV 5
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_ELF_SECTIONS 9
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15

#define MB2_MMAP_AVAILABLE 1
#define MB2_MMAP_ACPI_RECLAIMABLE 3
#define MB2_MMAP_NVS 4
#define MB2_MMAP_BADRAM 5

struct mb2_info_header {
	uint32_t total_size;
	uint32_t reserved;
};
_Static_assert(sizeof(struct mb2_info_header) == 8, "mb2 info header");

struct mb2_tag {
	uint32_t type;
	uint32_t size;
};
_Static_assert(sizeof(struct mb2_tag) == 8, "mb2 tag");

struct mb2_tag_module {
	uint32_t type, size;
	uint32_t mod_start, mod_end;
	/* char cmdline[] follows */
};
_Static_assert(sizeof(struct mb2_tag_module) == 16, "mb2 module tag");

struct mb2_tag_mmap {
	uint32_t type, size;
	uint32_t entry_size, entry_version;
	/* struct mb2_mmap_entry entries[] follow */
};
_Static_assert(sizeof(struct mb2_tag_mmap) == 16, "mb2 mmap tag");

struct mb2_mmap_entry {
	uint64_t base;
	uint64_t len;
	uint32_t type;
	uint32_t reserved;
};
_Static_assert(sizeof(struct mb2_mmap_entry) == 24, "mb2 mmap entry");

#endif
