/*
 * Interrupt and exception entry. Every vector gets a stub that makes the
 * stack look the same (an error code, real or 0, then the vector number) and
 * jumps to isr_common, which saves the general registers as struct
 * int_frame (idt.c) and calls isr_dispatch(frame).
 * SDM vol. 3A, 6.14 (64-bit interrupt stack frame).
 */
	.text
	.code64


/* #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX come with an error code; the rest get a 0. */
	.macro isr_stub v
	.balign 16
isr_stub_\v:
	.if !((\v == 8) || ((\v >= 10) && (\v <= 14)) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
	pushq $0
	.endif
	pushq $\v
	jmp isr_common
	.endm

	.altmacro
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	mov %rsp, %rdi
	/* The CPU aligned RSP to 16 before its 5-word frame; 2 + 15 words more keep it aligned. */
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	add $16, %rsp			/* vector and error code */
	iretq

	.macro isr_addr v
	.quad isr_stub_\v
	.endm

	.section .rodata
	.balign 8
	.globl isr_stub_table
isr_stub_table:
	.set vec, 0
	.rept 256
	isr_addr %vec
	.set vec, vec + 1
	.endr

	.section .note.GNU-stack, "", @progbits
