/*
 * The jobs a boot can run, in this order: test= (in-kernel tests), then
 * bench= (benchmarks). With neither on the command line, the default job:
 * every in-kernel test that needs no consent.
 */
#include "kernel/bench.h"
#include "kernel/jobs.h"
#include "kernel/kernel.h"

int jobs_run(void)
{
	const char *tests = cmdline_get("test");
	bool benches = false;
	for (size_t i = 0; i < cmdline_count(); i++) {
		const char *k, *v;
		cmdline_entry(i, &k, &v);
		benches |= !strcmp(k, "bench");
	}
	if (!tests && !benches)
		tests = "all";
	int failed = 0;
	if (tests)
		failed += ktest_run(tests);
	if (benches)
		failed += bench_run_cmdline();
	return failed ? QUILL_EXIT_FAIL : QUILL_EXIT_OK;
}
