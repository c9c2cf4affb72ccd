/*
 * Multiboot2 information parsing (Multiboot2 specification, 3.6). The block
 * comes from the loader: every size is checked before anything it covers is
 * read. Built into the kernel and into host tests (tests/host/test_mb2.c).
 */
#include "arch/x86_64/multiboot2.h"
#include "kernel/bootinfo.h"

#ifdef QUILL_HOST
#include <errno.h>
#include <stdio.h>
#include <string.h>
#else
#include "kernel/kernel.h"
#endif

#define MB2_INFO_MAX (1u << 20) /* GRUB's info is a few KiB; more is nonsense */

static int mb2_fail(char *err, size_t errlen, const char *why, uint32_t at)
{
	snprintf(err, errlen, "%s (at offset %u)", why, at);
	return -EINVAL;
}

/* Is there a NUL in s[0..max)? */
static bool mb2_terminated(const char *s, size_t max)
{
	for (size_t i = 0; i < max; i++)
		if (s[i] == 0)
			return true;
	return false;
}

int mb2_parse(const void *info, size_t limit, struct boot_info *bi, char *err, size_t errlen)
{
	memset(bi, 0, sizeof(*bi));
	bi->cmdline = "";
	bi->loader_name = "";
	if (!info || ((uintptr_t)info & 7))
		return mb2_fail(err, errlen, "info pointer is NULL or not 8-byte aligned", 0);
	if (limit < sizeof(struct mb2_info_header))
		return mb2_fail(err, errlen, "info block shorter than its header", 0);
	const struct mb2_info_header *hdr = info;
	uint32_t total = hdr->total_size;
	if (total < sizeof(*hdr) + sizeof(struct mb2_tag) || total > limit || total > MB2_INFO_MAX)
		return mb2_fail(err, errlen, "info total_size out of range", 0);
	bi->info_addr = (uintptr_t)info;
	bi->info_size = total;

	const uint8_t *base = info;
	uint32_t off = sizeof(*hdr);
	bool saw_end = false;
	while (off + sizeof(struct mb2_tag) <= total) {
		const struct mb2_tag *tag = (const void *)(base + off);
		if (tag->size < sizeof(struct mb2_tag) || tag->size > total - off)
			return mb2_fail(err, errlen, "tag size out of range", off);
		const uint8_t *body = base + off + sizeof(*tag);
		uint32_t body_len = tag->size - sizeof(*tag);
		switch (tag->type) {
		case MB2_TAG_END:
			if (tag->size != 8)
				return mb2_fail(err, errlen, "end tag size is not 8", off);
			saw_end = true;
			break;
		case MB2_TAG_CMDLINE:
		case MB2_TAG_LOADER_NAME:
			if (!mb2_terminated((const char *)body, body_len))
				return mb2_fail(err, errlen, "string tag not NUL-terminated", off);
			if (tag->type == MB2_TAG_CMDLINE)
				bi->cmdline = (const char *)body;
			else
				bi->loader_name = (const char *)body;
			break;
		case MB2_TAG_MODULE: {
			if (tag->size < sizeof(struct mb2_tag_module))
				return mb2_fail(err, errlen, "module tag too short", off);
			const struct mb2_tag_module *m = (const void *)tag;
			if (m->mod_end < m->mod_start)
				return mb2_fail(err, errlen, "module ends before it starts", off);
			if (bi->module_count < BOOT_MAX_MODULES) {
				bi->modules[bi->module_count].start = m->mod_start;
				bi->modules[bi->module_count].end = m->mod_end;
				bi->module_count++;
			}
			break;
		}
		case MB2_TAG_MMAP: {
			if (tag->size < sizeof(struct mb2_tag_mmap))
				return mb2_fail(err, errlen, "memory map tag too short", off);
			const struct mb2_tag_mmap *mm = (const void *)tag;
			if (mm->entry_size < sizeof(struct mb2_mmap_entry) || (mm->entry_size & 7))
				return mb2_fail(err, errlen, "memory map entry size invalid", off);
			uint32_t n = (tag->size - sizeof(*mm)) / mm->entry_size;
			const uint8_t *e = (const uint8_t *)mm + sizeof(*mm);
			for (uint32_t i = 0; i < n; i++, e += mm->entry_size) {
				const struct mb2_mmap_entry *ent = (const void *)e;
				if (ent->len == 0)
					continue;
				if (ent->base + ent->len < ent->base)
					return mb2_fail(err, errlen, "memory map entry wraps around", off);
				if (bi->mmap_count == BOOT_MAX_MMAP) {
					bi->mmap_truncated = true;
					continue;
				}
				bi->mmap[bi->mmap_count].base = ent->base;
				bi->mmap[bi->mmap_count].len = ent->len;
				bi->mmap[bi->mmap_count].type = ent->type;
				bi->mmap_count++;
			}
			break;
		}
		case MB2_TAG_ACPI_OLD:
		case MB2_TAG_ACPI_NEW:
			/* RSDP v1 is 20 bytes, v2+ 36; prefer the newer when both come. */
			if (body_len < 20)
				return mb2_fail(err, errlen, "ACPI RSDP tag too short", off);
			if (!bi->rsdp || tag->type == MB2_TAG_ACPI_NEW) {
				bi->rsdp = body;
				bi->rsdp_len = body_len;
			}
			break;
		case MB2_TAG_FRAMEBUFFER:
			bi->has_framebuffer = true;
			break;
		default:
			bi->unknown_tags++;
			break;
		}
		if (saw_end)
			break;
		off += (tag->size + 7) & ~7u;
	}
	if (!saw_end)
		return mb2_fail(err, errlen, "no end tag inside total_size", off);
	if (bi->mmap_count == 0)
		return mb2_fail(err, errlen, "no memory map", off);
	return 0;
}

uint64_t boot_ram_top(const struct boot_info *bi)
{
	uint64_t top = 0;
	for (unsigned i = 0; i < bi->mmap_count; i++)
		if (bi->mmap[i].type == MB2_MMAP_AVAILABLE && bi->mmap[i].base + bi->mmap[i].len > top)
			top = bi->mmap[i].base + bi->mmap[i].len;
	return top;
}
