/*
 * The few library calls fs/ needs, for both builds: the kernel
 * (-DQUILL_KERNEL: kernel/kernel.h) and host tools and tests (-DQUILL_HOST:
 * libc). Nothing else in fs/ includes a system header.
 */
#ifndef FS_FS_PORT_H
#define FS_FS_PORT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(QUILL_HOST)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
static inline void *qfs_malloc(size_t n) { return malloc(n); }
static inline void *qfs_zalloc(size_t n) { return calloc(1, n); }
static inline void qfs_free(void *p) { free(p); }
/* Zeroed, page-aligned memory for device buffers (freed with its size). */
static inline void *qfs_page_alloc(size_t n)
{
	size_t len = (n + 4095) & ~(size_t)4095;
	void *p = aligned_alloc(4096, len);
	if (p)
		memset(p, 0, len);
	return p;
}
static inline void qfs_page_free(void *p, size_t n) { (void)n; free(p); }
/* The same, not cleared (the caller fills it). */
static inline void *qfs_page_alloc_uninit(size_t n)
{
	return aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
}
/* Fresh random bytes (a format's uuid): the kernel's entropy pool; 0 or -EIO. */
static inline int qfs_random(void *buf, size_t n)
{
	for (size_t done = 0; done < n;) {
		ssize_t r = getrandom((char *)buf + done, n - done, 0);
		if (r < 0 && errno != EINTR)
			return -EIO;
		if (r > 0)
			done += (size_t)r;
	}
	return 0;
}
#elif defined(QUILL_KERNEL)
#include "kernel/kernel.h"
static inline void *qfs_malloc(size_t n) { return kmalloc(n); }
static inline void *qfs_zalloc(size_t n) { return kzalloc(n); }
static inline void qfs_free(void *p) { kfree(p); }
/* Whole frames (identity-mapped: the address is physical), zeroed. */
static inline void *qfs_page_alloc(size_t n)
{
	return (void *)(uintptr_t)frames_alloc((n + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE);
}
static inline void qfs_page_free(void *p, size_t n)
{
	if (p)
		frames_free((uint64_t)(uintptr_t)p, (n + PAGE_SIZE - 1) / PAGE_SIZE);
}
/* The same, not cleared (the caller fills it). */
static inline void *qfs_page_alloc_uninit(size_t n)
{
	return (void *)(uintptr_t)frames_alloc_uninit((n + PAGE_SIZE - 1) / PAGE_SIZE, PAGE_SIZE);
}
/* Fresh random bytes (a format's uuid): RDSEED/RDRAND mixed with the TSC. */
static inline int qfs_random(void *buf, size_t n)
{
	random_bytes(buf, n);
	return 0;
}
#else
#error "build fs/ with -DQUILL_HOST or -DQUILL_KERNEL"
#endif

#endif
