/*
 * Host tests of kernel/mb2.c against hand-made multiboot2 information
 * blocks (Multiboot2 specification, 3.6): a full valid one, then truncated
 * and malformed ones (sizes, terminators, memory map entries, alignment),
 * and random mutations. Every block handed to mb2_parse() is malloc'd at its
 * exact size (the `limit`), so ASan reports any read outside it; each case
 * runs in a child process, so such a report is one FAIL line.
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/multiboot2.h"
#include "kernel/bootinfo.h"
#define HT_CHILD_SECONDS 10 /* each case takes milliseconds */
#include "tests/host/hosttest.h"

/* ---- building blocks ---------------------------------------------------- */

#define BLK_MAX (64 * 1024)

struct blk {
	_Alignas(8) uint8_t b[BLK_MAX];
	size_t len;
};

static void blk_init(struct blk *k)
{
	memset(k->b, 0, sizeof(k->b));
	k->len = sizeof(struct mb2_info_header);
}

/* Append a tag of the given size (header included) with body bytes; pad to 8. */
static size_t blk_tag_sized(struct blk *k, uint32_t type, uint32_t size, const void *body, size_t body_len)
{
	size_t off = k->len;
	struct mb2_tag t = {.type = type, .size = size};
	memcpy(k->b + off, &t, sizeof(t));
	if (body_len)
		memcpy(k->b + off + sizeof(t), body, body_len);
	size_t used = sizeof(t) + body_len > size ? sizeof(t) + body_len : size;
	k->len = off + ((used + 7) & ~(size_t)7);
	return off;
}

static size_t blk_tag(struct blk *k, uint32_t type, const void *body, size_t body_len)
{
	return blk_tag_sized(k, type, (uint32_t)(sizeof(struct mb2_tag) + body_len), body, body_len);
}

static size_t blk_string(struct blk *k, uint32_t type, const char *s)
{
	return blk_tag(k, type, s, strlen(s) + 1);
}

static size_t blk_module(struct blk *k, uint32_t start, uint32_t end, const char *cmd)
{
	uint8_t body[64] = {0};
	memcpy(body, &start, 4);
	memcpy(body + 4, &end, 4);
	size_t n = strlen(cmd) + 1;
	memcpy(body + 8, cmd, n);
	return blk_tag(k, MB2_TAG_MODULE, body, 8 + n);
}

struct ent {
	uint64_t base, len;
	uint32_t type;
};

/* A memory map tag with entries of entry_size bytes (>= 24 to hold one). */
static size_t blk_mmap(struct blk *k, uint32_t entry_size, const struct ent *e, size_t n)
{
	static uint8_t body[BLK_MAX];
	uint32_t hdr[2] = {entry_size, 0};
	memcpy(body, hdr, 8);
	memset(body + 8, 0xcc, n * entry_size); /* the bytes past the 24 that matter */
	for (size_t i = 0; i < n; i++) {
		struct mb2_mmap_entry me = {.base = e[i].base, .len = e[i].len, .type = e[i].type};
		memcpy(body + 8 + i * entry_size, &me, entry_size < sizeof(me) ? entry_size : sizeof(me));
	}
	return blk_tag(k, MB2_TAG_MMAP, body, 8 + n * entry_size);
}

static size_t blk_end(struct blk *k)
{
	return blk_tag(k, MB2_TAG_END, NULL, 0);
}

static void blk_set_total(struct blk *k, uint32_t total)
{
	memcpy(k->b, &total, 4);
}

/* The block as the loader leaves it: exactly `alloc` bytes on the heap. */
static uint8_t *blk_copy(const struct blk *k, size_t alloc)
{
	uint8_t *p = malloc(alloc ? alloc : 1);
	memcpy(p, k->b, alloc < k->len ? alloc : k->len);
	if (alloc > k->len)
		memset(p + k->len, 0, alloc - k->len);
	return p;
}

static const struct ent std_map[] = {
	{0x0, 0x9fc00, MB2_MMAP_AVAILABLE},
	{0x9fc00, 0x400, 2},
	{0xf0000, 0x10000, 2},
	{0x100000, 0x7ee0000, MB2_MMAP_AVAILABLE},
	{0x7fe0000, 0x20000, MB2_MMAP_ACPI_RECLAIMABLE},
	{0xfffc0000, 0x40000, 2},
	{0x100000000ull, 0x40000000ull, MB2_MMAP_AVAILABLE},
	{0x200000000ull, 0, MB2_MMAP_AVAILABLE}, /* empty: skipped */
};
#define STD_MAP_USED 7

static uint8_t rsdp_old[20] = "RSD PTR \x11OEMID \x00\x01\x02\x03\x04";
static uint8_t rsdp_new[36] = "RSD PTR \x22OEMID \x02\x01\x02\x03\x04\x24";

/* Every kind of tag GRUB passes, in GRUB's order, plus unknown ones. */
static void blk_full(struct blk *k)
{
	blk_init(k);
	blk_string(k, MB2_TAG_CMDLINE, "test=all bench=seqwrite");
	blk_string(k, MB2_TAG_LOADER_NAME, "GRUB 2.06-13+deb12u1");
	blk_module(k, 0x200000, 0x280000, "initrd");
	blk_module(k, 0x300000, 0x300000, ""); /* empty module */
	uint32_t meminfo[2] = {639, 130048};
	blk_tag(k, MB2_TAG_BASIC_MEMINFO, meminfo, sizeof(meminfo));
	uint32_t bootdev[3] = {0xe0, 0xffffffff, 0xffffffff};
	blk_tag(k, MB2_TAG_BOOTDEV, bootdev, sizeof(bootdev));
	blk_mmap(k, 24, std_map, sizeof(std_map) / sizeof(std_map[0]));
	uint8_t fb[24] = {0};
	blk_tag(k, MB2_TAG_FRAMEBUFFER, fb, sizeof(fb));
	uint8_t elf[12] = {0};
	blk_tag(k, MB2_TAG_ELF_SECTIONS, elf, sizeof(elf));
	blk_tag(k, MB2_TAG_ACPI_OLD, rsdp_old, sizeof(rsdp_old));
	blk_tag(k, MB2_TAG_ACPI_NEW, rsdp_new, sizeof(rsdp_new));
	uint32_t load_base = 0x100000;
	blk_tag(k, 21, &load_base, sizeof(load_base));
	blk_tag(k, 0x1234, "odd", 3); /* a size that needs padding */
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
}
#define FULL_UNKNOWN 5 /* basic meminfo, bootdev, ELF sections, 21, 0x1234 */

/* Just what is required: a memory map and the end tag. */
static void blk_minimal(struct blk *k, const struct ent *e, size_t n)
{
	blk_init(k);
	blk_mmap(k, 24, e, n);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
}

/* ---- parsing ------------------------------------------------------------ */

static struct boot_info bi;
static char err[160];
static struct blk work, work2;

static int parse_at(const uint8_t *p, size_t limit)
{
	memset(&bi, 0x5a, sizeof(bi));
	err[0] = 0;
	return mb2_parse(p, limit, &bi, err, sizeof(err));
}

/*
 * Parse a heap copy of k holding alloc bytes, with that as the limit. The
 * copy lives until the next call, so bi's pointers into it can be checked.
 */
static int parse_blk(const struct blk *k, size_t alloc)
{
	static uint8_t *last;
	free(last);
	last = blk_copy(k, alloc);
	return parse_at(last, alloc);
}

/* Parse all of k. */
static int parse_whole(const struct blk *k)
{
	return parse_blk(k, k->len);
}

/* Fail the case, naming what was tried, what came back and the line. */
static int verdict(int line, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int verdict(int line, int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ht_reason, sizeof(ht_reason), fmt, ap);
	va_end(ap);
	size_t n = strlen(ht_reason);
	snprintf(ht_reason + n, sizeof(ht_reason) - n, ": returned %d, reason \"%s\" [line %d]", r, err, line);
	return -1;
}

/* A rejection: -EINVAL and a reason. */
#define REJECTS(expr, ...)                                                     \
	do {                                                                   \
		int r_ = (expr);                                               \
		if (r_ != -EINVAL || !err[0])                                  \
			return verdict(__LINE__, r_, __VA_ARGS__);             \
	} while (0)
#define ACCEPTS(expr, ...)                                                     \
	do {                                                                   \
		int r_ = (expr);                                               \
		if (r_ != 0)                                                   \
			return verdict(__LINE__, r_, __VA_ARGS__);             \
	} while (0)

/* ---- cases -------------------------------------------------------------- */

static int t_valid_full(void)
{
	struct blk *k = &work;
	blk_full(k);
	uint8_t *p = blk_copy(k, k->len);
	int r = parse_at(p, k->len);
	int rc = -1;
#define FCHECK(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ht_set_reason(__VA_ARGS__);                            \
			goto out;                                              \
		}                                                              \
	} while (0)
	FCHECK(r == 0, "valid block rejected: %s", err);
	FCHECK(bi.info_addr == (uintptr_t)p && bi.info_size == k->len, "info_addr/size %#llx/%u",
	       (unsigned long long)bi.info_addr, bi.info_size);
	FCHECK(!strcmp(bi.cmdline, "test=all bench=seqwrite"), "cmdline \"%s\"", bi.cmdline);
	FCHECK((const uint8_t *)bi.cmdline > p && (const uint8_t *)bi.cmdline < p + k->len,
	       "cmdline not in the block (a copy?)");
	FCHECK(!strcmp(bi.loader_name, "GRUB 2.06-13+deb12u1"), "loader \"%s\"", bi.loader_name);
	FCHECK(bi.module_count == 2 && bi.modules[0].start == 0x200000 && bi.modules[0].end == 0x280000 &&
		       bi.modules[1].start == 0x300000 && bi.modules[1].end == 0x300000,
	       "modules: %u", bi.module_count);
	FCHECK(bi.mmap_count == STD_MAP_USED && !bi.mmap_truncated, "mmap_count %u (want %d), truncated %d",
	       bi.mmap_count, STD_MAP_USED, bi.mmap_truncated);
	for (unsigned i = 0; i < STD_MAP_USED; i++)
		FCHECK(bi.mmap[i].base == std_map[i].base && bi.mmap[i].len == std_map[i].len &&
			       bi.mmap[i].type == std_map[i].type,
		       "mmap[%u] = %#llx+%#llx type %u", i, (unsigned long long)bi.mmap[i].base,
		       (unsigned long long)bi.mmap[i].len, bi.mmap[i].type);
	FCHECK(bi.rsdp && bi.rsdp_len == 36 && !memcmp(bi.rsdp, rsdp_new, 36), "RSDP: new one not kept (len %u)",
	       bi.rsdp_len);
	FCHECK((const uint8_t *)bi.rsdp > p && (const uint8_t *)bi.rsdp + 36 <= p + k->len,
	       "RSDP not in the block");
	FCHECK(bi.has_framebuffer, "framebuffer tag not seen");
	FCHECK(bi.unknown_tags == FULL_UNKNOWN, "unknown_tags %u, want %d", bi.unknown_tags, FULL_UNKNOWN);
	FCHECK(boot_ram_top(&bi) == 0x140000000ull, "boot_ram_top %#llx",
	       (unsigned long long)boot_ram_top(&bi));
	/* A limit larger than total_size is fine (the loader's region may be). */
	uint8_t *big = blk_copy(k, k->len + 64);
	r = parse_at(big, k->len + 64);
	free(big);
	FCHECK(r == 0 && bi.info_size == k->len, "limit above total_size: %d %s", r, err);
	rc = 0;
out:
	free(p);
	return rc;
#undef FCHECK
}

static int t_valid_minimal(void)
{
	struct blk *k = &work;
	blk_minimal(k, std_map, 1);
	ACCEPTS(parse_whole(k), "minimal block");
	HT_CHECK(!strcmp(bi.cmdline, "") && !strcmp(bi.loader_name, ""), "absent strings not \"\"");
	HT_CHECK(bi.module_count == 0 && bi.rsdp == NULL && bi.rsdp_len == 0 && !bi.has_framebuffer &&
			 bi.unknown_tags == 0 && bi.mmap_count == 1,
		 "fields not reset");
	/* Empty strings are fine; garbage after the end tag is not looked at. */
	blk_init(k);
	blk_string(k, MB2_TAG_CMDLINE, "");
	blk_string(k, MB2_TAG_LOADER_NAME, "");
	blk_mmap(k, 24, std_map, 2);
	blk_end(k);
	uint32_t junk[4] = {0xdead, 3, 0xbeef, 0};
	blk_tag(k, 0xdead, junk, sizeof(junk));
	blk_set_total(k, (uint32_t)k->len);
	ACCEPTS(parse_whole(k), "tags after the end tag");
	HT_CHECK(bi.unknown_tags == 0 && bi.mmap_count == 2, "tags after the end tag were parsed");
	return 0;
}

static int t_bad_pointer(void)
{
	struct blk *k = &work;
	blk_minimal(k, std_map, 2);
	REJECTS(mb2_parse(NULL, 4096, &bi, err, sizeof(err)), "NULL info");
	HT_CHECK(!strcmp(bi.cmdline, "") && bi.mmap_count == 0, "outputs not reset on failure");
	uint8_t *p = malloc(k->len + 8);
	for (int mis = 1; mis < 8; mis++) {
		memcpy(p + mis, k->b, k->len);
		err[0] = 0;
		int r = mb2_parse(p + mis, k->len, &bi, err, sizeof(err));
		if (r != -EINVAL) {
			free(p);
			HT_FAIL("info misaligned by %d accepted", mis);
		}
	}
	free(p);
	return 0;
}

static int t_limit_and_total_size(void)
{
	struct blk *k = &work;
	blk_minimal(k, std_map, 1);
	uint8_t *one = malloc(1);
	int r0 = parse_at(one, 0);
	free(one);
	REJECTS(r0, "limit 0");
	for (size_t lim = 1; lim < 8; lim++)
		REJECTS(parse_blk(k, lim), "limit %zu, below the header", lim);
	static const uint32_t small[] = {0, 1, 7, 8, 12, 15};
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		blk_minimal(k, std_map, 1);
		blk_set_total(k, small[i]);
		REJECTS(parse_whole(k), "total_size %u", small[i]);
	}
	/* 16 bytes: header and end tag, nothing else. */
	blk_init(k);
	blk_end(k);
	blk_set_total(k, 16);
	REJECTS(parse_whole(k), "header + end tag only (no memory map)");
	HT_CHECK(strstr(err, "memory map"), "reason \"%s\" does not say memory map", err);
	/* total_size beyond the limit: the parser must believe the limit. */
	blk_minimal(k, std_map, 2);
	uint32_t total = (uint32_t)k->len;
	blk_set_total(k, total + 8);
	REJECTS(parse_blk(k, total), "total_size %u > limit %u", total + 8, total);
	blk_set_total(k, 0xffffffffu);
	REJECTS(parse_blk(k, total), "total_size 0xffffffff");
	return 0;
}

static int t_total_size_above_1mib(void)
{
	/* A well-formed block of 1 MiB + 24 bytes: too big to be a real one. */
	size_t total = (1u << 20) + 24;
	uint8_t *p = calloc(1, total);
	uint32_t t32 = (uint32_t)total;
	memcpy(p, &t32, 4);
	size_t off = 8;
	struct blk *k = &work;
	blk_init(k);
	blk_mmap(k, 24, std_map, 1);
	memcpy(p + off, k->b + 8, k->len - 8);
	off += k->len - 8;
	uint32_t filler[2] = {0x77, (uint32_t)(total - off - 8)};
	memcpy(p + off, filler, 8);
	off = total - 8;
	uint32_t end[2] = {0, 8};
	memcpy(p + off, end, 8);
	err[0] = 0;
	int r = mb2_parse(p, total, &bi, err, sizeof(err));
	/* The same layout shrunk under 1 MiB is accepted: only the size is wrong. */
	size_t total2 = (1u << 20) - 64;
	t32 = (uint32_t)total2;
	memcpy(p, &t32, 4);
	filler[1] = (uint32_t)(total2 - (8 + k->len - 8) - 8);
	memcpy(p + 8 + k->len - 8, filler, 8);
	memcpy(p + total2 - 8, end, 8);
	int r2 = mb2_parse(p, total2, &bi, err, sizeof(err));
	free(p);
	HT_CHECK(r == -EINVAL, "total_size %zu accepted", total);
	HT_CHECK(r2 == 0, "the same block at %zu bytes rejected: %s", total2, err);
	return 0;
}

static int t_tag_sizes(void)
{
	struct blk *k = &work;
	static const uint32_t bad[] = {0, 1, 4, 7};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		blk_init(k);
		blk_mmap(k, 24, std_map, 2);
		blk_tag_sized(k, 0x99, bad[i], NULL, 0);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "tag size %u", bad[i]);
		HT_CHECK(strstr(err, "offset"), "reason \"%s\" gives no offset", err);
	}
	/* A tag running past total_size, by one byte and by far. */
	static const uint32_t past[] = {1, 8, 4096, 0x7fffffff, 0xffffffff - 64};
	for (size_t i = 0; i < sizeof(past) / sizeof(past[0]); i++) {
		blk_init(k);
		blk_mmap(k, 24, std_map, 2);
		size_t off = k->len;
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		uint32_t sz = (uint32_t)(k->len - off) + past[i];
		struct mb2_tag t = {.type = 0x99, .size = sz};
		memcpy(k->b + off, &t, sizeof(t));
		REJECTS(parse_whole(k), "last tag %u bytes past the end", past[i]);
		/* The same, for the memory map tag itself. */
		blk_init(k);
		size_t moff = blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		t.type = MB2_TAG_MMAP;
		t.size = (uint32_t)(k->len - moff) + past[i];
		memcpy(k->b + moff, &t, sizeof(t));
		REJECTS(parse_whole(k), "memory map tag %u bytes past the end", past[i]);
	}
	return 0;
}

static int t_end_tag(void)
{
	struct blk *k = &work;
	/* No end tag: the tags fill total_size exactly. */
	blk_init(k);
	blk_mmap(k, 24, std_map, 3);
	blk_set_total(k, (uint32_t)k->len);
	REJECTS(parse_whole(k), "no end tag");
	/* No end tag, and a last tag whose padding would run past the end. */
	blk_init(k);
	blk_mmap(k, 24, std_map, 3);
	size_t off = blk_tag(k, 0x55, "abcde", 5);
	blk_set_total(k, (uint32_t)(off + 13));
	REJECTS(parse_blk(k, off + 13), "unpadded last tag, no end tag");
	/* End tag with a size other than 8. */
	static const uint32_t sizes[] = {9, 16, 24};
	for (size_t i = 0; i < 3; i++) {
		blk_init(k);
		blk_mmap(k, 24, std_map, 3);
		blk_tag_sized(k, MB2_TAG_END, sizes[i], NULL, 0);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "end tag of size %u", sizes[i]);
	}
	/* End tag before the memory map: the map is never seen. */
	blk_init(k);
	blk_end(k);
	blk_mmap(k, 24, std_map, 3);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	REJECTS(parse_whole(k), "end tag first");
	/* Room left for less than a tag header after the last tag. */
	blk_minimal(k, std_map, 1);
	k->len -= 8; /* drop the end tag */
	blk_set_total(k, (uint32_t)k->len + 4);
	REJECTS(parse_blk(k, k->len + 4), "4 stray bytes instead of an end tag");
	return 0;
}

/* Every prefix of a valid block: with its total_size, and cut to its length. */
static int t_truncated_everywhere(void)
{
	struct blk *k = &work;
	blk_full(k);
	size_t total = k->len;
	for (size_t len = 0; len < total; len++) {
		REJECTS(parse_blk(k, len), "block cut to %zu of %zu bytes (total_size kept)", len, total);
		if (len >= 8) {
			struct blk *c = &work2;
			memcpy(c, k, sizeof(*c));
			blk_set_total(c, (uint32_t)len);
			REJECTS(parse_blk(c, len), "total_size cut to %zu of %zu", len, total);
		}
	}
	/* And the whole block with a limit one short. */
	REJECTS(parse_blk(k, total - 1), "limit one byte short");
	return 0;
}

static int t_strings(void)
{
	struct blk *k = &work;
	static const uint32_t types[] = {MB2_TAG_CMDLINE, MB2_TAG_LOADER_NAME};
	for (size_t i = 0; i < 2; i++) {
		/* No NUL inside the tag; the padding after it is zero and must not count. */
		blk_init(k);
		blk_tag(k, types[i], "abc", 3);
		blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "unterminated string tag %u", types[i]);
		/* An empty body: no room even for the NUL. */
		blk_init(k);
		blk_tag(k, types[i], NULL, 0);
		blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "string tag %u with no body", types[i]);
		/* Unterminated and last in a block with no end tag, cut at the tag's end. */
		blk_init(k);
		blk_mmap(k, 24, std_map, 2);
		size_t off = blk_tag(k, types[i], "abcdefg", 7);
		blk_set_total(k, (uint32_t)(off + 15));
		REJECTS(parse_blk(k, off + 15), "unterminated string tag %u at the end", types[i]);
		/* NUL in the middle: the string ends there. */
		blk_init(k);
		blk_tag(k, types[i], "ab\0cd", 5);
		blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		ACCEPTS(parse_whole(k), "NUL in the middle");
		const char *s = types[i] == MB2_TAG_CMDLINE ? bi.cmdline : bi.loader_name;
		HT_CHECK(!strcmp(s, "ab"), "string \"%s\"", s);
	}
	/* Two command lines: the last one counts (both are checked). */
	blk_init(k);
	blk_string(k, MB2_TAG_CMDLINE, "first");
	blk_string(k, MB2_TAG_CMDLINE, "second");
	blk_mmap(k, 24, std_map, 2);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	ACCEPTS(parse_whole(k), "two command lines");
	HT_CHECK(!strcmp(bi.cmdline, "second"), "cmdline \"%s\"", bi.cmdline);
	return 0;
}

static int t_mmap_entry_size(void)
{
	struct blk *k = &work;
	static const uint32_t bad[] = {0, 8, 16, 20, 23, 25, 28, 30, 0x80000000u};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		blk_init(k);
		uint32_t body[8] = {bad[i], 0};
		blk_tag(k, MB2_TAG_MMAP, body, sizeof(body)); /* 24 bytes of entries */
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "entry_size %u", bad[i]);
	}
	/* Larger entries (a newer version): stride by entry_size, read the first 24. */
	static const uint32_t good[] = {24, 32, 48};
	for (size_t i = 0; i < 3; i++) {
		blk_init(k);
		blk_mmap(k, good[i], std_map, 7);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		ACCEPTS(parse_whole(k), "entry_size %u", good[i]);
		HT_CHECK(bi.mmap_count == 7, "entry_size %u: %u entries", good[i], bi.mmap_count);
		for (unsigned e = 0; e < 7; e++)
			HT_CHECK(bi.mmap[e].base == std_map[e].base && bi.mmap[e].len == std_map[e].len &&
					 bi.mmap[e].type == std_map[e].type,
				 "entry_size %u: entry %u wrong", good[i], e);
	}
	return 0;
}

static int t_mmap_tag_shape(void)
{
	struct blk *k = &work;
	/* Shorter than its own fixed part. */
	static const uint32_t shorts[] = {8, 12, 15};
	for (size_t i = 0; i < 3; i++) {
		blk_init(k);
		uint32_t body[2] = {24, 0};
		blk_tag_sized(k, MB2_TAG_MMAP, shorts[i], body, shorts[i] - 8);
		blk_mmap(k, 24, std_map, 2); /* a good one after it: still an error */
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "memory map tag of size %u", shorts[i]);
	}
	/* No entries at all. */
	blk_minimal(k, std_map, 0);
	REJECTS(parse_whole(k), "memory map with no entries");
	/* Only empty entries. */
	static const struct ent empty[] = {{0x1000, 0, 1}, {0x2000, 0, 1}};
	blk_minimal(k, empty, 2);
	REJECTS(parse_whole(k), "memory map of empty entries");
	/* A partial entry at the end of the tag: ignored, never read. */
	blk_init(k);
	uint8_t body[8 + 24 + 16];
	uint32_t h[2] = {24, 0};
	memcpy(body, h, 8);
	struct mb2_mmap_entry me = {.base = 0x100000, .len = 0x100000, .type = 1};
	memcpy(body + 8, &me, 24);
	memset(body + 32, 0xff, 16);
	blk_tag(k, MB2_TAG_MMAP, body, sizeof(body));
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	ACCEPTS(parse_whole(k), "partial trailing entry");
	HT_CHECK(bi.mmap_count == 1, "partial entry counted: %u", bi.mmap_count);
	return 0;
}

static int t_mmap_wrap(void)
{
	struct blk *k = &work;
	static const struct ent wraps[][2] = {
		{{0x100000, 0x100000, 1}, {0xffffffffffff0000ull, 0x20000, 1}},
		{{0xffffffffffffffffull, 2, 1}, {0x100000, 0x100000, 1}},
		{{0x100000, 0xffffffffffffffffull, 1}, {0, 0, 1}},
		{{0x8000000000000000ull, 0x8000000000000001ull, 2}, {0x100000, 0x1000, 1}},
	};
	for (size_t i = 0; i < sizeof(wraps) / sizeof(wraps[0]); i++) {
		blk_minimal(k, wraps[i], 2);
		REJECTS(parse_whole(k), "wrapping entry, set %zu", i);
		HT_CHECK(strstr(err, "wrap"), "reason \"%s\"", err);
	}
	/* Right up to the last byte below 2^64 is fine. */
	static const struct ent top[] = {{0xfffffffffffff000ull, 0xfff, 2}, {0x100000, 0x1000, 1}};
	blk_minimal(k, top, 2);
	ACCEPTS(parse_whole(k), "entry ending at 2^64 - 1");
	return 0;
}

static int t_mmap_many_entries(void)
{
	static struct ent e[1000];
	for (size_t i = 0; i < 1000; i++) {
		e[i].base = 0x100000 * (i + 1);
		e[i].len = 0x1000;
		e[i].type = i % 3 ? 1 : 2;
	}
	struct blk *k = &work;
	static const size_t ns[] = {127, 128, 129, 1000};
	for (size_t i = 0; i < 4; i++) {
		blk_minimal(k, e, ns[i]);
		ACCEPTS(parse_whole(k), "%zu entries", ns[i]);
		unsigned want = ns[i] > BOOT_MAX_MMAP ? BOOT_MAX_MMAP : (unsigned)ns[i];
		HT_CHECK(bi.mmap_count == want && bi.mmap_truncated == (ns[i] > BOOT_MAX_MMAP),
			 "%zu entries: count %u truncated %d", ns[i], bi.mmap_count, bi.mmap_truncated);
		HT_CHECK(bi.mmap[want - 1].base == e[want - 1].base, "%zu entries: last kept entry wrong", ns[i]);
	}
	/* Two memory map tags add up. */
	blk_init(k);
	blk_mmap(k, 24, e, 100);
	blk_mmap(k, 24, e + 100, 100);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	ACCEPTS(parse_whole(k), "two map tags");
	HT_CHECK(bi.mmap_count == 128 && bi.mmap_truncated && bi.mmap[127].base == e[127].base,
		 "two map tags: count %u truncated %d", bi.mmap_count, bi.mmap_truncated);
	/* A wrapping entry past the 128 kept is still an error. */
	e[500].base = 0xfffffffffffff000ull;
	blk_minimal(k, e, 1000);
	REJECTS(parse_whole(k), "wrapping entry after the first 128");
	return 0;
}

static int t_modules(void)
{
	struct blk *k = &work;
	blk_init(k);
	for (uint32_t i = 0; i < 12; i++)
		blk_module(k, 0x1000000 + i * 0x10000, 0x1000000 + i * 0x10000 + 0x800, "m");
	blk_mmap(k, 24, std_map, 2);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	ACCEPTS(parse_whole(k), "12 modules");
	HT_CHECK(bi.module_count == BOOT_MAX_MODULES, "module_count %u", bi.module_count);
	HT_CHECK(bi.modules[7].start == 0x1070000 && bi.modules[7].end == 0x1070800, "module 7 wrong");
	/* Ends before it starts. */
	blk_init(k);
	blk_module(k, 0x200000, 0x1fffff, "bad");
	blk_mmap(k, 24, std_map, 2);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	REJECTS(parse_whole(k), "module ending before its start");
	/* Too short to hold start and end. */
	static const uint32_t shorts[] = {8, 12, 15};
	for (size_t i = 0; i < 3; i++) {
		blk_init(k);
		uint32_t body[2] = {0x200000, 0x300000};
		blk_tag_sized(k, MB2_TAG_MODULE, shorts[i], body, shorts[i] - 8);
		blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		REJECTS(parse_whole(k), "module tag of size %u", shorts[i]);
	}
	return 0;
}

static int t_acpi(void)
{
	struct blk *k = &work;
	/* Old only. */
	blk_init(k);
	size_t off = blk_tag(k, MB2_TAG_ACPI_OLD, rsdp_old, 20);
	blk_mmap(k, 24, std_map, 2);
	blk_end(k);
	blk_set_total(k, (uint32_t)k->len);
	uint8_t *p = blk_copy(k, k->len);
	int r = parse_at(p, k->len);
	bool where = bi.rsdp == p + off + 8;
	free(p);
	HT_CHECK(r == 0 && where && bi.rsdp_len == 20, "old RSDP: %d, at the tag's body %d, len %u", r, where,
		 bi.rsdp_len);
	/* New before old, and old before new: the new one wins. */
	for (int order = 0; order < 2; order++) {
		blk_init(k);
		if (order)
			blk_tag(k, MB2_TAG_ACPI_OLD, rsdp_old, 20);
		blk_tag(k, MB2_TAG_ACPI_NEW, rsdp_new, 36);
		if (!order)
			blk_tag(k, MB2_TAG_ACPI_OLD, rsdp_old, 20);
		blk_mmap(k, 24, std_map, 2);
		blk_end(k);
		blk_set_total(k, (uint32_t)k->len);
		ACCEPTS(parse_whole(k), "old and new RSDP, order %d", order);
		HT_CHECK(bi.rsdp_len == 36, "order %d: RSDP len %u, the new one not kept", order, bi.rsdp_len);
	}
	/* Too short for even a version-1 RSDP. */
	static const uint32_t types[] = {MB2_TAG_ACPI_OLD, MB2_TAG_ACPI_NEW};
	for (size_t i = 0; i < 2; i++) {
		for (size_t len = 0; len < 20; len += 19) {
			blk_init(k);
			blk_tag(k, types[i], rsdp_new, len);
			blk_mmap(k, 24, std_map, 2);
			blk_end(k);
			blk_set_total(k, (uint32_t)k->len);
			REJECTS(parse_whole(k), "ACPI tag %u with %zu bytes", types[i], len);
		}
	}
	return 0;
}

static int t_error_buffer(void)
{
	struct blk *k = &work;
	blk_minimal(k, std_map, 0);
	uint8_t *p = blk_copy(k, k->len);
	/* A short error buffer is cut, not overrun (exact-size heap buffer). */
	char *small = malloc(5);
	int r1 = mb2_parse(p, k->len, &bi, small, 5);
	bool cut = strlen(small) == 4;
	free(small);
	int r2 = mb2_parse(p, k->len, &bi, NULL, 0);
	free(p);
	HT_CHECK(r1 == -EINVAL && cut, "5-byte error buffer: %d", r1);
	HT_CHECK(r2 == -EINVAL, "no error buffer: %d", r2);
	return 0;
}

/*
 * Random damage to the full block: overwrite 32-bit words with sizes near
 * the interesting edges, flip bytes, cut it short. Whatever comes back must
 * be -EINVAL with a reason, or 0 with everything inside the block.
 */
static int t_fuzz_mutations(void)
{
	struct blk *k = &work, *m = &work2;
	blk_full(k);
	uint64_t rng = 0x243f6a8885a308d3ull;
	unsigned accepted = 0, rejected = 0;
	for (int iter = 0; iter < 6000; iter++) {
		memcpy(m, k, sizeof(*m));
		int nmut = 1 + (int)(ht_rand(&rng) % 4);
		for (int j = 0; j < nmut; j++) {
			uint64_t r = ht_rand(&rng);
			size_t at = (r % (m->len / 4)) * 4;
			uint32_t v;
			switch ((r >> 32) % 8) {
			case 0: v = 0; break;
			case 1: v = (uint32_t)(r >> 40) % 64; break;
			case 2: v = 0xffffffffu - (uint32_t)(r >> 40) % 16; break;
			case 3: v = (uint32_t)(m->len - at) + (uint32_t)(r >> 40) % 16 - 8; break;
			case 4: v = 0x80000000u; break;
			case 5: {
				uint32_t old;
				memcpy(&old, m->b + at, 4);
				v = old ^ (1u << ((r >> 40) % 32));
				break;
			}
			default: v = (uint32_t)(r >> 40); break;
			}
			memcpy(m->b + at, &v, 4);
		}
		size_t alloc = m->len;
		if (ht_rand(&rng) % 4 == 0)
			alloc = ht_rand(&rng) % (m->len + 1);
		uint8_t *p = blk_copy(m, alloc);
		int r = parse_at(p, alloc);
		const uint8_t *lo = p, *hi = p + alloc;
		int bad = 0;
		if (r == 0) {
			accepted++;
			const uint8_t *c = (const uint8_t *)bi.cmdline, *l = (const uint8_t *)bi.loader_name;
			if (*bi.cmdline && (c < lo || c + strlen(bi.cmdline) >= hi))
				bad = 1;
			if (*bi.loader_name && (l < lo || l + strlen(bi.loader_name) >= hi))
				bad = 2;
			if (bi.rsdp && ((const uint8_t *)bi.rsdp < lo || (const uint8_t *)bi.rsdp + bi.rsdp_len > hi))
				bad = 3;
			if (bi.mmap_count == 0 || bi.mmap_count > BOOT_MAX_MMAP ||
			    bi.module_count > BOOT_MAX_MODULES || bi.info_size > alloc)
				bad = 4;
			for (unsigned i = 0; i < bi.mmap_count && i < BOOT_MAX_MMAP; i++)
				if (bi.mmap[i].base + bi.mmap[i].len < bi.mmap[i].base)
					bad = 5;
		} else {
			rejected++;
			if (r != -EINVAL || !err[0])
				bad = 6;
		}
		free(p);
		HT_CHECK(!bad, "iteration %d: result %d, check %d failed (%s)", iter, r, bad, err);
	}
	HT_CHECK(accepted > 100 && rejected > 1000, "fuzz too narrow: %u accepted, %u rejected", accepted,
		 rejected);
	return 0;
}

int main(void)
{
	ht_run_isolated("mb2_valid_full", t_valid_full);
	ht_run_isolated("mb2_valid_minimal", t_valid_minimal);
	ht_run_isolated("mb2_bad_pointer", t_bad_pointer);
	ht_run_isolated("mb2_limit_and_total_size", t_limit_and_total_size);
	ht_run_isolated("mb2_total_size_above_1mib", t_total_size_above_1mib);
	ht_run_isolated("mb2_tag_sizes", t_tag_sizes);
	ht_run_isolated("mb2_end_tag", t_end_tag);
	ht_run_isolated("mb2_truncated_everywhere", t_truncated_everywhere);
	ht_run_isolated("mb2_strings", t_strings);
	ht_run_isolated("mb2_mmap_entry_size", t_mmap_entry_size);
	ht_run_isolated("mb2_mmap_tag_shape", t_mmap_tag_shape);
	ht_run_isolated("mb2_mmap_wrap", t_mmap_wrap);
	ht_run_isolated("mb2_mmap_many_entries", t_mmap_many_entries);
	ht_run_isolated("mb2_modules", t_modules);
	ht_run_isolated("mb2_acpi", t_acpi);
	ht_run_isolated("mb2_error_buffer", t_error_buffer);
	ht_run_isolated("mb2_fuzz_mutations", t_fuzz_mutations);
	return ht_exit_status();
}
