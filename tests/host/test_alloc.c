/*
 * Host tests of the page-frame allocator (kernel/frames.c) and kmalloc
 * (kernel/kmalloc.c). A 64 MiB buffer aligned to 2 MiB stands in for
 * physical RAM at FAKE_BASE (frames_virt_offset maps one onto the other), so
 * physical alignment is also alignment in the buffer.
 *
 * The cases run in order and share the allocator's state: each one gives
 * back what it took unless it says otherwise. panic() (from assert and from
 * kfree's checks) longjmps back into the case that expected it.
 * Built twice: test_alloc and test_alloc_debug (-DQUILL_DEBUG, which makes
 * kfree poison freed blocks).
 *
 * Prints TEST <name> PASS|FAIL <reason>; exits 0 only if all passed.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kernel.h"
#include "tests/host/hosttest.h"

uint64_t frames_ignored(void); /* frames.c; declared by its one user, main.c */

#define FAKE_BASE 0x100000000ull /* 4 GiB: physical addresses above 32 bits */
#define ARENA_BYTES (64ull << 20)
#define ARENA_PAGES (ARENA_BYTES / PAGE_SIZE)
#define GIB (1ull << 30)
#define FRAMES_LIMIT (64 * GIB) /* FRAMES_MAX_BYTES */

static uint8_t *arena;

/* ---- panic() for the host: record and jump back ------------------------ */

static jmp_buf *panic_jmp;
static char panic_msg[512];
static const char *cur_case;
static bool cur_isolated;

void panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(panic_msg, sizeof(panic_msg), fmt, ap);
	va_end(ap);
	if (!panic_jmp) {
		/* Allocator state is unknown now: stop here. */
		fprintf(stderr, "test_alloc: unexpected panic in %s: %s\n", cur_case, panic_msg);
		if (cur_isolated)
			_exit(3); /* the parent prints the FAIL line */
		printf("TEST %s FAIL unexpected panic: %s\n", cur_case, panic_msg);
		fflush(stdout);
		_exit(1);
	}
	jmp_buf *j = panic_jmp;
	panic_jmp = NULL;
	longjmp(*j, 1);
}

/* stmt must panic with a message containing want. */
#define EXPECT_PANIC(stmt, want)                                               \
	do {                                                                   \
		jmp_buf jb_;                                                   \
		panic_msg[0] = 0;                                              \
		panic_jmp = &jb_;                                              \
		if (setjmp(jb_) == 0) {                                        \
			stmt;                                                  \
			panic_jmp = NULL;                                      \
			HT_FAIL("no panic from %s [line %d]", #stmt, __LINE__); \
		}                                                              \
		HT_CHECK(strstr(panic_msg, want), "%s: panic \"%s\", want \"%s\"", \
			 #stmt, panic_msg, want);                              \
	} while (0)

/* ---- helpers ------------------------------------------------------------ */

static bool in_arena(uint64_t phys, uint64_t len)
{
	return phys >= FAKE_BASE && phys - FAKE_BASE <= ARENA_BYTES && len <= ARENA_BYTES - (phys - FAKE_BASE);
}

static bool all_bytes(const void *p, int c, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)c)
			return false;
	return true;
}

static size_t first_not(const void *p, int c, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i] != (uint8_t)c)
			return i;
	return n;
}

/* ---- frames ------------------------------------------------------------- */

static int t_frames_unaligned_region(void)
{
	/* [base+100, base+8342) holds one whole page: base+4096. */
	frames_init_region(FAKE_BASE + 100, 8192 + 50);
	HT_CHECK(frames_total_count() == 1 && frames_free_count() == 1, "total %llu free %llu, want 1 1",
		 (unsigned long long)frames_total_count(), (unsigned long long)frames_free_count());
	frames_init_region(FAKE_BASE + 20000, 100); /* inside one page: nothing */
	frames_init_region(FAKE_BASE + 5 * PAGE_SIZE, 0);
	HT_CHECK(frames_total_count() == 1, "sub-page regions added frames (%llu)",
		 (unsigned long long)frames_total_count());
	uint64_t p = frames_alloc(1, PAGE_SIZE);
	HT_CHECK(p == FAKE_BASE + PAGE_SIZE, "got %#llx, want %#llx", (unsigned long long)p,
		 (unsigned long long)(FAKE_BASE + PAGE_SIZE));
	HT_CHECK(frames_alloc(1, PAGE_SIZE) == 0, "second page out of a one-page region");
	HT_CHECK(frames_free_count() == 0, "free count %llu", (unsigned long long)frames_free_count());
	frames_free(p, 1);
	HT_CHECK(frames_free_count() == 1, "free count after free %llu", (unsigned long long)frames_free_count());
	return 0;
}

static int t_frames_init_counts(void)
{
	frames_init_region(FAKE_BASE, ARENA_BYTES);
	HT_CHECK(frames_total_count() == ARENA_PAGES && frames_free_count() == ARENA_PAGES,
		 "total %llu free %llu, want %llu (a page added twice counts once)",
		 (unsigned long long)frames_total_count(), (unsigned long long)frames_free_count(),
		 (unsigned long long)ARENA_PAGES);
	frames_init_region(FAKE_BASE + 8 * PAGE_SIZE, 16 * PAGE_SIZE); /* again: no change */
	HT_CHECK(frames_total_count() == ARENA_PAGES, "re-added region counted again");
	return 0;
}

static int t_frames_bad_requests(void)
{
	uint64_t before = frames_free_count();
	HT_CHECK(frames_alloc(0, PAGE_SIZE) == 0, "0 pages allocated");
	HT_CHECK(frames_alloc(1, 0) == 0, "align 0 accepted");
	HT_CHECK(frames_alloc(1, 2048) == 0, "align below a page accepted");
	HT_CHECK(frames_alloc(1, 3 * PAGE_SIZE) == 0, "align not a power of two accepted");
	HT_CHECK(frames_alloc(1, PAGE_SIZE + 1) == 0, "align 4097 accepted");
	HT_CHECK(frames_free_count() == before, "a refused request took frames");
	return 0;
}

static int t_frames_alloc_basic(void)
{
	uint64_t before = frames_free_count();
	uint64_t p = frames_alloc(1, PAGE_SIZE);
	HT_CHECK(p && in_arena(p, PAGE_SIZE) && IS_ALIGNED(p, PAGE_SIZE), "bad page %#llx",
		 (unsigned long long)p);
	HT_CHECK(phys_to_virt(p) == arena + (p - FAKE_BASE), "phys_to_virt off");
	HT_CHECK(virt_to_phys(arena + (p - FAKE_BASE)) == p, "virt_to_phys off");
	HT_CHECK(all_bytes(phys_to_virt(p), 0, PAGE_SIZE), "page not zeroed");
	HT_CHECK(frames_free_count() == before - 1, "free count not down by one");
	memset(phys_to_virt(p), 0xee, PAGE_SIZE);
	frames_free(p, 1);
	HT_CHECK(frames_free_count() == before, "free count not restored");
	HT_CHECK(frames_total_count() == ARENA_PAGES, "total changed by alloc/free");
	return 0;
}

/* Allocate runs of each size at one alignment; check them; free them. */
static int contiguous_at(uint64_t align, const size_t *counts, size_t ncounts)
{
	struct {
		uint64_t p;
		size_t n;
	} got[8];
	size_t ngot = 0;
	int rc = 0;
#define GCHECK(cond, ...)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			ht_set_reason(__VA_ARGS__);                            \
			rc = -1;                                               \
			goto out;                                              \
		}                                                              \
	} while (0)
	for (size_t c = 0; c < ncounts; c++) {
		size_t n = counts[c];
		uint64_t p = frames_alloc(n, align);
		GCHECK(p, "%zu pages aligned %#llx: out of memory with %llu pages free", n,
		       (unsigned long long)align, (unsigned long long)frames_free_count());
		got[ngot].p = p;
		got[ngot].n = n;
		ngot++;
		GCHECK(IS_ALIGNED(p, align), "%#llx not aligned to %#llx", (unsigned long long)p,
		       (unsigned long long)align);
		GCHECK(in_arena(p, n * PAGE_SIZE), "%#llx+%zu pages outside RAM", (unsigned long long)p, n);
		size_t z = first_not(phys_to_virt(p), 0, n * PAGE_SIZE);
		GCHECK(z == n * PAGE_SIZE, "%zu pages at %#llx: byte %zu not zeroed", n, (unsigned long long)p, z);
		for (size_t i = 0; i + 1 < ngot; i++)
			GCHECK(p + n * PAGE_SIZE <= got[i].p || got[i].p + got[i].n * PAGE_SIZE <= p,
			       "%#llx+%zu overlaps %#llx+%zu", (unsigned long long)p, n,
			       (unsigned long long)got[i].p, got[i].n);
		memset(phys_to_virt(p), (int)ngot, n * PAGE_SIZE);
	}
	for (size_t i = 0; i < ngot; i++)
		GCHECK(all_bytes(phys_to_virt(got[i].p), (int)(i + 1), got[i].n * PAGE_SIZE),
		       "block %zu overwritten by a later one", i);
out:
	for (size_t i = 0; i < ngot; i++)
		frames_free(got[i].p, got[i].n);
	/* Leave the memory dirty for the next round's zeroing check. */
	memset(arena, 0xa5, ARENA_BYTES);
	return rc;
#undef GCHECK
}

static int t_frames_contiguous_aligned(void)
{
	static const uint64_t aligns[] = {PAGE_SIZE, 8192, 64 << 10, 2 << 20, 4 << 20};
	static const size_t counts[] = {1, 3, 16, 512, 513, 2049};
	uint64_t before = frames_free_count();
	memset(arena, 0xa5, ARENA_BYTES); /* all free now: dirty it */
	for (size_t a = 0; a < ARRAY_SIZE(aligns); a++)
		if (contiguous_at(aligns[a], counts, ARRAY_SIZE(counts)))
			return -1;
	/* 16 MiB alignment: the region has four such places; use three. */
	static const size_t big[] = {1, 513, 2049};
	if (contiguous_at(16 << 20, big, ARRAY_SIZE(big)))
		return -1;
	/* Four runs of 16 MiB, 16 MiB-aligned: exactly the whole region. */
	static const size_t quarter[] = {4096, 4096, 4096, 4096};
	if (contiguous_at(16 << 20, quarter, 4))
		return -1;
	HT_CHECK(frames_free_count() == before, "free count %llu, want %llu",
		 (unsigned long long)frames_free_count(), (unsigned long long)before);
	return 0;
}

static int t_frames_reserve(void)
{
	uint64_t free0 = frames_free_count(), total0 = frames_total_count();
	frames_reserve(FAKE_BASE + 10 * PAGE_SIZE + 5, 100); /* page 10 */
	HT_CHECK(frames_free_count() == free0 - 1 && frames_total_count() == total0 - 1,
		 "reserving inside one page: free %llu total %llu", (unsigned long long)frames_free_count(),
		 (unsigned long long)frames_total_count());
	frames_reserve(FAKE_BASE + 20 * PAGE_SIZE - 1, 2); /* straddles pages 19 and 20 */
	HT_CHECK(frames_free_count() == free0 - 3, "straddling reserve: free %llu, want %llu",
		 (unsigned long long)frames_free_count(), (unsigned long long)(free0 - 3));
	frames_reserve(FAKE_BASE + 30 * PAGE_SIZE, 0);
	frames_reserve(FAKE_BASE + 10 * PAGE_SIZE, PAGE_SIZE); /* again: no change */
	HT_CHECK(frames_free_count() == free0 - 3 && frames_total_count() == total0 - 3,
		 "empty or repeated reserve changed the counts");
	/* Every free page, one at a time: the reserved ones never come out. */
	static uint64_t pages[ARENA_PAGES];
	size_t n = 0;
	uint64_t p;
	while (n < ARENA_PAGES && (p = frames_alloc(1, PAGE_SIZE)) != 0) {
		uint64_t idx = (p - FAKE_BASE) / PAGE_SIZE;
		HT_CHECK(idx != 10 && idx != 19 && idx != 20, "reserved page %llu handed out",
			 (unsigned long long)idx);
		pages[n++] = p;
	}
	HT_CHECK(n == free0 - 3, "%zu pages allocated, want %llu", n, (unsigned long long)(free0 - 3));
	HT_CHECK(frames_free_count() == 0, "free count %llu at OOM", (unsigned long long)frames_free_count());
	for (size_t i = 0; i < n; i++)
		frames_free(pages[i], 1);
	/* Adding the region back undoes the reserve. */
	frames_init_region(FAKE_BASE, ARENA_BYTES);
	HT_CHECK(frames_free_count() == free0 && frames_total_count() == total0,
		 "re-adding: free %llu total %llu", (unsigned long long)frames_free_count(),
		 (unsigned long long)frames_total_count());
	return 0;
}

static int t_frames_oom(void)
{
	uint64_t free0 = frames_free_count();
	HT_CHECK(frames_alloc(free0 + 1, PAGE_SIZE) == 0, "more pages than free allocated");
	HT_CHECK(frames_alloc(SIZE_MAX, PAGE_SIZE) == 0, "SIZE_MAX pages allocated");
	HT_CHECK(frames_alloc(1, 1ull << 40) == 0, "1 TiB alignment satisfied from a 64 MiB region");
	HT_CHECK(frames_alloc(1, 1ull << 63) == 0, "2^63 alignment satisfied");
	/* All of it at once, then nothing more. */
	uint64_t all = frames_alloc(free0, PAGE_SIZE);
	HT_CHECK(all == FAKE_BASE, "whole region: got %#llx", (unsigned long long)all);
	HT_CHECK(frames_alloc(1, PAGE_SIZE) == 0 && frames_free_count() == 0, "a page after all of them");
	frames_free(all, free0);
	HT_CHECK(frames_free_count() == free0, "free count not restored");
	/* Fragmented: every other page free. Plenty free, no run of two. */
	static uint64_t pages[ARENA_PAGES];
	for (size_t i = 0; i < ARENA_PAGES; i++) {
		pages[i] = frames_alloc(1, PAGE_SIZE);
		HT_CHECK(pages[i], "page %zu of %llu: out of memory", i, (unsigned long long)ARENA_PAGES);
	}
	for (size_t i = 0; i < ARENA_PAGES; i++)
		if (((pages[i] - FAKE_BASE) / PAGE_SIZE) % 2 == 0)
			frames_free(pages[i], 1);
	HT_CHECK(frames_free_count() == ARENA_PAGES / 2, "half not free");
	HT_CHECK(frames_alloc(2, PAGE_SIZE) == 0, "two contiguous pages found in a checkerboard");
	uint64_t a = frames_alloc(1, 8192);
	HT_CHECK(a && IS_ALIGNED(a, 8192), "8 KiB-aligned page not found: %#llx", (unsigned long long)a);
	uint64_t b = frames_alloc(1, PAGE_SIZE);
	HT_CHECK(b && b != a, "single page not found");
	frames_free(a, 1);
	frames_free(b, 1);
	for (size_t i = 0; i < ARENA_PAGES; i++)
		if (((pages[i] - FAKE_BASE) / PAGE_SIZE) % 2 == 1)
			frames_free(pages[i], 1);
	HT_CHECK(frames_free_count() == free0, "free count %llu, want %llu",
		 (unsigned long long)frames_free_count(), (unsigned long long)free0);
	return 0;
}

/*
 * Random alloc/free against a shadow map of who owns each page. Checks
 * every allocation (range, alignment, no page owned twice, zeroed), each
 * block's contents on free (nobody else wrote it), the free count, and that
 * every refusal is real: no fitting run exists in the shadow map.
 */
static uint16_t shadow[ARENA_PAGES]; /* 0 free, else owner id */

static bool shadow_has_run(size_t n, uint64_t align)
{
	static uint32_t run[ARENA_PAGES + 1]; /* free pages from i on */
	run[ARENA_PAGES] = 0;
	for (size_t i = ARENA_PAGES; i-- > 0;)
		run[i] = shadow[i] ? 0 : run[i + 1] + 1;
	for (uint64_t i = 0; i < ARENA_PAGES; i += align / PAGE_SIZE)
		if (run[i] >= n)
			return true;
	return false;
}

/* Every page of the n-page block at virtual p is filled with tag. */
static bool pages_are(const uint8_t *p, uint8_t tag, size_t n)
{
	static uint8_t pat[PAGE_SIZE];
	memset(pat, tag, sizeof(pat));
	for (size_t i = 0; i < n; i++)
		if (memcmp(p + i * PAGE_SIZE, pat, PAGE_SIZE))
			return false;
	return true;
}

static int t_frames_stress_shadow(void)
{
	enum { LIVE_MAX = 512, OPS = 20000 };
	static struct {
		uint64_t p;
		size_t n;
		uint16_t id;
	} live[LIVE_MAX];
	static uint8_t zero[PAGE_SIZE * 64];
	size_t nlive = 0;
	uint64_t free0 = frames_free_count(), shadow_free = free0;
	HT_CHECK(free0 == ARENA_PAGES, "%llu pages free at the start, want all %llu (an earlier case leaked)",
		 (unsigned long long)free0, (unsigned long long)ARENA_PAGES);
	uint16_t next_id = 1;
	uint64_t rng = 0x1234567887654321ull;
	unsigned refused = 0, allocated = 0;
	memset(shadow, 0, sizeof(shadow));
	memset(arena, 0x77, ARENA_BYTES); /* all free now: dirty it */
	for (int op = 0; op < OPS; op++) {
		uint64_t r = ht_rand(&rng);
		bool do_alloc = nlive == 0 || (nlive < LIVE_MAX && r % 100 < 55);
		if (do_alloc) {
			size_t n = r >> 8 & 1 ? 1 + (r >> 9) % 8 : 1 + (r >> 9) % (r >> 20 & 1 ? 64 : 700);
			uint64_t align = PAGE_SIZE;
			unsigned ar = (r >> 32) % 16;
			if (ar >= 8)
				align = 8192;
			if (ar >= 12)
				align = 64 << 10;
			if (ar >= 15)
				align = 2 << 20;
			uint64_t p = frames_alloc(n, align);
			if (!p) {
				refused++;
				HT_CHECK(!shadow_has_run(n, align),
					 "op %d: %zu pages aligned %#llx refused, but a free run exists", op, n,
					 (unsigned long long)align);
				continue;
			}
			HT_CHECK(in_arena(p, n * PAGE_SIZE) && IS_ALIGNED(p, align), "op %d: %#llx (%zu, %#llx)",
				 op, (unsigned long long)p, n, (unsigned long long)align);
			uint64_t idx = (p - FAKE_BASE) / PAGE_SIZE;
			for (size_t i = 0; i < n; i++)
				HT_CHECK(shadow[idx + i] == 0, "op %d: page %llu handed out twice (owner %u)", op,
					 (unsigned long long)(idx + i), shadow[idx + i]);
			for (size_t off = 0; off < n * PAGE_SIZE; off += sizeof(zero)) {
				size_t len = MIN(sizeof(zero), n * PAGE_SIZE - off);
				HT_CHECK(!memcmp((uint8_t *)phys_to_virt(p) + off, zero, len),
					 "op %d: %zu pages at %#llx not zeroed", op, n, (unsigned long long)p);
			}
			uint16_t id = next_id++;
			if (next_id == 0)
				next_id = 1;
			for (size_t i = 0; i < n; i++)
				shadow[idx + i] = id;
			memset(phys_to_virt(p), id & 0xff, n * PAGE_SIZE);
			live[nlive].p = p;
			live[nlive].n = n;
			live[nlive].id = id;
			nlive++;
			shadow_free -= n;
			allocated++;
		} else {
			size_t k = (r >> 8) % nlive;
			uint64_t p = live[k].p;
			size_t n = live[k].n;
			HT_CHECK(pages_are(phys_to_virt(p), live[k].id & 0xff, n),
				 "op %d: block %#llx+%zu changed while allocated", op, (unsigned long long)p, n);
			uint64_t idx = (p - FAKE_BASE) / PAGE_SIZE;
			for (size_t i = 0; i < n; i++)
				shadow[idx + i] = 0;
			frames_free(p, n);
			shadow_free += n;
			live[k] = live[--nlive];
		}
		HT_CHECK(frames_free_count() == shadow_free, "op %d: free count %llu, shadow says %llu", op,
			 (unsigned long long)frames_free_count(), (unsigned long long)shadow_free);
	}
	while (nlive) {
		nlive--;
		frames_free(live[nlive].p, live[nlive].n);
	}
	HT_CHECK(frames_free_count() == free0, "free count %llu after freeing all, want %llu",
		 (unsigned long long)frames_free_count(), (unsigned long long)free0);
	HT_CHECK(refused > 10 && allocated > 5000, "stress too gentle: %u refused, %u allocated", refused,
		 allocated);
	/* And the whole region is one run again. */
	uint64_t all = frames_alloc(free0, PAGE_SIZE);
	HT_CHECK(all, "region fragmented after freeing everything");
	frames_free(all, free0);
	return 0;
}

static int t_frames_free_checks(void)
{
	uint64_t free0 = frames_free_count();
	uint64_t p = frames_alloc(1, PAGE_SIZE);
	HT_CHECK(p, "out of memory");
	frames_free(p, 1);
	EXPECT_PANIC(frames_free(p, 1), "assert");
	EXPECT_PANIC(frames_free(p + 1, 1), "assert");                          /* misaligned */
	EXPECT_PANIC(frames_free(PAGE_SIZE, 1), "assert");                      /* below all RAM */
	EXPECT_PANIC(frames_free(FAKE_BASE + ARENA_BYTES, 1), "assert");        /* above */
	EXPECT_PANIC(frames_free(FAKE_BASE + ARENA_BYTES - PAGE_SIZE, 2), "assert"); /* runs past */
	HT_CHECK(frames_free_count() == free0, "a refused free changed the count");
	return 0;
}

/* ---- kmalloc ------------------------------------------------------------ */

/* Usable bytes of a block for size: its class minus the 16-byte header. */
static size_t km_capacity(size_t size)
{
	if (size == 0)
		size = 1;
	size_t b = 32;
	while (b - 16 < size)
		b *= 2;
	return b - 16;
}

static bool km_ptr_ok(const void *p, size_t size)
{
	uint64_t phys = virt_to_phys(p);
	return p && ((uintptr_t)p & 15) == 0 && in_arena(phys - 16, size + 16);
}

static int t_kmalloc_small_classes(void)
{
	static void *ptrs[2100];
	static size_t sizes[2100];
	size_t n = 0;
	for (size_t s = 0; s <= 2032; s += (s < 64 ? 1 : 7)) {
		void *p = kmalloc(s);
		HT_CHECK(km_ptr_ok(p, s), "kmalloc(%zu) = %p", s, p);
		/* A block lives in one page, after its header. */
		uintptr_t first = (uintptr_t)p - 16, last = (uintptr_t)p + km_capacity(s) - 1;
		HT_CHECK(first / PAGE_SIZE == last / PAGE_SIZE, "kmalloc(%zu) = %p crosses a page", s, p);
		memset(p, (int)(n & 0xff), s);
		ptrs[n] = p;
		sizes[n] = s;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		HT_CHECK(all_bytes(ptrs[i], (int)(i & 0xff), sizes[i]), "kmalloc(%zu) overwritten by another block",
			 sizes[i]);
		kfree(ptrs[i]);
	}
	/* Two blocks of one size are at least a whole block apart. */
	for (size_t s = 1; s <= 2032; s = s * 2 + 1) {
		uint8_t *a = kmalloc(s), *b = kmalloc(s);
		size_t gap = a > b ? (size_t)(a - b) : (size_t)(b - a);
		HT_CHECK(a && b && gap >= km_capacity(s) + 16, "kmalloc(%zu): blocks %p and %p overlap", s,
			 (void *)a, (void *)b);
		kfree(a);
		kfree(b);
	}
	return 0;
}

static int t_kmalloc_large(void)
{
	static const size_t sizes[] = {2033, 2048, 4080, 4081, 5000, 8192, 65536, 1 << 20, 10 << 20};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t s = sizes[i];
		uint64_t before = frames_free_count();
		uint8_t *p = kmalloc(s);
		size_t pages = (s + 16 + PAGE_SIZE - 1) / PAGE_SIZE;
		HT_CHECK(km_ptr_ok(p, s), "kmalloc(%zu) = %p", s, (void *)p);
		HT_CHECK((uintptr_t)p % PAGE_SIZE == 16, "kmalloc(%zu) = %p: not at the start of its pages", s,
			 (void *)p);
		HT_CHECK(before - frames_free_count() == pages, "kmalloc(%zu) took %llu pages, want %zu", s,
			 (unsigned long long)(before - frames_free_count()), pages);
		memset(p, 0x3c, s);
		kfree(p);
		HT_CHECK(frames_free_count() == before, "kfree of %zu bytes gave back %llu pages of %zu", s,
			 (unsigned long long)(frames_free_count() - (before - pages)), pages);
	}
	return 0;
}

static int t_kmalloc_zero_size_and_null(void)
{
	uint64_t before = frames_free_count();
	kfree(NULL);
	HT_CHECK(frames_free_count() == before, "kfree(NULL) changed the free count");
	void *p = kmalloc(0), *q = kmalloc(0);
	HT_CHECK(km_ptr_ok(p, 1) && km_ptr_ok(q, 1) && p != q, "kmalloc(0) = %p, %p", p, q);
	kfree(p);
	kfree(q);
	return 0;
}

static int t_kzalloc_zeroes(void)
{
	static const size_t sizes[] = {1, 16, 17, 100, 1000, 2032, 3000, 9000};
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t s = sizes[i];
		/* Dirty blocks of this size, free them, then ask for zeroed ones. */
		void *d[8];
		for (int k = 0; k < 8; k++) {
			d[k] = kmalloc(s);
			HT_CHECK(d[k], "kmalloc(%zu) failed", s);
			memset(d[k], 0xff, s);
		}
		for (int k = 0; k < 8; k++)
			kfree(d[k]);
		for (int k = 0; k < 8; k++) {
			d[k] = kzalloc(s);
			HT_CHECK(km_ptr_ok(d[k], s), "kzalloc(%zu) = %p", s, d[k]);
			size_t cap = s <= 2032 ? km_capacity(s) : s;
			size_t z = first_not(d[k], 0, cap);
			HT_CHECK(z == cap, "kzalloc(%zu): byte %zu not zero", s, z);
		}
		for (int k = 0; k < 8; k++)
			kfree(d[k]);
	}
	return 0;
}

static int t_kmalloc_double_free(void)
{
	void *p = kmalloc(100);
	HT_CHECK(p, "kmalloc failed");
	kfree(p);
	EXPECT_PANIC(kfree(p), "double free");
	void *l = kmalloc(20000);
	HT_CHECK(l, "kmalloc failed");
	uint64_t before = frames_free_count();
	kfree(l);
	EXPECT_PANIC(kfree(l), "double free");
	HT_CHECK(frames_free_count() == before + 5, "large double free changed the count");
	return 0;
}

static int t_kfree_bad_pointer(void)
{
	/* Not from kmalloc at all: a zeroed "header" in front of it. */
	static _Alignas(16) uint8_t foreign[64];
	EXPECT_PANIC(kfree(foreign + 16), "not allocated");
	/* A block whose header was overwritten. The layout is kmalloc.c's
	 * struct km_hdr: magic (8 bytes), npages (4), cls (1). */
	uint8_t *p = kmalloc(40);
	HT_CHECK(p, "kmalloc failed");
	uint8_t saved[16];
	memcpy(saved, p - 16, 16);
	p[-16] ^= 0x55;
	EXPECT_PANIC(kfree(p), "not allocated");
	memcpy(p - 16, saved, 16);
	p[-4] = 200; /* size class out of range */
	EXPECT_PANIC(kfree(p), "corrupt");
	memcpy(p - 16, saved, 16);
	kfree(p);
	/* A pointer into the middle of a block. */
	uint8_t *q = kmalloc(1000);
	HT_CHECK(q, "kmalloc failed");
	memset(q, 0, 1000);
	EXPECT_PANIC(kfree(q + 48), "not allocated");
	kfree(q);
	return 0;
}

static int t_kmalloc_oom(void)
{
	HT_CHECK(kmalloc(SIZE_MAX) == NULL, "kmalloc(SIZE_MAX) succeeded");
	HT_CHECK(kmalloc(SIZE_MAX / 2) == NULL, "kmalloc(SIZE_MAX / 2) succeeded");
	HT_CHECK(kmalloc(SIZE_MAX / 2 + 1) == NULL, "kmalloc(SIZE_MAX / 2 + 1) succeeded");
	HT_CHECK(kmalloc(ARENA_BYTES) == NULL, "kmalloc of all RAM succeeded");
	HT_CHECK(kzalloc(SIZE_MAX - 8) == NULL, "kzalloc(SIZE_MAX - 8) succeeded");
	/* Take every page, then ask kmalloc. */
	uint64_t free0 = frames_free_count();
	static uint64_t pages[ARENA_PAGES];
	size_t np = 0;
	uint64_t p;
	while ((p = frames_alloc(1, PAGE_SIZE)) != 0)
		pages[np++] = p;
	HT_CHECK(kmalloc(5000) == NULL && kzalloc(3000) == NULL, "large kmalloc without memory succeeded");
	/* Small blocks still come from free lists already carved, then run out. */
	static void *blocks[200000];
	size_t nb = 0;
	void *b;
	while (nb < ARRAY_SIZE(blocks) && (b = kmalloc(700)) != NULL)
		blocks[nb++] = b;
	HT_CHECK(nb < ARRAY_SIZE(blocks), "kmalloc(700) never ran out");
	HT_CHECK(kmalloc(700) == NULL, "kmalloc succeeded after failing");
	for (size_t i = 0; i < nb; i++)
		kfree(blocks[i]);
	while (np)
		frames_free(pages[--np], 1);
	HT_CHECK(frames_free_count() == free0, "free count %llu, want %llu",
		 (unsigned long long)frames_free_count(), (unsigned long long)free0);
	/* And it works again. */
	void *again = kmalloc(5000);
	HT_CHECK(again, "kmalloc after OOM failed");
	kfree(again);
	return 0;
}

static int t_kmalloc_blocks_reused(void)
{
	/* After a warm-up round, the same pattern of requests takes no new pages. */
	static void *ptrs[1000];
	uint64_t after_first = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1000; i++)
			ptrs[i] = kmalloc((size_t)(i * 37 % 2000) + 1);
		for (int i = 0; i < 1000; i++)
			kfree(ptrs[i]);
		if (round == 0)
			after_first = frames_free_count();
		else
			HT_CHECK(frames_free_count() == after_first, "round %d took %llu more pages", round,
				 (unsigned long long)(after_first - frames_free_count()));
	}
	return 0;
}

static int t_kmalloc_stress(void)
{
	enum { LIVE = 1500, OPS = 30000 };
	static struct {
		uint8_t *p;
		size_t n;
		uint8_t tag;
	} live[LIVE];
	size_t nlive = 0;
	uint64_t rng = 0xabcdef0123456789ull;
	for (int op = 0; op < OPS; op++) {
		uint64_t r = ht_rand(&rng);
		if (nlive < LIVE && (nlive == 0 || r % 100 < 52)) {
			size_t n = r >> 8 & 7 ? (r >> 12) % 300 : (r >> 12) % (r >> 40 & 1 ? 2100 : 20000);
			bool z = r >> 41 & 1;
			uint8_t *p = z ? kzalloc(n) : kmalloc(n);
			HT_CHECK(km_ptr_ok(p, n), "op %d: kmalloc(%zu) = %p", op, n, (void *)p);
			if (z)
				HT_CHECK(all_bytes(p, 0, n), "op %d: kzalloc(%zu) not zeroed", op, n);
			uint8_t tag = (uint8_t)(r >> 50);
			memset(p, tag, n);
			live[nlive].p = p;
			live[nlive].n = n;
			live[nlive].tag = tag;
			nlive++;
		} else {
			size_t k = (r >> 8) % nlive;
			HT_CHECK(all_bytes(live[k].p, live[k].tag, live[k].n),
				 "op %d: block %p (%zu bytes) changed while allocated", op, (void *)live[k].p,
				 live[k].n);
			kfree(live[k].p);
			live[k] = live[--nlive];
		}
	}
	while (nlive)
		kfree(live[--nlive].p);
	return 0;
}

#ifdef QUILL_DEBUG
static int t_kmalloc_poison_debug(void)
{
	uint8_t *p = kmalloc(200);
	HT_CHECK(p, "kmalloc failed");
	memset(p, 0, 200);
	kfree(p);
	/* The free-list link takes the first 8 bytes; the rest is poisoned. */
	size_t cap = km_capacity(200);
	size_t at = first_not(p + 8, 0x6b, cap - 8);
	HT_CHECK(at == cap - 8, "freed block not poisoned at byte %zu: %#x", at + 8, p[8 + at]);
	uint8_t *q = kzalloc(200);
	HT_CHECK(q && all_bytes(q, 0, 200), "kzalloc after poisoning not zeroed");
	kfree(q);
	return 0;
}
#endif

/* ---- the top of the frame range (last: they move its bounds) ------------ */

static int t_frames_range_edges(void)
{
	uint64_t total0 = frames_total_count(), ign0 = frames_ignored();
	/* Frame 0 is never added: physical address 0 means "no memory". */
	frames_init_region(0, 2 * PAGE_SIZE);
	HT_CHECK(frames_total_count() == total0 + 1, "region at 0: %llu pages added, want 1 (frame 1 only)",
		 (unsigned long long)(frames_total_count() - total0));
	frames_reserve(0, 2 * PAGE_SIZE); /* not backed by the buffer: take it back */
	HT_CHECK(frames_total_count() == total0, "reserve at 0 did not take it back");
	/* Above the 64 GiB the bitmap covers: counted as ignored, not added. */
	frames_init_region(FRAMES_LIMIT, GIB);
	HT_CHECK(frames_ignored() - ign0 == GIB, "ignored %llu bytes, want 1 GiB",
		 (unsigned long long)(frames_ignored() - ign0));
	HT_CHECK(frames_total_count() == total0, "frames above 64 GiB added");
	/* Straddling the limit: the two pages below it count, the rest is ignored.
	 * They are not backed by the test's buffer, so take them straight back. */
	frames_init_region(FRAMES_LIMIT - 2 * PAGE_SIZE, 6 * PAGE_SIZE);
	HT_CHECK(frames_total_count() == total0 + 2, "straddling region: %llu pages added, want 2",
		 (unsigned long long)(frames_total_count() - total0));
	HT_CHECK(frames_ignored() - ign0 == GIB + 4 * PAGE_SIZE, "straddling region: ignored %llu",
		 (unsigned long long)(frames_ignored() - ign0));
	frames_reserve(FRAMES_LIMIT - 2 * PAGE_SIZE, 2 * PAGE_SIZE);
	frames_reserve(FRAMES_LIMIT - 2 * PAGE_SIZE, 1ull << 40); /* clamped at the limit */
	HT_CHECK(frames_total_count() == total0, "reserve did not take them back");
	/* Allocation still works with the range widened to the limit. */
	uint64_t p = frames_alloc(4, 2 << 20);
	HT_CHECK(p && in_arena(p, 4 * PAGE_SIZE), "alloc after widening: %#llx", (unsigned long long)p);
	frames_free(p, 4);
	return 0;
}

/*
 * A region above 64 GiB that holds no whole page ([64G+4104, 64G+4120)):
 * nothing can be ignored but its 16 bytes at most. frames_init_region()
 * computes end - start with end < start here and the count wraps.
 */
static int t_frames_ignored_subpage_region(void)
{
	uint64_t ign0 = frames_ignored(), total0 = frames_total_count();
	frames_init_region(FRAMES_LIMIT + PAGE_SIZE + 8, 16);
	uint64_t d = frames_ignored() - ign0;
	HT_CHECK(frames_total_count() == total0, "pages added");
	HT_CHECK(d <= 16, "ignored bytes grew by %#llx for a 16-byte region: frames_init_region() "
		 "adds end - start while end < start (kernel/frames.c)", (unsigned long long)d);
	return 0;
}

int main(void)
{
	arena = aligned_alloc(2 << 20, ARENA_BYTES);
	if (!arena) {
		printf("TEST alloc_setup FAIL cannot allocate %llu bytes\n", (unsigned long long)ARENA_BYTES);
		return 1;
	}
	frames_virt_offset = (uintptr_t)arena - FAKE_BASE;

	/* In order: each case starts from the state the one before left. Those
	 * that make the allocators panic on purpose run in a child process. */
#define RUN(name, fn) (cur_case = name, cur_isolated = false, ht_run(name, fn))
#define RUN_ISOLATED(name, fn) (cur_case = name, cur_isolated = true, ht_run_isolated(name, fn))

	RUN("frames_unaligned_region", t_frames_unaligned_region);
	RUN("frames_init_counts", t_frames_init_counts);
	RUN("frames_bad_requests", t_frames_bad_requests);
	RUN("frames_alloc_basic", t_frames_alloc_basic);
	RUN("frames_contiguous_aligned", t_frames_contiguous_aligned);
	RUN("frames_reserve", t_frames_reserve);
	RUN("frames_oom", t_frames_oom);
	RUN("frames_stress_shadow", t_frames_stress_shadow);
	RUN_ISOLATED("frames_free_checks", t_frames_free_checks);
	RUN("kmalloc_small_classes", t_kmalloc_small_classes);
	RUN("kmalloc_large", t_kmalloc_large);
	RUN("kmalloc_zero_size_and_null", t_kmalloc_zero_size_and_null);
	RUN("kzalloc_zeroes", t_kzalloc_zeroes);
	RUN_ISOLATED("kmalloc_double_free", t_kmalloc_double_free);
	RUN_ISOLATED("kfree_bad_pointer", t_kfree_bad_pointer);
	RUN("kmalloc_oom", t_kmalloc_oom);
	RUN("kmalloc_blocks_reused", t_kmalloc_blocks_reused);
	RUN("kmalloc_stress", t_kmalloc_stress);
#ifdef QUILL_DEBUG
	RUN("kmalloc_poison_debug", t_kmalloc_poison_debug);
#endif
	RUN("frames_range_edges", t_frames_range_edges);
	RUN("frames_ignored_subpage_region", t_frames_ignored_subpage_region);
	free(arena);
	return ht_exit_status();
}
