/*
 * The final identity map (virtual == physical everywhere), replacing boot.S's
 * bootstrap map of the 32-bit space:
 *
 *   below 4 GiB   2 MiB pages; write-back where the memory map has RAM,
 *                 uncached elsewhere (the PCI hole, LAPIC, IOAPIC, HPET)
 *   above 4 GiB   RAM only, with 1 GiB pages where the CPU has them
 *                 (CPUID 0x80000001 EDX.Page1GB) and 2 MiB pages otherwise
 *   map_mmio()    adds uncached 2 MiB pages anywhere below MAXPHYADDR
 *
 * Page-table pages come from a static pool (RAM above 4 GiB is not mapped
 * yet when the map is built), then from the frame allocator.
 * SDM vol. 3A, 4.5 (4-level paging) and 11.12 (PAT: PCD|PWT = UC).
 */
#include "arch/x86_64/arch.h"
#include "arch/x86_64/multiboot2.h"
#include "kernel/bootinfo.h"
#include "kernel/kernel.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_PS (1ull << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define SZ_2M (1ull << 21)
#define SZ_1G (1ull << 30)
#define SZ_4G (1ull << 32)

#define PT_POOL_PAGES 160

static uint64_t pt_pool[PT_POOL_PAGES][512] __attribute__((aligned(4096)));
static unsigned pt_pool_used;
static uint64_t *pml4;
static bool have_1g_pages;
static unsigned phys_addr_bits = 36;

static uint64_t *pt_alloc(void)
{
	if (pt_pool_used < PT_POOL_PAGES)
		return pt_pool[pt_pool_used++]; /* .bss: already zero */
	uint64_t phys = frames_alloc(1, PAGE_SIZE);
	return phys ? (uint64_t *)(uintptr_t)phys : NULL;
}

/* The next-level table under entry e, created when absent; NULL when a large page is there or OOM. */
static uint64_t *pt_next(uint64_t *e)
{
	if (*e & PTE_P) {
		if (*e & PTE_PS)
			return NULL;
		return (uint64_t *)(uintptr_t)(*e & PTE_ADDR_MASK);
	}
	uint64_t *t = pt_alloc();
	if (!t)
		return NULL;
	*e = (uintptr_t)t | PTE_P | PTE_W;
	return t;
}

static int map_1g(uint64_t pa, uint64_t flags)
{
	uint64_t *pdpt = pt_next(&pml4[(pa >> 39) & 511]);
	if (!pdpt)
		return -ENOMEM;
	uint64_t *e = &pdpt[(pa >> 30) & 511];
	if (!(*e & PTE_P))
		*e = pa | PTE_P | PTE_W | PTE_PS | flags;
	return 0;
}

/* Map the 2 MiB page at pa unless something already maps it. */
static int map_2m(uint64_t pa, uint64_t flags)
{
	uint64_t *pdpt = pt_next(&pml4[(pa >> 39) & 511]);
	if (!pdpt)
		return -ENOMEM;
	uint64_t *pe = &pdpt[(pa >> 30) & 511];
	if ((*pe & PTE_P) && (*pe & PTE_PS))
		return 0; /* inside a 1 GiB page */
	uint64_t *pd = pt_next(pe);
	if (!pd)
		return -ENOMEM;
	uint64_t *e = &pd[(pa >> 21) & 511];
	if (!(*e & PTE_P))
		*e = pa | PTE_P | PTE_W | PTE_PS | flags;
	return 0;
}

bool paging_is_mapped(uint64_t addr)
{
	uint64_t *t = pml4;
	if (!t || addr >> phys_addr_bits)
		return false;
	uint64_t e = t[(addr >> 39) & 511];
	if (!(e & PTE_P))
		return false;
	t = (uint64_t *)(uintptr_t)(e & PTE_ADDR_MASK);
	e = t[(addr >> 30) & 511];
	if (!(e & PTE_P))
		return false;
	if (e & PTE_PS)
		return true;
	t = (uint64_t *)(uintptr_t)(e & PTE_ADDR_MASK);
	e = t[(addr >> 21) & 511];
	return (e & PTE_P) != 0;
}

static bool range_has_ram(const struct boot_info *bi, uint64_t base, uint64_t len)
{
	for (unsigned i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type == MB2_MMAP_BADRAM)
			continue;
		if (r->type != MB2_MMAP_AVAILABLE && r->type != MB2_MMAP_ACPI_RECLAIMABLE &&
		    r->type != MB2_MMAP_NVS)
			continue;
		if (r->base < base + len && base < r->base + r->len)
			return true;
	}
	return false;
}

void paging_build(const struct boot_info *bi)
{
	uint32_t a, b, c, d;
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x80000001) {
		cpuid(0x80000001, 0, &a, &b, &c, &d);
		have_1g_pages = d & (1u << 26);
	}
	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x80000008) {
		cpuid(0x80000008, 0, &a, &b, &c, &d);
		phys_addr_bits = a & 0xff;
		if (phys_addr_bits < 32 || phys_addr_bits > 52)
			phys_addr_bits = 36;
	}

	pml4 = pt_alloc();
	for (uint64_t pa = 0; pa < SZ_4G; pa += SZ_2M) {
		uint64_t flags = range_has_ram(bi, pa, SZ_2M) ? 0 : (PTE_PCD | PTE_PWT);
		if (map_2m(pa, flags))
			panic("paging: out of page-table pages below 4 GiB");
	}
	for (unsigned i = 0; i < bi->mmap_count; i++) {
		const struct boot_mem_region *r = &bi->mmap[i];
		if (r->type != MB2_MMAP_AVAILABLE && r->type != MB2_MMAP_ACPI_RECLAIMABLE)
			continue;
		uint64_t start = MAX(ALIGN_DOWN(r->base, SZ_2M), SZ_4G);
		uint64_t end = ALIGN_UP(r->base + r->len, SZ_2M);
		if ((end - 1) >> phys_addr_bits)
			end = 1ull << phys_addr_bits;
		for (uint64_t pa = start; pa < end;) {
			if (have_1g_pages && IS_ALIGNED(pa, SZ_1G) && end - pa >= SZ_1G) {
				if (map_1g(pa, 0))
					panic("paging: out of page-table pages mapping RAM at %#llx",
					      (unsigned long long)pa);
				pa += SZ_1G;
			} else {
				if (map_2m(pa, 0))
					panic("paging: out of page-table pages mapping RAM at %#llx",
					      (unsigned long long)pa);
				pa += SZ_2M;
			}
		}
	}
	write_cr3((uintptr_t)pml4);
}

void *map_mmio(uint64_t phys, uint64_t size)
{
	if (size == 0 || phys + size < phys || ((phys + size - 1) >> phys_addr_bits))
		return NULL;
	for (uint64_t pa = ALIGN_DOWN(phys, SZ_2M); pa < phys + size; pa += SZ_2M) {
		if (paging_is_mapped(pa))
			continue; /* below 4 GiB: already uncached unless RAM */
		if (map_2m(pa, PTE_PCD | PTE_PWT))
			return NULL;
		invlpg(pa);
	}
	return (void *)(uintptr_t)phys;
}

unsigned paging_phys_bits(void)
{
	return phys_addr_bits;
}
