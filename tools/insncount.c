/*
 * insncount: a QEMU TCG plugin that counts the guest instructions executed
 * and prints the running total whenever the guest reaches a marker address.
 *
 *   qemu-system-x86_64 -accel tcg -plugin build/tools/insncount.so,mark=0xADDR
 *                      -d plugin -D insn.log ...
 *
 * Every time the instruction at ADDR (a guest virtual address: Quill's
 * bench_insn_mark(), see kernel/jobs/bench.c) executes, one line goes to QEMU's
 * log: "insncount mark N insns TOTAL". The difference between two marks is
 * what the guest executed between them, whatever the host was doing: a
 * figure that does not move from run to run the way wall-clock time does.
 *
 * Counting is per translated block, added when the block starts, so a block
 * cut short by an interrupt counts whole: a bias of a few instructions per
 * interrupt. The figure includes the idle loop, which is one hlt per sleep.
 *
 * With profile=PATH as well, each mark also appends to PATH, for every
 * translated block that ran since the previous mark, "ADDR INSNS EXECS"
 * (block start, instructions in it, times it ran): symbolize ADDR with
 * addr2line -f -e build/kernel.elf to see where the instructions went.
 *
 * Debian ships QEMU with plugin support but without the plugin header, so
 * the few declarations used are written out here; they are QEMU's plugin
 * ABI (qemu-plugin.h, API version 1 as in QEMU 7.2, still valid in later
 * releases) and must match it exactly.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t; /* only passed through */

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS = 0 };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 = 0 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

PLUGIN_EXPORT int qemu_plugin_version = 1;

/* One vCPU (Quill boots one): a plain counter, added to by generated code. */
static uint64_t insns;
static uint64_t mark_addr;
static uint64_t marks;

/* profile=PATH: one record per translation, executions counted by generated code. */
struct block {
	uint64_t vaddr, n, execs, execs_at_mark;
	struct block *next;
};
static struct block *blocks;
static FILE *profile;

static void profile_dump(void)
{
	fprintf(profile, "mark %" PRIu64 "\n", marks);
	for (struct block *b = blocks; b; b = b->next) {
		if (b->execs != b->execs_at_mark)
			fprintf(profile, "%#" PRIx64 " %" PRIu64 " %" PRIu64 "\n", b->vaddr, b->n,
				b->execs - b->execs_at_mark);
		b->execs_at_mark = b->execs;
	}
	fflush(profile);
}

static void on_mark(unsigned int vcpu_index, void *userdata)
{
	(void)vcpu_index;
	(void)userdata;
	char line[96];
	snprintf(line, sizeof(line), "insncount mark %" PRIu64 " insns %" PRIu64 "\n", marks, insns);
	qemu_plugin_outs(line);
	if (profile)
		profile_dump();
	marks++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	size_t n = qemu_plugin_tb_n_insns(tb);
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, n);
	if (profile && n) {
		struct block *b = calloc(1, sizeof(*b));
		if (b) {
			b->vaddr = qemu_plugin_insn_vaddr(qemu_plugin_tb_get_insn(tb, 0));
			b->n = n;
			b->next = blocks;
			blocks = b;
			qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);
		}
	}
	for (size_t i = 0; i < n && mark_addr; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		if (qemu_plugin_insn_vaddr(insn) == mark_addr)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

static void on_qemu_exit(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	char line[64];
	snprintf(line, sizeof(line), "insncount total %" PRIu64 "\n", insns);
	qemu_plugin_outs(line);
}

PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "mark=", 5) == 0) {
			char *end;
			mark_addr = strtoull(argv[i] + 5, &end, 0);
			if (*end || !mark_addr) {
				fprintf(stderr, "insncount: bad marker address '%s'\n", argv[i] + 5);
				return -1;
			}
		} else if (strncmp(argv[i], "profile=", 8) == 0) {
			profile = fopen(argv[i] + 8, "w");
			if (!profile) {
				perror(argv[i] + 8);
				return -1;
			}
		} else {
			fprintf(stderr, "insncount: unknown argument '%s' (want mark=ADDR[,profile=PATH])\n",
				argv[i]);
			return -1;
		}
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
	return 0;
}
