/*
 * GDT with a TSS (for the double-fault and NMI stacks), the IDT, exception
 * reports and the interrupt dispatch table.
 *
 * Exceptions 0-31 print what a developer needs (vector name, error code, RIP,
 * RSP, CR2 for #PF, every register, a frame-pointer backtrace) and end the
 * run with QUILL_EXIT_CRASH. Vectors 32-255 go to the handler registered with
 * irq_register(); the dispatcher, not the handler, acknowledges the interrupt.
 * SDM vol. 3A, 6.10-6.14 (IDT, 64-bit gates, IST) and 7.7 (64-bit TSS).
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

struct int_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(sizeof(struct int_frame) == 22 * 8, "int_frame matches isr.S");

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate");

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS");
_Static_assert(__builtin_offsetof(struct tss64, ist) == 36, "TSS IST offset");

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS 0x18
#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define IST_DOUBLE_FAULT 1
#define IST_NMI 2
#define IST_STACK_SIZE 16384
#define SPURIOUS_VECTOR 0xff
#define VECTOR_FIRST_DYNAMIC 0x30
#define VECTOR_LAST_DYNAMIC 0xef

static uint64_t gdt[5] __attribute__((aligned(16)));
static struct tss64 tss __attribute__((aligned(16)));
static struct idt_gate idt[256] __attribute__((aligned(16)));
static uint8_t ist_stacks[2][IST_STACK_SIZE] __attribute__((aligned(16)));
extern const uint64_t isr_stub_table[256];

static struct {
	irq_handler_fn fn;
	void *ctx;
	uint64_t count;
} irq_table[256];

static const char *const exception_names[32] = {
	"#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
	"#BR bound range", "#UD invalid opcode", "#NM device not available",
	"#DF double fault", "coprocessor segment overrun", "#TS invalid TSS",
	"#NP segment not present", "#SS stack fault", "#GP general protection",
	"#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check",
	"#MC machine check", "#XM SIMD error", "#VE virtualization", "#CP control protection",
	"reserved 22", "reserved 23", "reserved 24", "reserved 25", "reserved 26",
	"reserved 27", "#HV hypervisor injection", "#VC VMM communication", "#SX security",
	"reserved 31",
};

static void gdt_load(void)
{
	uint64_t base = (uintptr_t)&tss;
	gdt[0] = 0;
	gdt[1] = 0x00af9a000000ffffull; /* 64-bit code */
	gdt[2] = 0x00cf92000000ffffull; /* data */
	/* 16-byte available 64-bit TSS descriptor (type 9). */
	gdt[3] = (sizeof(tss) - 1) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
		 (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;
	tss.ist[IST_DOUBLE_FAULT - 1] = (uintptr_t)ist_stacks[0] + IST_STACK_SIZE;
	tss.ist[IST_NMI - 1] = (uintptr_t)ist_stacks[1] + IST_STACK_SIZE;
	tss.iomap_base = sizeof(tss);

	struct desc_ptr p = {.limit = sizeof(gdt) - 1, .base = (uintptr_t)gdt};
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %2, %%ax\n\t"
			 "mov %%ax, %%ds\n\t"
			 "mov %%ax, %%es\n\t"
			 "mov %%ax, %%ss\n\t"
			 "ltr %w3"
			 :
			 : "m"(p), "i"(SEL_CODE), "i"(SEL_DATA), "r"(SEL_TSS)
			 : "rax", "memory");
}

static void idt_set(int v, uint64_t handler, uint8_t ist)
{
	idt[v].offset_lo = handler & 0xffff;
	idt[v].selector = SEL_CODE;
	idt[v].ist = ist;
	idt[v].type_attr = GATE_INTERRUPT;
	idt[v].offset_mid = (handler >> 16) & 0xffff;
	idt[v].offset_hi = handler >> 32;
	idt[v].reserved = 0;
}

void idt_init(void)
{
	gdt_load();
	for (int v = 0; v < 256; v++)
		idt_set(v, isr_stub_table[v], 0);
	idt[8].ist = IST_DOUBLE_FAULT;
	idt[2].ist = IST_NMI;
	struct desc_ptr p = {.limit = sizeof(idt) - 1, .base = (uintptr_t)idt};
	__asm__ volatile("lidt %0" : : "m"(p));
}

int irq_register(int vector, irq_handler_fn handler, void *ctx)
{
	if (vector < 32 || vector > 255 || !handler)
		return -EINVAL;
	if (irq_table[vector].fn)
		return -EBUSY;
	uint64_t flags = irq_save();
	irq_table[vector].ctx = ctx;
	irq_table[vector].fn = handler;
	irq_restore(flags);
	return 0;
}

void irq_unregister(int vector)
{
	if (vector < 32 || vector > 255)
		return;
	uint64_t flags = irq_save();
	irq_table[vector].fn = NULL;
	irq_table[vector].ctx = NULL;
	irq_restore(flags);
}

static bool vector_reserved[256];

int irq_alloc_vector(void)
{
	for (int v = VECTOR_FIRST_DYNAMIC; v <= VECTOR_LAST_DYNAMIC; v++) {
		if (!vector_reserved[v] && !irq_table[v].fn) {
			vector_reserved[v] = true;
			return v;
		}
	}
	return -ENOSPC;
}

void irq_free_vector(int vector)
{
	if (vector < VECTOR_FIRST_DYNAMIC || vector > VECTOR_LAST_DYNAMIC)
		return;
	irq_unregister(vector);
	vector_reserved[vector] = false;
}

uint64_t irq_events;

uint64_t irq_count(int vector)
{
	return (vector >= 0 && vector < 256) ? irq_table[vector].count : 0;
}

static volatile int in_exception;

static void exception_report(struct int_frame *f)
{
	const char *name = exception_names[f->vector];
	printf("\nquill: CPU exception %llu: %s, error code %#llx\n",
	       (unsigned long long)f->vector, name, (unsigned long long)f->error);
	if (f->vector == 14) {
		uint64_t cr2 = read_cr2();
		printf("  #PF at address CR2=%#018llx (%s, %s, %s)\n", (unsigned long long)cr2,
		       (f->error & 1) ? "protection violation" : "page not present",
		       (f->error & 2) ? "write" : "read",
		       (f->error & 16) ? "instruction fetch" : "data access");
	}
	printf("  RIP=%#018llx CS=%#06llx RFLAGS=%#010llx\n", (unsigned long long)f->rip,
	       (unsigned long long)f->cs, (unsigned long long)f->rflags);
	printf("  RSP=%#018llx SS=%#06llx\n", (unsigned long long)f->rsp, (unsigned long long)f->ss);
	printf("  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)f->rax,
	       (unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	printf("  RSI=%016llx RDI=%016llx RBP=%016llx R8 =%016llx\n", (unsigned long long)f->rsi,
	       (unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->r8);
	printf("  R9 =%016llx R10=%016llx R11=%016llx R12=%016llx\n", (unsigned long long)f->r9,
	       (unsigned long long)f->r10, (unsigned long long)f->r11, (unsigned long long)f->r12);
	printf("  R13=%016llx R14=%016llx R15=%016llx CR3=%016llx\n", (unsigned long long)f->r13,
	       (unsigned long long)f->r14, (unsigned long long)f->r15,
	       (unsigned long long)read_cr3());
	printf("  backtrace (addr2line -e build/kernel.elf ADDR):\n");
	printf("    #0 %#018llx\n", (unsigned long long)f->rip);
	backtrace_from(f->rbp);
}

static void irq_dispatch_vector(uint64_t v);
void isr_dispatch(struct int_frame *f);
void isr_dispatch(struct int_frame *f)
{
	uint64_t v = f->vector;
	if (v < 32) {
		if (in_exception) {
			/* Faulted while reporting: print nothing more that could fault again. */
			console_write("\nquill: nested CPU exception while reporting one\n", 49);
			quill_exit(QUILL_EXIT_CRASH);
		}
		in_exception = 1;
		console_flush();
		exception_report(f);
		quill_exit(QUILL_EXIT_CRASH);
	}
	irq_table[v].count++;
	__atomic_store_n(&irq_events, irq_events + 1, __ATOMIC_RELAXED); /* one CPU: no read-modify-write race */
	if (v == SPURIOUS_VECTOR)
		return; /* no EOI for the LAPIC spurious vector (SDM 3A, 11.9) */
	irq_nesting++;
	irq_dispatch_vector(v);
	irq_nesting--;
}

static void irq_dispatch_vector(uint64_t v)
{
	if (v >= PIC_VECTOR_BASE && v < PIC_VECTOR_BASE + 16) {
		unsigned irq = v - PIC_VECTOR_BASE;
		if (pic_spurious(irq))
			return;
		if (irq_table[v].fn)
			irq_table[v].fn(irq_table[v].ctx);
		pic_eoi(irq);
		return;
	}
	if (irq_table[v].fn)
		irq_table[v].fn(irq_table[v].ctx);
	lapic_eoi();
}
