/*
 * kernel/jobs: what a user boots Quill for, above the kernel's core
 * services (which include nothing from here): the default job and the
 * command line's choice of jobs (jobs.c), the write test (write_test.c),
 * the benchmarks (bench.c raw, bench_fs.c file level, bench_spec.c their
 * grammar, hist.c latency histograms), the consent to overwrite a disk
 * (consent.c) and mounting quillfs for a job (fsmount.c).
 */
#ifndef KERNEL_JOBS_H
#define KERNEL_JOBS_H

#include <stdbool.h>

/* ---- jobs.c ---- */
/* Runs the jobs the command line asks for (or the default job); returns the exit status. */
int jobs_run(void);

/* ---- consent.c ---- */
struct blk_dev;
/* May raw writes overwrite dev? True when it holds no quillfs or overwrite=1 was given; else says why. */
bool consent_overwrite(struct blk_dev *dev, const char *what);
/*
 * Make a quillfs on dev unless it holds a mountable one: 0 when dev then
 * holds one. -EPERM when it holds one this kernel cannot mount (another version,
 * damaged) and overwrite=1 was not given, -ENOSPC when dev is too small
 * (each said on the console), or the format's error.
 */
int consent_format_if_absent(struct blk_dev *dev, const char *what);

/* ---- fsmount.c ---- */
struct qfs;
struct qfs_mount_opts;
/*
 * qfs_mount() for a job named `what` that says on the console what a
 * recovery after a crash did: what it applied, read and how long it took.
 */
int fs_mount_job(struct blk_dev *dev, const struct qfs_mount_opts *opts, struct qfs **out, const char *what);

#endif
