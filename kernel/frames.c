/*
 * Physical page frames: one bit per 4 KiB frame (1 = free) over the first
 * FRAMES_MAX_BYTES of the physical space. frames_init_region() adds usable
 * RAM, frames_reserve() takes back what is in use (kernel, boot information,
 * low memory). frames_alloc() finds a run of free frames with the requested
 * alignment (vrings need physically contiguous, aligned memory) and zeroes
 * it; running out is an error value, never a crash.
 *
 * Memory is identity-mapped: a frame's physical address is also where the
 * kernel reads and writes it (phys_to_virt is the identity). Host tests
 * stand a buffer of their own in for a physical region.
 */
#include "kernel/kernel.h"

#define FRAMES_MAX_BYTES (64ull << 30) /* 64 GiB: a 2 MiB bitmap */
#define FRAMES_MAX (FRAMES_MAX_BYTES / PAGE_SIZE)
#define WORD_BITS 64

static uint64_t frame_free_bits[FRAMES_MAX / WORD_BITS];
static uint64_t frames_free_n, frames_total_n;
static uint64_t frame_lo = FRAMES_MAX, frame_hi; /* bounds of frames ever added */
static uint64_t frame_hint;                      /* next-fit start */
static uint64_t frames_ignored_bytes;
uintptr_t frames_virt_offset;

static inline bool frame_is_free(uint64_t f)
{
	return frame_free_bits[f / WORD_BITS] >> (f % WORD_BITS) & 1;
}

static inline void frame_set(uint64_t f, bool free)
{
	if (free)
		frame_free_bits[f / WORD_BITS] |= 1ull << (f % WORD_BITS);
	else
		frame_free_bits[f / WORD_BITS] &= ~(1ull << (f % WORD_BITS));
}

void frames_init_region(uint64_t base, uint64_t len)
{
	uint64_t start = ALIGN_UP(base, PAGE_SIZE);
	uint64_t end = ALIGN_DOWN(base + len, PAGE_SIZE);
	if (end <= start)
		return; /* no whole page in it */
	if (end > FRAMES_MAX_BYTES) {
		frames_ignored_bytes += end - MAX(start, FRAMES_MAX_BYTES);
		end = FRAMES_MAX_BYTES;
	}
	if (start == 0)
		start = PAGE_SIZE; /* frame 0 is never handed out: 0 means "no memory" */
	for (uint64_t f = start / PAGE_SIZE; f < end / PAGE_SIZE; f++) {
		if (!frame_is_free(f)) {
			frame_set(f, true);
			frames_free_n++;
			frames_total_n++;
		}
		if (f < frame_lo)
			frame_lo = f;
		if (f + 1 > frame_hi)
			frame_hi = f + 1;
	}
}

void frames_reserve(uint64_t base, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t start = ALIGN_DOWN(base, PAGE_SIZE) / PAGE_SIZE;
	uint64_t end = ALIGN_UP(base + len, PAGE_SIZE) / PAGE_SIZE;
	if (end > FRAMES_MAX)
		end = FRAMES_MAX;
	for (uint64_t f = start; f < end; f++) {
		if (frame_is_free(f)) {
			frame_set(f, false);
			frames_free_n--;
			frames_total_n--;
		}
	}
}

/* A free run of n frames starting at an aligned frame in [from, to), or 0. */
static uint64_t frames_find(uint64_t from, uint64_t to, size_t n, uint64_t align_frames)
{
	uint64_t f = ALIGN_UP(from, align_frames);
	while (f + n <= to) {
		/* Skip whole empty words quickly. */
		if (frame_free_bits[f / WORD_BITS] == 0) {
			f = ALIGN_UP((f / WORD_BITS + 1) * WORD_BITS, align_frames);
			continue;
		}
		size_t run = 0;
		while (run < n && frame_is_free(f + run))
			run++;
		if (run == n)
			return f;
		f = ALIGN_UP(f + run + 1, align_frames);
	}
	return 0;
}

uint64_t frames_alloc_uninit(size_t npages, uint64_t align)
{
	if (npages == 0 || align < PAGE_SIZE || (align & (align - 1)))
		return 0;
	if (npages > frames_free_n)
		return 0;
	uint64_t align_frames = align / PAGE_SIZE;
	uint64_t f = frames_find(MAX(frame_hint, frame_lo), frame_hi, npages, align_frames);
	if (!f)
		f = frames_find(frame_lo, frame_hi, npages, align_frames);
	if (!f)
		return 0;
	for (size_t i = 0; i < npages; i++)
		frame_set(f + i, false);
	frames_free_n -= npages;
	frame_hint = f + npages;
	return f * PAGE_SIZE;
}

uint64_t frames_alloc(size_t npages, uint64_t align)
{
	uint64_t phys = frames_alloc_uninit(npages, align);
	if (phys)
		memset(phys_to_virt(phys), 0, npages * PAGE_SIZE);
	return phys;
}

void frames_free(uint64_t phys, size_t npages)
{
	assert(IS_ALIGNED(phys, PAGE_SIZE));
	uint64_t f = phys / PAGE_SIZE;
	assert(f >= frame_lo && f + npages <= frame_hi);
	for (size_t i = 0; i < npages; i++) {
		assert(!frame_is_free(f + i)); /* double free */
		frame_set(f + i, true);
	}
	frames_free_n += npages;
}

uint64_t frames_free_count(void)
{
	return frames_free_n;
}

uint64_t frames_total_count(void)
{
	return frames_total_n;
}

uint64_t frames_ignored(void)
{
	return frames_ignored_bytes;
}
