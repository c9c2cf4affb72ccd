/*
 * Small objects on top of page frames. Requests up to 2 KiB come from
 * power-of-two size classes carved out of single pages; larger ones get
 * their own run of pages. Every block has a 16-byte header (magic + size
 * class or page count), so kfree() needs no size and catches frees of
 * pointers it never handed out and double frees. Debug builds (DEBUG=1)
 * poison freed memory with 0x6b so use-after-free shows.
 */
#include "kernel/kernel.h"

#define KM_MAGIC_USED 0x6b6d616c6c6f6321ull /* "!collamk" */
#define KM_MAGIC_FREE 0x6b6d667265656421ull
#define KM_HDR 16
#define KM_MIN_SHIFT 5  /* 32-byte blocks: 16 of header, 16 of data */
#define KM_MAX_SHIFT 11 /* 2 KiB */
#define KM_CLASSES (KM_MAX_SHIFT - KM_MIN_SHIFT + 1)
#define KM_LARGE 0xff

struct km_hdr {
	uint64_t magic;
	uint32_t npages; /* large blocks */
	uint8_t cls;     /* size class, or KM_LARGE */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct km_hdr) == KM_HDR, "kmalloc header keeps 16-byte alignment");

struct km_free {
	struct km_hdr hdr;
	struct km_free *next;
};

static struct km_free *km_lists[KM_CLASSES];

static void *km_large(size_t size)
{
	size_t npages = (size + KM_HDR + PAGE_SIZE - 1) / PAGE_SIZE;
	if (npages > UINT32_MAX)
		return NULL;
	uint64_t phys = frames_alloc(npages, PAGE_SIZE);
	if (!phys)
		return NULL;
	struct km_hdr *h = phys_to_virt(phys);
	h->magic = KM_MAGIC_USED;
	h->cls = KM_LARGE;
	h->npages = (uint32_t)npages;
	return (uint8_t *)h + KM_HDR;
}

static bool km_refill(unsigned cls)
{
	uint64_t phys = frames_alloc(1, PAGE_SIZE);
	if (!phys)
		return false;
	size_t bsize = (size_t)1 << (cls + KM_MIN_SHIFT);
	uint8_t *page = phys_to_virt(phys);
	for (size_t off = 0; off + bsize <= PAGE_SIZE; off += bsize) {
		struct km_free *b = (struct km_free *)(page + off);
		b->hdr.magic = KM_MAGIC_FREE;
		b->hdr.cls = (uint8_t)cls;
		b->next = km_lists[cls];
		km_lists[cls] = b;
	}
	return true;
}

void *kmalloc(size_t size)
{
	if (size == 0)
		size = 1;
	if (size > ((size_t)1 << KM_MAX_SHIFT) - KM_HDR)
		return size > (SIZE_MAX / 2) ? NULL : km_large(size);
	unsigned cls = 0;
	while (((size_t)1 << (cls + KM_MIN_SHIFT)) - KM_HDR < size)
		cls++;
	if (!km_lists[cls] && !km_refill(cls))
		return NULL;
	struct km_free *b = km_lists[cls];
	km_lists[cls] = b->next;
	b->hdr.magic = KM_MAGIC_USED;
	return (uint8_t *)b + KM_HDR;
}

void *kzalloc(size_t size)
{
	void *p = kmalloc(size);
	if (p) {
		struct km_hdr *h = (struct km_hdr *)((uint8_t *)p - KM_HDR);
		size_t n = h->cls == KM_LARGE ? (size_t)h->npages * PAGE_SIZE - KM_HDR
					      : ((size_t)1 << (h->cls + KM_MIN_SHIFT)) - KM_HDR;
		memset(p, 0, n);
	}
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	struct km_hdr *h = (struct km_hdr *)((uint8_t *)p - KM_HDR);
	if (h->magic == KM_MAGIC_FREE)
		panic("kfree: double free of %p", p);
	if (h->magic != KM_MAGIC_USED)
		panic("kfree: %p was not allocated by kmalloc (or its header was overwritten)", p);
	if (h->cls == KM_LARGE) {
		h->magic = KM_MAGIC_FREE;
		frames_free(virt_to_phys(h), h->npages);
		return;
	}
	if (h->cls >= KM_CLASSES)
		panic("kfree: %p has a corrupt header", p);
#ifdef QUILL_DEBUG
	memset(p, 0x6b, ((size_t)1 << (h->cls + KM_MIN_SHIFT)) - KM_HDR);
#endif
	struct km_free *b = (struct km_free *)h;
	b->hdr.magic = KM_MAGIC_FREE;
	b->next = km_lists[h->cls];
	km_lists[h->cls] = b;
}
