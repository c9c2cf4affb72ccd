/*
 * Benchmarks: what `bench=` on the command line asks for, and the runners.
 *
 *   bench_spec.c  parse "raw:randwrite:4k:qd32,fs:smallfiles" (also host-tested)
 *   bench.c       the raw-device runner and the BENCH line
 *   bench_fs.c    file-level runners on quillfs
 */
#ifndef KERNEL_BENCH_H
#define KERNEL_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bench_target { BENCH_RAW, BENCH_FS };

enum bench_op {
	BENCH_RANDWRITE,
	BENCH_SEQWRITE,
	BENCH_RANDREAD,
	BENCH_SEQREAD,
	BENCH_MIXED,      /* random, read_pct% reads */
	BENCH_FLUSHWRITE, /* random writes, each followed by a FLUSH before it counts */
	/* quillfs */
	BENCH_FS_SMALLFILES, /* bs writes spread over `files` files, fsync every `fsync_every` */
	BENCH_FS_APPEND,     /* appends to one log file, fsync after each */
	BENCH_FS_CREATE,     /* create + write bs + close, fsync every `fsync_every` */
	BENCH_FS_FILL,       /* smallfiles overwrites at fill_pct% full */
};

enum bench_mode { BENCH_MODE_IRQ, BENCH_MODE_POLL, BENCH_MODE_HYBRID };

#define BENCH_NAME_MAX 64
#define BENCH_MAX_RUNS 32

/* Keys a run set itself (bench_spec.given): a key its kind of run ignores is refused. */
enum {
	BENCH_GIVEN_QD = 1u << 0,
	BENCH_GIVEN_REGION = 1u << 1,
	BENCH_GIVEN_READ = 1u << 2,
	BENCH_GIVEN_FSYNC = 1u << 3,
	BENCH_GIVEN_FILES = 1u << 4,
	BENCH_GIVEN_FILL = 1u << 5,
};
/* The longest run by time: a day. */
#define BENCH_MAX_MS (24ull * 3600 * 1000)

struct bench_spec {
	char name[BENCH_NAME_MAX]; /* the spec as written */
	uint8_t target;            /* enum bench_target */
	uint8_t op;                /* enum bench_op */
	uint8_t mode;              /* enum bench_mode */
	uint8_t read_pct;          /* BENCH_MIXED */
	uint8_t fill_pct;          /* BENCH_FS_FILL */
	bool op_given;             /* parsing: an operation was named */
	uint8_t given;             /* parsing: BENCH_GIVEN_* keys set explicitly */
	uint32_t bs;               /* bytes per I/O */
	uint32_t qd;               /* requests kept in flight (raw) */
	uint64_t ios;              /* stop after this many I/Os (0: use time) */
	uint64_t time_ms;          /* stop after this long (when ios == 0) */
	uint64_t region;           /* bytes of the device used from offset 0 (0: all) */
	uint64_t seed;
	uint32_t fsync_every;      /* fs: fsync after every N writes per file (0: never) */
	uint32_t files;            /* fs: number of files */
	char dev[8];               /* "vda" */
};

/*
 * Parse a comma-separated list of runs; each run is colon-separated tokens,
 * in any order: raw|fs, an operation, a size (block size), qdN, a duration
 * (2s, 500ms) or a count (10000ios), vdX, irq|poll|hybrid, or key=value for
 * bs= qd= time= ios= region= dev= mode= seed= read= fsync= files= fill=.
 * Returns the number of runs, or -EINVAL with a reason in err.
 */
int bench_parse(const char *list, struct bench_spec *out, int max, char *err, size_t errlen);
const char *bench_op_name(uint8_t op);
const char *bench_mode_name(uint8_t mode);
bool bench_op_writes(uint8_t op);

#ifdef QUILL_KERNEL
struct blk_dev;
/* Run every bench= on the command line; returns the number that failed. */
int bench_run_cmdline(void);
/* Run a list in bench_parse() syntax; returns the number that failed. */
int bench_run_list(const char *list);
int bench_run_fs(const struct bench_spec *s, struct blk_dev *dev);
/* Print the BENCH line's common part and end it with `extra` (may be ""). */
struct hist;
struct bench_result {
	uint64_t ios, bytes, ticks, busy_ticks, errors;
	uint64_t kicks, irqs;
	const struct hist *lat;
};
void bench_report(const struct bench_spec *s, const struct bench_result *r, const char *extra);
/* The mode a run gets on dev: poll when the device has no completion interrupt. */
uint8_t bench_effective_mode(const struct bench_spec *s, const struct blk_dev *dev);
/* Marks a run's start and end for tools/insncount.so (instructions per I/O or per file operation). */
void bench_insn_mark(void);
#endif

#endif
