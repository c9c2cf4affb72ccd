/*
 * The jobs a boot can run, in this order: test= (in-kernel tests), then
 * bench= (benchmarks). With neither on the command line, the default job
 * (what `make run` shows):
 *
 *   with a disk   raw 4 KiB random writes at QD1 and QD32 (interrupts, then
 *                 hybrid), test=write
 *                 (raw pattern + quillfs tree, verified), then fsync'd 4 KiB
 *                 file writes through quillfs. On a disk that holds a
 *                 quillfs and without overwrite=1, the raw parts are skipped
 *                 (said so on the console) and the file system is kept.
 *   without one   every in-kernel test that needs no consent (test=all)
 */
#include "drivers/blk/blk.h"
#include "kernel/jobs/bench.h"
#include "kernel/jobs/jobs.h"
#include "kernel/kernel.h"

/*
 * Interrupts (the default mode) and hybrid side by side: under TCG taking a
 * completion interrupt costs QEMU a round of its global lock (README,
 * Performance), and hybrid is the guest's answer to that. The deep runs
 * are QD32, or as deep as a device with smaller rings allows.
 */
#define DEFAULT_RAW_BENCH \
	"raw:randwrite:4k:qd1:2s,raw:randwrite:4k:qd%u:2s,raw:randwrite:4k:qd1:2s:hybrid,raw:randwrite:4k:qd%u:2s:hybrid"
#define DEFAULT_DEEP_QD 32u
#define DEFAULT_FS_BENCH "fs:smallfiles:4k:fsync=1:2s"

static int default_job(void)
{
	struct blk_dev *dev = blk_get("vda");
	if (!dev) {
		printf("jobs: no disk attached; running the in-kernel tests (attach one with --disk FILE)\n");
		return ktest_run("all");
	}
	printf("jobs: default job on %s: raw benchmarks, test=write, file benchmark\n", dev->name);
	int failed = 0;
	if (consent_overwrite(dev, "jobs")) {
		uint32_t deep = DEFAULT_DEEP_QD;
		if (dev->max_queued && dev->max_queued < deep)
			deep = dev->max_queued;
		char runs[160];
		snprintf(runs, sizeof(runs), DEFAULT_RAW_BENCH, deep, deep);
		failed += bench_run_list(runs);
	} else
		printf("jobs: raw benchmarks skipped to keep the file system on %s\n", dev->name);
	failed += ktest_run("write");
	failed += bench_run_list(DEFAULT_FS_BENCH);
	return failed;
}

int jobs_run(void)
{
	const char *tests = cmdline_get("test");
	bool benches = false;
	for (size_t i = 0; i < cmdline_count(); i++) {
		const char *k, *v;
		cmdline_entry(i, &k, &v);
		benches |= !strcmp(k, "bench");
	}
	int failed = 0;
	if (!tests && !benches)
		failed = default_job();
	if (tests)
		failed += ktest_run(tests);
	if (benches)
		failed += bench_run_cmdline();
	return failed ? QUILL_EXIT_FAIL : QUILL_EXIT_OK;
}
