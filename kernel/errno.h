/* Error numbers: negative values of these come back from every fallible call.
 * The values are Linux's, so host builds of fs/ can use <errno.h> instead. */
#ifndef KERNEL_ERRNO_H
#define KERNEL_ERRNO_H
#define EPERM 1
#define ENOENT 2
#define EIO 5
#define ENXIO 6
#define E2BIG 7
#define EAGAIN 11
#define ENOMEM 12
#define EFAULT 14
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define EFBIG 27
#define ENOSPC 28
#define EROFS 30
#define ERANGE 34
#define ENAMETOOLONG 36
#define ENOTEMPTY 39
#define ETIMEDOUT 110
#define EOPNOTSUPP 95
#define EUCLEAN 117
#endif
