/*
 * Mounting quillfs for a job (the write test, file benchmarks, test=fs): a
 * mount after a crash says on the console what its recovery did, what it
 * read and how long it took, so a user sees the cost of the power cut.
 */
#include "arch/x86_64/arch.h"
#include "drivers/blk/blk.h"
#include "fs/fs.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"

int fs_mount_job(struct blk_dev *dev, const struct qfs_mount_opts *opts, struct qfs **out, const char *what)
{
	uint64_t t0 = time_ns();
	int err = qfs_mount(dev, opts, out);
	uint64_t us = (time_ns() - t0) / 1000;
	if (err)
		return err;
	struct qfs_recovery r;
	qfs_recovery_info(*out, &r);
	if (r.psegs)
		printf("%s: %s was not unmounted cleanly: recovery applied %u commits (%u inode and %u block "
		       "entries), left out %u unfinished log writes, read %llu KiB (%llu KiB of log) in %llu.%03llu ms\n",
		       what, dev->name, r.commits, r.inodes, r.blocks, r.discarded,
		       (unsigned long long)(r.read_bytes >> 10), (unsigned long long)(r.log_bytes >> 10),
		       (unsigned long long)(us / 1000), (unsigned long long)(us % 1000));
	return 0;
}
