# quillfs host tests: unit (test_fs), crash (test_fs_crash), bounded
# recovery (test_fs_recovery), fuzz corpus
# replay (test_fs_fuzz, gcc + sanitizers); `make fuzz` runs the libFuzzer
# harness (clang) for FUZZ_SECS seconds.
QFS_SRCS := $(sort $(wildcard fs/*.c)) drivers/blk/blk.c
QFS_HOST_OBJS := $(patsubst %.c,$(BUILD)/host/%.o,$(QFS_SRCS))
QFS_TEST_OBJS := $(QFS_HOST_OBJS) \
	$(patsubst %,$(BUILD)/host/tests/host/%.o,blkdev_ram blkdev_crash blkdev_file fs_testlib)

$(BUILD)/host/test_fs: $(BUILD)/host/tests/host/fs_unit.o $(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/test_fs

$(BUILD)/host/test_fs_crash: $(BUILD)/host/tests/host/crash_fs.o $(BUILD)/host/tests/host/crash_workload.o \
		$(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/test_fs_crash

$(BUILD)/host/test_fs_recovery: $(BUILD)/host/tests/host/fs_recovery.o $(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/test_fs_recovery

$(BUILD)/host/test_fs_fuzz: $(BUILD)/host/tests/host/fuzz_fs.o $(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/test_fs_fuzz

# libFuzzer (clang only, not part of `make test`): make fuzz [FUZZ_SECS=60]
FUZZ_SECS ?= 60
FUZZ_CC ?= clang
QFS_FUZZ_SRCS := $(QFS_SRCS) tests/host/fuzz_fs.c tests/host/fs_testlib.c \
	tests/host/blkdev_ram.c tests/host/blkdev_crash.c tests/host/blkdev_file.c
.PHONY: fuzz
$(BUILD)/fuzz/fuzz_fs: $(QFS_FUZZ_SRCS) $(wildcard fs/*.h tests/host/*.h)
	@mkdir -p $(dir $@) $(BUILD)/fuzz/corpus
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) -std=gnu11 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I. -DQUILL_HOST -DQFS_LIBFUZZER -o $@ $(QFS_FUZZ_SRCS)
fuzz:
	$(Q)tools/deps.sh fuzz
	$(Q)$(MAKE) --no-print-directory $(BUILD)/fuzz/fuzz_fs
	$(BUILD)/fuzz/fuzz_fs -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus

# Segment size by measurement: not a test, prints a table.
QFS_TOOL_TEST_OBJS := $(patsubst %.c,$(BUILD)/tool/%.o,$(QFS_SRCS) tests/host/blkdev_ram.c \
	tests/host/blkdev_crash.c tests/host/blkdev_file.c tests/host/fs_testlib.c)
$(BUILD)/host/fs_segsize: $(BUILD)/tool/tests/host/fs_segsize.o $(QFS_TOOL_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) -o $@ $^
.PHONY: fs-segsize
fs-segsize: $(BUILD)/host/fs_segsize
	$(BUILD)/host/fs_segsize

# The host half of the logged power-cut QEMU case (tests/qemu/cases_fs.py,
# fs-power-log): not a test_* binary, since it needs the case's log and images.
$(BUILD)/host/power_log: $(BUILD)/host/tests/host/power_log.o $(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/power_log
