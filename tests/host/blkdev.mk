# The host block devices (RAM, file, crash recorder) with scatter-gather requests.
HOST_TESTS += $(BUILD)/host/test_blkdev

$(BUILD)/host/test_blkdev: $(BUILD)/host/tests/host/test_blkdev.o $(BUILD)/host/drivers/blk/blk.o \
		$(patsubst %,$(BUILD)/host/tests/host/%.o,blkdev_ram blkdev_file blkdev_crash)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -o $@ $^
