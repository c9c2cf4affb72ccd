/*
 * The jobs a boot can run: test= (in-kernel tests) and, with no job on the
 * command line, the default job: every in-kernel test that needs no consent.
 */
#include "kernel/jobs.h"
#include "kernel/kernel.h"

int jobs_run(void)
{
	const char *tests = cmdline_get("test");
	if (!tests)
		tests = "all";
	int failed = ktest_run(tests);
	return failed ? QUILL_EXIT_FAIL : QUILL_EXIT_OK;
}
