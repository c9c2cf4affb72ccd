/*
 * Destruction needs consent (DESIGN.md): raw writes that would overwrite a
 * disk run only when it holds no valid quillfs superblock, or when the
 * command line says overwrite=1.
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
	return true;
}
