/*
 * Destruction needs consent (DESIGN.md): raw writes that would overwrite a
 * disk run only when it holds nothing that looks like a quillfs (a valid
 * superblock, or one this kernel refuses: a newer version, a damaged one),
 * or when the command line says overwrite=1.
 */
#include "drivers/blk/blk.h"
#include "fs/fs.h"
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
		printf("%s: %s holds a quillfs this kernel cannot mount (a newer version, damaged, or an "
		       "unsupported block size); not overwriting it (add overwrite=1 to allow)\n", what, dev->name);
		return false;
	}
	return true;
}

bool consent_format(struct blk_dev *dev, const char *what, const char *key)
{
	if (!qfs_present(dev) || cmdline_flag(key, false))
		return true;
	printf("%s: %s holds a quillfs this kernel cannot mount (a newer version, damaged, or an "
	       "unsupported block size); not formatting it (add %s=1 to allow)\n", what, dev->name, key);
	return false;
}
