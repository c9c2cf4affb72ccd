# quillfs host tests: unit (test_fs), crash (test_fs_crash), fuzz corpus
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

$(BUILD)/host/test_fs_crash: $(BUILD)/host/tests/host/crash_fs.o $(QFS_TEST_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^

HOST_TESTS += $(BUILD)/host/test_fs_crash
