/*
 * Multiboot2 entry: GRUB jumps to _start in 32-bit protected mode, paging off,
 * EAX = magic, EBX = physical address of the boot information.
 *
 *   1. check the magic (a message on COM1 and a halt if wrong)
 *   2. clear .bss (the bootstrap page tables and the stack live there)
 *   3. bootstrap page tables: identity-map the whole 32-bit space with 2 MiB
 *      pages (RAM below 4 GiB, the kernel, the multiboot info, the local and
 *      I/O APICs); paging_init() replaces them with the final map built from
 *      the memory map (RAM above 4 GiB, 1 GiB pages, uncached MMIO)
 *   4. PAE, EFER.LME, paging -> long mode; 64-bit GDT; far jump
 *   5. kmain(magic, info) on the boot stack
 * Multiboot2 specification, 3.3 (machine state) and 3.1 (header).
 */
#define MB2_HEADER_MAGIC 0xe85250d6
#define MB2_BOOT_MAGIC 0x36d76289
#define MB2_ARCH_I386 0

#define COM1 0x3f8

#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

#define BOOT_STACK_SIZE 65536

	.section .multiboot, "a"
	.balign 8
mb2_header:
	.long MB2_HEADER_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_HEADER_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	/* end tag */
	.balign 8
	.word 0
	.word 0
	.long 8
mb2_header_end:

	.section .text.boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	mov %eax, %edi			/* kept for kmain: magic */
	mov %ebx, %esi			/* kept for kmain: info */
	cmp $MB2_BOOT_MAGIC, %eax
	jne bad_magic

	/* Clear .bss; nothing in it is used yet. */
	mov $bss_start, %edx
1:	cmp $bss_end, %edx
	jae 2f
	movl $0, (%edx)
	add $4, %edx
	jmp 1b
2:
	mov $(boot_stack + BOOT_STACK_SIZE), %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages. */
	mov $boot_pdpt, %eax
	or $(PTE_P | PTE_W), %eax
	mov %eax, boot_pml4
	xor %ecx, %ecx
3:	mov %ecx, %eax
	shl $12, %eax
	add $boot_pd, %eax
	or $(PTE_P | PTE_W), %eax
	mov %eax, boot_pdpt(, %ecx, 8)
	inc %ecx
	cmp $4, %ecx
	jne 3b
	/* 2048 entries of 2 MiB: entry i maps i * 2 MiB (bits 32+ of the 4 GiB stay 0). */
	xor %ecx, %ecx
4:	mov %ecx, %eax
	shl $21, %eax
	or $(PTE_P | PTE_W | PTE_PS), %eax
	mov %eax, boot_pd(, %ecx, 8)
	inc %ecx
	cmp $2048, %ecx
	jne 4b

	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $boot_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0

	lgdt boot_gdt_ptr
	ljmp $0x08, $long_mode

/* Wrong magic: not started by a multiboot2 loader. Say so on COM1 and stop. */
bad_magic:
	mov $0x80, %al			/* DLAB on: set 115200 baud (divisor 1) */
	mov $(COM1 + 3), %dx
	out %al, %dx
	mov $1, %al
	mov $COM1, %dx
	out %al, %dx
	xor %al, %al
	mov $(COM1 + 1), %dx
	out %al, %dx
	mov $0x03, %al			/* 8N1 */
	mov $(COM1 + 3), %dx
	out %al, %dx
	mov $bad_magic_msg, %esi
5:	lodsb
	test %al, %al
	jz 7f
	mov %al, %bl
	mov $(COM1 + 5), %dx
6:	in %dx, %al
	test $0x20, %al
	jz 6b
	mov %bl, %al
	mov $COM1, %dx
	out %al, %dx
	jmp 5b
7:	mov $0x01, %al			/* isa-debug-exit: QEMU exits (1 << 1) | 1, i.e. status 1 */
	mov $0xf4, %dx
	out %al, %dx
8:	cli
	hlt
	jmp 8b

	.code64
long_mode:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %ax, %ax
	mov %ax, %fs
	mov %ax, %gs
	mov $(boot_stack + BOOT_STACK_SIZE), %rsp
	xor %ebp, %ebp			/* ends the backtrace */
	/* edi = magic, esi = info: already the first two SysV arguments. */
	mov %edi, %edi
	mov %esi, %esi
	call kmain
9:	cli
	hlt
	jmp 9b

	.section .rodata
bad_magic_msg:
	.asciz "quill: not booted by a multiboot2 loader (bad magic in EAX); halting\r\nquill: exit 1\r\n"

	.balign 16
boot_gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* 0x08: 64-bit code, DPL 0 */
	.quad 0x00cf92000000ffff	/* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
	.word boot_gdt_end - boot_gdt - 1
	.long boot_gdt

	.section .bss.boot, "aw", @nobits
	.balign 4096
	.globl boot_pml4
boot_pml4:
	.skip 4096
boot_pdpt:
	.skip 4096
boot_pd:
	.skip 4096 * 4
	.balign 16
	.globl boot_stack
boot_stack:
	.skip BOOT_STACK_SIZE
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
