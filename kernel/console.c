/*
 * The console: COM1, a 16550 UART at 115200 8N1, written by polling.
 *
 * Output is collected a line at a time and emitted whole with interrupts
 * off, so lines never interleave. Interrupt handlers get their own line
 * buffer: a handler that prints while the main flow is mid-line produces its
 * own whole line, not a splice.
 */
#include "arch/x86_64/arch.h"
#include "kernel/kernel.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_DLL 0
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define  UART_LCR_8N1 0x03
#define  UART_LCR_DLAB 0x80
#define UART_MCR 4
#define  UART_MCR_DTR_RTS 0x03
#define UART_LSR 5
#define  UART_LSR_THRE 0x20
#define LINE_MAX 256

int irq_nesting; /* > 0 inside isr_dispatch */

static struct {
	char buf[LINE_MAX];
	size_t len;
} lines[2];

static bool uart_present;

void console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 / 1 */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR, 0xc7); /* FIFO on, cleared, 14-byte threshold */
	outb(COM1 + UART_MCR, UART_MCR_DTR_RTS);
	/* A missing UART reads 0xff everywhere. */
	uart_present = inb(COM1 + UART_LSR) != 0xff;
}

static void uart_putc(char c)
{
	if (!uart_present)
		return;
	/* Bounded: a wedged UART must not hang the kernel. */
	for (int i = 0; i < 1000000 && !(inb(COM1 + UART_LSR) & UART_LSR_THRE); i++)
		cpu_pause();
	outb(COM1 + UART_THR, (uint8_t)c);
}

static void line_emit(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\n')
			uart_putc('\r');
		uart_putc(buf[i]);
	}
}

void console_write(const char *s, size_t n)
{
	uint64_t flags = irq_save();
	int which = irq_nesting > 0 ? 1 : 0;
	char *buf = lines[which].buf;
	size_t *len = &lines[which].len;
	for (size_t i = 0; i < n; i++) {
		buf[(*len)++] = s[i];
		if (s[i] == '\n' || *len == LINE_MAX) {
			line_emit(buf, *len);
			*len = 0;
		}
	}
	irq_restore(flags);
}

/* Emit any partial lines now (panic, exit). */
void console_flush(void)
{
	uint64_t flags = irq_save();
	for (int i = 0; i < 2; i++) {
		if (lines[i].len) {
			line_emit(lines[i].buf, lines[i].len);
			lines[i].len = 0;
			line_emit("\n", 1);
		}
	}
	irq_restore(flags);
}

int vprintf(const char *fmt, va_list ap)
{
	char tmp[512];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	console_write(tmp, n < (int)sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}
