/*
 * kernel/: the services every other part of Quill uses.
 *
 *   console.c   16550 serial on COM1, whole lines, early output
 *   printf.c    vsnprintf and friends (also built for host tests)
 *   panic.c     panic(), assert(), backtrace
 *   frames.c    physical page frames: contiguous, aligned runs
 *   kmalloc.c   small objects on top of frames
 *   cmdline.c   key=value command line (also built for host tests)
 *   mb2.c       multiboot2 information parsing (also built for host tests)
 *   event.c     wait_for_interrupt(), the idle loop
 *   exit.c      quill_exit() through isa-debug-exit
 *   ktest.c     in-kernel test registry and runner
 *   lib.c       memcpy, memset, strlen ... (freestanding)
 */
#ifndef KERNEL_KERNEL_H
#define KERNEL_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef QUILL_HOST
/* Host unit tests build kernel/ files against the C library instead of lib.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#else
#include "errno.h"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define PAGE_SIZE 4096UL
#define unlikely(x) __builtin_expect(!!(x), 0)
#define likely(x) __builtin_expect(!!(x), 1)

#ifndef QUILL_HOST
/* ---- lib.c ---- */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
void *memchr(const void *s, int c, size_t n);

/* ---- printf.c ---- */
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
#endif

/* ---- console.c ---- */
void console_init(void);
/* Write bytes; a line is emitted whole, with interrupts off, so lines never interleave. */
void console_write(const char *s, size_t n);
void console_flush(void);
extern int irq_nesting; /* > 0 while an interrupt handler runs */

/* ---- panic.c ---- */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);
void backtrace_from(uint64_t rbp);
#define assert(c)                                                                  \
	do {                                                                       \
		if (unlikely(!(c)))                                                \
			panic("assertion failed: %s (%s:%d)", #c, __FILE__, __LINE__); \
	} while (0)

/* ---- frames.c ---- */
/*
 * The kernel identity-maps memory: the offset is 0 there. Host unit tests
 * stand a buffer of their own in for physical memory by setting it.
 */
extern uintptr_t frames_virt_offset;
static inline void *phys_to_virt(uint64_t phys) { return (void *)(uintptr_t)(phys + frames_virt_offset); }
static inline uint64_t virt_to_phys(const void *p) { return (uintptr_t)p - frames_virt_offset; }
void frames_init_region(uint64_t base, uint64_t len); /* add usable RAM */
void frames_reserve(uint64_t base, uint64_t len);     /* take it back out */
/* npages contiguous frames aligned to `align` bytes (power of two, >= 4096), zeroed; 0 on OOM. */
uint64_t frames_alloc(size_t npages, uint64_t align);
/* The same, left as they are: for a caller that fills them whole anyway (clearing a page
 * is 512 string iterations, each a trip through QEMU's loop under TCG). */
uint64_t frames_alloc_uninit(size_t npages, uint64_t align);
void frames_free(uint64_t phys, size_t npages);
uint64_t frames_free_count(void);
uint64_t frames_total_count(void);
uint64_t frames_ignored(void); /* bytes of RAM beyond what the allocator covers */

/* ---- kmalloc.c ---- */
/*
 * NULL when out of memory; never panics. Blocks are 16-byte aligned, zeroed
 * by kzalloc; never more aligned than that, so device buffers (blk.h wants
 * 512-byte alignment) come from frames_alloc(), which gives whole pages.
 */
void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);

/* ---- random.c ---- */
/*
 * n unpredictable bytes for identifiers (a file system's uuid), not for
 * keys: RDSEED or RDRAND where CPUID offers them, always mixed with TSC
 * readings taken around them, so two boots never agree even on a CPU
 * without either instruction (QEMU's default TCG CPU).
 */
void random_bytes(void *buf, size_t n);

/* ---- cmdline.c ---- */
/*
 * Every accepted key is declared where it is used, with CMDLINE_KEY; the
 * parser rejects any other key, and the validator rejects malformed values
 * (return 0 when valid, else -EINVAL after printing nothing: the parser says
 * what is wrong, naming the key and the `help` text).
 */
struct cmdline_key {
	const char *name;
	int (*validate)(const char *value);
	const char *help; /* one line: values accepted and what it does */
};
#define CMDLINE_KEY(id, kname, validator, helptext)                                     \
	static const struct cmdline_key cmdline_key_##id                                 \
		__attribute__((used, section("cmdline_keys"), aligned(8))) = {         \
			.name = kname, .validate = validator, .help = helptext}
int cmdline_valid_bool(const char *v);  /* 0 1 on off yes no true false */
int cmdline_valid_uint(const char *v);  /* decimal or 0x hex, k/m/g suffix */
int cmdline_valid_any(const char *v);
/* Parse a value accepted by cmdline_valid_uint; returns -EINVAL when malformed. */
int cmdline_parse_uint(const char *v, uint64_t *out);
/* Parse and validate; prints what is wrong and returns -EINVAL on any error. */
int cmdline_parse(const char *line);
/* Value of key, or NULL when not given. */
const char *cmdline_get(const char *key);
bool cmdline_flag(const char *key, bool dflt);
/* Every key=value word, in order. */
size_t cmdline_count(void);
void cmdline_entry(size_t i, const char **key, const char **value);

/* ---- event.c ---- */
/*
 * Sleep until an interrupt, unless `pending(ctx)` says work is already there.
 * pending() runs with interrupts masked; then, after up to idle_poll_us of
 * waiting with interrupts on, "sti; hlt" atomically, so an interrupt after
 * the check still wakes the CPU. Returns with interrupts on.
 */
void wait_for_interrupt(bool (*pending)(void *ctx), void *ctx);
/* Reads idle_poll_us; after tsc_init(). */
void event_init(void);
/* Time spent idle (halted or idle polling) since boot (TSC ticks): busy time = elapsed - idle. */
uint64_t event_idle_ticks(void);

/* ---- exit.c ---- */
/* Exit statuses: the runner passes them on as its own. */
#define QUILL_EXIT_OK 0    /* everything asked for passed */
#define QUILL_EXIT_FAIL 1  /* a test or benchmark failed */
#define QUILL_EXIT_USAGE 2 /* bad command line */
#define QUILL_EXIT_CRASH 3 /* panic or CPU exception */
__attribute__((noreturn)) void quill_exit(int code);

/* ---- ktest.c ---- */
struct ktest {
	const char *name;
	/* 0 on success, else fills reason. */
	int (*fn)(char *reason, size_t reason_len);
	bool explicit_only; /* not part of test=all (e.g. fault, destructive tests) */
};
#define KTEST_DEFINE(id, tname, explicit)                                                  \
	static int ktest_fn_##id(char *reason, size_t reason_len);                        \
	static const struct ktest ktest_##id __attribute__((used, section("ktests"), aligned(8))) = { \
		.name = tname, .fn = ktest_fn_##id, .explicit_only = explicit};            \
	static int ktest_fn_##id(char *reason, size_t reason_len)
#define KTEST(id) KTEST_DEFINE(id, #id, false)
#define KTEST_FAIL(...)                                                            \
	do {                                                                       \
		snprintf(reason, reason_len, __VA_ARGS__);                         \
		return -1;                                                         \
	} while (0)
/* Runs tests named in the comma list ("all" for every non-explicit one); returns failures. */
int ktest_run(const char *list);


/* ---- main.c ---- */
extern char kernel_start[], kernel_end[];

#endif
