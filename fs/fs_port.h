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
static inline void *qfs_malloc(size_t n) { return malloc(n); }
static inline void *qfs_zalloc(size_t n) { return calloc(1, n); }
static inline void qfs_free(void *p) { free(p); }
#elif defined(QUILL_KERNEL)
#include "kernel/kernel.h"
static inline void *qfs_malloc(size_t n) { return kmalloc(n); }
static inline void *qfs_zalloc(size_t n) { return kzalloc(n); }
static inline void qfs_free(void *p) { kfree(p); }
#else
#error "build fs/ with -DQUILL_HOST or -DQUILL_KERNEL"
#endif

#endif
