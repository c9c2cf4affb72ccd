/*
 * Destruction needs consent (README, Command line): raw writes that would overwrite a
 * disk run only when it holds nothing that looks like a quillfs (a valid
 * superblock, or one this kernel refuses: another format version, a damaged one),
 * or when the command line says overwrite=1.
 */
#include "drivers/blk/blk.h"
#include "fs/fs.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"

CMDLINE_KEY(overwrite, "overwrite", cmdline_valid_bool,
	    "overwrite=1: let raw write tests and benchmarks overwrite a disk that holds a quillfs");

bool consent_overwrite(struct blk_dev *dev, const char *what)
{
	if (cmdline_flag("overwrite", false))
		return true;
	if (qfs_probe(dev) == 0) {
		printf("%s: %s holds a quillfs file system; not overwriting it (add overwrite=1 to allow)\n",
		       what, dev->name);
		return false;
	}
	if (qfs_present(dev)) {
		printf("%s: %s holds a quillfs this kernel cannot mount (another format version, damaged, or an "
		       "unsupported block size); not overwriting it (add overwrite=1 to allow)\n", what, dev->name);
		return false;
	}
	return true;
}

int consent_format_if_absent(struct blk_dev *dev, const char *what)
{
	if (qfs_probe(dev) == 0)
		return 0;
	if (qfs_present(dev) && !cmdline_flag("overwrite", false)) {
		printf("%s: %s holds a quillfs this kernel cannot mount (another format version, damaged, or an "
		       "unsupported block size); not formatting it (add overwrite=1 to allow)\n", what, dev->name);
		return -EPERM;
	}
	if (dev->capacity * BLK_SECTOR_SIZE < QFS_MIN_BYTES) {
		printf("%s: %s (%llu KiB) is too small for a quillfs (at least %llu MiB)\n", what, dev->name,
		       (unsigned long long)(dev->capacity / 2), (unsigned long long)(QFS_MIN_BYTES >> 20));
		return -ENOSPC;
	}
	printf("%s: %s holds no quillfs; making one\n", what, dev->name);
	return qfs_format(dev, NULL);
}
